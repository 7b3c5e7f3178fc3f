//! House rules of this crate that no lint checks: every Rust file opens with a `//!` note, and
//! the transcript fixtures in `tests/transcripts/` are the ones in `shared/odoo17/` (when that
//! folder is beside the checkout, as on developers' machines and CI).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_note() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let bare: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).expect("readable file").starts_with("//!"))
        .collect();
    assert!(bare.is_empty(), "files without a //! note: {bare:?}");
}

#[test]
fn the_transcript_fixtures_are_the_shared_transcripts() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../../shared/odoo17");
    if !shared.is_dir() {
        eprintln!("{} is not here; nothing to compare", shared.display());
        return;
    }
    for entry in std::fs::read_dir(&shared).expect("readable dir").flatten() {
        let name = entry.file_name();
        let fixture = root.join("tests/transcripts").join(&name);
        let (a, b) = (
            std::fs::read(entry.path()).expect("shared file"),
            std::fs::read(&fixture).unwrap_or_default(),
        );
        assert!(
            a == b,
            "tests/transcripts/{} differs from shared/odoo17: copy it again",
            name.to_string_lossy()
        );
    }
}
