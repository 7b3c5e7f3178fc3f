//! Simulated devices on real PTYs, for tests, demos and commissioning: a scale simulator for
//! every serial protocol (answers polls, streams, goes into motion, overloads, unplugs) and a
//! serial scanner simulator. The device's bytes come from each protocol module's encoder, so
//! simulators and decoders are held to the same manual.
//!
//! The `firmware-bridge simulate` command drives these from stdin lines; tests drive them
//! in-process through the same [`ScaleSimulator::apply`] commands or the typed methods.

use std::path::PathBuf;

use thiserror::Error;

pub mod pty;
pub mod scale;
pub mod scanner;

pub use scale::{ScaleSimConfig, ScaleSimulator};
pub use scanner::ScannerSimulator;

/// Why a simulator could not do what was asked.
#[derive(Debug, Error)]
pub enum SimError {
    /// A PTY system call failed (`step` names it).
    #[error("could not set up a pseudo-terminal ({step}): {source}")]
    Pty {
        step: &'static str,
        #[source]
        source: nix::Error,
    },
    /// The stable-path symlink could not be made.
    #[error("could not create the link {}: {source}", path.display())]
    Link {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing to the PTY master failed.
    #[error("could not write to the simulated line: {0}")]
    Write(#[source] std::io::Error),
    /// The simulator's thread could not start, or has stopped.
    #[error("the simulator thread is not running: {0}")]
    Thread(String),
    /// The device is unplugged; `plug` it first.
    #[error("the simulated device is unplugged; expected `plug` first")]
    Unplugged,
    /// A command line was not understood; the text says which commands exist.
    #[error("expected one of: {expected}; found {found:?}")]
    UnknownCommand { expected: &'static str, found: String },
}
