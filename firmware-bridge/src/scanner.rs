//! Barcode scanners on a serial line, sans-IO: bytes in, decoded codes out.
//!
//! Owns line framing (CR, LF, CRLF, TAB suffix, or STX…ETX), the optional site prefix, AIM
//! symbology identifiers (`]C1`, `]E0`, `]d2`, `]Q3`, …) and the normalisation of GS1 FNC1
//! substitutes to GS (0x1D). It reads no clock and does no IO: [`ScanDecoder::push`] takes the
//! bytes and the time they were read, [`ScanDecoder::poll`] hands out frames. The keyboard-wedge
//! path reuses [`interpret_line`] so both transports give the same codes for the same label.
//!
//! Resynchronisation: a line longer than `max_len` is reported once as [`ScanError::TooLong`] and
//! everything up to the next terminator is dropped; a partial line followed by silence longer
//! than `partial_timeout_ms` (a cable pulled mid-line) is reported as [`ScanError::Incomplete`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::Symbology;

/// ASCII start of text, opening a frame in STX…ETX framing.
pub const STX: u8 = 0x02;
/// ASCII end of text, closing a frame in STX…ETX framing.
pub const ETX: u8 = 0x03;
/// ASCII group separator: how GS1 FNC1 (a field separator) is transmitted.
pub const GS: u8 = 0x1D;

/// How the scanner marks the end (and maybe the start) of each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Carriage return after each code (the factory default of most serial scanners).
    #[default]
    Cr,
    Lf,
    CrLf,
    Tab,
    /// STX before and ETX after each code; bytes between frames are ignored.
    StxEtx,
}

/// Whether to look for an AIM symbology identifier at the start of each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AimMode {
    /// Never: codes are taken as they come (use when labels may start with `]`).
    Off,
    /// Parse `]` + symbology letter + modifier when present.
    #[default]
    Detect,
}

/// Scanner settings, as configured per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerConfig {
    pub framing: Framing,
    /// A fixed prefix the scanner is programmed to send (for example a station code); stripped
    /// when present, codes without it are accepted unchanged.
    pub prefix: Option<String>,
    pub aim: AimMode,
    /// Longest code accepted, in bytes (terminators excluded).
    pub max_len: usize,
    /// Texts that stand for FNC1 when a scanner can not send GS (keyboard-style substitutes).
    pub fnc1_substitutes: Vec<String>,
    /// A partial line followed by this much silence is dropped and reported. `None` waits forever.
    pub partial_timeout_ms: Option<u64>,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            framing: Framing::Cr,
            prefix: None,
            aim: AimMode::Detect,
            max_len: 4096,
            fnc1_substitutes: vec!["<GS>".into(), "^]".into(), "<FNC1>".into()],
            partial_timeout_ms: Some(2000),
        }
    }
}

/// One decoded code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedCode {
    /// Data characters: framing, prefix and AIM identifier removed, FNC1 as GS (0x1D).
    pub code: String,
    pub symbology: Option<Symbology>,
    /// The AIM identifier as sent (`]C1`), kept for audit.
    pub aim_id: Option<String>,
    pub at_ms: u64,
}

/// What the decoder hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFrame {
    Code(ScannedCode),
    /// Bytes that did not make a code; the decoder has already resynchronised.
    Error {
        error: ScanError,
        at_ms: u64,
    },
}

/// Why bytes from a scanner did not make a code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    /// The line grew past `max_len` without a terminator (wrong framing configured, or noise);
    /// bytes up to the next terminator are dropped.
    #[error("expected {terminator} within {max} bytes; dropped the line up to the next {terminator}")]
    TooLong { max: usize, terminator: &'static str },
    /// A partial line was followed by silence (cable pulled mid-code); its bytes are dropped.
    #[error("expected {terminator} to end the code, but the scanner was silent for {silent_ms} ms after {len} bytes")]
    Incomplete {
        len: usize,
        silent_ms: u64,
        terminator: &'static str,
    },
    /// In STX…ETX framing, a new STX arrived before the ETX of the frame in progress.
    #[error("expected ETX to end the frame, found STX after {len} bytes; dropped them")]
    Restarted { len: usize },
}

/// Frames scanner bytes into codes. One per device; see the module notes.
#[derive(Debug)]
pub struct ScanDecoder {
    config: ScannerConfig,
    line: Vec<u8>,
    state: LineState,
    /// In CR framing, an LF straight after the CR belongs to a CRLF-sending scanner: dropped.
    swallow_lf: bool,
    last_byte_ms: Option<u64>,
    frames: VecDeque<ScanFrame>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// STX…ETX only: between frames.
    Outside,
    Collecting,
    /// Dropping an over-long line until its terminator.
    Discarding,
}

impl ScanDecoder {
    pub fn new(config: ScannerConfig) -> Self {
        let state = idle_state(config.framing);
        ScanDecoder {
            config,
            line: Vec::new(),
            state,
            swallow_lf: false,
            last_byte_ms: None,
            frames: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    /// Feeds bytes read at `now_ms`. Frames become available through [`ScanDecoder::poll`].
    pub fn push(&mut self, bytes: &[u8], now_ms: u64) {
        self.tick(now_ms);
        for &byte in bytes {
            self.push_byte(byte, now_ms);
        }
        if !bytes.is_empty() {
            self.last_byte_ms = Some(now_ms);
        }
    }

    /// Applies the partial-line timeout without new bytes (the transport calls it when idle).
    pub fn tick(&mut self, now_ms: u64) {
        let (Some(timeout), Some(last)) = (self.config.partial_timeout_ms, self.last_byte_ms) else {
            return;
        };
        let silent_ms = now_ms.saturating_sub(last);
        if silent_ms <= timeout {
            return;
        }
        // Only a line being collected is worth reporting; an over-long line being dropped was
        // reported already, and in STX…ETX framing bytes between frames are noise.
        if self.state == LineState::Collecting && !self.line.is_empty() {
            let error = ScanError::Incomplete {
                len: self.line.len(),
                silent_ms,
                terminator: self.terminator_name(),
            };
            self.frames.push_back(ScanFrame::Error { error, at_ms: now_ms });
        }
        self.reset_line();
        self.last_byte_ms = None;
    }

    /// The next decoded frame, oldest first.
    pub fn poll(&mut self) -> Option<ScanFrame> {
        self.frames.pop_front()
    }

    /// Forgets any partial line (after a reconnect: bytes from the old connection are not
    /// continued by the new one).
    pub fn reset(&mut self) {
        self.reset_line();
        self.last_byte_ms = None;
        self.swallow_lf = false;
    }

    fn reset_line(&mut self) {
        self.line.clear();
        self.state = idle_state(self.config.framing);
    }

    fn terminator_name(&self) -> &'static str {
        match self.config.framing {
            Framing::Cr => "CR",
            Framing::Lf => "LF",
            Framing::CrLf => "CR LF",
            Framing::Tab => "TAB",
            Framing::StxEtx => "ETX",
        }
    }

    fn end_byte(&self) -> u8 {
        match self.config.framing {
            Framing::Cr => b'\r',
            Framing::Lf | Framing::CrLf => b'\n',
            Framing::Tab => b'\t',
            Framing::StxEtx => ETX,
        }
    }

    fn push_byte(&mut self, byte: u8, now_ms: u64) {
        let swallow_lf = std::mem::take(&mut self.swallow_lf);
        if self.config.framing == Framing::StxEtx {
            return self.push_framed_byte(byte, now_ms);
        }
        let end = self.end_byte();
        match self.state {
            LineState::Discarding => {
                if byte == end {
                    self.reset_line();
                }
            }
            LineState::Collecting | LineState::Outside => {
                if byte == end {
                    self.finish_line(now_ms);
                    self.swallow_lf = self.config.framing == Framing::Cr;
                } else if byte == b'\n' && swallow_lf && self.line.is_empty() {
                    // The LF of a CRLF scanner configured as CR: not part of the next code.
                } else {
                    self.collect(byte, now_ms);
                }
            }
        }
    }

    fn push_framed_byte(&mut self, byte: u8, now_ms: u64) {
        match (self.state, byte) {
            (LineState::Outside, STX) => self.state = LineState::Collecting,
            (LineState::Outside, _) => {}
            (LineState::Collecting, STX) => {
                let error = ScanError::Restarted { len: self.line.len() };
                self.frames.push_back(ScanFrame::Error { error, at_ms: now_ms });
                self.line.clear();
            }
            (LineState::Collecting, ETX) => {
                self.finish_line(now_ms);
                self.state = LineState::Outside;
            }
            (LineState::Collecting, _) => self.collect(byte, now_ms),
            // An over-long frame: drop until the next STX, which starts a fresh frame.
            (LineState::Discarding, STX) => {
                self.line.clear();
                self.state = LineState::Collecting;
            }
            (LineState::Discarding, _) => {}
        }
    }

    fn collect(&mut self, byte: u8, now_ms: u64) {
        if self.line.len() >= self.config.max_len {
            let error = ScanError::TooLong {
                max: self.config.max_len,
                terminator: self.terminator_name(),
            };
            self.frames.push_back(ScanFrame::Error { error, at_ms: now_ms });
            self.line.clear();
            self.state = LineState::Discarding;
            return;
        }
        self.line.push(byte);
    }

    fn finish_line(&mut self, now_ms: u64) {
        let mut line = std::mem::take(&mut self.line);
        if matches!(self.config.framing, Framing::CrLf | Framing::Lf) && line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            return;
        }
        let code = interpret_line(&line, &self.config, now_ms);
        if !code.code.is_empty() {
            self.frames.push_back(ScanFrame::Code(code));
        }
    }
}

fn idle_state(framing: Framing) -> LineState {
    match framing {
        Framing::StxEtx => LineState::Outside,
        _ => LineState::Collecting,
    }
}

/// Turns one framed line into a code: text decoding, prefix, AIM identifier, FNC1.
///
/// Bytes are read as UTF-8 when they are valid UTF-8 (2D codes often carry it) and as Latin-1
/// otherwise, so no byte is ever lost or replaced.
pub fn interpret_line(raw: &[u8], config: &ScannerConfig, at_ms: u64) -> ScannedCode {
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => raw.iter().map(|&byte| char::from(byte)).collect(),
    };
    let text = match config.prefix.as_deref() {
        Some(prefix) if !prefix.is_empty() => text.strip_prefix(prefix).map(str::to_owned).unwrap_or(text),
        _ => text,
    };
    let (aim_id, rest) = match config.aim {
        AimMode::Detect => split_aim(&text),
        AimMode::Off => (None, text.as_str()),
    };
    let mut code = normalise_fnc1(rest, &config.fnc1_substitutes);
    let symbology = aim_id.map(|aim| symbology_of(aim, &code));
    // The AIM identifier already says "FNC1 in first position"; a GS sent as well is redundant.
    if symbology.is_some_and(Symbology::carries_gs1) && code.starts_with(char::from(GS)) {
        code.remove(0);
    }
    ScannedCode {
        code,
        symbology,
        aim_id: aim_id.map(str::to_owned),
        at_ms,
    }
}

/// Splits `]Xm` off the front when it is there: `]`, an ASCII letter, an ASCII letter or digit.
fn split_aim(text: &str) -> (Option<&str>, &str) {
    let bytes = text.as_bytes();
    let is_aim =
        bytes.len() >= 3 && bytes[0] == b']' && bytes[1].is_ascii_alphabetic() && bytes[2].is_ascii_alphanumeric();
    if is_aim {
        (Some(&text[..3]), &text[3..])
    } else {
        (None, text)
    }
}

/// The symbology an AIM identifier names (ISO/IEC 15424 code characters and modifiers).
pub fn symbology_of(aim_id: &str, data: &str) -> Symbology {
    let mut chars = aim_id.chars().skip(1);
    let (Some(code), Some(modifier)) = (chars.next(), chars.next()) else {
        return Symbology::Other;
    };
    match (code, modifier) {
        ('A', _) => Symbology::Code39,
        ('C', '1') => Symbology::Gs1_128,
        ('C', _) => Symbology::Code128,
        ('E', '4') => Symbology::Ean8,
        ('E', _) if data.len() == 12 => Symbology::UpcA,
        ('E', _) => Symbology::Ean13,
        ('d', '2' | '5') => Symbology::Gs1DataMatrix,
        ('d', _) => Symbology::DataMatrix,
        ('Q', '3' | '5') => Symbology::Gs1QrCode,
        ('Q', _) => Symbology::QrCode,
        ('e', _) => Symbology::Gs1DataBar,
        ('I', _) => Symbology::Interleaved2Of5,
        ('L', _) => Symbology::Pdf417,
        ('z', _) => Symbology::Aztec,
        ('F', _) => Symbology::Codabar,
        ('G', _) => Symbology::Code93,
        _ => Symbology::Other,
    }
}

/// Replaces every FNC1 substitute by GS.
pub fn normalise_fnc1(text: &str, substitutes: &[String]) -> String {
    let gs = char::from(GS).to_string();
    substitutes
        .iter()
        .filter(|substitute| !substitute.is_empty())
        .fold(text.to_owned(), |text, substitute| {
            text.replace(substitute.as_str(), &gs)
        })
}

/// The bytes a scanner configured with `framing` sends for `code` (for simulators and tests).
pub fn encode_scan(code: &str, framing: Framing) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(code.len() + 2);
    if framing == Framing::StxEtx {
        bytes.push(STX);
    }
    bytes.extend_from_slice(code.as_bytes());
    match framing {
        Framing::Cr => bytes.push(b'\r'),
        Framing::Lf => bytes.push(b'\n'),
        Framing::CrLf => bytes.extend_from_slice(b"\r\n"),
        Framing::Tab => bytes.push(b'\t'),
        Framing::StxEtx => bytes.push(ETX),
    }
    bytes
}

#[cfg(test)]
mod tests;
