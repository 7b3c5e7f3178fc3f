//! A serial barcode scanner on a PTY: `scan` writes a code with the configured framing, as a
//! scanner does when its trigger is pulled. No thread: a scanner never answers the host.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::pty::{Link, Pty};
use super::SimError;
use crate::scanner::{encode_scan, Framing};

/// A simulated serial scanner.
#[derive(Debug)]
pub struct ScannerSimulator {
    framing: Framing,
    pty: Mutex<Option<Pty>>,
    link: Option<Link>,
}

impl ScannerSimulator {
    /// Plugs in a scanner sending `framing`; with `link`, that symlink always points at it.
    pub fn start(framing: Framing, link: Option<PathBuf>) -> Result<Self, SimError> {
        let simulator = ScannerSimulator {
            framing,
            pty: Mutex::new(None),
            link: link.map(Link::new),
        };
        simulator.plug()?;
        Ok(simulator)
    }

    /// The slave path while plugged in.
    pub fn path(&self) -> Option<PathBuf> {
        self.lock().as_ref().map(|pty| pty.slave_path().to_path_buf())
    }

    pub fn link(&self) -> Option<&Path> {
        self.link.as_ref().map(Link::path)
    }

    /// Sends `code` with the framing (write `]C1…` to include an AIM identifier).
    pub fn scan(&self, code: &str) -> Result<(), SimError> {
        self.send(&encode_scan(code, self.framing))
    }

    /// Sends raw bytes (noise, partial lines) for tests of resynchronisation.
    pub fn send(&self, bytes: &[u8]) -> Result<(), SimError> {
        let mut pty = self.lock();
        let pty = pty.as_mut().ok_or(SimError::Unplugged)?;
        pty.send(bytes).map_err(SimError::Write)
    }

    /// Pulls the cable: the PTY closes (the transport sees a hang-up) and the link goes.
    pub fn unplug(&self) {
        if let Some(link) = &self.link {
            link.remove();
        }
        self.lock().take();
    }

    /// Plugs back in on a new PTY; returns its slave path.
    pub fn plug(&self) -> Result<PathBuf, SimError> {
        let pty = Pty::open()?;
        let path = pty.slave_path().to_path_buf();
        if let Some(link) = &self.link {
            link.point_to(&path)?;
        }
        *self.lock() = Some(pty);
        Ok(path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pty>> {
        // A panic while holding this lock leaves only a PTY handle behind: still usable.
        self.pty.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
