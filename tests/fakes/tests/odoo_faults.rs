//! Scripted faults of the fake Odoo, each as a sink meets it: a 500 without effect, an answer
//! that comes too late or never although the effect happened, a serialization failure, a
//! changed password, a server that is down or unreachable, and the latency model.

mod support;

use std::time::Duration;

use returns_edge_fakes::odoo::{
    CallMatcher, Delivery, FakeOdoo, FakeOdooOptions, Fault, FaultKind, Latency, OdooVersion, Protocols,
};
use serde_json::{json, Value};
use support::rpc::Rpc;

/// A receipt from the vendors into WH/Stock: always reservable, so it validates at once.
fn receipt(origin: &str) -> Value {
    json!([{"picking_type_id": 1, "location_id": 4, "location_dest_id": 8, "origin": origin,
        "move_ids": [[0, 0, {"name": origin, "product_id": 17, "product_uom_qty": 2, "product_uom": 1,
            "location_id": 4, "location_dest_id": 8, "origin": origin}]]}])
}

async fn pickings_with_origin(rpc: &Rpc, origin: &str) -> Vec<Value> {
    let found = rpc
        .call(
            "stock.picking",
            "search_read",
            json!([[["origin", "=", origin]]]),
            json!({"fields": ["name", "state"]}),
        )
        .await;
    found.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_http_500_has_no_effect_and_the_retry_creates_once() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").once(),
        kind: FaultKind::Http500,
    });
    let first = rpc
        .try_call("stock.picking", "create", receipt("RE/site/e1"), json!({}))
        .await;
    let status = first.expect_err("a 500 is an HTTP error").status().map(|s| s.as_u16());
    assert_eq!(status, Some(500));
    assert!(pickings_with_origin(&rpc, "RE/site/e1").await.is_empty());
    rpc.call("stock.picking", "create", receipt("RE/site/e1"), json!({}))
        .await;
    assert_eq!(pickings_with_origin(&rpc, "RE/site/e1").await.len(), 1);
    assert_eq!(odoo.calls("stock.picking", "create"), 2);
    let log = odoo.mutations();
    assert_eq!(log.iter().filter(|m| m.committed).count(), 1);
    assert!(!log[0].committed);
}

#[tokio::test]
async fn a_late_answer_times_out_although_the_effect_happened() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    // Generous for the calls that answer (a loaded CI machine), far below the injected delay.
    let rpc = Rpc::new(&odoo).with_timeout(Duration::from_secs(2));
    odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").once(),
        kind: FaultKind::Delay(Duration::from_secs(20)),
    });
    let err = rpc
        .try_call("stock.picking", "create", receipt("RE/site/e2"), json!({}))
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        pickings_with_origin(&rpc, "RE/site/e2").await.len(),
        1,
        "the effect is there"
    );
    let created = &odoo.committed()[0];
    assert_eq!(created.delivery, Delivery::Late(Duration::from_secs(20)));
}

#[tokio::test]
async fn commit_then_drop_loses_the_answer_after_the_effect() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").once(),
        kind: FaultKind::CommitThenDrop,
    });
    let err = rpc
        .try_call("stock.picking", "create", receipt("RE/site/e3"), json!({}))
        .await
        .expect_err("dropped");
    assert!(
        !err.is_timeout() && err.status().is_none(),
        "the connection closed without an answer: {err}"
    );
    // The step machine's read-before-act finds the effect and does not create twice.
    let found = pickings_with_origin(&rpc, "RE/site/e3").await;
    assert_eq!(found.len(), 1);
    let log = odoo.mutations();
    assert_eq!(log.len(), 1);
    assert!(log[0].committed);
    assert_eq!(log[0].delivery, Delivery::Dropped);
    assert_eq!(json!(log[0].ids), json!([found[0]["id"]]));
}

#[tokio::test]
async fn a_serialization_failure_is_an_error_payload_without_effect() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    let id = rpc
        .call("stock.picking", "create", receipt("RE/site/e4"), json!({}))
        .await;
    rpc.call("stock.picking", "action_confirm", json!([[id]]), json!({}))
        .await;
    odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "button_validate").once(),
        kind: FaultKind::SerializationFailure,
    });
    let error = rpc
        .fail("stock.picking", "button_validate", json!([[id]]), json!({}))
        .await;
    assert_eq!(error["name"], "psycopg2.errors.SerializationFailure");
    assert_eq!(
        error["message"],
        "could not serialize access due to concurrent update\n"
    );
    assert_eq!(pickings_with_origin(&rpc, "RE/site/e4").await[0]["state"], "assigned");
    assert_eq!(
        rpc.call("stock.picking", "button_validate", json!([[id]]), json!({}))
            .await,
        json!(true)
    );
    assert_eq!(pickings_with_origin(&rpc, "RE/site/e4").await[0]["state"], "done");
}

#[tokio::test]
async fn access_denied_and_user_error_faults_carry_odoo_payloads() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    odoo.inject(Fault {
        matcher: CallMatcher::call("res.partner", "search").once(),
        kind: FaultKind::AccessDenied,
    });
    odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").once(),
        kind: FaultKind::UserError("The warehouse is closed.".into()),
    });
    let denied = rpc
        .fail("res.partner", "search", json!([[]]), json!({"limit": 1}))
        .await;
    assert_eq!(
        (denied["name"].as_str(), denied["message"].as_str()),
        (Some("odoo.exceptions.AccessDenied"), Some("Access Denied"))
    );
    let refused = rpc
        .fail("stock.picking", "create", receipt("RE/site/e5"), json!({}))
        .await;
    assert_eq!(refused["name"], "odoo.exceptions.UserError");
    assert_eq!(refused["arguments"], json!(["The warehouse is closed."]));
    assert!(pickings_with_origin(&rpc, "RE/site/e5").await.is_empty());
}

#[tokio::test]
async fn only_the_nth_matching_call_is_hit() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    odoo.inject(Fault {
        matcher: CallMatcher {
            model: Some("res.partner"),
            method: Some("search"),
            nth: Some(2),
            times: 1,
        },
        kind: FaultKind::SerializationFailure,
    });
    rpc.call("stock.location", "search", json!([[]]), json!({})).await;
    rpc.call("res.partner", "search", json!([[]]), json!({})).await;
    rpc.fail("res.partner", "search", json!([[]]), json!({})).await;
    rpc.call("res.partner", "search", json!([[]]), json!({})).await;
    assert_eq!(odoo.pending_faults(), 0);
    assert_eq!(odoo.calls("res.partner", "search"), 3);
}

#[tokio::test]
async fn a_changed_password_denies_calls_and_login_answers_false() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    odoo.set_password("rotated");
    let denied = rpc.fail("res.partner", "search", json!([[]]), json!({})).await;
    assert_eq!(denied["name"], "odoo.exceptions.AccessDenied");
    let login = rpc.common("login", json!([odoo.db(), odoo.login(), "admin"])).await;
    assert_eq!(login["result"], json!(false));
    let login = rpc.common("login", json!([odoo.db(), odoo.login(), "rotated"])).await;
    assert_eq!(login["result"], json!(2));
    // An API key is accepted as the password, as on Odoo 14+.
    let with_key = Rpc {
        password: odoo.api_key().to_owned(),
        ..Rpc::new(&odoo)
    };
    with_key
        .call("res.partner", "search", json!([[]]), json!({"limit": 1}))
        .await;
}

#[tokio::test]
async fn a_down_server_answers_502_to_everything_and_counts_nothing() {
    let odoo = FakeOdoo::start(FakeOdooOptions {
        version: OdooVersion::V19,
        ..FakeOdooOptions::default()
    })
    .await;
    let rpc = Rpc::new(&odoo);
    odoo.set_down(true);
    let rpc_status = rpc
        .send(&json!({"jsonrpc": "2.0", "method": "call", "params": {}}))
        .await
        .expect("answer")
        .status();
    assert_eq!(rpc_status.as_u16(), 502);
    let json2 = rpc
        .client
        .post(format!("{}/json/2/res.partner/search", odoo.url()))
        .bearer_auth(odoo.api_key())
        .json(&json!({"domain": []}))
        .send()
        .await
        .expect("answer");
    assert_eq!(json2.status().as_u16(), 502);
    assert_eq!(odoo.total_calls(), 0);
    odoo.set_down(false);
    rpc.call("res.partner", "search", json!([[]]), json!({})).await;
}

#[tokio::test]
async fn an_unreachable_server_refuses_connections_then_comes_back_on_the_same_port() {
    let mut odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    rpc.call("res.partner", "search", json!([[]]), json!({})).await;
    odoo.set_unreachable(true).await;
    let err = rpc
        .try_call("res.partner", "search", json!([[]]), json!({}))
        .await
        .expect_err("refused");
    assert!(err.is_connect(), "{err}");
    odoo.set_unreachable(false).await;
    rpc.call("res.partner", "search", json!([[]]), json!({})).await;
}

#[tokio::test(start_paused = true)]
async fn the_odoo17_latency_model_follows_the_recorded_medians_in_virtual_time() {
    let odoo = FakeOdoo::start(FakeOdooOptions {
        latency: Latency::Odoo17,
        ..FakeOdooOptions::default()
    })
    .await;
    let rpc = Rpc::new(&odoo);
    let timed = |ms: u128| move |elapsed: Duration| (ms..ms + 5).contains(&elapsed.as_millis());
    let start = tokio::time::Instant::now();
    rpc.call("stock.picking", "search_read", json!([[]]), json!({"limit": 1}))
        .await;
    assert!(timed(21)(start.elapsed()), "search_read took {:?}", start.elapsed());
    let start = tokio::time::Instant::now();
    let fifty: Vec<Value> = (0..50)
        .map(|_| json!({"name": "t50", "product_id": 17, "product_uom_qty": 1, "location_id": 8, "location_dest_id": 18}))
        .collect();
    let ids = rpc.call("stock.move", "create", json!([fifty]), json!({})).await;
    assert_eq!(ids.as_array().map(Vec::len), Some(50));
    assert!(
        timed(96)(start.elapsed()),
        "50 moves in one create took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn every_write_moves_write_date_forward() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    let id = rpc
        .call("stock.picking", "create", receipt("RE/site/e6"), json!({}))
        .await;
    let mut dates = Vec::new();
    for n in 0..3 {
        rpc.call(
            "stock.picking",
            "write",
            json!([[id], {"origin": format!("RE/site/e6/{n}")}]),
            json!({}),
        )
        .await;
        let read = rpc
            .call(
                "stock.picking",
                "read",
                json!([[id]]),
                json!({"fields": ["write_date"]}),
            )
            .await;
        dates.push(read[0]["write_date"].as_str().unwrap_or_default().to_owned());
    }
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
}

#[tokio::test]
async fn json_rpc_can_be_switched_off_for_a_json2_only_server() {
    let odoo = FakeOdoo::start(FakeOdooOptions {
        version: OdooVersion::V19,
        protocols: Protocols::Json2,
        ..FakeOdooOptions::default()
    })
    .await;
    let rpc = Rpc::new(&odoo);
    let status = rpc
        .send(&json!({"jsonrpc": "2.0", "method": "call", "params": {}}))
        .await
        .expect("answer")
        .status();
    assert_eq!(status.as_u16(), 404);
}
