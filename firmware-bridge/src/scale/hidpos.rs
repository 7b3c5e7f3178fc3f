//! USB HID point-of-sale scales (usage page 0x8D): the weight report, both ways.
//!
//! Source: USB-IF "HID Point of Sale Usage Tables" v1.02, §4 (Weighing Devices page 0x8D):
//! Scale Status usages 0x70–0x77 reported as values 1–8 (1 fault, 2 stable at centre of zero,
//! 3 in motion, 4 weight stable, 5 under zero, 6 over weight limit, 7 requires calibration,
//! 8 requires re-zeroing) and Weight Unit usages 0x50–0x5B as 1–12 (milligram, gram, kilogram,
//! carat, tael, grain, pennyweight, metric ton, avoirdupois ton, troy ounce, ounce, pound).
//! The report layout is the one these scales send (Dymo M10/M25 and compatibles, report ID 3):
//!
//! ```text
//! [report id = 3] [status] [unit] [exponent: i8] [weight LSB] [weight MSB]
//! ```
//! weight = (MSB·256 + LSB) × 10^exponent in the unit; "under zero" carries the magnitude.
//!
//! `/dev/hidraw*` delivers one report per read; the decoder also accepts a byte stream of
//! reports (skipping bytes until the report ID), so it can be fed and tested like the others.

use std::collections::VecDeque;

use crate::event::WeightStability;
use crate::units::{to_grams, Decimal, MassUnit};

use super::{bad_weight, unexpected, Condition, Indication, ScaleDecoder, ScaleFrame, Weighing};

/// The report ID of the weight report on the scales this follows.
pub const WEIGHT_REPORT_ID: u8 = 3;
/// Bytes of a weight report after its ID.
pub const REPORT_DATA_LEN: usize = 5;

/// Decodes weight reports; see the module notes.
#[derive(Debug)]
pub struct HidPosDecoder {
    report_id: Option<u8>,
    pending: Vec<u8>,
    frames: VecDeque<ScaleFrame>,
}

impl HidPosDecoder {
    /// `report_id`: the weight report's ID, or `None` for devices whose descriptor has no IDs.
    pub fn new(report_id: Option<u8>) -> Self {
        HidPosDecoder {
            report_id,
            pending: Vec::with_capacity(REPORT_DATA_LEN + 1),
            frames: VecDeque::new(),
        }
    }

    fn report_len(&self) -> usize {
        REPORT_DATA_LEN + usize::from(self.report_id.is_some())
    }
}

impl ScaleDecoder for HidPosDecoder {
    fn push(&mut self, bytes: &[u8], now_ms: u64) {
        for &byte in bytes {
            if self.pending.is_empty() && self.report_id.is_some_and(|id| id != byte) {
                continue;
            }
            self.pending.push(byte);
            if self.pending.len() == self.report_len() {
                let data = &self.pending[self.pending.len() - REPORT_DATA_LEN..];
                let frame = decode_report(data, now_ms);
                self.frames.push_back(frame);
                self.pending.clear();
            }
        }
    }

    fn poll(&mut self) -> Option<ScaleFrame> {
        self.frames.pop_front()
    }

    fn reset(&mut self) {
        self.pending.clear();
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        None
    }
}

/// Decodes the five data bytes of a weight report (status, unit, exponent, LSB, MSB).
pub fn decode_report(data: &[u8], at_ms: u64) -> ScaleFrame {
    let [status, unit, exponent, lsb, msb] = data else {
        return unexpected(
            "five report bytes: status, unit, exponent, weight LSB, weight MSB",
            data,
            at_ms,
        );
    };
    let (stability, at_zero, negative) = match status {
        1 => {
            return ScaleFrame::Refused {
                reason: "the scale reports a fault (HID status 1)".into(),
                at_ms,
            }
        }
        2 => (WeightStability::Stable, true, false),
        3 => (WeightStability::Motion, false, false),
        4 => (WeightStability::Stable, false, false),
        5 => (WeightStability::UnderCapacity, false, true),
        6 => {
            return ScaleFrame::Condition(Condition {
                stability: WeightStability::OverCapacity,
                at_zero: false,
                at_ms,
            })
        }
        7 => {
            return ScaleFrame::Refused {
                reason: "the scale requires calibration (HID status 7)".into(),
                at_ms,
            }
        }
        8 => {
            return ScaleFrame::Refused {
                reason: "the scale requires re-zeroing (HID status 8)".into(),
                at_ms,
            }
        }
        _ => return unexpected("a scale status from 1 to 8 in the report's second byte", data, at_ms),
    };
    let Some(unit) = unit_of(*unit) else {
        return unexpected(
            "a weight unit from 1 to 12 (not 5, tael) in the report's third byte",
            data,
            at_ms,
        );
    };
    let magnitude = i64::from(u16::from_le_bytes([*lsb, *msb]));
    let exponent = i32::from(i8::from_le_bytes([*exponent]));
    let value = Decimal {
        mantissa: if negative { -magnitude } else { magnitude },
        exponent,
    };
    match to_grams(value, unit) {
        Ok(weight) => ScaleFrame::Reading(Weighing {
            grams: weight.grams,
            resolution_g: weight.resolution_g,
            stability,
            at_zero,
            at_ms,
        }),
        Err(error) => bad_weight(error, at_ms),
    }
}

fn unit_of(code: u8) -> Option<MassUnit> {
    Some(match code {
        1 => MassUnit::Milligram,
        2 => MassUnit::Gram,
        3 => MassUnit::Kilogram,
        4 => MassUnit::Carat,
        6 => MassUnit::Grain,
        7 => MassUnit::Pennyweight,
        8 => MassUnit::Tonne,
        9 => MassUnit::ShortTon,
        10 => MassUnit::TroyOunce,
        11 => MassUnit::Ounce,
        12 => MassUnit::Pound,
        // 5 is the tael, whose mass differs between regions: refused rather than guessed.
        _ => return None,
    })
}

/// The weight report (with ID 3) a scale showing `shown` sends, in grams.
pub fn encode_report(shown: &Indication) -> [u8; REPORT_DATA_LEN + 1] {
    let magnitude = shown.grams.unsigned_abs();
    let status = if shown.overload || magnitude > u64::from(u16::MAX) {
        6
    } else if shown.underload || shown.grams < 0 {
        5
    } else if shown.motion {
        3
    } else if shown.grams == 0 {
        2
    } else {
        4
    };
    let [lsb, msb] = u16::try_from(magnitude).unwrap_or(0).to_le_bytes();
    [WEIGHT_REPORT_ID, status, 2, 0, lsb, msb]
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<ScaleFrame> {
        decode_all(&mut HidPosDecoder::new(Some(WEIGHT_REPORT_ID)), &[bytes])
    }

    #[test]
    fn published_dymo_examples_decode() {
        // 20 g: unit 0x02 gram, exponent 0, weight 0x0014.
        assert_eq!(
            decode(&[3, 4, 0x02, 0x00, 0x14, 0x00]),
            [ScaleFrame::Reading(Weighing {
                grams: 20,
                resolution_g: 1,
                stability: WeightStability::Stable,
                at_zero: false,
                at_ms: 7
            })]
        );
        // 40 lb 5.2 oz = 645.2 oz: unit 0x0B ounce, exponent -1 (0xFF), weight 6452 = 0x1934.
        let frames = decode(&[3, 4, 0x0B, 0xFF, 0x34, 0x19]);
        let [ScaleFrame::Reading(reading)] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert_eq!((reading.grams, reading.resolution_g), (18_291, 3));
    }

    #[test]
    fn statuses_map_to_stability_and_faults() {
        let frames = decode(&[
            3, 2, 2, 0, 0, 0, 3, 3, 2, 0, 10, 0, 3, 5, 2, 0, 10, 0, 3, 6, 2, 0, 0, 0, 3, 8, 2, 0, 0, 0,
        ]);
        assert!(matches!(
            frames[0],
            ScaleFrame::Reading(Weighing {
                at_zero: true,
                stability: WeightStability::Stable,
                ..
            })
        ));
        assert!(matches!(
            frames[1],
            ScaleFrame::Reading(Weighing {
                grams: 10,
                stability: WeightStability::Motion,
                ..
            })
        ));
        assert!(matches!(
            frames[2],
            ScaleFrame::Reading(Weighing {
                grams: -10,
                stability: WeightStability::UnderCapacity,
                ..
            })
        ));
        assert!(matches!(
            frames[3],
            ScaleFrame::Condition(Condition {
                stability: WeightStability::OverCapacity,
                ..
            })
        ));
        assert!(matches!(&frames[4], ScaleFrame::Refused { reason, .. } if reason.contains("re-zeroing")));
    }

    #[test]
    fn bytes_before_a_report_id_are_skipped() {
        let frames = decode(&[0xAA, 0x00, 3, 4, 2, 0, 0xE8, 0x03]);
        assert!(
            matches!(frames[..], [ScaleFrame::Reading(Weighing { grams: 1000, .. })]),
            "{frames:?}"
        );
    }

    #[test]
    fn the_tael_and_unknown_statuses_name_what_was_expected() {
        let frames = decode(&[3, 4, 5, 0, 1, 0, 3, 9, 2, 0, 1, 0]);
        let messages: Vec<String> = frames
            .iter()
            .map(|frame| match frame {
                ScaleFrame::Malformed { error, .. } => error.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            messages[0].starts_with("expected a weight unit from 1 to 12"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("expected a scale status from 1 to 8"),
            "{messages:?}"
        );
    }
}
