//! The store: the only module that imports sled. It owns the on-disk layout, record encoding,
//! the one-transaction-per-command write path and the durability contract.
//!
//! # Trees
//! `events` (the log, keyed by sequence), `cases` (projection of each case, rebuilt by the
//! domain's `apply`), `case_events` (index: a case's event sequence numbers), `idempotency` (first
//! answer per station and Idempotency-Key), `outbox` (one entry per event per sink that wants it),
//! `settled` (entries delivered or discarded), `dead_letters` (entries a sink rejected, with the
//! reason), `tokens` (station tokens, hashed), `token_audit` (who created, revoked or listed
//! tokens, and when) and `meta` (schema version, site). The RMA cache's
//! trees (`rma_returns`, `rma_codes`, `rma_meta`: a rebuildable copy of Odoo's open returns) are
//! described in `rma.rs`. An outbox entry
//! lives in exactly one of `outbox`, `dead_letters` and `settled`; moves between them are
//! transactions (`outbox.rs`). Key layout: `keys.rs`.
//! Value encoding: `encoding.rs` (MessagePack with named fields in a versioned envelope).
//!
//! # Write path
//! [`Store::record`] runs one command: under the writer lock it looks up the Idempotency-Key,
//! reads the case, lets the caller's `decide` closure produce the event and the new projection,
//! and writes event + projection + index + idempotency record + outbox entries in **one sled
//! transaction**. A reader (or a recovery after a crash) sees all of them or none. The writer
//! lock makes sequence numbers follow commit order, so `GET /v1/events?after=` never skips an
//! event that commits late; it is held for microseconds, never across a disk sync.
//!
//! # Durability
//! A committed transaction is only in memory. The caller then awaits [`Store::durable`], which
//! joins the next group commit (`durability.rs`): sled flush, `fdatasync` of `<dir>/db`, sync of
//! any blob file. Only then may the station get its 2xx. A replayed answer waits for a sync too,
//! so a retry can never be acknowledged before the original write is on disk.
//!
//! # Recovery and versions
//! sled recovers its log on open. `meta.schema_version` guards the layout: a store written by a
//! newer schema is refused with a clear error; older ones are migrated here (none exist yet: this
//! is schema 1). The site recorded at creation must match the configured site, so a data
//! directory cannot silently be served under another site's name.

pub mod backup;
mod check;
mod durability;
pub mod encoding;
mod keys;
mod outbox;
pub mod records;
pub mod retention;
pub mod rma;
pub mod space;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub use backup::{BackupError, BackupHeader, BackupSummary, RestoreOptions};
pub use check::{CheckReport, Problem};
pub use durability::{InFlight, SyncError, SyncObserver, SyncStats, TaskTicket, ThreadTicket};
pub use encoding::DecodeError;
pub use outbox::{DeliveryStatus, SinkCounts};
pub use records::{
    DeadLetter, DeliveryState, EventRecord, IdempotencyRecord, OutboxEntry, SettledRecord, TokenAction, TokenActor,
    TokenAuditRecord, TokenRecord,
};

use crate::domain::{Case, CaseId, SiteId, StationId, TokenId};
use durability::GroupCommit;
use encoding::{decode, encode};
use records::MetaRecord;

/// The layout version of the whole store. Bump it when trees or keys change, with a migration.
pub const SCHEMA_VERSION: u32 = 1;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache budget. sled's default is 1 GiB; an edge box has far less to spare.
    pub cache_capacity_bytes: u64,
    /// The site this store belongs to; recorded on first open and checked afterwards. `None`
    /// (offline tools such as `token`) neither records nor checks it.
    pub site: Option<SiteId>,
}

/// Errors of the store. HTTP maps `Sync` and `ReadOnly` to 503, `DiskFull` to 507 and the rest
/// to 500 (they mean a bug or a broken disk, never bad input).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not open the directory; most often another process holds its lock.
    #[error("cannot open the store at {dir}: {reason}")]
    Open { dir: PathBuf, reason: String },
    /// The store was written by a newer returns-edge.
    #[error("the store at {dir} has schema version {found}; this binary supports up to {supported}. Install the newer returns-edge or restore a backup made by this version")]
    NewerSchema { dir: PathBuf, found: u32, supported: u32 },
    /// The data directory belongs to another site.
    #[error("the store at {dir} belongs to site `{stored}` but the configuration says `{configured}`; point data_dir at this site's store")]
    WrongSite {
        dir: PathBuf,
        stored: String,
        configured: String,
    },
    /// sled reported an I/O or corruption error.
    #[error("store I/O error: {0}")]
    Sled(#[from] sled::Error),
    /// A record could not be decoded.
    #[error("undecodable record in tree `{tree}`: {source}")]
    Decode { tree: &'static str, source: DecodeError },
    /// The write could not be made durable.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The file system holding the store has less free space than the reserve
    /// (`store.min_free_mb`); nothing was written (HTTP 507). See `space.rs`.
    #[error("the store at {dir} has {free_bytes} bytes free; new events need at least {needed_bytes} (store.min_free_mb). Free space on that file system; writes resume by themselves")]
    DiskFull {
        dir: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },
    /// The file system holding the store is mounted read-only; nothing was written (HTTP 503).
    #[error("the file system holding the store at {dir} is mounted read-only; remount it read-write")]
    ReadOnly { dir: PathBuf },
}

/// Outcome of [`Store::record`] when the command was accepted or replayed.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// A new event was committed (not yet durable: await [`Store::durable`]).
    Appended { seq: u64, status: u16, body: String },
    /// The Idempotency-Key was seen before with the same request: the first answer.
    Replayed { seq: u64, status: u16, body: String },
}

/// Why [`Store::record`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError<E> {
    /// The Idempotency-Key was used before with a different request (HTTP 409).
    #[error("this Idempotency-Key was already used for a different request")]
    KeyReused,
    /// The command was refused by the caller's decision (domain rules).
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Identifies a request for idempotency: who sent it, under which key, and what it was.
#[derive(Debug, Clone)]
pub struct IdempotentRequest<'a> {
    pub station: &'a StationId,
    pub key: &'a str,
    /// Hex SHA-256 of method, path and canonical body.
    pub fingerprint: &'a str,
}

/// What a `decide` closure hands back to be committed.
#[derive(Debug)]
pub struct Commit {
    pub event: EventRecord,
    pub case: Case,
    /// The answer to store for replays.
    pub status: u16,
    pub body: String,
    /// Sinks that get an outbox entry for this event.
    pub sinks: Vec<String>,
    /// Events the command's event made due (a refund decision), committed in the same
    /// transaction with the following sequence numbers; `case` is the projection after them.
    pub follow_ups: Vec<FollowUp>,
}

/// An event committed right after a command's own event, in its transaction.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub event: EventRecord,
    /// Sinks that get an outbox entry for this event.
    pub sinks: Vec<String>,
}

/// A handle to the open store. Cheap to clone; all clones share one database and one flusher.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    db: sled::Db,
    events: sled::Tree,
    cases: sled::Tree,
    case_events: sled::Tree,
    idempotency: sled::Tree,
    outbox: sled::Tree,
    settled: sled::Tree,
    dead_letters: sled::Tree,
    tokens: sled::Tree,
    token_audit: sled::Tree,
    /// The RMA cache (`rma.rs`).
    rma: rma::RmaTrees,
    /// Serialises writers; holds the last sequence number handed out.
    writer: Mutex<u64>,
    /// Held shared by every mutation for the span of its transaction and exclusively by a
    /// backup, so that a backup reads one point in the store's history (`backup.rs`).
    gate: RwLock<()>,
    commit: GroupCommit,
    /// Refuses new events when the disk runs low; installed by the server (`space.rs`).
    space: std::sync::OnceLock<space::SpaceGuard>,
    /// What retention archived since open (`retention.rs`).
    archived: retention::ArchiveCounts,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovers it, and checks schema and site.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            dir: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let db = open_sled(dir, options.cache_capacity_bytes)?;
        let open = |name: &str| db.open_tree(name);
        let meta = open("meta")?;
        check_schema(dir, &meta)?;
        if let Some(site) = &options.site {
            check_site(dir, &meta, site)?;
        }
        let events = open("events")?;
        let last_seq = match events.last()? {
            Some((key, _)) => keys::seq_from(&key).unwrap_or(0),
            None => 0,
        };
        // Retention may have archived the newest events; their numbers are never handed out again.
        let last_seq = last_seq.max(retention::archived_up_to(&meta)?);
        let commit = GroupCommit::start(db.clone(), dir, last_seq).map_err(|e| StoreError::Open {
            dir: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let inner = Inner {
            dir: dir.to_owned(),
            cases: open("cases")?,
            case_events: open("case_events")?,
            idempotency: open("idempotency")?,
            outbox: open("outbox")?,
            settled: open("settled")?,
            dead_letters: open("dead_letters")?,
            tokens: open("tokens")?,
            token_audit: open("token_audit")?,
            rma: rma::RmaTrees::open(&db)?,
            events,
            db,
            writer: Mutex::new(last_seq),
            gate: RwLock::new(()),
            commit,
            space: std::sync::OnceLock::new(),
            archived: retention::ArchiveCounts::default(),
        };
        let store = Store { inner: Arc::new(inner) };
        // Schema and site markers written on first open must be durable before we serve.
        store.inner.commit.durable_blocking()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs one command as one transaction. See the module docs for the sequence.
    ///
    /// `decide` gets the current case (if `case_id` names one that exists) and the sequence number
    /// the event will get; it returns what to commit or refuses. Nothing is written on refusal.
    /// The result is committed but not yet durable: await [`Store::durable`] before answering.
    pub fn record<E>(
        &self,
        request: &IdempotentRequest<'_>,
        case_id: Option<CaseId>,
        decide: impl FnOnce(Option<Case>, u64) -> Result<Commit, E>,
    ) -> Result<Recorded, RecordError<E>> {
        let inner = &*self.inner;
        inner.commit.check_writable().map_err(StoreError::from)?;
        let idem_key = keys::idempotency(request.station, request.key);
        // A poisoned lock only means another writer panicked between statements that have no
        // effect on the counter; the counter itself is still right.
        let _gate = inner.gate_shared();
        let mut last_seq = inner.writer.lock().unwrap_or_else(|p| p.into_inner());

        if let Some(bytes) = inner.idempotency.get(&idem_key).map_err(StoreError::from)? {
            let first: IdempotencyRecord = decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "idempotency",
                source,
            })?;
            if first.fingerprint != request.fingerprint {
                return Err(RecordError::KeyReused);
            }
            return Ok(Recorded::Replayed {
                seq: first.seq,
                status: first.status,
                body: first.body,
            });
        }
        // After the replay lookup: a replay writes nothing, so it is answered even on a full disk.
        inner.check_space()?;

        let case = match case_id {
            Some(id) => self.case(id)?,
            None => None,
        };
        let seq = *last_seq + 1;
        let commit = decide(case, seq).map_err(RecordError::Refused)?;
        debug_assert_eq!(commit.event.seq, seq, "decide must use the sequence it was given");
        debug_assert!(
            commit.follow_ups.iter().zip(seq + 1..).all(|(f, s)| f.event.seq == s),
            "follow-up events take the next sequence numbers"
        );
        let last = seq + commit.follow_ups.len() as u64;

        let idem = IdempotencyRecord {
            fingerprint: request.fingerprint.to_owned(),
            status: commit.status,
            body: commit.body.clone(),
            seq,
            created_at_ms: commit.event.recorded_at_ms,
        };
        let case_key = keys::case(commit.event.case_id);
        let case_bytes = encode(&commit.case);
        let idem_bytes = encode(&idem);
        let appended = std::iter::once((&commit.event, &commit.sinks))
            .chain(commit.follow_ups.iter().map(|f| (&f.event, &f.sinks)));
        let mut events_bytes = Vec::with_capacity(1 + commit.follow_ups.len());
        let mut outbox: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (event, sinks) in appended {
            events_bytes.push((event.seq, event.case_id, encode(event)));
            for sink in sinks {
                let entry = OutboxEntry::new(event.seq, event.id, event.case_id, event.recorded_at_ms);
                outbox.push((keys::outbox(sink, event.seq), encode(&entry)));
            }
        }

        (
            &inner.events,
            &inner.cases,
            &inner.case_events,
            &inner.idempotency,
            &inner.outbox,
        )
            .transaction(|(events, cases, case_events, idempotency, outbox_tree)| {
                for (event_seq, case_id, bytes) in &events_bytes {
                    events.insert(&keys::seq(*event_seq), bytes.as_slice())?;
                    case_events.insert(&keys::case_event(*case_id, *event_seq), &[])?;
                }
                cases.insert(&case_key, case_bytes.as_slice())?;
                idempotency.insert(idem_key.as_slice(), idem_bytes.as_slice())?;
                for (key, value) in &outbox {
                    outbox_tree.insert(key.as_slice(), value.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
            })?;
        *last_seq = last;
        inner.commit.committed(last);
        Ok(Recorded::Appended {
            seq,
            status: commit.status,
            body: commit.body,
        })
    }

    /// Waits until every write committed before this call survives power loss.
    pub async fn durable(&self) -> Result<(), StoreError> {
        Ok(self.inner.commit.durable().await?)
    }

    /// Announces a writer; hold the guard until its sync ticket is taken (see `durability.rs`).
    pub fn begin_write(&self) -> InFlight {
        self.inner.commit.begin_write()
    }

    /// Queues for the next sync without waiting yet (async waiters).
    pub fn task_ticket(&self) -> Result<TaskTicket, StoreError> {
        Ok(self.inner.commit.task_ticket()?)
    }

    /// Queues for the next sync without waiting yet (blocking waiters).
    pub fn thread_ticket(&self) -> Result<ThreadTicket, StoreError> {
        Ok(self.inner.commit.thread_ticket()?)
    }

    /// Blocking form of [`Store::durable`].
    pub fn durable_blocking(&self) -> Result<(), StoreError> {
        Ok(self.inner.commit.durable_blocking()?)
    }

    /// Fails when an earlier sync failed and the store refuses writes.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        Ok(self.inner.commit.check_writable()?)
    }

    /// Group-commit counters.
    pub fn sync_stats(&self) -> &SyncStats {
        self.inner.commit.stats()
    }

    /// The highest sequence number committed so far (0 when empty).
    pub fn last_seq(&self) -> u64 {
        *self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.inner
            .cases
            .get(keys::case(id))?
            .map(|bytes| decode(&bytes).map_err(|source| StoreError::Decode { tree: "cases", source }))
            .transpose()
    }

    /// Cases in id (= creation time) order after `after`, optionally only those `keep` accepts.
    pub fn cases(
        &self,
        after: Option<CaseId>,
        limit: usize,
        mut keep: impl FnMut(&Case) -> bool,
    ) -> Result<Vec<Case>, StoreError> {
        let range = match after {
            Some(id) => self.inner.cases.range((
                std::ops::Bound::Excluded(keys::case(id).to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => self.inner.cases.iter(),
        };
        let mut out = Vec::new();
        for item in range {
            let (_, bytes) = item?;
            let case: Case = decode(&bytes).map_err(|source| StoreError::Decode { tree: "cases", source })?;
            if keep(&case) {
                out.push(case);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// A case's events in sequence order.
    pub fn case_events(&self, id: CaseId) -> Result<Vec<EventRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.case_events.scan_prefix(keys::case(id)) {
            let (key, _) = item?;
            let Some(seq) = keys::seq_from(&key[16..]) else {
                continue;
            };
            if let Some(event) = self.event(seq)? {
                out.push(event);
            }
        }
        Ok(out)
    }

    pub fn event(&self, seq: u64) -> Result<Option<EventRecord>, StoreError> {
        self.inner
            .events
            .get(keys::seq(seq))?
            .map(|bytes| decode(&bytes).map_err(|source| StoreError::Decode { tree: "events", source }))
            .transpose()
    }

    /// Events with a sequence number greater than `after`, in order.
    pub fn events(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        let start = after.saturating_add(1);
        let mut out = Vec::new();
        for item in self.inner.events.range(keys::seq(start)..).take(limit) {
            let (_, bytes) = item?;
            out.push(decode(&bytes).map_err(|source| StoreError::Decode { tree: "events", source })?);
        }
        Ok(out)
    }

    /// The outbox entry of one event for one sink.
    pub fn outbox_entry(&self, sink: &str, seq: u64) -> Result<Option<OutboxEntry>, StoreError> {
        self.inner
            .outbox
            .get(keys::outbox(sink, seq))?
            .map(|bytes| decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source }))
            .transpose()
    }

    /// All outbox entries of one sink, in sequence order.
    pub fn outbox_entries(&self, sink: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.outbox.scan_prefix(keys::outbox_prefix(sink)) {
            let (_, bytes) = item?;
            out.push(decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source })?);
        }
        Ok(out)
    }

    /// The stored first answer for a station's Idempotency-Key, if any.
    pub fn idempotency_record(&self, station: &StationId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner
            .idempotency
            .get(keys::idempotency(station, key))?
            .map(|bytes| {
                decode(&bytes).map_err(|source| StoreError::Decode {
                    tree: "idempotency",
                    source,
                })
            })
            .transpose()
    }

    /// Stores a new token and makes it durable.
    pub fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        {
            let _gate = self.inner.gate_shared();
            self.inner.tokens.insert(token.id.as_str().as_bytes(), encode(token))?;
        }
        self.durable_blocking()
    }

    pub fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.inner
            .tokens
            .get(id.as_str().as_bytes())?
            .map(|bytes| decode(&bytes).map_err(|source| StoreError::Decode { tree: "tokens", source }))
            .transpose()
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.tokens.iter() {
            let (_, bytes) = item?;
            out.push(decode(&bytes).map_err(|source| StoreError::Decode { tree: "tokens", source })?);
        }
        Ok(out)
    }

    /// Marks a token revoked (kept for the audit trail). Returns false if there is no such token.
    pub fn revoke_token(&self, id: &TokenId, at_ms: u64) -> Result<bool, StoreError> {
        let Some(mut token) = self.token(id)? else {
            return Ok(false);
        };
        if token.revoked_at_ms.is_none() {
            token.revoked_at_ms = Some(at_ms);
            {
                let _gate = self.inner.gate_shared();
                self.inner.tokens.insert(id.as_str().as_bytes(), encode(&token))?;
            }
            self.durable_blocking()?;
        }
        Ok(true)
    }

    /// Stores a new token and the record of who created it, in one transaction, durably.
    pub fn insert_token_audited(&self, token: &TokenRecord, audit: &TokenAuditRecord) -> Result<(), StoreError> {
        let token_bytes = encode(token);
        self.with_token_audit(audit, |tokens| {
            tokens.insert(token.id.as_str().as_bytes(), token_bytes.as_slice())?;
            Ok(((), true))
        })
    }

    /// Revokes a token with the record of who did it, in one transaction, durably; answers the
    /// token as it is now, or `None` when there is no such token. A token revoked before keeps
    /// its first revocation and gets no second record.
    pub fn revoke_token_audited(
        &self,
        id: &TokenId,
        audit: &TokenAuditRecord,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.with_token_audit(audit, |tokens| {
            let Some(bytes) = tokens.get(id.as_str().as_bytes())? else {
                return Ok((None, false));
            };
            let mut token: TokenRecord = decode(&bytes)
                .map_err(|source| ConflictableTransactionError::Abort(StoreError::Decode { tree: "tokens", source }))?;
            if token.revoked_at_ms.is_some() {
                return Ok((Some(token), false));
            }
            token.revoked_at_ms = Some(audit.at_ms);
            tokens.insert(id.as_str().as_bytes(), encode(&token))?;
            Ok((Some(token), true))
        })
    }

    /// Records that the token list was read, durably.
    pub fn audit_token_listing(&self, audit: &TokenAuditRecord) -> Result<(), StoreError> {
        self.with_token_audit(audit, |_| Ok(((), true)))
    }

    /// The token audit trail, oldest first.
    pub fn token_audit(&self) -> Result<Vec<TokenAuditRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.token_audit.iter() {
            let (_, bytes) = item?;
            out.push(decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "token_audit",
                source,
            })?);
        }
        Ok(out)
    }

    /// Runs `change` on the tokens tree and, when it changed something, adds `audit` in the same
    /// transaction; then waits for the disk. Token changes are small and rare, so a low disk does
    /// not refuse them (`space.rs`), as it never refused token writes.
    fn with_token_audit<T>(
        &self,
        audit: &TokenAuditRecord,
        change: impl Fn(
            &sled::transaction::TransactionalTree,
        ) -> Result<(T, bool), ConflictableTransactionError<StoreError>>,
    ) -> Result<T, StoreError> {
        let inner = &*self.inner;
        let key = keys::token_audit(audit.at_ms, inner.db.generate_id()?);
        let audit_bytes = encode(audit);
        let (answer, changed) = {
            let _gate = inner.gate_shared();
            (&inner.tokens, &inner.token_audit)
                .transaction(|(tokens, trail)| {
                    let (answer, changed) = change(tokens)?;
                    if changed {
                        trail.insert(&key, audit_bytes.as_slice())?;
                    }
                    Ok((answer, changed))
                })
                .map_err(|e| match e {
                    TransactionError::Storage(e) => StoreError::Sled(e),
                    TransactionError::Abort(e) => e,
                })?
        };
        if changed {
            self.durable_blocking()?;
        }
        Ok(answer)
    }

    /// Flushes and stops the flusher; used on shutdown so the last writes are on disk.
    pub fn close(&self) -> Result<(), StoreError> {
        self.durable_blocking()?;
        self.inner.commit.shutdown();
        Ok(())
    }

    #[doc(hidden)]
    /// Number of entries per tree, for tests and `store check`.
    pub fn tree_sizes(&self) -> Vec<(&'static str, usize)> {
        let i = &self.inner;
        vec![
            ("events", i.events.len()),
            ("cases", i.cases.len()),
            ("case_events", i.case_events.len()),
            ("idempotency", i.idempotency.len()),
            ("outbox", i.outbox.len()),
            ("settled", i.settled.len()),
            ("dead_letters", i.dead_letters.len()),
            ("tokens", i.tokens.len()),
            ("token_audit", i.token_audit.len()),
        ]
    }

    #[doc(hidden)]
    /// Size of sled's files on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }
}

impl Inner {
    /// Fails when the space guard (if installed) refuses new events.
    fn check_space(&self) -> Result<(), StoreError> {
        self.space.get().map_or(Ok(()), space::SpaceGuard::check)
    }

    /// The gate for one mutation (see `gate`). A poisoned gate guards no data; go on.
    fn gate_shared(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens sled, waiting a little for the directory lock: a process that is exiting (a restart by
/// systemd, or a store dropped a moment ago in this process) releases it within moments.
fn open_sled(dir: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_capacity_bytes)
        // Every acknowledged write is flushed by our group commit; sled's own periodic flusher
        // would only add a background thread that keeps the files (and the lock) open.
        .flush_every_ms(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(e) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(StoreError::Open {
                    dir: dir.to_owned(),
                    reason: describe_open_error(e),
                })
            }
        }
    }
}

fn describe_open_error(e: sled::Error) -> String {
    let text = e.to_string();
    if text.contains("lock") || text.contains("WouldBlock") || text.contains("Resource temporarily unavailable") {
        format!("{text} (is a returns-edge server already running on this data directory? stop it first)")
    } else {
        text
    }
}

fn check_schema(dir: &Path, meta: &sled::Tree) -> Result<(), StoreError> {
    match meta.get(keys::META_SCHEMA)? {
        None => {
            meta.insert(keys::META_SCHEMA, encode(&MetaRecord::SchemaVersion(SCHEMA_VERSION)))?;
            Ok(())
        }
        Some(bytes) => match decode(&bytes).map_err(|source| StoreError::Decode { tree: "meta", source })? {
            MetaRecord::SchemaVersion(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                dir: dir.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            }),
            // Schema 1 is the first; migrations from older schemas would run here.
            MetaRecord::SchemaVersion(_) => Ok(()),
            other => Err(StoreError::Decode {
                tree: "meta",
                source: DecodeError::Malformed {
                    name: "meta",
                    reason: format!("schema_version holds {other:?}"),
                },
            }),
        },
    }
}

fn check_site(dir: &Path, meta: &sled::Tree, site: &SiteId) -> Result<(), StoreError> {
    match meta.get(keys::META_SITE)? {
        None => {
            meta.insert(keys::META_SITE, encode(&MetaRecord::Site(site.clone())))?;
            Ok(())
        }
        Some(bytes) => match decode(&bytes).map_err(|source| StoreError::Decode { tree: "meta", source })? {
            MetaRecord::Site(stored) if &stored == site => Ok(()),
            MetaRecord::Site(stored) => Err(StoreError::WrongSite {
                dir: dir.to_owned(),
                stored: stored.to_string(),
                configured: site.to_string(),
            }),
            other => Err(StoreError::Decode {
                tree: "meta",
                source: DecodeError::Malformed {
                    name: "meta",
                    reason: format!("site holds {other:?}"),
                },
            }),
        },
    }
}
