//! Matching benchmarks: compiling 1,200 issues, and assigning realistic failures with the
//! reference interpreter, the plan interpreter and the JIT (default and regex-heavy shapes),
//! plus JIT thread scaling, and the 10,000-issue moonshot shape (compile, one and two threads).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flakewatch_benches::workload::Workload;
use flakewatch_dsl::{Limits, Record};
use flakewatch_triage::engine::{Engine, EngineKind};
use flakewatch_triage::patterns::CompiledIssues;

fn compile(c: &mut Criterion) {
    let workload = Workload::load("default", 1);
    let bodies = workload.issue_bodies();
    let mut group = c.benchmark_group("compile-1200-issues");
    group.sample_size(20);
    for kind in [EngineKind::Interp, EngineKind::Plan, EngineKind::Jit] {
        group.bench_function(kind.name(), |b| {
            b.iter(|| {
                let compiled = CompiledIssues::compile(
                    bodies.iter().map(|(n, body)| (*n, body.as_str())),
                    kind,
                    Limits::DEFAULT,
                )
                .expect("compiles");
                black_box(compiled.numbers.len())
            });
        });
    }
    group.finish();
}

fn engine(workload: &Workload, kind: EngineKind) -> Engine {
    let bodies = workload.issue_bodies();
    CompiledIssues::compile(
        bodies.iter().map(|(n, body)| (*n, body.as_str())),
        kind,
        Limits::DEFAULT,
    )
    .expect("compiles")
    .engine
}

fn assign_all(engine: &Engine, records: &[Record], threads: usize) -> usize {
    let per_thread = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    let mut scratch = engine.scratch();
                    part.iter()
                        .map(|r| engine.assign(r, &mut scratch).targets().len())
                        .sum::<usize>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .sum()
    })
}

fn matching(c: &mut Criterion) {
    for (shape, failures) in [("default", 2000), ("regex-heavy", 1000)] {
        let workload = Workload::load(shape, failures);
        let mut group = c.benchmark_group(format!("match-{shape}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(workload.records.len() as u64));
        for kind in [EngineKind::Interp, EngineKind::Plan, EngineKind::Jit] {
            let engine = engine(&workload, kind);
            group.bench_function(kind.name(), |b| {
                b.iter(|| black_box(assign_all(&engine, &workload.records, 1)))
            });
        }
        group.finish();
    }
}

fn threads(c: &mut Criterion) {
    let workload = Workload::load("default", 2000);
    let engine = engine(&workload, EngineKind::Jit);
    let mut group = c.benchmark_group("jit-threads-default");
    group.sample_size(10);
    group.throughput(Throughput::Elements(workload.records.len() as u64));
    for threads in [1, 2] {
        group.bench_function(format!("{threads}"), |b| {
            b.iter(|| black_box(assign_all(&engine, &workload.records, threads)));
        });
    }
    group.finish();
}

/// The 10,000-issue moonshot shape: compiling it, and the JIT on its first 3,000 failures
/// on one and two threads.
fn moonshot(c: &mut Criterion) {
    let workload = Workload::moonshot(3000);
    let bodies = workload.issue_bodies();
    let mut group = c.benchmark_group("moonshot-10000-issues");
    group.sample_size(10);
    group.bench_function("compile-jit", |b| {
        b.iter(|| {
            let compiled = CompiledIssues::compile(
                bodies.iter().map(|(n, body)| (*n, body.as_str())),
                EngineKind::Jit,
                Limits::DEFAULT,
            )
            .expect("compiles");
            black_box(compiled.numbers.len())
        });
    });
    group.throughput(Throughput::Elements(workload.records.len() as u64));
    let engine = engine(&workload, EngineKind::Jit);
    for threads in [1, 2] {
        group.bench_function(format!("match-jit-{threads}-threads"), |b| {
            b.iter(|| black_box(assign_all(&engine, &workload.records, threads)));
        });
    }
    group.finish();
}

criterion_group!(benches, compile, matching, threads, moonshot);
criterion_main!(benches);
