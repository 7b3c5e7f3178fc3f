//! Test helpers shared by the scale protocol modules, and the properties every scale decoder must
//! hold: any bytes never panic, chunking never changes the frames, encoder → decoder round trips.

use proptest::prelude::*;

use super::*;

/// Feeds `chunks` in order, all read at 7 ms, and collects every frame.
pub(crate) fn decode_all(decoder: &mut dyn ScaleDecoder, chunks: &[&[u8]]) -> Vec<ScaleFrame> {
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk, 7);
        frames.extend(std::iter::from_fn(|| decoder.poll()));
    }
    frames
}

/// Splits `bytes` at the given cut points (taken modulo its length).
pub(crate) fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return vec![];
    }
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % bytes.len()).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        chunks.push(bytes[start..point].to_vec());
        start = point;
    }
    chunks
}

/// Every decoder under test: the five serial protocols and the HID report decoder.
#[derive(Debug, Clone, Copy)]
enum Decoded {
    Serial(ScaleProtocol),
    HidPos,
}

const ALL_DECODED: [Decoded; 6] = [
    Decoded::Serial(ScaleProtocol::Nci),
    Decoded::Serial(ScaleProtocol::Toledo8217),
    Decoded::Serial(ScaleProtocol::Sics),
    Decoded::Serial(ScaleProtocol::Cas),
    Decoded::Serial(ScaleProtocol::Adam),
    Decoded::HidPos,
];

fn new_decoder(decoded: Decoded) -> Box<dyn ScaleDecoder> {
    match decoded {
        Decoded::Serial(protocol) => decoder_for(&ScaleConfig::new(protocol)),
        Decoded::HidPos => Box::new(hidpos::HidPosDecoder::new(Some(hidpos::WEIGHT_REPORT_ID))),
    }
}

/// What the simulated device sends when polled (or streams) while showing `shown`.
fn encode(decoded: Decoded, shown: &Indication) -> Vec<u8> {
    match decoded {
        Decoded::Serial(ScaleProtocol::Nci) => nci::encode_weight_reply(shown),
        Decoded::Serial(ScaleProtocol::Toledo8217) => toledo8217::encode_weight_reply(shown),
        Decoded::Serial(ScaleProtocol::Sics) => sics::encode_reply("SI", shown),
        Decoded::Serial(ScaleProtocol::Cas) => cas::encode_line(shown),
        Decoded::Serial(ScaleProtocol::Adam) => adam::encode_print(shown),
        Decoded::HidPos => hidpos::encode_report(shown).to_vec(),
    }
}

/// The frame each protocol's manual says `shown` becomes, stated per protocol.
fn expected(decoded: Decoded, shown: &Indication) -> Option<ScaleFrame> {
    use WeightStability::{Motion, OverCapacity, Stable, UnderCapacity, Unreported};
    let at_ms = 7;
    let grams = shown.grams;
    let reading = |grams, stability, at_zero| {
        Some(ScaleFrame::Reading(Weighing {
            grams,
            resolution_g: 1,
            stability,
            at_zero,
            at_ms,
        }))
    };
    let condition = |stability, at_zero| {
        Some(ScaleFrame::Condition(Condition {
            stability,
            at_zero,
            at_ms,
        }))
    };
    match decoded {
        Decoded::Serial(ScaleProtocol::Toledo8217) => {
            let over = shown.overload || grams > 99_999;
            let under = shown.underload || grams < 0;
            if over {
                condition(OverCapacity, grams == 0)
            } else if under {
                condition(UnderCapacity, grams == 0)
            } else if shown.motion {
                condition(Motion, grams == 0)
            } else {
                reading(grams, Stable, grams == 0)
            }
        }
        Decoded::Serial(ScaleProtocol::Nci) => {
            let over = shown.overload || grams > 99_999;
            let under = shown.underload || grams < 0;
            let stability = if over {
                OverCapacity
            } else if under {
                UnderCapacity
            } else if shown.motion {
                Motion
            } else {
                Stable
            };
            if over || under {
                condition(stability, grams == 0)
            } else {
                reading(grams, stability, grams == 0)
            }
        }
        Decoded::Serial(ScaleProtocol::Sics) => {
            if shown.overload {
                condition(OverCapacity, false)
            } else if shown.underload {
                condition(UnderCapacity, false)
            } else {
                reading(grams, if shown.motion { Motion } else { Stable }, grams == 0)
            }
        }
        Decoded::Serial(ScaleProtocol::Cas) => {
            if shown.overload || !(cas::MIN_GRAMS..=cas::MAX_GRAMS).contains(&grams) {
                condition(OverCapacity, grams == 0)
            } else {
                reading(grams, if shown.motion { Motion } else { Stable }, grams == 0)
            }
        }
        Decoded::Serial(ScaleProtocol::Adam) => {
            if shown.overload || shown.underload {
                None
            } else {
                reading(grams, Unreported, grams == 0)
            }
        }
        Decoded::HidPos => {
            let magnitude = grams.unsigned_abs();
            if shown.overload || magnitude > u64::from(u16::MAX) {
                condition(OverCapacity, false)
            } else if shown.underload || grams < 0 {
                reading(-grams.abs(), UnderCapacity, false)
            } else if shown.motion {
                reading(grams, Motion, false)
            } else {
                reading(grams, Stable, grams == 0)
            }
        }
    }
}

fn any_indication() -> impl Strategy<Value = Indication> {
    let grams = prop_oneof![-2_000i64..2_000, -1_500_000i64..12_000_000, Just(0i64)];
    (
        grams,
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(grams, motion, overload, underload)| Indication {
            grams,
            motion,
            overload,
            underload,
        })
}

/// A piece of a byte stream: what the scale shows (encoded per protocol) or line noise.
#[derive(Debug, Clone)]
enum Piece {
    Reply(Indication),
    Noise(Vec<u8>),
}

fn any_piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => any_indication().prop_map(Piece::Reply),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Piece::Noise),
        1 => prop::collection::vec(prop::sample::select(vec![b'\r', b'\n', 0x02, 0x03, b'?', b'S', b' ', b'0', 3]), 0..8)
            .prop_map(Piece::Noise),
    ]
}

fn stream(decoded: Decoded, pieces: &[Piece]) -> Vec<u8> {
    pieces
        .iter()
        .flat_map(|piece| match piece {
            Piece::Reply(shown) => encode(decoded, shown),
            Piece::Noise(bytes) => bytes.clone(),
        })
        .collect()
}

// Every case runs against all six decoders (five serial protocols and HID POS).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_never_panic_and_readings_keep_a_resolution(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for decoded in ALL_DECODED {
            let frames = decode_all(new_decoder(decoded).as_mut(), &[&bytes]);
            for frame in frames {
                if let ScaleFrame::Reading(reading) = frame {
                    prop_assert!(reading.resolution_g >= 1);
                }
            }
        }
    }

    #[test]
    fn chunking_never_changes_the_frames(
        pieces in prop::collection::vec(any_piece(), 0..24),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        for decoded in ALL_DECODED {
            let bytes = stream(decoded, &pieces);
            let whole = decode_all(new_decoder(decoded).as_mut(), &[&bytes]);
            let chunks = chunked(&bytes, &cuts);
            let parts: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(whole, decode_all(new_decoder(decoded).as_mut(), &parts), "{:?}", decoded);
        }
    }

    #[test]
    fn encoded_replies_decode_to_what_the_scale_showed(
        shown in prop::collection::vec(any_indication(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        for decoded in ALL_DECODED {
            let bytes: Vec<u8> = shown.iter().flat_map(|shown| encode(decoded, shown)).collect();
            let chunks = chunked(&bytes, &cuts);
            let parts: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let frames = decode_all(new_decoder(decoded).as_mut(), &parts);
            let wanted: Vec<ScaleFrame> = shown.iter().filter_map(|shown| expected(decoded, shown)).collect();
            prop_assert_eq!(frames, wanted, "{:?}", decoded);
        }
    }
}
