//! The RMA cache's trees: the open returns pulled from Odoo and the code index a scan is looked
//! up in. A copy of Odoo, not a record of ours: it can be rebuilt from Odoo at any time.
//!
//! # Trees
//! | tree          | key                                   | value          |
//! |---------------|---------------------------------------|----------------|
//! | `rma_returns` | Odoo picking id (u64 BE)              | `CachedReturn` |
//! | `rma_codes`   | normalized code ++ 0x00 ++ picking id | `CodeEntry`    |
//! | `rma_meta`    | `state`                               | `RmaMeta`      |
//!
//! A `CachedReturn` lists the index keys it owns (`codes`), so that replacing or removing it
//! removes exactly its index entries, and `store check` can verify both directions. Several
//! returns may share a code (two returns of one sale order): the picking id in the key keeps
//! them apart and a prefix scan over `code ++ 0x00` finds them all. Normalized codes never hold
//! 0x00 (`domain::normalize_code` refuses it).
//!
//! # Consistency and durability
//! An entry and its index entries change in **one** sled transaction, so a lookup never finds an
//! index entry without its return, or a return without its codes. The meta record (watermark,
//! last sync times) is written after the entries it describes: sled's log is recovered as a
//! prefix, so after a crash the watermark is never ahead of the entries (a re-read at worst).
//! These writes do not take the event path's group commit before returning and do not hold the
//! backup gate: the cache is not part of backups (`backup.rs` lists its trees), and losing its
//! last writes in a crash costs one re-read from Odoo, never an acknowledged event. The syncer
//! still asks for a sync after each change so the cache survives a power cut during an outage.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::encoding::{decode, encode, Versioned};
use super::{Store, StoreError};
use crate::domain::{ExpectedReturn, MatchedBy};

pub(super) const RETURNS: &str = "rma_returns";
pub(super) const CODES: &str = "rma_codes";
pub(super) const META: &str = "rma_meta";
const META_STATE: &[u8] = b"state";

/// One cached open return with the index keys it owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedReturn {
    pub expected: ExpectedReturn,
    /// Its entries in `rma_codes`: normalized code and what kind of code it is.
    pub codes: Vec<IndexedCode>,
    /// When this version was stored (Unix ms).
    pub cached_at_ms: u64,
}

impl Versioned for CachedReturn {
    const VERSION: u16 = 1;
    const NAME: &'static str = "cached return";
}

/// One code of a cached return, normalized as it is indexed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexedCode {
    pub kind: MatchedBy,
    pub code: String,
}

/// The value of an index entry: which kind of code of that picking it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeEntry {
    pub kind: MatchedBy,
}

impl Versioned for CodeEntry {
    const VERSION: u16 = 1;
    const NAME: &'static str = "rma code entry";
}

/// Where the cache stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmaMeta {
    /// The highest Odoo `write_date` read (`YYYY-MM-DD HH:MM:SS`): the next incremental sync
    /// reads from there (inclusive).
    #[serde(default)]
    pub watermark: Option<String>,
    /// When the last sync succeeded (Unix ms, our clock): the cache's age counts from here.
    #[serde(default)]
    pub synced_at_ms: Option<u64>,
    /// When the last full refresh succeeded (Unix ms).
    #[serde(default)]
    pub full_at_ms: Option<u64>,
}

impl Versioned for RmaMeta {
    const VERSION: u16 = 1;
    const NAME: &'static str = "rma meta";
}

/// One sync's changes, applied by [`Store::rma_apply`].
#[derive(Debug, Clone, Default)]
pub struct RmaChanges {
    /// Returns to insert or replace (with their index keys).
    pub upserts: Vec<CachedReturn>,
    /// Picking ids to remove (done or cancelled in Odoo).
    pub removals: Vec<i64>,
    /// For a full refresh: every picking id still open in Odoo; all others are removed.
    pub keep_only: Option<BTreeSet<i64>>,
    /// The meta record after this sync.
    pub meta: RmaMeta,
}

/// What [`Store::rma_apply`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RmaApplied {
    pub inserted: usize,
    pub updated: usize,
    pub removed: usize,
}

/// The trees, opened once with the store.
#[derive(Debug)]
pub(super) struct RmaTrees {
    pub returns: sled::Tree,
    pub codes: sled::Tree,
    pub meta: sled::Tree,
}

impl RmaTrees {
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(RmaTrees {
            returns: db.open_tree(RETURNS)?,
            codes: db.open_tree(CODES)?,
            meta: db.open_tree(META)?,
        })
    }
}

/// Key of a cached return.
pub(super) fn return_key(picking_id: i64) -> [u8; 8] {
    (picking_id as u64).to_be_bytes()
}

/// Key of an index entry.
pub(super) fn code_key(code: &str, picking_id: i64) -> Vec<u8> {
    let mut key = code_prefix(code);
    key.extend_from_slice(&return_key(picking_id));
    key
}

fn code_prefix(code: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(code.len() + 9);
    key.extend_from_slice(code.as_bytes());
    key.push(0);
    key
}

/// Splits an index key into its code and picking id.
pub(super) fn split_code_key(key: &[u8]) -> Option<(&str, i64)> {
    let at = key.len().checked_sub(9)?;
    if key[at] != 0 {
        return None;
    }
    let code = std::str::from_utf8(&key[..at]).ok()?;
    let id = u64::from_be_bytes(key[at + 1..].try_into().ok()?);
    Some((code, i64::try_from(id).ok()?))
}

impl Store {
    /// Applies one sync: each upsert and each removal with its index entries in one transaction,
    /// then the meta record.
    pub fn rma_apply(&self, changes: &RmaChanges) -> Result<RmaApplied, StoreError> {
        let trees = &self.inner.rma;
        let mut applied = RmaApplied::default();
        for entry in &changes.upserts {
            match self.rma_put(entry)? {
                true => applied.updated += 1,
                false => applied.inserted += 1,
            }
        }
        let mut removals: BTreeSet<i64> = changes.removals.iter().copied().collect();
        if let Some(keep) = &changes.keep_only {
            for item in trees.returns.iter().keys() {
                let key = item?;
                if let Ok(bytes) = <[u8; 8]>::try_from(key.as_ref()) {
                    let id = u64::from_be_bytes(bytes) as i64;
                    if !keep.contains(&id) {
                        removals.insert(id);
                    }
                }
            }
        }
        for id in removals {
            if self.rma_remove(id)? {
                applied.removed += 1;
            }
        }
        trees.meta.insert(META_STATE, encode(&changes.meta))?;
        Ok(applied)
    }

    /// Inserts or replaces one return and its index entries; true when it replaced one.
    fn rma_put(&self, entry: &CachedReturn) -> Result<bool, StoreError> {
        let trees = &self.inner.rma;
        let id = entry.expected.picking_id;
        let key = return_key(id);
        let bytes = encode(entry);
        let new_codes: Vec<(Vec<u8>, Vec<u8>)> = entry
            .codes
            .iter()
            .map(|c| (code_key(&c.code, id), encode(&CodeEntry { kind: c.kind })))
            .collect();
        let replaced = (&trees.returns, &trees.codes)
            .transaction(|(returns, codes)| {
                let old = returns.insert(&key, bytes.as_slice())?;
                if let Some(old) = &old {
                    // An undecodable old record owns keys we cannot name; `store check` finds
                    // any index entry left behind, and the next full refresh rewrites it.
                    if let Ok(old) = decode::<CachedReturn>(old) {
                        for code in &old.codes {
                            codes.remove(code_key(&code.code, id))?;
                        }
                    }
                }
                for (code, value) in &new_codes {
                    codes.insert(code.as_slice(), value.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(old.is_some())
            })
            .map_err(transaction_error)?;
        Ok(replaced)
    }

    /// Removes one return and its index entries; true when there was one.
    fn rma_remove(&self, picking_id: i64) -> Result<bool, StoreError> {
        let trees = &self.inner.rma;
        let key = return_key(picking_id);
        (&trees.returns, &trees.codes)
            .transaction(|(returns, codes)| {
                let Some(old) = returns.remove(&key)? else {
                    return Ok(false);
                };
                if let Ok(old) = decode::<CachedReturn>(&old) {
                    for code in &old.codes {
                        codes.remove(code_key(&code.code, picking_id))?;
                    }
                }
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(transaction_error)
    }

    /// The cached returns a normalized code is indexed for, by picking id (oldest return first).
    /// A plain read of two trees: cheap enough for the ingest writer thread.
    pub fn rma_lookup(&self, normalized: &str) -> Result<Vec<(MatchedBy, CachedReturn)>, StoreError> {
        let trees = &self.inner.rma;
        let mut out = Vec::new();
        for item in trees.codes.scan_prefix(code_prefix(normalized)) {
            let (key, value) = item?;
            let Some((_, id)) = split_code_key(&key) else { continue };
            let entry: CodeEntry = decode(&value).map_err(|source| StoreError::Decode { tree: CODES, source })?;
            // The transaction that removes a return removes its codes: a miss here is a bug or
            // corruption, which `store check` reports; the lookup just skips it.
            if let Some(found) = self.rma_entry(id)? {
                out.push((entry.kind, found));
            }
        }
        Ok(out)
    }

    /// One cached return by Odoo picking id.
    pub fn rma_entry(&self, picking_id: i64) -> Result<Option<CachedReturn>, StoreError> {
        self.inner
            .rma
            .returns
            .get(return_key(picking_id))?
            .map(|bytes| decode(&bytes).map_err(|source| StoreError::Decode { tree: RETURNS, source }))
            .transpose()
    }

    /// Every cached picking id with the Odoo `write_date` (ms) of its cached version, for the
    /// sync's (id, write_date) de-duplication.
    pub fn rma_versions(&self) -> Result<HashMap<i64, u64>, StoreError> {
        let mut out = HashMap::new();
        for item in self.inner.rma.returns.iter() {
            let (_, bytes) = item?;
            let entry: CachedReturn = decode(&bytes).map_err(|source| StoreError::Decode { tree: RETURNS, source })?;
            out.insert(entry.expected.picking_id, entry.expected.write_date_ms);
        }
        Ok(out)
    }

    /// The cache's meta record (all `None` before the first sync).
    pub fn rma_meta(&self) -> Result<RmaMeta, StoreError> {
        match self.inner.rma.meta.get(META_STATE)? {
            Some(bytes) => decode(&bytes).map_err(|source| StoreError::Decode { tree: META, source }),
            None => Ok(RmaMeta::default()),
        }
    }

    /// Number of cached returns.
    pub fn rma_len(&self) -> usize {
        self.inner.rma.returns.len()
    }
}

fn transaction_error<T>(e: TransactionError<T>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        // The closures above never abort.
        TransactionError::Abort(_) => StoreError::Sled(sled::Error::Unsupported("aborted rma transaction".into())),
    }
}

/// `store check` of the cache: every record decodes and is keyed by its picking id, every code
/// it owns is indexed with its kind, and every index entry belongs to a return that owns it.
pub(super) fn check(
    store: &Store,
    problem: &mut dyn FnMut(&'static str, &[u8], String),
) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let trees = &store.inner.rma;
    let mut owned: HashMap<Vec<u8>, MatchedBy> = HashMap::new();
    let mut count = 0;
    for item in trees.returns.iter() {
        let (key, value) = item?;
        count += 1;
        let entry: CachedReturn = match decode(&value) {
            Ok(entry) => entry,
            Err(e) => {
                problem(RETURNS, &key, e.to_string());
                continue;
            }
        };
        let id = entry.expected.picking_id;
        if key.as_ref() != return_key(id) {
            problem(RETURNS, &key, format!("holds the return of picking {id}"));
        }
        for code in &entry.codes {
            owned.insert(code_key(&code.code, id), code.kind);
        }
    }
    let mut counts = vec![(RETURNS, count)];
    let mut count = 0;
    for item in trees.codes.iter() {
        let (key, value) = item?;
        count += 1;
        let Some((code, id)) = split_code_key(&key) else {
            problem(CODES, &key, "key is not a code and a picking id".into());
            continue;
        };
        match (decode::<CodeEntry>(&value), owned.remove(key.as_ref())) {
            (Err(e), _) => problem(CODES, &key, e.to_string()),
            (Ok(_), None) => problem(
                CODES,
                &key,
                format!("code `{code}` points to picking {id}, whose cached return does not own it"),
            ),
            (Ok(entry), Some(kind)) if entry.kind != kind => problem(
                CODES,
                &key,
                format!(
                    "code `{code}` of picking {id} is indexed as {:?} but the return says {kind:?}",
                    entry.kind
                ),
            ),
            (Ok(_), Some(_)) => {}
        }
    }
    counts.push((CODES, count));
    let mut missing: Vec<_> = owned.into_iter().collect();
    missing.sort();
    for (key, kind) in missing {
        let what = match split_code_key(&key) {
            Some((code, id)) => format!("{kind:?} code `{code}` of picking {id} is missing from the index"),
            None => "an unreadable code is missing from the index".into(),
        };
        problem(CODES, &key, what);
    }
    let mut count = 0;
    for item in trees.meta.iter() {
        let (key, value) = item?;
        count += 1;
        if key.as_ref() != META_STATE {
            problem(META, &key, "unexpected key".into());
        } else if let Err(e) = decode::<RmaMeta>(&value) {
            problem(META, &key, e.to_string());
        }
    }
    counts.push((META, count));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RmaRef;
    use crate::store::StoreOptions;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let options = StoreOptions {
            cache_capacity_bytes: 4 << 20,
            site: None,
        };
        let store = Store::open(dir.path(), &options).expect("a fresh store opens");
        (dir, store)
    }

    fn entry(id: i64, codes: &[(MatchedBy, &str)]) -> CachedReturn {
        CachedReturn {
            expected: ExpectedReturn {
                rma: RmaRef::parse(&format!("RMA-{id}")).unwrap(),
                picking_id: id,
                picking: format!("WH/IN/{id:05}"),
                order: None,
                customer_ref: None,
                customer: None,
                delivery: None,
                delivered_at_ms: None,
                tracking: vec![],
                currency: None,
                lines: vec![],
                write_date_ms: id as u64,
            },
            codes: codes
                .iter()
                .map(|(kind, code)| IndexedCode {
                    kind: *kind,
                    code: (*code).to_owned(),
                })
                .collect(),
            cached_at_ms: 1,
        }
    }

    fn ids(store: &Store, code: &str) -> Vec<i64> {
        store
            .rma_lookup(code)
            .unwrap()
            .iter()
            .map(|(_, r)| r.expected.picking_id)
            .collect()
    }

    #[test]
    fn replacing_a_return_replaces_its_codes_and_a_full_refresh_drops_the_rest() {
        let (_dir, store) = store();
        let first = RmaChanges {
            upserts: vec![
                entry(7, &[(MatchedBy::Rma, "A"), (MatchedBy::Tracking, "OLD")]),
                entry(9, &[(MatchedBy::Rma, "B"), (MatchedBy::Order, "S1")]),
                entry(8, &[(MatchedBy::Order, "S1")]),
            ],
            ..RmaChanges::default()
        };
        assert_eq!(store.rma_apply(&first).unwrap().inserted, 3);
        assert_eq!(
            ids(&store, "S1"),
            [8, 9],
            "shared codes find every return, oldest first"
        );

        let update = RmaChanges {
            upserts: vec![entry(7, &[(MatchedBy::Rma, "A"), (MatchedBy::Tracking, "NEW")])],
            removals: vec![9, 404],
            meta: RmaMeta {
                watermark: Some("2026-11-26 14:33:46".into()),
                synced_at_ms: Some(5),
                full_at_ms: None,
            },
            ..RmaChanges::default()
        };
        let applied = store.rma_apply(&update).unwrap();
        assert_eq!((applied.updated, applied.removed), (1, 1));
        assert!(ids(&store, "OLD").is_empty(), "the replaced version's codes are gone");
        assert_eq!(ids(&store, "NEW"), [7]);
        assert_eq!(ids(&store, "B"), Vec::<i64>::new());
        assert_eq!(ids(&store, "S1"), [8]);
        assert_eq!(store.rma_meta().unwrap(), update.meta);

        let full = RmaChanges {
            keep_only: Some([7].into_iter().collect()),
            ..RmaChanges::default()
        };
        assert_eq!(store.rma_apply(&full).unwrap().removed, 1);
        assert_eq!((store.rma_len(), ids(&store, "S1")), (1, vec![]));
        let report = store.check(&[]).unwrap();
        assert!(report.is_clean(), "{report}");
        assert!(report.records.contains(&(CODES, 2)), "{report}");
    }

    #[test]
    fn store_check_names_an_orphan_index_entry_and_a_missing_one() {
        let (_dir, store) = store();
        let changes = RmaChanges {
            upserts: vec![entry(7, &[(MatchedBy::Rma, "A"), (MatchedBy::Delivery, "WH/OUT/1")])],
            ..RmaChanges::default()
        };
        store.rma_apply(&changes).unwrap();
        let trees = &store.inner.rma;
        trees.codes.remove(code_key("WH/OUT/1", 7)).unwrap();
        trees
            .codes
            .insert(code_key("GHOST", 99), encode(&CodeEntry { kind: MatchedBy::Order }))
            .unwrap();
        let report = store.check(&[]).unwrap();
        let about = |needle: &str| {
            report
                .problems
                .iter()
                .any(|p| p.tree == CODES && p.what.contains(needle))
        };
        assert!(about("`GHOST` points to picking 99"), "{report}");
        assert!(about("`WH/OUT/1` of picking 7 is missing"), "{report}");
        assert_eq!(report.problems.len(), 2, "{report}");
    }

    #[test]
    fn code_keys_split_back_and_never_match_a_longer_code() {
        let key = code_key("S00042", 7);
        assert_eq!(split_code_key(&key), Some(("S00042", 7)));
        assert!(!code_key("S000421", 7).starts_with(&code_prefix("S00042")));
        assert!(code_key("S00042", 9).starts_with(&code_prefix("S00042")));
        assert_eq!(split_code_key(b"short"), None);
    }
}
