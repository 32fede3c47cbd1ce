//! Aggregation end to end (`flakewatch aggregate`): 10 runs × 50,000 tests of generated
//! OpenShift JUnit read from disk, combined per test, judged against 50,000 history rows, and
//! rendered as `junit-aggregated.xml` with its per-test YAML, the JSON report and the Markdown
//! summary (nothing written to disk). See `flakewatch_benches::aggregation_runs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flakewatch::aggregate::runs::Selection;
use flakewatch::aggregate::{HistoryInput, Mode, Request, Settings, aggregate};
use flakewatch::triage::time::Timestamp;
use flakewatch_benches::aggregation_runs;

const RUNS: usize = 10;
const TESTS: usize = 50_000;

fn aggregation(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ids = aggregation_runs(dir.path(), RUNS, TESTS).expect("generated runs");
    let request = Request {
        job: "bench-job".into(),
        selection: Selection::All,
        runs_dir: dir.path().to_path_buf(),
        run_ids: Some(ids),
        gcs_prefix: None,
        label: Some("4.22.0-0.ci-2026-01-01-000000".into()),
        history: HistoryInput::Rows(dir.path().join("history.json")),
        disruption_history: None,
        topology: Some("single".into()),
        variants: None,
        now: Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").expect("valid time"),
        working_dir: None,
    };
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements((RUNS * TESTS) as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for mode in [Mode::Compat, Mode::Improved] {
        let settings = Settings::profile(mode);
        group.bench_function(format!("10x50000/{}", mode.name()), |b| {
            b.iter(|| {
                let result = aggregate(&request, &settings).expect("aggregation");
                black_box(result.junit_xml.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, aggregation);
criterion_main!(benches);
