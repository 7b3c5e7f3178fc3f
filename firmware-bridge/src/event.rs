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
    pub at_ms: u64,
}

/// What the scale said about its own reading. Only `Stable` may be copied into a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStability {
    Stable,
    Motion,
    UnderCapacity,
    OverCapacity,
}

/// Connection state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceStatus {
    Connected,
    Disconnected { reason: String },
    Fault { reason: String },
}
