//! The records the store keeps, one type per tree, each with its layout version.
//!
//! These are storage shapes, not API shapes: the HTTP layer renders its own views. Adding an
//! optional field (`#[serde(default)]`) is compatible in both directions; anything else bumps the
//! record's `VERSION` and teaches `encoding::decode` callers to read the old layout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::encoding::Versioned;
use crate::domain::{Case, CaseEvent, CaseId, EventId, Role, SiteId, StationId, TokenId};

/// One recorded event: the fact the domain decided plus who, where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    pub id: EventId,
    pub case_id: CaseId,
    pub site: SiteId,
    pub station: StationId,
    /// The station token that authorised the write (audit).
    pub token: TokenId,
    pub recorded_at_ms: u64,
    pub event: CaseEvent,
}

impl Versioned for EventRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "event";
}

impl Versioned for Case {
    const VERSION: u16 = 1;
    const NAME: &'static str = "case";
}

/// The first answer given for an Idempotency-Key, replayed verbatim for a retried request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 (hex) of method, path and canonical JSON body; another body under the same key is
    /// refused.
    pub fingerprint: String,
    pub status: u16,
    /// The JSON body of the first answer.
    pub body: String,
    pub seq: u64,
    pub created_at_ms: u64,
}

impl Versioned for IdempotencyRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "idempotency";
}

/// Delivery state of one event for one sink. Written in the same transaction as the event; the
/// delivery engine updates it durably before each remote call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub event_id: EventId,
    pub case_id: CaseId,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Unix ms before which no attempt is made (0: at once).
    pub next_attempt_at_ms: u64,
    pub last_error: Option<String>,
    /// For sinks whose delivery is several remote calls: the last step known to be done.
    pub step: u32,
    /// Remote references learnt on the way (for Odoo: the picking or scrap id), kept across
    /// retries, restarts and dead-letter replays so that no step is ever done twice.
    #[serde(default)]
    pub refs: BTreeMap<String, i64>,
    /// When the event was recorded (Unix ms), for the oldest-pending age.
    #[serde(default)]
    pub created_at_ms: u64,
}

impl OutboxEntry {
    pub fn new(seq: u64, event_id: EventId, case_id: CaseId, created_at_ms: u64) -> Self {
        OutboxEntry {
            seq,
            event_id,
            case_id,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at_ms: 0,
            last_error: None,
            step: 0,
            refs: BTreeMap::new(),
            created_at_ms,
        }
    }
}

impl Versioned for OutboxEntry {
    const VERSION: u16 = 1;
    const NAME: &'static str = "outbox entry";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    DeadLettered,
    /// An operator gave up on a dead letter; the effect was never made by us.
    Discarded,
}

/// An entry that left the outbox for good (delivered or discarded), kept for the case view and
/// the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettledRecord {
    pub entry: OutboxEntry,
    pub settled_at_ms: u64,
    /// Why it was discarded, or the last note before delivery.
    pub note: Option<String>,
}

impl Versioned for SettledRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "settled entry";
}

/// An entry the sink rejected: kept with the reason until an operator replays or discards it.
/// The event itself stays in `events`; the entry keeps its step and references so a replay
/// resumes where the delivery stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub entry: OutboxEntry,
    pub reason: String,
    pub dead_at_ms: u64,
}

impl Versioned for DeadLetter {
    const VERSION: u16 = 1;
    const NAME: &'static str = "dead letter";
}

/// A station token. Only the SHA-256 of the secret is kept; the secret is shown once at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub station: StationId,
    pub role: Role,
    /// SHA-256 of the secret part, hex.
    pub secret_sha256: String,
    pub created_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

impl Versioned for TokenRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "token";
}

/// One administrative action on the station tokens — who, when, what — kept in `token_audit`
/// for good (retention never prunes it; backups carry it). Written in the same transaction as
/// the change it describes, so a token never exists without the record of who made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenAuditRecord {
    pub at_ms: u64,
    pub by: TokenActor,
    pub action: TokenAction,
}

impl Versioned for TokenAuditRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "token audit record";
}

/// Who acted on the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenActor {
    /// An admin token, over HTTP.
    Token { id: TokenId, station: StationId },
    /// The offline CLI on the box. `user` is the OS account the environment names: a hint for
    /// the reader, not a proof — whoever can open the store's files needs no token at all.
    Cli { user: String },
}

/// What was done to the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAction {
    Created {
        token: TokenId,
        station: StationId,
        role: Role,
    },
    Revoked {
        token: TokenId,
    },
    /// The list was read (ids, stations and roles; never secrets, which are not stored).
    Listed {
        tokens: u64,
    },
}

/// Values of the `meta` tree. Variants are only ever added (an older binary serves a store with
/// the retention keys; only its `store check` would name them as unexpected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetaRecord {
    SchemaVersion(u32),
    Site(SiteId),
    /// Every event with a lower or equal sequence number may have been archived and pruned.
    ArchivedUpTo(u64),
    /// A retention batch in progress: its archive file name and its cases (`retention.rs`).
    ArchiveIntent {
        file: String,
        cases: Vec<CaseId>,
    },
}

impl Versioned for MetaRecord {
    const VERSION: u16 = 1;
    const NAME: &'static str = "meta";
}
