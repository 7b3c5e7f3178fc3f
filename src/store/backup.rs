//! Backup and restore: a portable, checksummed file holding every record of every tree.
//!
//! # File format (version 1)
//! All integers big-endian. The file is `body ++ SHA-256(body)`:
//!
//! ```text
//! magic    "returns-edge backup\n"                        20 bytes
//! header   u32 length ++ JSON {"format":1, "schema_version":1, "site":"site-a"|null,
//!                              "created_at_ms":…, "last_seq":…}
//! record*  u8 1 ++ u8 tree-name length ++ tree name (ASCII)
//!          ++ u32 key length ++ key ++ u32 value length ++ value
//! end      u8 0 ++ u64 record count
//! checksum SHA-256 of every byte above                      32 bytes
//! ```
//!
//! Keys and values are the store's own bytes (big-endian keys, MessagePack records in their
//! versioned envelopes, see `keys.rs` and `encoding.rs`), so the file depends on neither sled's
//! on-disk format nor the machine: it restores on any returns-edge with the same or a newer
//! schema. Trees are written in a fixed order (`meta`, `tokens`, `events`, `cases`,
//! `case_events`, `idempotency`, `outbox`, `dead_letters`, `settled`, `token_audit`), each in key
//! order. `token_audit` came last and latest: a returns-edge from before it refuses such a file
//! ("unknown tree"); restore it with this version or a newer one.
//!
//! # Consistency
//! sled has no snapshots and its iterators see concurrent writes, so a backup takes the store's
//! *gate* exclusively: every mutation (`record`, outbox moves and updates, token changes) holds it
//! shared for the microseconds of its transaction. While the backup reads, no transaction is in
//! progress and none starts, so the file is one point in the store's history: every event with its
//! projection, index, idempotency record and outbox entries, and every outbox entry in exactly one
//! of `outbox`, `dead_letters` and `settled`. Writes wait (they are not refused) for as long as the
//! reading takes; the server reads into memory under the gate and sends the file afterwards, so a
//! slow client never holds writes up. A backup may contain an event that was committed but not yet
//! synced (not yet acknowledged): restoring it is harmless, its idempotency record answers a retry.
//!
//! # Restore
//! Refuses a non-empty target unless forced (and a target a server holds, always). Verifies the
//! checksum over the whole file, then the format, schema version and site, before writing anything.
//! Records go into a fresh store in a temporary directory next to the target; it is flushed and
//! `fdatasync`ed (`Store::close`), then renamed over the target and the parent directory synced.
//! A failure at any point removes the temporary directory: no half-store is ever left at the target.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::encoding::decode;
use super::keys;
use super::records::MetaRecord;
use super::{Store, StoreError, StoreOptions, SCHEMA_VERSION};
use crate::domain::SiteId;

/// The backup file format this binary writes and reads.
pub const BACKUP_FORMAT: u32 = 1;

const MAGIC: &[u8; 20] = b"returns-edge backup\n";
/// The trees a backup holds. Not the RMA cache (`rma_returns`, `rma_codes`, `rma_meta`): it is a
/// copy of Odoo that the first sync after a restore rebuilds (a restored store starts with no
/// cache, and says so in `/readyz`), it would be stale in any backup, and leaving it out keeps
/// customers' names out of backup files.
const TREES: [&str; 10] = [
    "meta",
    "tokens",
    "events",
    "cases",
    "case_events",
    "idempotency",
    "outbox",
    "dead_letters",
    "settled",
    "token_audit",
];
const MAX_HEADER: u32 = 1 << 20;
const MAX_FIELD: u32 = 1 << 30;
const CHECKSUM_LEN: u64 = 32;

/// The header of a backup file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: u32,
    pub schema_version: u32,
    /// The store's site; `None` for a store no server ever ran on.
    pub site: Option<String>,
    pub created_at_ms: u64,
    /// The highest event sequence number in the backup.
    pub last_seq: u64,
}

/// What a backup or restore wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSummary {
    pub header: BackupHeader,
    pub records: u64,
    pub bytes: u64,
}

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The configured site; a backup of another site is refused.
    pub site: Option<SiteId>,
    /// Replace a non-empty target store.
    pub force: bool,
}

/// Errors of backup and restore. Everything before the final rename leaves the target untouched.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the backup file or the directories failed.
    #[error("backup I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The store could not be read or the restored store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file does not start with the backup magic.
    #[error("not a returns-edge backup file")]
    NotABackup,
    /// The SHA-256 in the trailer does not match: corrupted or truncated. Nothing was written.
    #[error("checksum mismatch: the backup file is corrupted or truncated; nothing was written")]
    Checksum,
    /// The checksum matched but the content does not parse (a bug in the writer).
    #[error("malformed backup: {0}")]
    Malformed(String),
    /// Written by a newer returns-edge.
    #[error("backup format {found} is newer than this binary's {supported}; use a newer returns-edge")]
    NewerFormat { found: u32, supported: u32 },
    /// The backed-up store has a newer schema than this binary supports.
    #[error("the backup has schema version {found}; this binary supports up to {supported}; use a newer returns-edge")]
    NewerSchema { found: u32, supported: u32 },
    /// The backup belongs to another site.
    #[error("the backup is of site `{backup}` but the configuration says `{configured}`; restore with that site's configuration (--config or RETURNS_EDGE_SITE)")]
    WrongSite { backup: String, configured: String },
    /// The target holds a store and `force` was not given.
    #[error("{0} is not empty; restore refuses to replace a store unless told to (--force)")]
    TargetNotEmpty(PathBuf),
}

impl From<sled::Error> for BackupError {
    fn from(e: sled::Error) -> Self {
        BackupError::Store(StoreError::Sled(e))
    }
}

impl Store {
    /// Writes a backup of the whole store to `out` (see the module docs for the format and the
    /// consistency guarantee). Mutations wait while this runs: give it a fast `out` (memory, a
    /// local file), never a network peer.
    pub fn backup_to(&self, out: impl Write, now_ms: u64) -> Result<BackupSummary, BackupError> {
        let inner = &*self.inner;
        let _exclusive = inner.gate.write().unwrap_or_else(|p| p.into_inner());
        let meta = inner.db.open_tree("meta")?;
        let site = match meta.get(keys::META_SITE)? {
            Some(bytes) => match decode::<MetaRecord>(&bytes) {
                Ok(MetaRecord::Site(site)) => Some(site.to_string()),
                _ => None,
            },
            None => None,
        };
        let last_seq = match inner.events.last()? {
            Some((key, _)) => keys::seq_from(&key).unwrap_or(0),
            None => 0,
        };
        let header = BackupHeader {
            format: BACKUP_FORMAT,
            schema_version: SCHEMA_VERSION,
            site,
            created_at_ms: now_ms,
            last_seq,
        };
        let mut out = Hashing::new(BufWriter::new(out));
        out.write_all(MAGIC)?;
        let json = serde_json::to_vec(&header).map_err(|e| BackupError::Malformed(e.to_string()))?;
        out.write_all(&(json.len() as u32).to_be_bytes())?;
        out.write_all(&json)?;
        let mut records = 0u64;
        for name in TREES {
            let tree = self.tree(name)?;
            for item in tree.iter() {
                let (key, value) = item.map_err(StoreError::from)?;
                out.write_all(&[1, name.len() as u8])?;
                out.write_all(name.as_bytes())?;
                out.write_all(&(key.len() as u32).to_be_bytes())?;
                out.write_all(&key)?;
                out.write_all(&(value.len() as u32).to_be_bytes())?;
                out.write_all(&value)?;
                records += 1;
            }
        }
        out.write_all(&[0])?;
        out.write_all(&records.to_be_bytes())?;
        let (mut out, digest, bytes) = out.finish();
        out.write_all(&digest)?;
        out.flush()?;
        Ok(BackupSummary {
            header,
            records,
            bytes: bytes + CHECKSUM_LEN,
        })
    }

    /// The tree called `name` (one of the backup's trees).
    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        let i = &*self.inner;
        Ok(match name {
            "events" => i.events.clone(),
            "cases" => i.cases.clone(),
            "case_events" => i.case_events.clone(),
            "idempotency" => i.idempotency.clone(),
            "outbox" => i.outbox.clone(),
            "settled" => i.settled.clone(),
            "dead_letters" => i.dead_letters.clone(),
            "tokens" => i.tokens.clone(),
            "token_audit" => i.token_audit.clone(),
            _ => i.db.open_tree(name)?,
        })
    }
}

/// Checks a backup file completely (checksum, then structure and count) without writing anything.
pub fn verify_file(file: &Path) -> Result<BackupSummary, BackupError> {
    verify_checksum(file)?;
    let mut reader = Reader::open(file)?;
    let header = reader.header()?;
    while reader.next_record()?.is_some() {}
    Ok(BackupSummary {
        header,
        records: reader.records,
        bytes: reader.len,
    })
}

/// Restores `file` into the store directory `target`; see the module docs for the sequence.
pub fn restore(file: &Path, target: &Path, options: &RestoreOptions) -> Result<BackupSummary, BackupError> {
    let occupied = std::fs::read_dir(target).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        if !options.force {
            return Err(BackupError::TargetNotEmpty(target.to_owned()));
        }
        // Never pull a store from under a running server: this open fails while one holds it.
        Store::open(target, &offline())?.close()?;
    }
    verify_checksum(file)?;
    let mut reader = Reader::open(file)?;
    let header = reader.header()?;
    check_header(&header, options)?;

    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let name = target
        .file_name()
        .ok_or_else(|| BackupError::Malformed(format!("{} names no directory", target.display())))?
        .to_string_lossy()
        .into_owned();
    let temp = parent.join(format!(".{name}.restore-{}", std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp)?;
    }
    let written = write_store(&temp, &mut reader);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    if occupied {
        let old = parent.join(format!(".{name}.replaced-{}", std::process::id()));
        std::fs::rename(target, &old)?;
        std::fs::rename(&temp, target)?;
        sync_dir(&parent)?;
        std::fs::remove_dir_all(&old)?;
    } else {
        if target.exists() {
            std::fs::remove_dir(target)?;
        }
        std::fs::rename(&temp, target)?;
        sync_dir(&parent)?;
    }
    Ok(BackupSummary {
        header,
        records: reader.records,
        bytes: reader.len,
    })
}

fn offline() -> StoreOptions {
    StoreOptions {
        cache_capacity_bytes: 16 << 20,
        site: None,
    }
}

fn check_header(header: &BackupHeader, options: &RestoreOptions) -> Result<(), BackupError> {
    if header.format > BACKUP_FORMAT {
        return Err(BackupError::NewerFormat {
            found: header.format,
            supported: BACKUP_FORMAT,
        });
    }
    if header.schema_version > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema {
            found: header.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    if let (Some(backup), Some(configured)) = (&header.site, &options.site) {
        if backup != configured.as_str() {
            return Err(BackupError::WrongSite {
                backup: backup.clone(),
                configured: configured.to_string(),
            });
        }
    }
    Ok(())
}

/// Writes every record into a fresh store at `dir` and makes it durable.
fn write_store(dir: &Path, reader: &mut Reader) -> Result<(), BackupError> {
    let store = Store::open(dir, &offline())?;
    while let Some((tree, key, value)) = reader.next_record()? {
        store.tree(&tree)?.insert(key, value).map_err(StoreError::from)?;
    }
    // Flush, fdatasync the log, stop the flusher; dropping the store releases sled's lock.
    store.close()?;
    drop(store);
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Compares the trailer with the SHA-256 of everything before it.
fn verify_checksum(file: &Path) -> Result<(), BackupError> {
    let mut f = File::open(file)?;
    let len = f.metadata()?.len();
    if len < MAGIC.len() as u64 + CHECKSUM_LEN {
        return Err(BackupError::Checksum);
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut (&mut f).take(len - CHECKSUM_LEN), &mut hasher)?;
    let mut stored = [0u8; 32];
    f.read_exact(&mut stored)?;
    if hasher.finalize().as_slice() != stored {
        return Err(BackupError::Checksum);
    }
    Ok(())
}

/// One record of a backup: tree name, key, value.
type Record = (String, Vec<u8>, Vec<u8>);

/// Reads a backup whose checksum was verified; everything it finds wrong is `Malformed`.
struct Reader {
    input: BufReader<std::io::Take<File>>,
    len: u64,
    records: u64,
    done: bool,
}

impl Reader {
    fn open(file: &Path) -> Result<Reader, BackupError> {
        let mut f = File::open(file)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(0))?;
        Ok(Reader {
            input: BufReader::new(f.take(len.saturating_sub(CHECKSUM_LEN))),
            len,
            records: 0,
            done: false,
        })
    }

    fn header(&mut self) -> Result<BackupHeader, BackupError> {
        let mut magic = [0u8; 20];
        self.exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(BackupError::NotABackup);
        }
        let len = self.u32(MAX_HEADER, "header")?;
        let json = self.bytes(len)?;
        serde_json::from_slice(&json).map_err(|e| BackupError::Malformed(format!("header: {e}")))
    }

    /// The next `(tree, key, value)`, or `None` after the end marker (whose count is checked).
    fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        self.exact(&mut tag)?;
        match tag[0] {
            0 => {
                let mut count = [0u8; 8];
                self.exact(&mut count)?;
                let count = u64::from_be_bytes(count);
                if count != self.records {
                    return Err(BackupError::Malformed(format!(
                        "the trailer counts {count} records, the file holds {}",
                        self.records
                    )));
                }
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest)? != 0 {
                    return Err(BackupError::Malformed("bytes after the end marker".into()));
                }
                self.done = true;
                Ok(None)
            }
            1 => {
                let mut name_len = [0u8; 1];
                self.exact(&mut name_len)?;
                let name = String::from_utf8(self.bytes(name_len[0] as u32)?)
                    .map_err(|_| BackupError::Malformed("a tree name is not UTF-8".into()))?;
                if !TREES.contains(&name.as_str()) {
                    return Err(BackupError::Malformed(format!("unknown tree `{name}`")));
                }
                let key_len = self.u32(MAX_FIELD, "key")?;
                let key = self.bytes(key_len)?;
                let value_len = self.u32(MAX_FIELD, "value")?;
                let value = self.bytes(value_len)?;
                self.records += 1;
                Ok(Some((name, key, value)))
            }
            other => Err(BackupError::Malformed(format!("unknown record tag {other}"))),
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => BackupError::Malformed("the file ends early".into()),
            _ => BackupError::Io(e),
        })
    }

    fn u32(&mut self, max: u32, what: &str) -> Result<u32, BackupError> {
        let mut buf = [0u8; 4];
        self.exact(&mut buf)?;
        let n = u32::from_be_bytes(buf);
        if n > max {
            return Err(BackupError::Malformed(format!("{what} length {n} is too large")));
        }
        Ok(n)
    }

    fn bytes(&mut self, len: u32) -> Result<Vec<u8>, BackupError> {
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        Ok(buf)
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    out: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(out: W) -> Self {
        Hashing {
            out,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, [u8; 32], u64) {
        (self.out, self.hasher.finalize().into(), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_of_an_empty_store_verifies_and_any_flipped_byte_is_a_checksum_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), &offline()).unwrap();
        let file = dir.path().join("b");
        let summary = store.backup_to(File::create(&file).unwrap(), 7).unwrap();
        assert_eq!(summary.records, 1, "the schema version in meta");
        assert_eq!(verify_file(&file).unwrap().records, 1);
        let good = std::fs::read(&file).unwrap();
        for at in [0, 25, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&file, &bad).unwrap();
            assert!(matches!(verify_file(&file), Err(BackupError::Checksum)), "byte {at}");
        }
    }
}
