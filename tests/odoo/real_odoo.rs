//! What a run against a real Odoo 17 found and the fake now reproduces (transcripts 22–27): two
//! parcels of one return with answers lost, returns that land in WH/Stock, units that are gone
//! before their disposition, and serials. Each test fails on a sink that infers its effect from
//! a shared state instead of proving it.

use returns_edge::store::DeliveryState;
use returns_edge_fakes::odoo::{CallMatcher, Fault, FaultKind, NewProduct};
use serde_json::json;

use super::helpers::*;

const CABINET: &str = "E-COM07";
const BOX: &str = "E-COM08";

fn no_negative_quant(rig: &Rig) {
    let negative: Vec<_> = rig.odoo.quants().into_iter().filter(|q| q.quantity < -1e-9).collect();
    assert!(negative.is_empty(), "negative quants: {negative:?}");
}

/// Done quantity per product on one picking's moves.
fn done_on(rig: &Rig, picking: i64, product: i64) -> f64 {
    rig.odoo
        .moves()
        .into_iter()
        .filter(|m| m.picking_id == Some(picking) && m.product_id == product && m.state == "done")
        .map(|m| rig.odoo.move_quantity(m.id))
        .sum()
}

/// A return of 4 cabinets and 2 boxes arrives as two parcels posted back to back: 1 cabinet,
/// then 3 cabinets and 2 boxes. Whichever answer of the first parcel's receipt is lost (once or
/// twice), the first parcel is booked on the return picking and the second on its backorder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parcels_of_one_return_each_land_on_their_own_picking_whatever_answer_is_lost() {
    let steps: &[Option<(&str, &str)>] = &[
        None,
        Some(("stock.move", "write")),
        Some(("stock.picking", "button_validate")),
        Some(("stock.backorder.confirmation", "create")),
        Some(("stock.backorder.confirmation", "process")),
    ];
    for step in steps {
        for times in [1, 2] {
            let label = format!("{step:?} lost {times}×");
            let mut rig = rig("").await;
            let delivery = rig.odoo.ids().deliveries[0].picking_id;
            let ret = make_return(&rig.odoo, delivery, "RMA-P", None).await;
            if let Some((model, method)) = step {
                rig.odoo.inject(Fault {
                    matcher: CallMatcher::call(model, method).times(times),
                    kind: FaultKind::CommitThenDrop,
                });
            }
            let (_, first) = rig.receive(Some("RMA-P"), &[(CABINET, 1)]).await;
            let (_, second) = rig.receive(Some("RMA-P"), &[(CABINET, 3), (BOX, 2)]).await;
            rig.delivered(&[first, second]).await;

            let (cabinet, bx) = (rig.odoo.ids().large_cabinet, rig.odoo.ids().storage_box);
            let pickings = rig.odoo.pickings();
            let backorders: Vec<_> = pickings.iter().filter(|p| p.backorder_id == Some(ret)).collect();
            assert_eq!(backorders.len(), 1, "{label}: one backorder: {backorders:?}");
            let backorder = backorders[0].id;
            assert_eq!(done_on(&rig, ret, cabinet), 1.0, "{label}: parcel 1 on the return");
            assert_eq!(done_on(&rig, ret, bx), 0.0, "{label}: parcel 1 brought no box");
            assert_eq!(
                done_on(&rig, backorder, cabinet),
                3.0,
                "{label}: parcel 2 on the backorder"
            );
            assert_eq!(done_on(&rig, backorder, bx), 2.0, "{label}: parcel 2 on the backorder");
            let open: Vec<_> = pickings
                .iter()
                .filter(|p| p.origin.as_deref() == Some("RMA-P") && p.state != "done")
                .collect();
            assert!(open.is_empty(), "{label}: nothing of the RMA left open: {open:?}");
            let returns = rig.odoo.ids().returns_location.unwrap();
            assert_eq!(rig.odoo.quant(cabinet, returns), 4.0, "{label}");
            assert_eq!(rig.odoo.quant(bx, returns), 2.0, "{label}");
            no_negative_quant(&rig);
        }
    }
}

/// A picking validated in Odoo by someone else with other quantities is not this receipt's
/// delivery: dead letter, with the evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_validated_by_someone_else_with_other_quantities_is_not_called_delivered() {
    let mut rig = rig("").await;
    let delivery = rig.odoo.ids().deliveries[0].picking_id;
    let ret = make_return(&rig.odoo, delivery, "RMA-X", None).await;
    // The write of this parcel's quantities commits, its answer comes after the client gave up
    // (timeout 2 s); meanwhile a user receives the whole return in Odoo.
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.move", "write").once(),
        kind: FaultKind::Delay(std::time::Duration::from_secs(4)),
    });
    let (_, seq) = rig.receive(Some("RMA-X"), &[(CABINET, 1)]).await;
    let moves: Vec<i64> = rig
        .odoo
        .moves()
        .into_iter()
        .filter(|m| m.picking_id == Some(ret))
        .map(|m| m.id)
        .collect();
    // Wait until the receipt planned and wrote, then validate everything as a user would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while rig.committed_calls("stock.move", "write") == 0 {
        assert!(std::time::Instant::now() < deadline, "the receipt never wrote");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for m in &moves {
        let demand = rig
            .odoo
            .moves()
            .into_iter()
            .find(|x| x.id == *m)
            .unwrap()
            .product_uom_qty;
        rpc(
            &rig.odoo,
            "stock.move",
            "write",
            json!([[m], {"quantity": demand, "picked": true}]),
            json!({}),
        )
        .await;
    }
    rpc(&rig.odoo, "stock.picking", "button_validate", json!([[ret]]), json!({})).await;
    rig.settled(&[seq]).await;
    let reason = rig
        .dead_letter_reason(seq)
        .unwrap_or_else(|| panic!("not dead-lettered: {:?}", rig.state(seq)));
    assert!(
        reason.contains("validated in Odoo by someone else") && reason.contains("where this receipt wrote 1"),
        "{reason}"
    );
}

/// A user clicking *Return* in Odoo lands the goods in WH/Stock (transcript 22): the
/// dispositions move them from there, and a restock into WH/Stock needs no transfer at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_landing_in_stock_is_disposed_of_from_stock_and_its_restock_moves_nothing() {
    let mut rig = rig("").await;
    let ids = rig.odoo.ids().clone();
    let delivery = ids.deliveries[0].picking_id;
    let ret = make_return_to(&rig.odoo, delivery, "RMA-S", None, None).await;
    let landed = rig.odoo.pickings().into_iter().find(|p| p.id == ret).unwrap();
    assert_eq!(landed.location_dest_id, ids.stock_location, "Odoo's default: WH/Stock");
    let returns = ids.returns_location.unwrap();
    let (case, received) = rig.receive(Some("RMA-S"), &[(CABINET, 4), (BOX, 2)]).await;
    rig.delivered(&[received]).await;
    let stock_before = rig.odoo.quant(ids.large_cabinet, ids.stock_location);

    rig.inspect(case, 1).await;
    let refurbish = rig.dispose(case, 1, "refurbish").await;
    rig.delivered(&[refurbish]).await;
    let pickings = rig.pickings_for(refurbish);
    assert_eq!(pickings.len(), 1, "{pickings:?}");
    assert_eq!(
        pickings[0].location_id, ids.stock_location,
        "from where the receipt put them"
    );
    assert_eq!(pickings[0].state, "done");
    assert_eq!(rig.odoo.quant(ids.large_cabinet, ids.refurbish_location.unwrap()), 4.0);
    assert_eq!(
        rig.odoo.quant(ids.large_cabinet, ids.stock_location),
        stock_before - 4.0
    );
    assert_eq!(rig.odoo.quant(ids.large_cabinet, returns), 0.0, "WH/Returns untouched");

    rig.inspect(case, 2).await;
    let restock = rig.dispose(case, 2, "restock").await;
    rig.delivered(&[restock]).await;
    assert!(
        rig.pickings_for(restock).is_empty(),
        "restock into WH/Stock moves nothing"
    );
    let note = rig.store.delivery_status("odoo", restock).unwrap().unwrap().reason;
    assert!(note.as_deref().is_some_and(|n| n.contains("no transfer")), "{note:?}");
    no_negative_quant(&rig);
}

/// The units of a disposition were moved away in Odoo before it ran: Odoo cannot reserve the
/// transfer, and the sink says what the source holds instead of retrying forever (or forcing
/// the stock negative, transcript 23).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disposition_whose_units_are_gone_is_dead_lettered_with_what_the_source_holds() {
    let mut rig = rig("").await;
    let ids = rig.odoo.ids().clone();
    let returns = ids.returns_location.unwrap();
    make_return(&rig.odoo, ids.deliveries[0].picking_id, "RMA-G", None).await;
    let (case, received) = rig.receive(Some("RMA-G"), &[(CABINET, 1)]).await;
    rig.delivered(&[received]).await;
    assert_eq!(rig.odoo.quant(ids.large_cabinet, returns), 1.0);

    // Someone moves the unit back to WH/Stock in Odoo.
    let moved = rpc(
        &rig.odoo,
        "stock.picking",
        "create",
        json!([{"picking_type_id": ids.internal_type, "location_id": returns, "location_dest_id": ids.stock_location,
            "move_ids": [[0, 0, {"name": "by hand", "product_id": ids.large_cabinet, "product_uom_qty": 1,
                "product_uom": 1, "location_id": returns, "location_dest_id": ids.stock_location}]]}]),
        json!({}),
    )
    .await;
    let moved = moved.as_i64().unwrap();
    for method in ["action_confirm", "action_assign", "button_validate"] {
        rpc(&rig.odoo, "stock.picking", method, json!([[moved]]), json!({})).await;
    }
    assert_eq!(rig.odoo.quant(ids.large_cabinet, returns), 0.0);

    rig.inspect(case, 1).await;
    let seq = rig.dispose(case, 1, "refurbish").await;
    rig.settled(&[seq]).await;
    let reason = rig
        .dead_letter_reason(seq)
        .unwrap_or_else(|| panic!("not dead-lettered: {:?}", rig.state(seq)));
    assert!(
        reason.contains("WH/Returns holds 0") && reason.contains("E-COM07") && reason.contains("RMA-G"),
        "{reason}"
    );
    no_negative_quant(&rig);
    assert_eq!(rig.state(seq), Some(DeliveryState::DeadLettered));
}

/// Two returns of a serial-tracked product sit in WH/Returns; the disposition of the second
/// moves the serial its own parcel brought, not the first one Odoo would pick (transcript 27),
/// even when the answer to the transfer's create is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_tracked_disposition_moves_the_serial_its_parcel_brought() {
    let mut rig = rig("").await;
    let ids = rig.odoo.ids().clone();
    let returns = ids.returns_location.unwrap();
    let mut product = NewProduct::new("TX Serial Widget", "TX-SN", "TXSN0001");
    product.tracking = "serial".into();
    let sn = rig.odoo.add_product(product);
    for name in ["TX-SN-0001", "TX-SN-0002"] {
        let lot = rig.odoo.add_lot(sn, name);
        rig.odoo.set_quant(sn, ids.stock_location, Some(lot), 1.0);
    }
    let partner = rig.odoo.add_partner("Serial Customer");
    let first = rig.odoo.add_delivery(partner, &[(sn, 1.0)]).unwrap();
    let second = rig.odoo.add_delivery(partner, &[(sn, 1.0)]).unwrap();
    let ret1 = make_return(&rig.odoo, first.picking_id, "RMA-SN1", None).await;
    let ret2 = make_return(&rig.odoo, second.picking_id, "RMA-SN2", None).await;
    let lot_of = |rig: &Rig, picking: i64| {
        let moves: Vec<i64> = rig
            .odoo
            .moves()
            .into_iter()
            .filter(|m| m.picking_id == Some(picking))
            .map(|m| m.id)
            .collect();
        rig.odoo
            .move_lines()
            .into_iter()
            .find(|l| l.move_id.is_some_and(|m| moves.contains(&m)) && l.quantity > 0.0)
            .and_then(|l| l.lot_id)
            .expect("a serial on the line")
    };
    let (lot1, lot2) = (lot_of(&rig, ret1), lot_of(&rig, ret2));
    assert_ne!(lot1, lot2);

    let (_, r1) = rig.receive(Some("RMA-SN1"), &[("TX-SN", 1)]).await;
    let (case2, r2) = rig.receive(Some("RMA-SN2"), &[("TX-SN", 1)]).await;
    rig.delivered(&[r1, r2]).await;
    rig.inspect(case2, 1).await;
    // The transfer's create commits and its answer is lost: the retry must find it by origin,
    // not choose the serial again (its own picking has reserved it by then).
    rig.odoo.inject(Fault {
        matcher: CallMatcher::call("stock.picking", "create").once(),
        kind: FaultKind::CommitThenDrop,
    });
    let seq = rig.dispose(case2, 1, "refurbish").await;
    rig.delivered(&[seq]).await;

    let pickings = rig.pickings_for(seq);
    assert_eq!(pickings.len(), 1);
    assert_eq!(lot_of(&rig, pickings[0].id), lot2, "the serial parcel 2 brought");
    let at = |lot: i64, location: i64| -> f64 {
        rig.odoo
            .quants()
            .into_iter()
            .filter(|q| q.lot_id == Some(lot) && q.location_id == location)
            .map(|q| q.quantity)
            .sum()
    };
    assert_eq!(at(lot2, ids.refurbish_location.unwrap()), 1.0);
    assert_eq!(at(lot1, returns), 1.0, "the other case's serial stays");
    no_negative_quant(&rig);
}
