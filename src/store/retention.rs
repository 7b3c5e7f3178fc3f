//! Retention: settled history older than the retention age is written to compressed archive files
//! and pruned from the store; nothing undelivered ever is.
//!
//! # What is pruned
//! Whole cases only, so that every case left in the store is complete (its projection is still
//! the fold of its events, its index still lists every event: `store check` holds). A case goes
//! when it is **closed**, **every event of it is settled for every sink** (no entry in `outbox`
//! or `dead_letters`, for any sink, configured or not) and its **last event is older than the
//! cutoff**. With it go its events, projection, index entries, settled entries and the
//! idempotency records naming its events. Idempotency records older than the cutoff are pruned
//! too, whatever their case: a station retries within seconds, never after the retention age.
//!
//! # The low-watermark
//! `meta.archived_up_to` is the highest sequence number ever pruned. Events at or below it *may*
//! be missing (they are in an archive): `store check` accepts gaps there and `GET /v1/events`
//! says so in `archived_up_to`. Pruned cases interleave with live ones, so below the watermark
//! live events remain too. Sequence numbers are never handed out again: `Store::open` starts
//! after the watermark even when the newest events were pruned.
//!
//! # Archive files
//! `<archive_dir>/events-<first seq>-<last seq>.jsonl.gz` (12-digit, zero-padded), gzip of JSON
//! lines: one `header` line, then per case its `event` lines in sequence order (the stored event
//! and its settled delivery records) and one `case` line (the final projection). Read with
//! `zcat FILE | jq -c 'select(.kind == "event") | .record'`. Ranges of two files may interleave
//! (whole cases are archived), but no event is in two files.
//!
//! # Crash safety
//! One batch (at most [`BATCH_CASES`] cases) at a time:
//! 1. its *intent* (file name and case ids) is written to `meta` and made durable;
//! 2. the file is written as `NAME.partial`, `fsync`ed, renamed to `NAME`, and the directory is
//!    `fsync`ed;
//! 3. one transaction removes the batch's records, raises the watermark and removes the intent;
//!    it is made durable.
//!
//! A crash before 3 leaves the intent: the next run redoes exactly that batch first, rewriting
//! the same file from the same records (the cases are closed and settled, so they cannot change)
//! and pruning them. A crash after 3 left nothing to redo. So an event is either still in the
//! store, or in exactly one archive file that was durable before the event was removed: never
//! lost, never in two files.
//!
//! Pruning frees space inside sled's files; sled reuses it for new writes and shrinks its log
//! as segments empty, so the store's size on disk stops growing rather than dropping at once.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::encoding::{decode, encode};
use super::keys;
use super::records::{DeadLetter, EventRecord, IdempotencyRecord, MetaRecord, OutboxEntry, SettledRecord};
use super::{Store, StoreError};
use crate::domain::{Case, CaseId};

/// Cases per archive file and per prune transaction: bounds the memory of one transaction and
/// the work a crash makes the next run redo.
pub const BATCH_CASES: usize = 200;
/// Idempotency records removed per transaction when they are pruned on their own.
const IDEMPOTENCY_BATCH: usize = 1_000;
/// The archive format this binary writes (the `format` of the header line).
pub const ARCHIVE_FORMAT: u32 = 1;

/// What retention archived since the store was opened (read by the metrics scrape).
#[derive(Debug, Default)]
pub struct ArchiveCounts {
    pub events: AtomicU64,
    pub cases: AtomicU64,
    pub files: AtomicU64,
    pub idempotency_records: AtomicU64,
}

/// One retention run's parameters.
#[derive(Debug, Clone)]
pub struct RetentionRun {
    /// Where archive files go (created if missing).
    pub archive_dir: PathBuf,
    /// Cases whose last event was recorded before this (Unix ms) may go, and idempotency records
    /// created before it.
    pub cutoff_ms: u64,
    /// Now (Unix ms), for the archive header.
    pub now_ms: u64,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveSummary {
    /// Archive files written, in order.
    pub files: Vec<PathBuf>,
    pub cases: u64,
    pub events: u64,
    /// Idempotency records pruned (with their events or for their age).
    pub idempotency_records: u64,
    /// The watermark after the run (0: nothing ever archived).
    pub archived_up_to: u64,
}

/// Why a retention run stopped. Whatever was pruned before is archived durably; what was not is
/// untouched and the next run takes it up (a batch in progress is redone first).
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// An archive file or the archive directory could not be written.
    #[error("archive {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first line of an archive file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// Always `"header"`.
    pub kind: String,
    pub format: u32,
    /// The site of the events (from the events themselves).
    pub site: Option<String>,
    pub created_at_ms: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub cases: u64,
    pub events: u64,
}

/// An `event` line: the stored event and where it was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    /// Always `"event"`.
    pub kind: String,
    pub record: EventRecord,
    /// Per sink, the settled entry (delivered or discarded, with remote references).
    pub deliveries: BTreeMap<String, SettledRecord>,
}

/// A `case` line: the case's final projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedCase {
    /// Always `"case"`.
    pub kind: String,
    pub case: Case,
}

/// One case of a batch with everything that goes into the file and out of the store.
struct Doomed {
    case: Case,
    events: Vec<(EventRecord, BTreeMap<String, SettledRecord>)>,
}

/// Reads the watermark from the `meta` tree (0 when nothing was ever archived).
pub(super) fn archived_up_to(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(keys::META_ARCHIVED_UP_TO)? {
        None => Ok(0),
        Some(bytes) => match decode(&bytes).map_err(|source| StoreError::Decode { tree: "meta", source })? {
            MetaRecord::ArchivedUpTo(seq) => Ok(seq),
            other => Err(StoreError::Decode {
                tree: "meta",
                source: super::DecodeError::Malformed {
                    name: "meta",
                    reason: format!("archived_up_to holds {other:?}"),
                },
            }),
        },
    }
}

/// The archive file name for a batch whose events span `first..=last`.
pub fn archive_file_name(first: u64, last: u64) -> String {
    format!("events-{first:012}-{last:012}.jsonl.gz")
}

impl Store {
    /// Events at or below this sequence number may have been archived (0: none ever was).
    pub fn archived_up_to(&self) -> Result<u64, StoreError> {
        archived_up_to(&self.inner.db.open_tree("meta")?)
    }

    /// What retention archived since the store was opened.
    pub fn archive_counts(&self) -> &ArchiveCounts {
        &self.inner.archived
    }

    /// Archives and prunes every case that may go (module docs), then old idempotency records.
    /// Blocking; safe while serving (each transaction holds the gate like any other mutation).
    pub fn archive(&self, run: &RetentionRun) -> Result<ArchiveSummary, RetentionError> {
        let meta = self.inner.db.open_tree("meta").map_err(StoreError::from)?;
        std::fs::create_dir_all(&run.archive_dir).map_err(|source| RetentionError::Io {
            path: run.archive_dir.clone(),
            source,
        })?;
        let mut summary = ArchiveSummary::default();
        let resumed = self.intent(&meta)?;
        let resumed_cases: HashSet<CaseId> = resumed.iter().flat_map(|(_, cases)| cases.iter().copied()).collect();
        let candidates: Vec<CaseId> = self
            .prunable_cases(run.cutoff_ms)?
            .into_iter()
            .filter(|id| !resumed_cases.contains(id))
            .collect();

        if let Some((_, cases)) = resumed {
            tracing::info!(
                cases = cases.len(),
                "Redoing the retention batch a previous run left unfinished."
            );
            self.archive_batch(&meta, &cases, run, &mut summary)?;
        }
        for batch in candidates.chunks(BATCH_CASES) {
            self.archive_batch(&meta, batch, run, &mut summary)?;
        }
        summary.idempotency_records += self.prune_old_idempotency(run.cutoff_ms)?;
        summary.archived_up_to = archived_up_to(&meta)?;
        Ok(summary)
    }

    /// The intent a crashed run left, as (file name, cases).
    fn intent(&self, meta: &sled::Tree) -> Result<Option<(String, Vec<CaseId>)>, StoreError> {
        let Some(bytes) = meta.get(keys::META_ARCHIVE_INTENT)? else {
            return Ok(None);
        };
        match decode(&bytes).map_err(|source| StoreError::Decode { tree: "meta", source })? {
            MetaRecord::ArchiveIntent { file, cases } => Ok(Some((file, cases))),
            other => Err(StoreError::Decode {
                tree: "meta",
                source: super::DecodeError::Malformed {
                    name: "meta",
                    reason: format!("archive_intent holds {other:?}"),
                },
            }),
        }
    }

    /// Closed cases without an outbox or dead-letter entry whose last event is before `cutoff_ms`,
    /// in case id order.
    fn prunable_cases(&self, cutoff_ms: u64) -> Result<Vec<CaseId>, StoreError> {
        let unsettled = self.cases_with_unsettled_entries()?;
        let mut out = Vec::new();
        for item in self.inner.cases.iter() {
            let (_, bytes) = item?;
            let case: Case = decode(&bytes).map_err(|source| StoreError::Decode { tree: "cases", source })?;
            if !case.closed || unsettled.contains(&case.id) {
                continue;
            }
            let last = self.case_events(case.id)?.last().map(|e| e.recorded_at_ms);
            if last.is_some_and(|at| at < cutoff_ms) {
                out.push(case.id);
            }
        }
        Ok(out)
    }

    /// Cases with at least one entry still waiting for a sink or an operator.
    fn cases_with_unsettled_entries(&self) -> Result<HashSet<CaseId>, StoreError> {
        let mut out = HashSet::new();
        for item in self.inner.outbox.iter() {
            let (_, bytes) = item?;
            let entry: OutboxEntry = decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source })?;
            out.insert(entry.case_id);
        }
        for item in self.inner.dead_letters.iter() {
            let (_, bytes) = item?;
            let letter: DeadLetter = decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "dead_letters",
                source,
            })?;
            out.insert(letter.entry.case_id);
        }
        Ok(out)
    }

    /// Steps 1–3 of the module docs for one batch.
    fn archive_batch(
        &self,
        meta: &sled::Tree,
        cases: &[CaseId],
        run: &RetentionRun,
        summary: &mut ArchiveSummary,
    ) -> Result<(), RetentionError> {
        let doomed = self.load_batch(cases)?;
        let seqs: Vec<u64> = doomed
            .iter()
            .flat_map(|d| d.events.iter().map(|(e, _)| e.seq))
            .collect();
        let (Some(&first), Some(&last)) = (seqs.iter().min(), seqs.iter().max()) else {
            // Nothing left of these cases (an intent whose prune committed is removed with it, so
            // this is only a batch that emptied meanwhile): just forget the intent.
            self.clear_intent(meta)?;
            return Ok(());
        };
        let name = archive_file_name(first, last);
        let batch_cases: Vec<CaseId> = doomed.iter().map(|d| d.case.id).collect();
        // 1. The intent, durable before the file exists.
        {
            let _gate = self.inner.gate_shared();
            let intent = MetaRecord::ArchiveIntent {
                file: name.clone(),
                cases: batch_cases,
            };
            meta.insert(keys::META_ARCHIVE_INTENT, encode(&intent))
                .map_err(StoreError::from)?;
        }
        self.durable_blocking()?;
        // 2. The file, durable (content and directory entry) before anything is removed.
        let path = run.archive_dir.join(&name);
        write_archive(&path, &doomed, first, last, run.now_ms)?;
        // 3. The prune, with the watermark, in one transaction.
        let seqs: HashSet<u64> = seqs.iter().copied().collect();
        let idempotency = self.idempotency_keys_where(|record| seqs.contains(&record.seq))?;
        let watermark = archived_up_to(meta)?.max(last);
        self.prune(meta, &doomed, &idempotency, watermark)?;
        self.durable_blocking()?;

        let events = seqs.len() as u64;
        let counts = &self.inner.archived;
        counts.events.fetch_add(events, Ordering::Relaxed);
        counts.cases.fetch_add(doomed.len() as u64, Ordering::Relaxed);
        counts.files.fetch_add(1, Ordering::Relaxed);
        counts
            .idempotency_records
            .fetch_add(idempotency.len() as u64, Ordering::Relaxed);
        summary.files.push(path);
        summary.cases += doomed.len() as u64;
        summary.events += events;
        summary.idempotency_records += idempotency.len() as u64;
        tracing::info!(file = %name, cases = doomed.len(), events, "Archived and pruned settled cases.");
        Ok(())
    }

    /// The batch's cases as they are now, dropping any that may no longer go (defensive: a
    /// closed, settled case cannot change, but a redone intent is checked again all the same).
    fn load_batch(&self, cases: &[CaseId]) -> Result<Vec<Doomed>, StoreError> {
        let unsettled = self.cases_with_unsettled_entries()?;
        let sinks = sink_names(&self.inner.settled)?;
        let mut out = Vec::with_capacity(cases.len());
        for &id in cases {
            let Some(case) = self.case(id)? else { continue };
            if !case.closed || unsettled.contains(&id) {
                tracing::warn!(case = %id, "A case chosen for archiving is no longer settled; keeping it.");
                continue;
            }
            let mut events = Vec::new();
            for event in self.case_events(id)? {
                let mut deliveries = BTreeMap::new();
                for sink in &sinks {
                    if let Some(bytes) = self.inner.settled.get(keys::outbox(sink, event.seq))? {
                        let record: SettledRecord = decode(&bytes).map_err(|source| StoreError::Decode {
                            tree: "settled",
                            source,
                        })?;
                        deliveries.insert(sink.clone(), record);
                    }
                }
                events.push((event, deliveries));
            }
            out.push(Doomed { case, events });
        }
        Ok(out)
    }

    /// Keys of the idempotency records `pick` accepts.
    fn idempotency_keys_where(&self, pick: impl Fn(&IdempotencyRecord) -> bool) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.idempotency.iter() {
            let (key, bytes) = item?;
            let record: IdempotencyRecord = decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "idempotency",
                source,
            })?;
            if pick(&record) {
                out.push(key.to_vec());
            }
        }
        Ok(out)
    }

    /// Step 3: one transaction removing the batch and its intent and raising the watermark.
    fn prune(
        &self,
        meta: &sled::Tree,
        doomed: &[Doomed],
        idempotency: &[Vec<u8>],
        watermark: u64,
    ) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let watermark = encode(&MetaRecord::ArchivedUpTo(watermark));
        let _gate = inner.gate_shared();
        (
            &inner.events,
            &inner.cases,
            &inner.case_events,
            &inner.idempotency,
            &inner.settled,
            meta,
        )
            .transaction(|(events, cases, case_events, idempotency_tree, settled, meta)| {
                for d in doomed {
                    cases.remove(&keys::case(d.case.id))?;
                    for (event, deliveries) in &d.events {
                        events.remove(&keys::seq(event.seq))?;
                        case_events.remove(&keys::case_event(d.case.id, event.seq))?;
                        for sink in deliveries.keys() {
                            settled.remove(keys::outbox(sink, event.seq))?;
                        }
                    }
                }
                for key in idempotency {
                    idempotency_tree.remove(key.as_slice())?;
                }
                meta.insert(keys::META_ARCHIVED_UP_TO, watermark.as_slice())?;
                meta.remove(keys::META_ARCHIVE_INTENT)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage)
    }

    fn clear_intent(&self, meta: &sled::Tree) -> Result<(), StoreError> {
        {
            let _gate = self.inner.gate_shared();
            meta.remove(keys::META_ARCHIVE_INTENT)?;
        }
        self.durable_blocking()
    }

    /// Removes idempotency records created before `cutoff_ms`; returns how many.
    fn prune_old_idempotency(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        let old = self.idempotency_keys_where(|record| record.created_at_ms < cutoff_ms)?;
        for chunk in old.chunks(IDEMPOTENCY_BATCH) {
            let _gate = self.inner.gate_shared();
            self.inner
                .idempotency
                .transaction(|tree| {
                    for key in chunk {
                        tree.remove(key.as_slice())?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(storage)?;
        }
        if !old.is_empty() {
            self.durable_blocking()?;
        }
        self.inner
            .archived
            .idempotency_records
            .fetch_add(old.len() as u64, Ordering::Relaxed);
        Ok(old.len() as u64)
    }
}

/// Writes `NAME.partial`, syncs it, renames it to `path` (replacing a file a crashed run left)
/// and syncs the directory.
fn write_archive(path: &Path, doomed: &[Doomed], first: u64, last: u64, now_ms: u64) -> Result<(), RetentionError> {
    let io = |source| RetentionError::Io {
        path: path.to_owned(),
        source,
    };
    let partial = path.with_extension("gz.partial");
    let file = File::create(&partial).map_err(io)?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    let header = ArchiveHeader {
        kind: "header".into(),
        format: ARCHIVE_FORMAT,
        site: doomed
            .iter()
            .flat_map(|d| d.events.first())
            .map(|(e, _)| e.site.to_string())
            .next(),
        created_at_ms: now_ms,
        first_seq: first,
        last_seq: last,
        cases: doomed.len() as u64,
        events: doomed.iter().map(|d| d.events.len() as u64).sum(),
    };
    write_line(&mut gz, &header).map_err(io)?;
    for d in doomed {
        for (record, deliveries) in &d.events {
            let line = ArchivedEvent {
                kind: "event".into(),
                record: record.clone(),
                deliveries: deliveries.clone(),
            };
            write_line(&mut gz, &line).map_err(io)?;
        }
        let line = ArchivedCase {
            kind: "case".into(),
            case: d.case.clone(),
        };
        write_line(&mut gz, &line).map_err(io)?;
    }
    let file = gz.finish().map_err(io)?.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&partial, path).map_err(io)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// The distinct sink names with entries in an outbox-keyed tree: one seek per sink, since keys
/// are `sink ++ 0x00 ++ seq` and `sink ++ 0x01` sorts after all of one sink's keys.
fn sink_names(tree: &sled::Tree) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut from: Vec<u8> = Vec::new();
    while let Some(item) = tree.range(from.clone()..).next() {
        let (key, _) = item?;
        let Some((sink, _)) = keys::split_outbox(&key) else {
            break;
        };
        from = sink.as_bytes().to_vec();
        from.push(1);
        out.push(sink.to_owned());
    }
    Ok(out)
}

/// Reads an archive file back: its header, events and cases (used by tests and tools).
pub fn read_archive(path: &Path) -> std::io::Result<(ArchiveHeader, Vec<ArchivedEvent>, Vec<ArchivedCase>)> {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(File::open(path)?));
    let mut header = None;
    let mut events = Vec::new();
    let mut cases = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let value: serde_json::Value = serde_json::from_str(&line)?;
        match value["kind"].as_str() {
            Some("header") => header = Some(serde_json::from_value(value)?),
            Some("event") => events.push(serde_json::from_value(value)?),
            Some("case") => cases.push(serde_json::from_value(value)?),
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}: a line of kind {other:?}; expected header, event or case",
                        path.display()
                    ),
                ))
            }
        }
    }
    let header = header.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: no header line", path.display()),
        )
    })?;
    Ok((header, events, cases))
}

fn storage(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(()) => unreachable!("retention transactions never abort"),
    }
}
