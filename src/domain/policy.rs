//! The site's return policy and the rules it applies: flags at receipt (return window, weight
//! check, serial check, high value, unexpected parcel), the default disposition of a grade, who
//! may dispose, and the refund decision (percentages per grade, restocking fee, which flags hold
//! the refund until a supervisor clears them).
//!
//! Every rule that decides something says so in a [`RuleHit`] that is stored with the event, so
//! an auditor reads "refund 85% by rule grade_B_fee" next to the decision instead of
//! reconstructing it from a policy file that may have changed since.
//!
//! Pure: time is passed in, the expected return is a snapshot taken at receipt.

use serde::{Deserialize, Serialize};

use super::case::{Case, Flag, Line};
use super::expected::{ExpectedLine, ExpectedReturn};
use super::grading::{Disposition, Grade};
use super::ids::EventId;
use super::values::{Grams, LineNo, Serial, Sku};

/// One day in milliseconds.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// When the refund of a case is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOn {
    /// Once every received unit is inspected: the grades set the percentages.
    Inspection,
    /// At receipt, before inspection, at `receipt_refund_percent` (trusted customers, low risk).
    Receipt,
}

/// The weight check: expected = Σ unit weight × units + packaging allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightCheck {
    /// Added to the products' weight for the box and filling.
    pub packaging_allowance_g: u32,
    /// Allowed deviation in percent of the expected weight.
    pub tolerance_percent: u32,
    /// Allowed deviation never below this (small parcels, scale resolution).
    pub tolerance_min_g: u32,
}

/// What a grade means: its default disposition and its refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeRule {
    pub grade: Grade,
    /// Suggested to the inspector and used when a disposition names none.
    pub disposition: Disposition,
    /// Refund before the fee, 0–100.
    pub refund_percent: u8,
    /// Deducted from `refund_percent` (percentage points), 0–100.
    pub restocking_fee_percent: u8,
    /// The name audits show; `grade_<G>` (or `grade_<G>_fee` with a fee) when not set.
    pub name: Option<String>,
}

impl GradeRule {
    /// The rule's name as audits show it.
    pub fn rule_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None if self.restocking_fee_percent > 0 => format!("grade_{}_fee", self.grade),
            None => format!("grade_{}", self.grade),
        }
    }

    /// The refund percentage after the restocking fee.
    pub fn net_percent(&self) -> u8 {
        self.refund_percent.saturating_sub(self.restocking_fee_percent)
    }
}

/// Site policy that `decide` consults. Loaded from `config/policy.toml` (see `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Dispositions only a supervisor may give.
    pub supervisor_dispositions: Vec<Disposition>,
    /// Days after delivery a return is accepted without `late_return`; `None`: no window.
    pub return_window_days: Option<u32>,
    /// The weight check; `None`: weights are recorded, not judged.
    pub weight: Option<WeightCheck>,
    /// One rule per grade (all five grades; the loader checks).
    pub grades: Vec<GradeRule>,
    /// Parcels whose value (Σ unit price × units) reaches this, in minor units, need a
    /// supervisor for dispositions and (with `high_value` in `refund_blocking_flags`) the refund.
    pub high_value_minor: Option<u64>,
    /// Open flags that hold the refund decision until a supervisor clears them.
    pub refund_blocking_flags: Vec<Flag>,
    /// When the refund is decided.
    pub refund_on: RefundOn,
    /// Refund percentage when `refund_on = receipt`.
    pub receipt_refund_percent: u8,
}

impl Default for Policy {
    /// The policy of `config/policy.toml` as shipped (a test holds the two together).
    fn default() -> Self {
        let rule = |grade, disposition, refund_percent, restocking_fee_percent| GradeRule {
            grade,
            disposition,
            refund_percent,
            restocking_fee_percent,
            name: None,
        };
        Self {
            // Scrap, liquidate and donate: the ones that write stock off.
            supervisor_dispositions: vec![Disposition::Scrap, Disposition::Liquidate, Disposition::Donate],
            return_window_days: Some(30),
            weight: Some(WeightCheck {
                packaging_allowance_g: 150,
                tolerance_percent: 10,
                tolerance_min_g: 50,
            }),
            grades: vec![
                rule(Grade::A, Disposition::Restock, 100, 0),
                rule(Grade::B, Disposition::OpenBox, 100, 15),
                rule(Grade::C, Disposition::Refurbish, 70, 0),
                rule(Grade::D, Disposition::ReturnToVendor, 30, 0),
                rule(Grade::F, Disposition::Recycle, 0, 0),
            ],
            high_value_minor: Some(100_000),
            refund_blocking_flags: vec![
                Flag::LateReturn,
                Flag::WeightMismatch,
                Flag::SerialMismatch,
                Flag::WrongItem,
                Flag::EmptyBox,
                Flag::UnexpectedParcel,
                Flag::HighValue,
            ],
            refund_on: RefundOn::Inspection,
            receipt_refund_percent: 100,
        }
    }
}

impl Policy {
    /// The rule for `grade`. The loader guarantees one per grade; a policy built by hand
    /// without it gets a rule that refunds nothing and quarantines, the safe side.
    pub fn grade(&self, grade: Grade) -> GradeRule {
        self.grades
            .iter()
            .find(|r| r.grade == grade)
            .cloned()
            .unwrap_or(GradeRule {
                grade,
                disposition: Disposition::Quarantine,
                refund_percent: 0,
                restocking_fee_percent: 0,
                name: Some(format!("grade_{grade}_missing")),
            })
    }
}

/// One rule that decided something, as stored with the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    /// The rule's name (`return_window`, `weight_check`, `grade_B_fee`, …).
    pub rule: String,
    /// What it decided, for people: "weight_mismatch: 120 g weighed, 1450 g ± 145 g expected".
    pub decided: String,
}

impl RuleHit {
    fn new(rule: impl Into<String>, decided: impl Into<String>) -> Self {
        RuleHit {
            rule: rule.into(),
            decided: decided.into(),
        }
    }
}

/// What the receipt rules see.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptFacts<'a> {
    pub weight: Option<Grams>,
    pub lines: &'a [super::case::NewLine],
    pub expected: Option<&'a ExpectedReturn>,
    /// Whether an RMA cache is in use: only then is a parcel nobody expected "unexpected".
    pub expectations_known: bool,
    /// Whether the station named an RMA (known to the station, perhaps newer than the cache).
    pub rma_given: bool,
    pub received_at_ms: u64,
}

/// Flags the receipt rules raise, and the rules that decided (including checks that passed or
/// could not run, so the audit says why no flag was raised).
pub fn receipt_rules(policy: &Policy, facts: &ReceiptFacts<'_>) -> (Vec<Flag>, Vec<RuleHit>) {
    let mut flags = Vec::new();
    let mut hits = Vec::new();
    let Some(expected) = facts.expected else {
        if facts.expectations_known && !facts.rma_given {
            flags.push(Flag::UnexpectedParcel);
            hits.push(RuleHit::new(
                "expected_return",
                "unexpected_parcel: no expected return matches the label",
            ));
        }
        return (flags, hits);
    };
    if let Some(days) = policy.return_window_days {
        match expected.delivered_at_ms {
            Some(delivered) => {
                let deadline = delivered.saturating_add(u64::from(days).saturating_mul(DAY_MS));
                let age_days = facts.received_at_ms.saturating_sub(delivered) / DAY_MS;
                if facts.received_at_ms > deadline {
                    flags.push(Flag::LateReturn);
                    hits.push(RuleHit::new(
                        "return_window",
                        format!("late_return: received {age_days} day(s) after delivery, window {days} day(s)"),
                    ));
                } else {
                    hits.push(RuleHit::new(
                        "return_window",
                        format!("in time: received {age_days} day(s) after delivery, window {days} day(s)"),
                    ));
                }
            }
            None => hits.push(RuleHit::new("return_window", "not checked: delivery date unknown")),
        }
    }
    if let (Some(check), Some(weight)) = (policy.weight, facts.weight) {
        let (flag, hit) = weight_rule(check, weight, facts.lines, expected);
        flags.extend(flag);
        hits.push(hit);
    }
    for (index, line) in facts.lines.iter().enumerate() {
        let (Some(serial), Some(sold)) = (
            &line.serial,
            expected.line_for(line.sku.as_ref(), line.barcode.as_ref()),
        ) else {
            continue;
        };
        if !sold.serials.is_empty() && !sold.serials.contains(serial) {
            if !flags.contains(&Flag::SerialMismatch) {
                flags.push(Flag::SerialMismatch);
            }
            hits.push(RuleHit::new(
                "serial_check",
                format!(
                    "serial_mismatch: line {} serial {serial} was not sold on this order",
                    index + 1
                ),
            ));
        }
    }
    if let Some(threshold) = policy.high_value_minor {
        if let Some(value) = receipt_value(facts.lines, expected) {
            if value >= threshold {
                flags.push(Flag::HighValue);
                hits.push(RuleHit::new(
                    "high_value",
                    format!("high_value: parcel value {value} ≥ threshold {threshold} (minor units)"),
                ));
            }
        }
    }
    (flags, hits)
}

fn weight_rule(
    check: WeightCheck,
    weight: Grams,
    lines: &[super::case::NewLine],
    expected: &ExpectedReturn,
) -> (Option<Flag>, RuleHit) {
    let mut products: u64 = 0;
    for (index, line) in lines.iter().enumerate() {
        let unit = expected
            .line_for(line.sku.as_ref(), line.barcode.as_ref())
            .and_then(|l| l.unit_weight_g);
        match unit {
            Some(unit) => products = products.saturating_add(unit.saturating_mul(u64::from(line.qty.get()))),
            None => {
                return (
                    None,
                    RuleHit::new(
                        "weight_check",
                        format!("not checked: no product weight known for line {}", index + 1),
                    ),
                )
            }
        }
    }
    let expected_g = products.saturating_add(u64::from(check.packaging_allowance_g));
    let tolerance =
        (expected_g.saturating_mul(u64::from(check.tolerance_percent)) / 100).max(u64::from(check.tolerance_min_g));
    let weighed = u64::from(weight.get());
    let deviation = weighed.abs_diff(expected_g);
    if deviation > tolerance {
        (
            Some(Flag::WeightMismatch),
            RuleHit::new(
                "weight_check",
                format!("weight_mismatch: {weighed} g weighed, {expected_g} g ± {tolerance} g expected"),
            ),
        )
    } else {
        (
            None,
            RuleHit::new(
                "weight_check",
                format!("within tolerance: {weighed} g weighed, {expected_g} g ± {tolerance} g expected"),
            ),
        )
    }
}

/// Σ unit price × units of the received lines; `None` when a price is unknown.
fn receipt_value(lines: &[super::case::NewLine], expected: &ExpectedReturn) -> Option<u64> {
    lines.iter().try_fold(0u64, |sum, line| {
        let price = expected
            .line_for(line.sku.as_ref(), line.barcode.as_ref())?
            .unit_price_minor?;
        Some(sum.saturating_add(price.saturating_mul(u64::from(line.qty.get()))))
    })
}

/// Whether the case's value reached the high-value threshold at receipt (the flag records it;
/// a cleared flag still means high value: dispositions stay with supervisors).
pub fn is_high_value(case: &Case) -> bool {
    case.flags.iter().any(|r| r.flag == Flag::HighValue)
}

/// The serial check at inspection: a serial read on the item that the order never sold.
pub fn serial_sold_elsewhere(case: &Case, line: &Line, serial: &Serial) -> bool {
    expected_line(case, line).is_some_and(|sold| !sold.serials.is_empty() && !sold.serials.contains(serial))
}

fn expected_line<'a>(case: &'a Case, line: &Line) -> Option<&'a ExpectedLine> {
    case.expected
        .as_ref()?
        .line_for(line.sku.as_ref(), line.barcode.as_ref())
}

/// The default disposition for a grade, with the rule that suggests it.
pub fn suggested_disposition(policy: &Policy, grade: Grade) -> (Disposition, RuleHit) {
    let rule = policy.grade(grade);
    let hit = RuleHit::new(
        rule.rule_name(),
        format!("suggest {} for grade {grade}", rule.disposition),
    );
    (rule.disposition, hit)
}

/// A refund decided for a case: what the central refund service is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDecision {
    /// The decision this one replaces (a correction changed it); the receiver reverses or
    /// adjusts that one. Its own event id is the new decision's idempotency key.
    pub supersedes: Option<EventId>,
    /// What the decision was based on.
    pub basis: RefundOn,
    /// One entry per inspection record (or per line when decided at receipt).
    pub lines: Vec<RefundLine>,
    /// ISO 4217 code of the amounts.
    pub currency: Option<String>,
    /// Σ line amounts; `None` when any unit price is unknown (the receiver prices it).
    pub total_minor: Option<u64>,
    /// Flags a supervisor cleared before this decision could be made.
    pub cleared_flags: Vec<Flag>,
}

/// One refunded (or not refunded) group of units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub line: LineNo,
    pub sku: Option<Sku>,
    pub qty: u32,
    /// The grade the units got; `None` when decided at receipt.
    pub grade: Option<Grade>,
    /// The inspection that graded them.
    pub inspection: Option<EventId>,
    /// Refund percentage after fees.
    pub percent: u8,
    /// `qty × unit price × percent / 100`, rounded down; `None` when the price is unknown.
    pub amount_minor: Option<u64>,
    /// The rule that set the percentage, with its wording: "refund 85% by rule grade_B_fee".
    pub rule: RuleHit,
}

impl RefundDecision {
    /// Same content, ignoring which decision it replaces: a decision is only emitted when this
    /// changes, so a correction that changes nothing sends nothing.
    /// Which inspection graded the units is provenance, not terms: a correction to the same
    /// grade changes it and nothing else.
    fn same_terms(&self, other: &RefundDecision) -> bool {
        let terms = |d: &RefundDecision| -> Vec<RefundLine> {
            d.lines
                .iter()
                .map(|l| RefundLine {
                    inspection: None,
                    ..l.clone()
                })
                .collect()
        };
        self.basis == other.basis
            && terms(self) == terms(other)
            && self.currency == other.currency
            && self.total_minor == other.total_minor
    }
}

/// The refund decision the case calls for now, if it differs from the last one made.
///
/// `None` when: the case matched no expected return (nothing to refund against); the policy's
/// moment has not come (units left to inspect); a refund-blocking flag is open; or the last
/// decision already says the same.
pub fn refund_due(policy: &Policy, case: &Case) -> Option<RefundDecision> {
    let expected = case.expected.as_ref()?;
    if case.closed || case.lines.is_empty() {
        return None;
    }
    if case
        .flags
        .iter()
        .any(|r| r.cleared_by.is_none() && policy.refund_blocking_flags.contains(&r.flag))
    {
        return None;
    }
    let price = |line: &Line| {
        expected
            .line_for(line.sku.as_ref(), line.barcode.as_ref())?
            .unit_price_minor
    };
    let amount = |line: &Line, qty: u32, percent: u8| {
        price(line).map(|p| p.saturating_mul(u64::from(qty)).saturating_mul(u64::from(percent)) / 100)
    };
    let mut lines = Vec::new();
    match policy.refund_on {
        RefundOn::Receipt => {
            let percent = policy.receipt_refund_percent;
            for line in &case.lines {
                lines.push(RefundLine {
                    line: line.number,
                    sku: line.sku.clone(),
                    qty: line.received,
                    grade: None,
                    inspection: None,
                    percent,
                    amount_minor: amount(line, line.received, percent),
                    rule: RuleHit::new(
                        "refund_on_receipt",
                        format!("refund {percent}% by rule refund_on_receipt"),
                    ),
                });
            }
        }
        RefundOn::Inspection => {
            if case.lines.iter().any(|l| l.uninspected() > 0) {
                return None;
            }
            for line in &case.lines {
                for record in line.inspections.iter().filter(|r| r.superseded_by.is_none()) {
                    let rule = policy.grade(record.grade);
                    let percent = rule.net_percent();
                    let name = rule.rule_name();
                    lines.push(RefundLine {
                        line: line.number,
                        sku: line.sku.clone(),
                        qty: record.qty,
                        grade: Some(record.grade),
                        inspection: Some(record.event),
                        percent,
                        amount_minor: amount(line, record.qty, percent),
                        rule: RuleHit::new(name.clone(), format!("refund {percent}% by rule {name}")),
                    });
                }
            }
        }
    }
    let total_minor = lines
        .iter()
        .try_fold(0u64, |sum, l| Some(sum.saturating_add(l.amount_minor?)));
    let cleared_flags = case
        .flags
        .iter()
        .filter(|r| r.cleared_by.is_some() && policy.refund_blocking_flags.contains(&r.flag))
        .map(|r| r.flag)
        .collect();
    let decision = RefundDecision {
        supersedes: case.refund.as_ref().map(|r| r.event),
        basis: policy.refund_on,
        lines,
        currency: expected.currency.clone(),
        total_minor,
        cleared_flags,
    };
    match &case.refund {
        Some(last) if last.decision.same_terms(&decision) => None,
        _ => Some(decision),
    }
}
