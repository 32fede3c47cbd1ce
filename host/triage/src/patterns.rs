//! From issues to a compiled pattern set: issues in ascending number, each script extracted
//! from its body as upstream does, parsed, and lowered; an issue whose script is missing or has
//! any error matches nothing (upstream's rule). The `cache` module reads an unchanged issue
//! set back lowered instead (`--cache DIR`).

use std::io::BufRead;

use flakewatch_core::LineError;
use flakewatch_dsl::ir::LowerError;
use flakewatch_dsl::{
    Diagnostic, ExtractError, Extracted, Limits, Parsed, RegexpMemo, find_script, parallel,
    parse_script_memo,
};
use flakewatch_jit::JitError;
use serde::Deserialize;

use crate::engine::{Engine, EngineKind};

/// What was found in one issue's body.
#[derive(Debug)]
pub enum ScriptStatus {
    /// A script that parsed.
    Ok(Parsed),
    /// No `#!watchflakes` script at the start of the body.
    NoScript,
    /// An empty or whitespace-only body (upstream crashes on these).
    EmptyBody,
    /// A script with errors: it matches nothing.
    Errors {
        /// The extracted script text.
        text: String,
        /// Every diagnostic.
        diagnostics: Vec<Diagnostic>,
    },
    /// A script that parsed but exceeds a flakewatch limit when compiled.
    TooLarge(LowerError),
}

impl ScriptStatus {
    /// Extracts and parses the script of an issue body.
    pub fn of_body(body: &str, limits: &Limits) -> ScriptStatus {
        ScriptStatus::of_body_memo(body, limits, &mut RegexpMemo::default())
    }

    /// [`ScriptStatus::of_body`], reusing the regexps parsed for earlier bodies of a batch.
    pub fn of_body_memo(body: &str, limits: &Limits, memo: &mut RegexpMemo) -> ScriptStatus {
        match find_script(body) {
            Err(ExtractError::EmptyBody) => ScriptStatus::EmptyBody,
            Ok(Extracted::NoScript) => ScriptStatus::NoScript,
            Ok(Extracted::Script(text)) => {
                let parsed = parse_script_memo(&text, limits, memo);
                if parsed.is_ok() {
                    ScriptStatus::Ok(parsed)
                } else {
                    ScriptStatus::Errors {
                        text,
                        diagnostics: parsed.diagnostics,
                    }
                }
            }
        }
    }

    /// Whether the issue takes part in matching.
    pub fn is_usable(&self) -> bool {
        matches!(self, ScriptStatus::Ok(_))
    }
}

/// What became of one issue of a compiled set: its [`ScriptStatus`] once the script is
/// compiled, without the parsed script (compiling consumes it, and a set read from the
/// compiled-set cache never had one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueStatus {
    /// A script that parsed and lowered: the issue takes part in matching.
    Usable,
    /// No `#!watchflakes` script at the start of the body.
    NoScript,
    /// An empty or whitespace-only body (upstream crashes on these).
    EmptyBody,
    /// A script with errors: it matches nothing.
    Errors {
        /// The extracted script text.
        text: String,
        /// Every diagnostic.
        diagnostics: Vec<Diagnostic>,
    },
    /// A script that parsed but exceeds a flakewatch limit when compiled.
    TooLarge(LowerError),
}

impl IssueStatus {
    /// Whether the issue takes part in matching.
    pub fn is_usable(&self) -> bool {
        matches!(self, IssueStatus::Usable)
    }
}

impl From<ScriptStatus> for IssueStatus {
    fn from(status: ScriptStatus) -> IssueStatus {
        match status {
            ScriptStatus::Ok(_) => IssueStatus::Usable,
            ScriptStatus::NoScript => IssueStatus::NoScript,
            ScriptStatus::EmptyBody => IssueStatus::EmptyBody,
            ScriptStatus::Errors { text, diagnostics } => IssueStatus::Errors { text, diagnostics },
            ScriptStatus::TooLarge(error) => IssueStatus::TooLarge(error),
        }
    }
}

/// The issues of a pattern set, in assignment order, with the engine compiled from them.
#[derive(Debug)]
pub struct CompiledIssues {
    /// Issue numbers in assignment order (ascending); engine targets index this.
    pub numbers: Vec<u64>,
    /// What became of each issue's body, parallel to `numbers`.
    pub statuses: Vec<IssueStatus>,
    /// The engine.
    pub engine: Engine,
}

impl CompiledIssues {
    /// Sorts `(number, body)` pairs by number, extracts and parses every script and compiles the
    /// usable ones with `kind`.
    pub fn compile<'a>(
        issues: impl IntoIterator<Item = (u64, &'a str)>,
        kind: EngineKind,
        limits: Limits,
    ) -> Result<CompiledIssues, JitError> {
        CompiledIssues::compile_sorted(&sorted(issues), kind, limits)
    }

    /// Compiles issues already in ascending number order.
    pub(crate) fn compile_sorted(
        issues: &[(u64, &str)],
        kind: EngineKind,
        limits: Limits,
    ) -> Result<CompiledIssues, JitError> {
        let mut statuses = extract_and_parse(issues, &limits);
        let numbers: Vec<u64> = issues.iter().map(|&(number, _)| number).collect();
        let scripts = numbers.iter().zip(&statuses).map(|(&number, status)| {
            let script = match status {
                ScriptStatus::Ok(parsed) => Some(&parsed.script),
                _ => None,
            };
            (number, script)
        });
        let (engine, errors) = Engine::build(kind, scripts, limits)?;
        for (number, error) in errors {
            if let Ok(i) = numbers.binary_search(&number) {
                statuses[i] = ScriptStatus::TooLarge(error);
            }
        }
        // The parsed scripts are done with. Freeing them is about a tenth of compiling a large
        // set: a large set's are freed on another thread.
        let mut parsed = Vec::new();
        let statuses = statuses
            .into_iter()
            .map(|status| match status {
                ScriptStatus::Ok(script) => {
                    parsed.push(script);
                    IssueStatus::Usable
                }
                other => IssueStatus::from(other),
            })
            .collect();
        if parsed.len() >= MIN_PARALLEL_ISSUES {
            // If no thread can be started, the closure (and the scripts) are dropped here.
            let _ = std::thread::Builder::new()
                .name("flakewatch-free".to_owned())
                .spawn(move || drop(parsed));
        }
        Ok(CompiledIssues {
            numbers,
            statuses,
            engine,
        })
    }
}

/// `(number, body)` pairs sorted by number (a stable sort: equal numbers keep their order).
pub(crate) fn sorted<'a>(issues: impl IntoIterator<Item = (u64, &'a str)>) -> Vec<(u64, &'a str)> {
    let mut issues: Vec<(u64, &str)> = issues.into_iter().collect();
    issues.sort_by_key(|&(number, _)| number);
    issues
}

/// Fewest issues worth extracting and parsing on several threads.
const MIN_PARALLEL_ISSUES: usize = 256;

/// [`ScriptStatus::of_body`] of every issue, in order; on the machine's cores for many, each
/// with its own regexp memo.
fn extract_and_parse(issues: &[(u64, &str)], limits: &Limits) -> Vec<ScriptStatus> {
    let threads = parallel::threads_for(issues.len(), MIN_PARALLEL_ISSUES, usize::MAX);
    parallel::map_parts(issues, threads, |part| {
        let mut memo = RegexpMemo::default();
        part.iter()
            .map(|(_, body)| ScriptStatus::of_body_memo(body, limits, &mut memo))
            .collect()
    })
}

/// The fields of a GitHub issue that matching needs.
#[derive(Debug, Deserialize)]
pub struct IssueLine {
    /// The issue number.
    pub number: u64,
    /// The body (GitHub sends `null` for an empty one).
    #[serde(default)]
    pub body: Option<String>,
}

/// The longest issue line read (GitHub caps a body at 65,536 characters; its JSON, with the
/// rest of the issue, stays well below this).
pub const MAX_ISSUE_LINE: usize = 16 << 20;

/// Reads issues in GitHub's JSON shape, one per line (blank lines skipped); every line is
/// bounded by [`MAX_ISSUE_LINE`] before it is held in memory. Many lines are decoded on the
/// machine's cores; the first error in line order is the one reported.
pub fn read_issues<R: BufRead>(input: R, file: &str) -> Result<Vec<IssueLine>, LineError> {
    let mut lines = Vec::new();
    let mut unreadable = None;
    for line in flakewatch_core::jsonl::lines(input, file, MAX_ISSUE_LINE) {
        match line {
            Ok(line) => lines.push(line),
            Err(error) => {
                unreadable = Some(error);
                break;
            }
        }
    }
    let threads = parallel::threads_for(lines.len(), MIN_PARALLEL_ISSUES, usize::MAX);
    let issues = parallel::map_parts(&lines, threads, |part| {
        part.iter()
            .map(|(line, text)| {
                serde_json::from_str(text)
                    .map_err(|e| LineError::invalid(file, *line, e.to_string()))
            })
            .collect()
    })
    .into_iter()
    .collect::<Result<Vec<IssueLine>, LineError>>()?;
    match unreadable {
        Some(error) => Err(error),
        None => Ok(issues),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue_lines(count: usize) -> String {
        (1..=count)
            .map(|n| format!("{{\"number\":{n},\"body\":\"b{n}\"}}\n"))
            .collect()
    }

    #[test]
    fn many_issue_lines_decode_in_order() {
        let issues = read_issues(issue_lines(1000).as_bytes(), "issues.jsonl").unwrap();
        let numbers: Vec<u64> = issues.iter().map(|i| i.number).collect();
        assert_eq!(numbers, (1..=1000).collect::<Vec<u64>>());
        assert_eq!(issues[999].body.as_deref(), Some("b1000"));
    }

    #[test]
    fn the_first_bad_line_is_reported() {
        // A line that is not JSON (line 700) before an unreadable one (line 900, not UTF-8):
        // the earlier one is the error, whichever thread decodes it.
        let mut text = issue_lines(1000).into_bytes();
        let line_start = |text: &[u8], line: usize| {
            text.split_inclusive(|&b| b == b'\n')
                .take(line - 1)
                .map(<[u8]>::len)
                .sum::<usize>()
        };
        let at = line_start(&text, 900);
        text[at] = 0xff;
        let at = line_start(&text, 700);
        text[at] = b'x';
        let error = read_issues(&text[..], "issues.jsonl").unwrap_err();
        assert!(
            error.to_string().starts_with("issues.jsonl:700:"),
            "{error}"
        );
        // Without the JSON error, the unreadable line is the one reported.
        text[at] = b'{';
        let error = read_issues(&text[..], "issues.jsonl").unwrap_err();
        assert!(
            error.to_string().starts_with("issues.jsonl:900:"),
            "{error}"
        );
    }
}
