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
        assert!(
            stderr.contains(&*path.file_name().expect("name").to_string_lossy()),
            "{package}: {stderr}"
        );
    }
}
