//! The query: read the columns (a missing value reads as `''`, as upstream's record does),
//! one `CASE` per issue giving its script's action (the first matching rule's), then the
//! cross-issue decision (the lowest `skip`; else every `post`, ascending; else the lowest
//! `default`; else a new issue), then `action` and `targets`.
//!
//! ```sql
//! WITH f AS (SELECT key AS k, COALESCE(pkg, '') AS f_pkg, … FROM table),
//! a AS (SELECT k, CASE WHEN <rule 1> THEN 1 WHEN <rule 2> THEN 0 END AS i0, … FROM f),
//! d AS (SELECT k, <lowest skip> AS skip_to, <lowest default> AS default_to, <posts> AS posts FROM a)
//! SELECT k AS key, <action> AS action, <targets> AS targets FROM d
//! ```
//!
//! Issues are columns in assignment order, so "lowest" is the first `WHEN` of a `CASE`.

use std::fmt::Write;

use flakewatch_dsl::Field;
use flakewatch_dsl::ir::{ActionKind, CmpKind, Node, NodeId, PatternSet, Pred, PredId};
use rustc_hash::FxHashMap;

use crate::dialect::Dialect;
use crate::{Compiled, Options, Refusal, RefusalContext, SqlError, Unsupported};

/// The code a rule's `THEN` gives for its action.
fn action_code(kind: ActionKind) -> u8 {
    match kind {
        ActionKind::Other => 0,
        ActionKind::Post => 1,
        ActionKind::Default => 2,
        ActionKind::Skip => 3,
    }
}

/// Writes predicates and expressions, each predicate's text computed once.
struct Writer<'s> {
    set: &'s PatternSet,
    dialect: Dialect,
    preds: FxHashMap<PredId, Result<String, Unsupported>>,
}

impl Writer<'_> {
    /// The expression of node `id`; on a refused predicate, that predicate and why.
    fn node(
        &mut self,
        id: NodeId,
        fields: &mut [bool; Field::COUNT],
        out: &mut String,
    ) -> Result<(), (PredId, Unsupported)> {
        match &self.set.nodes[id as usize] {
            Node::And(ops) | Node::Or(ops) => {
                let join = if matches!(self.set.nodes[id as usize], Node::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push('(');
                for (i, &op) in ops.iter().enumerate() {
                    if i > 0 {
                        out.push_str(join);
                    }
                    self.node(op, fields, out)?;
                }
                out.push(')');
            }
            Node::Not(x) => {
                out.push_str("(NOT ");
                self.node(*x, fields, out)?;
                out.push(')');
            }
            Node::Pred(p) => {
                fields[self.set.preds[*p as usize].field().index()] = true;
                let text = self
                    .preds
                    .entry(*p)
                    .or_insert_with(|| pred(self.set, self.dialect, *p));
                match text {
                    Ok(text) => out.push_str(text),
                    Err(why) => return Err((*p, why.clone())),
                }
            }
        }
        Ok(())
    }
}

/// The column alias of a field in the `f` step.
fn column(field: Field) -> String {
    format!("f_{}", field.name())
}

/// One predicate as a SQL boolean that is never NULL (its column never is).
fn pred(set: &PatternSet, dialect: Dialect, id: PredId) -> Result<String, Unsupported> {
    match &set.preds[id as usize] {
        Pred::Cmp { field, op, literal } => {
            let Ok(text) = std::str::from_utf8(literal) else {
                // Every column value is UTF-8, so it never equals these bytes; an order
                // comparison with them has no SQL literal to be written with.
                return match op {
                    CmpKind::Eq => Ok("FALSE".to_owned()),
                    CmpKind::Lt | CmpKind::Le => Err(Unsupported::NonUtf8Literal),
                };
            };
            let op = match op {
                CmpKind::Eq => "=",
                CmpKind::Lt => "<",
                CmpKind::Le => "<=",
            };
            let literal = dialect.string(text)?;
            let column = column(*field);
            Ok(match dialect {
                // Byte order whatever the default collation: `binary` in DuckDB, "C" in
                // PostgreSQL (memcmp, which is UTF-8 byte order, as Go compares).
                Dialect::DuckDb => format!("({column} COLLATE \"binary\" {op} {literal})"),
                Dialect::Postgres => format!("({column} COLLATE \"C\" {op} {literal})"),
                Dialect::BigQuery => format!("({column} {op} {literal})"),
            })
        }
        Pred::Regex { field, regex } => {
            let hir = &set.regexes[*regex as usize].hir;
            if !crate::regex::can_match(hir) {
                return Ok("FALSE".to_owned());
            }
            let column = column(*field);
            Ok(match dialect {
                Dialect::DuckDb => format!(
                    "regexp_matches({column}, {})",
                    dialect.string(&crate::regex::re2(hir)?)?
                ),
                Dialect::BigQuery => format!(
                    "REGEXP_CONTAINS({column}, {})",
                    dialect.string(&crate::regex::re2(hir)?)?
                ),
                Dialect::Postgres => {
                    // PostgreSQL's regexp engine is slow (~60 µs for 4 KB): a substring
                    // search for the literals every match contains decides most rows first.
                    let regex = format!(
                        "({column} COLLATE \"C\" ~ {})",
                        dialect.string(&crate::regex::postgres(hir)?)?
                    );
                    match crate::regex::required_literals(hir) {
                        Some(literals) => {
                            let mut tests = Vec::with_capacity(literals.len());
                            for literal in &literals {
                                tests.push(format!(
                                    "strpos({column} COLLATE \"C\", {}) > 0",
                                    dialect.string(literal)?
                                ));
                            }
                            format!("(({}) AND {regex})", tests.join(" OR "))
                        }
                        None => regex,
                    }
                }
            })
        }
    }
}

/// Where a refused predicate is, for the message.
fn context(set: &PatternSet, id: PredId) -> RefusalContext {
    match &set.preds[id as usize] {
        Pred::Cmp { field, .. } => RefusalContext::Comparison {
            field: field.name(),
        },
        Pred::Regex { field, regex } => RefusalContext::Regex {
            field: field.name(),
            pattern: set.regexes[*regex as usize].pattern.clone(),
        },
    }
}

/// One issue's column: its `CASE`, and the action kinds it can give.
struct IssueColumn {
    index: usize,
    number: i64,
    case: String,
    kinds: [bool; 4],
}

pub(crate) fn build(set: &PatternSet, options: &Options) -> Result<Compiled, SqlError> {
    let dialect = options.dialect;
    let mut writer = Writer {
        set,
        dialect,
        preds: FxHashMap::default(),
    };
    let mut fields = [false; Field::COUNT];
    let mut columns = Vec::new();
    let mut refused = Vec::new();
    for (index, issue) in set.issues.iter().enumerate() {
        let kind = |action: u32| set.action_kinds[action as usize];
        // Rules after the last deciding one can only hide nothing: leave them out.
        let Some(last) = issue
            .rules
            .iter()
            .rposition(|r| kind(r.action) != ActionKind::Other)
        else {
            continue;
        };
        let number =
            i64::try_from(issue.number).map_err(|_| SqlError::IssueNumber(issue.number))?;
        let mut issue_fields = [false; Field::COUNT];
        let mut case = String::from("CASE");
        let mut kinds = [false; 4];
        let mut issue_refused = Vec::new();
        for (i, rule) in issue.rules[..=last].iter().enumerate() {
            let mut expr = String::new();
            match writer.node(rule.expr, &mut issue_fields, &mut expr) {
                Ok(()) => {
                    let code = action_code(kind(rule.action));
                    kinds[usize::from(code)] = true;
                    write!(case, " WHEN {expr} THEN {code}").expect("writing to a String");
                }
                Err((pred, construct)) => issue_refused.push(Refusal {
                    issue: issue.number,
                    rule: i + 1,
                    context: context(set, pred),
                    construct,
                }),
            }
        }
        case.push_str(" END");
        if !issue_refused.is_empty() {
            refused.extend(issue_refused);
            continue;
        }
        for (all, this) in fields.iter_mut().zip(issue_fields) {
            *all |= this;
        }
        columns.push(IssueColumn {
            index,
            number,
            case,
            kinds,
        });
    }
    if !refused.is_empty() && !options.omit_refused {
        return Err(SqlError::Refused {
            dialect,
            refusals: refused,
        });
    }
    let used: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| fields[f.index()])
        .collect();
    let sql = write_query(options, set.issues.len(), &columns, &used, &refused);
    Ok(Compiled {
        sql,
        fields: used.iter().map(|f| f.name()).collect(),
        acting_issues: columns.len(),
        refused,
    })
}

fn write_query(
    options: &Options,
    issues: usize,
    columns: &[IssueColumn],
    used: &[Field],
    refused: &[Refusal],
) -> String {
    let d = options.dialect;
    let int = d.int_type();
    let key = options.key.quoted(d);
    let mut q = String::new();
    let w = &mut q;
    // Comments hold numbers and checked names only.
    let field_list: Vec<&str> = used.iter().map(|f| f.name()).collect();
    writeln!(
        w,
        "-- flakewatch sql ({d}): {issues} issues, {} deciding; reads {} and {}",
        columns.len(),
        key,
        if field_list.is_empty() {
            "no field".to_owned()
        } else {
            field_list.join(", ")
        }
    )
    .expect("writing to a String");
    if d == Dialect::Postgres {
        // Measured on PostgreSQL 15 (regex-heavy workload, 1,200 issues, 2,000 rows): with
        // JIT on, LLVM's compilation of the one large expression ran for over 15 minutes
        // without answering a cancel; with JIT off the query took 22 s.
        w.push_str(
            "-- run with SET jit = off: PostgreSQL's JIT compilation of this large expression \
             can take far longer than the query itself\n",
        );
    }
    if !refused.is_empty() {
        let mut numbers: Vec<String> = refused.iter().map(|r| format!("#{}", r.issue)).collect();
        numbers.dedup();
        writeln!(
            w,
            "-- left out (rules {d} cannot express): {}",
            numbers.join(", ")
        )
        .expect("writing to a String");
    }
    // f: the columns, a missing value read as ''.
    write!(w, "WITH f AS (\n  SELECT {key} AS k").expect("writing to a String");
    for field in used {
        write!(
            w,
            ",\n    COALESCE({}, '') AS {}",
            d.ident(field.name()),
            column(*field)
        )
        .expect("writing to a String");
    }
    writeln!(w, "\n  FROM {}\n),", options.table.quoted(d)).expect("writing to a String");
    // a: each issue's script action.
    write!(w, "a AS (\n  SELECT k").expect("writing to a String");
    for c in columns {
        write!(w, ",\n    {} AS i{}", c.case, c.index).expect("writing to a String");
    }
    w.push_str("\n  FROM f\n),\n");
    // d: the decision across issues.
    let first = |code: usize| -> String {
        let whens: Vec<String> = columns
            .iter()
            .filter(|c| c.kinds[code])
            .map(|c| format!("WHEN i{} = {code} THEN {}", c.index, c.number))
            .collect();
        if whens.is_empty() {
            format!("CAST(NULL AS {int})")
        } else {
            format!("CASE {} END", whens.join(" "))
        }
    };
    let posters: Vec<&IssueColumn> = columns.iter().filter(|c| c.kinds[1]).collect();
    let empty = match d {
        Dialect::BigQuery => "CAST([] AS ARRAY<INT64>)",
        Dialect::DuckDb => "CAST([] AS BIGINT[])",
        Dialect::Postgres => "CAST(ARRAY[] AS BIGINT[])",
    };
    let posts = if posters.is_empty() {
        empty.to_owned()
    } else {
        let sep = ",\n      ";
        match d {
            Dialect::DuckDb => format!(
                "flatten([\n      {}\n    ])",
                posters
                    .iter()
                    .map(|c| format!(
                        "CASE WHEN i{} = 1 THEN [CAST({} AS BIGINT)] ELSE {empty} END",
                        c.index, c.number
                    ))
                    .collect::<Vec<_>>()
                    .join(sep)
            ),
            Dialect::Postgres => format!(
                "array_remove(CAST(ARRAY[\n      {}\n    ] AS BIGINT[]), NULL)",
                posters
                    .iter()
                    .map(|c| format!("CASE WHEN i{} = 1 THEN {} END", c.index, c.number))
                    .collect::<Vec<_>>()
                    .join(sep)
            ),
            Dialect::BigQuery => format!(
                "ARRAY(SELECT x FROM UNNEST([\n      {}\n    ]) AS x WITH OFFSET AS o WHERE x IS NOT NULL ORDER BY o)",
                posters
                    .iter()
                    .map(|c| format!("CASE WHEN i{} = 1 THEN {} END", c.index, c.number))
                    .collect::<Vec<_>>()
                    .join(sep)
            ),
        }
    };
    writeln!(
        w,
        "d AS (\n  SELECT k,\n    {} AS skip_to,\n    {} AS default_to,\n    {posts} AS posts\n  FROM a\n)",
        first(3),
        first(2)
    )
    .expect("writing to a String");
    let len = match d {
        Dialect::DuckDb => "len(posts)",
        Dialect::Postgres => "cardinality(posts)",
        Dialect::BigQuery => "ARRAY_LENGTH(posts)",
    };
    let one = |x: &str| match d {
        Dialect::Postgres => format!("ARRAY[{x}]"),
        Dialect::DuckDb | Dialect::BigQuery => format!("[{x}]"),
    };
    write!(
        w,
        "SELECT k AS {key},\n  CASE WHEN skip_to IS NOT NULL THEN 'skip' WHEN {len} > 0 THEN 'post' \
         WHEN default_to IS NOT NULL THEN 'default' ELSE 'new_issue' END AS {},\n  \
         CASE WHEN skip_to IS NOT NULL THEN {} WHEN {len} > 0 THEN posts \
         WHEN default_to IS NOT NULL THEN {} ELSE {empty} END AS {}\nFROM d\n",
        d.ident("action"),
        one("skip_to"),
        one("default_to"),
        d.ident("targets"),
    )
    .expect("writing to a String");
    q
}
