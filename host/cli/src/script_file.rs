//! Loading a script for the CLI: a file (or `-` for standard input) holding either a bare
//! script or a whole issue body, from which the script is extracted as upstream does.

use std::io::Read;

use anyhow::Context;
use flakewatch_dsl::{Extracted, Parsed, find_script, parse_script};

/// A script read for checking or evaluation.
#[derive(Debug)]
pub(crate) struct ScriptFile {
    /// The path as given (`-` for standard input).
    pub path: String,
    /// The script text that was parsed (extracted from the body if the file was an issue body).
    pub text: String,
    /// Whether the text came out of an issue body.
    pub from_issue_body: bool,
    /// The parse result.
    pub parsed: Parsed,
}

/// Reads the file's bytes, at most the largest script a rule set may hold
/// (`Limits::max_script_bytes`; a longer input is refused before it is read whole); invalid
/// UTF-8 becomes U+FFFD, as Go's unquoting would decode it.
pub(crate) fn read_input(path: &str) -> anyhow::Result<String> {
    let limit = flakewatch_dsl::Limits::DEFAULT.max_script_bytes;
    let input: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("reading {path}"))?)
    };
    let name = if path == "-" { "standard input" } else { path };
    let mut bytes = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() > limit {
        anyhow::bail!("{name}: larger than {limit} bytes, the largest script flakewatch reads");
    }
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Loads and parses a script file.
pub(crate) fn load(path: &str) -> anyhow::Result<ScriptFile> {
    let content = read_input(path)?;
    let (text, from_issue_body) = match find_script(&content) {
        Ok(Extracted::Script(text)) => (text, true),
        Ok(Extracted::NoScript) | Err(_) => (content, false),
    };
    let parsed = parse_script(&text);
    Ok(ScriptFile {
        path: path.to_owned(),
        text,
        from_issue_body,
        parsed,
    })
}
