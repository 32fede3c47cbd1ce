//! Times each phase of compiling an issues file (read, extract and parse, regexps, lowering,
//! plan, code generation), the median of several passes, for profiling compile time:
//! `cargo run --release -p flakewatch-jit --example compile_phases -- ISSUES.jsonl [PASSES]`.
//! Phases run one after the other on one thread (extracting and parsing with one regexp memo,
//! as one of `flakewatch`'s parsing threads does), except the regexps and code generation,
//! which use the machine's cores as they do in `flakewatch`.

#![allow(clippy::print_stdout, reason = "an example that reports its figures")]

use std::time::{Duration, Instant};

use flakewatch_dsl::ir::{PatternSet, PatternSetBuilder};
use flakewatch_dsl::{Extracted, Limits, RegexpMemo, find_script, parse_script_memo};
use flakewatch_jit::{CompiledSet, Plan};

const PHASES: [&str; 9] = [
    "read+json",
    "extract+parse",
    "regexps",
    "lower",
    "plan",
    "plan+codegen",
    "total",
    "forward NFAs",
    "reverse NFAs",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: compile_phases ISSUES.jsonl [PASSES]");
    let passes: usize = args
        .next()
        .map_or(10, |p| p.parse().expect("PASSES is a number"));
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); PHASES.len()];
    for _ in 0..passes {
        let pass = one_pass(&path);
        for (all, time) in times.iter_mut().zip(pass) {
            all.push(time);
        }
    }
    for (name, times) in PHASES.iter().zip(&mut times) {
        times.sort();
        println!(
            "{name:>14}: median {:>8.2} ms  min {:>8.2} ms",
            ms(times[times.len() / 2]),
            ms(times[0])
        );
    }
    println!("(total: every phase but the last two, which measure what building the regexps'");
    println!(" NFAs alone costs; plan+codegen plans again)");
}

fn one_pass(path: &str) -> [Duration; PHASES.len()] {
    let mut out = [Duration::ZERO; PHASES.len()];
    let start = Instant::now();
    let t = Instant::now();
    let text = std::fs::read_to_string(path).expect("reading the issues");
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
    out[0] = t.elapsed();
    let t = Instant::now();
    let mut memo = RegexpMemo::default();
    let parsed: Vec<_> = issues
        .iter()
        .map(|(n, body)| {
            let script = match find_script(body) {
                Ok(Extracted::Script(text)) => {
                    Some(parse_script_memo(&text, &Limits::DEFAULT, &mut memo))
                        .filter(|p| p.is_ok())
                }
                _ => None,
            };
            (*n, script)
        })
        .collect();
    out[1] = t.elapsed();
    let t = Instant::now();
    let scripts: Vec<_> = parsed
        .iter()
        .filter_map(|(_, p)| p.as_ref())
        .map(|p| &p.script)
        .collect();
    let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
    builder.precompile(&scripts);
    out[2] = t.elapsed();
    let t = Instant::now();
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
    out[3] = t.elapsed();
    let t = Instant::now();
    let plan = Plan::new(set.clone());
    out[4] = t.elapsed();
    drop(plan);
    let set_copy = set.clone();
    let before_codegen = start.elapsed();
    let t = Instant::now();
    let compiled = CompiledSet::compile(set).expect("compiles");
    out[5] = t.elapsed();
    out[6] = before_codegen + out[5];
    drop(compiled);
    let t = Instant::now();
    for re in &set_copy.regexes {
        regex_automata::nfa::thompson::Compiler::new()
            .configure(
                regex_automata::nfa::thompson::Config::new()
                    .nfa_size_limit(Some(Limits::DEFAULT.max_regex_bytes)),
            )
            .build_from_hir(&re.hir)
            .expect("fits");
    }
    out[7] = t.elapsed();
    let t = Instant::now();
    for re in &set_copy.regexes {
        regex_automata::nfa::thompson::Compiler::new()
            .configure(
                regex_automata::nfa::thompson::Config::new()
                    .reverse(true)
                    .which_captures(regex_automata::nfa::thompson::WhichCaptures::None)
                    .nfa_size_limit(Some(Limits::DEFAULT.max_regex_bytes)),
            )
            .build_from_hir(&re.hir)
            .expect("fits");
    }
    out[8] = t.elapsed();
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
