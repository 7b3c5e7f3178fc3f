//! Refusals of bad input: every one is an `application/problem+json` 4xx naming the field at fault
//! (a JSON path, a header or a path segment), 409s name the case's state, and nothing is stored.

use returns_edge::domain::Role;
use serde_json::{json, Value};

use crate::helpers::*;

/// Sends `body` (exact bytes) as a receipt and checks the refusal and that nothing was stored.
async fn assert_parcel_refused(app: &TestApp, body: Vec<u8>, status: u16, field: &str) -> Value {
    let before = app.snapshot();
    let answer = app
        .post_bytes(WriteRoute::Parcel, app.token(Role::Admin), "", &fresh_key(), body)
        .await;
    let problem = answer.assert_problem(status, Some(field));
    app.assert_nothing_stored_since(&before);
    problem
}

fn bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_naming_the_body() {
    let app = spawn_app().await;

    for body in [&b"{\"station\":"[..], b"", b"not json", b"{\"station\":\"dock-1\",}"] {
        assert_parcel_refused(&app, body.to_vec(), 400, "body").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_refused_naming_its_json_path() {
    let app = spawn_app().await;

    let top = with(parcel_body("LBL-1", 1), "colour", json!("red"));
    assert_parcel_refused(&app, bytes(&top), 422, "colour").await;
    let nested = json!({ "station": STATION, "label": "LBL-1", "lines": [{ "qty": 1, "color": "red" }] });
    let problem = assert_parcel_refused(&app, bytes(&nested), 422, "lines[0].color").await;
    assert!(problem["detail"].as_str().unwrap().contains("color"), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_field_is_named() {
    let app = spawn_app().await;

    assert_parcel_refused(&app, bytes(&json!({ "station": STATION })), 422, "label").await;
    assert_parcel_refused(&app, bytes(&json!({ "label": "LBL-1" })), 422, "station").await;
    let no_qty = json!({ "station": STATION, "label": "LBL-1", "lines": [{ "sku": "SKU-1" }] });
    assert_parcel_refused(&app, bytes(&no_qty), 422, "lines[0].qty").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_is_a_413() {
    let app = spawn_app().await;
    // Valid JSON but for its size: whitespace padding past the 65536-byte default.
    let padded = |n: usize| format!(r#"{{"station":"dock-1","label":"LBL-1"{}}}"#, " ".repeat(n)).into_bytes();

    assert_parcel_refused(&app, padded(65_536), 413, "body").await;
    let just_fits = padded(65_536 - padded(0).len());
    let answer = app
        .post_bytes(WriteRoute::Parcel, app.token(Role::Admin), "", &fresh_key(), just_fits)
        .await;
    answer.assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_declared_json_is_a_415_naming_content_type() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.token(Role::Admin));
    let body = bytes(&parcel_body("LBL-1", 1));
    let before = app.snapshot();

    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut headers = vec![("authorization", bearer.as_str()), ("idempotency-key", "ct-1")];
        headers.extend(content_type.map(|ct| ("content-type", ct)));
        let answer = app
            .raw(reqwest::Method::POST, "/v1/parcels", &headers, body.clone())
            .await;
        answer.assert_problem(415, Some("Content-Type"));
    }
    app.assert_nothing_stored_since(&before);

    let headers = [
        ("authorization", bearer.as_str()),
        ("idempotency-key", "ct-1"),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let answer = app.raw(reqwest::Method::POST, "/v1/parcels", &headers, body).await;
    answer.assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantities_outside_1_to_10000_are_refused_naming_the_line_quantity() {
    let app = spawn_app().await;

    for qty in [json!(0), json!(10_001), json!(-1), json!("2")] {
        let body = json!({ "station": STATION, "label": "LBL-1", "lines": [{ "qty": qty }] });
        let problem = assert_parcel_refused(&app, bytes(&body), 422, "lines[0].qty").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("lines[0].qty"),
            "{problem}"
        );
    }
    app.post_parcel(app.token(Role::Admin), &fresh_key(), &parcel_body("LBL-1", 10_000))
        .await
        .assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_longer_than_128_characters_is_refused() {
    let app = spawn_app().await;

    let problem = assert_parcel_refused(&app, bytes(&parcel_body(&"L".repeat(129), 1)), 422, "label").await;
    assert!(problem["detail"].as_str().unwrap().contains("128"), "{problem}");
    for bad in ["", " leading-space"] {
        assert_parcel_refused(&app, bytes(&parcel_body(bad, 1)), 422, "label").await;
    }
    app.post_parcel(app.token(Role::Admin), &fresh_key(), &parcel_body(&"L".repeat(128), 1))
        .await
        .assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_with_more_than_200_lines_is_refused() {
    let app = spawn_app().await;
    let lines = |n: usize| json!(vec![json!({ "qty": 1 }); n]);

    let too_many = json!({ "station": STATION, "label": "LBL-1", "lines": lines(201) });
    let problem = assert_parcel_refused(&app, bytes(&too_many), 422, "lines").await;
    assert!(problem["detail"].as_str().unwrap().contains("200"), "{problem}");

    let most = json!({ "station": STATION, "label": "LBL-1", "lines": lines(200) });
    app.post_parcel(app.token(Role::Admin), &fresh_key(), &most)
        .await
        .assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_grade_or_disposition_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let (case, _) = app.inspected_case().await;
    let other = app.received_case(1).await;
    let token = app.token(Role::Admin);
    let before = app.snapshot();

    for grade in ["E", "a", ""] {
        let answer = app
            .post_inspection(token, &other, &fresh_key(), &inspection_body(1, grade))
            .await;
        let problem = answer.assert_problem(422, Some("grade"));
        assert!(
            problem["detail"].as_str().unwrap().contains("\"A\""),
            "the detail lists the grades: {problem}"
        );
    }
    let bad_condition = with(inspection_body(1, "A"), "conditions", json!(["scratched"]));
    let answer = app.post_inspection(token, &other, &fresh_key(), &bad_condition).await;
    answer.assert_problem(422, Some("conditions[0]"));
    for disposition in ["burn", "Restock", ""] {
        let answer = app
            .post_disposition(token, &case, &fresh_key(), &disposition_body(1, disposition))
            .await;
        answer.assert_problem(422, Some("disposition"));
    }
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_malformed_case_id_is_a_404_naming_the_case_id() {
    let app = spawn_app().await;
    let token = app.token(Role::Admin);
    let unknown = uuid::Uuid::now_v7().to_string();
    let before = app.snapshot();

    for case in [unknown.as_str(), "not-a-uuid", "1234"] {
        for route in [
            WriteRoute::Inspection,
            WriteRoute::Disposition,
            WriteRoute::FlagClearance,
            WriteRoute::Close,
        ] {
            let answer = app
                .post(route, token, case, &fresh_key(), &route.valid_body(STATION))
                .await;
            answer.assert_problem(404, Some("case_id"));
        }
    }
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_case_does_not_have_is_refused_naming_the_line() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let token = app.token(Role::Inspector);
    let before = app.snapshot();

    let answer = app
        .post_inspection(token, &case, &fresh_key(), &inspection_body(2, "A"))
        .await;
    // Line 2 is a line number the schema allows: this case's state refuses it (409); line 0 is
    // one the schema does not allow (422).
    let problem = answer.assert_problem(409, Some("line"));
    assert!(problem["detail"].as_str().unwrap().contains("1 line"), "{problem}");
    let answer = app
        .post_inspection(token, &case, &fresh_key(), &inspection_body(0, "A"))
        .await;
    answer.assert_problem(422, Some("line"));
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disposing_before_inspecting_is_a_conflict_naming_the_state() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let before = app.snapshot();

    let answer = app
        .post_disposition(
            app.token(Role::Inspector),
            &case,
            &fresh_key(),
            &disposition_body(1, "restock"),
        )
        .await;

    let problem = answer.assert_problem(409, Some("line"));
    assert_eq!(problem["current_state"], "received");
    assert!(problem["detail"].as_str().unwrap().contains("received"), "{problem}");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspecting_more_units_than_were_received_is_a_conflict() {
    let app = spawn_app().await;
    let case = app.received_case(2).await;
    let token = app.token(Role::Inspector);
    let before = app.snapshot();

    let answer = app
        .post_inspection(
            token,
            &case,
            &fresh_key(),
            &with(inspection_body(1, "A"), "qty", json!(3)),
        )
        .await;
    let problem = answer.assert_problem(409, Some("qty"));
    assert_eq!(problem["current_state"], "received");
    app.assert_nothing_stored_since(&before);

    app.post_inspection(token, &case, &fresh_key(), &inspection_body(1, "A"))
        .await
        .assert_created();
    let before = app.snapshot();
    let answer = app
        .post_inspection(token, &case, &fresh_key(), &inspection_body(1, "A"))
        .await;
    let problem = answer.assert_problem(409, Some("line"));
    assert_eq!(problem["current_state"], "inspected");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_before_every_unit_is_disposed_is_a_conflict_naming_the_state() {
    let app = spawn_app().await;
    let (case, _) = app.inspected_case().await;
    let before = app.snapshot();

    let answer = app
        .post_close(app.token(Role::Inspector), &case, &fresh_key(), &close_body())
        .await;

    let problem = answer.assert_problem(409, None);
    assert_eq!(problem["current_state"], "inspected");
    assert!(problem["detail"].as_str().unwrap().contains("inspected"), "{problem}");
    app.assert_nothing_stored_since(&before);
}
