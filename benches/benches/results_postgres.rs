//! Storing one million test results (1,000 runs × 1,000 tests, one attempt each) into
//! PostgreSQL through the `postgres` plugin's Rust API, one `store_run` (one transaction) per
//! run; and, as the physical limit, a plain binary `COPY` of the same rows into a bare table
//! (no key, no index), once per run in its own transaction and once for all rows.
//!
//! `cargo bench -p flakewatch-benches --bench results_postgres`; one measured pass each. Needs
//! `FLAKEWATCH_TEST_POSTGRES_URL` (a database is created there and dropped; `scripts/test`
//! shows how to start a throwaway server); skipped with a note when it is unset.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a bench binary reports its figures"
)]

mod results_common;

use std::time::Instant;

use flakewatch_plugin_postgres::PostgresBackend;
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::model::{ResultsRun, StoreRunRequest};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use results_common::{ROWS, RUNS, TESTS, report, time_stores};

/// `url` with its database name replaced.
fn with_dbname(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{db}{query}", &base[..path])
}

/// The bare table: the plugin's `test_results` columns, no key, no index.
const BARE: &str = "CREATE TABLE bare_results (
    run_id bigint, test_position integer, attempt integer, suite_path text, classname text,
    name text, status text, failure boolean, expected boolean, raw_status text,
    duration double precision, message text, known_intermittent text)";

const COPY_BARE: &str = "COPY bare_results FROM STDIN BINARY";

const TYPES: [Type; 13] = [
    Type::INT8,
    Type::INT4,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::BOOL,
    Type::TEXT,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
];

/// Writes run `r`'s rows as the plugin encodes them.
fn write_rows(writer: &mut BinaryCopyInWriter<'_>, r: i64, run: &ResultsRun) {
    for (position, test) in run.tests.iter().enumerate() {
        let suite_path = serde_json::to_string(&test.suite).expect("json");
        for (attempt, a) in test.attempts.iter().enumerate() {
            let known = serde_json::to_string(&a.known_intermittent).expect("json");
            let row: [&(dyn ToSql + Sync); 13] = [
                &r,
                &(position as i32),
                &(attempt as i32),
                &suite_path,
                &test.classname,
                &test.name,
                &a.status,
                &a.failure,
                &a.expected,
                &a.raw_status,
                &a.duration,
                &a.message,
                &known,
            ];
            writer.write(&row).expect("copy row");
        }
    }
}

fn postgres(server: &str) {
    let name = format!("flakewatch_bench_{}", std::process::id());
    let mut admin = postgres::Client::connect(server, postgres::NoTls).expect("connect");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    let url = with_dbname(server, &name);
    let result = std::panic::catch_unwind(|| {
        let backend = PostgresBackend::open(&url, 100).expect("postgres backend");
        let took = time_stores(|run| {
            let stored = backend
                .store_run(&StoreRunRequest { run: run.clone() })
                .expect("store_run");
            assert!(stored.stored);
        });
        let plugin = report("postgres (postgres plugin, store_run per run)", took);

        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client.batch_execute(BARE).expect("bare table");
        let mut r = 0i64;
        let took = time_stores(|run| {
            r += 1;
            let mut tx = client.transaction().expect("begin");
            let sink = tx.copy_in(COPY_BARE).expect("copy");
            let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
            write_rows(&mut writer, r, run);
            writer.finish().expect("copy end");
            tx.commit().expect("commit");
        });
        let per_run = report(
            "postgres COPY into a bare table, one transaction per run",
            took,
        );

        client
            .batch_execute("TRUNCATE bare_results")
            .expect("truncate");
        let mut tx = client.transaction().expect("begin");
        let sink = tx.copy_in(COPY_BARE).expect("copy");
        let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
        let mut r = 0i64;
        let took = time_stores(|run| {
            r += 1;
            write_rows(&mut writer, r, run);
        });
        let start = Instant::now();
        writer.finish().expect("copy end");
        tx.commit().expect("commit");
        let single = report(
            "postgres COPY into a bare table, one COPY of all rows",
            took + start.elapsed(),
        );
        println!(
            "postgres plugin / COPY per run: {:.2}; / one COPY: {:.2}",
            plugin / per_run,
            plugin / single
        );
    });
    drop(admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    match std::env::var("FLAKEWATCH_TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            println!("storing {RUNS} runs x {TESTS} tests = {ROWS} test results");
            postgres(&server);
        }
        _ => eprintln!(
            "results_postgres: skipped (FLAKEWATCH_TEST_POSTGRES_URL is unset; scripts/test \
             shows how to start a throwaway server)"
        ),
    }
}
