//! `explain` agrees with the engines on every upstream `run` vector: each issue's action from
//! the traced evaluation, combined by the cross-issue rule, is the assignment upstream made,
//! and each script's first matching rule is the interpreter's.

use flakewatch_authoring::explain::{Explainer, owner};
use flakewatch_conformance::CaseFile;
use flakewatch_dsl::interp::Interpreter;
use flakewatch_dsl::ir::PatternSet;
use flakewatch_dsl::{Field, Limits, Record, parse_script};

/// A vector's record (field `""` is `output`).
fn record_of(fields: &std::collections::BTreeMap<String, String>) -> Record {
    let mut r = Record::new();
    for (name, value) in fields {
        let field = if name.is_empty() {
            Field::Output
        } else {
            Field::from_name(name).expect("a known field")
        };
        r.set(field, value.as_str());
    }
    r
}

#[test]
fn explain_agrees_with_the_engine_on_every_upstream_run_vector() {
    let cases = CaseFile::upstream().run_cases();
    let total: usize = cases.iter().map(|c| c.records.len()).sum();
    assert!(cases.len() >= 5 && total > 0, "{} run cases", cases.len());
    let mut records_checked = 0;
    for case in cases {
        // Upstream assigns in the order it lists the issues.
        let issues = &case.issues;
        let parsed: Vec<_> = issues.iter().map(|i| parse_script(&i.script)).collect();
        let numbers: Vec<u64> = issues.iter().map(|i| i.number).collect();
        let scripts: Vec<(u64, Option<&flakewatch_dsl::ast::Script>)> = numbers
            .iter()
            .zip(&parsed)
            .map(|(n, p)| (*n, p.is_ok().then_some(&p.script)))
            .collect();
        let (set, _) = PatternSet::from_scripts(scripts.clone(), Limits::DEFAULT);
        let interp = Interpreter::new(&set);
        let mut scratch = interp.scratch();
        let mut explainer = Explainer::new();
        for record in &case.records {
            let r = record_of(&record.fields);
            let mut actions = Vec::new();
            for (i, (_, script)) in scripts.iter().enumerate() {
                let action = match script {
                    Some(script) => {
                        let explanation = explainer.explain(script, &r).expect("explains");
                        let first = interp.first_rule(i, &r, &mut scratch);
                        assert_eq!(
                            explanation.first_match,
                            first.map(|k| k + 1),
                            "{}: issue #{}",
                            record.name,
                            numbers[i]
                        );
                        explanation.action().map(str::to_owned)
                    }
                    None => None,
                };
                actions.push(action);
            }
            let got = owner(&numbers, &actions);
            let want = match record.want_action.as_str() {
                "none" => "new_issue",
                other => other,
            };
            assert_eq!(got.action, want, "{}", record.name);
            assert_eq!(got.issues, record.want_targets, "{}", record.name);
            assert_eq!(
                got.action,
                interp.assign(&r, &mut scratch).action_name(),
                "{}",
                record.name
            );
            records_checked += 1;
        }
    }
    assert_eq!(records_checked, total);
}

/// The `parse` vectors state the action of one script on records: the traced evaluation's
/// first matching rule gives it.
#[test]
fn explain_gives_the_script_action_of_every_upstream_parse_vector() {
    let mut checked = 0;
    for case in CaseFile::upstream().parse_cases() {
        let parsed = parse_script(&case.script);
        if !parsed.is_ok() {
            continue;
        }
        let mut explainer = Explainer::new();
        for record in &case.records {
            let r = record_of(&record.fields);
            let explanation = explainer.explain(&parsed.script, &r).expect("explains");
            let want = (record.want != "none").then_some(record.want.as_str());
            assert_eq!(
                explanation.action(),
                want,
                "{}: {}",
                case.script,
                record.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} records");
}
