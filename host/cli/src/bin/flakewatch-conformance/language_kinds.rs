//! Conformance handlers for the rule-language kinds: `lex`, `parse`, `extract` and `run`.

use flakewatch_dsl::ast::{Expr, ExprKind};
use flakewatch_dsl::ir::PatternSetBuilder;
use flakewatch_dsl::{
    Extracted, Interpreter, Limits, Record, diag, find_script, lexer, parse_script, printer,
};
use flakewatch_triage::engine::{Engine, EngineKind};
use serde_json::{Value, json};

use crate::{Outcome, expect_eq, str_field};
use flakewatch_triage::text::parse_errors_comment;

/// `lex`: the token kinds in upstream's lexer-test notation.
pub(crate) fn check_lex(case: &Value) -> Result<(), Outcome> {
    let input = str_field(case, "input")?;
    expect_eq(
        "tokens",
        str_field(case, "tokens")?,
        lexer::debug_tokens(input).as_str(),
    )
}

/// `parse`: diagnostics, the (partial) rules as AST and as printed, and each record's action.
pub(crate) fn check_parse(case: &Value) -> Result<(), Outcome> {
    let parsed = parse_script(str_field(case, "script")?);
    let errors: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
    if let Some(want) = case.get("errors") {
        expect_eq("errors", want, &json!(errors))?;
    }
    if let Some(want) = case.get("error") {
        let joined = (!errors.is_empty()).then(|| diag::join(&parsed.diagnostics));
        expect_eq("error", want, &json!(joined))?;
    }
    if let Some(want) = case.get("rules") {
        let rules: Vec<Value> = parsed
            .script
            .rules
            .iter()
            .map(|rule| {
                json!({
                    "action": rule.action,
                    "pattern": ast_json(&rule.expr),
                    "string": printer::go_string(&rule.expr),
                })
            })
            .collect();
        expect_eq("rules", want, &json!(rules))?;
    }
    let Some(records) = case.get("records").and_then(Value::as_array) else {
        return Ok(());
    };
    let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
    builder
        .add_issue(1, &parsed.script)
        .map_err(|e| Outcome::Fail(format!("lowering failed: {e}")))?;
    let set = builder.finish();
    let interp = Interpreter::new(&set);
    let mut scratch = interp.scratch();
    for record in records {
        let name = record.get("name").and_then(Value::as_str).unwrap_or("?");
        let want = str_field(record, "want")?;
        let got = interp
            .script_action(0, &record_of(record), &mut scratch)
            .map_or("none", |action| set.actions[action as usize].as_str());
        expect_eq(&format!("records[{name}].want"), want, got)?;
    }
    Ok(())
}

/// `extract`: the script found in an issue body, and the verdict on it.
pub(crate) fn check_extract(case: &Value) -> Result<(), Outcome> {
    let body = str_field(case, "body")?;
    let want = str_field(case, "result")?;
    let (result, text, comment) = match find_script(body) {
        Err(_) => ("panic", String::new(), None),
        Ok(Extracted::NoScript) => ("no_script", String::new(), None),
        Ok(Extracted::Script(text)) => {
            let parsed = parse_script(&text);
            if parsed.is_ok() {
                ("ok", text, None)
            } else {
                let comment = parse_errors_comment(&text, &parsed.diagnostics);
                ("parse_error", text, Some(comment))
            }
        }
    };
    expect_eq("result", want, result)?;
    if let Some(want) = case.get("script_text").and_then(Value::as_str) {
        expect_eq("script_text", want, text.as_str())?;
    }
    if let Some(want) = case.get("error_comment").and_then(Value::as_str) {
        expect_eq("error_comment", Some(want), comment.as_deref())?;
    }
    Ok(())
}

/// `run`: the assignment of each record across the issues, on every engine.
pub(crate) fn check_run(case: &Value) -> Result<(), Outcome> {
    let issues = case
        .get("issues")
        .and_then(Value::as_array)
        .ok_or_else(|| Outcome::Fail("case has no issues".to_owned()))?;
    let mut numbers = Vec::new();
    let mut scripts = Vec::new();
    for issue in issues {
        numbers.push(issue.get("number").and_then(Value::as_u64).unwrap_or(0));
        let parsed = parse_script(str_field(issue, "script")?);
        scripts.push(parsed.is_ok().then_some(parsed.script));
    }
    for kind in EngineKind::ALL {
        let (engine, errors) = Engine::build(
            kind,
            numbers
                .iter()
                .copied()
                .zip(scripts.iter().map(Option::as_ref)),
            Limits::DEFAULT,
        )
        .map_err(|e| Outcome::Fail(format!("{} engine failed to build: {e}", kind.name())))?;
        if let Some((number, err)) = errors.first() {
            return Err(Outcome::Fail(format!(
                "issue {number} failed to lower: {err}"
            )));
        }
        let mut scratch = engine.scratch();
        for record in case
            .get("records")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = record.get("name").and_then(Value::as_str).unwrap_or("?");
            let assignment = engine.assign(&record_of(record), &mut scratch);
            expect_eq(
                &format!("{} engine: records[{name}].want_action", kind.name()),
                str_field(record, "want_action")?,
                assignment.action_name(),
            )?;
            let targets: Vec<u64> = assignment.targets().iter().map(|&i| numbers[i]).collect();
            expect_eq(
                &format!("{} engine: records[{name}].want_targets", kind.name()),
                record.get("want_targets"),
                Some(&json!(targets)),
            )?;
        }
    }
    Ok(())
}

/// A record from a case's `fields` object (absent fields read as `""`; `""` is `output`).
fn record_of(record: &Value) -> Record {
    let fields = record.get("fields").and_then(Value::as_object);
    Record::from_pairs(
        fields
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?))),
    )
}

/// The AST in the vectors' notation.
fn ast_json(expr: &Expr) -> Value {
    match &expr.kind {
        ExprKind::And(x, y) => json!({ "and": [ast_json(x), ast_json(y)] }),
        ExprKind::Or(x, y) => json!({ "or": [ast_json(x), ast_json(y)] }),
        ExprKind::Not(x) => json!({ "not": ast_json(x) }),
        ExprKind::Cmp(cmp) => json!({ "cmp": {
            "field": cmp.field.name(),
            "op": cmp.op.as_str(),
            "literal": String::from_utf8_lossy(&cmp.literal),
        }}),
        ExprKind::Regex(re) => json!({ "regexp": {
            "field": re.field.map_or("", |f| f.name()),
            "not": re.negated,
            "compiled": re.regex.source(),
        }}),
    }
}
