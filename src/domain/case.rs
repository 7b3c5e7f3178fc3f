//! The return case state machine. A command is *decided* against the current
//! projection into exactly one `CaseEvent` (or a `CaseError`); events are
//! *applied* to fold the projection. Nothing is rewritten: corrections are
//! new events that supersede earlier records.
//!
//! Owns the case projection (`Case`, `Line` and their records), commands,
//! events, flags, states, the disposition policy and the domain errors.
//! Pure: no IO, no clock, no randomness (event ids are passed in).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::expected::ExpectedReturn;
use super::grading::{Condition, Disposition, Grade};
use super::ids::{CaseId, EventId};
use super::policy::{self, Policy, ReceiptFacts, RefundDecision, RuleHit};
use super::role::Role;
use super::values::{keyword_enum, Barcode, Grams, LineNo, Notes, Qty, RmaRef, ScaleId, Serial, Sku};

/// Most lines one parcel may be received with. Below `LineNo::MAX` so
/// line numbers never run out.
pub const MAX_LINES: usize = 200;

keyword_enum! {
    /// Something about a case that needs a supervisor's attention. While any
    /// flag is open, disposing needs a supervisor and the case cannot close.
    Flag {
        /// Returned after the return window.
        LateReturn = "late_return",
        /// Parcel weight does not match what was expected.
        WeightMismatch = "weight_mismatch",
        /// Inspected serial differs from the one on the receipt line.
        SerialMismatch = "serial_mismatch",
        /// An inspection found the wrong item.
        WrongItem = "wrong_item",
        /// An inspection found an empty box.
        EmptyBox = "empty_box",
        /// No return was expected for this parcel.
        UnexpectedParcel = "unexpected_parcel",
        /// Contents are valuable enough to need extra care.
        HighValue = "high_value",
    }
}

keyword_enum! {
    /// Where a case stands, derived from its projection (see `Case::state`).
    CaseState {
        /// Some units are not inspected yet.
        Received = "received",
        /// Every unit is inspected; some are not disposed yet.
        Inspected = "inspected",
        /// Every unit is disposed; the case can be closed.
        Disposed = "disposed",
        /// Closed; takes no further commands.
        Closed = "closed",
        /// Not closed, with at least one open flag.
        Flagged = "flagged",
    }
}

keyword_enum! {
    /// The variant of a `CaseEvent`, without its data.
    EventKind {
        /// `CaseEvent::ParcelReceived`.
        ParcelReceived = "parcel_received",
        /// `CaseEvent::ItemInspected`.
        ItemInspected = "item_inspected",
        /// `CaseEvent::ItemDisposed`.
        ItemDisposed = "item_disposed",
        /// `CaseEvent::FlagCleared`.
        FlagCleared = "flag_cleared",
        /// `CaseEvent::CaseClosed`.
        CaseClosed = "case_closed",
        /// `CaseEvent::RefundDecided`.
        RefundDecided = "refund_decided",
    }
}

/// The projection of one return case, folded from its events by `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The case.
    pub id: CaseId,
    /// The parcel's shipping label.
    pub label: Barcode,
    /// The RMA the parcel was returned under, if known.
    pub rma: Option<RmaRef>,
    /// Parcel weight at receipt, if weighed.
    pub weight: Option<Grams>,
    /// The scale that weighed it.
    pub scale: Option<ScaleId>,
    /// Receipt lines, numbered from 1 in order.
    pub lines: Vec<Line>,
    /// Every flag ever raised, open or cleared, in raise order.
    pub flags: Vec<FlagRecord>,
    /// Whether the case was closed.
    pub closed: bool,
    /// The expected return the receipt matched (snapshot from the RMA cache).
    #[serde(default)]
    pub expected: Option<Box<ExpectedReturn>>,
    /// The latest refund decision, if one was made.
    #[serde(default)]
    pub refund: Option<RefundRecord>,
    /// Events folded so far, including ones `apply` ignored as nonsensical,
    /// so it always equals the length of the stream it was built from.
    pub events: u32,
}

/// One receipt line of a case and what has happened to its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// 1-based position in the case.
    pub number: LineNo,
    /// Expected SKU, if known at receipt.
    pub sku: Option<Sku>,
    /// Item barcode scanned at receipt.
    pub barcode: Option<Barcode>,
    /// Serial recorded at receipt.
    pub serial: Option<Serial>,
    /// Units received.
    pub received: u32,
    /// Every inspection of this line, superseded ones included.
    pub inspections: Vec<InspectionRecord>,
    /// Every disposition of this line.
    pub dispositions: Vec<DispositionRecord>,
}

/// One inspection of some units of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionRecord {
    /// The `ItemInspected` event that recorded it.
    pub event: EventId,
    /// Units inspected.
    pub qty: u32,
    /// Grade given.
    pub grade: Grade,
    /// Conditions observed.
    pub conditions: Vec<Condition>,
    /// Serial read during inspection.
    pub serial: Option<Serial>,
    /// The correction that replaced this record, if any.
    pub superseded_by: Option<EventId>,
}

/// One disposition of some units of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionRecord {
    /// The `ItemDisposed` event that recorded it.
    pub event: EventId,
    /// Units disposed.
    pub qty: u32,
    /// Where they went.
    pub disposition: Disposition,
}

/// The latest refund decision of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    /// The `RefundDecided` event: its id is the decision's idempotency key.
    pub event: EventId,
    /// What was decided.
    pub decision: RefundDecision,
}

/// One raising of a flag, and its clearing if it was cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRecord {
    /// The flag.
    pub flag: Flag,
    /// The event that raised it.
    pub raised_by: EventId,
    /// The `FlagCleared` event, while `None` the flag is open.
    pub cleared_by: Option<EventId>,
}

impl Line {
    /// Units covered by active (not superseded) inspections.
    pub fn inspected(&self) -> u32 {
        // Saturating: a projection loaded from disk may hold anything.
        self.inspections
            .iter()
            .filter(|r| r.superseded_by.is_none())
            .fold(0, |sum, r| sum.saturating_add(r.qty))
    }

    /// Units disposed.
    pub fn disposed(&self) -> u32 {
        self.dispositions.iter().fold(0, |sum, r| sum.saturating_add(r.qty))
    }

    /// Units received but not inspected.
    pub fn uninspected(&self) -> u32 {
        self.received.saturating_sub(self.inspected())
    }

    /// Units inspected but not disposed.
    pub fn awaiting_disposition(&self) -> u32 {
        self.inspected().saturating_sub(self.disposed())
    }

    fn active_inspection(&self, event: EventId) -> Option<&InspectionRecord> {
        self.inspections
            .iter()
            .find(|r| r.event == event && r.superseded_by.is_none())
    }
}

impl Case {
    /// Closed if closed; else Flagged if any flag is open; else Disposed if
    /// every line is fully disposed; else Inspected if every line is fully
    /// inspected; else Received.
    ///
    /// A case without lines (only possible from a malformed stream) is
    /// Received rather than vacuously Disposed, so it cannot be closed.
    pub fn state(&self) -> CaseState {
        let every_line = |done: fn(&Line) -> bool| !self.lines.is_empty() && self.lines.iter().all(done);
        if self.closed {
            CaseState::Closed
        } else if self.has_open_flags() {
            CaseState::Flagged
        } else if every_line(|l| l.disposed() >= l.received) {
            CaseState::Disposed
        } else if every_line(|l| l.inspected() >= l.received) {
            CaseState::Inspected
        } else {
            CaseState::Received
        }
    }

    /// Flags raised and not cleared, in raise order.
    pub fn open_flags(&self) -> Vec<Flag> {
        self.flags
            .iter()
            .filter(|r| r.cleared_by.is_none())
            .map(|r| r.flag)
            .collect()
    }

    /// Whether `flag` is currently open.
    pub fn is_flag_open(&self, flag: Flag) -> bool {
        self.flags.iter().any(|r| r.flag == flag && r.cleared_by.is_none())
    }

    fn has_open_flags(&self) -> bool {
        self.flags.iter().any(|r| r.cleared_by.is_none())
    }

    /// The line with this number.
    pub fn line(&self, number: LineNo) -> Option<&Line> {
        self.lines.iter().find(|l| l.number == number)
    }

    fn line_mut(&mut self, number: LineNo) -> Option<&mut Line> {
        self.lines.iter_mut().find(|l| l.number == number)
    }

    fn raise(&mut self, event_id: EventId, flags: &[Flag]) {
        for &flag in flags {
            if !self.is_flag_open(flag) {
                self.flags.push(FlagRecord {
                    flag,
                    raised_by: event_id,
                    cleared_by: None,
                });
            }
        }
    }
}

/// A request to change a case, with inputs already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a case for a parcel.
    Receive(ReceiveParcel),
    /// Inspect units of a line, or correct an earlier inspection.
    Inspect(Inspect),
    /// Give inspected units of a line a disposition.
    Dispose(Dispose),
    /// Clear an open flag.
    ClearFlag(ClearFlag),
    /// Close a fully disposed case.
    Close,
}

/// Receive a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveParcel {
    /// Shipping label.
    pub label: Barcode,
    /// Weight, if weighed.
    pub weight: Option<Grams>,
    /// Scale used.
    pub scale: Option<ScaleId>,
    /// RMA, if known.
    pub rma: Option<RmaRef>,
    /// Expected contents; empty when unknown (then the expected return's, if matched).
    pub lines: Vec<NewLine>,
    /// The expected return the label or RMA matched in the RMA cache.
    pub expected: Option<Box<ExpectedReturn>>,
    /// Whether an RMA cache is in use, so that no match means an unexpected parcel.
    pub expectations_known: bool,
    /// When the parcel was received (Unix ms), for the return window.
    pub received_at_ms: u64,
}

/// One line of a receipt, as received (also stored in `ParcelReceived`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLine {
    /// Expected SKU.
    pub sku: Option<Sku>,
    /// Scanned item barcode.
    pub barcode: Option<Barcode>,
    /// Units.
    pub qty: Qty,
    /// Serial on the receipt.
    pub serial: Option<Serial>,
}

/// Inspect units of a line (or, with `corrects`, replace an inspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspect {
    /// Line to inspect.
    pub line: LineNo,
    /// Units; defaults to all uninspected (or the corrected record's).
    pub qty: Option<Qty>,
    /// Grade given.
    pub grade: Grade,
    /// Conditions observed.
    pub conditions: Vec<Condition>,
    /// Serial read.
    pub serial: Option<Serial>,
    /// Free text.
    pub notes: Option<Notes>,
    /// Active inspection of this line that this one replaces.
    pub corrects: Option<EventId>,
}

/// Dispose inspected units of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispose {
    /// Line to dispose.
    pub line: LineNo,
    /// Units; defaults to all awaiting disposition.
    pub qty: Option<Qty>,
    /// Where they go; `None`: the policy's default for the grade the units got.
    pub disposition: Option<Disposition>,
}

/// Clear an open flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearFlag {
    /// Flag to clear.
    pub flag: Flag,
    /// Why it is cleared.
    pub note: Option<Notes>,
}

impl Command {
    /// The least role allowed to issue this command at all. Some commands
    /// additionally need a supervisor depending on the case (see
    /// `CaseError::NeedsSupervisor`).
    pub fn required_role(&self) -> Role {
        match self {
            Command::Receive(_) => Role::Receiver,
            Command::Inspect(_) | Command::Dispose(_) | Command::Close => Role::Inspector,
            Command::ClearFlag(_) => Role::Supervisor,
        }
    }
}

/// A fact that happened to a case. Stored durably (MessagePack, named
/// fields) and shown in the API, so the shape is the plain externally
/// tagged form: no flattening, no internal tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEvent {
    /// A parcel was received and the case opened.
    ParcelReceived {
        /// Shipping label.
        label: Barcode,
        /// Weight at receipt.
        weight: Option<Grams>,
        /// Scale used.
        scale: Option<ScaleId>,
        /// RMA.
        rma: Option<RmaRef>,
        /// Lines as received, numbered from 1 in this order.
        lines: Vec<NewLine>,
        /// Flags raised at receipt.
        flags: Vec<Flag>,
        /// The expected return matched, as cached at receipt.
        #[serde(default)]
        expected: Option<Box<ExpectedReturn>>,
        /// The policy rules applied at receipt and what they decided.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rules: Vec<RuleHit>,
    },
    /// Units of a line were inspected, or an inspection was corrected.
    ItemInspected {
        /// Line.
        line: LineNo,
        /// Units.
        qty: u32,
        /// Grade.
        grade: Grade,
        /// Conditions, sorted and without duplicates.
        conditions: Vec<Condition>,
        /// Serial read.
        serial: Option<Serial>,
        /// Free text.
        notes: Option<Notes>,
        /// The inspection this one supersedes.
        corrects: Option<EventId>,
        /// Flags raised (only ones not already open).
        flags: Vec<Flag>,
        /// The grade's default disposition, by policy.
        #[serde(default)]
        suggested: Option<Disposition>,
        /// The policy rules applied and what they decided.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rules: Vec<RuleHit>,
    },
    /// Units of a line were given a disposition.
    ItemDisposed {
        /// Line.
        line: LineNo,
        /// Units.
        qty: u32,
        /// Where they went.
        disposition: Disposition,
        /// The policy rule that chose the disposition, when the command named none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rules: Vec<RuleHit>,
    },
    /// An open flag was cleared.
    FlagCleared {
        /// Flag.
        flag: Flag,
        /// Why.
        note: Option<Notes>,
    },
    /// The case was closed.
    CaseClosed,
    /// The policy decided the case's refund (or changed an earlier decision). Follows, in the
    /// same transaction, the event that made it due.
    RefundDecided {
        /// The decision.
        decision: RefundDecision,
    },
}

impl CaseEvent {
    /// Which variant this is.
    pub fn kind(&self) -> EventKind {
        match self {
            CaseEvent::ParcelReceived { .. } => EventKind::ParcelReceived,
            CaseEvent::ItemInspected { .. } => EventKind::ItemInspected,
            CaseEvent::ItemDisposed { .. } => EventKind::ItemDisposed,
            CaseEvent::FlagCleared { .. } => EventKind::FlagCleared,
            CaseEvent::CaseClosed => EventKind::CaseClosed,
            CaseEvent::RefundDecided { .. } => EventKind::RefundDecided,
        }
    }
}

/// Who issues a command. A struct so that fields (station, user) can be
/// added without touching every caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The actor's role.
    pub role: Role,
}

/// Why a command needs a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorReason {
    /// Correcting an earlier inspection.
    Correction,
    /// Disposing while these flags are open.
    OpenFlags(Vec<Flag>),
    /// The policy reserves this disposition to supervisors.
    Disposition(Disposition),
    /// The parcel's value reached the policy's high-value threshold.
    HighValue,
}

impl fmt::Display for SupervisorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorReason::Correction => f.write_str("correcting an inspection"),
            SupervisorReason::OpenFlags(flags) => {
                write!(f, "disposing while the case has open flags: {}", FlagList(flags))
            }
            SupervisorReason::Disposition(d) => write!(f, "the disposition {d}"),
            SupervisorReason::HighValue => f.write_str("disposing of a high-value parcel"),
        }
    }
}

/// Comma-separated flag names for messages.
struct FlagList<'a>(&'a [Flag]);

impl fmt::Display for FlagList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, flag) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(flag.as_str())?;
        }
        Ok(())
    }
}

/// "; open flags: a, b" when there are any, for `NotReadyToClose`.
struct OpenFlagsSuffix<'a>(&'a [Flag]);

impl fmt::Display for OpenFlagsSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "; open flags: {}", FlagList(self.0))
        }
    }
}

/// Why `decide` refused a command. Every 409 message names the case's
/// current state so an operator can see why without another request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// A non-receive command for a case that does not exist. HTTP 404.
    #[error("no such case")]
    UnknownCase,
    /// Receive for a case that already exists. HTTP 409.
    #[error("the case already exists (case state: {state})")]
    AlreadyExists {
        /// The existing case's state.
        state: CaseState,
    },
    /// Any command on a closed case. HTTP 409.
    #[error("the case is closed and takes no further changes (case state: closed)")]
    Closed,
    /// Inspect (not a correction) of a line with no uninspected units. HTTP 409.
    #[error("line {line} has no uninspected units (case state: {state})")]
    NothingToInspect {
        /// The line.
        line: LineNo,
        /// Case state.
        state: CaseState,
    },
    /// Dispose of a line with no units awaiting disposition. HTTP 409.
    #[error("line {line} has no units awaiting disposition (case state: {state})")]
    NothingToDispose {
        /// The line.
        line: LineNo,
        /// Case state.
        state: CaseState,
    },
    /// Inspect or dispose of more units than are available. HTTP 409.
    #[error("line {line} has only {available} unit(s) available, {requested} requested (case state: {state})")]
    QuantityExceeds {
        /// The line.
        line: LineNo,
        /// Units asked for.
        requested: u32,
        /// Units uninspected (inspect) or awaiting disposition (dispose).
        available: u32,
        /// Case state.
        state: CaseState,
    },
    /// Close of a case that is not Disposed. HTTP 409.
    #[error(
        "the case can only be closed once every unit is disposed and no flag is open (case state: {state}{})",
        OpenFlagsSuffix(.open_flags)
    )]
    NotReadyToClose {
        /// Case state.
        state: CaseState,
        /// Flags open on the case.
        open_flags: Vec<Flag>,
    },
    /// ClearFlag of a flag that is not open. HTTP 409.
    #[error("flag {flag} is not open (case state: {state})")]
    FlagNotOpen {
        /// The flag.
        flag: Flag,
        /// Case state.
        state: CaseState,
    },
    /// Inspect or dispose of a line the case does not have. HTTP 409: another case may have it.
    #[error("line {line} does not exist: the case has {lines} line(s)")]
    UnknownLine {
        /// The line asked for.
        line: LineNo,
        /// How many lines the case has.
        lines: usize,
    },
    /// A correction naming an event that is not an active inspection of the
    /// line (unknown, superseded, or of another line). HTTP 409.
    #[error("event {event} is not an active inspection of this line")]
    UnknownInspection {
        /// The event named by `corrects`.
        event: EventId,
    },
    /// A correction with a quantity other than the corrected record's. HTTP 409.
    #[error("a correction covers the corrected inspection's {expected} unit(s), not {requested}")]
    CorrectionQuantity {
        /// The corrected record's quantity.
        expected: u32,
        /// The quantity given.
        requested: u32,
    },
    /// Dispose without a disposition where the line's graded units call for different
    /// defaults. HTTP 409.
    #[error("line {line}'s units have grades with different default dispositions ({defaults}); name the disposition")]
    NoDefaultDisposition {
        /// The line.
        line: LineNo,
        /// The defaults that differ, comma-separated.
        defaults: String,
    },
    /// Receive with more than `MAX_LINES` lines. HTTP 422 (the API schema's `maxItems`).
    #[error("a parcel can have at most {max} lines, not {requested}")]
    TooManyLines {
        /// The limit.
        max: usize,
        /// Lines given.
        requested: usize,
    },
    /// The actor has the command's role but this case or input also needs a
    /// supervisor (corrections, flagged cases, restricted dispositions).
    /// HTTP 403.
    #[error("a supervisor is required for {reason}")]
    NeedsSupervisor {
        /// What needs the supervisor.
        reason: SupervisorReason,
    },
    /// The actor's role is below `Command::required_role`. HTTP 403.
    #[error("this needs the {required} role or higher; the actor is {actual}")]
    Forbidden {
        /// The least role allowed.
        required: Role,
        /// The actor's role.
        actual: Role,
    },
}

impl CaseError {
    /// The request field at fault, if one is (for the HTTP error body).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CaseError::NothingToInspect { .. } | CaseError::NothingToDispose { .. } | CaseError::UnknownLine { .. } => {
                Some("line")
            }
            CaseError::QuantityExceeds { .. } | CaseError::CorrectionQuantity { .. } => Some("qty"),
            CaseError::FlagNotOpen { .. } => Some("flag"),
            CaseError::UnknownInspection { .. } => Some("corrects"),
            CaseError::TooManyLines { .. } => Some("lines"),
            CaseError::NoDefaultDisposition { .. } => Some("disposition"),
            CaseError::NeedsSupervisor { reason } => match reason {
                SupervisorReason::Correction => Some("corrects"),
                SupervisorReason::Disposition(_) => Some("disposition"),
                SupervisorReason::OpenFlags(_) | SupervisorReason::HighValue => None,
            },
            CaseError::UnknownCase
            | CaseError::AlreadyExists { .. }
            | CaseError::Closed
            | CaseError::NotReadyToClose { .. }
            | CaseError::Forbidden { .. } => None,
        }
    }

    /// The case's state, for errors that depend on it (the 409s).
    pub fn current_state(&self) -> Option<CaseState> {
        match self {
            CaseError::Closed => Some(CaseState::Closed),
            CaseError::AlreadyExists { state }
            | CaseError::NothingToInspect { state, .. }
            | CaseError::NothingToDispose { state, .. }
            | CaseError::QuantityExceeds { state, .. }
            | CaseError::NotReadyToClose { state, .. }
            | CaseError::FlagNotOpen { state, .. } => Some(*state),
            CaseError::UnknownCase
            | CaseError::UnknownLine { .. }
            | CaseError::UnknownInspection { .. }
            | CaseError::CorrectionQuantity { .. }
            | CaseError::TooManyLines { .. }
            | CaseError::NoDefaultDisposition { .. }
            | CaseError::NeedsSupervisor { .. }
            | CaseError::Forbidden { .. } => None,
        }
    }
}

/// Decides `command` against the current case (`None` if it does not exist
/// yet) into the one event that records it, or refuses it.
pub fn decide(case: Option<&Case>, command: &Command, actor: &Actor, policy: &Policy) -> Result<CaseEvent, CaseError> {
    // Role first: an actor who may not issue the command learns nothing
    // about whether the case exists or what state it is in.
    let required = command.required_role();
    if !actor.role.includes(required) {
        return Err(CaseError::Forbidden {
            required,
            actual: actor.role,
        });
    }
    match command {
        Command::Receive(receive) => match case {
            None => decide_receive(receive, policy),
            Some(case) => Err(CaseError::AlreadyExists { state: case.state() }),
        },
        Command::Inspect(inspect) => decide_inspect(open_case(case)?, inspect, actor, policy),
        Command::Dispose(dispose) => decide_dispose(open_case(case)?, dispose, actor, policy),
        Command::ClearFlag(clear) => decide_clear_flag(open_case(case)?, clear),
        Command::Close => decide_close(open_case(case)?),
    }
}

fn open_case(case: Option<&Case>) -> Result<&Case, CaseError> {
    match case {
        None => Err(CaseError::UnknownCase),
        Some(case) if case.closed => Err(CaseError::Closed),
        Some(case) => Ok(case),
    }
}

fn decide_receive(receive: &ReceiveParcel, policy: &Policy) -> Result<CaseEvent, CaseError> {
    if receive.lines.len() > MAX_LINES {
        return Err(CaseError::TooManyLines {
            max: MAX_LINES,
            requested: receive.lines.len(),
        });
    }
    // The event carries the line the case actually gets, so the stream says
    // what happened without readers knowing this rule.
    let lines = match (&receive.expected, receive.lines.is_empty()) {
        (_, false) => receive.lines.clone(),
        (Some(expected), true) => expected_lines(expected),
        (None, true) => vec![unidentified_line()],
    };
    let (flags, rules) = policy::receipt_rules(
        policy,
        &ReceiptFacts {
            weight: receive.weight,
            lines: &lines,
            expected: receive.expected.as_deref(),
            expectations_known: receive.expectations_known,
            rma_given: receive.rma.is_some(),
            received_at_ms: receive.received_at_ms,
        },
    );
    Ok(CaseEvent::ParcelReceived {
        label: receive.label.clone(),
        weight: receive.weight,
        scale: receive.scale.clone(),
        // A matched return names its RMA even when the station scanned only the label.
        rma: receive
            .rma
            .clone()
            .or_else(|| receive.expected.as_ref().map(|e| e.rma.clone())),
        lines,
        flags,
        expected: receive.expected.clone(),
        rules,
    })
}

/// The receipt lines of an expected return, for a station that only scanned the label. A
/// single sold serial is carried over, so the inspection's serial check compares against it.
fn expected_lines(expected: &ExpectedReturn) -> Vec<NewLine> {
    let lines: Vec<NewLine> = expected
        .lines
        .iter()
        .take(MAX_LINES)
        .filter_map(|l| {
            Some(NewLine {
                sku: l.sku.clone(),
                barcode: l.barcode.clone(),
                qty: Qty::new(l.qty).ok()?,
                serial: match l.serials.as_slice() {
                    [only] if l.qty == 1 => Some(only.clone()),
                    _ => None,
                },
            })
        })
        .collect();
    if lines.is_empty() {
        vec![unidentified_line()]
    } else {
        lines
    }
}

fn unidentified_line() -> NewLine {
    NewLine {
        sku: None,
        barcode: None,
        // Invariant: 1 is within Qty's range (Qty::MIN is 1).
        qty: Qty::new(1).expect("1 is a valid Qty"),
        serial: None,
    }
}

fn find_line(case: &Case, number: LineNo) -> Result<&Line, CaseError> {
    case.line(number).ok_or(CaseError::UnknownLine {
        line: number,
        lines: case.lines.len(),
    })
}

/// Resolves an optional quantity against what is available (> 0).
fn take(case: &Case, line: LineNo, qty: Option<Qty>, available: u32) -> Result<u32, CaseError> {
    let requested = qty.map_or(available, Qty::get);
    if requested > available {
        return Err(CaseError::QuantityExceeds {
            line,
            requested,
            available,
            state: case.state(),
        });
    }
    Ok(requested)
}

fn decide_inspect(case: &Case, cmd: &Inspect, actor: &Actor, policy: &Policy) -> Result<CaseEvent, CaseError> {
    let line = find_line(case, cmd.line)?;
    let qty = match cmd.corrects {
        None => {
            let available = line.uninspected();
            if available == 0 {
                return Err(CaseError::NothingToInspect {
                    line: cmd.line,
                    state: case.state(),
                });
            }
            take(case, cmd.line, cmd.qty, available)?
        }
        Some(corrected) => {
            if !actor.role.includes(Role::Supervisor) {
                return Err(CaseError::NeedsSupervisor {
                    reason: SupervisorReason::Correction,
                });
            }
            let record = line
                .active_inspection(corrected)
                .ok_or(CaseError::UnknownInspection { event: corrected })?;
            // A correction replaces what was said about the same units; moving
            // units between inspected and uninspected is a different fact.
            match cmd.qty {
                Some(qty) if qty.get() != record.qty => {
                    return Err(CaseError::CorrectionQuantity {
                        expected: record.qty,
                        requested: qty.get(),
                    })
                }
                _ => record.qty,
            }
        }
    };
    let mut conditions = cmd.conditions.clone();
    conditions.sort_unstable();
    conditions.dedup();
    let flags = inspection_flags(case, line, &conditions, cmd.serial.as_ref());
    let (suggested, hit) = policy::suggested_disposition(policy, cmd.grade);
    Ok(CaseEvent::ItemInspected {
        line: cmd.line,
        qty,
        grade: cmd.grade,
        conditions,
        serial: cmd.serial.clone(),
        notes: cmd.notes.clone(),
        corrects: cmd.corrects,
        flags,
        suggested: Some(suggested),
        rules: vec![hit],
    })
}

/// Flags an inspection raises, leaving out ones already open so the stream
/// does not claim to raise what was already raised.
fn inspection_flags(case: &Case, line: &Line, conditions: &[Condition], serial: Option<&Serial>) -> Vec<Flag> {
    let serial_differs = match (serial, &line.serial) {
        (Some(seen), Some(expected)) => seen != expected,
        (Some(seen), None) => policy::serial_sold_elsewhere(case, line, seen),
        (None, _) => false,
    };
    let candidates = [
        (conditions.contains(&Condition::WrongItem), Flag::WrongItem),
        (conditions.contains(&Condition::EmptyBox), Flag::EmptyBox),
        (serial_differs, Flag::SerialMismatch),
    ];
    candidates
        .into_iter()
        .filter(|&(raised, flag)| raised && !case.is_flag_open(flag))
        .map(|(_, flag)| flag)
        .collect()
}

fn decide_dispose(case: &Case, cmd: &Dispose, actor: &Actor, policy: &Policy) -> Result<CaseEvent, CaseError> {
    let line = find_line(case, cmd.line)?;
    let (disposition, rules) = match cmd.disposition {
        Some(disposition) => (disposition, Vec::new()),
        None => default_disposition(line, policy)?,
    };
    if !actor.role.includes(Role::Supervisor) {
        let open = case.open_flags();
        if !open.is_empty() {
            return Err(CaseError::NeedsSupervisor {
                reason: SupervisorReason::OpenFlags(open),
            });
        }
        if policy.supervisor_dispositions.contains(&disposition) {
            return Err(CaseError::NeedsSupervisor {
                reason: SupervisorReason::Disposition(disposition),
            });
        }
        if policy::is_high_value(case) {
            return Err(CaseError::NeedsSupervisor {
                reason: SupervisorReason::HighValue,
            });
        }
    }
    let available = line.awaiting_disposition();
    if available == 0 {
        return Err(CaseError::NothingToDispose {
            line: cmd.line,
            state: case.state(),
        });
    }
    let qty = take(case, cmd.line, cmd.qty, available)?;
    Ok(CaseEvent::ItemDisposed {
        line: cmd.line,
        qty,
        disposition,
        rules,
    })
}

/// The disposition the policy gives the line's graded units, when their grades agree on one.
/// A line with nothing graded falls through to the "nothing to dispose" refusal with `Quarantine`
/// as a placeholder that is never recorded.
fn default_disposition(line: &Line, policy: &Policy) -> Result<(Disposition, Vec<RuleHit>), CaseError> {
    let mut defaults: Vec<(Disposition, RuleHit)> = Vec::new();
    for record in line.inspections.iter().filter(|r| r.superseded_by.is_none()) {
        let (disposition, hit) = policy::suggested_disposition(policy, record.grade);
        if !defaults.iter().any(|(d, _)| *d == disposition) {
            defaults.push((disposition, hit));
        }
    }
    match defaults.len() {
        0 => Ok((Disposition::Quarantine, Vec::new())),
        1 => {
            let (disposition, hit) = defaults.remove(0);
            Ok((disposition, vec![hit]))
        }
        _ => Err(CaseError::NoDefaultDisposition {
            line: line.number,
            defaults: defaults.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

fn decide_clear_flag(case: &Case, cmd: &ClearFlag) -> Result<CaseEvent, CaseError> {
    if !case.is_flag_open(cmd.flag) {
        return Err(CaseError::FlagNotOpen {
            flag: cmd.flag,
            state: case.state(),
        });
    }
    Ok(CaseEvent::FlagCleared {
        flag: cmd.flag,
        note: cmd.note.clone(),
    })
}

fn decide_close(case: &Case) -> Result<CaseEvent, CaseError> {
    let state = case.state();
    if state != CaseState::Disposed {
        return Err(CaseError::NotReadyToClose {
            state,
            open_flags: case.open_flags(),
        });
    }
    Ok(CaseEvent::CaseClosed)
}

/// The event that must follow `case`'s latest event in the same transaction, if any: today
/// only a refund decision that became due (see `policy::refund_due`).
pub fn follow_up(case: &Case, policy: &Policy) -> Option<CaseEvent> {
    policy::refund_due(policy, case).map(|decision| CaseEvent::RefundDecided { decision })
}

/// Label of a projection built from a stream that does not start with
/// `ParcelReceived`; only reachable from corrupt or truncated storage.
const UNRECEIVED_LABEL: &str = "UNRECEIVED";

/// Folds one event into the projection. `id` names the case when `case` is
/// `None`; an existing case keeps its own id.
///
/// Total: events come from disk, so anything `decide` would never produce
/// (a second receipt, an unknown line, more units than available, a
/// correction of an unknown record, clearing a flag that is not open) is
/// ignored rather than panicking or breaking
/// `disposed <= inspected <= received`. `events` still counts it.
pub fn apply(case: Option<Case>, id: CaseId, event_id: EventId, event: &CaseEvent) -> Case {
    let mut case = match (case, event) {
        (Some(mut case), _) => {
            fold(&mut case, event_id, event);
            case
        }
        (
            None,
            CaseEvent::ParcelReceived {
                label,
                weight,
                scale,
                rma,
                lines,
                flags,
                expected,
                rules: _,
            },
        ) => {
            let mut case = Case {
                id,
                label: label.clone(),
                rma: rma.clone(),
                weight: *weight,
                scale: scale.clone(),
                lines: receipt_lines(lines),
                flags: Vec::new(),
                closed: false,
                expected: expected.clone(),
                refund: None,
                events: 0,
            };
            case.raise(event_id, flags);
            case
        }
        (None, _) => {
            let mut case = Case {
                id,
                // Invariant: UNRECEIVED_LABEL is a valid barcode (unit-tested).
                label: Barcode::parse(UNRECEIVED_LABEL).expect("UNRECEIVED_LABEL is a valid barcode"),
                rma: None,
                weight: None,
                scale: None,
                lines: Vec::new(),
                flags: Vec::new(),
                closed: false,
                expected: None,
                refund: None,
                events: 0,
            };
            fold(&mut case, event_id, event);
            case
        }
    };
    case.events = case.events.saturating_add(1);
    case
}

fn receipt_lines(lines: &[NewLine]) -> Vec<Line> {
    let unidentified = [unidentified_line()];
    let lines = if lines.is_empty() { &unidentified[..] } else { lines };
    // Zipping with the valid line numbers drops lines past LineNo::MAX
    // instead of failing, which only a corrupt stream could have.
    (LineNo::MIN..=LineNo::MAX)
        .filter_map(|n| LineNo::new(n).ok())
        .zip(lines)
        .map(|(number, new)| Line {
            number,
            sku: new.sku.clone(),
            barcode: new.barcode.clone(),
            serial: new.serial.clone(),
            received: new.qty.get(),
            inspections: Vec::new(),
            dispositions: Vec::new(),
        })
        .collect()
}

fn fold(case: &mut Case, event_id: EventId, event: &CaseEvent) {
    match event {
        CaseEvent::ParcelReceived { .. } => {}
        CaseEvent::ItemInspected {
            line,
            qty,
            grade,
            conditions,
            serial,
            notes: _,
            corrects,
            flags,
            suggested: _,
            rules: _,
        } => {
            let Some(line) = case.line_mut(*line) else {
                return;
            };
            let qty = match corrects {
                None => {
                    let qty = (*qty).min(line.uninspected());
                    if qty == 0 {
                        return;
                    }
                    qty
                }
                Some(corrected) => {
                    let Some(old) = line
                        .inspections
                        .iter_mut()
                        .find(|r| r.event == *corrected && r.superseded_by.is_none())
                    else {
                        return;
                    };
                    old.superseded_by = Some(event_id);
                    // The old record's quantity, not the event's, keeps the
                    // line's inspected count unchanged as decide guarantees.
                    old.qty
                }
            };
            line.inspections.push(InspectionRecord {
                event: event_id,
                qty,
                grade: *grade,
                conditions: conditions.clone(),
                serial: serial.clone(),
                superseded_by: None,
            });
            case.raise(event_id, flags);
        }
        CaseEvent::ItemDisposed {
            line,
            qty,
            disposition,
            rules: _,
        } => {
            let Some(line) = case.line_mut(*line) else {
                return;
            };
            let qty = (*qty).min(line.awaiting_disposition());
            if qty > 0 {
                line.dispositions.push(DispositionRecord {
                    event: event_id,
                    qty,
                    disposition: *disposition,
                });
            }
        }
        CaseEvent::FlagCleared { flag, note: _ } => {
            if let Some(record) = case
                .flags
                .iter_mut()
                .find(|r| r.flag == *flag && r.cleared_by.is_none())
            {
                record.cleared_by = Some(event_id);
            }
        }
        CaseEvent::CaseClosed => case.closed = true,
        CaseEvent::RefundDecided { decision } => {
            case.refund = Some(RefundRecord {
                event: event_id,
                decision: decision.clone(),
            })
        }
    }
}
