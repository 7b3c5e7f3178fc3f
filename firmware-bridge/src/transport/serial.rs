//! Serial ports (RS-232, USB-serial adapters, PTYs) with the `serialport` crate: line settings,
//! and the reader loops of serial scanners and scales (polling those that need a request).
//!
//! Owns opening the port with the configured settings and one connection's read loop; the
//! reconnect loop and event delivery belong to the transport module. A connection is lost on a
//! read or write error, on end of file, and when the port vanishes (a USB adapter unplugged
//! returns an error at the next read, which comes within one read tick).

use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serialport::SerialPort;
use tracing::debug;

use super::{unix_ms, DeviceError, Runner, SessionEnd, READ_TICK};
use crate::scale::{decoder_for, ScaleConfig, ScaleDecoder, ScaleFrame, ScaleProtocol};
use crate::scanner::{ScanDecoder, ScannerConfig};

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Flow control of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// A serial port and its line settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Prefer `/dev/serial/by-id/…`: stable across reboots and USB port changes.
    pub path: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// 7 or 8; when absent, the protocol's default (7 for Toledo 8217 and NCI, else 8).
    #[serde(default)]
    pub data_bits: Option<u8>,
    /// When absent, the protocol's default (even for Toledo 8217 and NCI, else none).
    #[serde(default)]
    pub parity: Option<Parity>,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    #[serde(default)]
    pub flow_control: FlowControl,
}

fn default_baud() -> u32 {
    9600
}

fn default_stop_bits() -> u8 {
    1
}

impl SerialConfig {
    /// 9600 baud, protocol-default data bits and parity, 1 stop bit, no flow control.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SerialConfig {
            path: path.into(),
            baud: default_baud(),
            data_bits: None,
            parity: None,
            stop_bits: default_stop_bits(),
            flow_control: FlowControl::None,
        }
    }

    /// Data bits, parity and stop bits, filling gaps with `defaults` (data bits, parity).
    pub fn line_settings(&self, defaults: (u8, Parity)) -> (u8, Parity, u8) {
        (
            self.data_bits.unwrap_or(defaults.0),
            self.parity.unwrap_or(defaults.1),
            self.stop_bits,
        )
    }

    pub(crate) fn validate(&self) -> Result<(), DeviceError> {
        let invalid = |field, expected| Err(DeviceError::InvalidConfig { field, expected });
        if self.path.as_os_str().is_empty() {
            return invalid("serial.path", "a port path such as /dev/serial/by-id/…");
        }
        if self.baud == 0 {
            return invalid("serial.baud", "a baud rate above 0");
        }
        if self.data_bits.is_some_and(|bits| !(5..=8).contains(&bits)) {
            return invalid("serial.data_bits", "5, 6, 7 or 8");
        }
        if !matches!(self.stop_bits, 1 | 2) {
            return invalid("serial.stop_bits", "1 or 2");
        }
        Ok(())
    }
}

/// The line settings a protocol's manual gives as the default: (data bits, parity).
pub fn protocol_line(protocol: ScaleProtocol) -> (u8, Parity) {
    match protocol {
        ScaleProtocol::Nci | ScaleProtocol::Toledo8217 => (7, Parity::Even),
        ScaleProtocol::Sics | ScaleProtocol::Cas | ScaleProtocol::Adam => (8, Parity::None),
    }
}

/// Opens the port with its line settings and a read timeout of one tick.
pub(crate) fn open(config: &SerialConfig, defaults: (u8, Parity)) -> Result<Box<dyn SerialPort>, String> {
    let (data_bits, parity, stop_bits) = config.line_settings(defaults);
    let data_bits = match data_bits {
        5 => serialport::DataBits::Five,
        6 => serialport::DataBits::Six,
        7 => serialport::DataBits::Seven,
        _ => serialport::DataBits::Eight,
    };
    let parity = match parity {
        Parity::None => serialport::Parity::None,
        Parity::Even => serialport::Parity::Even,
        Parity::Odd => serialport::Parity::Odd,
    };
    let stop_bits = if stop_bits == 2 {
        serialport::StopBits::Two
    } else {
        serialport::StopBits::One
    };
    let flow_control = match config.flow_control {
        FlowControl::None => serialport::FlowControl::None,
        FlowControl::Software => serialport::FlowControl::Software,
        FlowControl::Hardware => serialport::FlowControl::Hardware,
    };
    serialport::new(config.path.to_string_lossy(), config.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(flow_control)
        .timeout(READ_TICK)
        .open()
        .map_err(|error| format!("can not open {}: {error}", config.path.display()))
}

/// A serial scanner's thread body.
pub(crate) fn run_scanner(runner: &mut Runner, serial: &SerialConfig, scanner: ScannerConfig) {
    let mut decoder = ScanDecoder::new(scanner);
    runner.supervise(
        || open(serial, (8, Parity::None)),
        |runner, mut port| {
            decoder.reset();
            let mut buffer = [0u8; 1024];
            loop {
                if runner.stopping() {
                    return SessionEnd::Stop;
                }
                let count = match read(port.as_mut(), &mut buffer) {
                    Ok(count) => count,
                    Err(reason) => return SessionEnd::Lost(reason),
                };
                let now_ms = unix_ms();
                if count == 0 {
                    decoder.tick(now_ms);
                } else {
                    decoder.push(&buffer[..count], now_ms);
                }
                while let Some(frame) = decoder.poll() {
                    if runner.scan_frame(frame).is_err() {
                        return SessionEnd::Stop;
                    }
                }
            }
        },
    );
}

/// How many polls may go unanswered before the scale is reported silent.
const SILENT_AFTER_POLLS: u32 = 3;

/// A serial scale's thread body: polls when the protocol needs it, otherwise just reads.
pub(crate) fn run_scale(runner: &mut Runner, serial: &SerialConfig, scale: &ScaleConfig) {
    let mut decoder = decoder_for(scale);
    let interval = Duration::from_millis(scale.poll_interval_ms);
    runner.supervise(
        || open(serial, protocol_line(scale.protocol)),
        |runner, mut port| {
            decoder.reset();
            scale_session(runner, port.as_mut(), decoder.as_mut(), interval)
        },
    );
}

fn scale_session(
    runner: &mut Runner,
    port: &mut dyn SerialPort,
    decoder: &mut dyn ScaleDecoder,
    interval: Duration,
) -> SessionEnd {
    let request = decoder.poll_request();
    let mut next_poll = Instant::now();
    let mut unanswered = 0u32;
    let mut buffer = [0u8; 512];
    loop {
        if runner.stopping() {
            return SessionEnd::Stop;
        }
        if let Some(request) = request {
            let now = Instant::now();
            if now >= next_poll {
                if let Err(error) = port.write_all(request).and_then(|()| port.flush()) {
                    return SessionEnd::Lost(format!("write failed: {error}"));
                }
                next_poll = now + interval;
                unanswered += 1;
                if unanswered > SILENT_AFTER_POLLS
                    && runner
                        .fault(format!("no answer to the last {SILENT_AFTER_POLLS} weight requests"))
                        .is_err()
                {
                    return SessionEnd::Stop;
                }
            }
            let until_poll = next_poll
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let timeout = until_poll.min(READ_TICK);
            if port.timeout() != timeout {
                if let Err(error) = port.set_timeout(timeout) {
                    return SessionEnd::Lost(format!("could not set the read timeout: {error}"));
                }
            }
        }
        let count = match read(port, &mut buffer) {
            Ok(count) => count,
            Err(reason) => return SessionEnd::Lost(reason),
        };
        if count == 0 {
            continue;
        }
        decoder.push(&buffer[..count], unix_ms());
        while let Some(frame) = decoder.poll() {
            if !matches!(frame, ScaleFrame::Malformed { .. }) {
                unanswered = 0;
            }
            if runner.scale_frame(frame).is_err() {
                return SessionEnd::Stop;
            }
        }
    }
}

/// One read: `Ok(0)` when the tick passed without bytes, `Err(reason)` when the port is gone.
fn read(port: &mut dyn SerialPort, buffer: &mut [u8]) -> Result<usize, String> {
    match port.read(buffer) {
        Ok(0) => Err("the port reported end of file".to_owned()),
        Ok(count) => Ok(count),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
            ) =>
        {
            Ok(0)
        }
        // `serialport` reports a hang-up (POLLHUP: adapter or cable pulled) as a broken pipe.
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Err("the port hung up (unplugged)".to_owned()),
        Err(error) => {
            debug!(%error, kind = ?error.kind(), "Serial read failed.");
            Err(format!("read failed: {error}"))
        }
    }
}
