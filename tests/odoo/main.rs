//! The Odoo sink against the faithful fake Odoo 17: every scenario asserts the exact records in
//! Odoo afterwards, and each is also played with a response lost after Odoo committed it.

mod helpers;
mod real_odoo;
mod server;

use std::time::Duration;

use helpers::*;
use returns_edge::store::DeliveryState;
use returns_edge_fakes::odoo::{CallMatcher, Fault, FaultKind};

const CABINET: &str = "E-COM07";
const BOX: &str = "E-COM08";

fn done(p: &returns_edge_fakes::odoo::Picking) -> bool {
    p.state == "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_return_validates_the_rma_picking_once() {
    let mut rig = rig("").await;
    let delivery = rig.odoo.ids().deliveries[0].picking_id;
    let ret = make_return(&rig.odoo, delivery, "RMA-1", None).await;
    let (_, seq) = rig.receive(Some("RMA-1"), &[(CABINET, 4), (BOX, 2)]).await;
    rig.delivered(&[seq]).await;
    let picking = rig.odoo.pickings().into_iter().find(|p| p.id == ret).unwrap();
    assert!(done(&picking), "{picking:?}");
    let backorders: Vec<_> = rig
        .odoo
        .pickings()
        .into_iter()
        .filter(|p| p.backorder_id == Some(ret))
        .collect();
    assert!(backorders.is_empty(), "a full return leaves no backorder");
    let cabinet = rig.odoo.ids().large_cabinet;
    let returns = rig.odoo.ids().returns_location.unwrap();
    assert_eq!(rig.odoo.quant(cabinet, returns), 4.0);
    assert_eq!(rig.committed_calls("stock.picking", "button_validate"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_return_keeps_a_backorder_and_the_next_parcel_completes_it() {
    let mut rig = rig("").await;
    let delivery = rig.odoo.ids().deliveries[0].picking_id;
    let ret = make_return(&rig.odoo, delivery, "RMA-2", None).await;
    let (_, first) = rig.receive(Some("RMA-2"), &[(CABINET, 3), (BOX, 2)]).await;
    rig.delivered(&[first]).await;
    let backorder = rig
        .odoo
        .pickings()
        .into_iter()
        .find(|p| p.backorder_id == Some(ret))
        .expect("backorder kept");
    assert_eq!(
        backorder.origin.as_deref(),
        Some("RMA-2"),
        "the backorder inherits the RMA reference"
    );
    assert_eq!(backorder.state, "assigned");

    let (_, second) = rig.receive(Some("RMA-2"), &[(CABINET, 1)]).await;
    rig.delivered(&[second]).await;
    let pickings = rig.odoo.pickings();
    assert!(done(pickings.iter().find(|p| p.id == ret).unwrap()));
    assert!(
        done(pickings.iter().find(|p| p.id == backorder.id).unwrap()),
        "second parcel goes to the backorder"
    );
    let cabinet = rig.odoo.ids().large_cabinet;
    assert_eq!(rig.odoo.quant(cabinet, rig.odoo.ids().returns_location.unwrap()), 4.0);
    assert_eq!(
        pickings.iter().filter(|p| p.backorder_id.is_some()).count(),
        1,
        "no second backorder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_return_cancels_the_rest_when_configured() {
    let mut rig = rig("backorder = \"cancel\"\n").await;
    let delivery = rig.odoo.ids().deliveries[0].picking_id;
    let ret = make_return(&rig.odoo, delivery, "RMA-3", None).await;
    let (_, seq) = rig.receive(Some("RMA-3"), &[(CABINET, 1)]).await;
    rig.delivered(&[seq]).await;
    let pickings = rig.odoo.pickings();
    assert!(done(pickings.iter().find(|p| p.id == ret).unwrap()));
    assert!(
        pickings.iter().all(|p| p.backorder_id != Some(ret)),
        "no backorder when cancelling"
    );
    let cabinet = rig.odoo.ids().large_cabinet;
    assert_eq!(rig.odoo.quant(cabinet, rig.odoo.ids().returns_location.unwrap()), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_is_created_from_the_original_delivery_when_configured_even_after_a_lost_answer() {
    for lost in [
        None,
        Some(("stock.return.picking", "create_returns")),
        Some(("stock.picking", "write")),
    ] {
        let mut rig = rig("rma_from_delivery = true\n").await;
        let delivery = rig.odoo.ids().deliveries[0].clone();
        if let Some((model, method)) = lost {
            rig.odoo.inject(Fault {
                matcher: CallMatcher::call(model, method).once(),
                kind: FaultKind::CommitThenDrop,
            });
        }
        let (_, seq) = rig
            .receive(Some(&delivery.sale_order_name), &[(CABINET, 4), (BOX, 2)])
            .await;
        rig.delivered(&[seq]).await;
        let returns: Vec<_> = rig
            .odoo
            .pickings()
            .into_iter()
            .filter(|p| p.return_id == Some(delivery.picking_id))
            .collect();
        assert_eq!(returns.len(), 1, "{lost:?}: exactly one return: {returns:?}");
        assert!(done(&returns[0]), "{lost:?}");
        assert_eq!(returns[0].origin.as_deref(), Some(delivery.sale_order_name.as_str()));
        assert_eq!(
            rig.odoo
                .quant(rig.odoo.ids().large_cabinet, rig.odoo.ids().returns_location.unwrap()),
            4.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_for_an_unknown_rma_is_dead_lettered_with_the_reason() {
    let mut rig = rig("").await;
    let (_, seq) = rig.receive(Some("RMA-NOPE"), &[(CABINET, 1)]).await;
    rig.settled(&[seq]).await;
    let letter = rig.store.dead_letter_record("odoo", seq).unwrap().expect("dead letter");
    assert!(letter.reason.contains("RMA-NOPE"), "{}", letter.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_parcel_becomes_one_receipt_into_quarantine() {
    let mut rig = rig("").await;
    let (_, seq) = rig.receive(None, &[(CABINET, 2)]).await;
    rig.delivered(&[seq]).await;
    let pickings = rig.pickings_for(seq);
    assert_eq!(pickings.len(), 1, "{pickings:?}");
    let p = &pickings[0];
    assert!(done(p));
    assert_eq!(p.location_id, rig.odoo.ids().customers_location);
    assert_eq!(p.location_dest_id, rig.odoo.ids().quarantine_location.unwrap());
    assert_eq!(p.picking_type_id, rig.odoo.ids().receipts_type);
    assert_eq!(
        rig.odoo.quant(
            rig.odoo.ids().large_cabinet,
            rig.odoo.ids().quarantine_location.unwrap()
        ),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restock_refurbish_and_quarantine_are_internal_transfers_to_their_locations() {
    let mut rig = rig("").await;
    let ids = rig.odoo.ids().clone();
    let delivery = ids.deliveries[0].picking_id;
    make_return(&rig.odoo, delivery, "RMA-4", None).await;
    let (case, received) = rig
        .receive(Some("RMA-4"), &[(CABINET, 1), (CABINET, 1), (BOX, 2)])
        .await;
    let mut seqs = vec![received];
    for line in 1..=3 {
        rig.inspect(case, line).await;
    }
    seqs.push(rig.dispose(case, 1, "restock").await);
    seqs.push(rig.dispose(case, 2, "refurbish").await);
    seqs.push(rig.dispose(case, 3, "quarantine").await);
    rig.delivered(&seqs).await;
    let returns = ids.returns_location.unwrap();
    for (seq, dest) in [
        (seqs[1], ids.stock_location),
        (seqs[2], ids.refurbish_location.unwrap()),
        (seqs[3], ids.quarantine_location.unwrap()),
    ] {
        let pickings = rig.pickings_for(seq);
        assert_eq!(pickings.len(), 1, "exactly one transfer for event {seq}");
        let p = &pickings[0];
        assert!(done(p));
        assert_eq!(
            (p.location_id, p.location_dest_id, p.picking_type_id),
            (returns, dest, ids.internal_type)
        );
    }
    assert_eq!(rig.odoo.quant(ids.large_cabinet, returns), 0.0);
    assert_eq!(rig.odoo.quant(ids.large_cabinet, ids.refurbish_location.unwrap()), 1.0);
    assert_eq!(rig.odoo.quant(ids.storage_box, ids.quarantine_location.unwrap()), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrap_with_enough_stock_is_one_validated_scrap() {
    let mut rig = rig("").await;
    let (_, seq) = rig.walk(CABINET, 1, "scrap").await;
    rig.delivered(&[seq]).await;
    let scraps = rig.scraps_for(seq);
    assert_eq!(scraps.len(), 1);
    assert_eq!(scraps[0].state, "done");
    assert_eq!(
        scraps[0].location_id,
        rig.odoo.ids().quarantine_location.unwrap(),
        "no RMA: from quarantine"
    );
}

/// Odoo is the company's shared server: a delivery makes no call whose answer it already has.
/// No read of a picking or scrap this attempt has just created or found (their `create` or
/// search answered), none after a validation that answered `True`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_and_a_scrap_make_no_call_whose_answer_they_already_have() {
    let mut rig = rig("").await;
    let (received, disposed) = rig.walk(CABINET, 1, "scrap").await;
    rig.delivered(&[received, disposed]).await;
    assert!(done(&rig.pickings_for(received)[0]));
    assert_eq!(rig.scraps_for(disposed)[0].state, "done");
    let counts = rig.odoo.call_counts();
    let calls = |model: &str, method: &str| rig.odoo.calls(model, method);
    // The receipt: search_read, create, action_confirm, read (a receipt from customers is
    // `assigned` at once), read of its moves, write (picked), button_validate.
    assert_eq!(calls("stock.picking", "search_read"), 1, "{counts:?}");
    assert_eq!(calls("stock.picking", "create"), 1, "{counts:?}");
    assert_eq!(calls("stock.picking", "action_confirm"), 1, "{counts:?}");
    assert_eq!(calls("stock.picking", "read"), 1, "{counts:?}");
    assert_eq!(calls("stock.move", "read"), 1, "{counts:?}");
    assert_eq!(calls("stock.picking", "button_validate"), 1, "{counts:?}");
    // The scrap: search_read, create, action_validate.
    assert_eq!(calls("stock.scrap", "search_read"), 1, "{counts:?}");
    assert_eq!(calls("stock.scrap", "create"), 1, "{counts:?}");
    assert_eq!(calls("stock.scrap", "read"), 0, "{counts:?}");
    assert_eq!(calls("stock.scrap", "action_validate"), 1, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrap_without_enough_stock_is_refused_or_forced_as_configured() {
    // Refused: the draft scrap is removed and the entry dead-lettered with Odoo's words.
    let mut rig = rig("").await;
    let (received, _) = rig.walk(CABINET, 1, "restock").await;
    rig.delivered(&[received]).await;
    // The cabinet left quarantine with the restock; scrapping another from there finds nothing.
    let (case, r2) = rig.receive(None, &[(CABINET, 1)]).await;
    rig.delivered(&[r2]).await;
    let quarantine = rig.odoo.ids().quarantine_location.unwrap();
    rig.odoo.set_quant(rig.odoo.ids().large_cabinet, quarantine, None, 0.0);
    rig.inspect(case, 1).await;
    let scrap = rig.dispose(case, 1, "scrap").await;
    rig.settled(&[scrap]).await;
    let letter = rig
        .store
        .dead_letter_record("odoo", scrap)
        .unwrap()
        .expect("dead letter");
    assert!(letter.reason.contains("Insufficient Quantity"), "{}", letter.reason);
    assert!(
        rig.odoo.scraps().iter().all(|s| s.state == "done"),
        "no draft scrap left behind"
    );

    // Forced: Odoo's warning is confirmed and the stock goes negative.
    let mut rig = rig_with_config("scrap_insufficient = \"force\"\n").await;
    let (case, r) = rig.receive(None, &[(CABINET, 1)]).await;
    rig.delivered(&[r]).await;
    let quarantine = rig.odoo.ids().quarantine_location.unwrap();
    rig.odoo.set_quant(rig.odoo.ids().large_cabinet, quarantine, None, 0.0);
    rig.inspect(case, 1).await;
    let scrap = rig.dispose(case, 1, "scrap").await;
    rig.delivered(&[scrap]).await;
    let scraps = rig.scraps_for(scrap);
    assert_eq!(scraps.len(), 1);
    assert_eq!(scraps[0].state, "done");
    assert_eq!(rig.odoo.quant(rig.odoo.ids().large_cabinet, quarantine), -1.0);
}

async fn rig_with_config(extra: &str) -> Rig {
    rig(extra).await
}

/// Every state-changing call of every flow, with its response lost after Odoo committed it:
/// the retry must find the effect and never make a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_after_commit_at_any_step_never_makes_a_second_effect() {
    let steps: &[(&str, &str)] = &[
        ("stock.move", "write"),
        ("stock.picking", "button_validate"),
        ("stock.backorder.confirmation", "create"),
        ("stock.backorder.confirmation", "process"),
    ];
    for (model, method) in steps {
        let mut rig = rig("").await;
        let delivery = rig.odoo.ids().deliveries[0].picking_id;
        let ret = make_return(&rig.odoo, delivery, "RMA-L", None).await;
        rig.odoo.inject(Fault {
            matcher: CallMatcher::call(model, method).once(),
            kind: FaultKind::CommitThenDrop,
        });
        let (_, seq) = rig.receive(Some("RMA-L"), &[(CABINET, 3), (BOX, 2)]).await;
        rig.delivered(&[seq]).await;
        let pickings = rig.odoo.pickings();
        assert!(done(pickings.iter().find(|p| p.id == ret).unwrap()), "{model}.{method}");
        let backorders = pickings.iter().filter(|p| p.backorder_id == Some(ret)).count();
        assert_eq!(backorders, 1, "{model}.{method}: exactly one backorder");
        assert_eq!(
            rig.odoo
                .quant(rig.odoo.ids().large_cabinet, rig.odoo.ids().returns_location.unwrap()),
            3.0
        );
    }

    let transfer_steps: &[(&str, &str)] = &[
        ("stock.picking", "create"),
        ("stock.picking", "action_confirm"),
        ("stock.picking", "action_assign"),
        ("stock.move", "write"),
        ("stock.picking", "button_validate"),
    ];
    for (model, method) in transfer_steps {
        let mut rig = rig("").await;
        let (received, _) = rig.walk(CABINET, 1, "restock").await;
        rig.delivered(&[received]).await;
        rig.odoo.inject(Fault {
            matcher: CallMatcher::call(model, method).once(),
            kind: FaultKind::CommitThenDrop,
        });
        let (r2, d2) = rig.walk(CABINET, 2, "refurbish").await;
        rig.delivered(&[r2, d2]).await;
        for seq in [r2, d2] {
            let pickings = rig.pickings_for(seq);
            assert_eq!(
                pickings.len(),
                1,
                "{model}.{method}: one picking for event {seq}: {pickings:?}"
            );
            assert!(done(&pickings[0]), "{model}.{method}");
        }
        assert_eq!(
            rig.odoo
                .quant(rig.odoo.ids().large_cabinet, rig.odoo.ids().refurbish_location.unwrap()),
            2.0
        );
    }

    for (model, method) in [("stock.scrap", "create"), ("stock.scrap", "action_validate")] {
        let mut rig = rig("").await;
        rig.odoo.inject(Fault {
            matcher: CallMatcher::call(model, method).once(),
            kind: FaultKind::CommitThenDrop,
        });
        let (_, seq) = rig.walk(CABINET, 1, "scrap").await;
        rig.delivered(&[seq]).await;
        let scraps = rig.scraps_for(seq);
        assert_eq!(scraps.len(), 1, "{model}.{method}");
        assert_eq!(
            rig.odoo.quant(
                rig.odoo.ids().large_cabinet,
                rig.odoo.ids().quarantine_location.unwrap()
            ),
            0.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialization_failures_and_server_errors_are_retried_until_delivered() {
    let mut rig = rig("").await;
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").times(3),
        kind: FaultKind::SerializationFailure,
    });
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "button_validate").times(2),
        kind: FaultKind::Http500,
    });
    let (_, seq) = rig.receive(None, &[(CABINET, 1)]).await;
    rig.delivered(&[seq]).await;
    assert_eq!(rig.pickings_for(seq).len(), 1);
    let entry = rig.store.delivery_status("odoo", seq).unwrap().unwrap().entry;
    assert!(entry.attempts >= 5, "retries are counted: {}", entry.attempts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_down_for_a_long_time_drains_by_itself_when_it_is_back() {
    let mut rig = rig("").await;
    rig.odoo.set_unreachable(true).await;
    let mut seqs = Vec::new();
    for _ in 0..5 {
        seqs.push(rig.walk(CABINET, 1, "restock").await.1);
    }
    // Dozens of failed probes (the schedule is compressed: 20 ms to 200 ms).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = rig.handle.status();
    assert!(
        status
            .paused
            .as_ref()
            .is_some_and(|(why, _)| why.contains("unreachable")),
        "{status:?}"
    );
    assert!(seqs.iter().all(|s| rig.state(*s) == Some(DeliveryState::Pending)));
    rig.odoo.set_unreachable(false).await;
    rig.delivered(&seqs).await;
    assert!(rig.handle.status().paused.is_none());
    for seq in seqs {
        assert_eq!(rig.pickings_for(seq).len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_pause_the_sink_instead_of_dead_lettering() {
    let mut rig = rig("").await;
    rig.odoo.set_password("changed-by-someone");
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(rig.receive(None, &[(CABINET, 1)]).await.1);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = rig.handle.status();
    assert!(
        status.paused.as_ref().is_some_and(|(why, _)| why.contains("refused")),
        "{status:?}"
    );
    assert!(
        rig.store.dead_letters(None).unwrap().is_empty(),
        "credentials are a sink problem, not an entry's"
    );
    let password = rig.odoo.password();
    assert!(!format!("{status:?}").contains(&password));
    rig.odoo.set_password("admin");
    rig.delivered(&seqs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_error_dead_letters_and_a_replay_after_the_fix_delivers_once() {
    let mut rig = rig("").await;
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "button_validate").once(),
        kind: FaultKind::UserError("You cannot validate a transfer if no quantities are reserved.".into()),
    });
    let (_, seq) = rig.receive(None, &[(CABINET, 1)]).await;
    rig.settled(&[seq]).await;
    let letter = rig
        .store
        .dead_letter_record("odoo", seq)
        .unwrap()
        .expect("dead-lettered");
    assert!(
        letter.reason.contains("no quantities are reserved"),
        "{}",
        letter.reason
    );
    assert!(
        letter.entry.refs.contains_key("picking"),
        "the picking id is kept for the replay"
    );
    // "Fixed in Odoo": the fault was one-shot. Replay keeps the step: no second picking.
    assert!(rig.store.replay_dead_letter("odoo", seq).unwrap());
    rig.handle.reload();
    rig.delivered(&[seq]).await;
    assert_eq!(rig.pickings_for(seq).len(), 1);
    assert!(done(&rig.pickings_for(seq)[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pending_dispositions_are_created_in_one_call() {
    let mut rig = rig("").await;
    rig.odoo.set_unreachable(true).await;
    let mut receipts = Vec::new();
    let mut dispositions = Vec::new();
    for _ in 0..20 {
        let (r, d) = rig.walk(CABINET, 1, "restock").await;
        receipts.push(r);
        dispositions.push(d);
    }
    rig.odoo.set_unreachable(false).await;
    rig.delivered(&receipts).await;
    rig.delivered(&dispositions).await;
    let creates = rig
        .odoo
        .committed()
        .into_iter()
        .filter(|m| m.model == "stock.picking" && m.method == "create")
        .count();
    // 40 pickings (20 unexpected receipts, 20 transfers) in a handful of list creates.
    assert!(
        creates <= 8,
        "pickings were not batched: {creates} create calls for 40 pickings"
    );
    for seq in dispositions {
        assert_eq!(rig.pickings_for(seq).len(), 1);
        assert!(done(&rig.pickings_for(seq)[0]));
    }
}

/// Scraps pile up during an outage like any disposition: they are found and created in a few
/// list calls, even when the answer to such a create is lost after Odoo committed it, and each
/// disposition still ends as exactly one validated scrap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pending_scraps_are_created_together_and_each_validated_once() {
    let mut rig = rig("").await;
    rig.odoo.set_unreachable(true).await;
    let mut receipts = Vec::new();
    let mut scraps = Vec::new();
    for _ in 0..12 {
        let (r, d) = rig.walk(CABINET, 1, "scrap").await;
        receipts.push(r);
        scraps.push(d);
    }
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.scrap", "create").once(),
        kind: FaultKind::CommitThenDrop,
    });
    rig.odoo.set_unreachable(false).await;
    rig.delivered(&receipts).await;
    rig.delivered(&scraps).await;
    let creates = rig.odoo.calls("stock.scrap", "create");
    assert!(
        creates <= 4,
        "scraps were not batched: {creates} create calls for 12 scraps"
    );
    for seq in scraps {
        let made = rig.scraps_for(seq);
        assert_eq!(made.len(), 1, "one scrap for event {seq}: {made:?}");
        assert_eq!(made[0].state, "done");
    }
    assert_eq!(rig.odoo.calls("stock.scrap", "action_validate"), 12);
    assert_eq!(
        rig.odoo.quant(
            rig.odoo.ids().large_cabinet,
            rig.odoo.ids().quarantine_location.unwrap()
        ),
        0.0
    );
}
