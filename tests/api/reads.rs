//! Read routes: one case with its lines, events and per-sink delivery; pages of cases and of the
//! event log; health, readiness and the OpenAPI document (which must list every route).

use std::collections::BTreeSet;

use returns_edge::domain::Role;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_view_shows_line_counts_events_in_order_and_odoo_delivery_for_receipt_and_disposition_only() {
    let app = spawn_app().await;
    let inspector = app.token(Role::Inspector);
    let parcel = json!({ "station": STATION, "label": "LBL-VIEW", "rma": "RMA-7",
                         "lines": [{ "sku": "SKU-1", "qty": 3 }, { "sku": "SKU-2", "qty": 1 }] });
    let receipt = app
        .post_parcel(app.token(Role::Receiver), &fresh_key(), &parcel)
        .await
        .assert_created();
    let case = receipt["case_id"].as_str().unwrap();
    let inspection = app
        .post_inspection(inspector, case, &fresh_key(), &inspection_body(1, "A"))
        .await
        .assert_created();
    let disposition = app
        .post_disposition(
            inspector,
            case,
            &fresh_key(),
            &with(disposition_body(1, "restock"), "qty", json!(2)),
        )
        .await
        .assert_created();

    let view = app.get_case(inspector, case).await.assert_ok();

    assert_eq!(view["case_id"], case);
    assert_eq!(view["state"], "received", "line 2 is not inspected yet");
    assert_eq!(view["rma"], "RMA-7");
    let counts: Vec<(u64, u64, u64, u64)> = view["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let n = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("{k} in {l}"));
            (n("line"), n("received"), n("inspected"), n("disposed"))
        })
        .collect();
    assert_eq!(counts, [(1, 3, 3, 2), (2, 1, 0, 0)]);

    let events = view["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["parcel_received", "item_inspected", "item_disposed"]);
    let ids: Vec<&Value> = events.iter().map(|e| &e["event_id"]).collect();
    assert_eq!(
        ids,
        [&receipt["event_id"], &inspection["event_id"], &disposition["event_id"]]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(
        events.iter().all(|e| e["station"] == STATION && e["case_id"] == case),
        "{view}"
    );
    assert_eq!(events[0]["data"]["label"], "LBL-VIEW");
    assert_eq!(events[1]["data"]["grade"], "A");
    assert_eq!(events[2]["data"]["disposition"], "restock");

    let delivery = view["delivery"].as_array().unwrap();
    let delivered: Vec<(&str, &Value, &str)> = delivery
        .iter()
        .map(|d| {
            (
                d["sink"].as_str().unwrap(),
                &d["event_id"],
                d["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        delivered,
        [
            (SINK, &receipt["event_id"], "pending"),
            (SINK, &disposition["event_id"], "pending")
        ]
    );
    // Odoo is unreachable in this rig: attempts may have been made, none can have succeeded.
    assert!(delivery.iter().all(|d| d["attempts"].as_u64().is_some()), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_case_is_not_found_for_reads_too() {
    let app = spawn_app().await;
    let reader = app.token(Role::Receiver);

    let unknown = app.get_case(reader, &uuid::Uuid::now_v7().to_string()).await;
    unknown.assert_problem(404, Some("case_id"));
    let malformed = app.get_case(reader, "not-a-case").await;
    malformed.assert_problem(404, Some("case_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_cases_filters_by_state_and_pages_with_next_after() {
    let app = spawn_app().await;
    let mut received = BTreeSet::new();
    for _ in 0..5 {
        received.insert(app.received_case(1).await);
    }
    let mut inspected = BTreeSet::new();
    for _ in 0..2 {
        inspected.insert(app.inspected_case().await.0);
    }
    let reader = app.token(Role::Receiver);

    let mut seen = Vec::new();
    let mut query = "state=received&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.list_cases(reader, &query).await.assert_ok();
        pages += 1;
        let cases = page["cases"].as_array().unwrap();
        assert!(cases.len() <= 2, "{page}");
        assert!(cases.iter().all(|c| c["state"] == "received"), "{page}");
        seen.extend(cases.iter().map(|c| c["case_id"].as_str().unwrap().to_owned()));
        match page["next_after"].as_str() {
            Some(after) => {
                assert_eq!(
                    Some(after),
                    seen.last().map(String::as_str),
                    "next_after is the page's last case"
                );
                query = format!("state=received&limit=2&after={after}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "5 cases in pages of 2");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages follow case id order without repeats: {seen:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), received);

    let page = app.list_cases(reader, "state=inspected").await.assert_ok();
    let ids: BTreeSet<String> = page["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, inspected);
    assert_eq!(page["next_after"], json!(null));

    let all = app.list_cases(reader, "").await.assert_ok();
    assert_eq!(all["cases"].as_array().unwrap().len(), 7);
    let summary = &all["cases"][0];
    assert_eq!(
        (summary["lines"].as_u64(), summary["units"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(summary["open_flags"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_events_after_a_sequence_number_returns_them_in_order_with_next_after() {
    let app = spawn_app().await;
    app.disposed_case().await; // 3 events
    app.inspected_case().await; // 2 events
    let reader = app.token(Role::Inspector);

    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .list_events(reader, &format!("after={after}&limit=2"))
            .await
            .assert_ok();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2, "{page}");
        let next = page["next_after"].as_u64().unwrap();
        if events.is_empty() {
            assert_eq!(next, after, "an empty page keeps the position");
            break;
        }
        assert_eq!(Some(next), events.last().and_then(|e| e["seq"].as_u64()), "{page}");
        seqs.extend(events.iter().map(|e| e["seq"].as_u64().unwrap()));
        after = next;
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    let from_3 = app.list_events(reader, "after=3").await.assert_ok();
    let kinds: Vec<&str> = from_3["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["parcel_received", "item_inspected"]);
    assert_eq!(from_3["next_after"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_out_of_range_wrong_typed_unknown_or_repeated_are_refused_naming_them() {
    let app = spawn_app().await;
    let reader = app.token(Role::Receiver);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("state=lost", "state"),
        ("after=not-a-case", "after"),
        ("limit=ten", "limit"),
        ("colour=red", "colour"),
        ("limit=1&limit=2", "limit"),
    ] {
        app.list_cases(reader, query).await.assert_problem(422, Some(field));
    }
    for (query, field) in [("limit=0", "limit"), ("after=-1", "after"), ("after=ten", "after")] {
        app.list_events(reader, query).await.assert_problem(422, Some(field));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app().await;
    app.received_case(1).await;

    let health = app.get("/healthz").await.assert_ok();
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz").await.assert_ok();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["last_seq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_is_a_problem_naming_the_path() {
    let app = spawn_app().await;

    app.get("/v2/parcels").await.assert_problem(404, Some("path"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_problem_that_says_which_methods_the_path_takes() {
    let app = spawn_app().await;

    let answer = app.raw(reqwest::Method::PUT, "/v1/parcels", &[], Vec::new()).await;

    let problem = answer.assert_problem(405, None);
    assert_eq!(problem["type"], "urn:returns-edge:problem:method-not-allowed");
    assert_eq!(answer.header("allow"), Some("POST"));
}

/// The routes `src/http/mod.rs` registers, as (method, path), read from its `.route(` calls so a
/// new route cannot be added without this test noticing.
fn router_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/http/mod.rs");
    let mut routes = BTreeSet::new();
    for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
        let path = line.split('"').nth(1).expect("a quoted path");
        let handlers = &line[line.find(',').expect("a method router after the path")..];
        let methods: Vec<&str> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| handlers.contains(&format!("{m}(")))
            .collect();
        assert!(
            !methods.is_empty(),
            "cannot read the methods of `{line}`; keep one route per line"
        );
        routes.extend(methods.into_iter().map(|m| (m.to_owned(), path.to_owned())));
    }
    assert!(routes.len() >= 11, "the router source was not understood: {routes:?}");
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_json_listing_every_route_of_the_router() {
    let app = spawn_app().await;

    let document = app.get("/openapi.json").await.assert_ok();

    assert!(
        document["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    let missing: Vec<_> = router_routes()
        .into_iter()
        .filter(|(method, path)| paths.get(path).and_then(|p| p.get(method)).is_none())
        .collect();
    assert!(missing.is_empty(), "routes missing from /openapi.json: {missing:?}");
    // Each parameter where a client generated from the document will put it: a path parameter
    // only where the path has its `{name}`; `/v1/cases` and `/v1/events` take theirs in the query.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let (name, place) = (parameter["name"].as_str().unwrap(), parameter["in"].as_str().unwrap());
                assert_eq!(
                    place == "path",
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: parameter `{name}` is documented in {place}"
                );
            }
        }
    }
    for (path, names) in [
        ("/v1/cases", ["state", "limit", "after"].as_slice()),
        ("/v1/events", &["after", "limit"]),
    ] {
        let documented: Vec<(&str, &str)> = document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
            .collect();
        let expected: Vec<(&str, &str)> = names.iter().map(|n| (*n, "query")).collect();
        assert_eq!(documented, expected, "{path}");
    }
    assert!(
        document["components"]["securitySchemes"]["station_token"].is_object(),
        "{document}"
    );
}
