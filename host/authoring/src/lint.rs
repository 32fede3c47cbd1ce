//! Lint over a whole pattern set: findings with a stable code, a severity, the rule's
//! location (issue, rule, line and column of the script) and a suggested fix.
//!
//! | code | severity | finding |
//! |---|---|---|
//! | `FW-L001` script-error | error | the script does not parse: the issue matches nothing |
//! | `FW-L002` contradiction | error | the rule's conditions contradict each other: it can never match |
//! | `FW-L003` unreachable-rule | warning | an earlier rule of the same script has the same pattern |
//! | `FW-L004` date-cap-past | warning | a `date <`/`<=`/`==` cap before the window: it matches nothing triage reads |
//! | `FW-L005` duplicate-rule | warning | another issue has the same rule (pattern and action) |
//! | `FW-L006` costly-regexp | warning | a regexp slow to compile or large in memory |
//! | `FW-L007` unseen-value | warning | `FIELD == "value"` that no failure of the window has |
//! | `FW-L008` never-owns | warning | the rule matches failures, but a `skip` or an earlier `default` takes every one |
//! | `FW-L009` broad-rule | warning | the rule captures a large share of the window's failures |
//! | `FW-L010` example-failed | error | a `#!watchflakes-examples` example the script does not satisfy |
//! | `FW-L011` bad-example | error | an examples line that cannot be read |
//! | `FW-L012` no-script | info | the body has no `#!watchflakes` script |
//! | `FW-L013` example-unchecked | info | a URL example with no failures of that build at hand |
//!
//! The checks that need failures (`FW-L007`, `FW-L008`, `FW-L009`, URL examples) run only
//! when the window's failures are given.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use flakewatch_dsl::ast::{CmpOp, Expr, ExprKind, Rule, Script};
use flakewatch_dsl::interp::Interpreter;
use flakewatch_dsl::ir::{ActionKind, PatternSet, compile_regex};
use flakewatch_dsl::{
    AssignmentBuilder, Extracted, Field, Limits, Record, RegexpMemo, diag, find_script, parallel,
};
use flakewatch_triage::patterns::ScriptStatus;
use serde::Serialize;

use crate::examples::{Expect, Subject, examples};
use crate::explain::Explainer;

/// How bad a finding is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Probably wrong.
    Warning,
    /// Wrong: the rule does not do what it says.
    Error,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The stable code (`FW-L002`).
    pub code: &'static str,
    /// Its name (`contradiction`).
    pub name: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The issue.
    pub issue: u64,
    /// The 1-based rule of the script, when the finding is about one rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// Line and column in the script (or, for examples, the line of the issue body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column in the script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub suggestion: String,
}

/// Thresholds.
#[derive(Clone, Debug)]
pub struct LintOptions {
    /// A rule capturing more than this share of the window's failures is broad.
    pub broad_share: f64,
    /// Fewest failures in the window before `broad-rule` is judged.
    pub broad_min_failures: usize,
    /// A regexp compiling slower than this is costly.
    pub slow_regexp: Duration,
    /// A compiled regexp larger than this (bytes) is costly.
    pub large_regexp: usize,
    /// The start of the triage window as a `date` value (RFC 3339), for `date-cap-past`.
    pub window_start: Option<String>,
}

impl Default for LintOptions {
    fn default() -> LintOptions {
        LintOptions {
            broad_share: 0.25,
            broad_min_failures: 20,
            slow_regexp: Duration::from_millis(50),
            large_regexp: 4 << 20,
            window_start: None,
        }
    }
}

/// The failures lint judges rules on: each with its build's URL (for URL examples).
#[derive(Clone, Debug, Default)]
pub struct Failures {
    /// The records.
    pub records: Vec<Record>,
    /// The build URL of each record, parallel to `records` (empty when unknown).
    pub urls: Vec<String>,
}

/// The issues of a pattern set, parsed: number, body, what the body held.
#[derive(Debug)]
pub struct Issues {
    /// Issue numbers, ascending.
    pub numbers: Vec<u64>,
    /// Bodies, parallel.
    pub bodies: Vec<String>,
    /// Scripts, parallel.
    pub statuses: Vec<ScriptStatus>,
    /// The script text extracted from each body (empty when none), parallel: positions are
    /// lines and columns of it, as `flakewatch check` gives them.
    pub sources: Vec<String>,
}

impl Issues {
    /// Sorts by number and parses every body.
    pub fn parse(mut issues: Vec<(u64, String)>) -> Issues {
        issues.sort_by_key(|(n, _)| *n);
        let mut memo = RegexpMemo::default();
        let statuses = issues
            .iter()
            .map(|(_, body)| ScriptStatus::of_body_memo(body, &Limits::DEFAULT, &mut memo))
            .collect();
        let sources = issues
            .iter()
            .map(|(_, body)| match find_script(body) {
                Ok(Extracted::Script(text)) => text,
                _ => String::new(),
            })
            .collect();
        let (numbers, bodies) = issues.into_iter().unzip();
        Issues {
            numbers,
            bodies,
            statuses,
            sources,
        }
    }

    /// The parsed script of issue `i`, when it has a usable one.
    pub fn script(&self, i: usize) -> Option<(&str, &Script)> {
        match &self.statuses[i] {
            ScriptStatus::Ok(parsed) => Some((self.sources[i].as_str(), &parsed.script)),
            _ => None,
        }
    }
}

/// Lints `issues`, judged on `failures` when given. Findings are ordered by issue, then rule.
pub fn lint(issues: &Issues, failures: Option<&Failures>, options: &LintOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    for i in 0..issues.numbers.len() {
        per_issue(issues, i, options, &mut findings);
    }
    duplicates(issues, &mut findings);
    costly_regexps(issues, options, &mut findings);
    if let Some(failures) = failures {
        on_failures(issues, failures, options, &mut findings);
    }
    examples_checks(issues, failures, &mut findings);
    findings
        .sort_by(|a, b| (a.issue, a.rule, a.line, a.code).cmp(&(b.issue, b.rule, b.line, b.code)));
    findings
}

/// Whether any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

fn finding(
    code: &'static str,
    name: &'static str,
    severity: Severity,
    issue: u64,
    message: String,
    suggestion: String,
) -> Finding {
    Finding {
        code,
        name,
        severity,
        issue,
        rule: None,
        line: None,
        column: None,
        message,
        suggestion,
    }
}

fn at(mut f: Finding, source: &str, rule: usize, offset: usize) -> Finding {
    let (line, column) = diag::position(source, offset);
    f.rule = Some(rule);
    f.line = Some(line);
    f.column = Some(column);
    f
}

fn per_issue(issues: &Issues, i: usize, options: &LintOptions, out: &mut Vec<Finding>) {
    let number = issues.numbers[i];
    match &issues.statuses[i] {
        ScriptStatus::Errors { diagnostics, .. } => {
            let first = &diagnostics[0];
            let mut f = finding(
                "FW-L001",
                "script-error",
                Severity::Error,
                number,
                format!(
                    "the script does not parse ({} error{}; first: {}), so the issue matches nothing",
                    diagnostics.len(),
                    if diagnostics.len() == 1 { "" } else { "s" },
                    first.kind
                ),
                "fix the script: `flakewatch check` shows every error in place".to_owned(),
            );
            f.line = Some(first.line);
            f.column = Some(first.column);
            out.push(f);
        }
        ScriptStatus::TooLarge(err) => out.push(finding(
            "FW-L001",
            "script-error",
            Severity::Error,
            number,
            format!(
                "the script exceeds a limit when compiled ({err}), so the issue matches nothing"
            ),
            "split or simplify the script".to_owned(),
        )),
        ScriptStatus::NoScript | ScriptStatus::EmptyBody => out.push(finding(
            "FW-L012",
            "no-script",
            Severity::Info,
            number,
            "the body has no #!watchflakes script at its start: the issue matches nothing"
                .to_owned(),
            "start the body with a ``` block whose first line is #!watchflakes, if it should match"
                .to_owned(),
        )),
        ScriptStatus::Ok(parsed) => {
            let source = issues.sources[i].as_str();
            for (k, rule) in parsed.script.rules.iter().enumerate() {
                if let Some(why) = contradiction(&rule.expr) {
                    out.push(at(
                        finding(
                            "FW-L002",
                            "contradiction",
                            Severity::Error,
                            number,
                            format!("the rule can never match: {why}"),
                            "remove the contradicting condition, or `||` where `&&` was meant"
                                .to_owned(),
                        ),
                        source,
                        k + 1,
                        rule.span.start,
                    ));
                }
                if let Some(earlier) = parsed.script.rules[..k]
                    .iter()
                    .position(|r| r.expr.same_as(&rule.expr))
                {
                    out.push(at(
                        finding(
                            "FW-L003",
                            "unreachable-rule",
                            Severity::Warning,
                            number,
                            format!(
                                "rule {} has the same pattern, so this rule is never reached",
                                earlier + 1
                            ),
                            "delete this rule, or change the earlier one's action".to_owned(),
                        ),
                        source,
                        k + 1,
                        rule.span.start,
                    ));
                }
                if let Some(start) = &options.window_start
                    && let Some(cap) = date_cap(&rule.expr)
                    && cap.as_slice() <= start.as_bytes()
                {
                    out.push(at(
                        finding(
                            "FW-L004",
                            "date-cap-past",
                            Severity::Warning,
                            number,
                            format!(
                                "the rule only matches failures dated before {}, and the triage \
                                 window starts at {start}: it matches nothing triage reads",
                                String::from_utf8_lossy(&cap)
                            ),
                            "delete the rule if its time is over, or move the date".to_owned(),
                        ),
                        source,
                        k + 1,
                        rule.span.start,
                    ));
                }
            }
        }
    }
}

/// The conjuncts of a pattern: the operands of its top-level `&&` chain.
fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match &expr.kind {
        ExprKind::And(a, b) => {
            let mut all = conjuncts(a);
            all.extend(conjuncts(b));
            all
        }
        _ => vec![expr],
    }
}

/// A comparison among the conjuncts, a `!` in front folded into the operator.
fn comparison(expr: &Expr) -> Option<(Field, CmpOp, &[u8])> {
    match &expr.kind {
        ExprKind::Cmp(c) => Some((c.field, c.op, &c.literal)),
        ExprKind::Not(inner) => {
            let (field, op, literal) = comparison(inner)?;
            let negated = match op {
                CmpOp::Eq => CmpOp::Ne,
                CmpOp::Ne => CmpOp::Eq,
                CmpOp::Lt => CmpOp::Ge,
                CmpOp::Le => CmpOp::Gt,
                CmpOp::Gt => CmpOp::Le,
                CmpOp::Ge => CmpOp::Lt,
            };
            Some((field, negated, literal))
        }
        _ => None,
    }
}

/// Why the conjunction of a rule's comparisons and regexps on one field cannot hold, if it
/// cannot: two different required values, a required value the other conditions exclude, an
/// empty range, or a regexp both required and forbidden.
fn contradiction(expr: &Expr) -> Option<String> {
    let parts = conjuncts(expr);
    let mut by_field: BTreeMap<Field, Vec<(CmpOp, &[u8])>> = BTreeMap::new();
    for part in &parts {
        if let Some((field, op, literal)) = comparison(part) {
            by_field.entry(field).or_default().push((op, literal));
        }
    }
    let show = |v: &[u8]| format!("{:?}", String::from_utf8_lossy(v));
    for (field, conds) in &by_field {
        let name = field.name();
        let required: BTreeSet<&[u8]> = conds
            .iter()
            .filter(|(op, _)| *op == CmpOp::Eq)
            .map(|(_, v)| *v)
            .collect();
        if required.len() > 1 {
            let values: Vec<String> = required.iter().map(|v| show(v)).collect();
            return Some(format!("{name} cannot equal both {}", values.join(" and ")));
        }
        if let Some(value) = required.first() {
            for (op, literal) in conds.iter().filter(|(op, _)| *op != CmpOp::Eq) {
                if !op.eval(value, literal) {
                    return Some(format!(
                        "{name} == {} and {name} {} {}",
                        show(value),
                        op.as_str(),
                        show(literal)
                    ));
                }
            }
            // A required value against the regexps on the same field.
            let mut explainer = Explainer::new();
            for part in &parts {
                if let ExprKind::Regex(m) = &part.kind
                    && m.searched_field() == *field
                {
                    let mut record = Record::new();
                    record.set(*field, String::from_utf8_lossy(value).into_owned());
                    if let Ok(trace) = explainer.explain(
                        &Script {
                            rules: vec![Rule {
                                action: String::new(),
                                action_span: part.span,
                                expr: (*part).clone(),
                                span: part.span,
                            }],
                        },
                        &record,
                    ) && trace.first_match.is_none()
                    {
                        return Some(format!(
                            "{name} == {}, which `{}` {}",
                            show(value),
                            m.regex.pattern,
                            if m.negated {
                                "matches (and must not)"
                            } else {
                                "does not match"
                            }
                        ));
                    }
                }
            }
        }
        // Ranges: the largest lower bound against the smallest upper bound.
        let lower = conds
            .iter()
            .filter(|(op, _)| matches!(op, CmpOp::Gt | CmpOp::Ge))
            .max_by(|a, b| {
                a.1.cmp(b.1)
                    .then((a.0 == CmpOp::Gt).cmp(&(b.0 == CmpOp::Gt)))
            });
        let upper = conds
            .iter()
            .filter(|(op, _)| matches!(op, CmpOp::Lt | CmpOp::Le))
            .min_by(|a, b| {
                a.1.cmp(b.1)
                    .then((a.0 == CmpOp::Lt).cmp(&(b.0 == CmpOp::Lt)).reverse())
            });
        if let (Some((lop, lv)), Some((uop, uv))) = (lower, upper) {
            let empty = lv > uv || (lv == uv && (*lop == CmpOp::Gt || *uop == CmpOp::Lt));
            if empty {
                return Some(format!(
                    "{name} {} {} and {name} {} {} leave no value",
                    lop.as_str(),
                    show(lv),
                    uop.as_str(),
                    show(uv)
                ));
            }
        }
    }
    // The same regexp required and forbidden on one field.
    for a in &parts {
        for b in &parts {
            if let (ExprKind::Regex(x), ExprKind::Regex(y)) = (&a.kind, &b.kind)
                && !x.negated
                && y.negated
                && x.searched_field() == y.searched_field()
                && x.regex.pattern == y.regex.pattern
            {
                return Some(format!(
                    "{} both matches and does not match `{}`",
                    x.searched_field().name(),
                    x.regex.pattern
                ));
            }
        }
    }
    None
}

/// The latest `date` a rule can match, when its conjuncts cap it (`date < X`, `date <= X`,
/// `date == X`): a failure dated at or after the cap never matches.
fn date_cap(expr: &Expr) -> Option<Vec<u8>> {
    conjuncts(expr)
        .into_iter()
        .filter_map(comparison)
        .filter(|(field, op, _)| {
            *field == Field::Date && matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Eq)
        })
        .map(|(_, op, literal)| {
            let mut cap = literal.to_vec();
            // `<=` and `==` still match the value itself: the cap is just past it.
            if op != CmpOp::Lt {
                cap.push(0);
            }
            cap
        })
        .min()
}

fn duplicates(issues: &Issues, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for i in 0..issues.numbers.len() {
        let Some((source, script)) = issues.script(i) else {
            continue;
        };
        for (k, rule) in script.rules.iter().enumerate() {
            let key = format!("{} <- {}", rule.action, rule.expr);
            match seen.get(&key) {
                Some(&(first, first_rule)) if first != issues.numbers[i] => out.push(at(
                    finding(
                        "FW-L005",
                        "duplicate-rule",
                        Severity::Warning,
                        issues.numbers[i],
                        format!(
                            "issue #{first} has the same rule (rule {first_rule}): `{key}`"
                        ),
                        format!("keep the rule in one issue (close this one as a duplicate of #{first}?)"),
                    ),
                    source,
                    k + 1,
                    rule.span.start,
                )),
                Some(_) => {}
                None => {
                    seen.insert(key, (issues.numbers[i], k + 1));
                }
            }
        }
    }
}

fn costly_regexps(issues: &Issues, options: &LintOptions, out: &mut Vec<Finding>) {
    let mut measured: BTreeSet<String> = BTreeSet::new();
    for i in 0..issues.numbers.len() {
        let Some((source, script)) = issues.script(i) else {
            continue;
        };
        for (k, rule) in script.rules.iter().enumerate() {
            let mut regexps = Vec::new();
            collect_regexps(&rule.expr, &mut regexps);
            for (span, pattern, hir) in regexps {
                if !measured.insert(pattern.to_owned()) {
                    continue;
                }
                let started = Instant::now();
                let Ok(regex) = compile_regex(hir, &Limits::DEFAULT) else {
                    continue;
                };
                let took = started.elapsed();
                let size = regex.memory_usage();
                if took > options.slow_regexp || size > options.large_regexp {
                    out.push(at(
                        finding(
                            "FW-L006",
                            "costly-regexp",
                            Severity::Warning,
                            issues.numbers[i],
                            format!(
                                "`{pattern}` takes {} ms to compile and {} KiB of memory",
                                took.as_millis(),
                                size / 1024
                            ),
                            "anchor it, drop large counted repetitions ({1000}) and wide Unicode \
                             classes (\\w matches all of Unicode: [a-zA-Z0-9_] is smaller)"
                                .to_owned(),
                        ),
                        source,
                        k + 1,
                        span,
                    ));
                }
            }
        }
    }
}

fn collect_regexps<'e>(
    expr: &'e Expr,
    out: &mut Vec<(usize, &'e str, &'e regex_syntax::hir::Hir)>,
) {
    match &expr.kind {
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            collect_regexps(a, out);
            collect_regexps(b, out);
        }
        ExprKind::Not(inner) => collect_regexps(inner, out),
        ExprKind::Regex(m) => out.push((expr.span.start, &m.regex.pattern, &m.regex.hir)),
        ExprKind::Cmp(_) => {}
    }
}

/// Per issue and rule: failures whose first matching rule in the issue it is (`matched`), and
/// of those, the ones the issue owns in the end (`owned`); who took the others.
#[derive(Clone, Debug, Default)]
struct RuleUse {
    matched: usize,
    owned: usize,
    taken_by: BTreeMap<String, usize>,
}

type Uses = BTreeMap<(usize, usize), RuleUse>;

fn rule_uses(set: &PatternSet, numbers: &[u64], records: &[Record]) -> Uses {
    let interp = Interpreter::new(set);
    let threads = parallel::threads_for(records.len(), 512, usize::MAX);
    let parts = parallel::map_parts(records, threads, |part| {
        let mut scratch = interp.scratch();
        let mut uses: Uses = BTreeMap::new();
        for record in part {
            let mut firsts = Vec::new();
            let mut builder = AssignmentBuilder::new();
            for (issue, first) in interp
                .first_rules(record, &mut scratch)
                .into_iter()
                .enumerate()
            {
                if let Some(rule) = first {
                    let action = set.issues[issue].rules[rule].action as usize;
                    let kind = set.action_kinds[action];
                    builder.offer(issue, kind);
                    if matches!(kind, ActionKind::Post | ActionKind::Default) {
                        firsts.push((issue, rule));
                    }
                }
            }
            let assignment = builder.finish();
            let owners = assignment.targets().to_vec();
            let winner = match &assignment {
                flakewatch_dsl::Assignment::Skip(i) => format!("skip of #{}", numbers[*i]),
                flakewatch_dsl::Assignment::Default(i) => format!("default of #{}", numbers[*i]),
                flakewatch_dsl::Assignment::Post(t) => format!(
                    "post of {}",
                    t.iter()
                        .map(|i| format!("#{}", numbers[*i]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                flakewatch_dsl::Assignment::NewIssue => "nobody".to_owned(),
            };
            for (issue, rule) in firsts {
                let entry = uses.entry((issue, rule)).or_default();
                entry.matched += 1;
                if owners.contains(&issue)
                    && !matches!(assignment, flakewatch_dsl::Assignment::Skip(_))
                {
                    entry.owned += 1;
                } else {
                    *entry.taken_by.entry(winner.clone()).or_default() += 1;
                }
            }
        }
        vec![uses]
    });
    let mut all: Uses = BTreeMap::new();
    for part in parts {
        for (key, u) in part {
            let entry = all.entry(key).or_default();
            entry.matched += u.matched;
            entry.owned += u.owned;
            for (who, n) in u.taken_by {
                *entry.taken_by.entry(who).or_default() += n;
            }
        }
    }
    all
}

fn on_failures(
    issues: &Issues,
    failures: &Failures,
    options: &LintOptions,
    out: &mut Vec<Finding>,
) {
    let records = &failures.records;
    // Values the window's failures have in the fields rules compare with `==`, for
    // `unseen-value`.
    let mut compared: BTreeSet<Field> = BTreeSet::new();
    for i in 0..issues.numbers.len() {
        if let Some((_, script)) = issues.script(i) {
            for rule in &script.rules {
                for part in conjuncts(&rule.expr) {
                    if let Some((field, CmpOp::Eq, _)) = comparison(part) {
                        compared.insert(field);
                    }
                }
            }
        }
    }
    let mut values: BTreeMap<Field, HashSet<&str>> = BTreeMap::new();
    for record in records {
        for &field in &compared {
            values.entry(field).or_default().insert(record.get(field));
        }
    }
    let scripts: Vec<(u64, Option<&Script>)> = (0..issues.numbers.len())
        .map(|i| (issues.numbers[i], issues.script(i).map(|(_, s)| s)))
        .collect();
    let (set, _) = PatternSet::from_scripts(scripts, Limits::DEFAULT);
    let uses = rule_uses(&set, &issues.numbers, records);
    for i in 0..issues.numbers.len() {
        let Some((source, script)) = issues.script(i) else {
            continue;
        };
        let number = issues.numbers[i];
        for (k, rule) in script.rules.iter().enumerate() {
            for part in conjuncts(&rule.expr) {
                if let Some((field, CmpOp::Eq, literal)) = comparison(part)
                    && !values.get(&field).is_some_and(|seen| {
                        seen.contains(String::from_utf8_lossy(literal).as_ref())
                    })
                {
                    out.push(at(
                        finding(
                            "FW-L007",
                            "unseen-value",
                            Severity::Warning,
                            number,
                            format!(
                                "no failure of the window has {} == {:?} ({} failures read)",
                                field.name(),
                                String::from_utf8_lossy(literal),
                                records.len()
                            ),
                            "check the value for a typo (`flakewatch query` lists what a rule captures)"
                                .to_owned(),
                        ),
                        source,
                        k + 1,
                        part.span.start,
                    ));
                }
            }
            let Some(used) = uses.get(&(i, k)) else {
                continue;
            };
            if used.matched > 0 && used.owned == 0 {
                let takers: Vec<String> = used
                    .taken_by
                    .iter()
                    .map(|(who, n)| format!("{n} by the {who}"))
                    .collect();
                out.push(at(
                    finding(
                        "FW-L008",
                        "never-owns",
                        Severity::Warning,
                        number,
                        format!(
                            "the rule matches {} failure{} of the window but owns none: taken {}",
                            used.matched,
                            if used.matched == 1 { "" } else { "s" },
                            takers.join(", ")
                        ),
                        "narrow the rule that takes them, or merge this issue into it".to_owned(),
                    ),
                    source,
                    k + 1,
                    rule.span.start,
                ));
            }
            let share = used.matched as f64 / records.len().max(1) as f64;
            if records.len() >= options.broad_min_failures && share > options.broad_share {
                out.push(at(
                    finding(
                        "FW-L009",
                        "broad-rule",
                        Severity::Warning,
                        number,
                        format!(
                            "the rule captures {} of the window's {} failures ({:.0} %)",
                            used.matched,
                            records.len(),
                            share * 100.0
                        ),
                        "add conditions (pkg, test, an output regexp) so it captures one failure mode"
                            .to_owned(),
                    ),
                    source,
                    k + 1,
                    rule.span.start,
                ));
            }
        }
    }
}

fn examples_checks(issues: &Issues, failures: Option<&Failures>, out: &mut Vec<Finding>) {
    let mut explainer = Explainer::new();
    for i in 0..issues.numbers.len() {
        let number = issues.numbers[i];
        let script = issues.script(i).map(|(_, s)| s);
        for example in examples(&issues.bodies[i]) {
            let example = match example {
                Ok(example) => example,
                Err(err) => {
                    let mut f = finding(
                        "FW-L011",
                        "bad-example",
                        Severity::Error,
                        number,
                        err.message.clone(),
                        "write `match` or `nomatch`, then a JSON record or a build URL".to_owned(),
                    );
                    f.line = Some(err.line);
                    out.push(f);
                    continue;
                }
            };
            let records: Vec<&Record> = match &example.subject {
                Subject::Record(record) => vec![record.as_ref()],
                Subject::Url(url) => failures
                    .map(|f| {
                        f.records
                            .iter()
                            .zip(&f.urls)
                            .filter(|(_, u)| *u == url)
                            .map(|(r, _)| r)
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if records.is_empty() {
                let mut f = finding(
                    "FW-L013",
                    "example-unchecked",
                    Severity::Info,
                    number,
                    "no failure of this build is at hand, so the example was not checked"
                        .to_owned(),
                    "run lint with the failures of the window (a backend or --failures)".to_owned(),
                );
                f.line = Some(example.line);
                out.push(f);
                continue;
            }
            let mut matched = false;
            for record in &records {
                let action = match script {
                    Some(script) => explainer.action(script, record).ok().flatten(),
                    None => None,
                };
                matched |= action.is_some();
            }
            let ok = match example.expect {
                Expect::Match => matched,
                Expect::NoMatch => !matched,
            };
            if !ok {
                let mut f = finding(
                    "FW-L010",
                    "example-failed",
                    Severity::Error,
                    number,
                    format!(
                        "the example says `{}`, but the script {}",
                        example.expect.keyword(),
                        if matched {
                            "matches it"
                        } else {
                            "does not match it"
                        }
                    ),
                    "`flakewatch explain` shows which condition decides".to_owned(),
                );
                f.line = Some(example.line);
                out.push(f);
            }
        }
    }
}
