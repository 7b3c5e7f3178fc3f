//! Device side of returns-edge.
//!
//! For now this crate owns only the vocabulary the edge server consumes: [`DeviceEvent`] and the
//! types it carries. Protocol decoders (scanners, scales), transports and simulators come with
//! their own issue; the server never sees device bytes, only these events.

pub mod event;

pub use event::{DeviceEvent, DeviceId, DeviceStatus, ScaleReading, ScanEvent, Symbology, WeightStability};
