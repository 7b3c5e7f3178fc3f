//! Toledo 8217 protocol (7 data bits, even parity, 1 stop bit), both ways.
//!
//! Source: Mettler Toledo "DIVA Service Manual" 72191202, §6.1.3.2 (8217 command descriptions)
//! and §6.1.4.3 (scale status byte bit definitions); Brecknell 67xxU service manual, table 7.6.
//!
//! - The host sends `W` (no terminator). A stable, in-range weight is answered `STX WW.WWW CR`
//!   (kg, three decimals) or `STX WW.WW CR` (lb), with `N` after the digits for a net weight.
//!   The reply carries no unit: it comes from configuration.
//! - Otherwise (motion, negative, over capacity) the scale answers `STX ? <status> CR`, the
//!   status byte being bit 0 motion, 1 over capacity, 2 under zero, 3 outside zero capture
//!   range, 4 centre of zero, 5 net, 6 always 1, 7 parity. `Z` (zero) is answered the same way.
//!
//! A weight reply therefore means "stable": the scale only sends digits when it is.

use crate::event::WeightStability;
use crate::units::{to_grams, Decimal, MassUnit};

use super::framer::FrameSpec;
use super::{bad_weight, unexpected, Condition, FramedDecoder, Indication, Protocol, ScaleFrame, Weighing};

/// Asks for the weight.
pub const WEIGHT_REQUEST: &[u8] = b"W";
/// Zeroes the scale (answered with a status byte).
pub const ZERO_REQUEST: &[u8] = b"Z";

const STX: u8 = 0x02;
const MOTION: u8 = 1 << 0;
const OVER_CAPACITY: u8 = 1 << 1;
const UNDER_ZERO: u8 = 1 << 2;
const CENTRE_OF_ZERO: u8 = 1 << 4;
const ALWAYS_ONE: u8 = 1 << 6;
/// Largest weight the five-digit kg field can show (99.999 kg).
const MAX_GRAMS: i64 = 99_999;

#[derive(Debug)]
pub(crate) struct Toledo8217 {
    unit: MassUnit,
}

/// A decoder for replies whose weights are in `unit` (as the scale is configured).
pub fn decoder(unit: MassUnit) -> impl super::ScaleDecoder {
    FramedDecoder::new(Toledo8217 { unit })
}

impl Protocol for Toledo8217 {
    fn spec(&self) -> FrameSpec {
        FrameSpec {
            start: Some(STX),
            end: b'\r',
            max: 16,
            seven_bit: true,
            restart_on_start: true,
            terminator: "CR",
        }
    }

    fn parse(&self, content: &[u8], at_ms: u64) -> Option<ScaleFrame> {
        match content {
            // `STX CR` acknowledges the confidence-test command, `E`/`F` the echo-mode commands:
            // we send none of them, and they say nothing about the weight.
            [] | [b'E'] | [b'F'] => None,
            [b'?'] => Some(ScaleFrame::Refused {
                reason: "the scale refused the command (`?` without status)".into(),
                at_ms,
            }),
            [b'?', status] => Some(status_frame(*status, content, at_ms)),
            _ => Some(weight_frame(content, self.unit, at_ms)),
        }
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        Some(WEIGHT_REQUEST)
    }
}

fn status_frame(status: u8, content: &[u8], at_ms: u64) -> ScaleFrame {
    if status & ALWAYS_ONE == 0 {
        return unexpected("a status byte with bit 6 set after `?`", content, at_ms);
    }
    let stability = if status & OVER_CAPACITY != 0 {
        WeightStability::OverCapacity
    } else if status & UNDER_ZERO != 0 {
        WeightStability::UnderCapacity
    } else if status & MOTION != 0 {
        WeightStability::Motion
    } else {
        WeightStability::Stable
    };
    ScaleFrame::Condition(Condition {
        stability,
        at_zero: status & CENTRE_OF_ZERO != 0,
        at_ms,
    })
}

fn weight_frame(content: &[u8], unit: MassUnit, at_ms: u64) -> ScaleFrame {
    let digits = content.strip_suffix(b"N").unwrap_or(content);
    let Ok(text) = std::str::from_utf8(digits) else {
        return unexpected("a weight such as `01.234` or `?` and a status byte", content, at_ms);
    };
    let value = match Decimal::parse(text) {
        Ok(value) => value,
        Err(error) => return bad_weight(error, at_ms),
    };
    match to_grams(value, unit) {
        Ok(weight) => ScaleFrame::Reading(Weighing {
            grams: weight.grams,
            resolution_g: weight.resolution_g,
            stability: WeightStability::Stable,
            at_zero: value.mantissa == 0,
            at_ms,
        }),
        Err(error) => bad_weight(error, at_ms),
    }
}

/// The reply a scale in kg mode sends to `W` when showing `shown`.
pub fn encode_weight_reply(shown: &Indication) -> Vec<u8> {
    let status = status_byte(shown);
    if status & (MOTION | OVER_CAPACITY | UNDER_ZERO) != 0 {
        return vec![STX, b'?', status, b'\r'];
    }
    let mut reply = vec![STX];
    reply.extend_from_slice(format!("{:0>6}", super::kilograms_text(shown.grams)).as_bytes());
    reply.push(b'\r');
    reply
}

/// The reply to `Z`: the status byte (the simulator zeroes first).
pub fn encode_status_reply(shown: &Indication) -> Vec<u8> {
    vec![STX, b'?', status_byte(shown), b'\r']
}

fn status_byte(shown: &Indication) -> u8 {
    let mut status = ALWAYS_ONE;
    if shown.motion {
        status |= MOTION;
    }
    if shown.overload || shown.grams > MAX_GRAMS {
        status |= OVER_CAPACITY;
    }
    if shown.underload || shown.grams < 0 {
        status |= UNDER_ZERO;
    }
    if shown.grams == 0 {
        status |= CENTRE_OF_ZERO;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut decoder(MassUnit::Kilogram), &[bytes])
    }

    #[test]
    fn a_kilogram_weight_reply_is_a_stable_reading() {
        // §6.1.3.2: `STX WW.WWW CR`, gross weight kg.
        assert_eq!(
            decode(b"\x0201.234\r"),
            [ScaleFrame::Reading(Weighing {
                grams: 1234,
                resolution_g: 1,
                stability: WeightStability::Stable,
                at_zero: false,
                at_ms: 7
            })]
        );
    }

    #[test]
    fn a_pound_weight_reply_converts_with_its_resolution() {
        // §6.1.3.2: `STX WW.WWN CR`, net weight pounds.
        let frames = decode_all(&mut decoder(MassUnit::Pound), &[b"\x0202.50N\r"]);
        let [ScaleFrame::Reading(reading)] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert_eq!((reading.grams, reading.resolution_g), (1134, 5));
    }

    #[test]
    fn status_replies_report_motion_capacity_and_zero() {
        // §6.1.4.3: bit 0 motion, 1 over capacity, 2 under zero, 4 centre of zero, 6 always 1.
        let cases = [
            (b'A', WeightStability::Motion, false),
            (b'B', WeightStability::OverCapacity, false),
            (b'D', WeightStability::UnderCapacity, false),
            (b'P', WeightStability::Stable, true),
            (0xC1, WeightStability::Motion, false), // parity bit set: 7E1 read as 8 bits
        ];
        for (status, stability, at_zero) in cases {
            let frames = decode(&[STX, b'?', status, b'\r']);
            assert_eq!(
                frames,
                [ScaleFrame::Condition(Condition {
                    stability,
                    at_zero,
                    at_ms: 7
                })],
                "{status:#x}"
            );
        }
    }

    #[test]
    fn garbage_is_reported_naming_the_expected_form_and_the_next_reply_decodes() {
        let frames = decode(b"\x02ab.c\r\x02?\x01\r\x0200.500\r");
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(
            matches!(&frames[0], ScaleFrame::Malformed { error, .. } if error.to_string().contains("expected a decimal weight"))
        );
        assert!(matches!(&frames[1], ScaleFrame::Malformed { error, .. } if error.to_string().contains("bit 6 set")));
        assert!(matches!(&frames[2], ScaleFrame::Reading(Weighing { grams: 500, .. })));
    }

    #[test]
    fn the_encoder_sends_status_alone_while_in_motion() {
        let shown = Indication {
            grams: 1250,
            motion: true,
            ..Indication::default()
        };
        assert_eq!(encode_weight_reply(&shown), b"\x02?A\r");
        let shown = Indication {
            grams: 1250,
            ..Indication::default()
        };
        assert_eq!(encode_weight_reply(&shown), b"\x0201.250\r");
    }
}
