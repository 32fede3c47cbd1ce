//! `flakewatch match` against the Go reference: the `small` workload (regenerated with the
//! project's workload generator) must produce output byte-identical to what upstream's own
//! matching loop produced, with every engine.

mod support;

use std::path::Path;
use std::process::Command;

use support::small_workload;

#[test]
fn every_engine_reproduces_the_go_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = small_workload("workload-small-seed1");
    let expected = std::fs::read(root.join("testdata/workload/small-seed1.jsonl")).unwrap();
    assert_eq!(expected.iter().filter(|&&b| b == b'\n').count(), 1000);
    for engine in ["interp", "plan", "jit"] {
        let out = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
            .args(["match", "--engine", engine, "--threads", "2", "--issues"])
            .arg(dir.join("issues.jsonl"))
            .arg("--failures")
            .arg(dir.join("failures.jsonl"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("3 issue(s) have no usable script"),
            "{engine}: {stderr}"
        );
        assert!(
            out.stdout == expected,
            "{engine}: output differs from the Go reference"
        );
    }
}

#[test]
fn unreadable_lines_keep_output_aligned() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("match-bad-lines");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("issues.jsonl"),
        "{\"number\":7,\"body\":\"```\\n#!watchflakes\\npost <- pkg == \\\"net\\\"\\n```\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("failures.jsonl"),
        "{\"pkg\":\"net\"}\n{\"pkg\":\n{\"pkg\":\"os\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["match", "--issues"])
        .arg(dir.join("issues.jsonl"))
        .arg("--failures")
        .arg(dir.join("failures.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], r#"{"action":"post","targets":[7]}"#);
    assert!(
        lines[1].starts_with(r#"{"error":""#) && lines[1].contains("failures.jsonl:2:"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], r#"{"action":"new_issue","targets":[]}"#);
}

/// `flakewatch bench` on a tiny set: every engine's line, the plan line, agreement; and no
/// figures at all (an error) when there is nothing to measure.
#[test]
fn bench_reports_every_engine_and_refuses_nothing() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-tiny");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("issues.jsonl"),
        concat!(
            "{\"number\":7,\"body\":\"```\\n#!watchflakes\\npost <- pkg == \\\"net\\\" && `timeout`\\n```\"}\n",
            "{\"number\":8,\"body\":\"```\\n#!watchflakes\\ndefault <- `panic`\\n```\"}\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("failures.jsonl"),
        "{\"pkg\":\"net\",\"output\":\"i/o timeout\"}\n{\"pkg\":\"os\",\"output\":\"panic: x\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join("none.jsonl"), "\n").unwrap();
    let bench = |failures: &str| {
        Command::new(env!("CARGO_BIN_EXE_flakewatch"))
            .args(["bench", "--compile-passes", "1", "--issues"])
            .arg(dir.join("issues.jsonl"))
            .arg("--failures")
            .arg(dir.join(failures))
            .output()
            .unwrap()
    };
    let out = bench("failures.jsonl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("2 failures,"), "{stdout}");
    for engine in ["interp", "plan", "jit"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(engine) && l.contains("failures/s")),
            "{engine}: {stdout}"
        );
    }
    assert!(
        stdout.contains("plan: 1 issues run for every failure, 1 only for their guard's values (1 groups on pkg)"),
        "{stdout}"
    );
    assert!(!stdout.contains("DISAGREES"), "{stdout}");
    let out = bench("none.jsonl");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no failure records to measure"), "{stderr}");
}

/// `match --shard I/N`: three workers on the same input together give every line of one
/// unsharded run exactly once, each failure of a build in the same share.
#[test]
fn three_shards_together_are_one_run() {
    let dir = small_workload("workload-small-seed1-shards");
    let run = |shard: Option<&str>| -> Vec<serde_json::Value> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flakewatch"));
        cmd.args(["match", "--threads", "2", "--issues"])
            .arg(dir.join("issues.jsonl"))
            .arg("--failures")
            .arg(dir.join("failures.jsonl"));
        if let Some(shard) = shard {
            cmd.args(["--shard", shard]);
        }
        let out = cmd.output().expect("run flakewatch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    let whole = run(None);
    let mut merged: Vec<serde_json::Value> = Vec::new();
    let mut sizes = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let part = run(Some(shard));
        sizes.push(part.len());
        merged.extend(part);
    }
    assert!(sizes.iter().all(|&n| n > 100), "shares {sizes:?}");
    merged.sort_by_key(|v| v["line"].as_u64().expect("line"));
    let lines: Vec<u64> = merged
        .iter()
        .map(|v| v["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, (1..=whole.len() as u64).collect::<Vec<_>>());
    for (mut got, want) in merged.into_iter().zip(&whole) {
        got.as_object_mut().expect("object").remove("line");
        assert_eq!(&got, want);
    }
    // The failures of one build share a shard: builder, repo and date decide it.
    let failures = std::fs::read_to_string(dir.join("failures.jsonl")).expect("failures");
    let records: Vec<serde_json::Value> = failures
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let mut shard_of_build = std::collections::HashMap::new();
    for shard in ["1/3", "2/3", "3/3"] {
        for v in run(Some(shard)) {
            let r = &records[v["line"].as_u64().expect("line") as usize - 1];
            let build = (r["builder"].clone(), r["repo"].clone(), r["date"].clone());
            let previous = shard_of_build.insert(build, shard);
            assert!(previous.is_none_or(|p| p == shard), "a build in two shares");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args([
            "match",
            "--shard",
            "4/3",
            "--issues",
            "x",
            "--failures",
            "y",
        ])
        .output()
        .expect("run flakewatch");
    assert_eq!(bad.status.code(), Some(2));
}
