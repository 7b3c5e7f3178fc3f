//! GS1 element strings (GS1 General Specifications §3 and §7.8): application identifiers,
//! predefined lengths, FNC1 separators; and the retail GTINs (EAN-13, UPC-A, EAN-8).
//!
//! Parsing follows the predefined-length table: AIs starting 00–04, 11–20, 31–36 and 41 have a
//! fixed data length and need no separator; every other AI runs to the next GS (FNC1) or the end.
//! The AI's own length (2, 3 or 4 digits) follows from its first two digits.

use serde::{Deserialize, Serialize};

use super::check::gs1_mod10_ok;

/// ASCII group separator, how FNC1 arrives between variable-length fields.
pub const GS: char = '\u{1d}';

/// One application identifier and its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gs1Field {
    pub ai: String,
    pub value: String,
}

/// Why an element string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gs1Problem {
    UnknownAi(String),
    Short { ai: String, expected: usize, found: usize },
    TooLong { ai: String, max: usize },
    NotDigits { ai: String },
    CheckDigit { ai: String },
    Empty,
}

impl std::fmt::Display for Gs1Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gs1Problem::UnknownAi(ai) => write!(f, "expected a GS1 application identifier, found `{ai}`"),
            Gs1Problem::Short { ai, expected, found } => {
                write!(f, "expected {expected} characters after AI ({ai}), found {found}")
            }
            Gs1Problem::TooLong { ai, max } => write!(f, "expected at most {max} characters after AI ({ai}) before GS"),
            Gs1Problem::NotDigits { ai } => write!(f, "expected digits only after AI ({ai})"),
            Gs1Problem::CheckDigit { ai } => write!(f, "AI ({ai}) fails its GS1 check digit"),
            Gs1Problem::Empty => write!(f, "expected at least one GS1 element"),
        }
    }
}

/// Splits an element string (FNC1 as GS, a leading GS allowed) into fields, verifying the check
/// digits of SSCC (00) and GTIN (01, 02).
pub(crate) fn parse_element_string(text: &str) -> Result<Vec<Gs1Field>, Gs1Problem> {
    let mut rest = text.strip_prefix(GS).unwrap_or(text);
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let ai_len = ai_length(rest).ok_or_else(|| Gs1Problem::UnknownAi(rest.chars().take(4).collect()))?;
        let ai = &rest[..ai_len];
        rest = &rest[ai_len..];
        let value = match fixed_length(ai) {
            Some(expected) => {
                let found = rest.chars().take(expected).count();
                if found < expected {
                    return Err(Gs1Problem::Short {
                        ai: ai.to_owned(),
                        expected,
                        found,
                    });
                }
                let end = rest.char_indices().nth(expected).map_or(rest.len(), |(index, _)| index);
                let (value, after) = rest.split_at(end);
                rest = after.strip_prefix(GS).unwrap_or(after);
                value
            }
            None => {
                let (value, after) = rest.split_once(GS).unwrap_or((rest, ""));
                let max = max_variable_length(ai);
                if value.chars().count() > max {
                    return Err(Gs1Problem::TooLong { ai: ai.to_owned(), max });
                }
                rest = after;
                value
            }
        };
        check_field(ai, value)?;
        fields.push(Gs1Field {
            ai: ai.to_owned(),
            value: value.to_owned(),
        });
    }
    if fields.is_empty() {
        return Err(Gs1Problem::Empty);
    }
    Ok(fields)
}

fn check_field(ai: &str, value: &str) -> Result<(), Gs1Problem> {
    // Every AI with a predefined length is numeric (identifiers, dates, measures, GLNs).
    if fixed_length(ai).is_some() && !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Gs1Problem::NotDigits { ai: ai.to_owned() });
    }
    if matches!(ai, "00" | "01" | "02") && !gs1_mod10_ok(value.as_bytes()) {
        return Err(Gs1Problem::CheckDigit { ai: ai.to_owned() });
    }
    Ok(())
}

/// The AI's length from its first two digits; `None` for ranges GS1 has not assigned.
fn ai_length(text: &str) -> Option<usize> {
    let prefix = text.get(..2)?;
    if !prefix.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let length = match prefix.parse::<u8>().ok()? {
        0..=22 | 30 | 37 | 90..=99 => 2,
        23..=29 | 40..=49 | 71 => 3,
        31..=36 | 39 | 70 | 72 | 80..=82 => 4,
        _ => return None,
    };
    let ai = text.get(..length)?;
    ai.bytes().all(|byte| byte.is_ascii_digit()).then_some(length)
}

/// Data length of AIs with a predefined length (the table of GS1 General Specifications §7.8.5).
fn fixed_length(ai: &str) -> Option<usize> {
    Some(match ai.get(..2)? {
        "00" => 18,
        "01" | "02" | "03" => 14,
        "04" => 16,
        "11" | "12" | "13" | "14" | "15" | "16" | "17" | "18" | "19" => 6,
        "20" => 2,
        "31" | "32" | "33" | "34" | "35" | "36" => 6,
        "41" => 13,
        _ => return None,
    })
}

fn max_variable_length(ai: &str) -> usize {
    match ai {
        "10" | "21" | "22" | "420" => 20,
        "30" | "37" => 8,
        "421" => 12,
        _ => 90,
    }
}

/// A retail product code, check digit verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retail {
    Ean13,
    UpcA,
    Ean8,
}

/// Which retail code `code` is by its length, if all digits (check digit not yet verified).
pub(crate) fn retail_form(code: &str) -> Option<Retail> {
    if !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    match code.len() {
        13 => Some(Retail::Ean13),
        12 => Some(Retail::UpcA),
        8 => Some(Retail::Ean8),
        _ => None,
    }
}
