//! Broken and hostile inputs: truncated XML, wrong encodings, a 10 MB single line, deeply
//! nested suites, random bytes and mutated corpus files. Readers must answer with a clear,
//! positioned error (or recover with warnings) and never panic.

use std::path::{Path, PathBuf};

use flakewatch_ingest::{self as ingest, Format, IngestError, Limits, RunMeta, WarningKind};
use proptest::prelude::*;

/// Reads `bytes` both ways, streaming and from memory (the borrowed JUnit path), and checks
/// that they agree exactly: the same run, warnings included, or the same error.
fn read(bytes: &[u8], format: Option<Format>) -> Result<ingest::Run, IngestError> {
    let limits = Limits::default();
    let streamed = ingest::read(bytes, "input", format, RunMeta::default(), &limits);
    let in_memory = ingest::read_bytes(bytes, "input", format, RunMeta::default(), &limits);
    match (&streamed, &in_memory) {
        (Ok(a), Ok(b)) => assert!(a == b, "the two paths disagree on {format:?}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("streamed {a:?}, in memory {b:?}"),
    }
    streamed
}

fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n != "SOURCES.md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus"),
        &mut out,
    );
    out.sort();
    out
}

#[test]
fn truncated_xml_names_the_open_element() {
    let doc = "<?xml version=\"1.0\"?>\n<testsuites>\n  <testsuite name=\"s\">\n    \
               <testcase name=\"t\">\n      <failure>boom";
    let err = read(doc.as_bytes(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input:5:7: truncated XML: <failure> opened here is never closed"
    );
    // Cut inside a tag: quick-xml's syntax error, placed at the tag.
    let err = read(b"<testsuites>\n<testsuite name=\"s\"", None).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::Xml {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not closed"), "{err}");
}

#[test]
fn every_truncation_of_every_xml_corpus_file_fails_cleanly() {
    for path in corpus_files() {
        let bytes = std::fs::read(&path).unwrap();
        if ingest::detect(&bytes) != Ok(Format::Junit) {
            continue;
        }
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .unwrap();
        // Every cut before the last byte of the root's end tag (stepping to keep it quick).
        let step = (end / 200).max(1);
        for cut in (1..end).step_by(step) {
            let result = read(&bytes[..cut], Some(Format::Junit));
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{}: cut at {cut} parsed as complete", path.display()));
            assert!(err.to_string().starts_with("input"), "{err}");
        }
    }
}

#[test]
fn wrong_encodings() {
    // UTF-16 with a byte order mark: refused by name, whichever way the format is chosen.
    let utf16: Vec<u8> = "\u{feff}<testsuite name=\"s\"/>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    for format in [
        None,
        Some(Format::Junit),
        Some(Format::GoTest),
        Some(Format::MozlogRaw),
    ] {
        let err = read(&utf16, format).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input: UTF-16LE input is not supported; convert it to UTF-8"
        );
    }
    // Latin-1 bytes in a file read as UTF-8: recovered, with positioned warnings.
    let latin1 = b"<testsuite name=\"caf\xe9\">\n<testcase name=\"na\xefve\"/>\n</testsuite>";
    let run = read(latin1, None).unwrap();
    assert_eq!(run.tests[0].name, "na\u{fffd}ve");
    assert_eq!(&*run.tests[0].suite, ["caf\u{fffd}"]);
    let warnings: Vec<_> = run
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::InvalidUtf8)
        .map(|w| (w.line, w.column))
        .collect();
    assert_eq!(warnings, [(1, 21), (2, 19)]);
    let go = b"{\"Action\":\"run\",\"Package\":\"p\xff\",\"Test\":\"T\"}\n";
    let run = read(go, None).unwrap();
    assert_eq!(run.suites[0].path[0], "p\u{fffd}");
}

#[test]
fn ten_megabyte_single_lines() {
    let big = "x".repeat(10 << 20);
    // JSON lines: over the 8 MiB line limit, an error naming the line.
    let go = format!(
        "{{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}}\n\
         {{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"T\",\"Output\":\"{big}\"}}\n"
    );
    let err = read(go.as_bytes(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input:2: line is longer than 8388608 bytes"
    );
    let moz = format!(
        "{{\"action\":\"suite_start\",\"time\":1}}\n{{\"action\":\"log\",\"message\":\"{big}\"}}\n"
    );
    let err = read(moz.as_bytes(), None).unwrap_err();
    assert!(
        matches!(err, IngestError::LineTooLong { line: 2, .. }),
        "{err}"
    );
    // XML on one 10 MB line: fine; the text is kept to its start and end.
    let xml = format!(
        "<testsuite name=\"s\"><testcase name=\"t\"><failure>start{big}end</failure></testcase></testsuite>"
    );
    let run = read(xml.as_bytes(), None).unwrap();
    let trace = run.tests[0].attempts[0].trace().unwrap();
    assert!(trace.len() < (1 << 20) + 100, "{}", trace.len());
    assert!(trace.starts_with("startxxx") && trace.ends_with("xxxend"));
    assert!(trace.contains("bytes cut"));
    assert!(matches!(run.warnings[0].kind, WarningKind::Truncated(n) if n == big.len() + 8));
    // A token larger than the token limit: refused before it is buffered whole.
    let limits = Limits {
        max_token: 1 << 20,
        ..Limits::default()
    };
    let err = ingest::read(xml.as_bytes(), "input", None, RunMeta::default(), &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input:1:49: one XML token is longer than 1048576 bytes"
    );
}

#[test]
fn deeply_nested_suites() {
    let depth = 100_000;
    let doc = "<testsuite name=\"n\">".repeat(depth);
    let err = read(doc.as_bytes(), None).unwrap_err();
    assert!(
        matches!(err, IngestError::TooDeep { limit: 256, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "input:1:5121: elements nested deeper than 256"
    );
    // Within the limit: the whole path is kept.
    let depth = 200;
    let doc = format!(
        "{}<testcase name=\"deep\"/>{}",
        "<testsuite name=\"n\">".repeat(depth),
        "</testsuite>".repeat(depth)
    );
    let run = read(doc.as_bytes(), None).unwrap();
    assert_eq!(run.tests[0].suite.len(), depth);
    assert_eq!(run.suites.len(), depth);
}

#[test]
fn empty_and_unknown_inputs() {
    assert!(matches!(read(b"", None), Err(IngestError::Empty { .. })));
    assert!(matches!(
        read(b"  \n ", None),
        Err(IngestError::Empty { .. })
    ));
    let err = read(b"hello\nworld\n", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input: cannot tell the format: not XML, and no test2json or mozlog JSON line near the \
         start; pass --format"
    );
    let err = read(b"<html><body/></html>", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input:1:1: root element <html> is not <testsuites> or <testsuite>"
    );
    let err = read(b"<?xml version=\"1.0\"?>\n<!-- nothing -->\n", None).unwrap_err();
    assert!(matches!(err, IngestError::NoRecords { .. }), "{err}");
    let err = read(b"not json\n", Some(Format::MozlogRaw)).unwrap_err();
    assert_eq!(err.to_string(), "input: no mozlog records found");
}

fn all_formats() -> [Option<Format>; 5] {
    [
        None,
        Some(Format::Junit),
        Some(Format::GoTest),
        Some(Format::MozlogRaw),
        Some(Format::MozlogErrorSummary),
    ]
}

/// Fragments real inputs are made of, so random inputs reach deep into the readers.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<testsuites>".to_owned()),
        Just("</testsuites>".to_owned()),
        Just("<testsuite name=\"s\" time=\"1,2\">".to_owned()),
        Just("</testsuite>".to_owned()),
        Just("<testcase name=\"t\" classname=\"c\" time=\"x\">".to_owned()),
        Just("<testcase name=\"t\"/>".to_owned()),
        Just("</testcase>".to_owned()),
        Just("<failure message=\"m &amp; &#0; &bogus;\">".to_owned()),
        Just("</failure>".to_owned()),
        Just("<flakyFailure><stackTrace>s</stackTrace>".to_owned()),
        Just("</flakyFailure>".to_owned()),
        Just("<rerunError/>".to_owned()),
        Just("<skipped/>".to_owned()),
        Just("<system-out><![CDATA[out]]></system-out>".to_owned()),
        Just("<property name=\"go.version\" value=\"1\"/>".to_owned()),
        Just("&lt;&#65;&#xFFFFFF;&;".to_owned()),
        Just("{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\n".to_owned()),
        Just("{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"T/s\",\"Output\":\"o\\n\"}\n".to_owned()),
        Just("{\"Action\":\"fail\",\"Package\":\"p\"}\n".to_owned()),
        Just("{\"ImportPath\":\"p [p.test]\",\"Action\":\"build-fail\"}\n".to_owned()),
        Just("FAIL\tp [build failed]\n".to_owned()),
        Just("{\"action\":\"test_start\",\"test\":\"a\",\"time\":1}\n".to_owned()),
        Just("{\"action\":\"test_status\",\"test\":\"a\",\"subtest\":\"s\",\"status\":\"FAIL\",\"expected\":\"PASS\"}\n".to_owned()),
        Just("{\"action\":\"test_end\",\"test\":[\"a\",1],\"status\":\"OK\"}\n".to_owned()),
        Just("{\"action\":\"crash\",\"signature\":\"x\"}\n".to_owned()),
        Just("{\"action\":\"test_result\",\"test\":\"a\",\"status\":\"FAIL\",\"subtest\":null}\n".to_owned()),
        Just("{\"action\":\"group_result\",\"group\":\"g\",\"status\":\"ERROR\",\"duration\":-1}\n".to_owned()),
        "[ -~\n]{0,20}",
        proptest::collection::vec(any::<u8>(), 0..8)
            .prop_map(|v| String::from_utf8_lossy(&v).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for format in all_formats() {
            if let Err(err) = read(&bytes, format) {
                prop_assert!(err.to_string().starts_with("input"));
            }
        }
    }

    #[test]
    fn fragment_soups_never_panic(parts in proptest::collection::vec(fragment(), 0..40)) {
        let text = parts.concat();
        for format in all_formats() {
            match read(text.as_bytes(), format) {
                Ok(run) => {
                    let counts = run.counts();
                    prop_assert!(counts.attempts >= counts.tests);
                    prop_assert!(run.tests.iter().all(|t| !t.attempts.is_empty()));
                    let records = ingest::failure_records(&run, &Default::default());
                    prop_assert!(records.len() >= counts.failed_attempts);
                    let mut out = Vec::new();
                    ingest::write_results(&run, &mut out).unwrap();
                    prop_assert!(!out.is_empty());
                }
                Err(err) => prop_assert!(err.to_string().starts_with("input")),
            }
        }
    }

    #[test]
    fn mutated_corpus_files_never_panic(
        file in 0usize..44,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let files = corpus_files();
        let mut bytes = std::fs::read(&files[file % files.len()]).unwrap();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let len = cut.index(bytes.len() + 1);
        bytes.truncate(len);
        for format in all_formats() {
            if let Err(err) = read(&bytes, format) {
                prop_assert!(err.to_string().starts_with("input"));
            }
        }
    }
}
