//! The compiled-set cache through the real binary (`--cache DIR`): a warm cache gives `match`
//! output byte-identical to a cold compile (and to the Go reference) with every engine; a
//! changed issue is a new entry; a damaged, truncated or other-version entry is a miss with a
//! warning naming it, and is rewritten; `bench` reports the cached compile; `triage` plans the
//! same cycle with and without the cache.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{DEMO_NOW, demo_copy, flakewatch, small_workload};

fn run_match(issues: &Path, failures: &Path, engine: &str, cache: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flakewatch"));
    cmd.args(["match", "--threads", "2", "--engine", engine, "--issues"])
        .arg(issues)
        .arg("--failures")
        .arg(failures);
    if let Some(dir) = cache {
        cmd.arg("--cache").arg(dir);
    }
    let out = cmd.output().expect("run flakewatch");
    assert!(
        out.status.success(),
        "{engine}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one entry of a cache directory.
fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the cache directory exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().expect("one entry")
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").ino()
}

#[test]
fn a_warm_cache_gives_the_output_of_a_cold_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reference = std::fs::read(root.join("testdata/workload/small-seed1.jsonl")).unwrap();
    let workload = small_workload("workload-small-seed1-cache");
    let (issues, failures) = (
        workload.join("issues.jsonl"),
        workload.join("failures.jsonl"),
    );
    for engine in ["jit", "plan", "interp"] {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("cache");
        let cold = run_match(&issues, &failures, engine, None);
        assert!(cold.stdout == reference, "{engine}: cold output");
        // The first run writes the entry, the second reads it.
        let filling = run_match(&issues, &failures, engine, Some(&dir));
        let entry = only_entry(&dir);
        let written = inode(&entry);
        let warm = run_match(&issues, &failures, engine, Some(&dir));
        assert_eq!(
            inode(&entry),
            written,
            "{engine}: the entry was read, not rewritten"
        );
        for (name, out) in [("filling", &filling), ("warm", &warm)] {
            assert!(
                out.stdout == cold.stdout,
                "{engine}, {name}: output differs"
            );
            // The same diagnostics (issues without a usable script), and no warning.
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&cold.stderr),
                "{engine}, {name}"
            );
        }
        assert!(
            String::from_utf8_lossy(&warm.stderr).contains("3 issue(s) have no usable script"),
            "{engine}"
        );
    }
}

#[test]
fn a_changed_issue_body_is_a_new_entry() {
    let workload = small_workload("workload-small-seed1-cache");
    let failures = workload.join("failures.jsonl");
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("cache");
    run_match(&workload.join("issues.jsonl"), &failures, "jit", Some(&dir));
    let first = only_entry(&dir);
    // The first issue's script now takes every failure of every package.
    let text = std::fs::read_to_string(workload.join("issues.jsonl")).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["body"] = "```\n#!watchflakes\npost <- pkg != \"\"\n```\n".into();
    let edited = cache.path().join("edited.jsonl");
    let edited_text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&edited, edited_text).unwrap();
    let cold = run_match(&edited, &failures, "jit", None);
    let changed = run_match(&edited, &failures, "jit", Some(&dir));
    assert!(changed.stdout == cold.stdout, "the edited set's output");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    assert!(first.exists());
    let warm = run_match(&edited, &failures, "jit", Some(&dir));
    assert!(warm.stdout == cold.stdout);
}

#[test]
fn a_damaged_entry_warns_and_is_rewritten() {
    let workload = small_workload("workload-small-seed1-cache");
    let (issues, failures) = (
        workload.join("issues.jsonl"),
        workload.join("failures.jsonl"),
    );
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path();
    let cold = run_match(&issues, &failures, "jit", None);
    run_match(&issues, &failures, "jit", Some(dir));
    let entry = only_entry(dir);
    let good = std::fs::read(&entry).unwrap();
    let mut other_version = good.clone();
    other_version[8..12].copy_from_slice(&9999u32.to_le_bytes());
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let damages: [(&str, Vec<u8>, &str); 5] = [
        (
            "garbage",
            b"\x00\x01garbage".repeat(100),
            "is not a flakewatch compiled-set cache entry",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "is truncated"),
        ("empty", Vec::new(), "is truncated"),
        ("a flipped bit", flipped, "checksum"),
        ("another version", other_version, "format version 9999"),
    ];
    for (name, damaged, reason) in damages {
        std::fs::write(&entry, &damaged).unwrap();
        let out = run_match(&issues, &failures, "jit", Some(dir));
        assert!(out.stdout == cold.stdout, "{name}: output differs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("compiled-set cache entry"))
            .collect();
        assert_eq!(warnings.len(), 1, "{name}: one warning: {stderr}");
        assert!(
            warnings[0].contains(&entry.display().to_string()) && warnings[0].contains(reason),
            "{name}: {stderr}"
        );
        assert_eq!(std::fs::read(&entry).unwrap(), good, "{name}: rewritten");
        let again = run_match(&issues, &failures, "jit", Some(dir));
        assert!(
            !String::from_utf8_lossy(&again.stderr).contains("compiled-set cache"),
            "{name}: the rewritten entry is read without a warning"
        );
        assert!(again.stdout == cold.stdout);
    }
}

#[test]
fn bench_reports_the_cached_compile() {
    let workload = small_workload("workload-small-seed1-cache");
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args([
            "bench",
            "--engines",
            "jit",
            "--threads",
            "1",
            "--limit",
            "20",
            "--compile-passes",
            "2",
            "--issues",
        ])
        .arg(workload.join("issues.jsonl"))
        .arg("--failures")
        .arg(workload.join("failures.jsonl"))
        .arg("--cache")
        .arg(cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("jit    compile (cached) "), "{stdout}");
    only_entry(cache.path());
}

#[test]
fn triage_plans_the_same_cycle_with_a_cache() {
    let data = demo_copy();
    let cache = tempfile::tempdir().unwrap();
    let triage = |with_cache: bool| {
        let mut cmd = flakewatch();
        cmd.args(["triage", "--json", "--now", DEMO_NOW, "--data"])
            .arg(data.path());
        if with_cache {
            cmd.arg("--cache").arg(cache.path());
        }
        let out = cmd.output().expect("run flakewatch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let cold = triage(false);
    assert!(triage(true) == cold, "the run that fills the cache");
    let entry = only_entry(cache.path());
    let written = inode(&entry);
    assert!(triage(true) == cold, "the run that reads it");
    assert_eq!(inode(&entry), written);
}
