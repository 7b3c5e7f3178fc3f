//! Tests of the scanner decoder: golden lines, resynchronisation, and properties (any bytes, any
//! chunking, encoder round trip).

use proptest::prelude::*;

use super::*;

fn decode_all(config: ScannerConfig, chunks: &[&[u8]]) -> Vec<ScanFrame> {
    let mut decoder = ScanDecoder::new(config);
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk, 1_000);
        frames.extend(std::iter::from_fn(|| decoder.poll()));
    }
    frames
}

fn codes(frames: &[ScanFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ScanFrame::Code(code) => Some(code.code.clone()),
            ScanFrame::Error { .. } => None,
        })
        .collect()
}

fn config(framing: Framing) -> ScannerConfig {
    ScannerConfig {
        framing,
        ..ScannerConfig::default()
    }
}

#[test]
fn a_cr_terminated_ups_label_becomes_one_code() {
    let frames = decode_all(config(Framing::Cr), &[b"1Z999AA10123456784\r"]);
    assert_eq!(
        frames,
        vec![ScanFrame::Code(ScannedCode {
            code: "1Z999AA10123456784".into(),
            symbology: None,
            aim_id: None,
            at_ms: 1_000
        })]
    );
}

#[test]
fn a_crlf_scanner_configured_as_cr_does_not_leak_lf_into_the_next_code() {
    let frames = decode_all(config(Framing::Cr), &[b"A1\r\nB2\r\n"]);
    assert_eq!(codes(&frames), ["A1", "B2"]);
}

#[test]
fn every_suffix_framing_ends_a_code() {
    for (framing, bytes) in [
        (Framing::Lf, &b"X\nY\r\n"[..]),
        (Framing::CrLf, b"X\r\nY\r\n"),
        (Framing::Tab, b"X\tY\t"),
        (Framing::StxEtx, b"noise\x02X\x03\r\n\x02Y\x03"),
    ] {
        assert_eq!(codes(&decode_all(config(framing), &[bytes])), ["X", "Y"], "{framing:?}");
    }
}

#[test]
fn aim_identifiers_name_the_symbology_and_are_removed() {
    let cases: [(&[u8], Symbology, &str); 8] = [
        (b"]C10100614141999996\r", Symbology::Gs1_128, "0100614141999996"),
        (b"]C0ABC-123\r", Symbology::Code128, "ABC-123"),
        (b"]E04006381333931\r", Symbology::Ean13, "4006381333931"),
        (b"]E0036000291452\r", Symbology::UpcA, "036000291452"),
        (b"]E496385074\r", Symbology::Ean8, "96385074"),
        (
            b"]d2010061414199999610LOT7\r",
            Symbology::Gs1DataMatrix,
            "010061414199999610LOT7",
        ),
        (
            b"]Q3010061414199999621S1\r",
            Symbology::Gs1QrCode,
            "010061414199999621S1",
        ),
        (b"]I112345678\r", Symbology::Interleaved2Of5, "12345678"),
    ];
    for (bytes, symbology, data) in cases {
        let frames = decode_all(config(Framing::Cr), &[bytes]);
        let [ScanFrame::Code(code)] = frames.as_slice() else {
            panic!("one code expected from {bytes:?}")
        };
        assert_eq!(code.symbology, Some(symbology));
        assert_eq!(code.code, data);
        assert_eq!(code.aim_id.as_deref(), std::str::from_utf8(&bytes[..3]).ok());
    }
    let frames = decode_all(config(Framing::Cr), &[b"]e00100614141999996\r", b"]A0CODE39\r"]);
    let symbologies: Vec<_> = frames
        .iter()
        .map(|frame| match frame {
            ScanFrame::Code(code) => code.symbology,
            ScanFrame::Error { .. } => None,
        })
        .collect();
    assert_eq!(symbologies, [Some(Symbology::Gs1DataBar), Some(Symbology::Code39)]);
}

#[test]
fn fnc1_substitutes_become_gs_and_a_redundant_leading_gs_is_dropped() {
    let frames = decode_all(config(Framing::Cr), &[b"]C1\x1d0100614141999996<GS>10LOT^]21SER\r"]);
    assert_eq!(codes(&frames), ["0100614141999996\u{1d}10LOT\u{1d}21SER"]);
}

#[test]
fn the_site_prefix_is_stripped_when_present() {
    let config = ScannerConfig {
        prefix: Some("D1:".into()),
        ..config(Framing::Cr)
    };
    assert_eq!(
        codes(&decode_all(config, &[b"D1:]C0RMA-1\rRMA-2\r"])),
        ["RMA-1", "RMA-2"]
    );
}

#[test]
fn aim_detection_can_be_turned_off_for_labels_that_start_with_a_bracket() {
    let config = ScannerConfig {
        aim: AimMode::Off,
        ..config(Framing::Cr)
    };
    let frames = decode_all(config, &[b"]C1X\r"]);
    assert_eq!(codes(&frames), ["]C1X"]);
}

#[test]
fn an_over_long_line_is_reported_once_and_the_next_line_decodes() {
    let config = ScannerConfig {
        max_len: 8,
        ..config(Framing::Cr)
    };
    let frames = decode_all(config, &[b"0123456789ABCDEF", b"GHIJ\rOK\r"]);
    assert_eq!(frames.len(), 2, "{frames:?}");
    let ScanFrame::Error { error, .. } = &frames[0] else {
        panic!("error first: {frames:?}")
    };
    assert_eq!(
        *error,
        ScanError::TooLong {
            max: 8,
            terminator: "CR"
        }
    );
    assert!(error.to_string().contains("expected CR within 8 bytes"));
    assert_eq!(codes(&frames), ["OK"]);
}

#[test]
fn a_partial_line_followed_by_silence_is_dropped_and_reported() {
    let mut decoder = ScanDecoder::new(config(Framing::Cr));
    decoder.push(b"1Z99", 1_000);
    decoder.push(b"ABC\r", 4_000);
    let error = decoder.poll();
    assert!(
        matches!(
            error,
            Some(ScanFrame::Error {
                error: ScanError::Incomplete { len: 4, .. },
                ..
            })
        ),
        "{error:?}"
    );
    let Some(ScanFrame::Code(code)) = decoder.poll() else {
        panic!("the next line decodes")
    };
    assert_eq!(code.code, "ABC");
}

#[test]
fn stx_inside_a_frame_restarts_it() {
    let frames = decode_all(config(Framing::StxEtx), &[b"\x02AB\x02CD\x03"]);
    assert_eq!(frames.len(), 2);
    assert!(matches!(
        frames[0],
        ScanFrame::Error {
            error: ScanError::Restarted { len: 2 },
            ..
        }
    ));
    assert_eq!(codes(&frames), ["CD"]);
}

#[test]
fn latin1_bytes_are_kept_not_replaced() {
    assert_eq!(codes(&decode_all(config(Framing::Cr), &[b"Stra\xdfe\r"])), ["Straße"]);
    assert_eq!(
        codes(&decode_all(config(Framing::Cr), &["Straße\r".as_bytes()])),
        ["Straße"]
    );
}

#[test]
fn reset_forgets_a_partial_line() {
    let mut decoder = ScanDecoder::new(config(Framing::Cr));
    decoder.push(b"HALF", 0);
    decoder.reset();
    decoder.push(b"WHOLE\r", 0);
    let Some(ScanFrame::Code(code)) = decoder.poll() else {
        panic!("a code")
    };
    assert_eq!(code.code, "WHOLE");
}

fn any_framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Cr),
        Just(Framing::Lf),
        Just(Framing::CrLf),
        Just(Framing::Tab),
        Just(Framing::StxEtx)
    ]
}

/// Splits `bytes` at the given cut points (taken modulo its length).
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_never_panic(framing in any_framing(), max_len in 1usize..64, bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let config = ScannerConfig { framing, max_len, ..ScannerConfig::default() };
        let frames = decode_all(config, &[&bytes]);
        for frame in frames {
            if let ScanFrame::Code(code) = frame {
                prop_assert!(!code.code.is_empty());
            }
        }
    }

    #[test]
    fn chunking_never_changes_the_frames(
        framing in any_framing(),
        max_len in 1usize..48,
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'\t'), Just(STX), Just(ETX)], 0..400),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let config = ScannerConfig { framing, max_len, ..ScannerConfig::default() };
        let whole = decode_all(config.clone(), &[&bytes]);
        let chunks = chunked(&bytes, &cuts);
        let pieces: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(whole, decode_all(config, &pieces));
    }

    #[test]
    fn encoded_codes_decode_to_themselves(
        framing in any_framing(),
        codes_in in prop::collection::vec("[A-Za-z0-9 ./:-]{1,40}(\u{1d}[A-Z0-9]{1,10})?", 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let config = ScannerConfig { framing, ..ScannerConfig::default() };
        let bytes: Vec<u8> = codes_in.iter().flat_map(|code| encode_scan(code, framing)).collect();
        let chunks = chunked(&bytes, &cuts);
        let pieces: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let decoded = codes(&decode_all(config, &pieces));
        prop_assert_eq!(decoded, codes_in);
    }
}
