//! The files backend's aggregator tables through the SDK's conformance kit, with pages of two
//! rows so that every listing spans pages.

use flakewatch_plugin_files::FilesBackend;
use flakewatch_plugin_sdk::model::Config;

#[test]
fn aggregator_tables_conform_over_pages_of_two_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The kit drives every capability: an empty tracker for the others.
    std::fs::write(dir.path().join("issues.jsonl"), "").expect("issues.jsonl");
    let config = Config {
        options: [
            ("data".to_owned(), dir.path().display().to_string()),
            ("page_rows".to_owned(), "2".to_owned()),
        ]
        .into(),
    };
    let report = flakewatch_plugin_sdk::kit::assert_conforms::<FilesBackend>(&config);
    for op in ["insert_rows", "read_rows", "upload_window"] {
        assert!(report.checked.contains(&op), "{op} not checked");
    }
    assert!(dir.path().join("aggregator.sqlite").is_file());
}
