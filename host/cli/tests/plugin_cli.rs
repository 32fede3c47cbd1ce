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
