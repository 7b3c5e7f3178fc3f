//! The OpenAPI schemas of the domain's value types: the rules their parsers enforce (lengths,
//! ranges, patterns, keywords), said in JSON Schema so that a client generated from
//! `/openapi.json` sends only what the server accepts, and a request the schema refuses is refused.
//!
//! They live here, not beside the types, because `domain` knows nothing of HTTP or OpenAPI. Ranges
//! and keyword lists are read from the domain's own constants (`Qty::MAX`, `Grade::ALL`…); lengths
//! and patterns restate what each parser checks, and the tests below hold them to the parsers at
//! every boundary. A request field typed with one of these gets a `$ref` to its component.

use std::borrow::Cow;

use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{
    Barcode, CaseId, CaseState, Condition, Disposition, EventId, Flag, Grade, Grams, LineNo, Notes, Qty, RmaRef, Role,
    ScaleId, Serial, Sku, StationId, TokenId, NOTES_MAX_CHARS,
};

/// A hyphenated UUID of either case, for the patterns below.
macro_rules! hyphenated_uuid {
    () => {
        "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    };
}

/// A station id: ASCII letters, digits, `.`, `_` and `-`.
pub const STATION_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
pub const STATION_MAX: usize = 64;
/// Printable ASCII or GS (0x1D, the GS1 field separator), first and last not a space.
pub const BARCODE_PATTERN: &str = r"^[\x1d!-~](?:[\x1d -~]*[\x1d!-~])?$";
pub const BARCODE_MAX: usize = 128;
/// Printable ASCII, first and last not a space (SKUs, serials, RMA references, scale ids).
pub const SHORT_TEXT_PATTERN: &str = r"^[!-~](?:[ -~]*[!-~])?$";
pub const SHORT_TEXT_MAX: usize = 64;
/// Any text without control characters (Unicode category Cc) other than tab and newline.
pub const NOTES_PATTERN: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";
/// A token id: lowercase letters and digits (12 hex digits when this server made it).
pub const TOKEN_ID_PATTERN: &str = "^[a-z0-9]{1,32}$";
pub const TOKEN_ID_MAX: usize = 32;
/// A case id as the API answers it: a UUID, lowercase and hyphenated. Only this spelling names a
/// case in a path, because the path is part of a write's idempotency fingerprint.
pub const CASE_ID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// An event id in any spelling the `uuid` crate reads: hyphenated, braced, `urn:uuid:` or simple,
/// any case.
pub const EVENT_ID_PATTERN: &str = concat!(
    "^(?:",
    hyphenated_uuid!(),
    "|\\{",
    hyphenated_uuid!(),
    "\\}|urn:uuid:",
    hyphenated_uuid!(),
    "|[0-9A-Fa-f]{32})$"
);

/// Implements `PartialSchema` and `ToSchema` for a domain type from a function building its schema.
macro_rules! component {
    ($($ty:ty => $build:expr;)+) => {
        $(
            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    let build: fn() -> ObjectBuilder = $build;
                    RefOr::T(Schema::Object(build().build()))
                }
            }

            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($ty))
                }
            }
        )+
    };
}

component! {
    StationId => || text(StationId::EXPECTED, 1, STATION_MAX, STATION_PATTERN, json!("dock-1"));
    Barcode => || text(Barcode::EXPECTED, 1, BARCODE_MAX, BARCODE_PATTERN, json!("1Z999AA10123456784"));
    Sku => || text(Sku::EXPECTED, 1, SHORT_TEXT_MAX, SHORT_TEXT_PATTERN, json!("SKU-1"));
    Serial => || text(Serial::EXPECTED, 1, SHORT_TEXT_MAX, SHORT_TEXT_PATTERN, json!("SN-1"));
    RmaRef => || text(RmaRef::EXPECTED, 1, SHORT_TEXT_MAX, SHORT_TEXT_PATTERN, json!("RMA-2026-0042"));
    ScaleId => || text(ScaleId::EXPECTED, 1, SHORT_TEXT_MAX, SHORT_TEXT_PATTERN, json!("scale-1"));
    Notes => || text(Notes::EXPECTED, 0, NOTES_MAX_CHARS, NOTES_PATTERN, json!("scratch on the lid, see photo 3"));
    Grams => || integer(Grams::EXPECTED, Grams::MIN.into(), Grams::MAX.into(), json!(1250));
    Qty => || integer(Qty::EXPECTED, Qty::MIN.into(), Qty::MAX.into(), json!(1));
    LineNo => || integer(LineNo::EXPECTED, LineNo::MIN.into(), LineNo::MAX.into(), json!(1));
    Grade => || keyword("The grade given to inspected units, best (A) to worst (F).", Grade::ALL.iter().map(|g| g.as_str()), "B");
    Condition => || keyword("Something observed on inspected units; `wrong_item` and `empty_box` raise a flag.", Condition::ALL.iter().map(|c| c.as_str()), "packaging_damaged");
    Disposition => || keyword("Where disposed units go.", Disposition::ALL.iter().map(|d| d.as_str()), "restock");
    Flag => || keyword("Something about a case that needs a supervisor.", Flag::ALL.iter().map(|f| f.as_str()), "wrong_item");
    CaseState => || keyword("Where a case stands; `flagged` while a flag is open.", CaseState::ALL.iter().map(|s| s.as_str()), "received");
    Role => || keyword("What a token may do; each role includes the ones before it.", Role::ALL.iter().map(|r| r.as_str()), "receiver");
    TokenId => || text(TokenId::EXPECTED, 1, TOKEN_ID_MAX, TOKEN_ID_PATTERN, json!("3f9a0c1be27d"));
    CaseId => || text(CaseId::EXPECTED, 36, 36, CASE_ID_PATTERN, json!("0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f"));
    EventId => || text(EventId::EXPECTED, 32, 45, EVENT_ID_PATTERN, json!("0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f"));
}

fn text(expected: &str, min: usize, max: usize, pattern: &str, example: Value) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(capitalized(expected)))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .examples([example])
}

fn integer(expected: &str, min: u64, max: u64, example: Value) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(capitalized(expected)))
        .minimum(Some(min as usize))
        .maximum(Some(max as usize))
        .examples([example])
}

fn keyword<'a>(description: &str, words: impl Iterator<Item = &'a str>, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(words.collect::<Vec<_>>()))
        .examples([json!(example)])
}

/// "a barcode of …" reads as a sentence after a field name; a schema's description starts one.
fn capitalized(expected: &str) -> String {
    let mut chars = expected.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn object<T: PartialSchema>() -> utoipa::openapi::schema::Object {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object,
            _ => panic!("{} is not an object schema", std::any::type_name::<T>()),
        }
    }

    /// The schema's length limits are the parser's: the shortest and longest strings it allows
    /// (of a character every pattern here allows) parse, one more or one fewer does not.
    fn lengths_agree<T: PartialSchema + FromStr>(fill: &str) {
        let schema = object::<T>();
        let (min, max) = (schema.min_length.unwrap(), schema.max_length.unwrap());
        assert!(T::from_str(&fill.repeat(max)).is_ok(), "{max} allowed");
        assert!(T::from_str(&fill.repeat(max + 1)).is_err(), "{} refused", max + 1);
        if min > 0 {
            assert!(T::from_str(&fill.repeat(min)).is_ok(), "{min} allowed");
            assert!(T::from_str(&fill.repeat(min - 1)).is_err(), "{} refused", min - 1);
        }
    }

    fn range_agrees<T: PartialSchema + FromStr>() {
        let schema = object::<T>();
        let number = |n: &utoipa::Number| match n {
            utoipa::Number::UInt(n) => *n as u64,
            _ => panic!(
                "{} has a bound that is not an unsigned integer",
                std::any::type_name::<T>()
            ),
        };
        let (min, max) = (
            number(schema.minimum.as_ref().unwrap()),
            number(schema.maximum.as_ref().unwrap()),
        );
        assert!(T::from_str(&min.to_string()).is_ok() && T::from_str(&max.to_string()).is_ok());
        assert!(T::from_str(&(max + 1).to_string()).is_err());
        if min > 0 {
            assert!(T::from_str(&(min - 1).to_string()).is_err());
        }
    }

    fn keywords_agree<T: PartialSchema + FromStr>(all: &[&str]) {
        let listed: Vec<Value> = object::<T>().enum_values.unwrap();
        let expected: Vec<Value> = all.iter().map(|w| json!(w)).collect();
        assert_eq!(listed, expected);
        assert!(all.iter().all(|w| T::from_str(w).is_ok()));
    }

    #[test]
    fn text_lengths_are_the_parsers() {
        lengths_agree::<StationId>("a");
        lengths_agree::<Barcode>("a");
        lengths_agree::<Sku>("a");
        lengths_agree::<Serial>("a");
        lengths_agree::<RmaRef>("a");
        lengths_agree::<ScaleId>("a");
        lengths_agree::<TokenId>("a");
        // Characters, not bytes: JSON Schema's maxLength counts code points, and so does `Notes`.
        lengths_agree::<Notes>("é");
    }

    #[test]
    fn number_ranges_are_the_parsers() {
        range_agrees::<Grams>();
        range_agrees::<Qty>();
        range_agrees::<LineNo>();
    }

    #[test]
    fn keyword_lists_are_the_parsers() {
        let words = |all: Vec<&'static str>| all;
        keywords_agree::<Grade>(&words(Grade::ALL.iter().map(|g| g.as_str()).collect()));
        keywords_agree::<Condition>(&words(Condition::ALL.iter().map(|g| g.as_str()).collect()));
        keywords_agree::<Disposition>(&words(Disposition::ALL.iter().map(|g| g.as_str()).collect()));
        keywords_agree::<Flag>(&words(Flag::ALL.iter().map(|g| g.as_str()).collect()));
        keywords_agree::<CaseState>(&words(CaseState::ALL.iter().map(|g| g.as_str()).collect()));
        keywords_agree::<Role>(&words(Role::ALL.iter().map(|g| g.as_str()).collect()));
    }

    #[test]
    fn every_example_parses() {
        fn example_parses<T: PartialSchema + FromStr>() {
            for example in object::<T>().examples {
                let text = example.as_str().map_or_else(|| example.to_string(), str::to_owned);
                assert!(
                    T::from_str(&text).is_ok(),
                    "example {example} of {}",
                    std::any::type_name::<T>()
                );
            }
        }
        example_parses::<StationId>();
        example_parses::<Barcode>();
        example_parses::<Sku>();
        example_parses::<Serial>();
        example_parses::<RmaRef>();
        example_parses::<ScaleId>();
        example_parses::<Notes>();
        example_parses::<Grams>();
        example_parses::<Qty>();
        example_parses::<LineNo>();
        example_parses::<Grade>();
        example_parses::<Condition>();
        example_parses::<Disposition>();
        example_parses::<Flag>();
        example_parses::<CaseState>();
        example_parses::<Role>();
        example_parses::<TokenId>();
        example_parses::<CaseId>();
        example_parses::<EventId>();
    }

    #[test]
    fn every_uuid_spelling_the_event_id_parser_reads_is_in_the_patterns_length_range() {
        let id = "0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f";
        let schema = object::<EventId>();
        for spelling in [
            id.to_owned(),
            id.to_uppercase(),
            id.replace('-', ""),
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
        ] {
            assert!(EventId::parse(&spelling).is_ok(), "{spelling}");
            let length = spelling.chars().count();
            assert!(
                (schema.min_length.unwrap()..=schema.max_length.unwrap()).contains(&length),
                "{spelling}"
            );
        }
    }
}
