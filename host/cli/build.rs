//! Records the commit flakewatch is built from, and its date, for `flakewatch --version`
//! (`unknown` outside a git checkout).

use std::process::Command;

fn main() {
    let described = Command::new("git")
        .args(["log", "-1", "--format=%h %cs"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=FLAKEWATCH_COMMIT={described}");
    // Rebuild when HEAD moves (a commit, a checkout).
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
