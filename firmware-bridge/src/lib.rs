//! Device side of returns-edge: barcode scanners and scales at the receiving stations, turned
//! into [`DeviceEvent`]s for the edge server.
//!
//! # Shape
//!
//! ```text
//! port / evdev / hidraw ──bytes──▶ transport (thread per device, reconnects)
//!                                    │ push(bytes, now) / poll()
//!                                    ▼
//!                          protocol decoders (sans-IO: scanner, scale::*, wedge)
//!                                    │ frames
//!                                    ▼
//!                          DeviceEvent ──bounded channel──▶ server
//!                                                             ├─ stable::StableWeight (may a weight go into a receipt?)
//!                                                             └─ classify::classify (what is this code?)
//! ```
//!
//! # Invariants
//!
//! - Protocol code (`scanner`, `scale`, `wedge`, `keymap`, `units`, `stable`, `classify`) does no
//!   IO and reads no clock: time is passed in. Only `transport` and `sim` touch ports and clocks.
//! - Decoders never panic on device bytes and give the same frames however the bytes are
//!   chunked (property-tested); bytes outside a protocol are reported, then the decoder
//!   resynchronises.
//! - Motion, zero and capacity states are always reported, never hidden; whether a weight is
//!   usable is decided in one place, [`stable::StableWeight`].
//! - No `unsafe` here: ioctls (exclusive grab, termios) go through `nix`, `evdev` and
//!   `serialport`.

pub mod classify;
pub mod event;
pub mod keymap;
pub mod scale;
pub mod scanner;
pub mod sim;
pub mod stable;
pub mod transport;
pub mod units;
pub mod wedge;

pub use classify::{classify, classify_all, BarcodeClass, ClassifierConfig, RmaPattern};
pub use event::{DeviceEvent, DeviceId, DeviceStatus, ScaleReading, ScaleState, ScanEvent, Symbology, WeightStability};
pub use stable::{Assessment, StableRule, StableWeight};
pub use transport::{list_serial_ports, Device, DeviceConfig, DeviceError, DeviceSource, SerialConfig};
