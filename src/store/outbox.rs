//! The delivery side of the store: reading pending outbox entries, recording each attempt's
//! outcome, and moving entries between `outbox`, `dead_letters` and `settled`.
//!
//! Every move is one transaction (remove here, insert there), so an entry is never in two trees
//! or none. Callers make the change durable (`Store::durable`) before their next remote call:
//! the delivery engine's rule is "persist the step, then act".

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::encoding::{decode, encode};
use super::keys;
use super::records::{DeadLetter, DeliveryState, OutboxEntry, SettledRecord};
use super::{Store, StoreError};

/// Where one event stands for one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStatus {
    pub state: DeliveryState,
    pub entry: OutboxEntry,
    /// Dead-letter reason or discard note.
    pub reason: Option<String>,
}

/// Counts of one sink's entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkCounts {
    pub pending: usize,
    pub dead_letters: usize,
    /// Creation time (Unix ms) of the oldest pending entry.
    pub oldest_pending_ms: Option<u64>,
}

impl Store {
    /// Pending entries of `sink` with `after < seq <= up_to`, in sequence order.
    pub fn pending(&self, sink: &str, after: u64, up_to: u64) -> Result<Vec<OutboxEntry>, StoreError> {
        let start = keys::outbox(sink, after.saturating_add(1));
        let end = keys::outbox(sink, up_to);
        let mut out = Vec::new();
        for item in self.inner.outbox.range(start..=end) {
            let (_, bytes) = item?;
            out.push(decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source })?);
        }
        Ok(out)
    }

    /// Saves an attempt's progress (step, refs, attempts, next attempt) of a pending entry.
    /// Does nothing if the entry has left the outbox meanwhile (an operator action).
    pub fn update_pending(&self, sink: &str, entry: &OutboxEntry) -> Result<(), StoreError> {
        let key = keys::outbox(sink, entry.seq);
        let value = encode(entry);
        let _gate = self.inner.gate_shared();
        self.inner
            .outbox
            .transaction(|outbox| {
                if outbox.get(&key)?.is_some() {
                    outbox.insert(key.as_slice(), value.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage)?;
        Ok(())
    }

    /// Moves a pending entry to `settled` as delivered.
    pub fn settle_delivered(&self, sink: &str, entry: &OutboxEntry, at_ms: u64) -> Result<(), StoreError> {
        self.settle_delivered_noted(sink, entry, at_ms, None)
    }

    /// As [`Store::settle_delivered`], keeping a note in the delivery record (for example why
    /// the sink needed no remote effect for this event).
    pub fn settle_delivered_noted(
        &self,
        sink: &str,
        entry: &OutboxEntry,
        at_ms: u64,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut entry = entry.clone();
        entry.state = DeliveryState::Delivered;
        let record = SettledRecord {
            entry,
            settled_at_ms: at_ms,
            note: note.map(str::to_owned),
        };
        self.move_entry(
            &self.inner.outbox,
            &self.inner.settled,
            sink,
            record.entry.seq,
            encode(&record),
        )
    }

    /// Moves a pending entry to `dead_letters` with the reason.
    pub fn dead_letter(&self, sink: &str, entry: &OutboxEntry, reason: &str, at_ms: u64) -> Result<(), StoreError> {
        let mut entry = entry.clone();
        entry.state = DeliveryState::DeadLettered;
        let letter = DeadLetter {
            entry,
            reason: reason.to_owned(),
            dead_at_ms: at_ms,
        };
        self.move_entry(
            &self.inner.outbox,
            &self.inner.dead_letters,
            sink,
            letter.entry.seq,
            encode(&letter),
        )
    }

    /// Puts a dead letter back in the outbox for immediate delivery, keeping its step and refs.
    /// Returns false when there is no such dead letter.
    pub fn replay_dead_letter(&self, sink: &str, seq: u64) -> Result<bool, StoreError> {
        let Some(letter) = self.dead_letter_record(sink, seq)? else {
            return Ok(false);
        };
        let mut entry = letter.entry;
        entry.state = DeliveryState::Pending;
        entry.attempts = 0;
        entry.next_attempt_at_ms = 0;
        entry.last_error = Some(format!("replayed after: {}", letter.reason));
        self.move_entry(&self.inner.dead_letters, &self.inner.outbox, sink, seq, encode(&entry))?;
        Ok(true)
    }

    /// Gives up on a dead letter: it moves to `settled` as discarded, with the operator's note.
    pub fn discard_dead_letter(&self, sink: &str, seq: u64, note: &str, at_ms: u64) -> Result<bool, StoreError> {
        let Some(letter) = self.dead_letter_record(sink, seq)? else {
            return Ok(false);
        };
        let mut entry = letter.entry;
        entry.state = DeliveryState::Discarded;
        let record = SettledRecord {
            entry,
            settled_at_ms: at_ms,
            note: Some(format!("discarded ({note}) after: {}", letter.reason)),
        };
        self.move_entry(
            &self.inner.dead_letters,
            &self.inner.settled,
            sink,
            seq,
            encode(&record),
        )?;
        Ok(true)
    }

    pub fn dead_letter_record(&self, sink: &str, seq: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.inner
            .dead_letters
            .get(keys::outbox(sink, seq))?
            .map(|bytes| {
                decode(&bytes).map_err(|source| StoreError::Decode {
                    tree: "dead_letters",
                    source,
                })
            })
            .transpose()
    }

    /// Dead letters of one sink, or of all sinks, in key order, as `(sink, letter)`.
    pub fn dead_letters(&self, sink: Option<&str>) -> Result<Vec<(String, DeadLetter)>, StoreError> {
        let iter = match sink {
            Some(sink) => self.inner.dead_letters.scan_prefix(keys::outbox_prefix(sink)),
            None => self.inner.dead_letters.iter(),
        };
        let mut out = Vec::new();
        for item in iter {
            let (key, bytes) = item?;
            let Some((sink, _)) = keys::split_outbox(&key) else {
                continue;
            };
            let letter = decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "dead_letters",
                source,
            })?;
            out.push((sink.to_owned(), letter));
        }
        Ok(out)
    }

    /// Where event `seq` stands for `sink`, whichever tree holds its entry.
    pub fn delivery_status(&self, sink: &str, seq: u64) -> Result<Option<DeliveryStatus>, StoreError> {
        let key = keys::outbox(sink, seq);
        if let Some(bytes) = self.inner.outbox.get(&key)? {
            let entry: OutboxEntry = decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source })?;
            return Ok(Some(DeliveryStatus {
                state: DeliveryState::Pending,
                entry,
                reason: None,
            }));
        }
        if let Some(letter) = self.dead_letter_record(sink, seq)? {
            return Ok(Some(DeliveryStatus {
                state: DeliveryState::DeadLettered,
                entry: letter.entry,
                reason: Some(letter.reason),
            }));
        }
        if let Some(bytes) = self.inner.settled.get(&key)? {
            let record: SettledRecord = decode(&bytes).map_err(|source| StoreError::Decode {
                tree: "settled",
                source,
            })?;
            return Ok(Some(DeliveryStatus {
                state: record.entry.state,
                entry: record.entry,
                reason: record.note,
            }));
        }
        Ok(None)
    }

    /// Pending and dead-letter counts of a sink and its oldest pending entry.
    pub fn sink_counts(&self, sink: &str) -> Result<SinkCounts, StoreError> {
        let mut counts = SinkCounts::default();
        for item in self.inner.outbox.scan_prefix(keys::outbox_prefix(sink)) {
            let (_, bytes) = item?;
            counts.pending += 1;
            if counts.oldest_pending_ms.is_none() {
                let entry: OutboxEntry =
                    decode(&bytes).map_err(|source| StoreError::Decode { tree: "outbox", source })?;
                counts.oldest_pending_ms = Some(entry.created_at_ms);
            }
        }
        counts.dead_letters = self.inner.dead_letters.scan_prefix(keys::outbox_prefix(sink)).count();
        Ok(counts)
    }

    /// Highest sequence number known durable.
    pub fn durable_seq(&self) -> u64 {
        *self.inner.commit.watch_durable().borrow()
    }

    /// Watches the highest durable sequence number; changes after every group commit.
    pub fn watch_durable(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commit.watch_durable()
    }

    fn move_entry(
        &self,
        from: &sled::Tree,
        to: &sled::Tree,
        sink: &str,
        seq: u64,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = keys::outbox(sink, seq);
        let _gate = self.inner.gate_shared();
        (from, to)
            .transaction(|(from, to)| {
                from.remove(key.as_slice())?;
                to.insert(key.as_slice(), value.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage)?;
        Ok(())
    }
}

fn storage(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(()) => unreachable!("these transactions never abort"),
    }
}
