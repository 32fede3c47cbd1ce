//! The text watchflakes writes to GitHub: new-issue title, rule and body, the failure comment,
//! the script-error comments, and the length cap and signature every posted text gets.

use std::fmt;

use flakewatch_dsl::diag::{Diagnostic, join};
use flakewatch_dsl::{ExtractError, Extracted, find_script, parse_script};

use crate::failure::short_pkg;
use crate::post::{FailurePost, indent};

/// Appended to every comment and issue body; it also marks the comments watchflakes wrote.
/// The dash is U+2014.
pub const SIGNATURE: &str = "\n\n\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n";

/// The longest comment or issue body, in bytes, before the cap applies.
pub const MAX_POST_BYTES: usize = 50_000;

/// The start of the line that marks a broken-builder issue (`crate::broken`); the builder's
/// name and ` -->` follow. Triage does not ask such a body for a script.
pub const BROKEN_BUILDER_MARKER: &str = "<!-- flakewatch broken builder: ";

/// The sentence of a generated issue body by which watchflakes recognises its own issues.
pub const NEW_ISSUE_MARKER: &str = "Issue created automatically to collect these failures.";

/// The comment posted on an issue without a watchflakes script (before the signature).
pub const NO_SCRIPT_COMMENT: &str = "\nSorry, but I can't find a watchflakes script at the \
start of the issue description.\nSee https://go.dev/wiki/Watchflakes for details.\n";

/// Quotes a string as Go's `%q` verb (`strconv.Quote`) does.
pub fn go_quote(s: &str) -> String {
    flakewatch_dsl::quote::quote(s.as_bytes())
}

/// The comment posted on an issue whose script has parse errors (before the signature):
/// the script and the one-line diagnostics, each indented by a tab.
pub fn parse_errors_comment<I>(script_text: &str, diagnostics: I) -> String
where
    I: IntoIterator,
    I::Item: fmt::Display,
{
    let mut errors = String::new();
    for d in diagnostics {
        errors.push_str(&d.to_string());
        errors.push('\n');
    }
    format!(
        "\nSorry, but there were parse errors in the watch flakes script.\n\
         The script I found was:\n\n{}\n\nAnd the problems were:\n\n{}\n\n\
         See https://go.dev/wiki/Watchflakes for details.\n",
        indent("\t", script_text),
        indent("\t", &errors)
    )
}

/// Why a generated issue body failed the re-extraction check upstream aborts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewIssueError {
    /// The body is blank.
    #[error("cannot find script in generated issue: {0}")]
    Extract(#[from] ExtractError),
    /// No `#!watchflakes` script at the start of the body.
    #[error("cannot find script in generated issue")]
    NoScript,
    /// The script does not parse.
    #[error("script in generated issue does not parse:\n{}", join(.diagnostics))]
    Parse {
        /// Every parse error.
        diagnostics: Vec<Diagnostic>,
    },
}

/// The text of a new issue for a failure that no script claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIssue {
    /// Issue title.
    pub title: String,
    /// The rule expression of its `default` rule.
    pub pattern: String,
    /// The body, before the cap and signature of [`sign_issue_body`].
    pub body: String,
}

impl NewIssue {
    /// The issue for `post` (the text part of `prepareNew` upstream).
    ///
    /// | failure | pattern | title |
    /// |---|---|---|
    /// | with a package | `pkg == %q && test == %q` | `SHORTPKG: TEST failures` (`unrecognized` for no test) |
    /// | test without package | `repo == %q && pkg == "" && test == %q` | `build: TEST failures` |
    /// | build failure | `builder == %q && repo == %q && mode == "build"` | `build: build failure on BUILDER` |
    /// | otherwise | `builder == %q && repo == %q && pkg == "" && test == ""` | `build: unrecognized failures on BUILDER` |
    pub fn for_failure(post: &FailurePost) -> NewIssue {
        let q = go_quote;
        let (pattern, title) = if !post.pkg.is_empty() {
            let test = if post.test.is_empty() {
                "unrecognized"
            } else {
                &post.test
            };
            (
                format!("pkg == {} && test == {}", q(&post.pkg), q(&post.test)),
                format!("{}: {test} failures", short_pkg(&post.pkg)),
            )
        } else if !post.test.is_empty() {
            (
                format!(
                    "repo == {} && pkg == \"\" && test == {}",
                    q(&post.repo),
                    q(&post.test)
                ),
                format!("build: {} failures", post.test),
            )
        } else if post.is_build_failure() {
            (
                format!(
                    "builder == {} && repo == {} && mode == \"build\"",
                    q(&post.builder),
                    q(&post.repo)
                ),
                format!("build: build failure on {}", post.builder),
            )
        } else {
            (
                format!(
                    "builder == {} && repo == {} && pkg == \"\" && test == \"\"",
                    q(&post.builder),
                    q(&post.repo)
                ),
                format!("build: unrecognized failures on {}", post.builder),
            )
        };
        let body = format!(
            "```\n#!watchflakes\ndefault <- {pattern}\n```\n\n{NEW_ISSUE_MARKER}\n\n\
             Example ([log]({})):\n\n{}",
            post.url,
            indent("    ", &post.snippet)
        );
        NewIssue {
            title,
            pattern,
            body,
        }
    }

    /// The issue for `post`, checked as upstream's `prepareNew` checks it: the body must give
    /// back a script that parses.
    pub fn prepare(post: &FailurePost) -> Result<NewIssue, NewIssueError> {
        let issue = NewIssue::for_failure(post);
        issue.verify_script()?;
        Ok(issue)
    }

    /// Extracts the script from the body again and parses it.
    pub fn verify_script(&self) -> Result<(), NewIssueError> {
        match find_script(&self.body)? {
            Extracted::NoScript => Err(NewIssueError::NoScript),
            Extracted::Script(text) => {
                let parsed = parse_script(&text);
                if parsed.is_ok() {
                    Ok(())
                } else {
                    Err(NewIssueError::Parse {
                        diagnostics: parsed.diagnostics,
                    })
                }
            }
        }
    }
}

/// The comment listing new failures for an issue (`updateText` upstream), before the cap and
/// signature of [`sign_comment`]: a heading, the issue's script indented by 4 spaces, then a
/// blank line and the [Markdown](FailurePost::markdown) of each failure. Empty when there are
/// no failures.
pub fn failures_comment(script_text: &str, posts: &[FailurePost]) -> String {
    if posts.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "Found new dashboard test flakes for:\n\n{}",
        indent("    ", script_text)
    );
    for post in posts {
        out.push('\n');
        out.push_str(&post.markdown());
    }
    out
}

/// The comment text as posted: capped at [`MAX_POST_BYTES`] (with a note closing the open
/// `<details>`), then signed.
pub fn sign_comment(body: &str) -> String {
    cap_and_sign(body, "\n</details>\n(... long comment truncated ...)\n")
}

/// The issue body as posted: capped at [`MAX_POST_BYTES`], then signed.
pub fn sign_issue_body(body: &str) -> String {
    cap_and_sign(body, "\n</details>\n(... long body truncated ...)\n")
}

/// Cuts `body` to at most [`MAX_POST_BYTES`] when it is longer, adding `note`, then appends
/// the signature. The cut moves back to a character boundary; upstream cuts bytes and may
/// split a UTF-8 sequence, which this deliberately does not reproduce.
fn cap_and_sign(body: &str, note: &str) -> String {
    let mut out = String::with_capacity(body.len().min(MAX_POST_BYTES) + 100);
    if body.len() > MAX_POST_BYTES {
        out.push_str(&body[..body.floor_char_boundary(MAX_POST_BYTES)]);
        out.push_str(note);
    } else {
        out.push_str(body);
    }
    out.push_str(SIGNATURE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_rules() {
        assert_eq!(indent("    ", ""), "");
        assert_eq!(indent("\t", "\n"), "\t\n");
        assert_eq!(indent("> ", "a\n\nb\n\n\n"), "> a\n> \n> b\n");
        assert_eq!(indent("  ", "a\r\nb"), "  a\r\n  b\n");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("Test/\"q\""), r#""Test/\"q\"""#);
        assert_eq!(go_quote("a\\b\tc\u{7f}é\u{a0}"), r#""a\\b\tc\x7fé\u00a0""#);
    }

    #[test]
    fn comments_under_the_cap_are_only_signed() {
        let body = "x".repeat(MAX_POST_BYTES);
        let signed = sign_comment(&body);
        assert_eq!(signed, format!("{body}{SIGNATURE}"));
        assert_eq!(sign_issue_body(""), SIGNATURE);
    }

    #[test]
    fn long_texts_are_cut_with_a_note() {
        let body = "y".repeat(MAX_POST_BYTES + 1);
        assert_eq!(
            sign_comment(&body),
            format!(
                "{}\n</details>\n(... long comment truncated ...)\n{SIGNATURE}",
                &body[..MAX_POST_BYTES]
            )
        );
        assert_eq!(
            sign_issue_body(&body),
            format!(
                "{}\n</details>\n(... long body truncated ...)\n{SIGNATURE}",
                &body[..MAX_POST_BYTES]
            )
        );
    }

    #[test]
    fn cut_backs_off_to_a_char_boundary() {
        // 49 999 ASCII bytes then a 2-byte character straddling the limit.
        let body = format!("{}é and more", "z".repeat(MAX_POST_BYTES - 1));
        let signed = sign_comment(&body);
        let kept = signed
            .strip_suffix(&format!(
                "\n</details>\n(... long comment truncated ...)\n{SIGNATURE}"
            ))
            .expect("note and signature");
        assert_eq!(kept.len(), MAX_POST_BYTES - 1);
        assert!(kept.bytes().all(|b| b == b'z'));
    }

    #[test]
    fn parse_errors_comment_layout() {
        let text = parse_errors_comment(
            "#!watchflakes\npost <- pkg ==\n",
            ["script:2.15: == requires quoted string"],
        );
        assert_eq!(
            text,
            "\nSorry, but there were parse errors in the watch flakes script.\n\
             The script I found was:\n\n\t#!watchflakes\n\tpost <- pkg ==\n\n\n\
             And the problems were:\n\n\tscript:2.15: == requires quoted string\n\n\n\
             See https://go.dev/wiki/Watchflakes for details.\n"
        );
        assert!(NO_SCRIPT_COMMENT.starts_with("\nSorry, but I can't find"));
        assert!(NO_SCRIPT_COMMENT.ends_with("for details.\n"));
    }

    #[test]
    fn generated_scripts_parse_even_with_odd_names() {
        let post = FailurePost {
            pkg: "weird\"pkg`\\".to_owned(),
            test: "Test\n#x\u{0}é\u{2028}".to_owned(),
            test_id: "x".to_owned(),
            ..FailurePost::default()
        };
        let issue = NewIssue::prepare(&post).expect("generated script parses");
        assert_eq!(
            issue.pattern,
            r#"pkg == "weird\"pkg`\\" && test == "Test\n#x\x00é\u2028""#
        );
        assert_eq!(
            issue.title,
            "weird\"pkg`\\: Test\n#x\u{0}é\u{2028} failures"
        );
        // A body whose fence was broken is rejected.
        let broken = NewIssue {
            body: "prose first\n".to_owned(),
            ..issue.clone()
        };
        assert_eq!(broken.verify_script(), Err(NewIssueError::NoScript));
        let bad = NewIssue {
            body: "```\n#!watchflakes\ndefault <- pkg ==\n```\n".to_owned(),
            ..issue
        };
        let err = bad.verify_script().expect_err("does not parse");
        assert!(
            err.to_string().contains("== requires quoted string"),
            "{err}"
        );
    }

    #[test]
    fn empty_failure_list_has_no_comment() {
        assert_eq!(failures_comment("#!watchflakes\n", &[]), "");
    }
}
