//! A plugin author's view: a copy of `plugins/example` in a directory outside this workspace,
//! depending on the SDK by path, builds with Cargo on its own, and the library it builds loads
//! through the real loader and passes a call.

use std::path::{Path, PathBuf};
use std::process::Command;

use flakewatch_plugin_host::PluginLibrary;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

#[test]
fn the_example_plugin_builds_from_a_copy_outside_the_workspace() {
    let root = workspace();
    let copy = tempfile::tempdir().expect("temp dir");
    let crate_dir = copy.path().join("my-plugin");
    std::fs::create_dir_all(crate_dir.join("src")).expect("mkdir");
    std::fs::copy(
        root.join("plugins/example/src/lib.rs"),
        crate_dir.join("src/lib.rs"),
    )
    .expect("copy lib.rs");
    let manifest =
        std::fs::read_to_string(root.join("plugins/example/Cargo.toml")).expect("manifest");
    assert!(
        !manifest.contains("workspace = true") && !manifest.contains(".workspace"),
        "the example must not inherit from the workspace:\n{manifest}"
    );
    let sdk = root.join("plugins/sdk");
    let manifest = manifest.replace(
        "path = \"../sdk\"",
        &format!("path = {:?}", sdk.display().to_string()),
    );
    assert!(
        manifest.contains(&sdk.display().to_string()),
        "the SDK path was rewritten"
    );
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).expect("write manifest");
    // The SDK's own manifest must stand alone as well (it is read in place here).
    let sdk_manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).expect("SDK manifest");
    assert!(
        !sdk_manifest.contains("workspace = true") && !sdk_manifest.contains(".workspace"),
        "{sdk_manifest}"
    );

    let target = root.join("target/sdk-outside-workspace");
    let output = Command::new(env!("CARGO"))
        .current_dir(&crate_dir)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the copy failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let library = target.join("debug").join(format!(
        "{}flakewatch_plugin_example{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let loaded = PluginLibrary::load(&library).expect("the copy's library loads");
    assert_eq!(loaded.info().name, "example");
    assert_eq!(
        loaded.info().sdk_version,
        flakewatch_plugin_sdk::SDK_VERSION
    );
    let instance = loaded
        .instantiate(&flakewatch_plugin_sdk::model::Config::default())
        .expect("instance");
    let page: flakewatch_plugin_sdk::model::IssuePage = instance
        .call(
            flakewatch_plugin_host::InstanceOperation::ListIssues,
            &flakewatch_plugin_sdk::model::ListIssuesRequest::default(),
        )
        .expect("list_issues");
    assert!(!page.issues.is_empty());
}
