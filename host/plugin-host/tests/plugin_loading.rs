//! Loads real plugin libraries through the real loader: the files backend, the example
//! plugin, and deliberately broken plugins (wrong ABI version, no entry symbol, panics).
//! Every failure must be a clear error naming the plugin; the host must not crash.

mod plugin_support;

use std::sync::Arc;

use flakewatch_core::time::Timestamp;
use flakewatch_plugin_host::{
    CallFailure, PluginBackend, PluginError, PluginLibrary, PluginRegistry, PluginSearch,
};
use flakewatch_plugin_sdk::abi::ABI_VERSION;
use flakewatch_plugin_sdk::model::{Capability, Config};
use flakewatch_triage::backend::{FailureSource, IssueTracker};
use plugin_support::{DEMO_NOW, demo_copy, plugin};

fn config(pairs: &[(&str, &str)]) -> Config {
    Config {
        options: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn files_plugin_reads_the_demo_data() {
    let library = PluginLibrary::load(&plugin("flakewatch-plugin-files")).expect("loads");
    let info = library.info();
    assert_eq!(info.name, "files");
    assert_eq!(
        info.capabilities,
        [Capability::IssueTracker, Capability::FailureSource]
    );
    assert_eq!(info.sdk_version, env!("CARGO_PKG_VERSION"));
    let data = demo_copy();
    let backend = PluginBackend::new(
        &library,
        &config(&[("data", data.path().to_str().expect("utf-8 path"))]),
    )
    .expect("instance");
    let issues = backend.list_issues().expect("issues");
    assert_eq!(issues.len(), 30);
    assert!(issues.iter().any(|i| i.closed && i.closed_at.is_some()));
    let builds = backend
        .builds(Timestamp::parse_rfc3339(DEMO_NOW).expect("valid"))
        .expect("builds");
    assert_eq!(builds.builds.len(), 840);
    assert_eq!(builds.builders.len(), 28);
    assert!(builds.builds.iter().any(|b| !b.failures.is_empty()));
}

#[test]
fn files_plugin_reports_bad_configuration_by_name() {
    let library = PluginLibrary::load(&plugin("flakewatch-plugin-files")).expect("loads");
    let err = PluginBackend::new(&library, &Config::default()).expect_err("no data dir");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            PluginError::Call {
                failure: CallFailure::BadRequest,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.starts_with("plugin files ("), "{text}");
    assert!(
        text.contains("create rejected the request: the files backend needs a data directory"),
        "{text}"
    );
}

#[test]
fn example_plugin_works_and_outlives_its_library_handle() {
    let library = PluginLibrary::load(&plugin("flakewatch-plugin-example")).expect("loads");
    assert_eq!(library.info().name, "example");
    let backend = PluginBackend::new(&library, &Config::default()).expect("instance");
    // The instance keeps the library loaded after every other handle is gone.
    drop(library);
    let number = backend
        .create_issue("t", "```\n#!watchflakes\npost <- pkg == \"x\"\n```\n", &[])
        .expect("create");
    assert_eq!(number, 2);
    backend.add_comment(number, "hello").expect("comment");
    let comments = backend.comments(number).expect("comments");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "hello");
    assert_eq!(backend.list_issues().expect("issues").len(), 2);
    let err = backend.reopen_issue(99).expect_err("no such issue");
    assert!(err.to_string().contains("no issue #99"), "{err}");
    // It is no failure source, and says so.
    let err = backend
        .require(Capability::FailureSource)
        .expect_err("not a failure source");
    assert!(
        err.to_string().starts_with("plugin example (")
            && err
                .to_string()
                .ends_with("does not provide failure_source; it provides: issue_tracker"),
        "{err}"
    );
    let err = backend
        .builds(Timestamp::UNIX_EPOCH)
        .expect_err("unsupported");
    assert!(
        err.to_string().contains("list_builds is not supported"),
        "{err}"
    );
}

#[test]
fn wrong_abi_version_is_refused_before_any_call() {
    let path = plugin("flakewatch-test-plugin-wrong-abi");
    let err = PluginLibrary::load(&path).expect_err("wrong ABI");
    match &err {
        PluginError::AbiVersion {
            path: p,
            found,
            expected,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*found, 999);
            assert_eq!(*expected, ABI_VERSION);
        }
        other => panic!("unexpected error: {other}"),
    }
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("plugin ABI version 999"), "{text}");
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    let path = plugin("flakewatch-test-plugin-no-entry");
    let err = PluginLibrary::load(&path).expect_err("no entry");
    assert!(matches!(err, PluginError::MissingEntry { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("has no `flakewatch_plugin_v1` symbol"),
        "{text}"
    );
}

#[test]
fn panics_become_errors_naming_the_plugin() {
    let library = PluginLibrary::load(&plugin("flakewatch-test-plugin-panicky")).expect("loads");
    let err = PluginBackend::new(&library, &config(&[("panic_in_create", "1")]))
        .expect_err("create panics");
    assert!(
        matches!(
            err,
            PluginError::Call {
                failure: CallFailure::Panicked,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "plugin panicky ({}): create panicked: panicky: create was told to panic",
            library.path().display()
        )
    );
    let backend = PluginBackend::new(&library, &Config::default()).expect("instance");
    let err = backend.list_issues().expect_err("panics");
    assert!(
        err.to_string()
            .ends_with("list_issues panicked: panicky: list_issues always panics"),
        "{err}"
    );
    let err = backend.builds(Timestamp::UNIX_EPOCH).expect_err("panics");
    assert!(
        err.to_string()
            .contains("list_builds panicked: index out of bounds"),
        "{err}"
    );
    // The instance is still usable after its panics.
    let err = backend.comments(1).expect_err("unsupported");
    assert!(
        err.to_string().contains("issue_comments is not supported"),
        "{err}"
    );
}

#[test]
fn plugins_are_found_by_name_in_search_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(PluginSearch::file_name("example"));
    std::fs::copy(plugin("flakewatch-plugin-example"), &file).expect("copy");
    let joined = std::env::join_paths([dir.path()]).expect("path list");
    let mut registry =
        PluginRegistry::open(PluginSearch::new(Vec::new(), Some(joined), None)).expect("open");
    let library = registry.find("example").expect("found");
    assert_eq!(library.path(), file);
    // Found again without reloading.
    assert!(Arc::ptr_eq(
        &library,
        &registry.find("example").expect("again")
    ));
    let err = registry.find("github").expect_err("absent").to_string();
    assert!(err.contains("flakewatch_plugin_github"), "{err}");
}
