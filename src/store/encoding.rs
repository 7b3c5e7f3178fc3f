//! Record encoding: every value in the store is a MessagePack map (rmp-serde *named* encoding)
//! wrapped in a versioned envelope `{ v, data }`.
//!
//! Named encoding is a contract (docs/architecture.md#store-durability-contract): with array
//! encoding a field reorder would silently swap two values of the same type. The envelope's `v` lets a newer binary read older records and
//! lets an older binary refuse newer ones instead of misreading them. Keys are not encoded here;
//! see `keys.rs`.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A record type with a version number of its own layout.
pub trait Versioned: Serialize + DeserializeOwned {
    /// The layout version this binary writes. Bump it when a field changes meaning, and teach
    /// `decode` to read the older one.
    const VERSION: u16;
    /// What the record is, for error messages ("event", "case", …).
    const NAME: &'static str;
}

#[derive(Serialize)]
struct EnvelopeRef<'a, T> {
    v: u16,
    data: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeHead {
    v: u16,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

/// Why a stored value could not be turned back into a record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a record envelope or the record does not match its type: corruption or
    /// a bug. `store check` reports these with their keys.
    #[error("{name} record is not valid MessagePack for its type: {reason}")]
    Malformed { name: &'static str, reason: String },
    /// The record was written by a newer binary; we refuse rather than misread it.
    #[error("{name} record has layout version {found}, this binary reads up to {supported}; upgrade returns-edge")]
    TooNew {
        name: &'static str,
        found: u16,
        supported: u16,
    },
}

/// Encodes a record with named fields inside its versioned envelope.
pub fn encode<T: Versioned>(record: &T) -> Vec<u8> {
    // Serialising our own plain structs to a Vec cannot fail: no maps with non-string keys, no
    // I/O, and every type here derives Serialize.
    rmp_serde::to_vec_named(&EnvelopeRef {
        v: T::VERSION,
        data: record,
    })
    .expect("records serialise to MessagePack infallibly")
}

/// Decodes a record, refusing versions newer than this binary knows.
pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let head: EnvelopeHead = rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Malformed {
        name: T::NAME,
        reason: e.to_string(),
    })?;
    if head.v > T::VERSION {
        return Err(DecodeError::TooNew {
            name: T::NAME,
            found: head.v,
            supported: T::VERSION,
        });
    }
    let envelope: Envelope<T> = rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Malformed {
        name: T::NAME,
        reason: e.to_string(),
    })?;
    Ok(envelope.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair {
        first: u32,
        second: u32,
    }
    impl Versioned for Pair {
        const VERSION: u16 = 1;
        const NAME: &'static str = "pair";
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct PairReordered {
        second: u32,
        first: u32,
    }
    impl Versioned for PairReordered {
        const VERSION: u16 = 1;
        const NAME: &'static str = "pair";
    }

    #[test]
    fn a_field_reorder_does_not_swap_values() {
        let bytes = encode(&Pair { first: 1, second: 2 });
        let back: PairReordered = decode(&bytes).unwrap();
        assert_eq!(back, PairReordered { second: 2, first: 1 });
    }

    #[test]
    fn a_record_from_a_newer_binary_is_refused() {
        #[derive(Serialize, Deserialize)]
        struct Future {
            first: u32,
            second: u32,
        }
        impl Versioned for Future {
            const VERSION: u16 = 7;
            const NAME: &'static str = "pair";
        }
        let bytes = encode(&Future { first: 1, second: 2 });
        let err = decode::<Pair>(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TooNew {
                    found: 7,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_malformed_record_not_a_panic() {
        let err = decode::<Pair>(&[0xc1, 0x00, 0xff]).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }));
    }
}
