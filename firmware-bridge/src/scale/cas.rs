//! CAS 22-byte continuous output (8 data bits, no parity), both ways.
//!
//! Source: CAS CI-600D / PDI series manual, §10-1 "CAS 22 Bytes Format" (also CAS NT-200 manual
//! §14 and CI-400 appendix 1). The indicator streams, nothing is sent to it:
//!
//! ```text
//! S T , G S , id lamp , d d d d d d d d _ k g CR LF      (22 bytes)
//! ```
//! - `ST` stable, `US` unstable, `OL` overload; `GS` gross, `NT` net;
//! - `id`: the device number (one byte); `lamp`: bit 7 always 1, 6 stable, 4 hold, 3 printer,
//!   2 gross, 1 tare, 0 zero point;
//! - 8 bytes of weight with its decimal point and sign (13.5 kg is `000013.5`), a blank, and the
//!   unit in two bytes (`kg`, ` g`, ` t`, `lb`).
//!
//! The lamp byte has bit 7 set, so the line must be read with 8 data bits and is not text.

use crate::event::WeightStability;
use crate::units::parse_grams;

use super::framer::FrameSpec;
use super::{bad_weight, unexpected, Condition, FramedDecoder, Indication, Protocol, ScaleFrame, Weighing};

const LINE_LEN: usize = 20;
const LAMP_ALWAYS: u8 = 1 << 7;
const LAMP_STABLE: u8 = 1 << 6;
const LAMP_GROSS: u8 = 1 << 2;
const LAMP_ZERO: u8 = 1 << 0;
const EXPECTED: &str = "a 22-byte CAS frame `ST,GS,<id><lamp>,<8-byte weight> kg` ending in CR LF";

#[derive(Debug)]
pub(crate) struct Cas;

pub fn decoder() -> impl super::ScaleDecoder {
    FramedDecoder::new(Cas)
}

impl Protocol for Cas {
    fn spec(&self) -> FrameSpec {
        FrameSpec {
            start: None,
            end: b'\n',
            max: 32,
            seven_bit: false,
            restart_on_start: false,
            terminator: "CR LF",
        }
    }

    fn parse(&self, content: &[u8], at_ms: u64) -> Option<ScaleFrame> {
        let line = content.strip_suffix(b"\r").unwrap_or(content);
        if line.is_empty() {
            return None;
        }
        let Some(fields) = split(line) else {
            return Some(unexpected(EXPECTED, content, at_ms));
        };
        let stability = match fields.state {
            b"ST" => WeightStability::Stable,
            b"US" => WeightStability::Motion,
            b"OL" => WeightStability::OverCapacity,
            _ => return Some(unexpected(EXPECTED, content, at_ms)),
        };
        let at_zero = fields.lamp & LAMP_ZERO != 0;
        let (Ok(value), Ok(unit)) = (std::str::from_utf8(fields.weight), std::str::from_utf8(fields.unit)) else {
            return Some(unexpected(EXPECTED, content, at_ms));
        };
        let frame = match parse_grams(value, unit) {
            Ok(weight) => ScaleFrame::Reading(Weighing {
                grams: weight.grams,
                resolution_g: weight.resolution_g,
                stability,
                at_zero,
                at_ms,
            }),
            // In overload the indicator may fill the weight field with non-digits.
            Err(_) if stability == WeightStability::OverCapacity => ScaleFrame::Condition(Condition {
                stability,
                at_zero,
                at_ms,
            }),
            Err(error) => bad_weight(error, at_ms),
        };
        Some(frame)
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        None
    }
}

struct Fields<'a> {
    state: &'a [u8],
    lamp: u8,
    weight: &'a [u8],
    unit: &'a [u8],
}

fn split(line: &[u8]) -> Option<Fields<'_>> {
    if line.len() != LINE_LEN || line[2] != b',' || line[5] != b',' || line[8] != b',' {
        return None;
    }
    if !matches!(&line[3..5], b"GS" | b"NT") {
        return None;
    }
    Some(Fields {
        state: &line[0..2],
        lamp: line[7],
        weight: &line[9..17],
        unit: &line[18..20],
    })
}

/// Largest weight the 8-byte field shows in kg with three decimals (9999.999 kg).
pub const MAX_GRAMS: i64 = 9_999_999;
/// Most negative weight it shows (the sign takes a byte: -999.999 kg).
pub const MIN_GRAMS: i64 = -999_999;

/// One line of the stream of an indicator (device number 1) showing `shown`, in kg.
pub fn encode_line(shown: &Indication) -> Vec<u8> {
    let overload = shown.overload || !(MIN_GRAMS..=MAX_GRAMS).contains(&shown.grams);
    let state: &[u8] = if overload {
        b"OL"
    } else if shown.motion {
        b"US"
    } else {
        b"ST"
    };
    let mut lamp = LAMP_ALWAYS | LAMP_GROSS;
    if !shown.motion && !overload {
        lamp |= LAMP_STABLE;
    }
    if shown.grams == 0 {
        lamp |= LAMP_ZERO;
    }
    let mut line = Vec::with_capacity(LINE_LEN + 2);
    line.extend_from_slice(state);
    line.extend_from_slice(b",GS,1");
    line.push(lamp);
    line.push(b',');
    if overload {
        line.extend_from_slice(b"--------");
    } else {
        line.extend_from_slice(weight_field(shown.grams).as_bytes());
    }
    line.extend_from_slice(b" kg\r\n");
    line
}

/// The 8-byte weight field: kg with three decimals, zero-padded, sign first when negative.
fn weight_field(grams: i64) -> String {
    let magnitude = super::kilograms_text(grams.abs());
    if grams < 0 {
        format!("-{magnitude:0>7}")
    } else {
        format!("{magnitude:0>8}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut decoder(), &[bytes])
    }

    #[test]
    fn the_manual_example_of_13_5_kg_decodes() {
        // §10-1: "13.5 kg → '0','0','0','0','1','3','.','5'"; lamp: bit 7, stable, gross.
        let frames = decode(b"ST,GS,1\xc4,000013.5 kg\r\n");
        assert_eq!(
            frames,
            [ScaleFrame::Reading(Weighing {
                grams: 13_500,
                resolution_g: 100,
                stability: WeightStability::Stable,
                at_zero: false,
                at_ms: 7
            })]
        );
    }

    #[test]
    fn unstable_overload_and_zero_are_recorded() {
        let frames = decode(b"US,NT,1\x84,0001.250 kg\r\nOL,GS,1\x84,-------- kg\r\nST,GS,1\xc5,0000.000 kg\r\n");
        assert!(matches!(
            frames[0],
            ScaleFrame::Reading(Weighing {
                grams: 1250,
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
            ScaleFrame::Reading(Weighing {
                grams: 0,
                at_zero: true,
                ..
            })
        ));
    }

    #[test]
    fn a_short_line_names_the_expected_frame_and_the_stream_resynchronises() {
        let frames = decode(b"1,GS,1\xc4,0001.250 kg\r\nST,GS,1\xc4,0001.250 kg\r\n");
        assert_eq!(frames.len(), 2);
        assert!(
            matches!(&frames[0], ScaleFrame::Malformed { error, .. } if error.to_string().starts_with("expected a 22-byte CAS frame"))
        );
        assert!(matches!(frames[1], ScaleFrame::Reading(Weighing { grams: 1250, .. })));
    }

    #[test]
    fn the_encoder_writes_22_bytes() {
        let line = encode_line(&Indication {
            grams: -1250,
            ..Indication::default()
        });
        assert_eq!(line.len(), 22);
        assert_eq!(&line[9..17], b"-001.250");
    }
}
