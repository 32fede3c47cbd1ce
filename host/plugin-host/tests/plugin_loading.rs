//! Loads real plugin libraries through the real loader: the files backend, the example
//! plugin, and deliberately broken plugins (wrong ABI version, no entry symbol, panics).
//! Every failure must be a clear error naming the plugin; the host must not crash.

mod plugin_support;

use std::sync::Arc;

use flakewatch_core::time::Timestamp;
use flakewatch_plugin_host::{
    CallFailure, HostError, PluginBackend, PluginLibrary, PluginRegistry, PluginSearch,
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
        [
            Capability::IssueTracker,
            Capability::FailureSource,
            Capability::TestResults,
            Capability::AggregatorTables
        ]
    );
    assert_eq!(info.sdk_version, flakewatch_plugin_sdk::SDK_VERSION);
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
            HostError::Call {
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
        HostError::AbiVersion {
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
    assert!(matches!(err, HostError::MissingEntry { .. }), "{err}");
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
            HostError::Call {
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

/// A plugin built before `close_issue` was appended exports the shorter version-1 table: it
/// loads, its version-1 operations work, and the appended one is "not supported" without the
/// host reading past the table's end. The files plugin, built with this SDK, has the entry.
#[test]
fn a_v1_plugin_loads_after_an_optional_entry_was_appended() {
    let _serial = V1_TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    use flakewatch_plugin_sdk::abi::{InstanceOperation, TABLE_SIZE, TABLE_SIZE_V1};

    const { assert!(TABLE_SIZE > TABLE_SIZE_V1, "this SDK has appended entries") };
    let old = PluginLibrary::load(&plugin("flakewatch-test-plugin-v1-table")).expect("loads");
    assert_eq!(old.table_size(), TABLE_SIZE_V1);
    assert!(old.has_entry(InstanceOperation::ListIssues));
    assert!(!old.has_entry(InstanceOperation::CloseIssue));
    let backend = PluginBackend::new(&old, &Config::default()).expect("instance");
    let issues = backend.list_issues().expect("a v1 operation works");
    assert_eq!(issues.len(), 1);
    let at = Timestamp::parse_rfc3339(DEMO_NOW).expect("valid");
    let err = backend.close_issue(1, at).expect_err("not in a v1 table");
    let text = err.to_string();
    assert!(text.contains("close_issue is not supported"), "{text}");
    assert!(text.contains(&format!("({TABLE_SIZE_V1} bytes)")), "{text}");

    let files = PluginLibrary::load(&plugin("flakewatch-plugin-files")).expect("loads");
    assert_eq!(files.table_size(), TABLE_SIZE);
    assert!(files.has_entry(InstanceOperation::CloseIssue));
    let data = demo_copy();
    let backend = PluginBackend::new(
        &files,
        &config(&[("data", data.path().to_str().expect("utf-8 path"))]),
    )
    .expect("instance");
    let open = backend
        .list_issues()
        .expect("issues")
        .into_iter()
        .find(|i| !i.closed)
        .expect("an open issue");
    backend.close_issue(open.number, at).expect("closes");
    let closed = backend
        .list_issues()
        .expect("issues")
        .into_iter()
        .find(|i| i.number == open.number)
        .expect("still listed");
    assert!(closed.closed);
    assert_eq!(closed.closed_at, Some(at));
}

/// The v1-table fixture counts instances process-wide: its tests take turns.
static V1_TABLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the v1-table fixture counted: (instances alive, non-empty buffers freed).
fn fixture_counts(path: &std::path::Path) -> (i64, i64) {
    #![allow(
        unsafe_code,
        reason = "reading the fixture's counters through its C symbol"
    )]
    type CountsFn = unsafe extern "C" fn(*mut i64, *mut i64);
    // SAFETY: the fixture library is already loaded by the test (this only raises its
    // reference count) and exports the symbol with this signature.
    let library = unsafe { libloading::Library::new(path) }.expect("loads");
    // SAFETY: as above.
    let counts = unsafe { library.get::<CountsFn>(b"flakewatch_test_counts\0") }.expect("symbol");
    let (mut live, mut freed) = (0, 0);
    // SAFETY: two valid locals.
    unsafe { counts(&mut live, &mut freed) };
    (live, freed)
}

/// `create` succeeds but answers with a buffer of an unknown encoding: the host frees the
/// buffer and destroys the instance it was handed before it reports the error.
#[test]
fn a_bad_create_answer_leaks_neither_buffer_nor_instance() {
    let _serial = V1_TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = plugin("flakewatch-test-plugin-v1-table");
    let library = PluginLibrary::load(&path).expect("loads");
    let (live, freed) = fixture_counts(&path);
    let err = library
        .instantiate(&config(&[("bad_encoding", "1")]))
        .expect_err("unknown encoding");
    assert!(
        matches!(
            err,
            HostError::Call {
                failure: CallFailure::BadResponse,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("unknown encoding tag 77"), "{err}");
    assert_eq!(
        fixture_counts(&path),
        (live, freed + 1),
        "buffer freed, instance destroyed"
    );
    let instance = library.instantiate(&Config::default()).expect("instance");
    assert_eq!(fixture_counts(&path).0, live + 1);
    drop(instance);
    assert_eq!(fixture_counts(&path).0, live);
}

/// A library cut short (an interrupted copy) is refused before the dynamic loader maps it,
/// with a message naming it; so is a file that is no library at all. A bare file name is a
/// file in the current directory, not a name for the system's library search path.
#[test]
fn truncated_and_foreign_files_are_refused_by_name() {
    let good = plugin("flakewatch-plugin-files");
    let bytes = std::fs::read(&good).expect("read the plugin");
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in [
        ("libflakewatch_plugin_half.so", &bytes[..bytes.len() / 2]),
        ("libflakewatch_plugin_head.so", &bytes[..100]),
        ("libflakewatch_plugin_text.so", &b"not a library\n"[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        let err = PluginLibrary::load(&path).expect_err(name).to_string();
        assert!(err.contains(name), "{err}");
        assert!(
            matches!(
                PluginLibrary::load(&path),
                Err(HostError::NotALibrary { .. })
            ),
            "{err}"
        );
        let expected = if name.contains("text") {
            "not a shared library"
        } else {
            "cut short"
        };
        assert!(err.contains(expected), "{err}");
    }
    let bare = std::path::Path::new("libflakewatch_plugin_nowhere.so");
    let err = PluginLibrary::load(bare)
        .expect_err("not in the current directory")
        .to_string();
    let here = std::env::current_dir().expect("cwd").join(bare);
    assert!(err.contains(&here.display().to_string()), "{err}");
}
