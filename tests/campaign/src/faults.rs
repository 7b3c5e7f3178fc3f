//! The fault schedule: before each cycle, a few faults armed at random in the fake Odoo and the
//! fake refund receiver (5xx, slow answers past the edge's timeout, answers dropped after the
//! effect committed, serialization failures, a refusal now and then), and sometimes a whole sink
//! down for a stretch of cycles. Counts what was armed, by kind, for the summary.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use returns_edge_fakes::{CallMatcher, FakeOdoo, FakeRefund, Fault, FaultKind, RefundFault, RefundFaultKind};

/// The words an injected Odoo refusal carries, so its dead letter can be told apart.
pub const INJECTED: &str = "campaign-injected refusal";

/// What the fake refund receiver says when a `Refuse` fault fires.
const REFUND_REFUSAL: &str = "amount exceeds the order total";

/// Whether a dead letter's reason is one of the refusals this schedule injected (and nothing
/// else: a 422 for a key reused with another body is a broken promise, not a fault).
pub fn is_injected(reason: &str) -> bool {
    reason.contains(INJECTED) || reason.contains(REFUND_REFUSAL)
}

/// The Odoo calls faults are aimed at: every step of every flow.
const CALLS: [(&str, &str); 8] = [
    ("stock.picking", "search_read"),
    ("stock.picking", "create"),
    ("stock.picking", "button_validate"),
    ("stock.picking", "action_confirm"),
    ("stock.move", "write"),
    ("stock.scrap", "create"),
    ("stock.scrap", "action_validate"),
    ("stock.backorder.confirmation", "process"),
];

#[derive(Debug, Default)]
pub struct FaultLog {
    /// Armed faults by "sink: kind".
    pub armed: BTreeMap<String, u64>,
    pub odoo_down_cycles: u64,
    pub refund_down_cycles: u64,
    /// Injected Odoo refusals and refund 4xx: the dead letters the faults make inevitable.
    pub refusals: u64,
    odoo_down: bool,
}

impl FaultLog {
    fn count(&mut self, what: &str) {
        *self.armed.entry(what.to_owned()).or_default() += 1;
    }
}

/// Arms this cycle's faults.
pub fn arm(rng: &mut StdRng, odoo: &FakeOdoo, refund: &FakeRefund, log: &mut FaultLog) {
    // A sink down for a stretch: on with 5%, back on with 50% per cycle.
    let odoo_down = rng.gen_bool(0.05) || (log.odoo_down && rng.gen_bool(0.5));
    log.odoo_down = odoo_down;
    odoo.set_down(odoo_down);
    if odoo_down {
        log.odoo_down_cycles += 1;
    }
    let refund_down = rng.gen_bool(0.05);
    refund.set_down(refund_down);
    if refund_down {
        log.refund_down_cycles += 1;
    }
    for _ in 0..rng.gen_range(0..=3) {
        let (model, method) = CALLS[rng.gen_range(0..CALLS.len())];
        let (kind, name) = match rng.gen_range(0..100) {
            0..=29 => (FaultKind::Http500, "odoo: 500"),
            30..=49 => (FaultKind::SerializationFailure, "odoo: serialization failure"),
            50..=74 => (FaultKind::CommitThenDrop, "odoo: answer dropped after commit"),
            75..=96 => (
                // Past the edge's 2 s timeout half the time: committed, but the answer comes late.
                FaultKind::Delay(Duration::from_millis(rng.gen_range(200..3_000))),
                "odoo: slow answer",
            ),
            _ => {
                log.refusals += 1;
                (
                    FaultKind::UserError(format!("{INJECTED}: {model}.{method}")),
                    "odoo: UserError",
                )
            }
        };
        log.count(name);
        odoo.inject(Fault {
            matcher: CallMatcher::call(model, method).nth(rng.gen_range(1..=4)).once(),
            kind,
        });
    }
    for _ in 0..rng.gen_range(0..=2) {
        let (kind, name) = match rng.gen_range(0..100) {
            0..=29 => (RefundFaultKind::Http500, "refund: 500"),
            30..=49 => (RefundFaultKind::TooManyRequests { retry_after_secs: 1 }, "refund: 429"),
            50..=74 => (RefundFaultKind::CommitThenDrop, "refund: answer dropped after commit"),
            75..=96 => (
                RefundFaultKind::Delay(Duration::from_millis(rng.gen_range(200..3_000))),
                "refund: slow answer",
            ),
            _ => {
                log.refusals += 1;
                (RefundFaultKind::Refuse { status: 422 }, "refund: 422 refusal")
            }
        };
        log.count(name);
        refund.inject(RefundFault {
            nth: Some(rng.gen_range(1..=3)),
            times: 1,
            kind,
        });
    }
}

/// Ends every fault: sinks up, armed Odoo faults dropped (refund faults fire out harmlessly or
/// as counted refusals).
pub fn calm(odoo: &FakeOdoo, refund: &FakeRefund, log: &mut FaultLog) {
    log.odoo_down = false;
    odoo.set_down(false);
    odoo.clear_faults();
    refund.set_down(false);
}
