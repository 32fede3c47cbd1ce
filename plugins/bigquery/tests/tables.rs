//! The aggregator tables against `bqemulator`: the SDK's kit through load jobs and through
//! streaming, and rows that reached the table twice read once.

mod support;

use flakewatch_plugin_bigquery::BigQuery;
use flakewatch_plugin_bigquery::tables::fields;
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::kit;
use flakewatch_plugin_sdk::model::{AggregatorTable, InsertRowsRequest, ReadRowsRequest};

#[test]
fn aggregator_tables_conform_through_load_jobs_over_pages_of_two_rows() {
    let Some(emulator) = support::emulator("tables_load_jobs") else {
        return;
    };
    // Every insert of new rows is a load job; every listing spans pages.
    let config = emulator.config(
        "kit_tables",
        &[("load-rows", "1"), ("page-rows", "2"), ("max-results", "3")],
    );
    let report = kit::assert_conforms::<BigQuery>(&config);
    for op in ["insert_rows", "read_rows", "upload_window"] {
        assert!(
            report.checked.contains(&op),
            "{op}: {report:?}\n{}",
            emulator.log()
        );
    }
}

#[test]
fn rows_loaded_twice_behind_the_key_check_are_read_once() {
    let Some(emulator) = support::emulator("tables_twice") else {
        return;
    };
    let plugin = BigQuery::from_config(&emulator.config("twice", &[("load-rows", "1")]), |_| None)
        .expect("plugin");
    let (table, rows) = kit::tables_fixture()
        .into_iter()
        .find(|(t, _)| *t == AggregatorTable::BackendDisruption)
        .expect("disruption rows");
    let inserted = plugin
        .insert_rows(&InsertRowsRequest {
            table,
            rows: rows.clone(),
        })
        .expect("insert");
    assert_eq!(inserted.inserted, rows.len() as u64);
    // A second writer that passed the key check at the same time loads the same rows again.
    let mut ndjson = Vec::new();
    for row in &rows {
        serde_json::to_writer(&mut ndjson, row).expect("json");
        ndjson.push(b'\n');
    }
    plugin
        .store()
        .client()
        .load_json(
            "twice",
            table.name(),
            &fields(table),
            "flakewatch_test_racer",
            &ndjson,
        )
        .expect("the racing load");
    let count = plugin
        .store()
        .client()
        .query(
            "SELECT COUNT(*) AS n FROM `flakewatch-test.twice.BackendDisruption`",
            &[],
            None,
        )
        .expect("count");
    assert_eq!(
        count.rows[0][0],
        serde_json::json!((2 * rows.len()).to_string()),
        "the table holds every row twice"
    );
    let read = plugin
        .read_rows(&ReadRowsRequest {
            table,
            job: None,
            since: None,
            until: None,
            cursor: None,
        })
        .expect("read");
    let mut want: Vec<_> = rows.iter().map(|r| kit::full_row(table, r)).collect();
    want.sort_by_key(|r| table.key_of(r));
    assert_eq!(read.rows, want);
    assert_eq!(read.next_cursor, None);
}
