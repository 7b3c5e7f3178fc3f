//! Validated value types of the returns domain: barcodes, weights,
//! quantities, line numbers, SKUs, serials, notes, RMA references and scale
//! ids, plus the `InvalidValue` error and the macros the sibling modules use
//! to declare their own validated strings and keyword enums.
//!
//! Every value is parsed once at the boundary (HTTP, disk, firmware) and is
//! valid by construction afterwards, so nothing downstream re-validates.
//! Serde goes through the same validation. Pure: no IO.

use std::fmt;

/// A raw input was refused; `expected` says what a valid value looks like.
///
/// Display is the bare expectation so the HTTP layer can prefix it with the
/// field path and read naturally: "field `label`: expected a barcode of ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected}")]
pub struct InvalidValue {
    /// What a valid value looks like, e.g. "a quantity from 1 to 10000".
    pub expected: String,
}

impl InvalidValue {
    /// An error carrying the given expectation text.
    pub fn new(expected: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
        }
    }
}

/// Declares a validated string newtype with `parse`, `as_str`, `Display`,
/// `FromStr`, `TryFrom<String>` and serde that all share one validator, so
/// there is no way to build the type that skips validation.
macro_rules! text_value {
    (
        $(#[$meta:meta])*
        $name:ident, expected = $expected:expr, valid = $valid:expr $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// What a valid value looks like; also the parse and serde error text.
            pub const EXPECTED: &'static str = $expected;

            fn is_valid(s: &str) -> bool {
                let valid: fn(&str) -> bool = $valid;
                valid(s)
            }

            /// Validates `s`.
            pub fn parse(s: &str) -> Result<Self, $crate::domain::values::InvalidValue> {
                if Self::is_valid(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($crate::domain::values::InvalidValue::new(Self::EXPECTED))
                }
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The validated text, without copying.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::values::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::values::InvalidValue;

            // Reuses the allocation: the common path is a freshly decoded String.
            fn try_from(s: String) -> Result<Self, Self::Error> {
                if Self::is_valid(&s) {
                    Ok(Self(s))
                } else {
                    Err($crate::domain::values::InvalidValue::new(Self::EXPECTED))
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ValueVisitor;

                impl ::serde::de::Visitor<'_> for ValueVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($name::EXPECTED)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }

                    fn visit_string<E: ::serde::de::Error>(self, v: String) -> Result<$name, E> {
                        $name::try_from(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_string(ValueVisitor)
            }
        }
    };
}
pub(crate) use text_value;

/// Declares a fieldless enum whose wire form is a fixed keyword, with `ALL`,
/// `EXPECTED`, `as_str`, `parse`, `Display`, `FromStr` and serde.
///
/// Serde is hand-written rather than derived so a bad keyword reports the
/// same `one of "..."` text as `parse`, and so the wire form is a plain
/// string in every format (MessagePack included).
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(#[$first_meta:meta])* $first:ident = $first_s:literal
            $(, $(#[$vmeta:meta])* $variant:ident = $s:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(#[$first_meta])*
            $first,
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[Self::$first, $(Self::$variant),*];

            /// What a valid keyword looks like; also the parse and serde error text.
            pub const EXPECTED: &'static str =
                concat!("one of \"", $first_s, "\"", $(", \"", $s, "\""),*);

            /// The wire keyword.
            pub const fn as_str(self) -> &'static str {
                match self {
                    Self::$first => $first_s,
                    $(Self::$variant => $s,)*
                }
            }

            /// Parses the exact (case-sensitive) wire keyword.
            pub fn parse(s: &str) -> Result<Self, $crate::domain::values::InvalidValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::domain::values::InvalidValue::new(Self::EXPECTED))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::values::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeywordVisitor;

                impl ::serde::de::Visitor<'_> for KeywordVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($name::EXPECTED)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(KeywordVisitor)
            }
        }
    };
}
pub(crate) use keyword_enum;

/// Declares a bounded unsigned newtype with `new`, `parse`, `get`, `Display`
/// and serde (accepting any integer and range-checking it, so out-of-range
/// and negative inputs report the expectation rather than a Rust type name).
macro_rules! number_value {
    (
        $(#[$meta:meta])*
        $name:ident($inner:ty), min = $min:expr, max = $max:expr, expected = $expected:expr $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($inner);

        impl $name {
            /// Smallest valid value.
            pub const MIN: $inner = $min;
            /// Largest valid value.
            pub const MAX: $inner = $max;
            /// What a valid value looks like; also the parse and serde error text.
            pub const EXPECTED: &'static str = $expected;

            /// Range-checks `n`.
            pub fn new(n: $inner) -> Result<Self, InvalidValue> {
                if (Self::MIN..=Self::MAX).contains(&n) {
                    Ok(Self(n))
                } else {
                    Err(InvalidValue::new(Self::EXPECTED))
                }
            }

            /// Parses plain decimal digits (no sign, no spaces) and range-checks.
            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(InvalidValue::new(Self::EXPECTED));
                }
                s.parse::<u64>()
                    .map_err(|_| InvalidValue::new(Self::EXPECTED))
                    .and_then(Self::from_u64)
            }

            fn from_u64(n: u64) -> Result<Self, InvalidValue> {
                <$inner>::try_from(n)
                    .map_err(|_| InvalidValue::new(Self::EXPECTED))
                    .and_then(Self::new)
            }

            /// The number.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<$inner> for $name {
            type Error = InvalidValue;

            fn try_from(n: $inner) -> Result<Self, Self::Error> {
                Self::new(n)
            }
        }

        impl From<$name> for $inner {
            fn from(value: $name) -> $inner {
                value.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                ::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NumberVisitor;

                impl ::serde::de::Visitor<'_> for NumberVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($name::EXPECTED)
                    }

                    fn visit_u64<E: ::serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        $name::from_u64(v).map_err(E::custom)
                    }

                    fn visit_i64<E: ::serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        u64::try_from(v)
                            .map_err(|_| InvalidValue::new($name::EXPECTED))
                            .and_then($name::from_u64)
                            .map_err(E::custom)
                    }
                }

                deserializer.deserialize_u64(NumberVisitor)
            }
        }
    };
}

/// 1..=`max` bytes of printable ASCII (plus GS when `allow_gs`), not starting
/// or ending with a space. Byte length equals char length for ASCII.
fn printable_ascii(s: &str, max: usize, allow_gs: bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| (0x20..=0x7E).contains(&b) || (allow_gs && b == 0x1D))
        && !s.starts_with(' ')
        && !s.ends_with(' ')
}

/// Longest accepted `Notes`, in Unicode scalar values (not bytes), because
/// the limit is about what a person typed.
pub const NOTES_MAX_CHARS: usize = 2000;

text_value! {
    /// A scanned barcode (parcel label or item). GS (0x1D) is allowed because
    /// GS1 barcodes use it as the FNC1 field separator.
    Barcode,
    expected = "a barcode of 1 to 128 printable ASCII characters (or GS), not starting or ending with a space",
    valid = |s| printable_ascii(s, 128, true),
}

text_value! {
    /// A stock keeping unit code.
    Sku,
    expected = "a SKU of 1 to 64 printable ASCII characters, not starting or ending with a space",
    valid = |s| printable_ascii(s, 64, false),
}

text_value! {
    /// A manufacturer serial number.
    Serial,
    expected = "a serial number of 1 to 64 printable ASCII characters, not starting or ending with a space",
    valid = |s| printable_ascii(s, 64, false),
}

text_value! {
    /// A return merchandise authorisation reference.
    RmaRef,
    expected = "an RMA reference of 1 to 64 printable ASCII characters, not starting or ending with a space",
    valid = |s| printable_ascii(s, 64, false),
}

text_value! {
    /// Identifies the scale that weighed a parcel.
    ScaleId,
    expected = "a scale id of 1 to 64 printable ASCII characters, not starting or ending with a space",
    valid = |s| printable_ascii(s, 64, false),
}

text_value! {
    /// Free text typed by a person. Control characters other than newline and
    /// tab are refused because they corrupt logs and terminals downstream.
    Notes,
    expected = "notes of at most 2000 characters with no control characters other than newline and tab",
    valid = |s| {
        s.chars().count() <= NOTES_MAX_CHARS
            && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
    },
}

number_value! {
    /// A weight in grams; the cap (one tonne) catches unit mistakes and
    /// sensor glitches, not real parcels.
    Grams(u32), min = 0, max = 1_000_000, expected = "a weight in grams from 0 to 1000000",
}

number_value! {
    /// A unit count on one line.
    Qty(u32), min = 1, max = 10_000, expected = "a quantity from 1 to 10000",
}

number_value! {
    /// A 1-based line number within a case.
    LineNo(u16), min = 1, max = 500, expected = "a line number from 1 to 500",
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_with<T: fmt::Debug>(result: Result<T, InvalidValue>, expected: &str) {
        match result {
            Ok(v) => panic!("accepted {v:?}, expected refusal with {expected:?}"),
            Err(e) => {
                assert_eq!(e.expected, expected);
                assert_eq!(e.to_string(), expected);
            }
        }
    }

    fn json_refused_with<T: serde::de::DeserializeOwned + fmt::Debug>(json: &str, expected: &str) {
        match serde_json::from_str::<T>(json) {
            Ok(v) => panic!("json {json} accepted as {v:?}"),
            Err(e) => assert!(
                e.to_string().starts_with(expected),
                "json {json}: error {e:?} does not carry {expected:?}"
            ),
        }
    }

    #[test]
    fn invalid_value_reads_well_after_a_field_prefix() {
        let e = Qty::new(0).unwrap_err();
        assert_eq!(
            format!("field `qty`: expected {e}"),
            "field `qty`: expected a quantity from 1 to 10000"
        );
    }

    #[test]
    fn barcode_accepts_one_to_128_printable_characters_and_gs() {
        assert_eq!(Barcode::parse("A").unwrap().as_str(), "A");
        assert!(Barcode::parse(&"~".repeat(128)).is_ok());
        assert!(Barcode::parse("\u{1d}0101234567890128\u{1d}10ABC").is_ok());
        assert!(Barcode::parse("A B").is_ok());
        assert!(Barcode::parse("!~").is_ok());
    }

    #[test]
    fn barcode_refuses_empty_too_long_non_ascii_control_and_edge_spaces() {
        for bad in [
            String::new(),
            "x".repeat(129),
            " A".into(),
            "A ".into(),
            "A\u{7f}".into(),
            "A\u{1f}".into(),
            "A\n".into(),
            "é".into(),
        ] {
            refused_with(Barcode::parse(&bad), Barcode::EXPECTED);
        }
    }

    #[test]
    fn short_text_values_accept_one_to_64_printable_characters() {
        for s in ["a", &"Z".repeat(64), "RMA-1 2/3"] {
            assert!(Sku::parse(s).is_ok());
            assert!(Serial::parse(s).is_ok());
            assert!(RmaRef::parse(s).is_ok());
            assert!(ScaleId::parse(s).is_ok());
        }
    }

    #[test]
    fn short_text_values_refuse_just_outside_the_limits() {
        for bad in [
            String::new(),
            "Z".repeat(65),
            " a".into(),
            "a ".into(),
            "a\u{1d}".into(),
        ] {
            refused_with(Sku::parse(&bad), Sku::EXPECTED);
            refused_with(Serial::parse(&bad), Serial::EXPECTED);
            refused_with(RmaRef::parse(&bad), RmaRef::EXPECTED);
            refused_with(ScaleId::parse(&bad), ScaleId::EXPECTED);
        }
    }

    #[test]
    fn notes_accept_up_to_2000_unicode_characters_with_newlines_and_tabs() {
        assert!(Notes::parse("").is_ok());
        assert!(Notes::parse(&"é".repeat(2000)).is_ok());
        assert!(Notes::parse("scratch on lid\n\tsee photo").is_ok());
    }

    #[test]
    fn notes_refuse_2001_characters_and_other_control_characters() {
        refused_with(Notes::parse(&"é".repeat(2001)), Notes::EXPECTED);
        for bad in ["a\rb", "a\u{0}b", "a\u{1b}[31m", "a\u{85}b", "a\u{7f}"] {
            refused_with(Notes::parse(bad), Notes::EXPECTED);
        }
    }

    #[test]
    fn grams_accept_zero_to_one_tonne() {
        assert_eq!(Grams::new(0).unwrap().get(), 0);
        assert_eq!(Grams::new(1_000_000).unwrap().get(), 1_000_000);
        refused_with(Grams::new(1_000_001), Grams::EXPECTED);
        assert_eq!(Grams::parse("1000000").unwrap().get(), 1_000_000);
        refused_with(Grams::parse("1000001"), Grams::EXPECTED);
    }

    #[test]
    fn qty_accepts_one_to_ten_thousand() {
        refused_with(Qty::new(0), Qty::EXPECTED);
        assert_eq!(Qty::new(1).unwrap().get(), 1);
        assert_eq!(Qty::new(10_000).unwrap().get(), 10_000);
        refused_with(Qty::new(10_001), Qty::EXPECTED);
    }

    #[test]
    fn line_numbers_run_from_one_to_five_hundred() {
        refused_with(LineNo::new(0), LineNo::EXPECTED);
        assert_eq!(LineNo::new(1).unwrap().get(), 1);
        assert_eq!(LineNo::new(500).unwrap().get(), 500);
        refused_with(LineNo::new(501), LineNo::EXPECTED);
        refused_with(LineNo::parse("70000"), LineNo::EXPECTED);
    }

    #[test]
    fn number_parse_refuses_signs_spaces_and_empty_input() {
        for bad in ["", "+1", "-1", " 1", "1 ", "1.0", "99999999999999999999999"] {
            refused_with(Qty::parse(bad), Qty::EXPECTED);
        }
        assert_eq!(Qty::parse("0042").unwrap().get(), 42);
    }

    #[test]
    fn serde_json_round_trips_and_refuses_with_the_expectation_text() {
        let b: Barcode = serde_json::from_str("\"ABC\"").unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"ABC\"");
        json_refused_with::<Barcode>("\"\"", Barcode::EXPECTED);
        json_refused_with::<Barcode>("\" A\"", Barcode::EXPECTED);
        json_refused_with::<Sku>(&format!("\"{}\"", "x".repeat(65)), Sku::EXPECTED);
        json_refused_with::<Serial>("\"\"", Serial::EXPECTED);
        json_refused_with::<RmaRef>("\"\"", RmaRef::EXPECTED);
        json_refused_with::<ScaleId>("\"\"", ScaleId::EXPECTED);
        json_refused_with::<Notes>("\"a\\u0000\"", Notes::EXPECTED);

        let q: Qty = serde_json::from_str("3").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "3");
        json_refused_with::<Qty>("0", Qty::EXPECTED);
        json_refused_with::<Qty>("-1", Qty::EXPECTED);
        json_refused_with::<Qty>("10001", Qty::EXPECTED);
        json_refused_with::<Grams>("1000001", Grams::EXPECTED);
        json_refused_with::<LineNo>("501", LineNo::EXPECTED);
        json_refused_with::<LineNo>("4294967296", LineNo::EXPECTED);
    }

    #[test]
    fn serde_wrong_json_types_still_mention_the_expectation() {
        for (json, expected) in [
            ("5", Barcode::EXPECTED),
            ("\"5\"", Qty::EXPECTED),
            ("1.5", Qty::EXPECTED),
        ] {
            let err = if expected == Barcode::EXPECTED {
                serde_json::from_str::<Barcode>(json).unwrap_err()
            } else {
                serde_json::from_str::<Qty>(json).unwrap_err()
            };
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn messagepack_round_trips_values_and_refuses_bad_ones() {
        let b = Barcode::parse("\u{1d}01").unwrap();
        let bytes = rmp_serde::to_vec_named(&b).unwrap();
        assert_eq!(rmp_serde::from_slice::<Barcode>(&bytes).unwrap(), b);
        let g = Grams::new(1_000_000).unwrap();
        let bytes = rmp_serde::to_vec_named(&g).unwrap();
        assert_eq!(rmp_serde::from_slice::<Grams>(&bytes).unwrap(), g);

        let bytes = rmp_serde::to_vec_named(&0u32).unwrap();
        let err = rmp_serde::from_slice::<Qty>(&bytes).unwrap_err();
        assert!(err.to_string().contains(Qty::EXPECTED), "{err}");
        let bytes = rmp_serde::to_vec_named("").unwrap();
        let err = rmp_serde::from_slice::<Sku>(&bytes).unwrap_err();
        assert!(err.to_string().contains(Sku::EXPECTED), "{err}");
    }
}
