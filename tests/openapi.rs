//! `/openapi.json` is the contract: schemathesis reads it from the real binary, sends every
//! operation the requests it allows and the ones it forbids (positive and negative data, boundary
//! values, missing headers, wrong methods, no token, sequences that follow the document's links),
//! and fails on any answer the document does not describe or any request the server and the
//! document disagree on. Also here: the README publishes every problem type the server answers with.
//!
//! Schemathesis comes from PyPI: `.ci/run` installs it into `.ci/venv` and exports `SCHEMATHESIS`.
//! Without it this test fails (it does not skip) and says how to install it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use returns_edge::http::error::ProblemType;
use support::{create_token, RealServer};

/// Where `.ci/run` installs schemathesis when `SCHEMATHESIS` is not set.
const VENV_SCHEMATHESIS: &str = ".ci/venv/bin/schemathesis";
/// Fixed, so a failure is replayed by running the test again.
const SEED: &str = "20261203";
/// How often schemathesis draws a realistic value for a body field instead of any value its schema
/// allows. A random station is almost never this token's, so without this nearly every write stops
/// at the station check (403) and never reaches a case; a random line or quantity rarely names one
/// the case has. Every drawn value is still valid for its schema: nothing is left untested.
const REALISTIC_VALUES: &str = r#"
[dictionaries.stations]
values = ["dock-1"]

[dictionaries.first]
values = [1]

[parameters]
"body.station" = { dictionary = "stations", probability = 0.6 }
"body.line" = { dictionary = "first", probability = 0.6 }
"body.qty" = { dictionary = "first", probability = 0.5 }
"#;
/// Examples per operation and phase: a few hundred requests per operation in all, a few minutes
/// on two cores.
const MAX_EXAMPLES: &str = "400";

fn schemathesis() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(VENV_SCHEMATHESIS));
    let runs = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "schemathesis not found at {} (set SCHEMATHESIS to its path). Install it with:\n  \
         python3 -m venv .ci/venv && .ci/venv/bin/pip install 'schemathesis==4.32.5'\n(`.ci/run` does this)",
        path.display()
    );
    path
}

#[test]
fn schemathesis_finds_no_disagreement_between_the_document_and_the_server() {
    let schemathesis = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An admin token reaches every operation; its station is the one the examples name.
    let token = create_token(dir.path(), &data, "dock-1", "admin");
    let server = RealServer::start(dir.path(), &data);
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, REALISTIC_VALUES).unwrap();
    let run = |selection: &[&str]| {
        let started = Instant::now();
        let out = Command::new(&schemathesis)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/openapi.json", server.url())])
            .args(["--checks", "all", "--seed", SEED, "--max-examples", MAX_EXAMPLES])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(selection)
            .args(["--generation-database", "none", "--no-color"])
            .output()
            .expect("schemathesis runs");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{report}\nschemathesis {selection:?} took {:.0?}", started.elapsed());
        assert!(
            out.status.success(),
            "schemathesis found requests on which /openapi.json and the server disagree \
             (seed {SEED}, {selection:?}):\n{report}"
        );
    };

    run(&[
        "--phases",
        "examples,coverage,fuzzing,stateful",
        // The station stream never ends while the server runs, and schemathesis reads every
        // answer to its end: each request would only time out. tests/devices.rs tests the stream.
        "--exclude-path",
        "/v1/stations/{station}/stream",
        // The stateful phase would follow the token list to revoking this run's own token, and
        // every later request would be a 401. The route gets its own run below.
        "--exclude-path",
        "/v1/admin/tokens/{id}",
    ]);
    // Revoking, without the stateful phase: the ids it draws from the schema name no token (this
    // run's own is 12 random hex digits), so nothing is revoked.
    run(&[
        "--phases",
        "examples,coverage,fuzzing",
        "--include-path",
        "/v1/admin/tokens/{id}",
    ]);
    drop(server);
}

/// Validates every example of the document (schemas, parameters, answers) against its schema
/// with `jsonschema_rs`, which schemathesis brings, and prints one line per example that fails.
const VALIDATE_EXAMPLES: &str = r#"
import json, sys, jsonschema_rs
doc = json.load(open(sys.argv[1]))
components = doc["components"]
checked = 0
def check(schema, value, where):
    global checked
    checked += 1
    root = dict(schema, components=components)
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    for error in jsonschema_rs.validator_for(root).iter_errors(value):
        print(f"{where}: {error.message}")
for name, schema in components["schemas"].items():
    for example in ([schema["example"]] if "example" in schema else []) + schema.get("examples", []):
        check(schema, example, f"schema {name}")
for path, item in doc["paths"].items():
    for method, operation in item.items():
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                check(parameter["schema"], parameter["example"], f"{method} {path} parameter {parameter['name']}")
        for status, answer in operation["responses"].items():
            for media, content in answer.get("content", {}).items():
                if "example" in content and "schema" in content:
                    check(content["schema"], content["example"], f"{method} {path} {status} {media}")
print(f"checked {checked} examples", file=sys.stderr)
"#;

#[test]
fn every_example_in_the_document_validates_against_its_schema() {
    let python = schemathesis().with_file_name("python3");
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, returns_edge::http::openapi::document().to_string()).unwrap();
    let out = Command::new(&python)
        .args(["-c", VALIDATE_EXAMPLES])
        .arg(&document)
        .output()
        .unwrap_or_else(|e| panic!("{} (schemathesis's Python) does not run: {e}", python.display()));
    let (invalid, log) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{log}");
    assert!(
        invalid.trim().is_empty(),
        "examples that break their own schema:\n{invalid}"
    );
    assert!(log.contains("checked "), "{log}");
}

#[test]
fn the_readme_publishes_every_problem_type_with_its_status() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md")).unwrap();
    let missing: Vec<String> = ProblemType::ALL
        .iter()
        .map(|kind| format!("| `{}` | {} |", kind.uri(), kind.status().as_u16()))
        .filter(|row| !readme.contains(row.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md's HTTP API table lacks rows starting {missing:#?}"
    );
}
