//! Identifiers of the returns domain: case and event ids (UUIDs, v7 when
//! generated here so they sort by creation time) and the station, site and
//! token ids that name the edge installation and its credentials.
//!
//! Ids are validated on parse and by serde like every other value. Pure: no
//! IO (generating a v7 UUID reads the clock and the OS RNG, nothing else).

use uuid::Uuid;

use super::values::{text_value, InvalidValue};

/// Declares a UUID-backed id. Serde always uses the hyphenated string, even
/// in MessagePack (whose serializer is not "human readable" and would make
/// `Uuid`'s own impl emit 16 raw bytes), so stored and shown forms match.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, expected = $expected:expr $(,)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// What a valid id looks like; also the parse and serde error text.
            pub const EXPECTED: &'static str = $expected;

            /// A fresh time-ordered (v7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID of any version.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses any UUID (any version; hyphenated, simple, braced or
            /// URN form, any case). Ids are v7 in practice, but ids minted
            /// elsewhere are still ids, so the version is not checked.
            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| InvalidValue::new(Self::EXPECTED))
            }

            /// The 16 big-endian bytes, e.g. for a binary storage key.
            pub const fn as_bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut buf = Uuid::encode_buffer();
                serializer.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct IdVisitor;

                impl serde::de::Visitor<'_> for IdVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($name::EXPECTED)
                    }

                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(IdVisitor)
            }
        }
    };
}

uuid_id! {
    /// Identifies one return case (one received parcel).
    CaseId,
    expected = "a case id in UUID form, e.g. 0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f",
}

uuid_id! {
    /// Identifies one stored event; inspection corrections refer to it.
    EventId,
    expected = "an event id in UUID form, e.g. 0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f",
}

fn id_chars(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

text_value! {
    /// Names the receiving station (bench) that issued a command.
    StationId,
    expected = "a station id of 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
    valid = id_chars,
}

text_value! {
    /// Names the warehouse site this edge server serves.
    SiteId,
    expected = "a site id of 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
    valid = id_chars,
}

text_value! {
    /// The public, non-secret identifier of an API token.
    TokenId,
    expected = "a token id of 1 to 32 lowercase letters or digits",
    valid = |s| {
        (1..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_v7_and_display_hyphenated_lowercase() {
        let id = CaseId::generate();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let shown = id.to_string();
        assert_eq!(shown.len(), 36);
        assert_eq!(shown, shown.to_lowercase());
        assert_eq!(CaseId::parse(&shown).unwrap(), id);
        assert_eq!(id.as_bytes(), *id.as_uuid().as_bytes());
    }

    #[test]
    fn ids_parse_any_uuid_version_and_refuse_non_uuids() {
        let v4 = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(EventId::parse(v4).unwrap().to_string(), v4);
        assert_eq!(
            EventId::parse(&v4.to_uppercase()).unwrap().to_string(),
            v4,
            "uppercase input is normalised on display"
        );
        for bad in ["", "67e55044-10b1-426f-9247-bb680e5fe0c", "not-a-uuid"] {
            assert_eq!(EventId::parse(bad).unwrap_err().expected, EventId::EXPECTED);
            assert_eq!(CaseId::parse(bad).unwrap_err().expected, CaseId::EXPECTED);
        }
    }

    #[test]
    fn ids_serialize_as_strings_in_json_and_messagepack() {
        let id = EventId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), id);

        let bytes = rmp_serde::to_vec_named(&id).unwrap();
        let as_string: String = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(as_string, id.to_string());
        assert_eq!(rmp_serde::from_slice::<EventId>(&bytes).unwrap(), id);

        let err = serde_json::from_str::<CaseId>("\"nope\"").unwrap_err();
        assert!(err.to_string().starts_with(CaseId::EXPECTED), "{err}");
    }

    #[test]
    fn station_and_site_ids_accept_1_to_64_of_the_allowed_characters() {
        let longest = "a".repeat(64);
        for ok in ["a", "Bench-01.left_2", longest.as_str()] {
            assert!(StationId::parse(ok).is_ok(), "{ok}");
            assert!(SiteId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [String::new(), "a".repeat(65), "a b".into(), "a/b".into(), "é".into()] {
            assert_eq!(StationId::parse(&bad).unwrap_err().expected, StationId::EXPECTED);
            assert_eq!(SiteId::parse(&bad).unwrap_err().expected, SiteId::EXPECTED);
        }
    }

    #[test]
    fn token_ids_accept_1_to_32_lowercase_letters_or_digits() {
        assert!(TokenId::parse("a").is_ok());
        assert!(TokenId::parse(&"z9".repeat(16)).is_ok());
        for bad in [String::new(), "a".repeat(33), "A".into(), "a-b".into()] {
            assert_eq!(TokenId::parse(&bad).unwrap_err().expected, TokenId::EXPECTED);
        }
        let err = serde_json::from_str::<TokenId>("\"ABC\"").unwrap_err();
        assert!(err.to_string().starts_with(TokenId::EXPECTED), "{err}");
    }
}
