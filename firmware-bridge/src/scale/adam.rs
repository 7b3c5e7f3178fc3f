//! Adam Equipment print output (8 data bits, no parity), both ways.
//!
//! Sources: Adam Equipment Highland series manual, RS-232 section ("Format 2 output": 16
//! characters, the sign, the weight right-aligned, a three-character unit field, CR LF, e.g.
//! `-      123.45 g `), and the CPWplus manual (input commands `P`, `T`, `Z` closed by CR LF,
//! output lines such as `+ 2.00 kg`, optionally after `G`/`N`). Other Adam models put `ST`/`US`
//! and `GS`/`NT` before the weight; both forms are read.
//!
//! The print format has no stability flag on most models: readings are `Unreported` and
//! [`crate::stable::StableWeight`] requires N identical readings instead. `at_zero` is derived
//! from a weight of zero. Lines without a mass unit (date, time, piece count headers of the
//! multi-line print-out) carry no weight and are skipped; unit-weight and tare lines too.

use crate::event::WeightStability;
use crate::units::{parse_grams, MassUnit};

use super::framer::FrameSpec;
use super::{bad_weight, unexpected, FramedDecoder, Indication, Protocol, ScaleFrame, Weighing};

/// Asks for a print of the current weight.
pub const PRINT_REQUEST: &[u8] = b"P\r\n";
/// Zeroes the scale.
pub const ZERO_REQUEST: &[u8] = b"Z\r\n";
/// Tares the scale.
pub const TARE_REQUEST: &[u8] = b"T\r\n";

const EXPECTED: &str = "a signed weight and unit such as `+ 1.250 kg`";

#[derive(Debug)]
pub(crate) struct Adam;

pub fn decoder() -> impl super::ScaleDecoder {
    FramedDecoder::new(Adam)
}

impl Protocol for Adam {
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
        let tokens: Vec<&str> = text.split([',', ' ']).filter(|token| !token.is_empty()).collect();
        if tokens.iter().any(|token| {
            let token = token.to_ascii_lowercase();
            token.starts_with("unit") || token.starts_with("tare") || token == "pcs"
        }) {
            return None;
        }
        let mut stability = WeightStability::Unreported;
        for token in &tokens {
            match *token {
                "ST" => stability = WeightStability::Stable,
                "US" => stability = WeightStability::Motion,
                "OL" => stability = WeightStability::OverCapacity,
                _ => {}
            }
        }
        let (value, unit) = split_weight(&tokens)?;
        let Some(value) = value else {
            return Some(unexpected(EXPECTED, content, at_ms));
        };
        Some(match parse_grams(&value, unit) {
            Ok(weight) => ScaleFrame::Reading(Weighing {
                grams: weight.grams,
                resolution_g: weight.resolution_g,
                stability,
                at_zero: value.bytes().all(|byte| !byte.is_ascii_digit() || byte == b'0'),
                at_ms,
            }),
            Err(error) => bad_weight(error, at_ms),
        })
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        Some(PRINT_REQUEST)
    }
}

/// Finds the last mass unit and the number before it. `None`: no unit (nothing to report);
/// `Some((None, unit))`: a unit without a readable number before it.
fn split_weight<'a>(tokens: &[&'a str]) -> Option<(Option<String>, &'a str)> {
    for (index, token) in tokens.iter().enumerate().rev() {
        if MassUnit::parse(token).is_ok() {
            let before = &tokens[..index];
            let value = match before {
                [.., sign @ ("-" | "+"), number] => Some(format!("{sign}{number}")),
                [.., number] if number.bytes().any(|byte| byte.is_ascii_digit()) => Some((*number).to_owned()),
                _ => None,
            };
            return Some((value, token));
        }
        // Number and unit written together: `1.234kg`.
        if let Some(at) = token.find(|c: char| c.is_ascii_alphabetic()) {
            let (number, unit) = token.split_at(at);
            if !number.is_empty() && MassUnit::parse(unit).is_ok() {
                let value = match &tokens[..index] {
                    [.., sign @ ("-" | "+")] => format!("{sign}{number}"),
                    _ => number.to_owned(),
                };
                return Some((Some(value), unit));
            }
        }
    }
    None
}

/// The line a Highland-format scale prints for `shown` (16 characters and CR LF), in kg.
/// Over or under the range nothing useful is printed: the simulator sends nothing.
pub fn encode_print(shown: &Indication) -> Vec<u8> {
    if shown.overload || shown.underload {
        return Vec::new();
    }
    let sign = if shown.grams < 0 { '-' } else { ' ' };
    let value = super::kilograms_text(shown.grams.abs());
    format!("{sign}{value:>12}kg \r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut decoder(), &[bytes])
    }

    fn grams_and_stability(frames: &[ScaleFrame]) -> Vec<(i64, WeightStability)> {
        frames
            .iter()
            .map(|frame| match frame {
                ScaleFrame::Reading(reading) => (reading.grams, reading.stability),
                other => panic!("reading expected, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn manual_examples_decode_without_a_stability_flag() {
        // Highland "Format 2": `±______123.45_g_<cr><lf>`; CPWplus: `+ 2.00 kg`, `G + 2.00 kg`.
        let frames = decode(b"-      123.45 g \r\n+ 2.00 kg\r\nG + 2.00 kg\r\n");
        assert_eq!(
            grams_and_stability(&frames),
            [
                (-123, WeightStability::Unreported),
                (2000, WeightStability::Unreported),
                (2000, WeightStability::Unreported)
            ]
        );
        let [_, ScaleFrame::Reading(reading), _] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert_eq!(reading.resolution_g, 10);
    }

    #[test]
    fn st_and_us_headers_give_stability_where_a_model_sends_them() {
        let frames = decode(b"ST,GS,+ 1.234kg\r\nUS,GS,+    1.236 kg\r\n");
        assert_eq!(
            grams_and_stability(&frames),
            [(1234, WeightStability::Stable), (1236, WeightStability::Motion)]
        );
    }

    #[test]
    fn print_out_headers_carry_no_weight_and_are_skipped() {
        let frames =
            decode(b"Date 12/09/2006\r\nTime 14:56:27\r\nGross Wt 1.234 Kg\r\nUnit Wt. 123 g\r\nPCS 10 pcs\r\n\r\n");
        assert_eq!(grams_and_stability(&frames), [(1234, WeightStability::Unreported)]);
    }

    #[test]
    fn a_unit_without_a_number_names_the_expected_form() {
        let frames = decode(b"  -OL-   kg \r\n");
        assert!(
            matches!(&frames[..], [ScaleFrame::Malformed { error, .. }] if error.to_string().starts_with("expected a signed weight")),
            "{frames:?}"
        );
    }

    #[test]
    fn the_encoder_prints_sixteen_characters() {
        let line = encode_print(&Indication {
            grams: 1250,
            ..Indication::default()
        });
        assert_eq!(line, b"        1.250kg \r\n");
        assert_eq!(line.len(), 18);
    }
}
