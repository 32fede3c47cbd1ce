//! Checks the architecture written down in ARCHITECTURE.md against the code: the crate table
//! there is the one list of workspace members and their allowed internal dependencies, and
//! inside every crate no top-level module imports a module that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of ARCHITECTURE.md's crate table.
#[derive(Debug)]
struct Row {
    name: String,
    folder: String,
    allowed: BTreeSet<String>,
    allowed_in_tests: BTreeSet<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The backticked names in a table cell.
fn names(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The rows of the table under the `## Crate edges` heading.
fn table(architecture: &str) -> Vec<Row> {
    let section = architecture
        .split("\n## ")
        .find(|s| s.starts_with("Crate edges"))
        .expect("ARCHITECTURE.md has a `## Crate edges` section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a crate row has four cells: {line}");
            Row {
                name: cells[0].trim_matches('`').to_owned(),
                folder: cells[1].trim_matches('`').to_owned(),
                allowed: names(cells[2]),
                allowed_in_tests: names(cells[3]),
            }
        })
        .collect()
}

/// The internal (`flakewatch*`) dependencies of a manifest: (normal and build, dev only).
fn internal_deps(manifest: &toml::Table) -> (BTreeSet<String>, BTreeSet<String>) {
    let of = |key: &str| -> BTreeSet<String> {
        manifest
            .get(key)
            .and_then(toml::Value::as_table)
            .into_iter()
            .flat_map(|t| t.keys())
            .filter(|k| k.starts_with("flakewatch"))
            .cloned()
            .collect()
    };
    let mut normal = of("dependencies");
    normal.extend(of("build-dependencies"));
    (normal, of("dev-dependencies"))
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_cargo_graph_is_the_architecture_table() {
    let root = root();
    let rows = table(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let workspace = read_toml(&root.join("Cargo.toml"));
    let members: BTreeSet<String> = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .map(|m| m.as_str().expect("a member path").to_owned())
        .collect();
    let folders: BTreeSet<String> = rows.iter().map(|r| r.folder.clone()).collect();
    assert_eq!(
        members, folders,
        "workspace members and ARCHITECTURE.md's crate table differ"
    );
    let known: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for row in &rows {
        let manifest_path = root.join(&row.folder).join("Cargo.toml");
        assert!(
            manifest_path.is_file(),
            "{} is in the table without a manifest",
            row.folder
        );
        let manifest = read_toml(&manifest_path);
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some(row.name.as_str()),
            "{}: the table names another package",
            row.folder
        );
        for name in row.allowed.iter().chain(&row.allowed_in_tests) {
            assert!(
                known.contains(name.as_str()),
                "{}: unknown crate {name}",
                row.name
            );
        }
        let (normal, dev) = internal_deps(&manifest);
        for dep in &normal {
            assert!(
                row.allowed.contains(dep),
                "{} depends on {dep}, which ARCHITECTURE.md does not allow",
                row.name
            );
        }
        for dep in &dev {
            assert!(
                row.allowed.contains(dep) || row.allowed_in_tests.contains(dep),
                "{}'s tests depend on {dep}, which ARCHITECTURE.md does not allow",
                row.name
            );
        }
        let deps = manifest.get("dependencies").and_then(toml::Value::as_table);
        for only_cli in ["clap", "anyhow"] {
            if deps.is_some_and(|d| d.contains_key(only_cli)) {
                assert_eq!(row.name, "flakewatch", "{} depends on {only_cli}", row.name);
            }
        }
    }
    assert!(rows.len() >= 10, "only {} crates in the table", rows.len());
}

/// The top-level module a source file belongs to (`src/a.rs`, `src/a/b.rs` → `a`); `None`
/// for the crate root.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which top-level modules each top-level module of a crate names: `crate::m`, and `super::m`
/// in a file directly below `src/`. Test modules count too (a cycle is a cycle); comments,
/// doc links included, do not: they import nothing.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top_module(src, file) else {
            continue;
        };
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let direct = file.parent() == Some(src);
        let mut prefixes = vec!["crate::"];
        if direct {
            prefixes.push("super::");
        }
        for prefix in prefixes {
            for (at, _) in text.match_indices(prefix) {
                let rest = &text[at + prefix.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    graph.entry(from.clone()).or_default().insert(name);
                }
            }
        }
        // `use crate::{a, b}` groups.
        for (at, _) in text.match_indices("crate::{") {
            let group = &text[at + 8..];
            let group = &group[..group.find('}').unwrap_or(0)];
            for name in group
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap_or(""))
            {
                if name != from && modules.contains(name) {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .insert(name.to_owned());
                }
            }
        }
    }
    graph
}

/// Every cycle's modules (strongly connected components larger than one module).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_owned()];
        while let Some(m) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for m in graph.keys() {
        let from_m = reach(m);
        if !from_m.contains(m) {
            continue;
        }
        let component: Vec<String> = from_m
            .iter()
            .filter(|other| reach(other).contains(m))
            .cloned()
            .collect();
        found.insert(component);
    }
    found.into_iter().collect()
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let root = root();
    let rows = table(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let mut problems = Vec::new();
    let mut crates = 0;
    for row in &rows {
        let src = root.join(&row.folder).join("src");
        if !src.is_dir() {
            continue;
        }
        crates += 1;
        for cycle in cycles(&module_graph(&src)) {
            problems.push(format!("{}: {}", row.name, cycle.join(" ↔ ")));
        }
    }
    assert!(crates >= 10, "only {crates} crates scanned");
    assert!(
        problems.is_empty(),
        "module cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    let table = table(
        "# A\n\n## Crate edges\n\n| crate | folder | may depend on | in tests also |\n|---|---|---|---|\n\
         | `x` | `host/x` | `y`, `z` | — |\n\n## Next\n| `no` | `no` | | |\n",
    );
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].allowed, ["y".to_owned(), "z".to_owned()].into());
    assert!(table[0].allowed_in_tests.is_empty());
}
