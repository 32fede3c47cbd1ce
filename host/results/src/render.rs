//! The per-revision view as text for a terminal and as Markdown for a pull request or a bug.

use std::fmt::Write as _;

use crate::revision::{FlakyTest, Observation, RevisionReport, SuiteReport, Totals};

/// The report as plain text; with `verbose`, every execution too.
pub fn text(report: &RevisionReport, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "revision {}: {} stored run{}",
        report.revision,
        report.runs,
        plural(report.runs)
    );
    for suite in &report.suites {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", suite_name(suite));
        let _ = writeln!(out, "  chunks:   {}", chunk_line(suite));
        let _ = writeln!(out, "  results:  {}", totals_line(&suite.totals));
        if verbose {
            for e in &suite.executions {
                let _ = writeln!(
                    out,
                    "  run {} ({}{}): {}",
                    e.key,
                    e.chunk
                        .map_or_else(|| "no chunk".to_owned(), |c| format!("chunk {c}")),
                    e.started_at
                        .as_deref()
                        .map_or_else(String::new, |t| format!(", started {t}")),
                    totals_line(&e.totals)
                );
            }
        }
        if !suite.missing_tests.is_empty() {
            let _ = writeln!(
                out,
                "  missing tests (scheduled, never reported): {}",
                suite.missing_tests.len()
            );
            for m in &suite.missing_tests {
                let _ = writeln!(
                    out,
                    "    {}{}",
                    chunk_prefix(m.chunk),
                    test_label(&m.group, &m.test)
                );
            }
        }
        if !suite.flaky.is_empty() {
            let _ = writeln!(out, "  flaky tests: {}", suite.flaky.len());
            for f in &suite.flaky {
                let _ = writeln!(out, "    {}", flaky_title(f));
                let _ = writeln!(out, "      {}", observations(&f.results));
            }
        }
    }
    out
}

/// The report as Markdown: a table of suites, then the missing and flaky tests.
pub fn markdown(report: &RevisionReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Revision `{}`", report.revision);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| suite | chunks expected | executed | repeated | missing | passed | failed | skipped | flaky |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for s in &report.suites {
        let flaky = s.flaky.len();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&suite_name(s)),
            s.chunks_expected
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            list(&s.chunks_executed),
            if s.chunks_repeated.is_empty() {
                "—".to_owned()
            } else {
                s.chunks_repeated
                    .iter()
                    .map(|r| format!("{} (×{})", r.chunk, r.executions))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if s.chunks_missing.is_empty() {
                "—".to_owned()
            } else {
                list(&s.chunks_missing)
            },
            s.totals.passed,
            s.totals.failed,
            s.totals.skipped,
            flaky,
        );
    }
    let missing: Vec<_> = report
        .suites
        .iter()
        .flat_map(|s| s.missing_tests.iter().map(move |m| (s, m)))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Scheduled, never reported");
        let _ = writeln!(out);
        for (s, m) in missing {
            let _ = writeln!(
                out,
                "- {} {}`{}`",
                cell(&suite_name(s)),
                chunk_prefix(m.chunk),
                test_label(&m.group, &m.test)
            );
        }
    }
    let flaky: Vec<_> = report
        .suites
        .iter()
        .flat_map(|s| s.flaky.iter().map(move |f| (s, f)))
        .collect();
    if !flaky.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Flaky on this revision");
        let _ = writeln!(out);
        for (s, f) in flaky {
            let _ = writeln!(
                out,
                "- {}: `{}` — {}",
                cell(&suite_name(s)),
                f.name,
                cell(&observations(&f.results))
            );
        }
    }
    out
}

fn suite_name(s: &SuiteReport) -> String {
    s.suite
        .clone()
        .unwrap_or_else(|| "(runs without a suite)".to_owned())
}

fn chunk_line(s: &SuiteReport) -> String {
    let expected = match s.chunks_expected {
        Some(n) => format!("{n} expected ({})", s.chunks_expected_from),
        None => "expected count unknown".to_owned(),
    };
    let mut line = format!("{expected}, executed {}", list(&s.chunks_executed));
    if !s.chunks_repeated.is_empty() {
        let repeated: Vec<String> = s
            .chunks_repeated
            .iter()
            .map(|r| format!("{} ×{}", r.chunk, r.executions))
            .collect();
        let _ = write!(line, ", repeated {}", repeated.join(", "));
    }
    if !s.chunks_missing.is_empty() {
        let _ = write!(line, ", MISSING {}", list(&s.chunks_missing));
    }
    let unchunked = s.executions.iter().filter(|e| e.chunk.is_none()).count();
    if unchunked > 0 {
        let _ = write!(
            line,
            "; {unchunked} run{} without a chunk",
            plural(unchunked)
        );
    }
    line
}

fn totals_line(t: &Totals) -> String {
    format!(
        "{} passed, {} failed, {} skipped, {} flaky within a run ({} test result{})",
        t.passed,
        t.failed,
        t.skipped,
        t.flaky,
        t.tests,
        plural(t.tests)
    )
}

fn flaky_title(f: &FlakyTest) -> String {
    let mut title = match f.path.as_slice() {
        [] => f.name.clone(),
        path => format!("{} {}", path.join(" / "), f.name),
    };
    if !f.chunks.is_empty() {
        let _ = write!(title, " (chunk {})", list(&f.chunks));
    }
    if f.known_intermittent {
        title.push_str(" [known intermittent]");
    }
    title
}

fn observations(results: &[Observation]) -> String {
    results
        .iter()
        .map(|o| {
            let mut word = o.word();
            if !o.expected {
                word.push_str(" (unexpected)");
            } else if !o.known_intermittent.is_empty() && o.status != "pass" {
                word.push_str(" (known intermittent)");
            }
            format!("{word} in {} #{}", o.run, o.attempt)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn chunk_prefix(chunk: Option<u32>) -> String {
    chunk.map_or_else(String::new, |c| format!("chunk {c}: "))
}

fn test_label(group: &str, test: &str) -> String {
    if group.is_empty() {
        test.to_owned()
    } else {
        format!("{test} ({group})")
    }
}

fn list(numbers: &[u32]) -> String {
    if numbers.is_empty() {
        return "none".to_owned();
    }
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Escapes a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
