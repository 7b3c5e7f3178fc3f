//! A serial scale on a PTY: a thread owns the master, answers the protocol's requests (`W`,
//! `SI`, `P`, …) or streams (CAS), from what the scale shows. Commands change what it shows, or
//! pull and replug its cable; each command is applied before the method returns.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::debug;

use super::pty::{Link, Pty};
use super::SimError;
use crate::scale::{adam, cas, nci, sics, toledo8217, Indication, ScaleProtocol};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSimConfig {
    pub protocol: ScaleProtocol,
    pub initial_grams: i64,
    /// A symlink kept pointing at the current PTY (a stable path across unplug/plug).
    pub link: Option<PathBuf>,
    /// How often a streaming scale (CAS) sends a frame.
    pub stream_interval: Duration,
}

impl ScaleSimConfig {
    pub fn new(protocol: ScaleProtocol) -> Self {
        ScaleSimConfig {
            protocol,
            initial_grams: 0,
            link: None,
            stream_interval: Duration::from_millis(100),
        }
    }
}

/// The commands [`ScaleSimulator::apply`] understands, one per stdin line of the CLI.
pub const COMMANDS: &str = "weight <grams>, motion, stable, over, under, zero, unplug, plug";

#[derive(Debug)]
enum Command {
    Weight(i64),
    Motion(bool),
    Overload(bool),
    Underload(bool),
    Zero,
    Unplug,
    Plug,
}

type Ack = Sender<Result<Option<PathBuf>, String>>;

/// A simulated serial scale; see the module notes. Dropping it stops its thread.
#[derive(Debug)]
pub struct ScaleSimulator {
    commands: Option<Sender<(Command, Ack)>>,
    path: Arc<Mutex<Option<PathBuf>>>,
    link: Option<PathBuf>,
    thread: Option<JoinHandle<()>>,
}

impl ScaleSimulator {
    /// Plugs in a scale; the PTY exists when this returns.
    pub fn start(config: ScaleSimConfig) -> Result<Self, SimError> {
        let link = config.link.clone().map(Link::new);
        let pty = Pty::open()?;
        if let Some(link) = &link {
            link.point_to(pty.slave_path())?;
        }
        let path = Arc::new(Mutex::new(Some(pty.slave_path().to_path_buf())));
        let (commands, inbox) = mpsc::channel();
        let device = SimulatedScale {
            protocol: config.protocol,
            shown: Indication {
                grams: config.initial_grams,
                ..Indication::default()
            },
            stream_interval: config.stream_interval,
            pty: Some(pty),
            link,
            path: Arc::clone(&path),
            requests: Vec::new(),
            jitter: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("sim-scale-{}", config.protocol))
            .spawn(move || device.run(&inbox))
            .map_err(|error| SimError::Thread(error.to_string()))?;
        Ok(ScaleSimulator {
            commands: Some(commands),
            path,
            link: config.link,
            thread: Some(thread),
        })
    }

    /// The current slave path; `None` while unplugged.
    pub fn path(&self) -> Option<PathBuf> {
        self.path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The stable link, when configured.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    pub fn set_weight(&self, grams: i64) -> Result<(), SimError> {
        self.send(Command::Weight(grams)).map(drop)
    }

    pub fn set_motion(&self, moving: bool) -> Result<(), SimError> {
        self.send(Command::Motion(moving)).map(drop)
    }

    pub fn set_overload(&self, overloaded: bool) -> Result<(), SimError> {
        self.send(Command::Overload(overloaded)).map(drop)
    }

    pub fn set_underload(&self, underloaded: bool) -> Result<(), SimError> {
        self.send(Command::Underload(underloaded)).map(drop)
    }

    /// Pulls the cable: the PTY master closes and the link is removed.
    pub fn unplug(&self) -> Result<(), SimError> {
        self.send(Command::Unplug).map(drop)
    }

    /// Plugs back in on a new PTY (the link follows); returns the new slave path.
    pub fn plug(&self) -> Result<PathBuf, SimError> {
        self.send(Command::Plug)?
            .ok_or_else(|| SimError::Thread("plug gave no path".into()))
    }

    /// Applies one command line (see [`COMMANDS`]); returns what happened, for the CLI to print.
    pub fn apply(&self, line: &str) -> Result<String, SimError> {
        let mut words = line.split_whitespace();
        let unknown = || SimError::UnknownCommand {
            expected: COMMANDS,
            found: line.to_owned(),
        };
        let command = match (words.next(), words.next(), words.next()) {
            (Some("weight"), Some(grams), None) => Command::Weight(grams.parse().map_err(|_| unknown())?),
            (Some("motion"), None, None) => Command::Motion(true),
            (Some("stable"), None, None) => Command::Motion(false),
            (Some("over"), None, None) => Command::Overload(true),
            (Some("under"), None, None) => Command::Underload(true),
            (Some("zero"), None, None) => Command::Zero,
            (Some("unplug"), None, None) => Command::Unplug,
            (Some("plug"), None, None) => Command::Plug,
            _ => return Err(unknown()),
        };
        Ok(match self.send(command)? {
            Some(path) => format!("plugged {}", path.display()),
            None => format!("ok {}", line.split_whitespace().collect::<Vec<_>>().join(" ")),
        })
    }

    fn send(&self, command: Command) -> Result<Option<PathBuf>, SimError> {
        let commands = self
            .commands
            .as_ref()
            .ok_or_else(|| SimError::Thread("stopped".into()))?;
        let (ack, done) = mpsc::channel();
        commands
            .send((command, ack))
            .map_err(|_| SimError::Thread("stopped".into()))?;
        match done.recv_timeout(Duration::from_secs(5)) {
            Ok(result) => result.map_err(SimError::Thread),
            Err(_) => Err(SimError::Thread("no acknowledgement within 5 s".into())),
        }
    }
}

impl Drop for ScaleSimulator {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The simulator thread's state.
struct SimulatedScale {
    protocol: ScaleProtocol,
    shown: Indication,
    stream_interval: Duration,
    pty: Option<Pty>,
    link: Option<Link>,
    path: Arc<Mutex<Option<PathBuf>>>,
    /// Request bytes not yet ending in their terminator.
    requests: Vec<u8>,
    /// Varies the weight while in motion (a scale without a motion flag shows changing digits).
    jitter: i64,
}

impl SimulatedScale {
    fn run(mut self, inbox: &Receiver<(Command, Ack)>) {
        let mut next_stream = Instant::now();
        let mut buffer = [0u8; 256];
        loop {
            loop {
                match inbox.try_recv() {
                    Ok((command, ack)) => {
                        let result = self.handle(command);
                        let _ = ack.send(result);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let Some(pty) = self.pty.as_mut() else {
                // Unplugged: nothing to serve, wait for a command.
                match inbox.recv_timeout(Duration::from_millis(20)) {
                    Ok((command, ack)) => {
                        let result = self.handle(command);
                        let _ = ack.send(result);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                continue;
            };
            match pty.receive(&mut buffer, Duration::from_millis(5)) {
                Ok(count) => {
                    self.requests.extend_from_slice(&buffer[..count]);
                    self.answer_requests();
                }
                Err(error) => debug!(%error, "Simulated scale could not read its line."),
            }
            if self.protocol == ScaleProtocol::Cas && Instant::now() >= next_stream {
                let line = cas::encode_line(&self.moving());
                self.write(&line);
                next_stream = Instant::now() + self.stream_interval;
            }
        }
    }

    fn handle(&mut self, command: Command) -> Result<Option<PathBuf>, String> {
        match command {
            Command::Weight(grams) => {
                self.shown.grams = grams;
                self.shown.overload = false;
                self.shown.underload = false;
            }
            Command::Motion(moving) => self.shown.motion = moving,
            Command::Overload(overloaded) => self.shown.overload = overloaded,
            Command::Underload(underloaded) => self.shown.underload = underloaded,
            Command::Zero => self.zero(),
            Command::Unplug => {
                if let Some(link) = &self.link {
                    link.remove();
                }
                self.pty = None;
                self.requests.clear();
                self.set_path(None);
            }
            Command::Plug => {
                let pty = Pty::open().map_err(|error| error.to_string())?;
                let path = pty.slave_path().to_path_buf();
                if let Some(link) = &self.link {
                    link.point_to(&path).map_err(|error| error.to_string())?;
                }
                self.pty = Some(pty);
                self.set_path(Some(path.clone()));
                return Ok(Some(path));
            }
        }
        Ok(None)
    }

    fn set_path(&self, path: Option<PathBuf>) {
        *self.path.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = path;
    }

    fn zero(&mut self) {
        if !self.shown.motion {
            self.shown.grams = 0;
        }
    }

    /// What the display shows now: the weight, varying while in motion.
    fn moving(&mut self) -> Indication {
        if !self.shown.motion {
            return self.shown;
        }
        self.jitter = (self.jitter + 1) % 5;
        Indication {
            grams: self.shown.grams + (self.jitter - 2) * 3,
            ..self.shown
        }
    }

    fn answer_requests(&mut self) {
        if self.requests.len() > 256 {
            self.requests.clear();
        }
        while let Some(request) = self.next_request() {
            let reply = self.reply(&request);
            if !reply.is_empty() {
                self.write(&reply);
            }
        }
    }

    /// Takes the next complete request: single letters for 8217, CR-terminated lines for NCI,
    /// CR LF lines for MT-SICS and Adam. CAS reads nothing.
    fn next_request(&mut self) -> Option<String> {
        match self.protocol {
            ScaleProtocol::Cas => {
                self.requests.clear();
                None
            }
            ScaleProtocol::Toledo8217 => {
                if self.requests.is_empty() {
                    return None;
                }
                let byte = self.requests.remove(0);
                Some(char::from(byte & 0x7F).to_string())
            }
            ScaleProtocol::Nci | ScaleProtocol::Sics | ScaleProtocol::Adam => {
                let end = self.requests.iter().position(|&byte| byte == b'\r' || byte == b'\n')?;
                let line: Vec<u8> = self.requests.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                // The LF of a CR LF pair arrives as an empty line: not a request.
                if text.is_empty() {
                    self.next_request()
                } else {
                    Some(text)
                }
            }
        }
    }

    fn reply(&mut self, request: &str) -> Vec<u8> {
        let shown = self.moving();
        match (self.protocol, request) {
            (ScaleProtocol::Toledo8217, "W") => toledo8217::encode_weight_reply(&shown),
            (ScaleProtocol::Toledo8217, "Z") => {
                self.zero();
                toledo8217::encode_status_reply(&self.shown)
            }
            (ScaleProtocol::Toledo8217, "\r" | "\n") => Vec::new(),
            (ScaleProtocol::Toledo8217, _) => toledo8217::encode_status_reply(&self.shown),
            (ScaleProtocol::Nci, "W") => nci::encode_weight_reply(&shown),
            (ScaleProtocol::Nci, "S") => nci::encode_status_reply(&shown),
            (ScaleProtocol::Nci, "Z") => {
                self.zero();
                nci::encode_status_reply(&self.shown)
            }
            (ScaleProtocol::Nci, _) => b"\n?\r\x03".to_vec(),
            (ScaleProtocol::Sics, command) => {
                if command == "Z" && !shown.motion {
                    self.zero();
                }
                sics::encode_reply(command, &shown)
            }
            (ScaleProtocol::Adam, "P") => adam::encode_print(&shown),
            (ScaleProtocol::Adam, "Z" | "T") => {
                self.zero();
                Vec::new()
            }
            (ScaleProtocol::Adam, _) | (ScaleProtocol::Cas, _) => Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(pty) = self.pty.as_mut() {
            if let Err(error) = pty.send(bytes) {
                debug!(%error, "Simulated scale could not write its line.");
            }
        }
    }
}
