//! Checks the crate edges written down in ARCHITECTURE.md: internal dependencies point one way.

use std::collections::BTreeMap;
use std::path::Path;

/// Internal crates each crate may depend on (normal, dev or build dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("dsl", &[]),
    ("jit", &["flakewatch-dsl"]),
    (
        "host",
        &["flakewatch-dsl", "flakewatch-jit", "flakewatch-plugin-sdk"],
    ),
    (
        "benches",
        &["flakewatch", "flakewatch-dsl", "flakewatch-jit"],
    ),
    ("plugins/sdk", &[]),
    ("plugins/files", &["flakewatch-plugin-sdk"]),
    ("plugins/example", &["flakewatch-plugin-sdk"]),
    ("plugins/testing/wrong-abi", &["flakewatch-plugin-sdk"]),
    ("plugins/testing/no-entry", &[]),
    ("plugins/testing/panicky", &["flakewatch-plugin-sdk"]),
];

/// The internal (`flakewatch*`) dependencies named in a manifest's dependency tables.
fn internal_deps(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.contains("dependencies");
            continue;
        }
        if in_deps && line.starts_with("flakewatch") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            deps.push(name.to_owned());
        }
    }
    deps
}

#[test]
fn crate_edges_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut checked = 0;
    for (dir, allowed_deps) in &allowed {
        let path = root.join(dir).join("Cargo.toml");
        let Ok(manifest) = std::fs::read_to_string(&path) else {
            continue;
        };
        assert!(
            workspace.contains(&format!("\"{dir}\"")),
            "{dir} is not a workspace member"
        );
        for dep in internal_deps(&manifest) {
            assert!(
                allowed_deps.contains(&dep.as_str()),
                "{dir} depends on {dep}, which ARCHITECTURE.md does not allow"
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "expected to check at least dsl and host");
}

#[test]
fn manifest_scan_finds_internal_dependencies() {
    let manifest = "[dependencies]\nflakewatch-dsl.workspace = true\nserde = \"1\"\n[dev-dependencies]\nflakewatch = { path = \"../host\" }\n";
    assert_eq!(internal_deps(manifest), ["flakewatch-dsl", "flakewatch"]);
}
