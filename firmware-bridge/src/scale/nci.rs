//! Toledo 8213 / NCI ECR protocol (7 data bits, even parity), both ways.
//!
//! Sources: Weigh-Tronix/NCI "Model 7800 Family Weight Classifiers User's Manual", p. 32 (NCI
//! serial communications protocol, standard commands) and Avery Weigh-Tronix 7821 user
//! instructions §6.3 for the frames; the status bits as tabled in the Ohaus Aviator 7000 service
//! manual (NCI protocol, p. 49) and Fairbanks PC2250 appendix I §5; Mettler Toledo DIVA service
//! manual §6.1.1 for the `S`-prefixed status variant.
//!
//! - `W CR` → `LF weight unit CR LF hh CR ETX`, e.g. `\n0001.25LB\r\n00\r\x03`; the weight line
//!   is left out (status only) by some scales while in motion or out of range.
//! - `S CR` → `LF hh CR ETX`; `Z CR` zeroes and answers the same; `LF ? CR ETX`: unknown command.
//! - Status byte 1: bit 0 motion, 1 at zero, 2 RAM error, 3 EEPROM error; byte 2: bit 0 under
//!   capacity, 1 over capacity, 2 ROM error, 3 faulty calibration. Bits 4 and 5 are always 1
//!   (so "nothing to report" is `00`), bit 7 is parity.
//! - Units are ANSI abbreviations in either case (`LB`, `kg`, `OZ`, `g`), pounds-ounces as
//!   `xLB xx.xOZ`.

use crate::event::WeightStability;
use crate::units::{parse_grams, to_grams, Decimal, Grams, MassUnit, UnitsError};

use super::framer::FrameSpec;
use super::{bad_weight, unexpected, Condition, FramedDecoder, Indication, Protocol, ScaleFrame, Weighing};

/// Asks for the weight and status.
pub const WEIGHT_REQUEST: &[u8] = b"W\r";
/// Asks for the status alone.
pub const STATUS_REQUEST: &[u8] = b"S\r";
/// Zeroes the scale.
pub const ZERO_REQUEST: &[u8] = b"Z\r";

const ETX: u8 = 0x03;
const STATUS_BASE: u8 = 0x30;
const MOTION: u8 = 1 << 0;
const AT_ZERO: u8 = 1 << 1;
const RAM_ERROR: u8 = 1 << 2;
const EEPROM_ERROR: u8 = 1 << 3;
const UNDER_CAPACITY: u8 = 1 << 0;
const OVER_CAPACITY: u8 = 1 << 1;
const ROM_ERROR: u8 = 1 << 2;
const CALIBRATION_ERROR: u8 = 1 << 3;
/// Largest weight the six-character field shows in kg (`99.999`).
const MAX_GRAMS: i64 = 99_999;

#[derive(Debug)]
pub(crate) struct Nci;

pub fn decoder() -> impl super::ScaleDecoder {
    FramedDecoder::new(Nci)
}

impl Protocol for Nci {
    fn spec(&self) -> FrameSpec {
        // LF opens a reply; LFs inside it start its second line, so they must not restart it.
        FrameSpec {
            start: Some(b'\n'),
            end: ETX,
            max: 48,
            seven_bit: true,
            restart_on_start: false,
            terminator: "ETX",
        }
    }

    fn parse(&self, content: &[u8], at_ms: u64) -> Option<ScaleFrame> {
        let lines: Vec<&[u8]> = content
            .split(|&byte| byte == b'\r')
            .map(|line| line.strip_prefix(b"\n").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .collect();
        let frame = match lines.as_slice() {
            [] => return None,
            [b"?"] => ScaleFrame::Refused {
                reason: "the scale did not recognise the command (`?`)".into(),
                at_ms,
            },
            [status] => match parse_status(status) {
                Ok(status) => status.frame(None, at_ms),
                Err(()) => unexpected(STATUS_EXPECTED, content, at_ms),
            },
            [weight, status] => match parse_status(status) {
                Ok(status) => match parse_weight(weight) {
                    Ok(weight) => status.frame(weight, at_ms),
                    Err(error) => bad_weight(error, at_ms),
                },
                Err(()) => unexpected(STATUS_EXPECTED, content, at_ms),
            },
            _ => unexpected("a weight line and a status line ending in ETX", content, at_ms),
        };
        Some(frame)
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        Some(WEIGHT_REQUEST)
    }
}

const STATUS_EXPECTED: &str = "two status bytes (`00` to `??`, optionally after `S`) before ETX";

#[derive(Debug, Clone, Copy)]
struct Status {
    first: u8,
    second: u8,
}

fn parse_status(line: &[u8]) -> Result<Status, ()> {
    // The DIVA variant writes `S` before the status bytes; `S` can not be a status byte itself
    // (bits 4 and 5 are always set in those).
    let bytes = match line {
        [b'S', rest @ ..] => rest,
        _ => line,
    };
    match bytes {
        [first, second, ..] if first & STATUS_BASE == STATUS_BASE && second & STATUS_BASE == STATUS_BASE => {
            Ok(Status {
                first: *first,
                second: *second,
            })
        }
        _ => Err(()),
    }
}

impl Status {
    fn frame(self, weight: Option<Grams>, at_ms: u64) -> ScaleFrame {
        if let Some(reason) = self.fault() {
            return ScaleFrame::Refused {
                reason: reason.into(),
                at_ms,
            };
        }
        let stability = if self.second & OVER_CAPACITY != 0 {
            WeightStability::OverCapacity
        } else if self.second & UNDER_CAPACITY != 0 {
            WeightStability::UnderCapacity
        } else if self.first & MOTION != 0 {
            WeightStability::Motion
        } else {
            WeightStability::Stable
        };
        let at_zero = self.first & AT_ZERO != 0;
        match weight {
            Some(weight) => ScaleFrame::Reading(Weighing {
                grams: weight.grams,
                resolution_g: weight.resolution_g,
                stability,
                at_zero,
                at_ms,
            }),
            None => ScaleFrame::Condition(Condition {
                stability,
                at_zero,
                at_ms,
            }),
        }
    }

    fn fault(self) -> Option<&'static str> {
        if self.first & RAM_ERROR != 0 {
            Some("the scale reports a RAM error")
        } else if self.first & EEPROM_ERROR != 0 {
            Some("the scale reports an EEPROM error")
        } else if self.second & ROM_ERROR != 0 {
            Some("the scale reports a ROM error")
        } else if self.second & CALIBRATION_ERROR != 0 {
            Some("the scale reports faulty calibration")
        } else {
            None
        }
    }
}

/// The weight line: `None` when it shows no digits (over/under range markers such as `^^^^^^`,
/// `------` or a units-only line).
fn parse_weight(line: &[u8]) -> Result<Option<Grams>, UnitsError> {
    let text = String::from_utf8_lossy(line);
    if !text.bytes().any(|byte| byte.is_ascii_digit()) {
        return Ok(None);
    }
    let upper = text.to_ascii_uppercase();
    if let Some((pounds, ounces)) = upper.split_once("LB") {
        if let Some(ounces) = ounces.trim().strip_suffix("OZ") {
            return pounds_and_ounces(pounds, ounces).map(Some);
        }
    }
    let unit_at = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (value, unit) = text.split_at(unit_at);
    parse_grams(value, unit).map(Some)
}

fn pounds_and_ounces(pounds: &str, ounces: &str) -> Result<Grams, UnitsError> {
    // Added in ounces before converting, so the sum is rounded once.
    let pounds = Decimal::parse(pounds)?;
    let ounces = Decimal::parse(ounces)?;
    let exponent = pounds.exponent.min(ounces.exponent);
    let align = |value: Decimal| -> Result<i64, UnitsError> {
        let shift = u32::try_from(value.exponent - exponent).map_err(|_| UnitsError::Overflow)?;
        10i64
            .checked_pow(shift)
            .and_then(|factor| value.mantissa.checked_mul(factor))
            .ok_or(UnitsError::Overflow)
    };
    let total = align(pounds)?
        .checked_mul(16)
        .and_then(|in_ounces| in_ounces.checked_add(align(ounces).ok()?))
        .ok_or(UnitsError::Overflow)?;
    to_grams(
        Decimal {
            mantissa: total,
            exponent,
        },
        MassUnit::Ounce,
    )
}

/// The reply to `W` of a scale in kg mode showing `shown`. Out of range, only the status.
pub fn encode_weight_reply(shown: &Indication) -> Vec<u8> {
    let (first, second) = status_bytes(shown);
    let mut reply = vec![b'\n'];
    if second == STATUS_BASE && (0..=MAX_GRAMS).contains(&shown.grams) {
        reply.extend_from_slice(format!("{:0>6}KG\r\n", super::kilograms_text(shown.grams)).as_bytes());
    }
    reply.extend_from_slice(&[first, second, b'\r', ETX]);
    reply
}

/// The reply to `S` and `Z`.
pub fn encode_status_reply(shown: &Indication) -> Vec<u8> {
    let (first, second) = status_bytes(shown);
    vec![b'\n', first, second, b'\r', ETX]
}

fn status_bytes(shown: &Indication) -> (u8, u8) {
    let mut first = STATUS_BASE;
    let mut second = STATUS_BASE;
    if shown.motion {
        first |= MOTION;
    }
    if shown.grams == 0 {
        first |= AT_ZERO;
    }
    if shown.underload || shown.grams < 0 {
        second |= UNDER_CAPACITY;
    }
    if shown.overload || shown.grams > MAX_GRAMS {
        second |= OVER_CAPACITY;
    }
    (first, second)
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut decoder(), &[bytes])
    }

    fn reading(grams: i64, resolution_g: u32, stability: WeightStability, at_zero: bool) -> ScaleFrame {
        ScaleFrame::Reading(Weighing {
            grams,
            resolution_g,
            stability,
            at_zero,
            at_ms: 7,
        })
    }

    #[test]
    fn manual_examples_decode_to_grams() {
        // 7800 manual p. 32: `<LF>xxxx.xxuu<CR><LF>hh<CR><ETX>`.
        assert_eq!(
            decode(b"\n0001.25LB\r\n00\r\x03"),
            [reading(567, 5, WeightStability::Stable, false)]
        );
        // 3700LP: `<LF>_XXXXg_<CR><LF>[HL]<CR><ETX>` (grams with spaces).
        assert_eq!(
            decode(b"\n 1250g \r\n00\r\x03"),
            [reading(1250, 1, WeightStability::Stable, false)]
        );
        assert_eq!(
            decode(b"\n01.250kg\r\n20\r\x03"),
            [reading(1250, 1, WeightStability::Stable, true)]
        );
    }

    #[test]
    fn status_bytes_report_motion_zero_and_capacity() {
        assert_eq!(
            decode(b"\n01.250KG\r\n10\r\x03"),
            [reading(1250, 1, WeightStability::Motion, false)]
        );
        let condition = |stability, at_zero| {
            ScaleFrame::Condition(Condition {
                stability,
                at_zero,
                at_ms: 7,
            })
        };
        assert_eq!(decode(b"\n02\r\x03"), [condition(WeightStability::OverCapacity, false)]);
        assert_eq!(
            decode(b"\n01\r\x03"),
            [condition(WeightStability::UnderCapacity, false)]
        );
        assert_eq!(
            decode(b"\n^^^^^^KG\r\n02\r\x03"),
            [condition(WeightStability::OverCapacity, false)]
        );
        // DIVA variant with `S` before the status; Fairbanks' example `S20` = at zero.
        assert_eq!(decode(b"\nS20\r\x03"), [condition(WeightStability::Stable, true)]);
    }

    #[test]
    fn pounds_and_ounces_add_up() {
        // 7821 §6.3: `<LF>xLB<SP>xx.xOZ<CR>`; 1 lb 2.5 oz = 18.5 oz = 524.47 g.
        assert_eq!(
            decode(b"\n1LB 02.5OZ\r\n00\r\x03"),
            [reading(524, 3, WeightStability::Stable, false)]
        );
    }

    #[test]
    fn fault_bits_and_unknown_commands_are_refusals() {
        let frames = decode(b"\n40\r\x03\n?\r\x03\n08\r\x03");
        let reasons: Vec<String> = frames
            .iter()
            .map(|frame| match frame {
                ScaleFrame::Refused { reason, .. } => reason.clone(),
                other => panic!("refusal expected, got {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "the scale reports a RAM error",
                "the scale did not recognise the command (`?`)",
                "the scale reports faulty calibration"
            ]
        );
    }

    #[test]
    fn a_missing_status_names_what_was_expected() {
        let frames = decode(b"\n01.250KG\r\nAB\r\x03");
        assert!(
            matches!(&frames[..], [ScaleFrame::Malformed { error, .. }] if error.to_string().starts_with("expected two status bytes")),
            "{frames:?}"
        );
    }

    #[test]
    fn seven_bit_parity_is_masked() {
        let with_parity: Vec<u8> = b"\n01.250KG\r\n00\r\x03".iter().map(|byte| byte | 0x80).collect();
        assert_eq!(decode(&with_parity), [reading(1250, 1, WeightStability::Stable, false)]);
    }
}
