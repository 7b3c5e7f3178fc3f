//! Mettler Toledo MT-SICS (Standard Interface Command Set), level 0 commands, both ways.
//!
//! Source: Mettler Toledo "MT-SICS Interface Commands" reference manual (11780711), §2.1
//! command and response formats, and the `S`, `SI`, `Z` and `T` command pages.
//!
//! Commands and responses are ASCII lines ending in CR LF; fields are separated by spaces and the
//! weight is right-aligned in a 10-character field:
//! - `S` → `S S      100.00 g` once stable; `SI` → the same, or `S D` (dynamic) while moving.
//! - `S I`: command not executable now (busy, or no stability before the timeout);
//!   `S +` / `S -`: over / under the weighing range.
//! - `Z` → `Z A` zeroed, `Z I` / `Z +` / `Z -` not zeroed; `T` → `T S <tare> <unit>`, `T I`,
//!   `T +`, `T -`.
//! - `ES` syntax error (command not known), `ET` transmission error, `EL` logical error.
//!
//! MT-SICS has no centre-of-zero flag: `at_zero` is derived from a weight of zero.

use crate::event::WeightStability;
use crate::units::parse_grams;

use super::framer::FrameSpec;
use super::{bad_weight, unexpected, Condition, FramedDecoder, Indication, Protocol, ScaleFrame, SicsPoll, Weighing};

/// Send the weight now, stable or dynamic.
pub const WEIGHT_IMMEDIATE_REQUEST: &[u8] = b"SI\r\n";
/// Send the weight once stable.
pub const WEIGHT_STABLE_REQUEST: &[u8] = b"S\r\n";
/// Zero the balance.
pub const ZERO_REQUEST: &[u8] = b"Z\r\n";
/// Tare the balance.
pub const TARE_REQUEST: &[u8] = b"T\r\n";

#[derive(Debug)]
pub(crate) struct Sics {
    poll: SicsPoll,
}

pub fn decoder(poll: SicsPoll) -> impl super::ScaleDecoder {
    FramedDecoder::new(Sics { poll })
}

const EXPECTED: &str = "an MT-SICS response such as `S S 1.250 kg`, `S D …`, `S I`, `S +`, `Z A` or `ES`";

impl Protocol for Sics {
    fn spec(&self) -> FrameSpec {
        FrameSpec {
            start: None,
            end: b'\n',
            max: 64,
            seven_bit: false,
            restart_on_start: false,
            terminator: "CR LF",
        }
    }

    fn parse(&self, content: &[u8], at_ms: u64) -> Option<ScaleFrame> {
        let line = content.strip_suffix(b"\r").unwrap_or(content);
        let Ok(text) = std::str::from_utf8(line) else {
            return Some(unexpected(EXPECTED, content, at_ms));
        };
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let refused = |reason: &str| {
            Some(ScaleFrame::Refused {
                reason: reason.to_owned(),
                at_ms,
            })
        };
        let condition = |stability| {
            Some(ScaleFrame::Condition(Condition {
                stability,
                at_zero: false,
                at_ms,
            }))
        };
        match tokens.as_slice() {
            [] => None,
            ["S", "S", weight @ ..] => Some(reading(weight, WeightStability::Stable, content, at_ms)),
            ["S", "D", weight @ ..] => Some(reading(weight, WeightStability::Motion, content, at_ms)),
            ["S", "I"] => refused("the balance can not send a weight now (`S I`: busy or not stable in time)"),
            ["S", "+"] => condition(WeightStability::OverCapacity),
            ["S", "-"] => condition(WeightStability::UnderCapacity),
            ["Z", "A"] => Some(ScaleFrame::Acknowledged { what: "zero", at_ms }),
            ["Z", "I"] => refused("the balance did not zero (`Z I`: busy or not stable)"),
            ["Z", "+"] => refused("the balance did not zero (`Z +`: above the zero range)"),
            ["Z", "-"] => refused("the balance did not zero (`Z -`: below the zero range)"),
            ["T", "S", ..] => Some(ScaleFrame::Acknowledged { what: "tare", at_ms }),
            ["T", "I"] => refused("the balance did not tare (`T I`: busy or not stable)"),
            ["T", "+"] => refused("the balance did not tare (`T +`: above the tare range)"),
            ["T", "-"] => refused("the balance did not tare (`T -`: below the tare range)"),
            ["ES"] => refused("the balance did not recognise the command (`ES` syntax error)"),
            ["ET"] => refused("the balance received a garbled command (`ET` transmission error)"),
            ["EL"] => refused("the balance can not execute the command (`EL` logical error)"),
            // Answers to identification commands (`I1`…`I4`) a commissioning tool may have sent.
            [first, ..] if first.starts_with('I') && first.len() <= 3 => None,
            _ => Some(unexpected(EXPECTED, content, at_ms)),
        }
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        Some(match self.poll {
            SicsPoll::Immediate => WEIGHT_IMMEDIATE_REQUEST,
            SicsPoll::Stable => WEIGHT_STABLE_REQUEST,
        })
    }
}

fn reading(fields: &[&str], stability: WeightStability, content: &[u8], at_ms: u64) -> ScaleFrame {
    // A sign may stand apart from the digits on some balances (`-   0.52 g`).
    let (value, unit) = match fields {
        [value, unit] => ((*value).to_owned(), *unit),
        [sign @ ("-" | "+"), value, unit] => (format!("{sign}{value}"), *unit),
        _ => return unexpected("a weight value and unit after `S S` or `S D`", content, at_ms),
    };
    match parse_grams(&value, unit) {
        Ok(weight) => ScaleFrame::Reading(Weighing {
            grams: weight.grams,
            resolution_g: weight.resolution_g,
            stability,
            at_zero: value.bytes().all(|byte| !byte.is_ascii_digit() || byte == b'0'),
            at_ms,
        }),
        Err(error) => bad_weight(error, at_ms),
    }
}

/// The balance's answer to `request` (`S`, `SI`, `Z`, `T`) while showing `shown`, in kg.
pub fn encode_reply(request: &str, shown: &Indication) -> Vec<u8> {
    let line = match request {
        "S" | "SI" if shown.overload => "S +".to_owned(),
        "S" | "SI" if shown.underload => "S -".to_owned(),
        "S" if shown.motion => "S I".to_owned(),
        "S" | "SI" => {
            let kind = if shown.motion { 'D' } else { 'S' };
            format!("S {kind} {:>10} kg", super::kilograms_text(shown.grams))
        }
        "Z" if shown.motion => "Z I".to_owned(),
        "Z" => "Z A".to_owned(),
        "T" if shown.motion => "T I".to_owned(),
        "T" => format!("T S {:>10} kg", super::kilograms_text(shown.grams)),
        _ => "ES".to_owned(),
    };
    format!("{line}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut decoder(SicsPoll::Immediate), &[bytes])
    }

    #[test]
    fn the_manual_example_is_a_stable_reading() {
        // Manual, command S: "S S     100.00 g — the current stable weight value is 100.00 g".
        assert_eq!(
            decode(b"S S     100.00 g\r\n"),
            [ScaleFrame::Reading(Weighing {
                grams: 100,
                resolution_g: 1,
                stability: WeightStability::Stable,
                at_zero: false,
                at_ms: 7
            })]
        );
    }

    #[test]
    fn dynamic_and_range_responses_are_recorded() {
        let frames = decode(b"S D      1.255 kg\r\nS +\r\nS -\r\nS S     -0.52 g\r\nS S      0.000 kg\r\n");
        assert!(matches!(
            frames[0],
            ScaleFrame::Reading(Weighing {
                grams: 1255,
                stability: WeightStability::Motion,
                ..
            })
        ));
        assert!(matches!(
            frames[1],
            ScaleFrame::Condition(Condition {
                stability: WeightStability::OverCapacity,
                ..
            })
        ));
        assert!(matches!(
            frames[2],
            ScaleFrame::Condition(Condition {
                stability: WeightStability::UnderCapacity,
                ..
            })
        ));
        assert!(matches!(
            frames[3],
            ScaleFrame::Reading(Weighing {
                grams: -1,
                at_zero: false,
                ..
            })
        ));
        assert!(matches!(
            frames[4],
            ScaleFrame::Reading(Weighing {
                grams: 0,
                at_zero: true,
                ..
            })
        ));
    }

    #[test]
    fn errors_and_acknowledgements_are_told_apart() {
        let frames = decode(b"ES\r\nET\r\nEL\r\nS I\r\nZ A\r\nT S      0.120 kg\r\nI4 A \"B021002593\"\r\n");
        assert_eq!(frames.len(), 6, "{frames:?}");
        assert!(frames[..4]
            .iter()
            .all(|frame| matches!(frame, ScaleFrame::Refused { .. })));
        assert!(matches!(frames[4], ScaleFrame::Acknowledged { what: "zero", .. }));
        assert!(matches!(frames[5], ScaleFrame::Acknowledged { what: "tare", .. }));
    }

    #[test]
    fn an_unknown_response_names_the_expected_form() {
        let frames = decode(b"HELLO\r\n");
        let [ScaleFrame::Malformed { error, .. }] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert!(error.to_string().starts_with("expected an MT-SICS response"), "{error}");
    }

    #[test]
    fn the_encoder_answers_like_a_balance() {
        let moving = Indication {
            grams: 1250,
            motion: true,
            ..Indication::default()
        };
        assert_eq!(encode_reply("SI", &moving), b"S D      1.250 kg\r\n");
        assert_eq!(encode_reply("S", &moving), b"S I\r\n");
        assert_eq!(encode_reply("XYZ", &moving), b"ES\r\n");
    }
}
