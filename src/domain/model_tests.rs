//! Model-based property tests of the case state machine. Random command
//! sequences by random roles run through `decide` then `apply`; after every
//! step the projection is checked against a small independent model (per
//! line counters, open flag set, closed bool) that predicts each outcome.
//! A second property feeds `apply` arbitrary event streams. No IO.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use uuid::Uuid;

use super::*;

const CASE: CaseId = CaseId::from_uuid(Uuid::from_u128(0xCA5E));

/// Which inspection a generated correction names; resolved when the step
/// runs, because event ids only exist once earlier steps were accepted.
#[derive(Debug, Clone)]
enum CorrectionRef {
    /// Index (mod count) into every inspection accepted so far, superseded
    /// ones included so refusals of those are exercised too.
    Earlier(usize),
    /// An id that was never issued.
    Random(u128),
}

#[derive(Debug, Clone)]
enum Step {
    Receive(Vec<(u32, Option<u8>)>),
    Inspect {
        line: u16,
        qty: Option<u32>,
        grade: Grade,
        conditions: Vec<Condition>,
        serial: Option<u8>,
        corrects: Option<CorrectionRef>,
    },
    Dispose {
        line: u16,
        qty: Option<u32>,
        disposition: Disposition,
    },
    ClearFlag(Flag),
    Close,
}

fn serial_no(i: u8) -> Serial {
    Serial::parse(&format!("S{i}")).unwrap()
}

// Two serials only, so receipt and inspection serials often match and
// often differ.
fn serial_strategy() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(0u8..2)
}

fn receive_strategy() -> impl Strategy<Value = Step> {
    prop::collection::vec((1u32..=5, serial_strategy()), 0..=4).prop_map(Step::Receive)
}

fn qty_strategy() -> impl Strategy<Value = Option<u32>> {
    prop::option::of(1u32..=6)
}

// Random 1..=5 but skewed low: receipts have 1 to 4 lines, and a run that
// mostly hits missing lines never reaches the later states.
fn line_strategy() -> impl Strategy<Value = u16> {
    prop_oneof![4 => Just(1u16), 3 => Just(2u16), 2 => Just(3u16), 1 => 4u16..=5]
}

// Flag-raising conditions are rarer than the rest so that runs also get to
// dispose and close without a supervisor.
fn condition_strategy() -> impl Strategy<Value = Condition> {
    let quiet: Vec<Condition> = Condition::ALL
        .iter()
        .copied()
        .filter(|c| !matches!(c, Condition::WrongItem | Condition::EmptyBox))
        .collect();
    prop_oneof![
        6 => select(quiet),
        1 => select(&[Condition::WrongItem, Condition::EmptyBox][..]),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let corrects = prop_oneof![
        4 => Just(None),
        3 => any::<usize>().prop_map(|i| Some(CorrectionRef::Earlier(i))),
        1 => any::<u128>().prop_map(|n| Some(CorrectionRef::Random(n))),
    ];
    let inspect = (
        line_strategy(),
        qty_strategy(),
        select(Grade::ALL),
        prop::collection::vec(condition_strategy(), 0..=2),
        serial_strategy(),
        corrects,
    )
        .prop_map(|(line, qty, grade, conditions, serial, corrects)| Step::Inspect {
            line,
            qty,
            grade,
            conditions,
            serial,
            corrects,
        });
    let dispose = (line_strategy(), qty_strategy(), select(Disposition::ALL))
        .prop_map(|(line, qty, disposition)| Step::Dispose { line, qty, disposition });
    // Only these three are ever raised by decide; the rest exercise refusals.
    let flag = prop_oneof![
        3 => select(&[Flag::WrongItem, Flag::EmptyBox, Flag::SerialMismatch][..]),
        1 => select(Flag::ALL),
    ];
    prop_oneof![
        1 => receive_strategy(),
        6 => inspect,
        6 => dispose,
        2 => flag.prop_map(Step::ClearFlag),
        2 => Just(Step::Close),
    ]
}

fn role_strategy() -> impl Strategy<Value = Role> {
    prop_oneof![
        1 => Just(Role::Receiver),
        3 => Just(Role::Inspector),
        2 => Just(Role::Supervisor),
        1 => Just(Role::Admin),
    ]
}

/// Up to 40 steps, usually starting with a receipt so most runs get past
/// `UnknownCase`.
fn run_strategy() -> impl Strategy<Value = (Vec<Disposition>, Vec<(Role, Step)>)> {
    (
        subsequence(Disposition::ALL, 0..=3),
        prop::bool::weighted(0.9),
        receive_strategy(),
        prop::collection::vec((role_strategy(), step_strategy()), 0..40),
    )
        .prop_map(|(restricted, starts_received, receipt, mut steps)| {
            if starts_received {
                steps.insert(0, (Role::Receiver, receipt));
            }
            steps.truncate(40);
            (restricted, steps)
        })
}

#[derive(Debug, Clone)]
struct ModelLine {
    received: u32,
    inspected: u32,
    disposed: u32,
    serial: Option<u8>,
}

#[derive(Debug, Clone)]
struct ModelInspection {
    event: EventId,
    line: usize,
    qty: u32,
    active: bool,
}

#[derive(Debug, Clone, Default)]
struct Model {
    exists: bool,
    lines: Vec<ModelLine>,
    open: BTreeSet<Flag>,
    closed: bool,
    inspections: Vec<ModelInspection>,
    accepted: u32,
}

/// What an accepted command does to the model.
#[derive(Debug)]
enum Change {
    Received(Vec<ModelLine>),
    Inspected {
        line: usize,
        qty: u32,
        flags: BTreeSet<Flag>,
        supersedes: Option<usize>,
    },
    Disposed {
        line: usize,
        qty: u32,
    },
    Cleared(Flag),
    Closed,
}

impl Model {
    fn state(&self) -> CaseState {
        if self.closed {
            CaseState::Closed
        } else if !self.open.is_empty() {
            CaseState::Flagged
        } else if self.lines.iter().all(|l| l.disposed == l.received) {
            CaseState::Disposed
        } else if self.lines.iter().all(|l| l.inspected == l.received) {
            CaseState::Inspected
        } else {
            CaseState::Received
        }
    }

    /// Predicts the outcome of a step: the change on acceptance, or the
    /// name of the `CaseError` variant on refusal.
    fn predict(
        &self,
        step: &Step,
        corrects: Option<EventId>,
        role: Role,
        restricted: &[Disposition],
    ) -> Result<Change, &'static str> {
        let required = match step {
            Step::Receive(_) => Role::Receiver,
            Step::ClearFlag(_) => Role::Supervisor,
            _ => Role::Inspector,
        };
        if role < required {
            return Err("Forbidden");
        }
        if let Step::Receive(lines) = step {
            if self.exists {
                return Err("AlreadyExists");
            }
            let lines = if lines.is_empty() {
                vec![(1, None)]
            } else {
                lines.clone()
            };
            return Ok(Change::Received(
                lines
                    .into_iter()
                    .map(|(received, serial)| ModelLine {
                        received,
                        inspected: 0,
                        disposed: 0,
                        serial,
                    })
                    .collect(),
            ));
        }
        if !self.exists {
            return Err("UnknownCase");
        }
        if self.closed {
            return Err("Closed");
        }
        let line_index = |n: u16| {
            let i = usize::from(n) - 1;
            if i < self.lines.len() {
                Ok(i)
            } else {
                Err("UnknownLine")
            }
        };
        match step {
            Step::Receive(_) => unreachable!("handled above"),
            Step::Inspect {
                line,
                qty,
                conditions,
                serial,
                ..
            } => {
                let i = line_index(*line)?;
                let l = &self.lines[i];
                let (qty, supersedes) = match corrects {
                    None => {
                        let available = l.received - l.inspected;
                        if available == 0 {
                            return Err("NothingToInspect");
                        }
                        let qty = qty.unwrap_or(available);
                        if qty > available {
                            return Err("QuantityExceeds");
                        }
                        (qty, None)
                    }
                    Some(id) => {
                        if role < Role::Supervisor {
                            return Err("NeedsSupervisor");
                        }
                        let Some(k) = self
                            .inspections
                            .iter()
                            .position(|r| r.event == id && r.active && r.line == i)
                        else {
                            return Err("UnknownInspection");
                        };
                        let expected = self.inspections[k].qty;
                        if qty.is_some_and(|q| q != expected) {
                            return Err("CorrectionQuantity");
                        }
                        (expected, Some(k))
                    }
                };
                let mut flags = BTreeSet::new();
                if conditions.contains(&Condition::WrongItem) {
                    flags.insert(Flag::WrongItem);
                }
                if conditions.contains(&Condition::EmptyBox) {
                    flags.insert(Flag::EmptyBox);
                }
                if let (Some(seen), Some(expected)) = (serial, l.serial) {
                    if *seen != expected {
                        flags.insert(Flag::SerialMismatch);
                    }
                }
                flags.retain(|f| !self.open.contains(f));
                Ok(Change::Inspected {
                    line: i,
                    qty,
                    flags,
                    supersedes,
                })
            }
            Step::Dispose { line, qty, disposition } => {
                let i = line_index(*line)?;
                if role < Role::Supervisor && (!self.open.is_empty() || restricted.contains(disposition)) {
                    return Err("NeedsSupervisor");
                }
                let l = &self.lines[i];
                let available = l.inspected - l.disposed;
                if available == 0 {
                    return Err("NothingToDispose");
                }
                let qty = qty.unwrap_or(available);
                if qty > available {
                    return Err("QuantityExceeds");
                }
                Ok(Change::Disposed { line: i, qty })
            }
            Step::ClearFlag(flag) => {
                if self.open.contains(flag) {
                    Ok(Change::Cleared(*flag))
                } else {
                    Err("FlagNotOpen")
                }
            }
            Step::Close => {
                if self.state() == CaseState::Disposed {
                    Ok(Change::Closed)
                } else {
                    Err("NotReadyToClose")
                }
            }
        }
    }

    fn commit(&mut self, change: Change, event_id: EventId) {
        self.accepted += 1;
        match change {
            Change::Received(lines) => {
                self.exists = true;
                self.lines = lines;
            }
            Change::Inspected {
                line,
                qty,
                flags,
                supersedes,
            } => {
                match supersedes {
                    Some(k) => self.inspections[k].active = false,
                    None => self.lines[line].inspected += qty,
                }
                self.inspections.push(ModelInspection {
                    event: event_id,
                    line,
                    qty,
                    active: true,
                });
                self.open.extend(flags);
            }
            Change::Disposed { line, qty } => self.lines[line].disposed += qty,
            Change::Cleared(flag) => {
                self.open.remove(&flag);
            }
            Change::Closed => self.closed = true,
        }
    }
}

fn error_name(err: &CaseError) -> &'static str {
    match err {
        CaseError::UnknownCase => "UnknownCase",
        CaseError::AlreadyExists { .. } => "AlreadyExists",
        CaseError::Closed => "Closed",
        CaseError::NothingToInspect { .. } => "NothingToInspect",
        CaseError::NothingToDispose { .. } => "NothingToDispose",
        CaseError::QuantityExceeds { .. } => "QuantityExceeds",
        CaseError::NotReadyToClose { .. } => "NotReadyToClose",
        CaseError::FlagNotOpen { .. } => "FlagNotOpen",
        CaseError::UnknownLine { .. } => "UnknownLine",
        CaseError::UnknownInspection { .. } => "UnknownInspection",
        CaseError::CorrectionQuantity { .. } => "CorrectionQuantity",
        CaseError::TooManyLines { .. } => "TooManyLines",
        CaseError::NoDefaultDisposition { .. } => "NoDefaultDisposition",
        CaseError::NeedsSupervisor { .. } => "NeedsSupervisor",
        CaseError::Forbidden { .. } => "Forbidden",
    }
}

fn to_command(step: &Step, corrects: Option<EventId>) -> Command {
    let qty = |q: &Option<u32>| q.map(|n| Qty::new(n).unwrap());
    match step {
        Step::Receive(lines) => Command::Receive(ReceiveParcel {
            label: Barcode::parse("PARCEL-1").unwrap(),
            weight: None,
            scale: None,
            rma: None,
            lines: lines
                .iter()
                .map(|&(n, serial)| NewLine {
                    sku: None,
                    barcode: None,
                    qty: Qty::new(n).unwrap(),
                    serial: serial.map(serial_no),
                })
                .collect(),
            expected: None,
            expectations_known: false,
            received_at_ms: 0,
        }),
        Step::Inspect {
            line,
            qty: q,
            grade,
            conditions,
            serial,
            ..
        } => Command::Inspect(Inspect {
            line: LineNo::new(*line).unwrap(),
            qty: qty(q),
            grade: *grade,
            conditions: conditions.clone(),
            serial: serial.map(serial_no),
            notes: None,
            corrects,
        }),
        Step::Dispose {
            line,
            qty: q,
            disposition,
        } => Command::Dispose(Dispose {
            line: LineNo::new(*line).unwrap(),
            qty: qty(q),
            disposition: Some(*disposition),
        }),
        Step::ClearFlag(flag) => Command::ClearFlag(ClearFlag {
            flag: *flag,
            note: None,
        }),
        Step::Close => Command::Close,
    }
}

/// Checks the projection against the model and its own invariants.
fn check_against_model(case: Option<&Case>, model: &Model) -> Result<(), TestCaseError> {
    let Some(case) = case else {
        prop_assert!(!model.exists, "model has a case, projection has none");
        return Ok(());
    };
    prop_assert!(model.exists);
    prop_assert_eq!(case.events, model.accepted);
    prop_assert_eq!(case.closed, model.closed);
    prop_assert_eq!(case.lines.len(), model.lines.len());
    for (n, (line, expected)) in case.lines.iter().zip(&model.lines).enumerate() {
        prop_assert_eq!(usize::from(line.number.get()), n + 1);
        let (received, inspected, disposed) = (line.received, line.inspected(), line.disposed());
        prop_assert!(
            received.checked_sub(inspected).is_some(),
            "line {n}: inspected {inspected} > received {received}"
        );
        prop_assert!(
            inspected.checked_sub(disposed).is_some(),
            "line {n}: disposed {disposed} > inspected {inspected}"
        );
        prop_assert_eq!(received, expected.received);
        prop_assert_eq!(inspected, expected.inspected);
        prop_assert_eq!(disposed, expected.disposed);
        prop_assert_eq!(line.uninspected(), received - inspected);
        prop_assert_eq!(line.awaiting_disposition(), inspected - disposed);
    }
    let open = case.open_flags();
    let open_set: BTreeSet<Flag> = open.iter().copied().collect();
    prop_assert_eq!(open.len(), open_set.len(), "a flag is open twice");
    prop_assert_eq!(&open_set, &model.open);
    prop_assert_eq!(case.state(), model.state());

    let active: Vec<EventId> = case
        .lines
        .iter()
        .flat_map(|l| &l.inspections)
        .filter(|r| r.superseded_by.is_none())
        .map(|r| r.event)
        .collect();
    let mut expected_active: Vec<EventId> = model.inspections.iter().filter(|r| r.active).map(|r| r.event).collect();
    let mut active_sorted = active;
    active_sorted.sort();
    expected_active.sort();
    prop_assert_eq!(active_sorted, expected_active);

    let bytes = rmp_serde::to_vec_named(case).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Case = rmp_serde::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, case);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decide_then_apply_agrees_with_an_independent_model(
        (restricted, steps) in run_strategy()
    ) {
        let policy = Policy { supervisor_dispositions: restricted.clone(), ..Policy::default() };
        let mut case: Option<Case> = None;
        let mut model = Model::default();
        for (n, (role, step)) in steps.iter().enumerate() {
            let event_id = EventId::from_uuid(Uuid::from_u128(n as u128 + 1));
            let corrects = match step {
                Step::Inspect { corrects: Some(CorrectionRef::Earlier(i)), .. }
                    if !model.inspections.is_empty() =>
                {
                    Some(model.inspections[i % model.inspections.len()].event)
                }
                Step::Inspect { corrects: Some(CorrectionRef::Earlier(_)), .. } => {
                    Some(EventId::from_uuid(Uuid::from_u128(u128::MAX)))
                }
                Step::Inspect { corrects: Some(CorrectionRef::Random(r)), .. } => {
                    // High bit set: never collides with the step-numbered ids.
                    Some(EventId::from_uuid(Uuid::from_u128(r | (1 << 127))))
                }
                _ => None,
            };
            let command = to_command(step, corrects);
            let predicted = model.predict(step, corrects, *role, &restricted);
            let before = case.clone();
            let result = decide(case.as_ref(), &command, &Actor { role: *role }, &policy);
            match (result, predicted) {
                (Ok(event), Ok(change)) => {
                    match (&event, &change) {
                        (CaseEvent::ParcelReceived { flags, .. }, Change::Received(_)) => {
                            prop_assert!(flags.is_empty());
                        }
                        (
                            CaseEvent::ItemInspected { qty, flags, corrects: c, .. },
                            Change::Inspected { qty: q, flags: f, .. },
                        ) => {
                            prop_assert_eq!(qty, q);
                            prop_assert_eq!(*c, corrects);
                            let raised: BTreeSet<Flag> = flags.iter().copied().collect();
                            prop_assert_eq!(raised.len(), flags.len(), "duplicate flags raised");
                            prop_assert_eq!(&raised, f);
                        }
                        (CaseEvent::ItemDisposed { qty, .. }, Change::Disposed { qty: q, .. }) => {
                            prop_assert_eq!(qty, q);
                        }
                        (CaseEvent::FlagCleared { flag, .. }, Change::Cleared(f)) => {
                            prop_assert_eq!(flag, f);
                        }
                        (CaseEvent::CaseClosed, Change::Closed) => {}
                        (event, change) => {
                            prop_assert!(false, "event {:?} but model expected {:?}", event, change);
                        }
                    }
                    let bytes = rmp_serde::to_vec_named(&event)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let back: CaseEvent = rmp_serde::from_slice(&bytes)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&back, &event);
                    case = Some(apply(case, CASE, event_id, &event));
                    model.commit(change, event_id);
                }
                (Err(err), Err(expected)) => {
                    prop_assert_eq!(error_name(&err), expected, "{}", err);
                    prop_assert_eq!(&case, &before, "a refused command changed the case");
                    if let (Some(state), Some(c)) = (err.current_state(), case.as_ref()) {
                        prop_assert_eq!(state, c.state());
                        let shown = format!("(case state: {state}");
                        prop_assert!(err.to_string().contains(&shown), "{}", err);
                    }
                }
                (Ok(event), Err(expected)) => {
                    prop_assert!(false, "step {} {:?} as {}: accepted as {:?}, model expected {}",
                        n, step, role, event, expected);
                }
                (Err(err), Ok(change)) => {
                    prop_assert!(false, "step {} {:?} as {}: refused with {:?}, model expected {:?}",
                        n, step, role, err, change);
                }
            }
            check_against_model(case.as_ref(), &model)?;
        }
    }
}

fn arbitrary_event() -> impl Strategy<Value = CaseEvent> {
    let line = (1u16..=6).prop_map(|n| LineNo::new(n).unwrap());
    let qty = prop_oneof![0u32..=8, Just(u32::MAX), any::<u32>()];
    let flags = prop::collection::vec(select(Flag::ALL), 0..=3);
    let event_ref = prop::option::of((1u128..=40).prop_map(|n| EventId::from_uuid(Uuid::from_u128(n))));
    prop_oneof![
        1 => (
            prop::collection::vec((1u32..=5).prop_map(|n| NewLine {
                sku: None,
                barcode: None,
                qty: Qty::new(n).unwrap(),
                serial: None,
            }), 0..=4),
            flags.clone(),
        )
            .prop_map(|(lines, flags)| CaseEvent::ParcelReceived {
                label: Barcode::parse("P").unwrap(),
                weight: None,
                scale: None,
                rma: None,
                lines,
                flags,
                expected: None,
                rules: Vec::new(),
            }),
        4 => (line.clone(), qty.clone(), select(Grade::ALL), event_ref, flags)
            .prop_map(|(line, qty, grade, corrects, flags)| CaseEvent::ItemInspected {
                line,
                qty,
                grade,
                conditions: Vec::new(),
                serial: None,
                notes: None,
                corrects,
                flags,
                suggested: None,
                rules: Vec::new(),
            }),
        3 => (line, qty, select(Disposition::ALL))
            .prop_map(|(line, qty, disposition)| CaseEvent::ItemDisposed {
                line,
                qty,
                disposition,
                rules: Vec::new(),
            }),
        2 => select(Flag::ALL).prop_map(|flag| CaseEvent::FlagCleared { flag, note: None }),
        1 => Just(CaseEvent::CaseClosed),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn apply_is_total_on_arbitrary_event_streams(
        events in prop::collection::vec(arbitrary_event(), 0..40)
    ) {
        let mut case: Option<Case> = None;
        for (n, event) in events.iter().enumerate() {
            let id = EventId::from_uuid(Uuid::from_u128(n as u128 + 1));
            let next = apply(case, CASE, id, event);
            prop_assert_eq!(next.events as usize, n + 1);
            for line in &next.lines {
                prop_assert!(line.inspected() <= line.received);
                prop_assert!(line.disposed() <= line.inspected());
            }
            let open = next.open_flags();
            let unique: BTreeSet<Flag> = open.iter().copied().collect();
            prop_assert_eq!(open.len(), unique.len());
            let _ = next.state();
            let bytes = rmp_serde::to_vec_named(&next)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: Case = rmp_serde::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &next);
            case = Some(next);
        }
    }
}
