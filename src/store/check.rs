//! `store check`: decodes every record of every tree and verifies the relations between trees.
//!
//! What is checked (docs/architecture.md#store-durability-contract, issue 8):
//! - every record decodes as its tree's type, and keys agree with the values they index;
//! - `events`: sequence numbers are dense from 1 (gaps are reported as ranges), except at or below
//!   `meta.archived_up_to`, where retention may have pruned whole cases (`retention.rs`);
//! - every event has its case projection and its `case_events` entry, and every index entry points
//!   to an existing event of that case;
//! - every case projection equals the fold of its events with `domain::apply` (rebuilt here);
//! - every event has, for every configured sink that wants its kind, exactly one entry across
//!   `outbox`, `dead_letters` and `settled`, and every such entry names an existing event;
//! - every idempotency record's `seq` exists; tokens are keyed by their id; `meta` holds the schema
//!   version (and the site, once a server ran).
//!
//! Entries for sinks that are not configured (a sink removed from the configuration, or a check run
//! without `--config`) and entries a sink's kind does not want are reported as *notes*, not
//! problems: they are not corruption. The check only reads; run it on a stopped server (the open
//! takes the store's exclusive lock). Keys of binary trees are shown in hex, with a readable form
//! in the message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::encoding::decode;
use super::keys;
use super::records::{
    DeadLetter, EventRecord, IdempotencyRecord, MetaRecord, OutboxEntry, SettledRecord, TokenAuditRecord, TokenRecord,
};
use super::{Store, StoreError};
use crate::domain::{self, Case, CaseId, EventId, EventKind};
use crate::sinks::SinkKind;

/// One finding of [`Store::check`]: the tree, the record's key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub tree: &'static str,
    /// Hex for binary keys (`events`, `cases`, `case_events`, `idempotency`, the outbox trees),
    /// text for `tokens` and `meta`.
    pub key: String,
    pub what: String,
}

/// The outcome of [`Store::check`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Records read per tree, in a fixed tree order.
    pub records: Vec<(&'static str, u64)>,
    /// Corruption or broken invariants: `store check` exits 1 when there is any.
    pub problems: Vec<Problem>,
    /// Worth knowing but not corruption (entries for sinks that are not configured).
    pub notes: Vec<Problem>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "problem: {} {}: {}", p.tree, p.key, p.what)?;
        }
        for n in &self.notes {
            writeln!(f, "note: {} {}: {}", n.tree, n.key, n.what)?;
        }
        let counts: Vec<String> = self.records.iter().map(|(t, n)| format!("{t} {n}")).collect();
        writeln!(f, "records: {}", counts.join(", "))?;
        write!(
            f,
            "{} problem(s), {} note(s): {}",
            self.problems.len(),
            self.notes.len(),
            if self.is_clean() { "clean" } else { "NOT clean" }
        )
    }
}

/// What the later passes need to know about one event.
struct EventInfo {
    case_id: CaseId,
    id: EventId,
    kind: EventKind,
}

#[derive(Default)]
struct Findings {
    problems: Vec<Problem>,
    notes: Vec<Problem>,
}

impl Findings {
    fn problem(&mut self, tree: &'static str, key: &[u8], what: impl Into<String>) {
        self.problems.push(Problem {
            tree,
            key: show_key(tree, key),
            what: what.into(),
        });
    }

    fn note(&mut self, tree: &'static str, key: &[u8], what: impl Into<String>) {
        self.notes.push(Problem {
            tree,
            key: show_key(tree, key),
            what: what.into(),
        });
    }
}

impl Store {
    /// Reads every record of every tree and verifies the invariants listed in the module docs.
    /// `sinks` are the configured sinks (name, kind). Only sled errors are `Err`; everything wrong
    /// with the records themselves is in the report.
    pub fn check(&self, sinks: &[(String, SinkKind)]) -> Result<CheckReport, StoreError> {
        let inner = &*self.inner;
        let mut found = Findings::default();
        let mut records = Vec::new();
        // Retention prunes whole cases; gaps at or below its watermark are archived events.
        let archived_up_to = self.archived_up_to()?;

        // events: decode, density, and the fold of each case as it goes (events are in seq order).
        let mut events: BTreeMap<u64, EventInfo> = BTreeMap::new();
        let mut rebuilt: HashMap<CaseId, Case> = HashMap::new();
        let mut next_seq = 1u64;
        let mut count = 0;
        for item in inner.events.iter() {
            let (key, value) = item?;
            count += 1;
            let Some(seq) = keys::seq_from(&key) else {
                found.problem("events", &key, "key is not an 8-byte sequence number");
                continue;
            };
            if seq == 0 {
                found.problem("events", &key, "sequence number 0 (they start at 1)");
            } else if seq > next_seq && seq - 1 > archived_up_to {
                let next_seq = next_seq.max(archived_up_to + 1);
                found.problem(
                    "events",
                    &keys::seq(next_seq),
                    format!("sequence numbers {next_seq}..={} are missing", seq - 1),
                );
            }
            next_seq = seq.saturating_add(1);
            let event: EventRecord = match decode(&value) {
                Ok(event) => event,
                Err(e) => {
                    found.problem("events", &key, format!("event {seq}: {e}"));
                    continue;
                }
            };
            if event.seq != seq {
                found.problem("events", &key, format!("event {seq} says it is seq {}", event.seq));
            }
            let case = rebuilt.remove(&event.case_id);
            rebuilt.insert(
                event.case_id,
                domain::apply(case, event.case_id, event.id, &event.event),
            );
            events.insert(
                seq,
                EventInfo {
                    case_id: event.case_id,
                    id: event.id,
                    kind: event.event.kind(),
                },
            );
        }
        if archived_up_to > 0 {
            found.note(
                "meta",
                keys::META_ARCHIVED_UP_TO,
                format!("events up to seq {archived_up_to} may be archived (retention); gaps there are not problems"),
            );
        }
        records.push(("events", count));

        // cases: decode and compare with the rebuilt projection.
        let mut count = 0;
        let mut stored_cases: HashSet<CaseId> = HashSet::new();
        for item in inner.cases.iter() {
            let (key, value) = item?;
            count += 1;
            let Some(id) = case_id_from(&key) else {
                found.problem("cases", &key, "key is not a 16-byte case id");
                continue;
            };
            stored_cases.insert(id);
            let case: Case = match decode(&value) {
                Ok(case) => case,
                Err(e) => {
                    found.problem("cases", &key, format!("case {id}: {e}"));
                    continue;
                }
            };
            if case.id != id {
                found.problem(
                    "cases",
                    &key,
                    format!("case {id} holds the projection of case {}", case.id),
                );
            }
            match rebuilt.get(&id) {
                None => found.problem("cases", &key, format!("case {id} has no events")),
                Some(fold) if fold != &case => found.problem(
                    "cases",
                    &key,
                    format!(
                        "case {id} differs from the fold of its {} events in: {}",
                        fold.events,
                        differing_fields(fold, &case).join(", ")
                    ),
                ),
                Some(_) => {}
            }
        }
        records.push(("cases", count));

        // case_events: every entry points to an existing event of that case.
        let mut count = 0;
        let mut indexed: HashSet<u64> = HashSet::new();
        for item in inner.case_events.iter() {
            let (key, value) = item?;
            count += 1;
            let (Some(case_id), Some(seq)) = (
                key.get(..16).and_then(case_id_from),
                key.get(16..).and_then(keys::seq_from),
            ) else {
                found.problem("case_events", &key, "key is not a case id and a sequence number");
                continue;
            };
            if !value.is_empty() {
                found.problem("case_events", &key, "index entries have an empty value");
            }
            match events.get(&seq) {
                None => found.problem(
                    "case_events",
                    &key,
                    format!("case {case_id} lists event {seq}, which does not exist"),
                ),
                Some(event) if event.case_id != case_id => found.problem(
                    "case_events",
                    &key,
                    format!(
                        "case {case_id} lists event {seq}, which belongs to case {}",
                        event.case_id
                    ),
                ),
                Some(_) => {
                    indexed.insert(seq);
                }
            }
        }
        records.push(("case_events", count));

        for (seq, event) in &events {
            if !stored_cases.contains(&event.case_id) {
                found.problem(
                    "cases",
                    &keys::case(event.case_id),
                    format!("case {} of event {seq} has no projection", event.case_id),
                );
            }
            if !indexed.contains(seq) {
                found.problem(
                    "case_events",
                    &keys::case_event(event.case_id, *seq),
                    format!("event {seq} is missing from the index of case {}", event.case_id),
                );
            }
        }

        // The outbox trees: decode, point at existing events, exactly one place per entry.
        let mut places: HashMap<(String, u64), Vec<&'static str>> = HashMap::new();
        let configured: HashMap<&str, SinkKind> = sinks.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let delivery_trees: [(&'static str, &sled::Tree); 3] = [
            ("outbox", &inner.outbox),
            ("dead_letters", &inner.dead_letters),
            ("settled", &inner.settled),
        ];
        for (tree, handle) in delivery_trees {
            let mut count = 0;
            for item in handle.iter() {
                let (key, value) = item?;
                count += 1;
                let Some((sink, seq)) = keys::split_outbox(&key) else {
                    found.problem(tree, &key, "key is not a sink name and a sequence number");
                    continue;
                };
                let entry = match tree {
                    "outbox" => decode::<OutboxEntry>(&value),
                    "dead_letters" => decode::<DeadLetter>(&value).map(|d| d.entry),
                    _ => decode::<SettledRecord>(&value).map(|s| s.entry),
                };
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        found.problem(tree, &key, format!("{sink}:{seq}: {e}"));
                        continue;
                    }
                };
                places.entry((sink.to_owned(), seq)).or_default().push(tree);
                if entry.seq != seq {
                    found.problem(tree, &key, format!("{sink}:{seq} holds the entry of seq {}", entry.seq));
                }
                match events.get(&seq) {
                    None => found.problem(
                        tree,
                        &key,
                        format!("{sink}:{seq} is for event {seq}, which does not exist"),
                    ),
                    Some(event) if event.id != entry.event_id || event.case_id != entry.case_id => found.problem(
                        tree,
                        &key,
                        format!(
                            "{sink}:{seq} names event {} of case {}, but event {seq} is {} of case {}",
                            entry.event_id, entry.case_id, event.id, event.case_id
                        ),
                    ),
                    Some(event) => match configured.get(sink) {
                        None => found.note(tree, &key, format!("{sink}:{seq}: sink `{sink}` is not configured")),
                        Some(kind) if !kind.wants(event.kind) => found.note(
                            tree,
                            &key,
                            format!("{sink}:{seq}: a {kind:?} sink does not want {:?} events", event.kind),
                        ),
                        Some(_) => {}
                    },
                }
            }
            records.push((tree, count));
        }
        for (seq, event) in &events {
            for (sink, kind) in sinks {
                if !kind.wants(event.kind) {
                    continue;
                }
                if !places.contains_key(&(sink.clone(), *seq)) {
                    found.problem(
                        "outbox",
                        &keys::outbox(sink, *seq),
                        format!(
                            "event {seq} ({:?}) has no entry for sink `{sink}` in outbox, dead_letters or settled",
                            event.kind
                        ),
                    );
                }
            }
        }
        let mut doubles: Vec<_> = places.iter().filter(|(_, trees)| trees.len() > 1).collect();
        doubles.sort_by(|a, b| a.0.cmp(b.0));
        for ((sink, seq), trees) in doubles {
            found.problem(
                trees[0],
                &keys::outbox(sink, *seq),
                format!("{sink}:{seq} is in more than one tree: {}", trees.join(" and ")),
            );
        }

        // idempotency: each first answer points to an existing event.
        let mut count = 0;
        for item in inner.idempotency.iter() {
            let (key, value) = item?;
            count += 1;
            if !key.contains(&0) {
                found.problem("idempotency", &key, "key has no station separator");
            }
            match decode::<IdempotencyRecord>(&value) {
                Err(e) => found.problem("idempotency", &key, e.to_string()),
                Ok(record) if !events.contains_key(&record.seq) => found.problem(
                    "idempotency",
                    &key,
                    format!(
                        "answer for {} names event {}, which does not exist",
                        readable_idempotency(&key),
                        record.seq
                    ),
                ),
                Ok(_) => {}
            }
        }
        records.push(("idempotency", count));

        // tokens: keyed by their id.
        let mut count = 0;
        for item in inner.tokens.iter() {
            let (key, value) = item?;
            count += 1;
            match decode::<TokenRecord>(&value) {
                Err(e) => found.problem("tokens", &key, e.to_string()),
                Ok(token) if token.id.as_str().as_bytes() != key.as_ref() => {
                    found.problem("tokens", &key, format!("holds token {}", token.id))
                }
                Ok(_) => {}
            }
        }
        records.push(("tokens", count));

        // token_audit: keyed by the record's own time.
        let mut count = 0;
        for item in inner.token_audit.iter() {
            let (key, value) = item?;
            count += 1;
            match decode::<TokenAuditRecord>(&value) {
                Err(e) => found.problem("token_audit", &key, e.to_string()),
                Ok(record) if keys::seq_from(key.get(..8).unwrap_or_default()) != Some(record.at_ms) => {
                    found.problem("token_audit", &key, format!("holds a record of {} ms", record.at_ms))
                }
                Ok(_) => {}
            }
        }
        records.push(("token_audit", count));

        // meta: the schema version (always) and the site (once a server ran).
        let meta = inner.db.open_tree("meta")?;
        let mut count = 0;
        let mut has_schema = false;
        for item in meta.iter() {
            let (key, value) = item?;
            count += 1;
            match (key.as_ref(), decode::<MetaRecord>(&value)) {
                (_, Err(e)) => found.problem("meta", &key, e.to_string()),
                (keys::META_SCHEMA, Ok(MetaRecord::SchemaVersion(_))) => has_schema = true,
                (keys::META_SITE, Ok(MetaRecord::Site(_))) => {}
                (keys::META_ARCHIVED_UP_TO, Ok(MetaRecord::ArchivedUpTo(_))) => {}
                (keys::META_ARCHIVE_INTENT, Ok(MetaRecord::ArchiveIntent { file, cases })) => found.note(
                    "meta",
                    &key,
                    format!(
                        "a retention batch ({file}, {} case(s)) was interrupted; the next `store archive` or retention run finishes it",
                        cases.len()
                    ),
                ),
                (_, Ok(other)) => found.problem("meta", &key, format!("unexpected value {other:?}")),
            }
        }
        if !has_schema {
            found.problem("meta", keys::META_SCHEMA, "the schema version is missing");
        }
        records.push(("meta", count));

        // The RMA cache: records decode, the code index and the returns agree both ways.
        records.extend(super::rma::check(self, &mut |tree, key, what| {
            found.problem(tree, key, what)
        })?);

        Ok(CheckReport {
            records,
            problems: found.problems,
            notes: found.notes,
        })
    }
}

fn case_id_from(bytes: &[u8]) -> Option<CaseId> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(CaseId::from_uuid(uuid::Uuid::from_bytes(bytes)))
}

/// Hex for the trees with binary keys, text (escaped) for `tokens` and `meta`.
fn show_key(tree: &str, key: &[u8]) -> String {
    match tree {
        "tokens" | "meta" | "rma_meta" => String::from_utf8_lossy(key).escape_debug().to_string(),
        _ => hex::encode(key),
    }
}

fn readable_idempotency(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    match text.split_once('\0') {
        Some((station, k)) => format!("station {station}, key {k:?}"),
        None => format!("{text:?}"),
    }
}

/// Names of the projection's fields that differ, for the report.
fn differing_fields(a: &Case, b: &Case) -> Vec<&'static str> {
    let mut out = Vec::new();
    let fields: [(&'static str, bool); 8] = [
        ("id", a.id != b.id),
        ("label", a.label != b.label),
        ("rma", a.rma != b.rma),
        ("weight", a.weight != b.weight),
        ("scale", a.scale != b.scale),
        ("lines", a.lines != b.lines),
        ("flags", a.flags != b.flags),
        ("closed/events", a.closed != b.closed || a.events != b.events),
    ];
    for (name, differs) in fields {
        if differs {
            out.push(name);
        }
    }
    out
}
