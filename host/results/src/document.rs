//! An ingested run as the document a store writes, and the run's identity.
//!
//! The run metadata given at ingest (`--run-meta KEY=VALUE`) is mapped onto the document's
//! own fields: `run_id` → the key, `job`, `revision` (or `payload`), `suite`, `chunk`
//! (`N` or `N/M`), `chunks` (`M`), `started_at` (else `date`), `url`; every other key is a
//! property. A mozlog run names its suite itself (`suite_start`'s `name`).
//!
//! Without a `run_id`, the key is `sha256:` and the digest of the document (the source path
//! included): the same file ingested again is the same run, and two identical result files
//! at two paths are two runs.

use std::collections::BTreeMap;

use flakewatch_core::time::Timestamp;
use flakewatch_ingest::{Format, Run};
use flakewatch_plugin_sdk::model::{AttemptResult, ResultsRun, ScheduledTest, TestResult};
use sha2::{Digest, Sha256};

/// What the document keeps of the texts of an attempt.
#[derive(Clone, Copy, Debug)]
pub struct DocumentOptions {
    /// Bytes kept of a failure message (cut at a character boundary).
    pub max_message: usize,
}

impl Default for DocumentOptions {
    fn default() -> DocumentOptions {
        DocumentOptions {
            max_message: 16 * 1024,
        }
    }
}

/// Run metadata that does not fit the document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// A metadata value that must be a number is not one.
    #[error("{source_name}: run metadata {key}={value:?}: {expected}")]
    BadMeta {
        /// The run's source.
        source_name: String,
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
}

/// The document of `run`, with its key (see the module documentation).
pub fn run_document(run: &Run, options: DocumentOptions) -> Result<ResultsRun, DocumentError> {
    let meta = &run.meta;
    let bad = |key: &'static str, value: &str, expected: &'static str| DocumentError::BadMeta {
        source_name: run.source.clone(),
        key,
        value: value.to_owned(),
        expected,
    };
    let number = |key: &'static str, value: &str| -> Result<u32, DocumentError> {
        value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(key, value, "expected a positive whole number"))
    };
    let (chunk, chunks_of_chunk) = match meta.chunk.as_deref() {
        None => (None, None),
        Some(text) => match text.split_once('/') {
            Some((n, m)) => (Some(number("chunk", n)?), Some(number("chunk", m)?)),
            None => (Some(number("chunk", text)?), None),
        },
    };
    let chunks = match meta.variant.get("chunks") {
        Some(text) => Some(number("chunks", text)?),
        None => chunks_of_chunk,
    };
    if let (Some(n), Some(m)) = (chunk, chunks)
        && n > m
    {
        return Err(bad(
            "chunk",
            &format!("{n} of {m}"),
            "the chunk number is larger than the chunk count",
        ));
    }
    let started_at = match meta.variant.get("started_at").or(meta.date.as_ref()) {
        Some(text) => Some(
            Timestamp::parse_rfc3339(text)
                .map_err(|_| bad("started_at", text, "expected an RFC 3339 time"))?
                .format_rfc3339(),
        ),
        None => earliest_attempt(run),
    };
    let suite = meta.variant.get("suite").cloned().or_else(|| {
        matches!(run.format, Format::MozlogRaw | Format::MozlogErrorSummary)
            .then(|| run.name.clone())
            .flatten()
    });
    let mapped = ["suite", "chunks", "started_at"];
    let mut properties: BTreeMap<String, String> = meta
        .variant
        .iter()
        .filter(|(k, _)| !mapped.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in [
        ("builder", &meta.builder),
        ("repo", &meta.repo),
        ("goos", &meta.goos),
        ("goarch", &meta.goarch),
        ("run_id", &meta.run_id),
    ] {
        if let Some(value) = value {
            properties.insert(key.to_owned(), value.clone());
        }
    }
    let mut doc = ResultsRun {
        key: String::new(),
        job: meta.job.clone(),
        revision: meta.revision.clone(),
        suite,
        chunk,
        chunks,
        started_at,
        url: meta.url.clone(),
        source: run.source.clone(),
        format: run.format.name().to_owned(),
        properties,
        scheduled: run
            .scheduled
            .iter()
            .map(|(group, test)| ScheduledTest {
                group: group.clone(),
                test: test.clone(),
            })
            .collect(),
        tests: run
            .tests
            .iter()
            .map(|t| TestResult {
                suite: t.suite.to_vec(),
                classname: t.classname.clone(),
                name: t.name.clone(),
                attempts: t
                    .attempts
                    .iter()
                    .map(|a| AttemptResult {
                        status: a.status.name().to_owned(),
                        failure: a.is_failure(),
                        expected: a.expected,
                        raw_status: a.raw_status().map(str::to_owned),
                        duration: a.duration,
                        message: a.message().map(|m| cut(m, options.max_message)),
                        known_intermittent: a.known_intermittent().to_vec(),
                    })
                    .collect(),
            })
            .collect(),
    };
    doc.key = match &meta.run_id {
        Some(id) => id.clone(),
        None => digest_key(&doc),
    };
    Ok(doc)
}

/// `sha256:` and the hex digest of the document's JSON (its key still empty).
fn digest_key(doc: &ResultsRun) -> String {
    let mut hasher = Sha256::new();
    // Serialising plain data to memory cannot fail; hash what was written either way.
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    hasher.update(&bytes);
    let digest = hasher.finalize();
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// The earliest attempt start the run records (RFC 3339 with a zone; others are ignored).
fn earliest_attempt(run: &Run) -> Option<String> {
    run.tests
        .iter()
        .flat_map(|t| &t.attempts)
        .filter_map(|a| a.timestamp())
        .filter_map(|t| Timestamp::parse_rfc3339(t).ok())
        .min()
        .map(Timestamp::format_rfc3339)
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flakewatch_ingest::{Limits, RunMeta, read_bytes};

    fn mozlog_run(meta: RunMeta) -> Run {
        let log = concat!(
            r#"{"action":"suite_start","time":1795317604000,"name":"mochitest-plain","tests":{"g.toml":["t1","t2"]}}"#,
            "\n",
            r#"{"action":"test_start","time":1795317605000,"test":"t1","group":"g.toml"}"#,
            "\n",
            r#"{"action":"test_end","time":1795317606000,"test":"t1","group":"g.toml","status":"TIMEOUT","expected":"OK","known_intermittent":["TIMEOUT"]}"#,
            "\n",
        );
        read_bytes(log.as_bytes(), "m.log", None, meta, &Limits::default()).expect("reads")
    }

    #[test]
    fn mozlog_runs_name_their_suite_schedule_and_known_intermittents() {
        let mut meta = RunMeta::default();
        meta.set("chunk", "2/5");
        meta.set("revision", "abc");
        let doc = run_document(&mozlog_run(meta), DocumentOptions::default()).expect("doc");
        assert_eq!(doc.suite.as_deref(), Some("mochitest-plain"));
        assert_eq!((doc.chunk, doc.chunks), (Some(2), Some(5)));
        assert_eq!(doc.scheduled.len(), 2);
        assert_eq!(doc.started_at.as_deref(), Some("2026-11-22T03:20:05Z"));
        let attempt = &doc.tests[0].attempts[0];
        assert_eq!(attempt.status, "error");
        assert!(attempt.expected && !attempt.failure);
        assert_eq!(attempt.known_intermittent, ["TIMEOUT"]);
        assert!(doc.key.starts_with("sha256:") && doc.key.len() == 71);
    }

    #[test]
    fn the_key_is_the_run_id_or_a_stable_digest() {
        let a = run_document(&mozlog_run(RunMeta::default()), DocumentOptions::default());
        let b = run_document(&mozlog_run(RunMeta::default()), DocumentOptions::default());
        assert_eq!(a.expect("a").key, b.expect("b").key);
        let mut meta = RunMeta::default();
        meta.set("run_id", "task/0");
        let doc = run_document(&mozlog_run(meta), DocumentOptions::default()).expect("doc");
        assert_eq!(doc.key, "task/0");
        assert_eq!(
            doc.properties.get("run_id").map(String::as_str),
            Some("task/0")
        );
    }

    #[test]
    fn bad_chunk_metadata_is_refused_by_name() {
        for (key, value) in [("chunk", "two"), ("chunk", "3/2"), ("chunks", "0")] {
            let mut meta = RunMeta::default();
            meta.set(key, value);
            let err =
                run_document(&mozlog_run(meta), DocumentOptions::default()).expect_err("refused");
            assert!(
                err.to_string().starts_with("m.log: run metadata chunk"),
                "{err}"
            );
        }
    }
}
