//! The pure domain of returns-edge (warehouse returns receiving): validated
//! values and ids, grading vocabulary, roles, and the return case state
//! machine (decide a command into an event, apply events to a projection).
//!
//! No IO: no files, network, async runtime or logging. Callers pass in
//! everything (including event ids) and persist what comes out.

pub mod case;
pub mod expected;
pub mod grading;
pub mod ids;
pub mod policy;
pub mod role;
pub mod values;

pub use case::{
    apply, decide, follow_up, Actor, Case, CaseError, CaseEvent, CaseState, ClearFlag, Command, Dispose,
    DispositionRecord, EventKind, Flag, FlagRecord, Inspect, InspectionRecord, Line, NewLine, ReceiveParcel,
    RefundRecord, SupervisorReason, MAX_LINES,
};
pub use expected::{normalize_code, ExpectedLine, ExpectedReturn, MatchedBy};
pub use grading::{Condition, Disposition, Grade};
pub use ids::{CaseId, EventId, SiteId, StationId, TokenId};
pub use policy::{GradeRule, Policy, RefundDecision, RefundLine, RefundOn, RuleHit, WeightCheck};
pub use role::Role;
pub use values::{Barcode, Grams, InvalidValue, LineNo, Notes, Qty, RmaRef, ScaleId, Serial, Sku, NOTES_MAX_CHARS};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
