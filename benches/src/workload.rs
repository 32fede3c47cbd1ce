//! Watchflakes workloads for the matching benchmarks: generated on demand by the project's
//! workload generator (`benches/workload/gen_workload.py`) into `target/bench-workloads/`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use flakewatch_dsl::Record;
use flakewatch_ingest::records::parse_record_fields;
use flakewatch_triage::patterns::read_issues;

/// A generated workload: its issues file and the records of its failures.
pub struct Workload {
    /// `issues.jsonl`.
    pub issues: PathBuf,
    /// The failures, decoded.
    pub records: Vec<Record>,
}

impl Workload {
    /// Generates (once) and loads the workload of `shape` with seed 1, keeping the first
    /// `failures` records.
    pub fn load(shape: &str, failures: usize) -> Workload {
        Workload::generated(
            &format!("{shape}-seed1"),
            &["--shape", shape, "--seed", "1"],
            failures,
        )
    }

    /// The moonshot shape (10,000 issues, short logs: `gen_workload.py --issues 10000
    /// --seed 11 --log-scale 0.05`, the README's 10,000 × 1,000,000 row) with its first
    /// `failures` failures only, generated once.
    pub fn moonshot(failures: usize) -> Workload {
        let count = failures.to_string();
        let args = [
            "--shape",
            "default",
            "--issues",
            "10000",
            "--failures",
            &count,
            "--seed",
            "11",
            "--log-scale",
            "0.05",
        ];
        Workload::generated(&format!("moonshot-seed11-{failures}"), &args, failures)
    }

    /// Generates (once) the workload `gen_workload.py args` into `name` and loads it.
    fn generated(name: &str, args: &[&str], failures: usize) -> Workload {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("../target/bench-workloads").join(name);
        if !dir.join("failures.jsonl").exists() {
            let status = Command::new("python3")
                .arg(root.join("workload/gen_workload.py"))
                .args(args)
                .arg("--out")
                .arg(&dir)
                .status()
                .expect("python3 runs the workload generator");
            assert!(status.success(), "the workload generator failed");
        }
        let file = File::open(dir.join("failures.jsonl")).expect("failures.jsonl exists");
        let records = BufReader::new(file)
            .lines()
            .take(failures)
            .map(|line| parse_record_fields(&line.expect("readable")).expect("valid record"))
            .collect();
        Workload {
            issues: dir.join("issues.jsonl"),
            records,
        }
    }

    /// `(number, body)` of every issue.
    pub fn issue_bodies(&self) -> Vec<(u64, String)> {
        let file = File::open(&self.issues).expect("issues.jsonl exists");
        read_issues(BufReader::new(file), "issues.jsonl")
            .expect("valid issues")
            .into_iter()
            .map(|i| (i.number, i.body.unwrap_or_default()))
            .collect()
    }
}
