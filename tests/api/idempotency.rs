//! Idempotency-Key: a retry gets the first answer byte for byte without a new event, whatever the
//! key order or whitespace of its body; a reused key with another body is refused; keys are scoped
//! per station; a refused request does not use up its key; concurrent retries record one event.

use std::sync::Arc;

use returns_edge::domain::Role;
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_key_returns_the_first_answer_without_a_new_event() {
    let app = spawn_app().await;
    let token = app.token(Role::Receiver);
    let body = parcel_body("LBL-RETRY", 2);

    let first = app.post_parcel(token, "retry-1", &body).await;
    first.assert_created();
    let after_first = app.snapshot();

    let retry = app.post_parcel(token, "retry-1", &body).await;

    assert_eq!(retry.status, first.status);
    assert_eq!(retry.body, first.body, "the replay is the first answer, byte for byte");
    assert_eq!(retry.header("content-type"), Some("application/json"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    app.assert_nothing_stored_since(&after_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_case_moved_on_still_gets_the_first_answer() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let inspector = app.token(Role::Inspector);
    let body = inspection_body(1, "B");
    let first = app.post_inspection(inspector, &case, "inspect-1", &body).await;
    assert_eq!(first.assert_created()["state"], "inspected");
    app.post_disposition(inspector, &case, &fresh_key(), &disposition_body(1, "restock"))
        .await
        .assert_created();
    let before = app.snapshot();

    // Run fresh, this inspection would now be refused: the line has no uninspected unit left.
    let retry = app.post_inspection(inspector, &case, "inspect-1", &body).await;

    assert_eq!((retry.status, &retry.body), (201, &first.body), "{}", retry.text());
    assert!(retry.replayed());
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_reordered_keys_and_other_whitespace_is_still_a_replay() {
    let app = spawn_app().await;
    let token = app.token(Role::Receiver);
    let compact = br#"{"station":"dock-1","label":"LBL-ORDER","lines":[{"sku":"SKU-1","qty":2}]}"#.to_vec();
    let reordered = b"{\n  \"lines\": [ { \"qty\": 2, \"sku\": \"SKU-1\" } ],\n  \"label\": \"LBL-ORDER\",\n  \"station\": \"dock-1\"\n}\n".to_vec();

    let first = app.post_bytes(WriteRoute::Parcel, token, "", "order-1", compact).await;
    first.assert_created();
    let before = app.snapshot();
    let retry = app
        .post_bytes(WriteRoute::Parcel, token, "", "order-1", reordered)
        .await;

    assert_eq!((retry.status, &retry.body), (201, &first.body), "{}", retry.text());
    assert!(retry.replayed());
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_a_different_body_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.token(Role::Admin);
    let first = app.post_parcel(token, "reused-1", &parcel_body("LBL-A", 1)).await;
    first.assert_created();
    let case = first.json()["case_id"].as_str().unwrap().to_owned();
    let before = app.snapshot();

    let other_body = app.post_parcel(token, "reused-1", &parcel_body("LBL-B", 1)).await;
    let problem = other_body.assert_problem(409, Some("Idempotency-Key"));
    assert_eq!(problem["type"], "urn:returns-edge:problem:idempotency-key-reused");
    assert!(!other_body.replayed(), "{problem}");

    // The key names one request: the same key on another route is another request too.
    let other_route = app
        .post_inspection(token, &case, "reused-1", &inspection_body(1, "A"))
        .await;
    other_route.assert_problem(409, Some("Idempotency-Key"));
    app.assert_nothing_stored_since(&before);

    let retry = app.post_parcel(token, "reused-1", &parcel_body("LBL-A", 1)).await;
    assert_eq!(
        (retry.status, &retry.body),
        (201, &first.body),
        "the first answer is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_a_usable_idempotency_key_is_refused_with_400() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let bearer = format!("Bearer {}", app.token(Role::Admin));
    let too_long = "k".repeat(256);
    let before = app.snapshot();

    for route in WriteRoute::ALL {
        let body = serde_json::to_vec(&route.valid_body(STATION)).unwrap();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        let answer = app.raw(reqwest::Method::POST, &route.path(&case), &headers, body).await;
        let problem = answer.assert_problem(400, Some("Idempotency-Key"));
        assert!(
            problem["detail"].as_str().unwrap().contains("required"),
            "{route:?}: {problem}"
        );
    }
    for bad_key in ["", "has space", too_long.as_str()] {
        let answer = app
            .post_parcel(app.token(Role::Admin), bad_key, &parcel_body("LBL-1", 1))
            .await;
        answer.assert_problem(400, Some("Idempotency-Key"));
    }
    app.assert_nothing_stored_since(&before);

    let longest = "k".repeat(255);
    app.post_parcel(app.token(Role::Admin), &longest, &parcel_body("LBL-1", 1))
        .await
        .assert_created();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_from_another_station_is_a_different_request() {
    let app = spawn_app().await;

    let dock_1 = app
        .post_parcel(app.token(Role::Receiver), "shared-key", &parcel_body("LBL-1", 1))
        .await;
    let body = with_station(parcel_body("LBL-1", 1), OTHER_STATION);
    let dock_2 = app.post_parcel(&app.other_station_token, "shared-key", &body).await;

    let (one, two) = (dock_1.assert_created(), dock_2.assert_created());
    assert_ne!(one["case_id"], two["case_id"]);
    assert_eq!((one["seq"].as_u64(), two["seq"].as_u64()), (Some(1), Some(2)));
    assert_eq!(app.store.last_seq(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_does_not_use_up_its_key() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let inspector = app.token(Role::Inspector);

    let refused = app
        .post_inspection(inspector, &case, "fix-1", &inspection_body(2, "A"))
        .await;
    refused.assert_problem(409, Some("line"));

    let corrected = app
        .post_inspection(inspector, &case, "fix-1", &inspection_body(1, "A"))
        .await;
    assert_eq!(corrected.assert_created()["state"], "inspected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_the_same_key_record_one_event_and_get_the_same_answer() {
    const REQUESTS: usize = 24;
    // Several bursts, each under its own key: one lucky interleaving must not hide a race.
    const BURSTS: u64 = 4;
    let app = Arc::new(spawn_app().await);
    let body = json!({ "station": STATION, "label": "LBL-RACE", "lines": [{ "qty": 3 }] });

    for burst in 1..=BURSTS {
        let before = app.store.last_seq();
        let key = format!("race-{burst}");
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let (app, body, key) = (Arc::clone(&app), body.clone(), key.clone());
                tokio::spawn(async move {
                    let token = app.token(Role::Receiver).to_owned();
                    app.post_parcel(&token, &key, &body).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("the request task does not panic"));
        }

        assert_eq!(app.store.last_seq(), before + 1, "burst {burst}: exactly one event");
        assert!(
            answers.iter().all(|a| a.status == 201),
            "burst {burst}: {:?}",
            answers.iter().map(Answer::text).collect::<Vec<_>>()
        );
        assert!(
            answers.iter().all(|a| a.body == answers[0].body),
            "burst {burst}: every answer is the first one"
        );
        assert_eq!(
            answers.iter().filter(|a| !a.replayed()).count(),
            1,
            "burst {burst}: one original, the rest replays"
        );
    }
    let events = app.list_events(app.token(Role::Receiver), "").await.assert_ok();
    assert_eq!(events["events"].as_array().unwrap().len() as u64, BURSTS);
}
