//! The workspace's shape, checked: every test file is compiled by some test target, and the
//! core and the sharing protocol build without the AWS SDK.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.map(|e| e.expect("a directory entry")) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The files compiled from `file` on: itself, and the files its `mod` lines name, recursively.
/// A crate root's or a `mod.rs`'s modules are beside it; another file's are in the directory
/// named after it.
fn compiled_from(file: &Path, is_root: bool, compiled: &mut BTreeSet<PathBuf>) {
    if !compiled.insert(file.to_path_buf()) {
        return;
    }
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let dir = if is_root || file.file_name().is_some_and(|name| name == "mod.rs") {
        file.parent().expect("a directory").to_path_buf()
    } else {
        file.with_extension("")
    };
    for line in text.lines() {
        let line = line.trim();
        let Some(name) = line.strip_prefix("mod ").or_else(|| line.strip_prefix("pub mod ")) else {
            continue;
        };
        let Some(name) = name.strip_suffix(';') else { continue };
        for candidate in [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")] {
            if candidate.is_file() {
                compiled_from(&candidate, false, compiled);
            }
        }
    }
}

/// The test files of `crate_dir` that no test target compiles.
fn orphans(crate_dir: &Path) -> Vec<PathBuf> {
    let manifest = read_toml(&crate_dir.join("Cargo.toml"));
    let tests_dir = crate_dir.join("tests");
    let autotests =
        manifest.get("package").and_then(|p| p.get("autotests")).and_then(|v| v.as_bool()) != Some(false);
    let mut roots: Vec<PathBuf> = manifest
        .get("test")
        .and_then(|tests| tests.as_array())
        .into_iter()
        .flatten()
        .filter_map(|test| test.get("path").and_then(|p| p.as_str()).map(|p| crate_dir.join(p)))
        .collect();
    if autotests {
        // Cargo makes every file directly in tests/ a test target of its own.
        roots.extend(
            rust_files(&tests_dir).into_iter().filter(|file| file.parent() == Some(tests_dir.as_path())),
        );
    }
    let mut compiled = BTreeSet::new();
    for root in roots {
        compiled_from(&root, true, &mut compiled);
    }
    rust_files(&tests_dir).into_iter().filter(|file| !compiled.contains(file)).collect()
}

#[test]
fn every_test_file_is_compiled_by_a_test_target() {
    let root = workspace_root();
    let workspace = read_toml(&root.join("Cargo.toml"));
    let members = workspace["workspace"]["members"].as_array().expect("the workspace's members");
    let mut found = Vec::new();
    for member in members {
        found.extend(orphans(&root.join(member.as_str().expect("a member path"))));
    }
    assert!(
        found.is_empty(),
        "test files no test target compiles (add them to a runner or remove them): {found:?}"
    );
}

#[test]
fn an_orphan_test_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"x\"\nautotests = false\n\n[[test]]\nname = \"runner\"\npath = \"tests/runner.rs\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("tests/runner.rs"), "mod test_a;\n").unwrap();
    std::fs::write(dir.path().join("tests/test_a.rs"), "").unwrap();
    std::fs::write(dir.path().join("tests/test_b.rs"), "").unwrap();
    assert_eq!(orphans(dir.path()), [dir.path().join("tests/test_b.rs")]);
}

#[test]
fn the_core_and_the_protocol_build_without_the_aws_sdk() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in ["ledger", "ledger-remote"] {
        let output = Command::new(&cargo)
            .args([
                "tree",
                "--locked",
                "--offline",
                "-p",
                package,
                "-e",
                "normal,build,dev",
                "--prefix",
                "none",
            ])
            .current_dir(workspace_root())
            .output()
            .expect("running cargo tree");
        assert!(
            output.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8(output.stdout).expect("UTF-8");
        let aws: Vec<&str> = tree.lines().filter(|line| line.starts_with("aws-")).collect();
        assert!(tree.lines().count() > 10, "cargo tree -p {package} listed almost nothing:\n{tree}");
        assert!(aws.is_empty(), "{package} (with its tests) depends on the AWS SDK: {aws:?}");
    }
}
