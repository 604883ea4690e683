//! ARCHITECTURE.md's table of which crate uses which is the truth of the Cargo.toml files.

use std::collections::BTreeSet;

use brickyard_testkit::repo_root;

/// The brickyard crates `crates/DIR/Cargo.toml` depends on (not dev-dependencies).
fn uses(dir: &str) -> BTreeSet<String> {
    let path = repo_root().join("crates").join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).expect("read Cargo.toml");
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_deps = line.trim() == "[dependencies]";
            continue;
        }
        if in_deps && let Some(rest) = line.strip_prefix("brickyard-") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_dependency_table_matches_the_manifests() {
    let doc = std::fs::read_to_string(repo_root().join("ARCHITECTURE.md")).expect("read");
    let mut seen = BTreeSet::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 4 || cells[1] == "crate" || cells[1].starts_with("---") {
            continue;
        }
        let dir = cells[1].split_whitespace().next().expect("a crate name");
        if !std::path::Path::new(&repo_root().join("crates").join(dir)).is_dir() {
            continue;
        }
        let actual = uses(dir);
        if cells[2] == "all of the above" {
            let all: BTreeSet<String> = seen.iter().filter(|&c| c != "testkit").cloned().collect();
            assert_eq!(actual, all, "{dir} in ARCHITECTURE.md");
        } else {
            let documented: BTreeSet<String> = cells[2]
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| c != "—")
                .collect();
            assert_eq!(actual, documented, "{dir} in ARCHITECTURE.md");
        }
        seen.insert(dir.to_owned());
    }
    let dirs: BTreeSet<String> = std::fs::read_dir(repo_root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(seen, dirs, "every crate has its row in ARCHITECTURE.md");
}
