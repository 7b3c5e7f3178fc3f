//! The happy path of every write route: a parcel is received, inspected, disposed and closed, and a
//! flag raised by an inspection is cleared by a supervisor; each answer says where the case stands.

use returns_edge::domain::Role;
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_a_parcel_opens_a_case_in_state_received() {
    let app = spawn_app().await;
    let body = json!({
        "station": STATION, "label": "1Z999AA10123456784", "weight_g": 1250, "scale": "scale-1",
        "rma": "RMA-2026-0042", "lines": [{ "sku": "SKU-1", "barcode": "4006381333931", "qty": 2, "serial": "SN-1" }],
    });

    let answer = app.post_parcel(app.token(Role::Receiver), &fresh_key(), &body).await;

    let receipt = answer.assert_created();
    let case_id = receipt["case_id"].as_str().expect("case_id");
    assert!(uuid::Uuid::parse_str(case_id).is_ok(), "{receipt}");
    assert!(
        uuid::Uuid::parse_str(receipt["event_id"].as_str().expect("event_id")).is_ok(),
        "{receipt}"
    );
    assert_eq!(receipt["seq"], 1);
    assert_eq!(receipt["state"], "received");
    assert_eq!(receipt["rma"], "RMA-2026-0042");
    assert_eq!(receipt["flags"], json!([]));
    assert_eq!(app.store.last_seq(), 1);

    let case = app.get_case(app.token(Role::Receiver), case_id).await.assert_ok();
    assert_eq!(case["label"], "1Z999AA10123456784");
    assert_eq!(case["weight_g"], 1250);
    assert_eq!(case["scale"], "scale-1");
    assert_eq!(case["lines"][0]["barcode"], "4006381333931");
    assert_eq!(case["lines"][0]["serial"], "SN-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_without_lines_is_received_as_one_unidentified_unit() {
    let app = spawn_app().await;
    let body = json!({ "station": STATION, "label": "LBL-NOLINES" });

    let receipt = app
        .post_parcel(app.token(Role::Receiver), &fresh_key(), &body)
        .await
        .assert_created();

    let case = app
        .get_case(app.token(Role::Receiver), receipt["case_id"].as_str().unwrap())
        .await
        .assert_ok();
    let lines = case["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{case}");
    assert_eq!(lines[0]["received"], 1);
    assert_eq!(lines[0]["sku"], json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspecting_every_received_unit_moves_the_case_to_inspected() {
    let app = spawn_app().await;
    let case = app.received_case(2).await;
    let inspector = app.token(Role::Inspector);

    let first = app
        .post_inspection(
            inspector,
            &case,
            &fresh_key(),
            &with(inspection_body(1, "A"), "qty", json!(1)),
        )
        .await;
    let first = first.assert_created();
    assert_eq!(first["state"], "received", "one of two units is still uninspected");
    assert_eq!(first["seq"], 2);

    let body = json!({ "station": STATION, "line": 1, "grade": "C", "conditions": ["packaging_damaged", "used"],
                       "notes": "box crushed" });
    let second = app
        .post_inspection(inspector, &case, &fresh_key(), &body)
        .await
        .assert_created();
    assert_eq!(second["case_id"], case.as_str());
    assert_eq!(second["state"], "inspected");
    assert_eq!(second["seq"], 3);
    assert_eq!(second["flags"], json!([]));
    assert!(
        second.get("rma").is_none(),
        "only a receipt answers with the RMA: {second}"
    );

    let view = app.get_case(inspector, &case).await.assert_ok();
    assert_eq!(view["state"], "inspected");
    assert_eq!(view["lines"][0]["inspected"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disposing_every_inspected_unit_moves_the_case_to_disposed() {
    let app = spawn_app().await;
    let (case, _) = app.inspected_case().await;

    let answer = app
        .post_disposition(
            app.token(Role::Inspector),
            &case,
            &fresh_key(),
            &disposition_body(1, "open_box"),
        )
        .await;

    let disposed = answer.assert_created();
    assert_eq!(disposed["state"], "disposed");
    assert_eq!(disposed["case_id"], case.as_str());
    let view = app.get_case(app.token(Role::Inspector), &case).await.assert_ok();
    assert_eq!(view["lines"][0]["disposed"], 1);
    assert_eq!(view["lines"][0]["dispositions"][0]["disposition"], "open_box");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_disposed_case_moves_it_to_closed_and_it_takes_no_further_writes() {
    let app = spawn_app().await;
    let case = app.disposed_case().await;
    let inspector = app.token(Role::Inspector);

    let closed = app
        .post_close(inspector, &case, &fresh_key(), &close_body())
        .await
        .assert_created();
    assert_eq!(closed["state"], "closed");

    let before = app.snapshot();
    let again = app.post_close(inspector, &case, &fresh_key(), &close_body()).await;
    let problem = again.assert_problem(409, None);
    assert_eq!(problem["current_state"], "closed");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_item_inspection_flags_the_case_until_a_supervisor_clears_the_flag() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let body = with(inspection_body(1, "D"), "conditions", json!(["wrong_item"]));

    let inspected = app
        .post_inspection(app.token(Role::Inspector), &case, &fresh_key(), &body)
        .await
        .assert_created();
    assert_eq!(inspected["state"], "flagged");
    assert_eq!(inspected["flags"], json!(["wrong_item"]));

    let cleared = app
        .post_flag_clearance(
            app.token(Role::Supervisor),
            &case,
            &fresh_key(),
            &clearance_body("wrong_item"),
        )
        .await
        .assert_created();
    assert_eq!(cleared["state"], "inspected");
    assert_eq!(cleared["flags"], json!([]));

    let view = app.get_case(app.token(Role::Supervisor), &case).await.assert_ok();
    assert_eq!(view["state"], "inspected");
    let flag = &view["flags"][0];
    assert_eq!(flag["flag"], "wrong_item");
    assert_eq!(flag["open"], false);
    assert_eq!(flag["raised_by"], inspected["event_id"]);
    assert_eq!(flag["cleared_by"], cleared["event_id"]);

    // The case moves on as any other once the flag is cleared.
    let disposed = app
        .post_disposition(
            app.token(Role::Inspector),
            &case,
            &fresh_key(),
            &disposition_body(1, "return_to_vendor"),
        )
        .await
        .assert_created();
    assert_eq!(disposed["state"], "disposed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_case_cannot_close_and_the_refusal_names_its_state_and_flag() {
    let app = spawn_app().await;
    let case = app.flagged_case().await;
    let supervisor = app.token(Role::Supervisor);
    app.post_disposition(supervisor, &case, &fresh_key(), &disposition_body(1, "quarantine"))
        .await
        .assert_created();

    let before = app.snapshot();
    let answer = app.post_close(supervisor, &case, &fresh_key(), &close_body()).await;

    let problem = answer.assert_problem(409, None);
    assert_eq!(problem["current_state"], "flagged");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("flagged") && detail.contains("wrong_item"), "{detail}");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_flag_that_is_not_open_is_a_conflict() {
    let app = spawn_app().await;
    let (case, _) = app.inspected_case().await;
    let before = app.snapshot();

    let answer = app
        .post_flag_clearance(
            app.token(Role::Supervisor),
            &case,
            &fresh_key(),
            &clearance_body("wrong_item"),
        )
        .await;

    let problem = answer.assert_problem(409, Some("flag"));
    assert_eq!(problem["current_state"], "inspected");
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_ends_cleanly_after_the_acknowledged_writes_and_closes_the_port() {
    let app = spawn_app().await;
    app.received_case(1).await;
    let addr = app.addr;

    app.stop().await;

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let after_stop = client.get(format!("http://{addr}/healthz")).send().await;
    assert!(after_stop.is_err(), "the port is closed after a stop: {after_stop:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspection_answers_the_policys_suggestion_and_a_disposition_may_leave_it_out() {
    let app = spawn_app().await;
    let case = app.received_case(2).await;
    let inspector = app.token(Role::Inspector);
    let mut one_unit = inspection_body(1, "C");
    one_unit["qty"] = 1.into();
    let inspected = app.post_inspection(inspector, &case, &fresh_key(), &one_unit).await;
    assert_eq!(inspected.assert_created()["suggested_disposition"], "refurbish");

    let no_disposition = serde_json::json!({ "station": STATION, "line": 1 });
    let disposed = app
        .post_disposition(inspector, &case, &fresh_key(), &no_disposition)
        .await;
    disposed.assert_created();
    let view = app.get_case(inspector, &case).await.assert_ok();
    assert_eq!(view["lines"][0]["dispositions"][0]["disposition"], "refurbish");
    let event = &view["events"][2];
    assert_eq!(event["data"]["rules"][0]["rule"], "grade_C", "{event}");

    // Once the line holds units of two grades (C disposed, A waiting), their defaults differ: the
    // disposition must be named (dispositions count units per line, not per inspection).
    let mut other = inspection_body(1, "A");
    other["qty"] = 1.into();
    app.post_inspection(inspector, &case, &fresh_key(), &other)
        .await
        .assert_created();
    let before = app.snapshot();
    let refused = app
        .post_disposition(inspector, &case, &fresh_key(), &no_disposition)
        .await;
    let problem = refused.assert_problem(409, Some("disposition"));
    assert!(
        problem["detail"].as_str().unwrap().contains("refurbish, restock"),
        "{problem}"
    );
    app.assert_nothing_stored_since(&before);
}
