//! Transports (Linux): one thread per device reads bytes, runs the protocol decoder and sends
//! [`DeviceEvent`]s into a bounded channel the server owns.
//!
//! Owns device configuration, the [`Device`] handle (its thread stops on drop or
//! [`Device::shutdown`]), reconnection with capped exponential backoff, and the mapping from
//! decoder frames to events. The protocol decoders stay sans-IO; this module is the only place
//! that reads clocks and ports (with its submodules).
//!
//! Life of a device thread: open → `Connected` → read/decode/send until the port fails (read
//! error, end of file, the port vanishing) → `Disconnected { reason }` → wait (backoff 100 ms
//! doubling to 5 s by default) → open again. A failed open is reported once, not at every retry.
//!
//! Delivery: scans and status changes are never dropped (the thread waits for room in the
//! channel); weight readings and scale states are dropped when the channel is full, because a
//! newer reading follows within a poll interval and a stale one is worth nothing.
//!
//! Stable identity: configure serial devices by their `/dev/serial/by-id/…` path (udev's link
//! named after the adapter's vendor, product and serial number). The path is opened as given at
//! every reconnect, so a scale moved to another USB port comes back under the same device id.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{debug, info, warn};

use crate::event::{DeviceEvent, DeviceId, DeviceStatus, ScaleReading, ScaleState, ScanEvent};
use crate::keymap::KeyboardLayout;
use crate::scale::{ScaleConfig, ScaleFrame};
use crate::scanner::{ScanFrame, ScannedCode, ScannerConfig};
use crate::wedge::WedgeTerminator;

pub mod evdev;
pub mod hidraw;
pub mod ports;
pub mod serial;

pub use ports::{list_serial_ports, PortKind, SerialPortEntry, UsbIds};
pub use serial::{FlowControl, Parity, SerialConfig};

/// One configured device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: DeviceId,
    pub source: DeviceSource,
    #[serde(default)]
    pub reconnect: Backoff,
}

/// Where a device's bytes come from and how they are decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceSource {
    /// A barcode scanner on a serial port (RS-232, or USB in serial/CDC mode).
    SerialScanner {
        serial: SerialConfig,
        #[serde(default)]
        scanner: ScannerConfig,
    },
    /// A scale on a serial port.
    SerialScale { serial: SerialConfig, scale: ScaleConfig },
    /// A USB scanner in keyboard (HID) mode, read from `/dev/input/event*` (or its
    /// `/dev/input/by-id/…` link) and grabbed so its keystrokes go nowhere else.
    WedgeScanner {
        path: PathBuf,
        #[serde(default)]
        layout: KeyboardLayout,
        #[serde(default)]
        terminator: WedgeTerminator,
        #[serde(default)]
        scanner: ScannerConfig,
    },
    /// A USB HID point-of-sale scale, read from `/dev/hidraw*`.
    HidScale {
        path: PathBuf,
        /// The weight report's ID (3 on most scales); `None` for descriptors without IDs.
        #[serde(default = "default_report_id")]
        report_id: Option<u8>,
    },
}

fn default_report_id() -> Option<u8> {
    Some(crate::scale::hidpos::WEIGHT_REPORT_ID)
}

/// Reconnection delays: `initial_ms`, doubling at each failed attempt, at most `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 100,
            max_ms: 5_000,
        }
    }
}

/// Why a device could not be started.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// A configuration value is out of range; `field` names it.
    #[error("{field}: expected {expected}")]
    InvalidConfig {
        field: &'static str,
        expected: &'static str,
    },
    /// The operating system refused a thread for the device.
    #[error("could not start the reader thread of {device}: {source}")]
    Spawn {
        device: DeviceId,
        #[source]
        source: std::io::Error,
    },
}

/// A running device. Dropping it (or [`Device::shutdown`]) stops its thread and waits for it
/// (at most one read tick, 50 ms, plus one event delivery).
#[derive(Debug)]
pub struct Device {
    id: DeviceId,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Device {
    /// Starts reading `config`'s device; events go to `events`. The first event is
    /// `Status { Connected }` or `Status { Disconnected }` (when the port can not be opened yet:
    /// the thread keeps retrying).
    pub fn spawn(config: DeviceConfig, events: SyncSender<DeviceEvent>) -> Result<Device, DeviceError> {
        validate(&config)?;
        let (stop_tx, stop_rx) = mpsc::channel();
        let id = config.id.clone();
        let runner = Runner::new(config.id.clone(), events, stop_rx, config.reconnect);
        let thread = std::thread::Builder::new()
            .name(format!("device-{}", config.id))
            .spawn(move || run(config.source, runner))
            .map_err(|source| DeviceError::Spawn {
                device: id.clone(),
                source,
            })?;
        Ok(Device {
            id,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    /// Stops the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                warn!(device = %self.id, "Device thread panicked.");
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn validate(config: &DeviceConfig) -> Result<(), DeviceError> {
    let invalid = |field, expected| Err(DeviceError::InvalidConfig { field, expected });
    if config.reconnect.initial_ms == 0 || config.reconnect.max_ms < config.reconnect.initial_ms {
        return invalid("reconnect", "initial_ms above 0 and max_ms at least initial_ms");
    }
    match &config.source {
        DeviceSource::SerialScanner { serial, scanner } => {
            serial.validate()?;
            if scanner.max_len == 0 {
                return invalid("scanner.max_len", "at least 1");
            }
        }
        DeviceSource::SerialScale { serial, scale } => {
            serial.validate()?;
            if scale.poll_interval_ms < 10 {
                return invalid("scale.poll_interval_ms", "at least 10");
            }
        }
        DeviceSource::WedgeScanner { path, .. } | DeviceSource::HidScale { path, .. } => {
            if path.as_os_str().is_empty() {
                return invalid("path", "a device path such as /dev/input/by-id/…");
            }
        }
    }
    Ok(())
}

fn run(source: DeviceSource, mut runner: Runner) {
    match source {
        DeviceSource::SerialScanner { serial, scanner } => serial::run_scanner(&mut runner, &serial, scanner),
        DeviceSource::SerialScale { serial, scale } => serial::run_scale(&mut runner, &serial, &scale),
        DeviceSource::WedgeScanner {
            path,
            layout,
            terminator,
            scanner,
        } => evdev::run(&mut runner, &path, layout, terminator, scanner),
        DeviceSource::HidScale { path, report_id } => hidraw::run(&mut runner, &path, report_id),
    }
    debug!(device = %runner.id, "Device thread stopped.");
}

/// How long a blocking read waits before the thread checks for shutdown.
pub(crate) const READ_TICK: Duration = Duration::from_millis(50);

/// Waits up to one tick for input on a device file; `Err` when it reports an error or hang-up
/// (the device went away).
pub(crate) fn wait_readable(device: &impl std::os::fd::AsFd) -> Result<bool, String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(device.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(READ_TICK).unwrap_or(PollTimeout::NONE);
    match poll(&mut fds, timeout) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(false),
        Ok(_) => {
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            let failed = revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL);
            if failed && !revents.contains(PollFlags::POLLIN) {
                return Err("the device went away".to_owned());
            }
            Ok(true)
        }
        Err(error) => Err(format!("poll failed: {error}")),
    }
}

/// The time now in Unix milliseconds, for stamping events.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

/// The device thread's side: its identity, the event channel, the stop signal.
#[derive(Debug)]
pub(crate) struct Runner {
    pub id: DeviceId,
    events: SyncSender<DeviceEvent>,
    stop: Receiver<()>,
    reconnect: Backoff,
    /// The last fault reported, so a repeating fault is reported once.
    last_fault: Option<String>,
    dropped_readings: u64,
}

/// The thread must end: shutdown was requested or the server dropped its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    Stop,
    Lost(String),
}

impl From<Stop> for SessionEnd {
    fn from(_: Stop) -> Self {
        SessionEnd::Stop
    }
}

impl Runner {
    fn new(id: DeviceId, events: SyncSender<DeviceEvent>, stop: Receiver<()>, reconnect: Backoff) -> Self {
        Runner {
            id,
            events,
            stop,
            reconnect,
            last_fault: None,
            dropped_readings: 0,
        }
    }

    pub fn stopping(&self) -> bool {
        matches!(self.stop.try_recv(), Ok(()) | Err(TryRecvError::Disconnected))
    }

    /// Waits `delay` unless asked to stop first.
    fn wait(&self, delay: Duration) -> Result<(), Stop> {
        match self.stop.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Err(Stop),
        }
    }

    /// Sends an event that must not be lost, waiting for room in the channel.
    pub fn send(&mut self, event: DeviceEvent) -> Result<(), Stop> {
        let mut event = event;
        loop {
            match self.events.try_send(event) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(Stop),
                Err(TrySendError::Full(returned)) => {
                    event = returned;
                    self.wait(Duration::from_millis(5))?;
                }
            }
        }
    }

    /// Sends a reading, or drops it when the channel is full (see the module notes).
    pub fn send_reading(&mut self, event: DeviceEvent) -> Result<(), Stop> {
        match self.events.try_send(event) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(Stop),
            Err(TrySendError::Full(_)) => {
                self.dropped_readings += 1;
                if self.dropped_readings.is_power_of_two() {
                    warn!(device = %self.id, dropped = self.dropped_readings, "Event channel full: dropping scale readings.");
                }
                Ok(())
            }
        }
    }

    pub fn status(&mut self, status: DeviceStatus) -> Result<(), Stop> {
        self.last_fault = None;
        let event = DeviceEvent::Status {
            device: self.id.clone(),
            status,
            at_ms: unix_ms(),
        };
        self.send(event)
    }

    /// Reports a fault once per distinct reason.
    pub fn fault(&mut self, reason: String) -> Result<(), Stop> {
        if self.last_fault.as_deref() == Some(reason.as_str()) {
            return Ok(());
        }
        warn!(device = %self.id, %reason, "Device fault.");
        self.last_fault = Some(reason.clone());
        let event = DeviceEvent::Status {
            device: self.id.clone(),
            status: DeviceStatus::Fault { reason },
            at_ms: unix_ms(),
        };
        self.send(event)
    }

    /// After a fault, good data means the device works again: say so once.
    pub fn recovered(&mut self) -> Result<(), Stop> {
        if self.last_fault.is_some() {
            self.status(DeviceStatus::Connected)?;
        }
        Ok(())
    }

    /// Sends what a scanner decoder produced.
    pub fn scan_frame(&mut self, frame: ScanFrame) -> Result<(), Stop> {
        match frame {
            ScanFrame::Code(code) => {
                self.recovered()?;
                let event = scan_event(&self.id, code);
                self.send(event)
            }
            ScanFrame::Error { error, .. } => self.fault(error.to_string()),
        }
    }

    /// Sends what a scale decoder produced.
    pub fn scale_frame(&mut self, frame: ScaleFrame) -> Result<(), Stop> {
        match scale_event(&self.id, frame) {
            ScaleOutcome::Event(event) => {
                self.recovered()?;
                self.send_reading(event)
            }
            ScaleOutcome::Fault(reason) => self.fault(reason),
            ScaleOutcome::Nothing => Ok(()),
        }
    }

    /// Opens with `open`, runs `session` on the connection, reconnects with backoff until
    /// stopped. See the module notes for the states reported.
    pub fn supervise<C>(
        &mut self,
        mut open: impl FnMut() -> Result<C, String>,
        mut session: impl FnMut(&mut Runner, C) -> SessionEnd,
    ) {
        let mut delay = self.reconnect.initial_ms;
        let mut reported_down = false;
        loop {
            if self.stopping() {
                return;
            }
            match open() {
                Ok(connection) => {
                    info!(device = %self.id, "Device connected.");
                    if self.status(DeviceStatus::Connected).is_err() {
                        return;
                    }
                    let started = Instant::now();
                    match session(self, connection) {
                        SessionEnd::Stop => return,
                        SessionEnd::Lost(reason) => {
                            warn!(device = %self.id, %reason, "Device disconnected.");
                            if self.status(DeviceStatus::Disconnected { reason }).is_err() {
                                return;
                            }
                            reported_down = true;
                        }
                    }
                    // Only a connection that held for a while resets the backoff: a port that
                    // opens and fails at once must not be reopened in a tight loop.
                    if started.elapsed() >= Duration::from_millis(self.reconnect.max_ms) {
                        delay = self.reconnect.initial_ms;
                    }
                }
                Err(reason) => {
                    if reported_down {
                        debug!(device = %self.id, %reason, "Device still unavailable.");
                    } else {
                        warn!(device = %self.id, %reason, "Device unavailable.");
                        if self.status(DeviceStatus::Disconnected { reason }).is_err() {
                            return;
                        }
                        reported_down = true;
                    }
                }
            }
            if self.wait(Duration::from_millis(delay)).is_err() {
                return;
            }
            delay = delay.saturating_mul(2).min(self.reconnect.max_ms);
        }
    }
}

/// What a scale frame becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum ScaleOutcome {
    Event(DeviceEvent),
    /// The scale refused a command, reported a fault, or sent bytes out of protocol.
    Fault(String),
    /// Acknowledgements of commands: nothing to tell the station.
    Nothing,
}

/// The event for a decoded code.
pub fn scan_event(device: &DeviceId, code: ScannedCode) -> DeviceEvent {
    DeviceEvent::Scan(ScanEvent {
        device: device.clone(),
        code: code.code,
        symbology: code.symbology,
        at_ms: code.at_ms,
    })
}

/// The event (or fault) for a decoded scale frame.
pub fn scale_event(device: &DeviceId, frame: ScaleFrame) -> ScaleOutcome {
    match frame {
        ScaleFrame::Reading(reading) => ScaleOutcome::Event(DeviceEvent::Weight(ScaleReading {
            device: device.clone(),
            grams: reading.grams,
            resolution_g: reading.resolution_g,
            stability: reading.stability,
            at_zero: reading.at_zero,
            at_ms: reading.at_ms,
        })),
        ScaleFrame::Condition(condition) => ScaleOutcome::Event(DeviceEvent::ScaleState(ScaleState {
            device: device.clone(),
            stability: condition.stability,
            at_zero: condition.at_zero,
            at_ms: condition.at_ms,
        })),
        ScaleFrame::Acknowledged { .. } => ScaleOutcome::Nothing,
        ScaleFrame::Refused { reason, .. } => ScaleOutcome::Fault(reason),
        ScaleFrame::Malformed { error, .. } => ScaleOutcome::Fault(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WeightStability;
    use crate::scale::{ScaleProtocol, Weighing};

    #[test]
    fn device_configuration_reads_from_toml_like_json_with_defaults() {
        let json = serde_json::json!({
            "id": "dock-1-scale",
            "source": {
                "kind": "serial_scale",
                "serial": { "path": "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0" },
                "scale": { "protocol": "toledo8217" }
            }
        });
        let config: DeviceConfig = serde_json::from_value(json).unwrap();
        let DeviceSource::SerialScale { serial, scale } = &config.source else {
            panic!("{config:?}")
        };
        assert_eq!(scale.protocol, ScaleProtocol::Toledo8217);
        assert_eq!(scale.poll_interval_ms, 200);
        assert_eq!(serial.baud, 9600);
        assert_eq!(
            serial.line_settings(serial::protocol_line(scale.protocol)),
            (7, Parity::Even, 1)
        );
        assert_eq!(config.reconnect, Backoff::default());
        assert!(validate(&config).is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_naming_the_field() {
        let json = serde_json::json!({ "id": "s", "source": { "kind": "serial_scanner", "serial": { "path": "/dev/ttyS0", "bawd": 9600 } } });
        let error = serde_json::from_value::<DeviceConfig>(json).unwrap_err().to_string();
        assert!(error.contains("bawd"), "{error}");
        let config = DeviceConfig {
            id: DeviceId("s".into()),
            source: DeviceSource::SerialScanner {
                serial: SerialConfig {
                    baud: 0,
                    ..SerialConfig::new("/dev/ttyS0")
                },
                scanner: ScannerConfig::default(),
            },
            reconnect: Backoff::default(),
        };
        let error = validate(&config).unwrap_err().to_string();
        assert_eq!(error, "serial.baud: expected a baud rate above 0");
    }

    #[test]
    fn scale_frames_become_weights_states_or_faults() {
        let device = DeviceId("scale".into());
        let reading = Weighing {
            grams: 5,
            resolution_g: 1,
            stability: WeightStability::Stable,
            at_zero: false,
            at_ms: 1,
        };
        assert!(matches!(
            scale_event(&device, ScaleFrame::Reading(reading)),
            ScaleOutcome::Event(DeviceEvent::Weight(_))
        ));
        let refused = ScaleFrame::Refused {
            reason: "busy".into(),
            at_ms: 1,
        };
        assert_eq!(scale_event(&device, refused), ScaleOutcome::Fault("busy".into()));
        assert_eq!(
            scale_event(&device, ScaleFrame::Acknowledged { what: "zero", at_ms: 1 }),
            ScaleOutcome::Nothing
        );
    }
}
