//! Unit tests of the return case state machine: one test per rule of
//! `decide`, the shape and round trips of stored events, and the totality
//! of `apply` on streams `decide` would never produce. No IO.

use uuid::Uuid;

use super::*;
use Role::{Admin, Inspector, Receiver, Supervisor};

const CASE: CaseId = CaseId::from_uuid(Uuid::from_u128(0xCA5E));

fn eid(n: u128) -> EventId {
    EventId::from_uuid(Uuid::from_u128(n))
}

fn ln(n: u16) -> LineNo {
    LineNo::new(n).unwrap()
}

fn q(n: u32) -> Qty {
    Qty::new(n).unwrap()
}

fn serial(s: &str) -> Serial {
    Serial::parse(s).unwrap()
}

fn new_line(qty: u32, serial_no: Option<&str>) -> NewLine {
    NewLine {
        sku: Some(Sku::parse("SKU-1").unwrap()),
        barcode: Some(Barcode::parse("0123456789012").unwrap()),
        qty: q(qty),
        serial: serial_no.map(serial),
    }
}

fn receive(lines: Vec<NewLine>) -> Command {
    Command::Receive(ReceiveParcel {
        label: Barcode::parse("1Z999AA10123456784").unwrap(),
        weight: Some(Grams::new(1200).unwrap()),
        scale: Some(ScaleId::parse("scale-1").unwrap()),
        rma: Some(RmaRef::parse("RMA-42").unwrap()),
        lines,
        expected: None,
        expectations_known: false,
        received_at_ms: 0,
    })
}

fn inspect_cmd(line: u16, qty: Option<u32>) -> Inspect {
    Inspect {
        line: ln(line),
        qty: qty.map(q),
        grade: Grade::B,
        conditions: Vec::new(),
        serial: None,
        notes: None,
        corrects: None,
    }
}

fn inspect(line: u16, qty: Option<u32>) -> Command {
    Command::Inspect(inspect_cmd(line, qty))
}

fn inspect_with(line: u16, conditions: &[Condition], serial_no: Option<&str>) -> Command {
    Command::Inspect(Inspect {
        conditions: conditions.to_vec(),
        serial: serial_no.map(serial),
        ..inspect_cmd(line, None)
    })
}

fn correct(line: u16, corrects: EventId, qty: Option<u32>) -> Command {
    Command::Inspect(Inspect {
        grade: Grade::D,
        corrects: Some(corrects),
        ..inspect_cmd(line, qty)
    })
}

fn dispose(line: u16, qty: Option<u32>, disposition: Disposition) -> Command {
    Command::Dispose(Dispose {
        line: ln(line),
        qty: qty.map(q),
        disposition: Some(disposition),
    })
}

fn clear(flag: Flag) -> Command {
    Command::ClearFlag(ClearFlag {
        flag,
        note: Some(Notes::parse("checked with vendor").unwrap()),
    })
}

/// Runs commands through decide then apply, as the server will.
struct Harness {
    case: Option<Case>,
    next: u128,
    policy: Policy,
}

impl Harness {
    fn new() -> Self {
        Self {
            case: None,
            next: 0,
            policy: Policy::default(),
        }
    }

    /// A case received with the given lines by a receiver.
    fn with_lines(lines: Vec<NewLine>) -> Self {
        let mut h = Self::new();
        h.ok(Receiver, receive(lines));
        h
    }

    fn run(&mut self, role: Role, command: &Command) -> Result<(EventId, CaseEvent), CaseError> {
        let event = decide(self.case.as_ref(), command, &Actor { role }, &self.policy)?;
        self.next += 1;
        let id = eid(self.next);
        self.case = Some(apply(self.case.take(), CASE, id, &event));
        Ok((id, event))
    }

    fn ok(&mut self, role: Role, command: Command) -> (EventId, CaseEvent) {
        self.run(role, &command)
            .unwrap_or_else(|e| panic!("{command:?} as {role} refused: {e}"))
    }

    /// Runs a command that must be refused, and checks it changed nothing.
    fn err(&mut self, role: Role, command: Command) -> CaseError {
        let before = self.case.clone();
        let err = match self.run(role, &command) {
            Ok((_, event)) => panic!("{command:?} as {role} accepted as {event:?}"),
            Err(err) => err,
        };
        assert_eq!(self.case, before, "a refused command changed the case");
        err
    }

    fn case(&self) -> &Case {
        self.case.as_ref().unwrap()
    }

    fn line(&self, n: u16) -> &Line {
        self.case().line(ln(n)).unwrap()
    }
}

// ---- receive ----------------------------------------------------------------

#[test]
fn receiving_a_parcel_numbers_lines_from_one_in_order() {
    let h = Harness::with_lines(vec![new_line(2, None), new_line(3, Some("S1"))]);
    let case = h.case();
    assert_eq!(case.id, CASE);
    assert_eq!(case.label.as_str(), "1Z999AA10123456784");
    assert_eq!(case.weight, Some(Grams::new(1200).unwrap()));
    assert_eq!(case.rma.as_ref().unwrap().as_str(), "RMA-42");
    assert_eq!(case.scale.as_ref().unwrap().as_str(), "scale-1");
    let numbers: Vec<u16> = case.lines.iter().map(|l| l.number.get()).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(case.lines[1].received, 3);
    assert_eq!(case.lines[1].serial, Some(serial("S1")));
    assert_eq!(case.state(), CaseState::Received);
    assert_eq!(case.events, 1);
    assert!(!case.closed);
}

#[test]
fn receiving_without_lines_creates_one_unidentified_line_of_one_unit() {
    let mut h = Harness::new();
    let (_, event) = h.ok(Receiver, receive(Vec::new()));
    let CaseEvent::ParcelReceived { lines, .. } = event else {
        panic!("not a receipt: {event:?}");
    };
    assert_eq!(lines.len(), 1, "the event records the line the case gets");
    let line = &h.case().lines[0];
    assert_eq!(line.number, ln(1));
    assert_eq!(line.received, 1);
    assert_eq!((&line.sku, &line.barcode, &line.serial), (&None, &None, &None));
}

#[test]
fn receiving_raises_no_flags() {
    let mut h = Harness::new();
    let (_, event) = h.ok(Receiver, receive(vec![new_line(1, None)]));
    assert!(matches!(event, CaseEvent::ParcelReceived { ref flags, .. } if flags.is_empty()));
    assert!(h.case().flags.is_empty());
}

#[test]
fn receiving_into_an_existing_case_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let err = h.err(Admin, receive(Vec::new()));
    assert_eq!(
        err,
        CaseError::AlreadyExists {
            state: CaseState::Received
        }
    );
    assert!(err.to_string().contains("(case state: received)"), "{err}");
}

#[test]
fn receiving_more_than_200_lines_is_refused_but_200_are_accepted() {
    let mut h = Harness::new();
    let err = h.err(Receiver, receive(vec![new_line(1, None); MAX_LINES + 1]));
    assert_eq!(
        err,
        CaseError::TooManyLines {
            max: 200,
            requested: 201
        }
    );
    assert_eq!(err.field(), Some("lines"));

    h.ok(Receiver, receive(vec![new_line(1, None); MAX_LINES]));
    assert_eq!(h.case().lines.last().unwrap().number, ln(200));
}

#[test]
fn commands_on_an_unknown_case_are_refused_as_unknown() {
    for command in [
        inspect(1, None),
        dispose(1, None, Disposition::Restock),
        clear(Flag::WrongItem),
        Command::Close,
    ] {
        assert_eq!(Harness::new().err(Admin, command), CaseError::UnknownCase);
    }
}

// ---- roles ------------------------------------------------------------------

#[test]
fn each_command_requires_its_role_and_lower_roles_are_forbidden() {
    let cases = [
        (receive(Vec::new()), Receiver),
        (inspect(1, None), Inspector),
        (dispose(1, None, Disposition::Restock), Inspector),
        (clear(Flag::WrongItem), Supervisor),
        (Command::Close, Inspector),
    ];
    for (command, required) in cases {
        assert_eq!(command.required_role(), required);
        for &role in Role::ALL.iter().filter(|r| **r < required) {
            let mut h = Harness::with_lines(vec![new_line(1, None)]);
            let err = h.err(role, command.clone());
            assert_eq!(err, CaseError::Forbidden { required, actual: role });
            assert_eq!(err.field(), None);
        }
    }
}

#[test]
fn a_forbidden_actor_learns_nothing_about_a_missing_case() {
    let err = Harness::new().err(Receiver, inspect(1, None));
    assert!(matches!(err, CaseError::Forbidden { .. }), "{err:?}");
}

// ---- inspect ----------------------------------------------------------------

#[test]
fn inspecting_without_quantity_takes_all_uninspected_units() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    h.ok(Inspector, inspect(1, Some(1)));
    let (id, event) = h.ok(Inspector, inspect(1, None));
    assert!(matches!(event, CaseEvent::ItemInspected { qty: 2, .. }), "{event:?}");
    let line = h.line(1);
    assert_eq!(line.inspected(), 3);
    assert_eq!(line.uninspected(), 0);
    assert_eq!(line.inspections[1].event, id);
}

#[test]
fn inspecting_part_of_a_line_leaves_the_case_received() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    h.ok(Inspector, inspect(1, Some(2)));
    assert_eq!(h.line(1).uninspected(), 1);
    assert_eq!(h.case().state(), CaseState::Received);
}

#[test]
fn inspecting_every_unit_of_every_line_makes_the_case_inspected() {
    let mut h = Harness::with_lines(vec![new_line(1, None), new_line(2, None)]);
    h.ok(Inspector, inspect(1, None));
    assert_eq!(h.case().state(), CaseState::Received);
    h.ok(Inspector, inspect(2, None));
    assert_eq!(h.case().state(), CaseState::Inspected);
}

#[test]
fn inspecting_an_unknown_line_is_refused_with_the_line_count() {
    let mut h = Harness::with_lines(vec![new_line(1, None), new_line(1, None)]);
    let err = h.err(Inspector, inspect(3, None));
    assert_eq!(err, CaseError::UnknownLine { line: ln(3), lines: 2 });
    assert_eq!(err.field(), Some("line"));
    assert!(err.to_string().contains("2 line(s)"), "{err}");
}

#[test]
fn inspecting_a_fully_inspected_line_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(Inspector, inspect(1, None));
    let err = h.err(Inspector, inspect(1, None));
    assert_eq!(
        err,
        CaseError::NothingToInspect {
            line: ln(1),
            state: CaseState::Inspected
        }
    );
    assert_eq!(
        err.to_string(),
        "line 1 has no uninspected units (case state: inspected)"
    );
}

#[test]
fn inspecting_more_than_uninspected_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    h.ok(Inspector, inspect(1, Some(2)));
    let err = h.err(Inspector, inspect(1, Some(2)));
    assert_eq!(
        err,
        CaseError::QuantityExceeds {
            line: ln(1),
            requested: 2,
            available: 1,
            state: CaseState::Received
        }
    );
    assert_eq!(err.field(), Some("qty"));
    assert!(err.to_string().ends_with("(case state: received)"), "{err}");
}

#[test]
fn wrong_item_condition_raises_the_wrong_item_flag() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (id, event) = h.ok(Inspector, inspect_with(1, &[Condition::WrongItem], None));
    assert!(matches!(event, CaseEvent::ItemInspected { ref flags, .. } if flags == &[Flag::WrongItem]));
    assert_eq!(
        h.case().flags,
        [FlagRecord {
            flag: Flag::WrongItem,
            raised_by: id,
            cleared_by: None
        }]
    );
    assert_eq!(h.case().state(), CaseState::Flagged);
}

#[test]
fn empty_box_condition_raises_the_empty_box_flag() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(
        Inspector,
        inspect_with(1, &[Condition::EmptyBox, Condition::Used], None),
    );
    assert_eq!(h.case().open_flags(), [Flag::EmptyBox]);
}

#[test]
fn a_serial_differing_from_the_receipt_raises_serial_mismatch() {
    let mut h = Harness::with_lines(vec![new_line(1, Some("S1"))]);
    h.ok(Inspector, inspect_with(1, &[], Some("S2")));
    assert_eq!(h.case().open_flags(), [Flag::SerialMismatch]);
    assert_eq!(h.line(1).inspections[0].serial, Some(serial("S2")));
}

#[test]
fn a_matching_or_one_sided_serial_raises_no_flag() {
    for (receipt, seen) in [(Some("S1"), Some("S1")), (None, Some("S1")), (Some("S1"), None)] {
        let mut h = Harness::with_lines(vec![new_line(1, receipt)]);
        h.ok(Inspector, inspect_with(1, &[], seen));
        assert!(h.case().flags.is_empty(), "{receipt:?} vs {seen:?}");
    }
}

#[test]
fn an_already_open_flag_is_not_raised_again() {
    let mut h = Harness::with_lines(vec![new_line(2, None)]);
    h.ok(Inspector, inspect_with(1, &[Condition::WrongItem], None).with_qty(1));
    let (_, event) = h.ok(Inspector, inspect_with(1, &[Condition::WrongItem], None));
    assert!(
        matches!(event, CaseEvent::ItemInspected { ref flags, .. } if flags.is_empty()),
        "{event:?}"
    );
    assert_eq!(h.case().flags.len(), 1);
}

#[test]
fn conditions_are_recorded_sorted_without_duplicates() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(
        Inspector,
        inspect_with(
            1,
            &[Condition::Used, Condition::PackagingDamaged, Condition::Used],
            None,
        ),
    );
    assert_eq!(
        h.line(1).inspections[0].conditions,
        [Condition::PackagingDamaged, Condition::Used]
    );
}

trait WithQty {
    fn with_qty(self, qty: u32) -> Self;
}

impl WithQty for Command {
    fn with_qty(self, qty: u32) -> Self {
        match self {
            Command::Inspect(i) => Command::Inspect(Inspect { qty: Some(q(qty)), ..i }),
            Command::Dispose(d) => Command::Dispose(Dispose { qty: Some(q(qty)), ..d }),
            other => other,
        }
    }
}

// ---- corrections ------------------------------------------------------------

#[test]
fn correcting_an_inspection_supersedes_it_and_keeps_the_quantity() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, Some(2)));
    let (fix, event) = h.ok(Supervisor, correct(1, first, None));
    assert!(matches!(event, CaseEvent::ItemInspected { qty: 2, corrects: Some(c), .. } if c == first));
    let line = h.line(1);
    assert_eq!(line.inspections.len(), 2);
    assert_eq!(line.inspections[0].superseded_by, Some(fix));
    assert_eq!(line.inspections[1].event, fix);
    assert_eq!(line.inspections[1].grade, Grade::D);
    assert_eq!(line.inspected(), 2, "a correction does not change counts");
}

#[test]
fn a_correction_with_the_same_explicit_quantity_is_accepted() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, Some(2)));
    h.ok(Admin, correct(1, first, Some(2)));
    assert_eq!(h.line(1).inspected(), 2);
}

#[test]
fn correcting_is_possible_after_the_units_were_disposed() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, None));
    h.ok(Inspector, dispose(1, None, Disposition::Restock));
    h.ok(Supervisor, correct(1, first, None));
    assert_eq!(h.case().state(), CaseState::Disposed);
}

#[test]
fn correcting_an_inspection_needs_a_supervisor() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, None));
    let err = h.err(Inspector, correct(1, first, None));
    assert_eq!(
        err,
        CaseError::NeedsSupervisor {
            reason: SupervisorReason::Correction
        }
    );
    assert_eq!(err.field(), Some("corrects"));
    assert_eq!(err.to_string(), "a supervisor is required for correcting an inspection");
}

#[test]
fn correcting_an_unknown_or_superseded_inspection_is_refused() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, None));
    let err = h.err(Supervisor, correct(1, eid(999), None));
    assert_eq!(err, CaseError::UnknownInspection { event: eid(999) });
    assert_eq!(err.field(), Some("corrects"));

    h.ok(Supervisor, correct(1, first, None));
    let err = h.err(Supervisor, correct(1, first, None));
    assert_eq!(err, CaseError::UnknownInspection { event: first });
}

#[test]
fn correcting_an_inspection_of_another_line_is_refused() {
    let mut h = Harness::with_lines(vec![new_line(1, None), new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, None));
    let err = h.err(Supervisor, correct(2, first, None));
    assert_eq!(err, CaseError::UnknownInspection { event: first });
}

#[test]
fn correcting_with_a_different_quantity_is_refused_naming_the_expected_quantity() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, Some(2)));
    let err = h.err(Supervisor, correct(1, first, Some(1)));
    assert_eq!(
        err,
        CaseError::CorrectionQuantity {
            expected: 2,
            requested: 1
        }
    );
    assert_eq!(err.field(), Some("qty"));
}

#[test]
fn a_correction_can_raise_flags() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect(1, None));
    let Command::Inspect(fix) = correct(1, first, None) else {
        unreachable!()
    };
    h.ok(
        Supervisor,
        Command::Inspect(Inspect {
            conditions: vec![Condition::EmptyBox],
            ..fix
        }),
    );
    assert_eq!(h.case().open_flags(), [Flag::EmptyBox]);
}

// ---- dispose ----------------------------------------------------------------

#[test]
fn disposing_without_quantity_takes_all_inspected_undisposed_units() {
    let mut h = Harness::with_lines(vec![new_line(4, None)]);
    h.ok(Inspector, inspect(1, Some(3)));
    h.ok(Inspector, dispose(1, Some(1), Disposition::Restock));
    let (id, event) = h.ok(Inspector, dispose(1, None, Disposition::OpenBox));
    assert!(matches!(event, CaseEvent::ItemDisposed { qty: 2, .. }), "{event:?}");
    let line = h.line(1);
    assert_eq!(
        line.dispositions[1],
        DispositionRecord {
            event: id,
            qty: 2,
            disposition: Disposition::OpenBox
        }
    );
    assert_eq!(
        (line.disposed(), line.awaiting_disposition(), line.uninspected()),
        (3, 0, 1)
    );
}

#[test]
fn disposing_more_than_inspected_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(3, None)]);
    h.ok(Inspector, inspect(1, Some(1)));
    let err = h.err(Inspector, dispose(1, Some(2), Disposition::Restock));
    assert_eq!(
        err,
        CaseError::QuantityExceeds {
            line: ln(1),
            requested: 2,
            available: 1,
            state: CaseState::Received
        }
    );
    assert_eq!(
        err.to_string(),
        "line 1 has only 1 unit(s) available, 2 requested (case state: received)"
    );
}

#[test]
fn disposing_with_nothing_awaiting_disposition_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None), new_line(1, None)]);
    let err = h.err(Inspector, dispose(2, None, Disposition::Restock));
    assert_eq!(
        err.to_string(),
        "line 2 has no units awaiting disposition (case state: received)"
    );
    assert_eq!(err.field(), Some("line"));
    assert_eq!(err.current_state(), Some(CaseState::Received));
}

#[test]
fn disposing_an_unknown_line_is_refused() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let err = h.err(Inspector, dispose(2, None, Disposition::Restock));
    assert_eq!(err, CaseError::UnknownLine { line: ln(2), lines: 1 });
}

#[test]
fn disposing_every_unit_makes_the_case_disposed() {
    let mut h = Harness::with_lines(vec![new_line(2, None)]);
    h.ok(Inspector, inspect(1, None));
    assert_eq!(h.case().state(), CaseState::Inspected);
    h.ok(Inspector, dispose(1, Some(1), Disposition::Restock));
    assert_eq!(h.case().state(), CaseState::Inspected);
    h.ok(Inspector, dispose(1, None, Disposition::Refurbish));
    assert_eq!(h.case().state(), CaseState::Disposed);
}

#[test]
fn restricted_dispositions_need_a_supervisor() {
    for disposition in [Disposition::Scrap, Disposition::Liquidate, Disposition::Donate] {
        let mut h = Harness::with_lines(vec![new_line(1, None)]);
        h.ok(Inspector, inspect(1, None));
        let err = h.err(Inspector, dispose(1, None, disposition));
        assert_eq!(
            err,
            CaseError::NeedsSupervisor {
                reason: SupervisorReason::Disposition(disposition)
            }
        );
        assert_eq!(err.field(), Some("disposition"));
        assert!(err.to_string().contains(disposition.as_str()), "{err}");
        h.ok(Supervisor, dispose(1, None, disposition));
    }
}

#[test]
fn the_policy_decides_which_dispositions_are_restricted() {
    let mut h = Harness::with_lines(vec![new_line(2, None)]);
    h.policy = Policy {
        supervisor_dispositions: vec![Disposition::Restock],
        ..Policy::default()
    };
    h.ok(Inspector, inspect(1, None));
    h.ok(Inspector, dispose(1, Some(1), Disposition::Scrap));
    let err = h.err(Inspector, dispose(1, None, Disposition::Restock));
    assert!(matches!(err, CaseError::NeedsSupervisor { .. }), "{err:?}");
}

#[test]
fn disposing_in_a_flagged_case_needs_a_supervisor_naming_the_flags() {
    let mut h = Harness::with_lines(vec![new_line(1, Some("S1"))]);
    h.ok(
        Inspector,
        inspect_with(1, &[Condition::WrongItem, Condition::EmptyBox], Some("S2")),
    );
    let err = h.err(Inspector, dispose(1, None, Disposition::Quarantine));
    let open = vec![Flag::WrongItem, Flag::EmptyBox, Flag::SerialMismatch];
    assert_eq!(
        err,
        CaseError::NeedsSupervisor {
            reason: SupervisorReason::OpenFlags(open)
        }
    );
    assert_eq!(err.field(), None);
    assert_eq!(
        err.to_string(),
        "a supervisor is required for disposing while the case has open flags: \
         wrong_item, empty_box, serial_mismatch"
    );
    h.ok(Supervisor, dispose(1, None, Disposition::Quarantine));
    assert_eq!(h.case().state(), CaseState::Flagged);
}

// ---- clear flag -------------------------------------------------------------

#[test]
fn clearing_a_flag_that_is_not_open_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let err = h.err(Supervisor, clear(Flag::HighValue));
    assert_eq!(
        err,
        CaseError::FlagNotOpen {
            flag: Flag::HighValue,
            state: CaseState::Received
        }
    );
    assert_eq!(err.field(), Some("flag"));
    assert_eq!(err.to_string(), "flag high_value is not open (case state: received)");
}

#[test]
fn clearing_the_last_open_flag_restores_the_underlying_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    let (raised, _) = h.ok(
        Inspector,
        inspect_with(1, &[Condition::WrongItem, Condition::EmptyBox], None),
    );
    let (cleared, _) = h.ok(Supervisor, clear(Flag::WrongItem));
    assert_eq!(h.case().state(), CaseState::Flagged);
    h.ok(Admin, clear(Flag::EmptyBox));
    assert_eq!(h.case().state(), CaseState::Inspected);
    assert_eq!(
        h.case().flags[0],
        FlagRecord {
            flag: Flag::WrongItem,
            raised_by: raised,
            cleared_by: Some(cleared)
        }
    );
    let err = h.err(Supervisor, clear(Flag::WrongItem));
    assert!(matches!(err, CaseError::FlagNotOpen { .. }), "{err:?}");
}

#[test]
fn a_cleared_flag_can_be_raised_again_as_a_new_record() {
    let mut h = Harness::with_lines(vec![new_line(2, None)]);
    h.ok(Inspector, inspect_with(1, &[Condition::EmptyBox], None).with_qty(1));
    h.ok(Supervisor, clear(Flag::EmptyBox));
    h.ok(Inspector, inspect_with(1, &[Condition::EmptyBox], None));
    assert_eq!(h.case().flags.len(), 2);
    assert_eq!(h.case().open_flags(), [Flag::EmptyBox]);
}

// ---- close ------------------------------------------------------------------

fn disposed_case() -> Harness {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(Inspector, inspect(1, None));
    h.ok(Inspector, dispose(1, None, Disposition::Restock));
    h
}

#[test]
fn closing_a_disposed_case_closes_it() {
    let mut h = disposed_case();
    let (_, event) = h.ok(Inspector, Command::Close);
    assert_eq!(event, CaseEvent::CaseClosed);
    assert!(h.case().closed);
    assert_eq!(h.case().state(), CaseState::Closed);
    assert_eq!(h.case().events, 4);
}

#[test]
fn closing_before_everything_is_disposed_is_refused_naming_the_state() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(Inspector, inspect(1, None));
    let err = h.err(Inspector, Command::Close);
    assert_eq!(
        err,
        CaseError::NotReadyToClose {
            state: CaseState::Inspected,
            open_flags: Vec::new()
        }
    );
    assert!(err.to_string().ends_with("(case state: inspected)"), "{err}");
}

#[test]
fn closing_a_flagged_case_is_refused_naming_the_open_flags() {
    let mut h = Harness::with_lines(vec![new_line(1, None)]);
    h.ok(Inspector, inspect_with(1, &[Condition::WrongItem], None));
    h.ok(Supervisor, dispose(1, None, Disposition::ReturnToVendor));
    let err = h.err(Admin, Command::Close);
    assert_eq!(err.current_state(), Some(CaseState::Flagged));
    assert!(
        err.to_string()
            .ends_with("(case state: flagged; open flags: wrong_item)"),
        "{err}"
    );
}

#[test]
fn every_command_on_a_closed_case_is_refused_as_closed() {
    let mut h = disposed_case();
    h.ok(Inspector, Command::Close);
    for command in [
        inspect(1, None),
        correct(1, eid(2), None),
        dispose(1, None, Disposition::Restock),
        clear(Flag::WrongItem),
        Command::Close,
    ] {
        let err = h.err(Admin, command);
        assert_eq!(err, CaseError::Closed);
        assert_eq!(err.current_state(), Some(CaseState::Closed));
        assert!(err.to_string().contains("(case state: closed)"), "{err}");
    }
    let err = h.err(Admin, receive(Vec::new()));
    assert_eq!(
        err,
        CaseError::AlreadyExists {
            state: CaseState::Closed
        }
    );
}

// ---- error metadata -----------------------------------------------------------

#[test]
fn errors_that_depend_on_state_report_it_and_the_rest_do_not() {
    let with_state = [
        CaseError::Closed,
        CaseError::AlreadyExists {
            state: CaseState::Disposed,
        },
        CaseError::NothingToInspect {
            line: ln(1),
            state: CaseState::Inspected,
        },
        CaseError::NothingToDispose {
            line: ln(1),
            state: CaseState::Received,
        },
        CaseError::QuantityExceeds {
            line: ln(1),
            requested: 2,
            available: 1,
            state: CaseState::Flagged,
        },
        CaseError::NotReadyToClose {
            state: CaseState::Received,
            open_flags: Vec::new(),
        },
        CaseError::FlagNotOpen {
            flag: Flag::LateReturn,
            state: CaseState::Disposed,
        },
    ];
    for err in with_state {
        let state = err.current_state().unwrap();
        assert!(err.to_string().contains(&format!("(case state: {state}")), "{err}");
    }
    let without_state = [
        CaseError::UnknownCase,
        CaseError::UnknownLine { line: ln(1), lines: 0 },
        CaseError::UnknownInspection { event: eid(1) },
        CaseError::CorrectionQuantity {
            expected: 1,
            requested: 2,
        },
        CaseError::TooManyLines {
            max: 200,
            requested: 201,
        },
        CaseError::NeedsSupervisor {
            reason: SupervisorReason::Correction,
        },
        CaseError::Forbidden {
            required: Role::Admin,
            actual: Role::Receiver,
        },
    ];
    for err in without_state {
        assert_eq!(err.current_state(), None, "{err}");
    }
}

// ---- events -----------------------------------------------------------------

fn every_event() -> Vec<CaseEvent> {
    vec![
        CaseEvent::ParcelReceived {
            label: Barcode::parse("\u{1d}0101234567890128").unwrap(),
            weight: Some(Grams::new(0).unwrap()),
            scale: Some(ScaleId::parse("s").unwrap()),
            rma: Some(RmaRef::parse("RMA 1").unwrap()),
            lines: vec![
                new_line(2, Some("S1")),
                NewLine {
                    sku: None,
                    barcode: None,
                    qty: q(1),
                    serial: None,
                },
            ],
            flags: vec![Flag::LateReturn, Flag::HighValue],
            expected: None,
            rules: Vec::new(),
        },
        CaseEvent::ParcelReceived {
            label: Barcode::parse("L").unwrap(),
            weight: None,
            scale: None,
            rma: None,
            lines: Vec::new(),
            flags: Vec::new(),
            expected: None,
            rules: Vec::new(),
        },
        CaseEvent::ItemInspected {
            line: ln(1),
            qty: 2,
            grade: Grade::F,
            conditions: vec![Condition::WrongItem, Condition::EmptyBox],
            serial: Some(serial("S2")),
            notes: Some(Notes::parse("lid cracked\n\tphoto 3 – ok").unwrap()),
            corrects: Some(eid(7)),
            flags: vec![Flag::WrongItem],
            suggested: None,
            rules: Vec::new(),
        },
        CaseEvent::ItemInspected {
            line: ln(500),
            qty: 1,
            grade: Grade::A,
            conditions: Vec::new(),
            serial: None,
            notes: None,
            corrects: None,
            flags: Vec::new(),
            suggested: None,
            rules: Vec::new(),
        },
        CaseEvent::ItemDisposed {
            line: ln(2),
            qty: 1,
            disposition: Disposition::ReturnToVendor,
            rules: Vec::new(),
        },
        CaseEvent::FlagCleared {
            flag: Flag::SerialMismatch,
            note: Some(Notes::parse("vendor confirmed").unwrap()),
        },
        CaseEvent::FlagCleared {
            flag: Flag::UnexpectedParcel,
            note: None,
        },
        CaseEvent::CaseClosed,
        CaseEvent::RefundDecided {
            decision: RefundDecision {
                supersedes: Some(eid(9)),
                basis: RefundOn::Inspection,
                lines: vec![RefundLine {
                    line: ln(1),
                    sku: Some(Sku::parse("SKU-1").unwrap()),
                    qty: 2,
                    grade: Some(Grade::B),
                    inspection: Some(eid(8)),
                    percent: 85,
                    amount_minor: Some(8_499),
                    rule: RuleHit {
                        rule: "grade_B_fee".into(),
                        decided: "refund 85% by rule grade_B_fee".into(),
                    },
                }],
                currency: Some("EUR".into()),
                total_minor: Some(8_499),
                cleared_flags: vec![Flag::WeightMismatch],
            },
        },
    ]
}

#[test]
fn every_event_variant_round_trips_through_messagepack_named_and_json() {
    let events = every_event();
    let kinds: Vec<EventKind> = events.iter().map(CaseEvent::kind).collect();
    for kind in EventKind::ALL {
        assert!(kinds.contains(kind), "no sample of {kind}");
    }
    for event in events {
        let bytes = rmp_serde::to_vec_named(&event).unwrap();
        assert_eq!(rmp_serde::from_slice::<CaseEvent>(&bytes).unwrap(), event);
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<CaseEvent>(&json).unwrap(), event);
    }
}

#[test]
fn events_use_the_externally_tagged_snake_case_shape() {
    let disposed = CaseEvent::ItemDisposed {
        line: ln(2),
        qty: 1,
        disposition: Disposition::OpenBox,
        rules: Vec::new(),
    };
    assert_eq!(
        serde_json::to_string(&disposed).unwrap(),
        r#"{"item_disposed":{"line":2,"qty":1,"disposition":"open_box"}}"#
    );
    assert_eq!(
        serde_json::to_string(&CaseEvent::CaseClosed).unwrap(),
        r#""case_closed""#
    );
    let json = serde_json::to_value(&every_event()[2]).unwrap();
    assert_eq!(json["item_inspected"]["corrects"], eid(7).to_string());
    assert_eq!(json["item_inspected"]["grade"], "F");
}

#[test]
fn a_stored_event_with_an_invalid_value_is_refused_with_its_expectation() {
    let bad = r#"{"item_disposed":{"line":0,"qty":1,"disposition":"restock"}}"#;
    let err = serde_json::from_str::<CaseEvent>(bad).unwrap_err();
    assert!(err.to_string().contains(LineNo::EXPECTED), "{err}");
}

#[test]
fn event_kinds_name_their_variants() {
    let names: Vec<&str> = every_event().iter().map(|e| e.kind().as_str()).collect();
    assert_eq!(
        names,
        [
            "parcel_received",
            "parcel_received",
            "item_inspected",
            "item_inspected",
            "item_disposed",
            "flag_cleared",
            "flag_cleared",
            "case_closed",
            "refund_decided"
        ]
    );
}

#[test]
fn a_case_round_trips_through_messagepack_named_and_json() {
    let mut h = Harness::with_lines(vec![new_line(2, Some("S1")), new_line(1, None)]);
    let (first, _) = h.ok(Inspector, inspect_with(1, &[Condition::Used], Some("S9")));
    h.ok(Supervisor, correct(1, first, None));
    h.ok(Supervisor, dispose(1, Some(1), Disposition::Scrap));
    h.ok(Supervisor, clear(Flag::SerialMismatch));
    let case = h.case().clone();
    let bytes = rmp_serde::to_vec_named(&case).unwrap();
    assert_eq!(rmp_serde::from_slice::<Case>(&bytes).unwrap(), case);
    let json = serde_json::to_string(&case).unwrap();
    assert_eq!(serde_json::from_str::<Case>(&json).unwrap(), case);
}

// ---- apply totality ---------------------------------------------------------

#[test]
fn the_placeholder_label_is_a_valid_barcode() {
    let case = apply(None, CASE, eid(1), &CaseEvent::CaseClosed);
    assert_eq!(case.label.as_str(), "UNRECEIVED");
    assert!(case.closed);
    assert_eq!(case.events, 1);
}

#[test]
fn a_stream_not_starting_with_a_receipt_yields_a_case_without_lines() {
    let mut case = apply(None, CASE, eid(1), &every_event()[4]);
    assert!(case.lines.is_empty());
    assert_eq!(case.state(), CaseState::Received, "not vacuously disposed");
    let err = decide(Some(&case), &Command::Close, &Actor { role: Admin }, &Policy::default());
    assert!(matches!(err, Err(CaseError::NotReadyToClose { .. })));
    case = apply(Some(case), CASE, eid(2), &every_event()[0]);
    assert!(case.lines.is_empty(), "a late receipt is ignored");
    assert_eq!(case.events, 2);
}

#[test]
fn applying_nonsense_events_ignores_them_but_counts_them() {
    let before = Harness::with_lines(vec![new_line(2, None)]).case().clone();
    let nonsense = [
        CaseEvent::ItemInspected {
            line: ln(9),
            qty: 1,
            grade: Grade::A,
            conditions: Vec::new(),
            serial: None,
            notes: None,
            corrects: None,
            flags: vec![Flag::WrongItem],
            suggested: None,
            rules: Vec::new(),
        },
        CaseEvent::ItemInspected {
            line: ln(1),
            qty: 1,
            grade: Grade::A,
            conditions: Vec::new(),
            serial: None,
            notes: None,
            corrects: Some(eid(12345)),
            flags: vec![Flag::EmptyBox],
            suggested: None,
            rules: Vec::new(),
        },
        CaseEvent::ItemDisposed {
            line: ln(1),
            qty: 5,
            disposition: Disposition::Restock,
            rules: Vec::new(),
        },
        CaseEvent::FlagCleared {
            flag: Flag::HighValue,
            note: None,
        },
        every_event()[0].clone(),
    ];
    let mut case = before.clone();
    for (i, event) in nonsense.iter().enumerate() {
        case = apply(Some(case), CASE, eid(100 + i as u128), event);
    }
    assert_eq!(case.events, before.events + nonsense.len() as u32);
    assert_eq!(
        Case {
            events: before.events,
            ..case
        },
        before
    );
}

#[test]
fn applying_more_units_than_available_saturates() {
    let mut case = Harness::with_lines(vec![new_line(2, None)]).case().clone();
    let inspected = CaseEvent::ItemInspected {
        line: ln(1),
        qty: u32::MAX,
        grade: Grade::C,
        conditions: Vec::new(),
        serial: None,
        notes: None,
        corrects: None,
        flags: Vec::new(),
        suggested: None,
        rules: Vec::new(),
    };
    case = apply(Some(case), CASE, eid(10), &inspected);
    case = apply(
        Some(case),
        CASE,
        eid(11),
        &CaseEvent::ItemDisposed {
            line: ln(1),
            qty: u32::MAX,
            disposition: Disposition::Recycle,
            rules: Vec::new(),
        },
    );
    let line = &case.lines[0];
    assert_eq!((line.received, line.inspected(), line.disposed()), (2, 2, 2));
    assert_eq!(case.state(), CaseState::Disposed);
}

#[test]
fn a_receipt_with_more_lines_than_line_numbers_keeps_the_first_500() {
    let event = CaseEvent::ParcelReceived {
        label: Barcode::parse("L").unwrap(),
        weight: None,
        scale: None,
        rma: None,
        lines: vec![new_line(1, None); 600],
        flags: vec![Flag::UnexpectedParcel, Flag::UnexpectedParcel],
        expected: None,
        rules: Vec::new(),
    };
    let case = apply(None, CASE, eid(1), &event);
    assert_eq!(case.lines.len(), 500);
    assert_eq!(case.open_flags(), [Flag::UnexpectedParcel]);
}
