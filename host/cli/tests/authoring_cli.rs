//! `lint`, `explain` and `preview` through the real binary: rules planted in the `small`
//! workload (contradictory, duplicate, never owning) are found and nothing new appears
//! without them; a clean set has no finding; explain and preview on the demo data.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::{DEMO_NOW, flakewatch, small_workload, workspace};

/// The `small` workload (50 issues, 1,000 failures), generated once per build directory.
fn workload() -> PathBuf {
    small_workload("workload-small-seed1-authoring")
}

fn lint(issues: &Path, failures: &Path) -> (Option<i32>, Value) {
    let out = flakewatch()
        .args([
            "lint",
            "--json",
            "--now",
            "2025-10-01T00:00:00Z",
            "--issues",
        ])
        .arg(issues)
        .arg("--failures")
        .arg(failures)
        .output()
        .expect("run flakewatch");
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), doc)
}

/// (issue, code) of every finding.
fn codes(doc: &Value) -> Vec<(u64, String)> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["issue"].as_u64().expect("issue"),
                f["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

fn body(script: &str) -> String {
    format!("```\n#!watchflakes\n{script}\n```\n")
}

#[test]
fn lint_finds_the_rules_planted_in_the_workload_and_nothing_else() {
    let dir = workload();
    let failures = dir.join("failures.jsonl");
    let (_, baseline) = lint(&dir.join("issues.jsonl"), &failures);
    let before = codes(&baseline);
    for code in ["FW-L002", "FW-L005", "FW-L008"] {
        assert!(
            !before.iter().any(|(_, c)| c == code),
            "the generated workload already has {code}: {before:?}"
        );
    }

    // A package some failure has, for a skip and a rule it starves.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&failures)
            .expect("failures")
            .lines()
            .next()
            .expect("a failure"),
    )
    .expect("JSON");
    let pkg = first["pkg"].as_str().expect("pkg");
    let text = std::fs::read_to_string(dir.join("issues.jsonl")).expect("issues");
    let copied: Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains("#!watchflakes") && !l.contains("skip"))
            .expect("an issue with a script"),
    )
    .expect("JSON");
    let planted = [
        json!({"number": 2, "body": body(&format!("skip <- pkg == {pkg:?}"))}),
        json!({"number": 90001, "body": body("post <- pkg == \"a\" && pkg == \"b\"")}),
        json!({"number": 90002, "body": copied["body"]}),
        json!({"number": 90003, "body": body(&format!("post <- pkg == {pkg:?}"))}),
    ];
    let issues = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lint-planted-issues.jsonl");
    let mut lines = text.clone();
    for issue in &planted {
        lines.push_str(&issue.to_string());
        lines.push('\n');
    }
    std::fs::write(&issues, lines).expect("write issues");
    let (status, doc) = lint(&issues, &failures);
    assert_eq!(status, Some(1), "a contradiction is an error");
    let after = codes(&doc);
    assert!(after.contains(&(90001, "FW-L002".to_owned())), "{after:?}");
    assert!(after.contains(&(90002, "FW-L005".to_owned())), "{after:?}");
    assert!(after.contains(&(90003, "FW-L008".to_owned())), "{after:?}");
    let finding = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["issue"] == 90003 && f["code"] == "FW-L008")
        .expect("never-owns");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.contains("by the skip of #2")),
        "{finding}"
    );
    // Every other new finding is about a planted issue, or an original rule that the
    // planted skip now starves.
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert!(
        new.iter()
            .all(|(n, code)| [2, 90001, 90002, 90003].contains(n) || code == "FW-L008"),
        "{new:?}"
    );
}

#[test]
fn a_clean_set_has_no_finding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issues = dir.path().join("issues.jsonl");
    let failures = dir.path().join("failures.jsonl");
    let lines = [
        json!({"number": 10, "body": body("post <- pkg == \"net/http\" && test == \"TestA\"")}),
        json!({"number": 11, "body": body("default <- pkg == \"os\" && `timeout`")}),
        json!({"number": 12, "body": format!("{}\n```\n#!watchflakes-examples\nmatch {{\"pkg\": \"os\", \"test\": \"TestB\"}}\nnomatch {{\"pkg\": \"os\", \"test\": \"TestC\"}}\n```\n", body("post <- pkg == \"os\" && test == \"TestB\""))}),
    ];
    std::fs::write(
        &issues,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write");
    let records = [
        json!({"pkg": "net/http", "test": "TestA", "date": "2025-09-20T00:00:00Z"}),
        json!({"pkg": "os", "test": "TestC", "output": "i/o timeout", "date": "2025-09-20T00:00:00Z"}),
        json!({"pkg": "os", "test": "TestB", "date": "2025-09-21T00:00:00Z"}),
    ];
    std::fs::write(
        &failures,
        records.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write");
    let (status, doc) = lint(&issues, &failures);
    assert_eq!(status, Some(0), "{doc}");
    assert_eq!(doc["findings"], json!([]), "{doc}");

    // The same issue with an example its script fails is an error at that body line.
    let broken = json!({"number": 12, "body": format!("{}\n```\n#!watchflakes-examples\nmatch {{\"pkg\": \"net\"}}\n```\n", body("post <- pkg == \"os\" && test == \"TestB\""))});
    std::fs::write(&issues, format!("{broken}\n")).expect("write");
    let (status, doc) = lint(&issues, &failures);
    assert_eq!(status, Some(1));
    assert_eq!(doc["findings"][0]["code"], "FW-L010", "{doc}");
    assert_eq!(doc["findings"][0]["line"], 8, "{doc}");
}

fn demo(args: &[&str]) -> Output {
    flakewatch()
        .args(args)
        .args(["--now", DEMO_NOW, "--data"])
        .arg(workspace().join("demo"))
        .output()
        .expect("run flakewatch")
}

#[test]
fn explain_shows_each_predicate_and_the_owner() {
    let script = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explain-script.txt");
    std::fs::write(
        &script,
        "#!watchflakes\npost <- pkg == \"net/http\" && test == \"TestOther\"\ndefault <- pkg == \"net/http\" || `boom`\n",
    )
    .expect("write");
    let failure = r#"{"pkg":"net/http","test":"TestServerTimeouts","output":"boom"}"#;
    let out = demo(&[
        "explain",
        "--backend",
        "files",
        "--script",
        script.to_str().expect("utf-8"),
        "--failure",
        failure,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("no  test == \"TestOther\"   (test is \"TestServerTimeouts\")   <- decides"),
        "{text}"
    );
    assert!(text.contains(" -  `boom`   (not evaluated)"), "{text}");
    assert!(text.contains("script: default (rule 2)"), "{text}");
    // Among the demo issues, #101's post owns it.
    assert!(text.contains("owner: post #101"), "{text}");

    let out = demo(&[
        "explain",
        "--json",
        "--backend",
        "files",
        "--script",
        script.to_str().expect("utf-8"),
        "--failure",
        failure,
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc[0]["explanation"]["first_match"], 2);
    assert_eq!(doc[0]["owner"]["issues"], json!([101]));
}

#[test]
fn preview_of_an_unchanged_body_changes_nothing_and_a_broad_one_takes() {
    let issues = std::fs::read_to_string(workspace().join("demo/issues.jsonl")).expect("issues");
    let first: Value = serde_json::from_str(issues.lines().next().expect("issue")).expect("JSON");
    let same = Path::new(env!("CARGO_TARGET_TMPDIR")).join("preview-same.md");
    std::fs::write(&same, first["body"].as_str().expect("body")).expect("write");
    let out = demo(&[
        "preview",
        "--json",
        "--issue",
        "101",
        same.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["owned_before"], doc["owned_after"]);
    assert!(doc["owned_before"].as_u64().is_some_and(|n| n > 0), "{doc}");
    assert_eq!(doc["taken"], json!([]));
    assert_eq!(doc["released"], json!([]));

    let broad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("preview-broad.txt");
    std::fs::write(&broad, "default <- pkg != \"no such package\"\n").expect("write");
    let out = demo(&["preview", "--json", broad.to_str().expect("utf-8")]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["existing"], false);
    let taken = doc["taken"].as_array().expect("taken");
    assert!(!taken.is_empty(), "{doc}");
    // A default takes only what no issue posts, skips or defaults to.
    assert!(
        taken.iter().all(|c| c["before"]["action"] == "new_issue"),
        "{doc}"
    );
    assert_eq!(doc["owned_after"].as_u64(), Some(taken.len() as u64));
}
