//! Station tokens: creation, parsing and verification.
//!
//! A token reads `re1_<id>_<secret>`: `id` (12 hex digits) names the record, `secret` is 256 random
//! bits (64 hex digits). The store keeps only SHA-256 of the secret; verification looks the record
//! up by id and compares hashes in constant time, so neither the lookup nor the comparison leaks
//! how much of a guessed secret was right. A plain hash (not a password KDF) is enough because the
//! secret is random and 256 bits long: there is no dictionary to attack.
//!
//! Operators' changes ([`issue`], [`revoke`], [`list`]: the CLI and the admin routes) are audited:
//! each writes who did it, when and what into the store's `token_audit`, in the transaction of the
//! change itself. [`verify`] reads the store on every request and caches nothing, so a revocation
//! committed by a running server (or before it started) refuses the token's very next request.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{Role, StationId, TokenId};
use crate::store::{Store, StoreError, TokenAction, TokenActor, TokenAuditRecord, TokenRecord};

const PREFIX: &str = "re1_";

/// Who is calling: the verified identity behind a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token: TokenId,
    pub station: StationId,
    pub role: Role,
}

/// Why a bearer token was not accepted. All become HTTP 401 with the same message, so a caller
/// cannot tell a revoked token from a guessed one.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not of the form re1_<id>_<secret>")]
    Malformed,
    #[error("no such token")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token just created: the only time its full text exists.
#[derive(Debug)]
pub struct NewToken {
    pub record: TokenRecord,
    /// The bearer token to hand to the station.
    pub token: String,
}

/// Creates a token for `station` with `role` and stores its hash durably, without an audit
/// record: for tests, the bench and examples that provision their own stores. Operators' paths
/// use [`issue`].
pub fn create(store: &Store, station: StationId, role: Role, now_ms: u64) -> Result<NewToken, StoreError> {
    let new = mint(station, role, now_ms);
    store.insert_token(&new.record)?;
    Ok(new)
}

/// Creates a token on `by`'s behalf and records that, in one durable transaction.
pub fn issue(
    store: &Store,
    station: StationId,
    role: Role,
    by: TokenActor,
    now_ms: u64,
) -> Result<NewToken, StoreError> {
    let new = mint(station, role, now_ms);
    let audit = TokenAuditRecord {
        at_ms: now_ms,
        by,
        action: TokenAction::Created {
            token: new.record.id.clone(),
            station: new.record.station.clone(),
            role,
        },
    };
    store.insert_token_audited(&new.record, &audit)?;
    Ok(new)
}

/// Revokes `id` on `by`'s behalf and records that; answers the token as it is now (revoked),
/// `None` when there is no such token. Revoking twice keeps the first time and records once.
pub fn revoke(store: &Store, id: &TokenId, by: TokenActor, now_ms: u64) -> Result<Option<TokenRecord>, StoreError> {
    let audit = TokenAuditRecord {
        at_ms: now_ms,
        by,
        action: TokenAction::Revoked { token: id.clone() },
    };
    store.revoke_token_audited(id, &audit)
}

/// Every token (revoked ones too: they name the authors of past events), recording that `by`
/// read the list. The records hold hashes only; callers show ids, stations, roles and times.
pub fn list(store: &Store, by: TokenActor, now_ms: u64) -> Result<Vec<TokenRecord>, StoreError> {
    let tokens = store.tokens()?;
    let audit = TokenAuditRecord {
        at_ms: now_ms,
        by,
        action: TokenAction::Listed {
            tokens: tokens.len() as u64,
        },
    };
    store.audit_token_listing(&audit)?;
    Ok(tokens)
}

/// A fresh id and secret; the record keeps only the secret's hash.
fn mint(station: StationId, role: Role, now_ms: u64) -> NewToken {
    let mut rng = rand::rngs::OsRng;
    let mut id = [0u8; 6];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id = TokenId::parse(&hex::encode(id)).expect("12 hex digits are a valid token id");
    let secret = hex::encode(secret);
    let record = TokenRecord {
        id: id.clone(),
        station,
        role,
        secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        created_at_ms: now_ms,
        revoked_at_ms: None,
    };
    NewToken {
        token: format!("{PREFIX}{id}_{secret}"),
        record,
    }
}

/// Verifies a bearer token against the store.
pub fn verify(store: &Store, bearer: &str) -> Result<Caller, TokenError> {
    let (id, secret) = split(bearer).ok_or(TokenError::Malformed)?;
    let record = store.token(&id)?.ok_or(TokenError::Unknown)?;
    let presented = Sha256::digest(secret.as_bytes());
    let stored = hex::decode(&record.secret_sha256).unwrap_or_default();
    if !bool::from(presented.as_slice().ct_eq(stored.as_slice())) {
        return Err(TokenError::Unknown);
    }
    if record.revoked_at_ms.is_some() {
        return Err(TokenError::Revoked);
    }
    Ok(Caller {
        token: record.id,
        station: record.station,
        role: record.role,
    })
}

fn split(bearer: &str) -> Option<(TokenId, &str)> {
    let rest = bearer.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_ok(id, 12) || !hex_ok(secret, 64) {
        return None;
    }
    Some((TokenId::parse(id).ok()?, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SiteId;
    use crate::store::StoreOptions;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: Some(SiteId::parse("t").unwrap()),
        };
        let store = Store::open(dir.path(), &options).unwrap();
        (dir, store)
    }

    #[test]
    fn a_created_token_verifies_and_is_stored_only_as_a_hash() {
        let (_dir, store) = store();
        let new = create(&store, StationId::parse("dock-1").unwrap(), Role::Inspector, 1).unwrap();
        let caller = verify(&store, &new.token).unwrap();
        assert_eq!(caller.role, Role::Inspector);
        assert_eq!(caller.station.as_str(), "dock-1");
        let secret = new.token.rsplit('_').next().unwrap();
        let stored = store.token(&new.record.id).unwrap().unwrap();
        assert_ne!(stored.secret_sha256, secret);
        assert!(!format!("{stored:?}").contains(secret));
    }

    #[test]
    fn a_wrong_secret_or_revoked_token_is_refused() {
        let (_dir, store) = store();
        let new = create(&store, StationId::parse("dock-1").unwrap(), Role::Receiver, 1).unwrap();
        let mut forged = new.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(verify(&store, &forged), Err(TokenError::Unknown)));
        assert!(matches!(verify(&store, "re1_zz"), Err(TokenError::Malformed)));
        assert!(store.revoke_token(&new.record.id, 2).unwrap());
        assert!(matches!(verify(&store, &new.token), Err(TokenError::Revoked)));
    }

    #[test]
    fn operators_changes_are_audited_in_order_and_a_revocation_refuses_the_next_verify() {
        let (_dir, store) = store();
        let admin = TokenActor::Cli { user: "ops".into() };
        let new = issue(
            &store,
            StationId::parse("dock-3").unwrap(),
            Role::Receiver,
            admin.clone(),
            10,
        )
        .unwrap();
        assert!(verify(&store, &new.token).is_ok());
        let listed = list(&store, admin.clone(), 11).unwrap();
        assert_eq!(listed, vec![new.record.clone()]);
        let revoked = revoke(&store, &new.record.id, admin.clone(), 12).unwrap().unwrap();
        assert_eq!(revoked.revoked_at_ms, Some(12));
        assert!(matches!(verify(&store, &new.token), Err(TokenError::Revoked)));
        // A second revocation keeps the first time and adds no record; an unknown id is None.
        let again = revoke(&store, &new.record.id, admin.clone(), 13).unwrap().unwrap();
        assert_eq!(again.revoked_at_ms, Some(12));
        assert_eq!(
            revoke(&store, &TokenId::parse("000000000000").unwrap(), admin.clone(), 14).unwrap(),
            None
        );
        let trail = store.token_audit().unwrap();
        let actions: Vec<(u64, &TokenAction)> = trail.iter().map(|r| (r.at_ms, &r.action)).collect();
        assert_eq!(
            actions,
            [
                (
                    10,
                    &TokenAction::Created {
                        token: new.record.id.clone(),
                        station: new.record.station.clone(),
                        role: Role::Receiver
                    }
                ),
                (11, &TokenAction::Listed { tokens: 1 }),
                (
                    12,
                    &TokenAction::Revoked {
                        token: new.record.id.clone()
                    }
                ),
            ]
        );
        assert!(trail.iter().all(|r| r.by == admin));
    }
}
