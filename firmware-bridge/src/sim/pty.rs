//! Pseudo-terminal pairs for the simulators: the master is the simulated device's end, the slave
//! (`/dev/pts/N`) is what the transport opens as if it were a serial port. Also owns the symlink
//! that gives a simulated device a stable path across unplug/plug, as udev's
//! `/dev/serial/by-id/…` links do for real adapters.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use nix::unistd::ttyname;

use super::SimError;

/// One PTY pair. Dropping it closes the master: a transport reading the slave sees a hang-up,
/// exactly like a USB adapter being pulled.
#[derive(Debug)]
pub struct Pty {
    master: File,
    /// Held open so the master keeps working while no transport has the slave open (otherwise
    /// Linux reports a hang-up on the master between connections).
    _slave: OwnedFd,
    slave_path: PathBuf,
}

impl Pty {
    /// Opens a pair in raw mode (no echo, no line editing, no CR/LF translation: a serial line).
    pub fn open() -> Result<Pty, SimError> {
        let pair = openpty(None, None).map_err(|source| SimError::Pty {
            step: "openpty",
            source,
        })?;
        let mut termios = tcgetattr(&pair.slave).map_err(|source| SimError::Pty {
            step: "tcgetattr",
            source,
        })?;
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).map_err(|source| SimError::Pty {
            step: "tcsetattr",
            source,
        })?;
        let slave_path = ttyname(pair.slave.as_fd()).map_err(|source| SimError::Pty {
            step: "ttyname",
            source,
        })?;
        // Non-blocking writes: with no reader the device's output is lost, as on a real line,
        // instead of blocking the simulator when the PTY buffer fills.
        let flags = fcntl(pair.master.as_raw_fd(), FcntlArg::F_GETFL)
            .map_err(|source| SimError::Pty { step: "fcntl", source })?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(pair.master.as_raw_fd(), FcntlArg::F_SETFL(flags))
            .map_err(|source| SimError::Pty { step: "fcntl", source })?;
        Ok(Pty {
            master: File::from(pair.master),
            _slave: pair.slave,
            slave_path,
        })
    }

    /// The path a transport opens, e.g. `/dev/pts/7`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Writes all of `bytes`, dropping what does not fit when nobody reads.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.master.write(rest) {
                Ok(0) => return Ok(()),
                Ok(count) => rest = &rest[count..],
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for bytes from the transport and reads what is there.
    pub fn receive(&mut self, buffer: &mut [u8], timeout: Duration) -> std::io::Result<usize> {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(0),
            Ok(_) => {}
            Err(error) => return Err(error.into()),
        }
        match self.master.read(buffer) {
            Ok(count) => Ok(count),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(0),
            Err(error) => Err(error),
        }
    }
}

/// A symlink standing for a device's stable path; removed when the device is unplugged, and on
/// drop.
#[derive(Debug)]
pub struct Link {
    path: PathBuf,
}

impl Link {
    pub fn new(path: impl Into<PathBuf>) -> Link {
        Link { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Points the link at `target`, replacing any previous link atomically (rename over it), so
    /// a transport never sees a half-made link.
    pub fn point_to(&self, target: &Path) -> Result<(), SimError> {
        let staging = self.path.with_extension(format!("tmp{}", std::process::id()));
        let link_error = |source| SimError::Link {
            path: self.path.clone(),
            source,
        };
        let _ = std::fs::remove_file(&staging);
        std::os::unix::fs::symlink(target, &staging).map_err(link_error)?;
        std::fs::rename(&staging, &self.path).map_err(link_error)
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.remove();
    }
}
