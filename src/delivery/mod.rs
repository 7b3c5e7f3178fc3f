//! The delivery engine: store-and-forward from the outbox to each sink, exactly once in effect.
//!
//! # Shape
//! One [`dispatcher`] per configured sink. It keeps an in-memory schedule of that sink's pending
//! outbox entries (rebuilt from the store on start and after operator actions) and runs
//! deliveries as tasks, bounded by `delivery.concurrency`:
//! - **Per case in order**: only the oldest pending entry of a case is ever eligible, so a
//!   disposition never overtakes its receipt. Different cases run concurrently. A case with a
//!   dead letter is blocked until an operator replays or discards it.
//! - **Per order key in order, across cases**: a sink may give entries an order key
//!   ([`Sink::order_key`]; the Odoo sink: the RMA of a receipt). Entries with the same key are
//!   delivered one at a time in sequence order, and a dead letter blocks the later ones of its key
//!   as it blocks its case. The ordering is derived from what the store holds (sequence numbers,
//!   dead letters), so it survives restarts and is the same in every process.
//! - **Only durable events are forwarded**: the dispatcher watches the store's durable sequence
//!   number and never loads an entry a crash could still take back. That watch is also the
//!   wake-up: a new event is picked up as soon as its group commit finishes, without polling.
//!
//! # Outcomes
//! A sink's [`Sink::deliver`] answers each job with exactly one [`Outcome`]: `Delivered` (entry
//! moves to `settled`), `Retry` (attempts + 1, next attempt after the backoff of `retry.rs` or the
//! sink's `after`; never given up), or `Reject` (entry moves to `dead_letters` with the reason). A
//! `Retry` with [`RetryScope::Sink`] also pauses the whole sink with one status (bad credentials,
//! database missing, unreachable): no further deliveries until [`Sink::probe`] succeeds.
//!
//! # Steps
//! Sinks whose delivery is several remote calls record the step reached and the remote
//! references learnt in the entry, and make that durable through [`Progress`] **before** their
//! next remote call. Retries, restarts and dead-letter replays resume from there.

pub mod dispatcher;
pub mod retry;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use crate::domain::{Case, CaseId};
use crate::store::{DeliveryState, EventRecord, OutboxEntry, Store, StoreError};

pub use dispatcher::{spawn, DispatcherOptions, SinkHandle, SinkStatus};

/// What one delivery attempt achieved for one entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The effect exists at the sink (made now or found from an earlier attempt).
    Delivered,
    /// No remote effect is needed for this event (for example a restock of units that are
    /// already where restock puts them). Settled as delivered, with the note in its record.
    Settled { note: String },
    /// Not now; try again. Transient errors always end here, never in `Reject`.
    Retry {
        reason: String,
        after: Option<Duration>,
        scope: RetryScope,
    },
    /// The sink refused the content; retrying cannot help. Goes to the dead-letter tree.
    Reject { reason: String },
}

impl Outcome {
    pub fn retry(reason: impl Into<String>) -> Self {
        Outcome::Retry {
            reason: reason.into(),
            after: None,
            scope: RetryScope::Entry,
        }
    }

    pub fn pause(reason: impl Into<String>) -> Self {
        Outcome::Retry {
            reason: reason.into(),
            after: None,
            scope: RetryScope::Sink,
        }
    }

    pub fn reject(reason: impl Into<String>) -> Self {
        Outcome::Reject { reason: reason.into() }
    }
}

/// Whether a retry concerns one entry or the whole sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryScope {
    Entry,
    /// A sink-wide condition: pause the sink until a probe succeeds.
    Sink,
}

/// One entry to deliver, with the event it carries and the case as it stands now.
#[derive(Debug, Clone)]
pub struct Job {
    pub entry: OutboxEntry,
    pub event: EventRecord,
    pub case: Option<Case>,
}

/// Saves delivery progress (step and refs) durably before the next remote call, and reads what
/// this sink recorded when it delivered an earlier event of the same case.
#[derive(Debug, Clone)]
pub struct Progress {
    store: Store,
    sink: String,
}

impl Progress {
    pub fn new(store: Store, sink: String) -> Self {
        Progress { store, sink }
    }

    /// Persists the entries' current step and refs and waits until that is durable (one shared
    /// sync for the whole batch).
    pub async fn save(&self, jobs: &[&Job]) -> Result<(), StoreError> {
        for job in jobs {
            self.store.update_pending(&self.sink, &job.entry)?;
        }
        self.store.durable().await
    }

    /// The entry of the case's receipt (its first event) as this sink settled it, with the refs
    /// the sink recorded; `None` while it is not delivered (or was never meant for this sink).
    pub fn delivered_receipt(&self, case: CaseId) -> Result<Option<OutboxEntry>, StoreError> {
        let Some(receipt) = self.store.case_events(case)?.into_iter().next() else {
            return Ok(None);
        };
        Ok(self
            .store
            .delivery_status(&self.sink, receipt.seq)?
            .filter(|status| status.state == DeliveryState::Delivered)
            .map(|status| status.entry))
    }
}

/// A delivery target. One dispatcher drives each sink; `deliver` may run concurrently for
/// different cases.
pub trait Sink: Send + Sync + 'static {
    /// Jobs with equal keys may be delivered together in one `deliver` call (`None`: alone).
    fn batch_key(&self, _job: &Job) -> Option<String> {
        None
    }

    /// Whether [`Sink::order_key`] is used: the dispatcher then reads each pending entry's event
    /// when it schedules it, which sinks without cross-case order do not pay for.
    const ORDERED: bool = false;

    /// Entries whose events have equal keys are delivered one at a time, oldest first, even
    /// across cases; a dead-lettered one holds back the later ones (`None`: only case order).
    fn order_key(&self, _event: &EventRecord) -> Option<String> {
        None
    }

    /// Largest batch `deliver` accepts.
    fn max_batch(&self) -> usize {
        1
    }

    /// Attempts the jobs; returns one outcome per job, in the same order. Progress of
    /// multi-step deliveries goes into `job.entry.step`/`refs` and is saved with `progress`
    /// before each next remote call.
    fn deliver(&self, jobs: &mut [Job], progress: &Progress) -> impl Future<Output = Vec<Outcome>> + Send;

    /// Whether a paused sink can work again (credentials accepted, database there, reachable).
    fn probe(&self) -> impl Future<Output = Result<(), String>> + Send;
}
