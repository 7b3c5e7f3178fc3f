//! Unit tests of the return policy: each rule at its boundary values, through `decide`, `apply`
//! and `follow_up` as ingest runs them. No IO.

use uuid::Uuid;

use super::*;

const DAY: u64 = 24 * 60 * 60 * 1000;
const DELIVERED: u64 = 1_790_000_000_000;

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn expected_line(code: &str, qty: u32, weight: Option<u64>, price: Option<u64>, serials: &[&str]) -> ExpectedLine {
    ExpectedLine {
        product_id: 1,
        sku: Some(sku(code)),
        barcode: None,
        name: format!("Product {code}"),
        qty,
        serials: serials.iter().map(|s| Serial::parse(s).unwrap()).collect(),
        serial_tracked: !serials.is_empty(),
        unit_weight_g: weight,
        unit_price_minor: price,
    }
}

fn expected(lines: Vec<ExpectedLine>) -> ExpectedReturn {
    ExpectedReturn {
        rma: RmaRef::parse("RMA-7").unwrap(),
        picking_id: 12,
        picking: "WH/IN/00012".into(),
        order: Some("S00042".into()),
        customer_ref: None,
        customer: Some("Deco Addict".into()),
        delivery: Some("WH/OUT/00007".into()),
        delivered_at_ms: Some(DELIVERED),
        tracking: Vec::new(),
        currency: Some("EUR".into()),
        lines,
        write_date_ms: DELIVERED,
    }
}

/// One 1 kg product at 100.00, expected 1150 g ± 115 g with the shipped policy.
fn kettle() -> ExpectedReturn {
    expected(vec![expected_line("KETTLE", 1, Some(1000), Some(10_000), &[])])
}

fn line(code: &str, qty: u32, serial: Option<&str>) -> NewLine {
    NewLine {
        sku: Some(sku(code)),
        barcode: None,
        qty: Qty::new(qty).unwrap(),
        serial: serial.map(|s| Serial::parse(s).unwrap()),
    }
}

fn receive(expected: Option<ExpectedReturn>, weight: Option<u32>, lines: Vec<NewLine>, at: u64) -> ReceiveParcel {
    ReceiveParcel {
        label: Barcode::parse("1Z999AA10123456784").unwrap(),
        weight: weight.map(|g| Grams::new(g).unwrap()),
        scale: None,
        rma: None,
        lines,
        expected: expected.map(Box::new),
        expectations_known: true,
        received_at_ms: at,
    }
}

/// A case driven through decide → apply → follow_up, as ingest does.
struct Case_ {
    policy: Policy,
    case: Option<Case>,
    n: u128,
    events: Vec<(EventId, CaseEvent)>,
}

impl Case_ {
    fn new(policy: Policy) -> Self {
        Case_ {
            policy,
            case: None,
            n: 0,
            events: Vec::new(),
        }
    }

    fn run(&mut self, role: Role, command: Command) -> Result<EventId, CaseError> {
        let event = decide(self.case.as_ref(), &command, &Actor { role }, &self.policy)?;
        let id = self.push(event);
        if let Some(next) = follow_up(self.case.as_ref().unwrap(), &self.policy) {
            self.push(next);
        }
        Ok(id)
    }

    fn push(&mut self, event: CaseEvent) -> EventId {
        self.n += 1;
        let id = EventId::from_uuid(Uuid::from_u128(self.n));
        self.case = Some(apply(
            self.case.take(),
            CaseId::from_uuid(Uuid::from_u128(0xCA5E)),
            id,
            &event,
        ));
        self.events.push((id, event));
        id
    }

    fn case(&self) -> &Case {
        self.case.as_ref().unwrap()
    }

    fn receipt(&self) -> (&[Flag], &[RuleHit]) {
        match &self.events[0].1 {
            CaseEvent::ParcelReceived { flags, rules, .. } => (flags, rules),
            other => panic!("not a receipt: {other:?}"),
        }
    }

    fn refunds(&self) -> Vec<(EventId, RefundDecision)> {
        self.events
            .iter()
            .filter_map(|(id, e)| match e {
                CaseEvent::RefundDecided { decision } => Some((*id, decision.clone())),
                _ => None,
            })
            .collect()
    }

    fn inspect(&mut self, line: u16, grade: Grade, corrects: Option<EventId>) -> Result<EventId, CaseError> {
        let role = if corrects.is_some() {
            Role::Supervisor
        } else {
            Role::Inspector
        };
        self.run(
            role,
            Command::Inspect(Inspect {
                line: LineNo::new(line).unwrap(),
                qty: None,
                grade,
                conditions: Vec::new(),
                serial: None,
                notes: None,
                corrects,
            }),
        )
    }

    fn clear(&mut self, flag: Flag) {
        self.run(Role::Supervisor, Command::ClearFlag(ClearFlag { flag, note: None }))
            .unwrap();
    }
}

fn received(policy: Policy, receipt: ReceiveParcel) -> Case_ {
    let mut c = Case_::new(policy);
    c.run(Role::Receiver, Command::Receive(receipt)).unwrap();
    c
}

fn flags_at(weight: u32) -> Vec<Flag> {
    received(
        Policy::default(),
        receive(Some(kettle()), Some(weight), vec![], DELIVERED + DAY),
    )
    .receipt()
    .0
    .to_vec()
}

#[test]
fn the_return_window_counts_whole_days_from_delivery_inclusive() {
    let at = |received_at| {
        let c = received(Policy::default(), receive(Some(kettle()), None, vec![], received_at));
        (c.receipt().0.to_vec(), c.receipt().1[0].clone())
    };
    let (flags, hit) = at(DELIVERED + 30 * DAY);
    assert!(flags.is_empty(), "{flags:?}");
    assert_eq!(hit.rule, "return_window");
    let (flags, hit) = at(DELIVERED + 30 * DAY + 1);
    assert_eq!(flags, [Flag::LateReturn]);
    assert!(
        hit.decided
            .starts_with("late_return: received 30 day(s) after delivery, window 30"),
        "{hit:?}"
    );

    let mut unknown = kettle();
    unknown.delivered_at_ms = None;
    let c = received(
        Policy::default(),
        receive(Some(unknown), None, vec![], DELIVERED + 400 * DAY),
    );
    assert!(c.receipt().0.is_empty());
    assert_eq!(c.receipt().1[0].decided, "not checked: delivery date unknown");

    let no_window = Policy {
        return_window_days: None,
        ..Policy::default()
    };
    let c = received(no_window, receive(Some(kettle()), None, vec![], DELIVERED + 400 * DAY));
    assert!(c.receipt().0.is_empty() && c.receipt().1.is_empty());
}

#[test]
fn the_weight_check_allows_the_tolerance_and_flags_one_gram_beyond() {
    // 1000 g + 150 g packaging = 1150 g; 10% = 115 g.
    assert!(flags_at(1265).is_empty());
    assert!(flags_at(1035).is_empty());
    assert_eq!(flags_at(1266), [Flag::WeightMismatch]);
    assert_eq!(flags_at(1034), [Flag::WeightMismatch]);
    // An empty box is the extreme case.
    assert_eq!(flags_at(0), [Flag::WeightMismatch]);
    let c = received(Policy::default(), receive(Some(kettle()), Some(120), vec![], DELIVERED));
    let hit = c.receipt().1.iter().find(|h| h.rule == "weight_check").unwrap();
    assert_eq!(hit.decided, "weight_mismatch: 120 g weighed, 1150 g ± 115 g expected");
}

#[test]
fn the_weight_tolerance_never_goes_below_its_minimum() {
    // 10 g + 150 g = 160 g; 10% is 16 g, below the 50 g minimum.
    let light = expected(vec![expected_line("CARD", 1, Some(10), None, &[])]);
    let at = |g| {
        received(
            Policy::default(),
            receive(Some(light.clone()), Some(g), vec![], DELIVERED),
        )
        .receipt()
        .0
        .to_vec()
    };
    assert!(at(210).is_empty());
    assert!(at(110).is_empty());
    assert_eq!(at(211), [Flag::WeightMismatch]);
    assert_eq!(at(109), [Flag::WeightMismatch]);
}

#[test]
fn the_weight_check_counts_units_and_skips_unknown_weights() {
    let two = expected(vec![
        expected_line("A", 2, Some(500), None, &[]),
        expected_line("B", 1, None, None, &[]),
    ]);
    // Only line A received, 2 units: 1000 + 150.
    let c = received(
        Policy::default(),
        receive(Some(two.clone()), Some(1150), vec![line("A", 2, None)], DELIVERED),
    );
    assert!(c.receipt().0.is_empty());
    // Line B has no weight: not judged, and the audit says why.
    let c = received(Policy::default(), receive(Some(two), Some(5), vec![], DELIVERED));
    assert!(c.receipt().0.is_empty());
    let hit = c.receipt().1.iter().find(|h| h.rule == "weight_check").unwrap();
    assert_eq!(hit.decided, "not checked: no product weight known for line 2");
}

#[test]
fn a_serial_the_order_never_sold_is_flagged_at_receipt_and_at_inspection() {
    let phone = expected(vec![expected_line("PHONE", 1, None, None, &["SN-1"])]);
    let c = received(
        Policy::default(),
        receive(
            Some(phone.clone()),
            None,
            vec![line("PHONE", 1, Some("SN-1"))],
            DELIVERED,
        ),
    );
    assert!(c.receipt().0.is_empty());
    let c = received(
        Policy::default(),
        receive(
            Some(phone.clone()),
            None,
            vec![line("PHONE", 1, Some("SN-2"))],
            DELIVERED,
        ),
    );
    assert_eq!(c.receipt().0, [Flag::SerialMismatch]);

    // Label only: the single sold serial is carried onto the line, and an inspection reading
    // another serial raises the flag.
    let mut c = received(Policy::default(), receive(Some(phone), None, vec![], DELIVERED));
    assert_eq!(c.case().lines[0].serial.as_ref().unwrap().as_str(), "SN-1");
    let event = decide(
        c.case.as_ref(),
        &Command::Inspect(Inspect {
            line: LineNo::new(1).unwrap(),
            qty: None,
            grade: Grade::A,
            conditions: Vec::new(),
            serial: Some(Serial::parse("SN-9").unwrap()),
            notes: None,
            corrects: None,
        }),
        &Actor { role: Role::Inspector },
        &c.policy,
    )
    .unwrap();
    assert!(matches!(&event, CaseEvent::ItemInspected { flags, .. } if flags == &[Flag::SerialMismatch]));
    c.push(event);
    assert!(c.refunds().is_empty(), "serial_mismatch holds the refund");
}

#[test]
fn high_value_is_flagged_from_the_threshold_on_and_keeps_dispositions_with_supervisors() {
    let worth = |price| expected(vec![expected_line("TV", 1, None, Some(price), &[])]);
    let c = received(Policy::default(), receive(Some(worth(99_999)), None, vec![], DELIVERED));
    assert!(c.receipt().0.is_empty());
    let mut c = received(
        Policy::default(),
        receive(Some(worth(100_000)), None, vec![], DELIVERED),
    );
    assert_eq!(c.receipt().0, [Flag::HighValue]);
    // Unknown prices cannot be judged.
    let c2 = received(
        Policy::default(),
        receive(
            Some(expected(vec![expected_line("TV", 1, None, None, &[])])),
            None,
            vec![],
            DELIVERED,
        ),
    );
    assert!(c2.receipt().0.is_empty());

    c.inspect(1, Grade::A, None).unwrap();
    assert!(c.refunds().is_empty(), "high_value holds the refund");
    c.clear(Flag::HighValue);
    assert_eq!(c.refunds().len(), 1, "clearing the flag lets the refund be decided");
    let dispose = Command::Dispose(Dispose {
        line: LineNo::new(1).unwrap(),
        qty: None,
        disposition: Some(Disposition::Restock),
    });
    let err = c.run(Role::Inspector, dispose.clone()).unwrap_err();
    assert!(
        matches!(
            &err,
            CaseError::NeedsSupervisor {
                reason: SupervisorReason::HighValue
            }
        ),
        "{err:?}"
    );
    c.run(Role::Supervisor, dispose).unwrap();
}

#[test]
fn an_unexpected_parcel_is_flagged_only_when_expectations_are_known_and_no_rma_was_named() {
    let mut r = receive(None, None, vec![], DELIVERED);
    assert_eq!(
        received(Policy::default(), r.clone()).receipt().0,
        [Flag::UnexpectedParcel]
    );
    r.expectations_known = false;
    assert!(received(Policy::default(), r.clone()).receipt().0.is_empty());
    r.expectations_known = true;
    r.rma = Some(RmaRef::parse("RMA-NEW").unwrap());
    assert!(received(Policy::default(), r).receipt().0.is_empty());
}

#[test]
fn a_matched_receipt_takes_the_rma_and_lines_of_the_expected_return() {
    let c = received(
        Policy::default(),
        receive(
            Some(expected(vec![
                expected_line("A", 2, None, None, &[]),
                expected_line("B", 1, None, None, &["L1", "L2"]),
            ])),
            None,
            vec![],
            DELIVERED,
        ),
    );
    let case = c.case();
    assert_eq!(case.rma.as_ref().unwrap().as_str(), "RMA-7");
    assert_eq!(case.lines.len(), 2);
    assert_eq!((case.lines[0].received, case.lines[1].received), (2, 1));
    assert_eq!(case.lines[1].serial, None, "two sold lots: none is assumed");
    assert_eq!(case.expected.as_ref().unwrap().order.as_deref(), Some("S00042"));
}

#[test]
fn inspections_suggest_the_grade_disposition_with_its_rule() {
    let mut c = received(Policy::default(), receive(Some(kettle()), None, vec![], DELIVERED));
    c.inspect(1, Grade::C, None).unwrap();
    let CaseEvent::ItemInspected { suggested, rules, .. } = &c.events[1].1 else {
        panic!("{:?}", c.events[1]);
    };
    assert_eq!(*suggested, Some(Disposition::Refurbish));
    assert_eq!(rules[0].rule, "grade_C");
}

#[test]
fn the_refund_is_decided_once_every_unit_is_graded_with_the_grade_rule_and_fee() {
    let two = expected(vec![
        expected_line("A", 1, None, Some(10_000), &[]),
        expected_line("B", 3, None, Some(3_333), &[]),
    ]);
    let mut c = received(Policy::default(), receive(Some(two), None, vec![], DELIVERED));
    c.inspect(1, Grade::B, None).unwrap();
    assert!(c.refunds().is_empty(), "line 2 is not graded yet");
    c.inspect(2, Grade::C, None).unwrap();
    let refunds = c.refunds();
    assert_eq!(refunds.len(), 1);
    let decision = &refunds[0].1;
    assert_eq!(decision.supersedes, None);
    assert_eq!(decision.lines[0].percent, 85);
    assert_eq!(decision.lines[0].rule.decided, "refund 85% by rule grade_B_fee");
    assert_eq!(decision.lines[0].amount_minor, Some(8_500));
    // 3 × 33.33 × 70% = 69.993 → rounded down to 69.99.
    assert_eq!(decision.lines[1].amount_minor, Some(6_999));
    assert_eq!(decision.total_minor, Some(15_499));
    assert_eq!(decision.currency.as_deref(), Some("EUR"));
    assert_eq!(c.case().refund.as_ref().unwrap().event, refunds[0].0);
}

#[test]
fn a_grade_correction_makes_a_new_linked_decision_and_a_same_grade_one_makes_none() {
    let mut c = received(Policy::default(), receive(Some(kettle()), None, vec![], DELIVERED));
    let first = c.inspect(1, Grade::A, None).unwrap();
    let same = c.inspect(1, Grade::A, Some(first)).unwrap();
    assert_eq!(c.refunds().len(), 1, "nothing changed, nothing sent");
    c.inspect(1, Grade::D, Some(same)).unwrap();
    let refunds = c.refunds();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[1].1.supersedes, Some(refunds[0].0));
    assert_eq!(refunds[1].1.lines[0].percent, 30);
    assert_eq!(refunds[1].1.total_minor, Some(3_000));
}

#[test]
fn a_blocking_flag_holds_the_refund_until_a_supervisor_clears_it() {
    // Underweight: flagged at receipt, graded, held; cleared → decided, naming the flag.
    let mut c = received(Policy::default(), receive(Some(kettle()), Some(120), vec![], DELIVERED));
    c.inspect(1, Grade::A, None).unwrap();
    assert!(c.refunds().is_empty());
    c.clear(Flag::WeightMismatch);
    let refunds = c.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].1.cleared_flags, [Flag::WeightMismatch]);

    // A flag the policy does not list does not hold it.
    let lenient = Policy {
        refund_blocking_flags: vec![],
        ..Policy::default()
    };
    let mut c = received(lenient, receive(Some(kettle()), Some(120), vec![], DELIVERED));
    c.inspect(1, Grade::A, None).unwrap();
    assert_eq!(c.refunds().len(), 1);
}

#[test]
fn refund_on_receipt_decides_at_receipt_and_grades_change_nothing() {
    let policy = Policy {
        refund_on: RefundOn::Receipt,
        receipt_refund_percent: 90,
        ..Policy::default()
    };
    let mut c = received(policy, receive(Some(kettle()), None, vec![], DELIVERED));
    let refunds = c.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].1.lines[0].percent, 90);
    assert_eq!(refunds[0].1.lines[0].rule.rule, "refund_on_receipt");
    c.inspect(1, Grade::F, None).unwrap();
    assert_eq!(c.refunds().len(), 1);
}

#[test]
fn nothing_is_refunded_for_a_parcel_nobody_expected() {
    let mut c = received(
        Policy {
            refund_blocking_flags: vec![],
            ..Policy::default()
        },
        receive(None, None, vec![], DELIVERED),
    );
    c.inspect(1, Grade::A, None).unwrap();
    assert!(c.refunds().is_empty());
}

fn dispose_default(c: &mut Case_, role: Role) -> Result<EventId, CaseError> {
    c.run(
        role,
        Command::Dispose(Dispose {
            line: LineNo::new(1).unwrap(),
            qty: None,
            disposition: None,
        }),
    )
}

#[test]
fn a_disposition_left_out_is_the_grades_default_with_its_rule() {
    let mut c = received(Policy::default(), receive(Some(kettle()), None, vec![], DELIVERED));
    c.inspect(1, Grade::C, None).unwrap();
    dispose_default(&mut c, Role::Inspector).unwrap();
    let (_, CaseEvent::ItemDisposed { disposition, rules, .. }) = c.events.last().unwrap() else {
        panic!("{:?}", c.events.last());
    };
    assert_eq!(*disposition, Disposition::Refurbish);
    assert_eq!(rules[0].rule, "grade_C");
}

#[test]
fn a_default_disposition_is_refused_when_the_lines_grades_disagree_and_guarded_like_a_named_one() {
    let two = expected(vec![expected_line("A", 2, None, None, &[])]);
    let mut c = received(Policy::default(), receive(Some(two), None, vec![], DELIVERED));
    for grade in [Grade::A, Grade::C] {
        c.run(
            Role::Inspector,
            Command::Inspect(Inspect {
                line: LineNo::new(1).unwrap(),
                qty: Some(Qty::new(1).unwrap()),
                grade,
                conditions: Vec::new(),
                serial: None,
                notes: None,
                corrects: None,
            }),
        )
        .unwrap();
    }
    let err = dispose_default(&mut c, Role::Inspector).unwrap_err();
    assert!(matches!(&err, CaseError::NoDefaultDisposition { .. }), "{err:?}");
    assert_eq!(err.field(), Some("disposition"));
    assert!(err.to_string().contains("restock, refurbish"), "{err}");

    // A default the policy reserves to supervisors is still reserved.
    let scrap_f = Policy {
        grades: Policy::default()
            .grades
            .into_iter()
            .map(|mut r| {
                if r.grade == Grade::F {
                    r.disposition = Disposition::Scrap;
                }
                r
            })
            .collect(),
        ..Policy::default()
    };
    let mut c = received(scrap_f, receive(Some(kettle()), None, vec![], DELIVERED));
    c.inspect(1, Grade::F, None).unwrap();
    let err = dispose_default(&mut c, Role::Inspector).unwrap_err();
    assert!(
        matches!(
            &err,
            CaseError::NeedsSupervisor {
                reason: SupervisorReason::Disposition(Disposition::Scrap)
            }
        ),
        "{err:?}"
    );
    dispose_default(&mut c, Role::Supervisor).unwrap();
}
