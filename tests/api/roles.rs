//! Who may do what: the role matrix of the write routes, bearer authentication, reads for any role,
//! supervisor-only dispositions and flagged cases, and a token acting only for its own station.

use returns_edge::domain::Role;
use serde_json::json;

use crate::helpers::*;

/// Which roles each write route accepts (docs/architecture.md#http-contract; roles include the ones before them).
const MATRIX: [(WriteRoute, &[Role]); 5] = [
    (
        WriteRoute::Parcel,
        &[Role::Receiver, Role::Inspector, Role::Supervisor, Role::Admin],
    ),
    (
        WriteRoute::Inspection,
        &[Role::Inspector, Role::Supervisor, Role::Admin],
    ),
    (
        WriteRoute::Disposition,
        &[Role::Inspector, Role::Supervisor, Role::Admin],
    ),
    (WriteRoute::FlagClearance, &[Role::Supervisor, Role::Admin]),
    (WriteRoute::Close, &[Role::Inspector, Role::Supervisor, Role::Admin]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_route_accepts_exactly_the_roles_it_names() {
    let app = spawn_app().await;
    assert_eq!(
        MATRIX.map(|(route, _)| route),
        WriteRoute::ALL,
        "the matrix covers every write route"
    );

    for (route, allowed) in MATRIX {
        for role in Role::ALL.iter().copied() {
            let case = app.case_ready_for(route).await;
            let before = app.snapshot();

            let answer = app
                .post(route, app.token(role), &case, &fresh_key(), &route.valid_body(STATION))
                .await;

            if allowed.contains(&role) {
                assert_eq!(answer.status, 201, "{route:?} as {role}: {}", answer.text());
                assert_eq!(app.store.last_seq(), before.last_seq + 1, "{route:?} as {role}");
            } else {
                let problem = answer.assert_problem(403, Some("Authorization"));
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(role.as_str()), "{route:?} as {role}: {detail}");
                app.assert_nothing_stored_since(&before);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_token_is_refused_with_401_and_a_bearer_challenge() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let before = app.snapshot();

    for route in WriteRoute::ALL {
        let body = serde_json::to_vec(&route.valid_body(STATION)).unwrap();
        let headers = [("idempotency-key", "k-1"), ("content-type", "application/json")];
        let answer = app.raw(reqwest::Method::POST, &route.path(&case), &headers, body).await;
        answer.assert_problem(401, Some("Authorization"));
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{route:?}");
    }
    for path in [
        format!("/v1/cases/{case}"),
        "/v1/cases".to_owned(),
        "/v1/events".to_owned(),
    ] {
        let answer = app.get(&path).await;
        answer.assert_problem(401, Some("Authorization"));
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{path}");
    }
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_unknown_or_revoked_token_is_refused_with_401() {
    let app = spawn_app().await;
    app.revoke(Role::Admin);
    let revoked = format!("Bearer {}", app.token(Role::Admin));
    let unknown = format!("Bearer re1_{}_{}", "0".repeat(12), "0".repeat(64));
    let before = app.snapshot();

    for authorization in [
        "Bearer garbage",
        "Bearer ",
        "Basic ZG9jay0xOnB3",
        unknown.as_str(),
        revoked.as_str(),
    ] {
        let body = serde_json::to_vec(&parcel_body("LBL-1", 1)).unwrap();
        let headers = [
            ("authorization", authorization),
            ("idempotency-key", "k-1"),
            ("content-type", "application/json"),
        ];
        let answer = app.raw(reqwest::Method::POST, "/v1/parcels", &headers, body).await;
        let problem = answer.assert_problem(401, Some("Authorization"));
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer"),
            "{authorization}: {problem}"
        );
    }
    app.assert_nothing_stored_since(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_token_may_read() {
    let app = spawn_app().await;
    let case = app.received_case(1).await;
    let mut readers: Vec<&str> = Role::ALL.iter().map(|&role| app.token(role)).collect();
    readers.push(&app.other_station_token);

    for token in readers {
        assert_eq!(app.get_case(token, &case).await.assert_ok()["case_id"], case.as_str());
        assert_eq!(
            app.list_cases(token, "").await.assert_ok()["cases"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            app.list_events(token, "").await.assert_ok()["events"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrap_liquidate_and_donate_need_a_supervisor() {
    let app = spawn_app().await;

    for disposition in ["scrap", "liquidate", "donate"] {
        let (case, _) = app.inspected_case().await;
        let body = disposition_body(1, disposition);
        let before = app.snapshot();

        let refused = app
            .post_disposition(app.token(Role::Inspector), &case, &fresh_key(), &body)
            .await;
        let problem = refused.assert_problem(403, Some("disposition"));
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("supervisor") && detail.contains(disposition),
            "{detail}"
        );
        app.assert_nothing_stored_since(&before);

        let accepted = app
            .post_disposition(app.token(Role::Supervisor), &case, &fresh_key(), &body)
            .await;
        assert_eq!(accepted.assert_created()["state"], "disposed", "{disposition}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_disposition_of_a_flagged_case_needs_a_supervisor() {
    let app = spawn_app().await;
    let case = app.flagged_case().await;
    let body = disposition_body(1, "restock");
    let before = app.snapshot();

    let refused = app
        .post_disposition(app.token(Role::Inspector), &case, &fresh_key(), &body)
        .await;
    let problem = refused.assert_problem(403, None);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("supervisor") && detail.contains("wrong_item"),
        "{detail}"
    );
    app.assert_nothing_stored_since(&before);

    let accepted = app
        .post_disposition(app.token(Role::Supervisor), &case, &fresh_key(), &body)
        .await
        .assert_created();
    assert_eq!(accepted["state"], "flagged", "disposing does not clear the flag");
    assert_eq!(accepted["flags"], json!(["wrong_item"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_writes_only_for_its_own_station() {
    let app = spawn_app().await;

    for route in WriteRoute::ALL {
        let case = app.case_ready_for(route).await;
        let before = app.snapshot();

        let answer = app
            .post(
                route,
                &app.other_station_token,
                &case,
                &fresh_key(),
                &route.valid_body(STATION),
            )
            .await;

        let problem = answer.assert_problem(403, Some("station"));
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(OTHER_STATION) && detail.contains(STATION),
            "{route:?}: {detail}"
        );
        app.assert_nothing_stored_since(&before);
    }
}
