//! Key layout of every tree. Integers are big-endian so that sled's byte order is numeric order:
//! iterating `events` yields sequence order, iterating a case's index yields its events in order.
//!
//! | tree          | key                                   | value            |
//! |---------------|---------------------------------------|------------------|
//! | `events`      | seq (u64 BE)                          | `EventRecord`    |
//! | `cases`       | case id (16 bytes, UUID v7: time order)| `Case`           |
//! | `case_events` | case id (16) ++ seq (u64 BE)          | empty            |
//! | `idempotency` | station ++ 0x00 ++ Idempotency-Key    | `IdempotencyRecord` |
//! | `outbox`      | sink name ++ 0x00 ++ seq (u64 BE)     | `OutboxEntry`    |
//! | `settled`     | sink name ++ 0x00 ++ seq (u64 BE)     | `SettledRecord`  |
//! | `dead_letters`| sink name ++ 0x00 ++ seq (u64 BE)     | `DeadLetter`     |
//! | `tokens`      | token id                              | `TokenRecord`    |
//! | `token_audit` | at_ms (u64 BE) ++ sled id (u64 BE)     | `TokenAuditRecord` |
//! | `meta`        | ASCII name                            | `MetaRecord`     |
//!
//! Station ids and sink names never contain 0x00 (their parsers refuse it), so the separator is
//! unambiguous and a prefix scan over `sink ++ 0x00` finds exactly one sink's entries.

use crate::domain::{CaseId, StationId};

pub fn seq(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn seq_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub fn case(id: CaseId) -> [u8; 16] {
    id.as_bytes()
}

pub fn case_event(case: CaseId, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&case.as_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn idempotency(station: &StationId, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(station.as_str().len() + 1 + key.len());
    out.extend_from_slice(station.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

pub fn outbox_prefix(sink: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(sink.len() + 9);
    out.extend_from_slice(sink.as_bytes());
    out.push(0);
    out
}

pub fn outbox(sink: &str, seq: u64) -> Vec<u8> {
    let mut out = outbox_prefix(sink);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Splits an outbox-style key back into sink name and sequence number.
pub fn split_outbox(key: &[u8]) -> Option<(&str, u64)> {
    let at = key.iter().position(|&b| b == 0)?;
    let sink = std::str::from_utf8(&key[..at]).ok()?;
    Some((sink, seq_from(&key[at + 1..])?))
}

/// Time order first; sled's monotonic id keeps two records of one millisecond apart (after a
/// restore the ids start again, but at a later millisecond).
pub fn token_audit(at_ms: u64, id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&at_ms.to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

pub const META_SCHEMA: &[u8] = b"schema_version";
pub const META_SITE: &[u8] = b"site";
/// Highest sequence number retention ever archived (`retention.rs`); absent until the first run.
pub const META_ARCHIVED_UP_TO: &[u8] = b"archived_up_to";
/// The batch a retention run is archiving, while its file is written and its records pruned.
pub const META_ARCHIVE_INTENT: &[u8] = b"archive_intent";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_keys_sort_numerically() {
        assert!(seq(255) < seq(256));
        assert!(seq(1) < seq(u64::MAX));
        assert_eq!(seq_from(&seq(42)), Some(42));
    }

    #[test]
    fn one_sinks_prefix_never_matches_another_sink() {
        assert!(!outbox("odoo2", 1).starts_with(&outbox_prefix("odoo")));
        assert!(outbox("odoo", 1).starts_with(&outbox_prefix("odoo")));
    }
}
