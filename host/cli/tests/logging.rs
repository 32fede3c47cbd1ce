//! Logging: `-v` levels and `--log-format json` on stderr, standard output untouched, and no
//! plugin option value (a credential, possibly) in any event.

mod support;

use support::{DEMO_NOW, demo_copy, flakewatch};

#[test]
fn json_logs_name_options_but_never_their_values() {
    let data = demo_copy();
    let secret = "s3cr3t-token-VALUE";
    let run = |extra: &[&str]| {
        flakewatch()
            .args(["triage", "--now", DEMO_NOW, "--data"])
            .arg(data.path())
            .arg("--opt")
            .arg(format!("files:token={secret}"))
            .args(extra)
            .output()
            .expect("run flakewatch")
    };
    let quiet = run(&[]);
    let loud = run(&["-vvv", "--log-format", "json"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(loud.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&loud.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.len() > 3, "{stderr}");
    let loaded = events
        .iter()
        .find(|e| e["fields"]["message"] == "plugin loaded")
        .expect("a plugin-loaded event");
    assert_eq!(loaded["fields"]["plugin"], "files");
    assert!(events.iter().any(|e| {
        e["fields"]["options"]
            .as_str()
            .is_some_and(|o| o.contains("token"))
    }));
    for output in [&quiet, &loud] {
        assert!(!String::from_utf8_lossy(&output.stderr).contains(secret));
        assert!(!String::from_utf8_lossy(&output.stdout).contains(secret));
    }
    // Logs go to stderr only: the plan is the same with and without them.
    assert!(String::from_utf8_lossy(&quiet.stderr).is_empty());
    let plan = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with(" * ") && !l.starts_with(" - skipped "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(plan(&quiet), plan(&loud));
}
