//! Corrections: a supervisor's inspection with `corrects` replaces an earlier grade, which stays in
//! the case view as superseded; an inspector may not correct, and only active inspections can be.

use returns_edge::domain::Role;
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisors_correction_replaces_the_grade_and_supersedes_the_old_record() {
    let app = spawn_app().await;
    let (case, original) = app.inspected_case().await;
    let body = json!({ "station": STATION, "line": 1, "grade": "D", "corrects": original, "notes": "crack missed" });

    let correction = app
        .post_inspection(app.token(Role::Supervisor), &case, &fresh_key(), &body)
        .await
        .assert_created();

    assert_eq!(
        correction["state"], "inspected",
        "a correction does not change how many units are inspected"
    );
    let view = app.get_case(app.token(Role::Supervisor), &case).await.assert_ok();
    let line = &view["lines"][0];
    assert_eq!(line["inspected"], 1);
    let records: Vec<_> = line["inspections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["event"].clone(), r["grade"].clone(), r["superseded_by"].clone()))
        .collect();
    assert_eq!(
        records,
        [
            (json!(original), json!("B"), correction["event_id"].clone()),
            (correction["event_id"].clone(), json!("D"), json!(null)),
        ]
    );
    let last = view["events"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last["kind"].as_str(), &last["data"]["corrects"]),
        (Some("item_inspected"), &json!(original))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspectors_correction_is_refused_with_403() {
    let app = spawn_app().await;
    let (case, original) = app.inspected_case().await;
    let body = with(inspection_body(1, "D"), "corrects", json!(original));
    let before = app.snapshot();

    let answer = app
        .post_inspection(app.token(Role::Inspector), &case, &fresh_key(), &body)
        .await;

    let problem = answer.assert_problem(403, Some("corrects"));
    assert!(problem["detail"].as_str().unwrap().contains("supervisor"), "{problem}");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_active_inspection_of_the_line_can_be_corrected() {
    let app = spawn_app().await;
    let (case, original) = app.inspected_case().await;
    let supervisor = app.token(Role::Supervisor);
    let correct = |event: &str| with(inspection_body(1, "C"), "corrects", json!(event));
    app.post_inspection(supervisor, &case, &fresh_key(), &correct(&original))
        .await
        .assert_created();
    let before = app.snapshot();

    let superseded = app
        .post_inspection(supervisor, &case, &fresh_key(), &correct(&original))
        .await;
    superseded.assert_problem(409, Some("corrects"));
    let unknown = app
        .post_inspection(
            supervisor,
            &case,
            &fresh_key(),
            &correct(&uuid::Uuid::now_v7().to_string()),
        )
        .await;
    unknown.assert_problem(409, Some("corrects"));
    let malformed = app
        .post_inspection(supervisor, &case, &fresh_key(), &correct("not-an-event"))
        .await;
    malformed.assert_problem(422, Some("corrects"));
    app.assert_nothing_stored_since(&before);
}
