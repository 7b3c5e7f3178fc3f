//! House rules checked on every file of this crate: each `.rs` file opens with a `//!` note of
//! what it owns, and no `unsafe` appears outside a module that says why (none does today).

use std::path::{Path, PathBuf};

fn rust_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

fn crate_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["src", "tests", "examples"] {
        rust_files(&root.join(directory), &mut files);
    }
    files
}

#[test]
fn every_rust_file_starts_with_a_module_note() {
    let missing: Vec<PathBuf> = crate_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "files without a leading `//!` note: {missing:?}");
}

#[test]
fn no_unsafe_code_without_a_stated_reason() {
    let offenders: Vec<PathBuf> = crate_files()
        .into_iter()
        .filter(|path| path.file_name().is_none_or(|name| name != "tidy.rs"))
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            text.contains("unsafe ") && !text.contains("#![allow(unsafe_code)]")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "unsafe without `#![allow(unsafe_code)]` and its reason: {offenders:?}"
    );
}
