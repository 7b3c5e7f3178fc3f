//! The documents hold together: every relative link in `README.md` and `docs/*.md` leads to a file
//! that exists (and its `#anchor` to a heading of that file, by GitHub's slug rule), every test the
//! promises table of `docs/testing.md` names exists as a `fn` under `tests/`, `src/` or
//! `firmware-bridge/`, and every `docs/….md#anchor` a code comment cites leads somewhere.
//!
//! Plain text scanning, no Markdown crate: links inside code fences and inline code are not links.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every `docs/*.md`.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    more.sort();
    assert!(!more.is_empty(), "docs/ holds no .md file");
    docs.extend(more);
    docs
}

/// The lines of a Markdown text outside code fences, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped, spaces
/// turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown text; a repeated heading gets `-1`, `-2`… as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
            *n += 1;
        }
    }
    out
}

/// The line with its inline code spans blanked out, so that `[a](b)` inside backticks is no link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The targets of inline links `[text](target)` in a line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|p| target.starts_with(p))
}

/// Checks one link `target` written in `from`; `None` when it leads somewhere.
fn broken(from: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_owned()
    } else {
        from.parent().unwrap().join(path)
    };
    if !file.exists() {
        return Some(format!("no file {}", file.display()));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|ext| ext != "md") {
        return Some(format!("#{anchor} into a file that is not Markdown"));
    }
    let text = std::fs::read_to_string(&file).unwrap();
    if anchors(&text).contains(anchor) {
        None
    } else {
        Some(format!("no heading #{anchor} in {}", file.display()))
    }
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading_that_exist() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (n, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if is_external(&target) {
                    continue;
                }
                checked += 1;
                if let Some(why) = broken(&doc, &target) {
                    let name = doc.strip_prefix(root()).unwrap().display();
                    bad.push(format!("{name}:{n}: ({target}): {why}"));
                }
            }
        }
    }
    assert!(
        checked >= 50,
        "only {checked} relative links found: is the scanner broken?"
    );
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}

/// Every `fn` name in the `.rs` files under `dir` (skipping build output).
fn fn_names(dir: &Path, names: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                fn_names(&path, names);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut rest = text.as_str();
            while let Some(at) = rest.find("fn ") {
                let boundary = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
                rest = &rest[at + 3..];
                if boundary {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    names.insert(name);
                }
            }
        }
    }
}

/// A backticked word shaped like a test named as a sentence: lower snake case, four words or more.
fn looks_like_a_test_name(word: &str) -> bool {
    word.split('_').count() >= 4
        && word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !word.contains("__")
        && !word.ends_with('_')
}

/// The test names the promises table of `docs/testing.md` cites (its second column).
fn cited_test_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/testing.md")).unwrap();
    let mut in_table = false;
    let mut names = BTreeSet::new();
    for (_, line) in prose_lines(&text) {
        if line.starts_with("## ") {
            in_table = line == "## Promises and the tests that hold them";
            continue;
        }
        if !in_table || !line.starts_with('|') {
            continue;
        }
        let Some(tests) = line.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        for (i, word) in tests.split('`').enumerate() {
            if i % 2 == 1 && looks_like_a_test_name(word) {
                names.insert(word.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_test_the_promises_table_cites_exists() {
    let cited = cited_test_names();
    assert!(
        cited.len() >= 30,
        "only {} test names found in the promises table",
        cited.len()
    );
    let mut defined = BTreeSet::new();
    for dir in ["tests", "src", "firmware-bridge"] {
        fn_names(&root().join(dir), &mut defined);
    }
    let missing: Vec<&String> = cited.iter().filter(|name| !defined.contains(*name)).collect();
    assert!(
        missing.is_empty(),
        "docs/testing.md cites tests that no `fn` defines:\n{missing:#?}"
    );
}

#[test]
fn every_docs_anchor_cited_in_code_exists() {
    let mut cited = Vec::new();
    fn scan(dir: &Path, cited: &mut Vec<(PathBuf, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    scan(&path, cited);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let mut rest = text.as_str();
            while let Some(at) = rest.find("docs/") {
                rest = &rest[at + 5..];
                let reference: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '#' | '-' | '_'))
                    .collect();
                if reference.contains(".md#") {
                    cited.push((path.clone(), reference.trim_end_matches('.').to_owned()));
                }
            }
        }
    }
    for dir in ["src", "tests", "firmware-bridge", "examples", "deploy"] {
        scan(&root().join(dir), &mut cited);
    }
    assert!(
        !cited.is_empty(),
        "no code comment cites docs/…md#…: is the scanner broken?"
    );
    let bad: Vec<String> = cited
        .iter()
        .filter_map(|(file, reference)| {
            broken(&root().join("docs").join("x.md"), reference)
                .map(|why| format!("{}: docs/{reference}: {why}", file.display()))
        })
        .collect();
    assert!(bad.is_empty(), "code cites missing doc sections:\n{}", bad.join("\n"));
}

#[test]
fn slugs_follow_githubs_rule() {
    assert_eq!(slug("Bird's-eye view"), "birds-eye-view");
    assert_eq!(
        slug("Developer benchmarks: the SQLite peer and the Odoo drain"),
        "developer-benchmarks-the-sqlite-peer-and-the-odoo-drain"
    );
    assert_eq!(slug("Event bus (future)"), "event-bus-future");
    assert_eq!(slug("`store check`"), "store-check");
    let repeated = anchors("# A\n## Notes\n```\n# not a heading\n```\n## Notes\n");
    assert_eq!(
        repeated,
        ["a", "notes", "notes-1"].map(String::from).into_iter().collect()
    );
    assert_eq!(
        link_targets("see [a](x.md#y) and `[b](z.md)` and [c](#d)"),
        vec!["x.md#y", "#d"]
    );
}
