//! The events a device produces, as the edge server consumes them.
//!
//! These types are the whole contract between the device side and the server: decoders turn bytes
//! into them, the server streams them to stations and copies the weight into receipts. They carry
//! no IO handle and no clock: every timestamp is filled in by whoever read the bytes.

use serde::{Deserialize, Serialize};

/// A configured device, named by the site (for example `dock-1-scale`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub String);

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One thing a device said, stamped with the time (Unix milliseconds) the bytes were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// A barcode was read.
    Scan(ScanEvent),
    /// A scale reported a weight (stable or not: stability is part of the reading).
    Weight(ScaleReading),
    /// A scale reported its state without a weight (Toledo and NCI scales answer a weight request
    /// with status alone while in motion or out of range). Recorded so motion and capacity
    /// problems are never hidden; it also means any earlier reading no longer holds.
    ScaleState(ScaleState),
    /// A device came, went or reported a fault.
    Status {
        device: DeviceId,
        status: DeviceStatus,
        at_ms: u64,
    },
}

/// A decoded barcode read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanEvent {
    pub device: DeviceId,
    /// The data characters, with framing, prefix and AIM identifier removed.
    pub code: String,
    /// Symbology from the AIM identifier when the scanner sends one.
    pub symbology: Option<Symbology>,
    pub at_ms: u64,
}

/// Barcode symbologies named by AIM identifiers (`]C1` = GS1-128 and so on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Code128,
    Gs1_128,
    Ean13,
    UpcA,
    Ean8,
    DataMatrix,
    Gs1DataMatrix,
    QrCode,
    Gs1DataBar,
    Interleaved2Of5,
    Code39,
    Other,
    /// QR Code with FNC1 in first position (AIM `]Q3`): a GS1 element string.
    Gs1QrCode,
    Pdf417,
    Aztec,
    Codabar,
    Code93,
}

impl Symbology {
    /// Whether codes of this symbology are GS1 element strings (FNC1 in first position).
    pub fn carries_gs1(self) -> bool {
        matches!(
            self,
            Symbology::Gs1_128 | Symbology::Gs1DataMatrix | Symbology::Gs1QrCode | Symbology::Gs1DataBar
        )
    }
}

/// A weight as the scale reported it, normalised to grams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleReading {
    pub device: DeviceId,
    /// Net weight in grams; negative when the scale reads below zero.
    pub grams: i64,
    /// The scale's resolution in grams (one division), kept so that rounding is never invented.
    pub resolution_g: u32,
    pub stability: WeightStability,
    /// The scale said it is at its centre of zero (nothing on it, or tared to zero).
    #[serde(default)]
    pub at_zero: bool,
    pub at_ms: u64,
}

/// A scale's state reported without a weight (see [`DeviceEvent::ScaleState`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleState {
    pub device: DeviceId,
    pub stability: WeightStability,
    pub at_zero: bool,
    pub at_ms: u64,
}

/// What the scale said about its own reading. Whether a reading may be copied into a receipt is
/// decided by `stable::StableWeight` (the scale must say `Stable`, or, for protocols that carry
/// no flag, `Unreported` readings must agree N times), never by this field alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStability {
    Stable,
    Motion,
    UnderCapacity,
    OverCapacity,
    /// The protocol carries no stability flag (Adam's print format): stability is decided by
    /// agreement of consecutive readings.
    Unreported,
}

/// Connection state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceStatus {
    Connected,
    Disconnected { reason: String },
    Fault { reason: String },
}
