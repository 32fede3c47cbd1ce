//! The JIT and the plan interpreter must agree with the reference interpreter, always. A
//! disagreement is a bug in the faster engine.

use flakewatch_dsl::ir::PatternSet;
use flakewatch_dsl::{Assignment, Field, Interpreter, Limits, Record, parse_script};
use flakewatch_jit::{Backend, CompiledSet, PlanInterpreter};
use proptest::prelude::*;

/// Builds a pattern set from scripts (a script with errors is unusable, as upstream).
fn pattern_set(scripts: &[String]) -> PatternSet {
    let parsed: Vec<_> = scripts.iter().map(|s| parse_script(s)).collect();
    let (set, errors) = PatternSet::from_scripts(
        parsed
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u64 + 1, p.is_ok().then_some(&p.script))),
        Limits::DEFAULT,
    );
    assert!(errors.is_empty(), "{errors:?}");
    set
}

/// Asserts that all three engines assign every record the same way; returns the assignments.
fn check_engines(scripts: &[String], records: &[Record], chunk: usize) -> Vec<Assignment> {
    let reference_set = pattern_set(scripts);
    let reference = Interpreter::new(&reference_set);
    let mut reference_scratch = reference.scratch();
    let jit = CompiledSet::compile_with(pattern_set(scripts), chunk).expect("compiles");
    let mut jit_scratch = jit.scratch();
    // Both code generators, whichever is the host's default.
    let other = if Backend::host() == Backend::Cranelift {
        Backend::Direct
    } else {
        Backend::Cranelift
    };
    let second = other
        .runs_here()
        .then(|| CompiledSet::compile_with_backend(pattern_set(scripts), chunk, other))
        .transpose()
        .expect("compiles");
    let mut second_scratch = second.as_ref().map(CompiledSet::scratch);
    let planned = PlanInterpreter::new(pattern_set(scripts));
    let mut plan_scratch = planned.scratch();
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let want = reference.assign(record, &mut reference_scratch);
        let got = jit.assign(record, &mut jit_scratch).expect("no panic");
        assert_eq!(
            want, got,
            "JIT disagrees on record {i}: {record:?}\nscripts: {scripts:#?}"
        );
        if let (Some(second), Some(scratch)) = (&second, &mut second_scratch) {
            let got = second.assign(record, scratch).expect("no panic");
            assert_eq!(
                want, got,
                "{other:?} backend disagrees on record {i}: {record:?}\nscripts: {scripts:#?}"
            );
        }
        let planned_got = planned.assign(record, &mut plan_scratch);
        assert_eq!(
            want, planned_got,
            "plan interpreter disagrees on record {i}"
        );
        out.push(want);
    }
    out
}

fn record(pairs: &[(&str, &str)]) -> Record {
    Record::from_pairs(pairs.iter().copied())
}

#[test]
fn cross_issue_decisions() {
    let scripts = vec![
        "default <- goos == \"windows\"".to_owned(),
        "post <- pkg == \"net\"\nskip <- pkg == \"os\"".to_owned(),
        "post <- `timeout` && pkg != \"os\"".to_owned(),
        "take <- builder ~ `plan9`\npost <- goos == \"plan9\"".to_owned(),
        "default <- pkg == \"net\" || pkg == \"io\"".to_owned(),
    ];
    let records = [
        record(&[("goos", "windows"), ("pkg", "io")]),
        record(&[("pkg", "net"), ("output", "i/o timeout")]),
        record(&[("pkg", "os"), ("output", "timeout")]),
        record(&[("builder", "gotip-plan9-386"), ("goos", "plan9")]),
        record(&[("pkg", "io")]),
        record(&[]),
    ];
    let got = check_engines(&scripts, &records, 2);
    assert_eq!(
        got,
        vec![
            Assignment::Default(0),
            Assignment::Post(vec![1, 2]),
            Assignment::Skip(1),
            Assignment::NewIssue,
            Assignment::Default(4),
            Assignment::NewIssue,
        ]
    );
}

#[test]
fn memo_is_reused_only_while_a_field_is_unchanged() {
    let scripts = vec!["post <- log ~ `fatal error` && builder != \"x\"".to_owned()];
    let log = "a\nfatal error: boom\n".repeat(50);
    let records = [
        record(&[("log", &log), ("builder", "a")]),
        record(&[("log", &log), ("builder", "x")]),
        record(&[("log", "clean"), ("builder", "a")]),
        record(&[("log", &log), ("builder", "a")]),
    ];
    let got = check_engines(&scripts, &records, 1);
    assert_eq!(
        got,
        vec![
            Assignment::Post(vec![0]),
            Assignment::NewIssue,
            Assignment::NewIssue,
            Assignment::Post(vec![0])
        ]
    );
}

/// Results remembered per value of a short field: a package's records come back after
/// another's, and its regexp results must be the ones of its own value.
#[test]
fn results_remembered_per_value_follow_the_value() {
    let scripts = vec![
        "post <- pkg ~ `^net` && `timeout`".to_owned(),
        "default <- pkg ~ `^os` || builder ~ `race`".to_owned(),
    ];
    let records = [
        record(&[("pkg", "net/http"), ("output", "timeout")]),
        record(&[("pkg", "os"), ("output", "timeout")]),
        record(&[("pkg", "net/http"), ("output", "clean")]),
        record(&[("pkg", "net/http"), ("output", "timeout")]),
        record(&[("pkg", "os/exec"), ("builder", "linux-race")]),
        record(&[("pkg", "os")]),
        record(&[("pkg", "io"), ("builder", "linux")]),
        record(&[("pkg", "net/http"), ("output", "timeout")]),
    ];
    let got = check_engines(&scripts, &records, 1);
    assert_eq!(
        got,
        vec![
            Assignment::Post(vec![0]),
            Assignment::Default(1),
            Assignment::NewIssue,
            Assignment::Post(vec![0]),
            Assignment::Default(1),
            Assignment::Default(1),
            Assignment::NewIssue,
            Assignment::Post(vec![0]),
        ]
    );
}

/// Issues dispatched by their guard run out of issue order: the lowest skip still wins, posts
/// come out ascending, the lowest default is chosen, and a matching rule whose action is not
/// an assignment still hides the issue's later rules.
#[test]
fn dispatched_groups_decide_in_issue_order() {
    let scripts = vec![
        "skip <- pkg == \"net\" && `boom`".to_owned(),
        "skip <- `boom`".to_owned(),
        "default <- test == \"TestA\"".to_owned(),
        "default <- `z`".to_owned(),
        "post <- pkg == \"net\" || pkg == \"os\"".to_owned(),
        "post <- `x`".to_owned(),
        "post <- test == \"TestA\" && `x`".to_owned(),
        "default <- pkg == \"os\"\ntake <- `x`".to_owned(),
        "take <- pkg == \"net\"\ndefault <- `q`".to_owned(),
        // In the group of `net`, `pkg != "os"` is known true without a test.
        "post <- pkg == \"net\" && pkg != \"os\" && `q`".to_owned(),
    ];
    let records = [
        record(&[("pkg", "net"), ("output", "boom")]),
        record(&[("pkg", "os"), ("output", "boom")]),
        record(&[("test", "TestA"), ("output", "x")]),
        record(&[("test", "TestA")]),
        record(&[("test", "TestA"), ("output", "z")]),
        record(&[("output", "z")]),
        record(&[("pkg", "os"), ("output", "z")]),
        record(&[("pkg", "net"), ("test", "TestA"), ("output", "x")]),
        record(&[("pkg", "net"), ("output", "q")]),
        record(&[("pkg", "io"), ("output", "q")]),
    ];
    for chunk in [1, 2, 128] {
        let got = check_engines(&scripts, &records, chunk);
        assert_eq!(
            got,
            vec![
                Assignment::Skip(0),
                Assignment::Skip(1),
                Assignment::Post(vec![5, 6]),
                Assignment::Default(2),
                Assignment::Default(2),
                Assignment::Default(3),
                Assignment::Post(vec![4]),
                Assignment::Post(vec![4, 5, 6]),
                Assignment::Post(vec![4, 9]),
                Assignment::Default(8),
            ],
            "chunk size {chunk}"
        );
    }
    let planned = PlanInterpreter::new(pattern_set(&scripts));
    let dispatch = planned.plan().dispatch();
    assert_eq!(dispatch.always, vec![1, 3, 5, 8]);
    let mut guarded: Vec<u32> = dispatch
        .groups
        .iter()
        .flat_map(|g| g.iter().copied())
        .collect();
    guarded.sort_unstable();
    // Issue 4 is in the groups of both its packages.
    assert_eq!(guarded, vec![0, 2, 4, 4, 6, 7, 9]);
}

/// Pattern sets large enough to get the shared literal prefilters (on `output`, `log` and
/// `pkg`):
/// literals that are prefixes of one another, overlap, repeat, sit at the ends of the text,
/// regexps whose literal is present but which do not match, and records that keep their
/// `output` (the prefilter's result carried to the next record).
#[test]
fn prefiltered_fields_agree() {
    let words = [
        "panic",
        "panic: test timed out",
        "timed out",
        "out of memory",
        "fatal error",
        "fatal error: all goroutines are asleep",
        "i/o timeout",
        "connection reset",
        "SIGSEGV",
        "SIGSEGV: segmentation violation",
    ];
    let mut scripts = Vec::new();
    for i in 0..90 {
        let word = words[i % words.len()];
        scripts.push(match i % 6 {
            0 => format!("post <- `{word}.{{0,{i}}}` && pkg == \"p{}\"", i % 7),
            1 => format!("post <- `^{word}.{{0,{i}}}` || test == \"T{i}\""),
            2 => format!("default <- `{word}: [a-z]+{i}`"),
            3 => format!("post <- !(`{word}.{{0,{i}}}$`) && goos == \"linux\""),
            4 => format!(
                "post <- output ~ `(?i){word}` && date < \"2025-0{}-01\"",
                1 + i % 9
            ),
            _ => format!("skip <- pkg ~ `^cmd/go{i}` && `{word}[^z]{{0,{i}}}`"),
        });
    }
    for i in 0..20 {
        scripts.push(format!("post <- pkg ~ `^net/http{i}(/|$)`"));
    }
    // Rules that need different things: a regexp group and an equality group each (both
    // selected for some records, e.g. `fatal error: all goroutines are asleep` with `T16`:
    // the issue runs twice and posts once).
    for i in 0..20 {
        let word = words[i % words.len()];
        scripts.push(format!(
            "post <- `{word}.{{0,{i}}}Q`\npost <- test == \"T{}\"",
            3 * i + 1
        ));
    }
    // The same regexps on `log` as on `output` (first group): gated on each field separately.
    for i in (0..90).step_by(6) {
        let word = words[i % words.len()];
        scripts.push(format!(
            "post <- log ~ `{word}.{{0,{i}}}` && goos == \"darwin\""
        ));
    }
    let texts = [
        String::new(),
        "panic".to_owned(),
        "xpanic: test timed out after 10m0s\ngoroutine 1".to_owned(),
        "fatal error: all goroutines are asleep - deadlock!".to_owned(),
        "read tcp: i/o timeout\nSIGSEGV".to_owned(),
        "SIGSEGV: segmentation violation\nfatal error: unexpected".to_owned(),
        format!("{}out of memory", "noise ".repeat(300)),
        "timed out: abc12".to_owned(),
        "PANIC in caps".to_owned(),
    ];
    let mut records = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        for (j, pkg) in ["p1", "net/http3", "net/http12/x", "cmd/go5", "p4"]
            .iter()
            .enumerate()
        {
            let goos = if (i + j) % 2 == 0 { "linux" } else { "darwin" };
            let date = format!("2025-0{}-15T00:00:00Z", 1 + (i + j) % 9);
            let test = format!("T{}", (i * 5 + j) % 90);
            let log = &texts[(i + j) % texts.len()];
            records.push(record(&[
                ("output", text.as_str()),
                ("log", log.as_str()),
                ("pkg", pkg),
                ("goos", goos),
                ("date", &date),
                ("test", &test),
            ]));
        }
    }
    let plan = PlanInterpreter::new(pattern_set(&scripts));
    assert!(
        plan.plan().gated_regexes() >= 64 + 16 + 8,
        "only {} regexps behind prefilters",
        plan.plan().gated_regexes()
    );
    // Regexp-only issues run only where `output`'s prefilter finds their literal, and
    // issues whose rules need different things (`regexp || test == …`) sit in a regexp
    // group and an equality group at once (running twice for some records).
    let dispatch = plan.plan().dispatch();
    assert!(
        dispatch
            .regex_fields
            .contains(&flakewatch_dsl::Field::Output)
    );
    let in_both = dispatch
        .regex_groups
        .iter()
        .flatten()
        .filter(|i| dispatch.groups.iter().any(|g| g.contains(i)))
        .count();
    assert!(in_both > 0, "no issue in both kinds of group");
    let got = check_engines(&scripts, &records, 16);
    assert!(got.iter().any(|a| matches!(a, Assignment::Post(_))));
    assert!(got.iter().any(|a| matches!(a, Assignment::Skip(_))));
    assert!(got.iter().any(|a| matches!(a, Assignment::NewIssue)));
}

#[test]
fn every_conformance_script_agrees() {
    let file = flakewatch_conformance::CaseFile::upstream();
    let mut scripts = Vec::new();
    let mut records = Vec::new();
    let record_of = |fields: &std::collections::BTreeMap<String, String>| {
        Record::from_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    for case in file.parse_cases() {
        if parse_script(&case.script).is_ok() {
            scripts.push(case.script.clone());
        }
        records.extend(case.records.iter().map(|r| record_of(&r.fields)));
    }
    for case in file.run_cases() {
        scripts.extend(case.issues.iter().map(|i| i.script.clone()));
        records.extend(case.records.iter().map(|r| record_of(&r.fields)));
    }
    assert_eq!(
        (scripts.len(), records.len()),
        (84, 527),
        "the conformance file changed: update these counts"
    );
    // All scripts as one pattern set, in several chunkings.
    for chunk in [1, 7, 128] {
        check_engines(&scripts, &records, chunk);
    }
    // And each script alone, so that its own actions decide.
    for script in &scripts {
        check_engines(std::slice::from_ref(script), &records, 128);
    }
}

const LITERALS: &[&str] = &[
    "net",
    "net/http",
    "os",
    "TestFoo",
    "linux",
    "",
    "2024-01-01",
    "FAIL",
    "é",
];
const REGEXPS: &[&str] = &[
    "timeout",
    "^FAIL$",
    "(?i)PANIC",
    "i/o timeout|reset by peer",
    r"\d+s",
    "x{,3}",
    "fatal error:",
    "Test[A-Z]",
];
const ACTIONS: &[&str] = &["post", "default", "skip", "take"];
const OPS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];

fn leaf() -> impl Strategy<Value = String> {
    let field = prop::sample::select(Field::ALL.to_vec());
    let cmp = (
        field.clone(),
        prop::sample::select(OPS),
        prop::sample::select(LITERALS),
    )
        .prop_map(|(f, op, lit)| format!("{f} {op} \"{lit}\""));
    let re = (
        prop::option::of((field, any::<bool>())),
        prop::sample::select(REGEXPS),
    )
        .prop_map(|(f, re)| match f {
            Some((f, neg)) => format!("{f} {} `{re}`", if neg { "!~" } else { "~" }),
            None => format!("`{re}`"),
        });
    prop_oneof![3 => cmp, 2 => re]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn scripts() -> impl Strategy<Value = Vec<String>> {
    let rule = (prop::sample::select(ACTIONS), expr()).prop_map(|(a, e)| format!("{a} <- {e}"));
    let script = prop::collection::vec(rule, 1..4).prop_map(|rules| rules.join("\n"));
    prop::collection::vec(script, 1..12)
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    let values = prop::sample::select(vec![
        "net",
        "net/http",
        "os",
        "TestFoo",
        "linux",
        "",
        "2024-01-01T00:00:00Z",
        "FAIL",
        "é",
        "i/o timeout",
        "panic: boom\nFAIL\n",
        "fatal error: x",
        "ran 12s",
        "xxx{,3}",
    ]);
    let record = prop::collection::vec((prop::sample::select(Field::ALL.to_vec()), values), 0..10)
        .prop_map(|pairs| {
            let mut r = Record::new();
            for (f, v) in pairs {
                r.set(f, v);
            }
            r
        });
    prop::collection::vec(record, 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn engines_agree_on_generated_sets(scripts in scripts(), records in records(), chunk in 1usize..5) {
        check_engines(&scripts, &records, chunk);
    }
}

/// `flakewatch debug clif` prints every generated function: the always-run chunk, the
/// dispatch groups behind their `br_table`, and the callback by name.
#[test]
fn clif_text_shows_every_function() {
    let scripts = vec![
        "post <- `timeout`".to_owned(),
        "default <- pkg == \"net\" && `reset`".to_owned(),
        "default <- pkg == \"os\" && date < \"2026-01-01\"".to_owned(),
    ];
    let text = CompiledSet::clif(pattern_set(&scripts), 128).expect("generates");
    assert_eq!(text.matches("function u0:").count(), 2, "{text}");
    assert!(text.contains("br_table"), "{text}");
    assert!(text.contains("u0:4294967295"), "{text}");
    assert!(text.contains("call fn0"), "{text}");
}
