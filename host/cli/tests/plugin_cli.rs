//! The real `flakewatch` binary with broken plugins: each is named in a one-line error and the
//! command exits with status 3, never a crash.

mod support;

use support::{DEMO_NOW, flakewatch, plugin};

#[test]
fn the_cli_names_a_broken_plugin_and_exits_cleanly() {
    for (package, expected) in [
        ("flakewatch-test-plugin-wrong-abi", "plugin ABI version 999"),
        (
            "flakewatch-test-plugin-no-entry",
            "has no `flakewatch_plugin_v1` symbol",
        ),
        (
            "flakewatch-test-plugin-panicky",
            "list_issues panicked: panicky",
        ),
    ] {
        let path = plugin(package);
        let output = flakewatch()
            .args(["triage", "--now", DEMO_NOW, "--plugin"])
            .arg(&path)
            .output()
            .expect("run flakewatch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{package}: {stderr}");
        assert!(stderr.contains(expected), "{package}: {stderr}");
        // The SDK's quiet panic hook: one line from flakewatch, no raw panic text.
        assert!(!stderr.contains("panicked at"), "{package}: {stderr}");
        assert!(
            stderr.contains(&*path.file_name().expect("name").to_string_lossy()),
            "{package}: {stderr}"
        );
    }
}

#[test]
fn plugin_info_names_the_plugin_its_abi_and_operations() {
    let out = flakewatch()
        .args(["plugin", "info", "files"])
        .output()
        .expect("run flakewatch");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "name:         files",
        "capabilities: issue_tracker, failure_source",
        "close_issue",
        "found by name as libflakewatch_plugin_files.so",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let old = plugin("flakewatch-test-plugin-v1-table");
    let out = flakewatch()
        .args(["plugin", "info"])
        .arg(&old)
        .output()
        .expect("run flakewatch");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("table of 88 bytes"), "{text}");
    assert!(
        text.contains("not in its table (built with an older SDK): close_issue"),
        "{text}"
    );
    let missing = flakewatch()
        .args(["plugin", "info", "nosuchplugin"])
        .output()
        .expect("run flakewatch");
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no plugin named \"nosuchplugin\""));
}

/// Plugin options: a malformed one is a usage error that never shows its text; one for a
/// plugin the run does not use is refused; secrets come from the environment or a file and
/// reach the plugin without appearing anywhere.
#[test]
fn plugin_options_are_checked_and_secrets_stay_hidden() {
    let data = support::demo_copy();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = flakewatch();
        cmd.args([
            "triage",
            "--now",
            DEMO_NOW,
            "-vv",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(data.path())
        .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run flakewatch")
    };
    let out = run(&["--opt", "hunter2-secret"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--opt number 1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let out = run(&["--opt", "github:token=x"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no plugin named \"github\""), "{stderr}");

    let secret_file = data.path().join("token.txt");
    std::fs::write(&secret_file, "file-secret-VALUE\n").expect("write");
    let out = run(
        &[
            "--opt-env",
            "files:token=FW_TEST_TOKEN",
            "--opt-file",
            &format!("files:password={}", secret_file.display()),
        ],
        &[("FW_TEST_TOKEN", "env-secret-VALUE")],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("token") && stderr.contains("password"),
        "{stderr}"
    );
    for secret in ["env-secret-VALUE", "file-secret-VALUE"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }

    let out = run(&["--opt-env", "files:token=FW_TEST_UNSET_VARIABLE"], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FW_TEST_UNSET_VARIABLE is not set"));

    let bad_now = flakewatch()
        .args(["triage", "--now", "yesterday", "--data"])
        .arg(data.path())
        .output()
        .expect("run flakewatch");
    assert_eq!(bad_now.status.code(), Some(2));
}
