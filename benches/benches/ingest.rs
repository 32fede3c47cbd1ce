//! JUnit ingest throughput: flakewatch's reader against the `quick-junit` and `junit-parser`
//! readers on the same generated document (see `flakewatch_benches::junit_document`).
//!
//! `flakewatch` is the in-memory reader as `flakewatch ingest FILE` runs it: on all the machine's
//! CPUs, a document this size being read in two halves (`Limits::threads`).
//! `flakewatch-1-thread` is the same reader on one thread, `flakewatch-streaming` the reader for
//! stdin and very large files. flakewatch reads more than the other two: flaky/rerun elements as
//! attempts, every output element, positions for warnings, UTF-8 repair and the test index for
//! duplicates. The peers read on one thread.

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flakewatch_benches::junit_document;
use flakewatch_ingest::{self as ingest, Limits, RunMeta};

/// The allocator of the `flakewatch` executable (`flakewatch ingest` runs with it); all four
/// readers are measured with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn junit_ingest(c: &mut Criterion) {
    // 40 suites × 2,500 cases ≈ 100,000 test cases.
    let doc = junit_document(40, 2_500);
    let limits = Limits::default();
    let cores = Limits {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..limits
    };
    let mut group = c.benchmark_group("junit_ingest");
    group.throughput(Throughput::Bytes(doc.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    // From memory, as `flakewatch ingest` reads files (borrowed, no copy).
    group.bench_function("flakewatch", |b| {
        b.iter(|| {
            let run =
                ingest::junit::read_slice(doc.as_bytes(), "bench.xml", RunMeta::default(), &cores)
                    .expect("generated document parses");
            black_box(run.tests.len())
        });
    });
    group.bench_function("flakewatch-1-thread", |b| {
        b.iter(|| {
            let run =
                ingest::junit::read_slice(doc.as_bytes(), "bench.xml", RunMeta::default(), &limits)
                    .expect("generated document parses");
            black_box(run.tests.len())
        });
    });
    // Streaming, as stdin and files over 256 MiB are read.
    group.bench_function("flakewatch-streaming", |b| {
        b.iter(|| {
            let run = ingest::junit::read(doc.as_bytes(), "bench.xml", RunMeta::default(), &limits)
                .expect("generated document parses");
            black_box(run.tests.len())
        });
    });
    group.bench_function("quick-junit", |b| {
        b.iter(|| {
            let report =
                quick_junit::Report::deserialize_from_str(&doc).expect("generated document parses");
            black_box(report.test_suites.len())
        });
    });
    group.bench_function("junit-parser", |b| {
        b.iter(|| {
            let suites = junit_parser::from_reader(Cursor::new(doc.as_bytes()))
                .expect("generated document parses");
            black_box(suites.suites.len())
        });
    });
    group.finish();
}

criterion_group!(benches, junit_ingest);
criterion_main!(benches);
