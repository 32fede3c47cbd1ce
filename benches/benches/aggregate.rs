//! Aggregation end to end (`flakewatch aggregate`): 10 runs × 50,000 tests of generated
//! OpenShift JUnit read from disk, combined per test, judged against 50,000 history rows, and
//! rendered as `junit-aggregated.xml` with its per-test YAML, the JSON report and the Markdown
//! summary (nothing written to disk). See `flakewatch_benches::aggregation_runs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flakewatch_aggregate::{Mode, Settings, aggregate};
use flakewatch_benches::{aggregation_request, aggregation_runs};

const RUNS: usize = 10;
const TESTS: usize = 50_000;

fn aggregation(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ids = aggregation_runs(dir.path(), RUNS, TESTS).expect("generated runs");
    let request = aggregation_request(dir.path(), ids);
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
