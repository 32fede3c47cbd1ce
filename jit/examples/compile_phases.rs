//! Times each phase of compiling an issues file (read, extract and parse, regexps, lowering,
//! plan, code generation), the median of several passes, for profiling compile time:
//! `cargo run --release -p flakewatch-jit --example compile_phases -- ISSUES.jsonl [PASSES]`.

use std::time::{Duration, Instant};

use flakewatch_dsl::ir::{PatternSet, PatternSetBuilder};
use flakewatch_dsl::{Extracted, Limits, find_script, parse_script_with};
use flakewatch_jit::{CompiledSet, Plan};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: compile_phases ISSUES.jsonl [PASSES]");
    let passes: usize = args
        .next()
        .map_or(10, |p| p.parse().expect("PASSES is a number"));
    let names = [
        "read+json",
        "extract+parse",
        "regexps",
        "lower",
        "plan",
        "codegen",
        "total",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for _ in 0..passes {
        let mut clock = Instant::now();
        let mut lap = |i: usize, times: &mut Vec<Vec<Duration>>| {
            let now = Instant::now();
            times[i].push(now - clock);
            clock = now;
        };
        let start = Instant::now();
        let text = std::fs::read_to_string(&path).expect("reading the issues");
        let mut issues: Vec<(u64, String)> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("an issue line");
                (
                    v["number"].as_u64().expect("a number"),
                    v["body"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        issues.sort_by_key(|i| i.0);
        lap(0, &mut times);
        let parsed: Vec<_> = issues
            .iter()
            .map(|(n, body)| {
                let script = match find_script(body) {
                    Ok(Extracted::Script(text)) => {
                        Some(parse_script_with(&text, &Limits::DEFAULT)).filter(|p| p.is_ok())
                    }
                    _ => None,
                };
                (*n, script)
            })
            .collect();
        lap(1, &mut times);
        let scripts: Vec<_> = parsed
            .iter()
            .filter_map(|(_, p)| p.as_ref())
            .map(|p| &p.script)
            .collect();
        let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
        builder.precompile(&scripts);
        lap(2, &mut times);
        for (n, p) in &parsed {
            match p {
                Some(p) => {
                    if builder.add_issue(*n, &p.script).is_err() {
                        builder.add_unusable_issue(*n);
                    }
                }
                None => builder.add_unusable_issue(*n),
            }
        }
        let set: PatternSet = builder.finish();
        lap(3, &mut times);
        let plan = Plan::new(set.clone());
        lap(4, &mut times);
        drop(plan);
        let compiled = CompiledSet::compile(set).expect("compiles");
        lap(5, &mut times);
        times[6].push(start.elapsed());
        drop(compiled);
    }
    for (name, times) in names.iter().zip(&mut times) {
        times.sort();
        println!(
            "{name:>14}: median {:>8.2} ms  min {:>8.2} ms",
            ms(times[times.len() / 2]),
            ms(times[0])
        );
    }
    println!("(codegen includes a second plan; subtract the plan row)");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
