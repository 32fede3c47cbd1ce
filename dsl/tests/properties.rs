//! Property tests: parsing never panics; the canonical printer round-trips generated trees; the
//! IR interpreter agrees with a direct evaluation of the syntax tree (upstream's `Match`).

use flakewatch_dsl::ast::{Cmp, CmpOp, Expr, ExprKind, Regex, RegexMatch, Rule, Script, Span};
use flakewatch_dsl::ir::{PatternSet, PatternSetBuilder};
use flakewatch_dsl::{
    Field, Interpreter, Limits, Record, goregex, parse_script, parse_script_with,
};
use proptest::prelude::*;

/// Valid Go regexps of many shapes (the generated trees pick from these).
const PATTERNS: &[&str] = &[
    "timeout",
    "^FAIL$",
    r"i/o timeout|connection reset",
    r"\d+\.\d+s",
    r"(?i)panic:",
    r"[a-z]+_test\.go:\d+",
    r"x{,3}",
    r"\Qa.b\E",
    "",
    r"\bnet\b",
    "é+",
];

fn field() -> impl Strategy<Value = Field> {
    prop::sample::select(Field::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Expr> {
    let ops = prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ]);
    let literal = prop::collection::vec(any::<u8>(), 0..6);
    let cmp = (field(), ops, literal)
        .prop_map(|(field, op, literal)| expr(ExprKind::Cmp(Cmp { field, op, literal })));
    let re = (
        prop::option::of(field()),
        any::<bool>(),
        prop::sample::select(PATTERNS.to_vec()),
    )
        .prop_map(|(field, negated, pattern)| {
            let hir = goregex::parse(&format!("(?m){pattern}"))
                .expect("test patterns are valid Go regexps");
            expr(ExprKind::Regex(RegexMatch {
                field,
                negated: negated && field.is_some(),
                regex: Regex {
                    pattern: pattern.to_owned(),
                    hir,
                },
            }))
        });
    prop_oneof![cmp, re]
}

fn expr(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn tree() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(x, y)| expr(ExprKind::And(Box::new(x), Box::new(y)))),
            (inner.clone(), inner.clone())
                .prop_map(|(x, y)| expr(ExprKind::Or(Box::new(x), Box::new(y)))),
            inner.prop_map(|x| expr(ExprKind::Not(Box::new(x)))),
        ]
    })
}

fn script() -> impl Strategy<Value = Script> {
    let action = prop::sample::select(vec!["post", "default", "skip", "take", "POST"]);
    prop::collection::vec((action, tree()), 1..4).prop_map(|rules| Script {
        rules: rules
            .into_iter()
            .map(|(action, expr)| Rule {
                action: action.to_owned(),
                action_span: Span::default(),
                expr,
                span: Span::default(),
            })
            .collect(),
    })
}

fn record() -> impl Strategy<Value = Record> {
    let value = prop::sample::select(vec![
        "",
        "net",
        "timeout",
        "FAIL",
        "x_test.go:12",
        "2024-01-01T00:00:00Z",
        "é",
        "a.b",
        "panic: x",
    ]);
    prop::collection::vec((field(), value), 0..8).prop_map(|pairs| {
        let mut record = Record::new();
        for (field, value) in pairs {
            record.set(field, value);
        }
        record
    })
}

/// Upstream's `Match`, straight on the syntax tree.
fn matches(expr: &Expr, record: &Record) -> bool {
    match &expr.kind {
        ExprKind::And(x, y) => matches(x, record) && matches(y, record),
        ExprKind::Or(x, y) => matches(x, record) || matches(y, record),
        ExprKind::Not(x) => !matches(x, record),
        ExprKind::Cmp(cmp) => cmp.op.eval(record.get(cmp.field).as_bytes(), &cmp.literal),
        ExprKind::Regex(re) => {
            let compiled = regex_automata::meta::Regex::builder()
                .build_from_hir(&re.regex.hir)
                .unwrap();
            compiled.is_match(record.get(re.searched_field())) != re.negated
        }
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in ".{0,200}") {
        let parsed = parse_script(&text);
        for d in &parsed.diagnostics {
            prop_assert!(d.line >= 1 && d.column >= 1);
            prop_assert!(d.offset <= text.len());
        }
    }

    #[test]
    fn parse_never_panics_on_token_soup(parts in prop::collection::vec(prop::sample::select(vec![
        "post", "<-", "pkg", "==", "\"x\"", "`a(`", "`b`", "&&", "||", "!", "(", ")", "\n", " ", "~", "!~",
        "<", ">=", "#c", "'", "&", "\"\\q\"", "foo", "\t", "\r",
    ]), 0..40)) {
        let text = parts.concat();
        let parsed = parse_script(&text);
        prop_assert!(parsed.diagnostics.iter().all(|d| d.offset <= text.len()));
    }

    #[test]
    fn canonical_printer_round_trips(script in script()) {
        let text = script.to_string();
        let parsed = parse_script(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.diagnostics);
        prop_assert!(parsed.script.same_as(&script), "{text:?} parsed differently: {}", parsed.script);
    }

    #[test]
    fn interpreter_agrees_with_the_syntax_tree(script in script(), records in prop::collection::vec(record(), 1..6)) {
        let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
        builder.add_issue(1, &script).unwrap();
        let set = builder.finish();
        let interp = Interpreter::new(&set);
        let mut scratch = interp.scratch();
        for record in &records {
            let want = script.rules.iter().find(|r| matches(&r.expr, record)).map(|r| r.action.as_str());
            let got = interp.script_action(0, record, &mut scratch).map(|a| set.actions[a as usize].as_str());
            prop_assert_eq!(want, got);
        }
    }
}

#[test]
fn deep_nesting_and_long_chains_are_bounded() {
    let deep = format!("post <- {}`a`{}", "(".repeat(50_000), ")".repeat(50_000));
    assert!(parse_script(&deep).is_ok());
    let chain = format!("post <- {}pkg == \"x\"", "pkg == \"x\" && ".repeat(5_000));
    let parsed = parse_script(&chain);
    assert_eq!(parsed.diagnostics.len(), 1);
    assert_eq!(
        parsed.diagnostics[0].to_string().split(": ").nth(1),
        Some("rule too complex")
    );
    let huge = "#".repeat(Limits::DEFAULT.max_script_bytes + 1);
    assert_eq!(
        parse_script(&huge).diagnostics[0].to_string(),
        format!(
            "script:1.1: script too large: {} bytes (limit {})",
            huge.len(),
            Limits::DEFAULT.max_script_bytes
        )
    );
}

/// `from_scripts` compiles the regexps of large sets ahead, on several threads; the set and
/// the errors must be those of lowering issue by issue (a regexp over the size limit fails
/// every issue that uses it, at each one's own position).
#[test]
fn precompiled_regexps_lower_like_issue_by_issue() {
    let limits = Limits {
        max_regex_bytes: 20_000,
        ..Limits::DEFAULT
    };
    let texts: Vec<String> = (0..400)
        .map(|i| match i % 50 {
            7 => format!("post <- pkg == \"p{i}\" && `x{{1,9}}y{{1,9}}z{{1,999}}`"),
            _ => format!("post <- `err{}: [a-z]+` || test ~ `^T{i}$`", i % 150),
        })
        .collect();
    let parsed: Vec<_> = texts
        .iter()
        .map(|t| parse_script_with(t, &limits))
        .collect();
    assert!(parsed.iter().all(|p| p.is_ok()));
    let scripts: Vec<_> = parsed
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64, Some(&p.script)))
        .collect();
    let (set, errors) = PatternSet::from_scripts(scripts.iter().copied(), limits);
    let mut one_by_one = PatternSetBuilder::new(limits);
    let mut expected_errors = Vec::new();
    for &(number, script) in &scripts {
        if let Err(err) = one_by_one.add_issue(number, script.unwrap()) {
            one_by_one.add_unusable_issue(number);
            expected_errors.push((number, err.to_string()));
        }
    }
    let errors: Vec<_> = errors
        .into_iter()
        .map(|(n, e)| (n, e.to_string()))
        .collect();
    assert_eq!(errors.len(), 8, "{errors:?}");
    assert_eq!(errors, expected_errors);
    assert_eq!(set.dump(), one_by_one.finish().dump());
}
