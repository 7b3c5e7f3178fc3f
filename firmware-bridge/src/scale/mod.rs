//! Scales, sans-IO: what every protocol decodes into, the decoder interface and protocol choice.
//!
//! Each protocol module owns one wire format both ways: its decoder (bytes → [`ScaleFrame`]), the
//! request bytes the host sends, and an encoder of replies that the simulators use, so a round
//! trip encoder → decoder is testable. Every module names the manual and section it follows.
//!
//! Decoders read no clock and do no IO: `push(bytes, now_ms)` then `poll()`. They report every
//! state the scale reports (motion, zero, over and under capacity) and never decide whether a
//! weight is good enough for a receipt: that is [`crate::stable::StableWeight`]'s job.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::WeightStability;
use crate::units::{MassUnit, UnitsError};

pub mod adam;
pub mod cas;
pub(crate) mod framer;
pub mod hidpos;
pub mod nci;
pub mod sics;
pub mod toledo8217;

use framer::{FrameSpec, Framed, Framer};

/// A serial scale protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleProtocol {
    /// Toledo 8213 / NCI ECR: `W CR` → weight line and two status bytes (7E1).
    Nci,
    /// Toledo 8217: `W` → `STX weight CR`, or `STX ? status CR` (7E1).
    #[serde(rename = "toledo8217")]
    Toledo8217,
    /// Mettler Toledo MT-SICS: `SI` / `S` → `S S|D value unit` (8N1).
    Sics,
    /// CAS 22-byte continuous stream (8N1); nothing is sent to the scale.
    Cas,
    /// Adam Equipment print format: `P CR LF` → signed weight and unit, no stability flag.
    Adam,
}

/// Which MT-SICS command polls the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SicsPoll {
    /// `SI`: the weight now, stable or dynamic, so motion is seen as it happens.
    #[default]
    Immediate,
    /// `S`: the balance answers only once stable (or `S I` on timeout).
    Stable,
}

/// Scale settings, as configured per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    pub protocol: ScaleProtocol,
    /// How often a polled scale is asked for its weight.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The unit of replies that print none (Toledo 8217 sends `01.234` for kg, `02.72` for lb).
    #[serde(default = "default_unit")]
    pub unit: MassUnit,
    #[serde(default)]
    pub sics_poll: SicsPoll,
}

fn default_poll_interval_ms() -> u64 {
    200
}

fn default_unit() -> MassUnit {
    MassUnit::Kilogram
}

impl ScaleConfig {
    pub fn new(protocol: ScaleProtocol) -> Self {
        ScaleConfig {
            protocol,
            poll_interval_ms: default_poll_interval_ms(),
            unit: default_unit(),
            sics_poll: SicsPoll::default(),
        }
    }
}

/// A weight the scale reported, in grams, before it is stamped with a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weighing {
    pub grams: i64,
    pub resolution_g: u32,
    pub stability: WeightStability,
    /// Reported by the scale where the protocol has a flag; otherwise `grams == 0`.
    pub at_zero: bool,
    pub at_ms: u64,
}

/// A state the scale reported without a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    pub stability: WeightStability,
    pub at_zero: bool,
    pub at_ms: u64,
}

/// What a scale decoder hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleFrame {
    Reading(Weighing),
    Condition(Condition),
    /// The scale confirmed a command (zero, tare).
    Acknowledged {
        what: &'static str,
        at_ms: u64,
    },
    /// The scale answered that it can not do what was asked, or reported a fault.
    Refused {
        reason: String,
        at_ms: u64,
    },
    /// Bytes that are not the protocol's format; the decoder has already resynchronised.
    Malformed {
        error: FrameError,
        at_ms: u64,
    },
}

/// Why bytes from a scale did not make a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// More bytes than the protocol's longest frame arrived without its terminator (wrong
    /// protocol or line settings configured, or noise).
    #[error("expected {terminator} within {max} bytes; dropped them up to the next {terminator}")]
    TooLong { max: usize, terminator: &'static str },
    /// The frame's content is not in the protocol's format.
    #[error("expected {expected}, found `{found}`")]
    Unexpected { expected: &'static str, found: String },
    /// The weight text or its unit could not be converted to grams.
    #[error(transparent)]
    Weight(#[from] UnitsError),
}

/// What a scale shows, as the simulators encode it into each protocol's replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Indication {
    pub grams: i64,
    pub motion: bool,
    pub overload: bool,
    pub underload: bool,
}

/// A scale protocol decoder: bytes in (with the time they were read), frames out.
pub trait ScaleDecoder: Send + fmt::Debug {
    /// Feeds bytes read at `now_ms`.
    fn push(&mut self, bytes: &[u8], now_ms: u64);
    /// The next frame, oldest first.
    fn poll(&mut self) -> Option<ScaleFrame>;
    /// Forgets a partial frame (after a reconnect).
    fn reset(&mut self);
    /// The bytes that ask for a weight, sent every poll interval; `None` when the scale streams.
    fn poll_request(&self) -> Option<&'static [u8]>;
}

/// The decoder for a configured scale.
pub fn decoder_for(config: &ScaleConfig) -> Box<dyn ScaleDecoder> {
    match config.protocol {
        ScaleProtocol::Nci => Box::new(nci::decoder()),
        ScaleProtocol::Toledo8217 => Box::new(toledo8217::decoder(config.unit)),
        ScaleProtocol::Sics => Box::new(sics::decoder(config.sics_poll)),
        ScaleProtocol::Cas => Box::new(cas::decoder()),
        ScaleProtocol::Adam => Box::new(adam::decoder()),
    }
}

impl ScaleProtocol {
    pub const ALL: [ScaleProtocol; 5] = [
        ScaleProtocol::Nci,
        ScaleProtocol::Toledo8217,
        ScaleProtocol::Sics,
        ScaleProtocol::Cas,
        ScaleProtocol::Adam,
    ];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            ScaleProtocol::Nci => "nci",
            ScaleProtocol::Toledo8217 => "8217",
            ScaleProtocol::Sics => "sics",
            ScaleProtocol::Cas => "cas",
            ScaleProtocol::Adam => "adam",
        }
    }
}

impl FromStr for ScaleProtocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "nci" | "8213" | "ecr" => Ok(ScaleProtocol::Nci),
            "8217" | "toledo8217" => Ok(ScaleProtocol::Toledo8217),
            "sics" | "mt-sics" => Ok(ScaleProtocol::Sics),
            "cas" => Ok(ScaleProtocol::Cas),
            "adam" => Ok(ScaleProtocol::Adam),
            other => Err(format!("expected one of nci, 8217, sics, cas, adam; found {other:?}")),
        }
    }
}

impl fmt::Display for ScaleProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One framed wire format: how frames are delimited and what a frame's content means.
pub(crate) trait Protocol: Send + fmt::Debug + 'static {
    fn spec(&self) -> FrameSpec;
    /// `None` for frames that carry nothing to report (answers to commands we never send).
    fn parse(&self, content: &[u8], at_ms: u64) -> Option<ScaleFrame>;
    fn poll_request(&self) -> Option<&'static [u8]>;
}

/// A [`ScaleDecoder`] made of a [`Framer`] and a protocol's frame parser.
#[derive(Debug)]
pub(crate) struct FramedDecoder<P> {
    protocol: P,
    framer: Framer,
    frames: VecDeque<ScaleFrame>,
}

impl<P: Protocol> FramedDecoder<P> {
    pub fn new(protocol: P) -> Self {
        let framer = Framer::new(protocol.spec());
        FramedDecoder {
            protocol,
            framer,
            frames: VecDeque::new(),
        }
    }
}

impl<P: Protocol> ScaleDecoder for FramedDecoder<P> {
    fn push(&mut self, bytes: &[u8], now_ms: u64) {
        for &byte in bytes {
            match self.framer.push(byte) {
                None => {}
                Some(Framed::Frame(content)) => self.frames.extend(self.protocol.parse(&content, now_ms)),
                Some(Framed::TooLong) => {
                    let spec = self.framer.spec();
                    let error = FrameError::TooLong {
                        max: spec.max,
                        terminator: spec.terminator,
                    };
                    self.frames.push_back(ScaleFrame::Malformed { error, at_ms: now_ms });
                }
            }
        }
    }

    fn poll(&mut self) -> Option<ScaleFrame> {
        self.frames.pop_front()
    }

    fn reset(&mut self) {
        self.framer.reset();
    }

    fn poll_request(&self) -> Option<&'static [u8]> {
        self.protocol.poll_request()
    }
}

/// A frame for content that is not the protocol's format.
pub(crate) fn unexpected(expected: &'static str, content: &[u8], at_ms: u64) -> ScaleFrame {
    let found = content.escape_ascii().to_string();
    ScaleFrame::Malformed {
        error: FrameError::Unexpected { expected, found },
        at_ms,
    }
}

/// A frame for a weight that did not convert.
pub(crate) fn bad_weight(error: UnitsError, at_ms: u64) -> ScaleFrame {
    ScaleFrame::Malformed {
        error: FrameError::Weight(error),
        at_ms,
    }
}

/// Kilograms with three decimals (`1.250`), the form the simulators print.
pub(crate) fn kilograms_text(grams: i64) -> String {
    crate::units::Decimal {
        mantissa: grams,
        exponent: -3,
    }
    .to_string()
}

#[cfg(test)]
pub(crate) mod testing;
