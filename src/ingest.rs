//! The one write path. HTTP handlers (and, later, device-triggered receipts) build a [`Write`];
//! this module lets the domain decide, commits the event with its projection, idempotency record
//! and outbox entries in one store transaction, and returns only once that is durable.
//!
//! It owns the answer a station gets for a write, because that exact answer is what an
//! Idempotency-Key replay must return.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::SinkConfig;
use crate::domain::{
    self, Actor, Case, CaseError, CaseEvent, CaseId, CaseState, Command, Disposition, EventId, EventKind, Flag, Policy,
    ReceiveParcel, RefundDecision, RmaRef, SiteId,
};
use crate::rma::{RmaCache, RmaError};
use crate::store::{self, Commit, EventRecord, FollowUp, IdempotentRequest, RecordError, Recorded, Store, StoreError};
use crate::tokens::Caller;

/// Largest number of events one case may collect. A case's projection is stored as one value;
/// the cap keeps it far below sled's blob threshold and a runaway client from growing it forever.
pub const MAX_EVENTS_PER_CASE: u32 = 1_000;

/// Everything needed to run one write command.
#[derive(Debug, Clone)]
pub struct Write {
    pub caller: Caller,
    pub idempotency_key: String,
    /// Hex SHA-256 of method, path and canonical body.
    pub fingerprint: String,
    /// `None` opens a new case (receipts); otherwise the case the command is for.
    pub case: Option<CaseId>,
    pub command: Command,
}

/// The answer for an accepted write, durable on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// True when this is the stored answer of an earlier request with the same key.
    pub replayed: bool,
}

/// Why a write was not accepted. Nothing was stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The case named in the path does not exist (HTTP 404).
    #[error("case {0} does not exist")]
    UnknownCase(CaseId),
    /// The domain refused the command (409, 403 or 422 depending on the rule).
    #[error(transparent)]
    Refused(CaseError),
    /// The case reached [`MAX_EVENTS_PER_CASE`] (HTTP 409).
    #[error("case {0} already has {MAX_EVENTS_PER_CASE} events; open a new case")]
    CaseFull(CaseId),
    /// The Idempotency-Key was used before for a different request (HTTP 409).
    #[error("the Idempotency-Key was already used for a different request; use a new key for a new request")]
    KeyReused,
    /// The store failed or refused (HTTP 503 when it cannot sync or its file system is read-only,
    /// 507 when its disk is full, 500 otherwise).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The write path, shared by all handlers. Cheap to clone.
///
/// Async writes run on one dedicated writer thread, one after the other: commits are serial
/// anyway (sequence numbers follow commit order), and one thread draining a queue avoids both
/// the blocking pool's thread hops and a convoy of threads fighting over the writer lock. The
/// disk sync happens on the store's flusher thread, so the writer is already committing the next
/// requests while the previous ones are being synced.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: Store,
    site: SiteId,
    policy: Policy,
    sinks: Vec<SinkConfig>,
    /// Where receipts find the return Odoo expects (the label or RMA scanned).
    rma: Option<RmaCache>,
    writer: std::sync::mpsc::Sender<WriterJob>,
}

type WriterJob = Box<dyn FnOnce() + Send>;

#[derive(Serialize)]
struct WriteAnswer<'a> {
    case_id: CaseId,
    event_id: EventId,
    seq: u64,
    state: CaseState,
    #[serde(skip_serializing_if = "Option::is_none")]
    rma: Option<&'a RmaRef>,
    flags: Vec<Flag>,
    /// The policy's suggestion for an inspection.
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_disposition: Option<Disposition>,
    /// The refund decision this write made due, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund: Option<RefundAnswer<'a>>,
}

#[derive(Serialize)]
struct RefundAnswer<'a> {
    decision_id: EventId,
    #[serde(flatten)]
    decision: &'a RefundDecision,
}

impl Ingest {
    pub fn new(store: Store, site: SiteId, policy: Policy, sinks: Vec<SinkConfig>) -> Self {
        let (writer, jobs) = std::sync::mpsc::channel::<WriterJob>();
        // The thread ends when the last `Ingest` clone (and so the last sender) is dropped.
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || jobs.into_iter().for_each(|job| job()))
            .expect("the OS can start the writer thread");
        Ingest {
            store,
            site,
            policy,
            sinks,
            rma: None,
            writer,
        }
    }

    /// Receipts look their label (or the RMA they name) up in `cache`, and the policy judges
    /// what it finds. Without a cache no receipt has expectations and none is "unexpected".
    pub fn with_rma(mut self, cache: RmaCache) -> Self {
        self.rma = Some(cache);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs the write and waits until it is durable.
    pub async fn execute(&self, write: Write) -> Result<Accepted, IngestError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let in_flight = self.store.begin_write();
        let job: WriterJob = Box::new(move || {
            let result = this.commit(&write).and_then(|accepted| {
                // Replays queue too: the first request may still be waiting for its own sync.
                Ok((accepted, this.store.task_ticket()?))
            });
            drop(in_flight);
            // The request may have been cancelled meanwhile; its write stands and a retry replays it.
            let _ = answer.send(result);
        });
        let closed = || IngestError::Store(StoreError::Sync(store::SyncError::Closed));
        self.writer.send(job).map_err(|_| closed())?;
        let (accepted, ticket) = answered.await.map_err(|_| closed())??;
        ticket.wait().await.map_err(StoreError::from)?;
        Ok(accepted)
    }

    /// Blocking form of [`Ingest::execute`], for threads that are not async.
    pub fn execute_blocking(&self, write: &Write) -> Result<Accepted, IngestError> {
        let in_flight = self.store.begin_write();
        let accepted = self.commit(write)?;
        let ticket = self.store.thread_ticket()?;
        drop(in_flight);
        ticket.wait().map_err(StoreError::from)?;
        Ok(accepted)
    }

    /// Commits the write in memory (one transaction) without waiting for the disk.
    fn commit(&self, write: &Write) -> Result<Accepted, IngestError> {
        let request = IdempotentRequest {
            station: &write.caller.station,
            key: &write.idempotency_key,
            fingerprint: &write.fingerprint,
        };
        let actor = Actor {
            role: write.caller.role,
        };
        let recorded = self.store.record(&request, write.case, |current, seq| {
            self.decide(write, &actor, current, seq)
        });
        match recorded {
            Ok(Recorded::Appended { status, body, .. }) => Ok(Accepted {
                status,
                body,
                replayed: false,
            }),
            Ok(Recorded::Replayed { status, body, .. }) => Ok(Accepted {
                status,
                body,
                replayed: true,
            }),
            Err(RecordError::KeyReused) => Err(IngestError::KeyReused),
            Err(RecordError::Refused(e)) => Err(e),
            Err(RecordError::Store(e)) => Err(IngestError::Store(e)),
        }
    }

    fn decide(&self, write: &Write, actor: &Actor, current: Option<Case>, seq: u64) -> Result<Commit, IngestError> {
        let case_id = match (write.case, &current) {
            (Some(id), None) => return Err(IngestError::UnknownCase(id)),
            (Some(id), Some(case)) if case.events >= MAX_EVENTS_PER_CASE => return Err(IngestError::CaseFull(id)),
            (Some(id), Some(_)) => id,
            (None, _) => CaseId::generate(),
        };
        let command = match &write.command {
            Command::Receive(receive) if current.is_none() => Command::Receive(self.with_expectations(receive)?),
            other => other.clone(),
        };
        let event = domain::decide(current.as_ref(), &command, actor, &self.policy).map_err(IngestError::Refused)?;
        let event_id = EventId::generate();
        let recorded_at_ms = now_ms();
        let mut case = domain::apply(current, case_id, event_id, &event);
        let mut follow_ups = Vec::new();
        // A refund decision that this event made due is committed with it: a crash can never
        // leave a graded case whose refund was due but never decided.
        if let Some(next) = domain::follow_up(&case, &self.policy) {
            let id = EventId::generate();
            case = domain::apply(Some(case), case_id, id, &next);
            follow_ups.push(FollowUp {
                sinks: self.sinks_for(next.kind()),
                event: EventRecord {
                    seq: seq + 1,
                    id,
                    case_id,
                    site: self.site.clone(),
                    station: write.caller.station.clone(),
                    token: write.caller.token.clone(),
                    recorded_at_ms,
                    event: next,
                },
            });
        }
        let refund = follow_ups.iter().find_map(|f| match &f.event.event {
            CaseEvent::RefundDecided { decision } => Some(RefundAnswer {
                decision_id: f.event.id,
                decision,
            }),
            _ => None,
        });
        let answer = WriteAnswer {
            case_id,
            event_id,
            seq,
            state: case.state(),
            rma: match &event {
                CaseEvent::ParcelReceived { .. } => case.rma.as_ref(),
                _ => None,
            },
            flags: case.open_flags(),
            suggested_disposition: match &event {
                CaseEvent::ItemInspected { suggested, .. } => *suggested,
                _ => None,
            },
            refund,
        };
        let body = serde_json::to_string(&answer).expect("answers serialise to JSON infallibly");
        let sinks = self.sinks_for(event.kind());
        let record = EventRecord {
            seq,
            id: event_id,
            case_id,
            site: self.site.clone(),
            station: write.caller.station.clone(),
            token: write.caller.token.clone(),
            recorded_at_ms,
            event,
        };
        Ok(Commit {
            event: record,
            case,
            status: 201,
            body,
            sinks,
            follow_ups,
        })
    }

    /// The receipt with the expected return its RMA (if named) or label matches in the cache.
    /// Looked up here, on the writer thread and only for a first request (never for a replay),
    /// so the snapshot stored with the event is the one the policy judged.
    fn with_expectations(&self, receive: &ReceiveParcel) -> Result<ReceiveParcel, IngestError> {
        let mut receive = receive.clone();
        let Some(cache) = self.rma.as_ref().filter(|c| c.enabled()) else {
            return Ok(receive);
        };
        let synced = cache.age().map_err(IngestError::Store)?.synced_at_ms.is_some();
        let codes = receive.rma.iter().map(|r| r.as_str()).chain([receive.label.as_str()]);
        let mut found = None;
        for code in codes {
            match cache.lookup(code) {
                Ok(Some(hit)) => {
                    found = Some(Box::new(hit.expected));
                    break;
                }
                // A code the cache cannot hold (too long, blank) simply matches nothing.
                Ok(None) | Err(RmaError::InvalidCode) => {}
                Err(RmaError::Store(e)) => return Err(IngestError::Store(e)),
                Err(other) => {
                    tracing::warn!(error = %other, "RMA cache lookup failed; receipt recorded without expectations");
                }
            }
        }
        receive.expected = found;
        // Only a cache that has synced knows what to expect; before that nothing is unexpected.
        receive.expectations_known = synced;
        Ok(receive)
    }

    /// Names of the configured sinks that want events of `kind`.
    fn sinks_for(&self, kind: EventKind) -> Vec<String> {
        self.sinks
            .iter()
            .filter(|sink| sink.kind.wants(kind))
            .map(|sink| sink.name.as_str().to_owned())
            .collect()
    }
}

/// Wall-clock time in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
