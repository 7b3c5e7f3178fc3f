//! Model test of the store's write path: random receipts, inspections, dispositions, reused
//! Idempotency-Keys and reopens, checked against a plain model of what must be stored. A refused
//! command must leave every tree untouched; an accepted one must add exactly one event with exactly
//! the outbox entries its kind calls for; a reused key must replay or be refused, never append.

use std::collections::HashMap;

use proptest::prelude::*;
use returns_edge::domain::{CaseId, EventKind};
use returns_edge::ingest::IngestError;

use crate::support::{receive_write, sinks, write, Harness};

#[derive(Debug, Clone)]
enum Op {
    Receive { key: u8, qty: u32 },
    Inspect { key: u8, case: usize, line: u16 },
    Dispose { key: u8, case: usize, line: u16 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, 1u32..3).prop_map(|(key, qty)| Op::Receive { key, qty }),
        (0u8..12, 0usize..4, 1u16..3).prop_map(|(key, case, line)| Op::Inspect { key, case, line }),
        (0u8..12, 0usize..4, 1u16..3).prop_map(|(key, case, line)| Op::Dispose { key, case, line }),
        Just(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    /// Idempotency-Key → (fingerprint, seq of the event it created).
    keys: HashMap<String, (String, u64)>,
    /// Kinds of the events in sequence order (seq = index + 1).
    events: Vec<EventKind>,
    cases: Vec<CaseId>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_matches_a_model_of_accepted_refused_and_replayed_writes(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::open(dir.path());
        let mut model = Model::default();
        for op in ops {
            let (key, w, kind) = match op {
                Op::Reopen => {
                    h.ingest.store().close().unwrap();
                    drop(h);
                    h = Harness::open(dir.path());
                    continue;
                }
                Op::Receive { key, qty } => {
                    let key = format!("k{key}");
                    (key.clone(), receive_write(&h.caller, &key, "LABEL", qty), EventKind::ParcelReceived)
                }
                Op::Inspect { key, case, line } | Op::Dispose { key, case, line } => {
                    let Some(&case_id) = model.cases.get(case % model.cases.len().max(1)) else { continue };
                    let key = format!("k{key}");
                    let (command, kind) = if matches!(op, Op::Inspect { .. }) {
                        (inspect_command(line), EventKind::ItemInspected)
                    } else {
                        (dispose_command(line), EventKind::ItemDisposed)
                    };
                    (key.clone(), write(&h.caller, &key, Some(case_id), command), kind)
                }
            };
            let before = h.ingest.store().tree_sizes();
            let result = h.ingest.execute_blocking(&w);
            match (model.keys.get(&key), result) {
                (Some((fingerprint, seq)), Ok(accepted)) => {
                    prop_assert_eq!(fingerprint, &w.fingerprint, "a different request under a used key must be refused");
                    prop_assert!(accepted.replayed);
                    let body: serde_json::Value = serde_json::from_str(&accepted.body).unwrap();
                    prop_assert_eq!(body["seq"].as_u64(), Some(*seq));
                    prop_assert_eq!(h.ingest.store().tree_sizes(), before);
                }
                (Some((fingerprint, _)), Err(IngestError::KeyReused)) => {
                    prop_assert_ne!(fingerprint, &w.fingerprint);
                    prop_assert_eq!(h.ingest.store().tree_sizes(), before);
                }
                (None, Ok(accepted)) => {
                    prop_assert!(!accepted.replayed);
                    let body: serde_json::Value = serde_json::from_str(&accepted.body).unwrap();
                    let seq = body["seq"].as_u64().unwrap();
                    prop_assert_eq!(seq, model.events.len() as u64 + 1, "sequence numbers are dense and ordered");
                    model.events.push(kind);
                    model.keys.insert(key, (w.fingerprint.clone(), seq));
                    if kind == EventKind::ParcelReceived {
                        model.cases.push(CaseId::parse(body["case_id"].as_str().unwrap()).unwrap());
                    }
                }
                (None, Err(IngestError::Refused(_))) => {
                    prop_assert_eq!(h.ingest.store().tree_sizes(), before, "a refused command wrote something");
                }
                (known, other) => prop_assert!(false, "unexpected outcome {:?} for key known={}", other, known.is_some()),
            }
            check(&h, &model)?;
        }
    }
}

fn check(h: &Harness, model: &Model) -> Result<(), TestCaseError> {
    let store = h.ingest.store();
    let events = store.events(0, 10_000).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.event.kind()).collect();
    prop_assert_eq!(&kinds, &model.events);
    for sink in sinks() {
        let expected: Vec<u64> = (1..=model.events.len() as u64)
            .filter(|seq| sink.kind.wants(model.events[*seq as usize - 1]))
            .collect();
        let stored: Vec<u64> = store
            .outbox_entries(sink.name.as_str())
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        prop_assert_eq!(stored, expected, "outbox of {}", sink.name);
    }
    Ok(())
}

fn inspect_command(line: u16) -> returns_edge::domain::Command {
    use returns_edge::domain::*;
    Command::Inspect(Inspect {
        line: LineNo::new(line).unwrap(),
        qty: None,
        grade: Grade::parse("C").unwrap(),
        conditions: vec![],
        serial: None,
        notes: None,
        corrects: None,
    })
}

fn dispose_command(line: u16) -> returns_edge::domain::Command {
    use returns_edge::domain::*;
    Command::Dispose(Dispose {
        line: LineNo::new(line).unwrap(),
        qty: None,
        disposition: Some(Disposition::parse("refurbish").unwrap()),
    })
}
