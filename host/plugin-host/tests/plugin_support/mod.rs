//! Shared by the plugin-host and CLI integration tests (the CLI's include it by path): builds the plugin `cdylib`s with the
//! real Cargo (once per test process) and finds their libraries, so tests load real `.so`
//! files through the real loader.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The plugin packages the tests load.
pub(super) const PACKAGES: &[&str] = &[
    "flakewatch-plugin-files",
    "flakewatch-plugin-postgres",
    "flakewatch-plugin-bigquery",
    "flakewatch-plugin-example",
    "flakewatch-test-plugin-wrong-abi",
    "flakewatch-test-plugin-no-entry",
    "flakewatch-test-plugin-panicky",
    "flakewatch-test-plugin-v1-table",
];

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the crate is two levels inside the workspace")
}

/// Builds every plugin package and returns its dynamic library, by package name.
pub(super) fn plugins() -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace())
            .args(["build", "--message-format=json-render-diagnostics"]);
        for package in PACKAGES {
            cmd.args(["-p", package]);
        }
        let output = cmd.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build of the plugins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut found = BTreeMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            let target = message["target"]["name"].as_str().unwrap_or("");
            let Some(name) = PACKAGES.iter().find(|p| p.replace('-', "_") == target) else {
                continue;
            };
            for file in message["filenames"].as_array().into_iter().flatten() {
                let file = PathBuf::from(file.as_str().unwrap_or(""));
                if file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(std::env::consts::DLL_SUFFIX))
                {
                    found.insert((*name).to_owned(), file);
                }
            }
        }
        for package in PACKAGES {
            assert!(
                found.contains_key(*package),
                "no library for {package} in {found:?}"
            );
        }
        found
    })
}

/// The library of one plugin package.
pub(crate) fn plugin(package: &str) -> PathBuf {
    plugins()[package].clone()
}

/// A copy of the demo data set in a fresh temporary directory.
pub(crate) fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(workspace().join("demo")).expect("demo/") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".jsonl") {
            std::fs::copy(entry.path(), dir.path().join(name)).expect("copy");
        }
    }
    dir
}

/// The clock the demo data is meant for.
pub(crate) const DEMO_NOW: &str = "2025-10-01T00:00:00Z";
