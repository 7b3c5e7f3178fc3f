//! Authorization comes before anything else a request carries. Every operation of `/openapi.json`
//! (which another test holds to the router's routes) is sent by every role, by no token and by a
//! garbage token, each time with a valid request and with malformed ones (broken JSON, a body the
//! schema refuses, no `Idempotency-Key`, the wrong content type, a path parameter that names
//! nothing, an unknown query parameter): 401 and 403 never depend on what the request carries.
//! The role an operation needs is read from the document (its security scope), so the document
//! and the server are held to each other too.

use reqwest::Method;
use returns_edge::domain::Role;
use serde_json::{json, Value};

use crate::helpers::*;

/// A case id no case has, in the spelling the API answers with.
const NO_CASE: &str = "0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f";

/// One request to an operation: what the client sends besides its token.
#[derive(Debug, Clone)]
struct Variant {
    what: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// An operation of the document and the least role it needs (`None`: no token needed).
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    role: Option<Role>,
    /// The example of its JSON request body, if it takes one.
    example: Option<Value>,
}

fn operations(document: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let role = operation["security"].as_array().map(|requirements| {
                let scope = requirements[0]["station_token"][0].as_str().unwrap_or_else(|| {
                    panic!("{method} {path}: the security requirement names no role: {requirements:?}")
                });
                Role::parse(scope).unwrap_or_else(|e| panic!("{method} {path}: scope `{scope}` is not a role: {e}"))
            });
            let example = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|reference| {
                    let name = reference.rsplit('/').next().unwrap();
                    let example = document["components"]["schemas"][name]["example"].clone();
                    assert!(
                        example.is_object(),
                        "{method} {path}: the request body {name} has no example"
                    );
                    example
                });
            out.push(Operation {
                method,
                path: path.clone(),
                role,
                example,
            });
        }
    }
    out
}

/// `path` with its parameters filled: with values that name something when `well_formed`, else
/// with one that cannot.
fn fill(path: &str, well_formed: bool) -> String {
    let (case, dead_letter, station, token) = if well_formed {
        (NO_CASE, "odoo:1", STATION, "000000000000")
    } else {
        ("NOT-A-CASE", "not-a-dead-letter", "not a station", "NOT-A-TOKEN")
    };
    path.replace("{case_id}", case)
        .replace("{id}", if path.contains("tokens") { token } else { dead_letter })
        .replace("{station}", &station.replace(' ', "%20"))
}

/// The valid request and the malformed ones for `operation`.
fn variants(operation: &Operation) -> Vec<Variant> {
    let json = ("content-type", "application/json".to_owned());
    let key = || ("idempotency-key", fresh_key());
    let valid_path = fill(&operation.path, true);
    let mut out = Vec::new();
    match &operation.example {
        Some(example) => {
            let writes_a_case = operation.path.starts_with("/v1/parcels") || operation.path.starts_with("/v1/cases");
            let headers = |with_key: bool| {
                let mut headers = vec![json.clone()];
                if with_key && writes_a_case {
                    headers.push(key());
                }
                headers
            };
            let body = serde_json::to_vec(example).unwrap();
            out.push(Variant {
                what: "valid",
                path: valid_path.clone(),
                headers: headers(true),
                body: body.clone(),
            });
            out.push(Variant {
                what: "broken JSON",
                path: valid_path.clone(),
                headers: headers(true),
                body: b"{\"station\": \"dock-1\", ".to_vec(),
            });
            out.push(Variant {
                what: "a body the schema refuses",
                path: valid_path.clone(),
                headers: headers(true),
                body: serde_json::to_vec(&json!({ "station": 5, "line": -1, "colour": "red" })).unwrap(),
            });
            if writes_a_case {
                out.push(Variant {
                    what: "no Idempotency-Key",
                    path: valid_path.clone(),
                    headers: headers(false),
                    body: body.clone(),
                });
            }
            out.push(Variant {
                what: "not JSON",
                path: valid_path.clone(),
                headers: vec![("content-type", "text/plain".to_owned()), key()],
                body,
            });
        }
        None => {
            let query = if operation.path == "/v1/rma/lookup" {
                "?code=RMA-1"
            } else {
                ""
            };
            out.push(Variant {
                what: "valid",
                path: format!("{valid_path}{query}"),
                headers: Vec::new(),
                body: Vec::new(),
            });
            out.push(Variant {
                what: "an unknown query parameter and a junk body",
                path: format!("{valid_path}?colour=red&limit=many"),
                headers: vec![json.clone()],
                body: b"{{{".to_vec(),
            });
        }
    }
    if operation.path.contains('{') {
        let mut malformed = out[0].clone();
        malformed.what = "a path parameter that names nothing";
        malformed.path = fill(&operation.path, false);
        out.push(malformed);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_role_or_bad_token_gets_an_answer_that_depends_on_the_request() {
    // Hundreds of requests per token: the rate limit is not under test here.
    let app = spawn_app_with(|config| {
        config.server.rate_limit_per_second = 100_000;
        config.server.rate_limit_burst = 100_000;
    })
    .await;
    let document = app.get("/openapi.json").await.assert_ok();
    let operations = operations(&document);
    assert!(
        operations.len() >= 20,
        "the document was not understood: {operations:?}"
    );
    let garbage = format!("re1_{}_{}", "0".repeat(12), "0".repeat(64));

    let mut walked = 0;
    for operation in &operations {
        let Some(required) = operation.role else { continue };
        for variant in variants(operation) {
            let send = |token: Option<&str>| {
                let mut headers: Vec<(&str, String)> = variant.headers.clone();
                if let Some(token) = token {
                    headers.push(("authorization", format!("Bearer {token}")));
                }
                let method = operation.method.clone();
                let (path, body) = (variant.path.clone(), variant.body.clone());
                let app = &app;
                async move {
                    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    app.any_route(method, &path, &headers, body).await
                }
            };
            let label = format!("{} {} with {}", operation.method, operation.path, variant.what);

            for token in [None, Some(garbage.as_str())] {
                let answer = send(token).await;
                let problem = answer.assert_problem(401, Some("Authorization"));
                assert_eq!(
                    problem["type"], "urn:returns-edge:problem:unauthorized",
                    "{label}: {problem}"
                );
            }
            for role in Role::ALL.iter().copied() {
                let answer = send(Some(app.token(role))).await;
                if role.includes(required) {
                    assert!(
                        ![401, 403].contains(&answer.status),
                        "{label} as {role} (allowed: {required} and above) was refused {}: {}",
                        answer.status,
                        answer.text()
                    );
                } else {
                    let problem = answer.assert_problem(403, Some("Authorization"));
                    let detail = problem["detail"].as_str().unwrap_or_default();
                    assert!(
                        detail.contains(required.as_str()) && detail.contains(role.as_str()),
                        "{label} as {role}: {detail}"
                    );
                }
                walked += 1;
            }
        }
    }
    assert!(walked > 200, "only {walked} requests were walked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_posting_a_malformed_inspection_is_forbidden_not_told_what_is_wrong() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;

    let malformed = json!({ "station": STATION, "line": 0, "grade": "E", "colour": "red" });
    let answer = app
        .post_inspection(app.token(Role::Receiver), &case, &fresh_key(), &malformed)
        .await;

    let problem = answer.assert_problem(403, Some("Authorization"));
    let detail = problem["detail"].as_str().unwrap();
    assert!(!detail.contains("line") && !detail.contains("grade"), "{detail}");
}
