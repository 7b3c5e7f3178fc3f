//! The server's device manager: the configured scanners and scales, their live state, and each
//! station's live stream.
//!
//! Owns: starting every `[[devices]]` entry with `firmware-bridge` (one [`Device`] per entry, all
//! feeding ONE bounded `sync_channel`), the pump thread that drains that channel, the per-device
//! state (connected?, last reading, last scan, last status change, when it last said anything), one [`StableWeight`] tracker
//! per scale, scan classification, and one `tokio::sync::broadcast` channel per station.
//!
//! Devices are never blocked by stations: the pump only takes a short lock and calls
//! `broadcast::Sender::send`, which never waits. A slow stream client's receiver falls behind on
//! its own; it loses the oldest events (for itself only) and its stream says how many, as a
//! [`StreamItem::Lagged`]. Other clients and the devices carry on.
//!
//! The pump is a plain thread, not an async task: the channel it drains is a blocking
//! `std::sync::mpsc` receiver (the device threads are blocking too), and a thread ends by itself
//! when the last device stops, which is how [`DeviceHub::shutdown`] waits for it.
//!
//! Does not touch: the store, cases, HTTP. Receipts ask [`DeviceHub::stable_weight`]; the write
//! path stays in `ingest`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use firmware_bridge::transport::unix_ms;
use firmware_bridge::{
    classify, Assessment, BarcodeClass, ClassifierConfig, Device, DeviceEvent, DeviceId, DeviceSource, DeviceStatus,
    ScaleReading, ScanEvent, StableWeight, Symbology, WeightStability,
};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::config::{DeviceEntry, DeviceSettings};
use crate::domain::StationId;

/// Handle on the device manager; cheap to clone. [`DeviceHub::disabled`] is a hub with no devices
/// (streams then carry only keep-alives).
#[derive(Debug, Clone)]
pub struct DeviceHub {
    inner: Arc<Inner>,
}

/// What a device looks like now (`GET /v1/devices`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceState {
    pub id: DeviceId,
    pub station: StationId,
    /// `serial_scanner`, `serial_scale`, `wedge_scanner` or `hid_scale`.
    pub kind: &'static str,
    pub path: String,
    pub connected: bool,
    /// `None` until the device thread first reports.
    pub status: Option<DeviceStatus>,
    pub status_changed_at_ms: Option<u64>,
    /// Scales: the last weight reported (stable or not).
    pub last_reading: Option<ScaleReading>,
    /// Scales: the stability of the last report, weight or state-only.
    pub last_stability: Option<WeightStability>,
    /// Scanners: the last code read.
    pub last_scan: Option<ScanEvent>,
    /// Scales: `None` when the weight may go into a receipt now, otherwise why not.
    pub weight_not_usable: Option<String>,
}

/// One message of a station's live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Event(StationEvent),
    /// This client fell behind and lost `missed` events (the oldest ones).
    Lagged {
        missed: u64,
    },
}

/// A device event as a station sees it; the SSE event name is [`StationEvent::name`] and the
/// data is this value as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StationEvent {
    Scan(ScanMessage),
    Weight(WeightMessage),
    Device(DeviceMessage),
}

/// SSE `scan`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanMessage {
    pub device: DeviceId,
    pub code: String,
    pub symbology: Option<Symbology>,
    /// `firmware_bridge::classify` of the code with the site's RMA pattern.
    pub classification: BarcodeClass,
    pub at_ms: u64,
}

/// SSE `weight`: a reading, or a state the scale reported without one (`grams` null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightMessage {
    pub device: DeviceId,
    pub grams: Option<i64>,
    pub resolution_g: Option<u32>,
    pub stability: WeightStability,
    pub at_zero: bool,
    /// Whether a receipt naming this scale would take this weight now.
    pub usable: bool,
    /// Why not, when not usable.
    pub why_not: Option<String>,
    pub at_ms: u64,
}

/// SSE `device`: connected, disconnected or fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceMessage {
    pub device: DeviceId,
    pub kind: &'static str,
    /// `connected`, `disconnected` or `fault`.
    pub state: &'static str,
    pub reason: Option<String>,
    pub at_ms: u64,
}

/// Why a scale's weight can not go into a receipt now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhyNot {
    /// No device has this id (HTTP 409 on a receipt naming it).
    #[error("no device `{0}` is configured")]
    UnknownDevice(String),
    /// The device is a scanner (HTTP 409 on a receipt naming it).
    #[error("device `{0}` is not a scale")]
    NotAScale(String),
    /// The scale is unplugged or unreachable (HTTP 409, like the rest below).
    #[error("the scale is disconnected ({0})")]
    Disconnected(String),
    #[error("the scale has reported no weight yet")]
    NoReading,
    #[error("the scale is in motion")]
    Motion,
    #[error("the scale is over capacity")]
    OverCapacity,
    #[error("the scale is under capacity")]
    UnderCapacity,
    #[error("the scale's readings have not agreed long enough yet ({identical} of {needed})")]
    NotYetAgreed { identical: usize, needed: usize },
    #[error("the scale's latest weight is {age_ms} ms old")]
    TooOld { age_ms: u64 },
    #[error("the scale reads {grams} g: nothing is on it")]
    BelowMinimum { grams: i64 },
}

impl WhyNot {
    /// True when the request names something that is not a scale at all, false when the scale
    /// exists but has no usable weight now (both HTTP 409, with their own details).
    pub fn is_unknown(&self) -> bool {
        matches!(self, WhyNot::UnknownDevice(_) | WhyNot::NotAScale(_))
    }
}

#[derive(Debug)]
struct Inner {
    devices: Mutex<BTreeMap<DeviceId, Tracked>>,
    stations: HashMap<StationId, broadcast::Sender<StationEvent>>,
    classifier: ClassifierConfig,
    keep_alive: Duration,
    /// `true` once streams must end (server shutdown).
    closing: watch::Sender<bool>,
    running: Mutex<Option<Running>>,
    /// When the hub was made (Unix ms): the reading age of a device that never reported.
    started_at_ms: u64,
}

#[derive(Debug)]
struct Running {
    devices: Vec<Device>,
    pump: JoinHandle<()>,
}

/// One device's live state.
#[derive(Debug)]
struct Tracked {
    station: StationId,
    kind: &'static str,
    path: String,
    status: Option<DeviceStatus>,
    status_changed_at_ms: Option<u64>,
    last_reading: Option<ScaleReading>,
    last_stability: Option<WeightStability>,
    last_scan: Option<ScanEvent>,
    /// When the hub last received a scan, weight or scale state from it (Unix ms, hub clock).
    last_reading_at_ms: Option<u64>,
    /// Scales only.
    weight: Option<StableWeight>,
}

impl DeviceHub {
    /// A hub with no devices.
    pub fn disabled() -> DeviceHub {
        DeviceHub::new(&[], &DeviceSettings::default())
    }

    /// The hub for `devices`, not started: events reach it through [`DeviceHub::observe`].
    /// [`DeviceHub::start`] does this and starts the devices.
    pub fn new(devices: &[DeviceEntry], settings: &DeviceSettings) -> DeviceHub {
        let capacity = usize::try_from(settings.stream_buffer).unwrap_or(256).max(1);
        let mut stations = HashMap::new();
        let mut tracked = BTreeMap::new();
        for entry in devices {
            stations
                .entry(entry.station.clone())
                .or_insert_with(|| broadcast::channel(capacity).0);
            let is_scale = matches!(
                entry.source,
                DeviceSource::SerialScale { .. } | DeviceSource::HidScale { .. }
            );
            tracked.insert(
                entry.id.clone(),
                Tracked {
                    station: entry.station.clone(),
                    kind: kind_of(&entry.source),
                    path: path_of(&entry.source).display().to_string(),
                    status: None,
                    status_changed_at_ms: None,
                    last_reading: None,
                    last_stability: None,
                    last_scan: None,
                    last_reading_at_ms: None,
                    weight: is_scale.then(|| StableWeight::new(settings.stable)),
                },
            );
        }
        DeviceHub {
            inner: Arc::new(Inner {
                devices: Mutex::new(tracked),
                stations,
                classifier: settings.classifier.clone(),
                keep_alive: Duration::from_secs(settings.keep_alive_secs),
                closing: watch::channel(false).0,
                running: Mutex::new(None),
                started_at_ms: unix_ms(),
            }),
        }
    }

    /// Starts every device and the pump. A device whose port is missing still starts (it
    /// reports `disconnected` and keeps retrying); only invalid settings fail here.
    pub fn start(devices: &[DeviceEntry], settings: &DeviceSettings) -> anyhow::Result<DeviceHub> {
        let hub = DeviceHub::new(devices, settings);
        let capacity = usize::try_from(settings.channel_capacity).unwrap_or(1024);
        let (sender, receiver) = mpsc::sync_channel(capacity);
        // Weak: the hub owns the devices, the devices own the senders; a strong reference here
        // would keep all of them alive after the last handle is dropped without `shutdown`.
        let weak = Arc::downgrade(&hub.inner);
        let pump = std::thread::Builder::new()
            .name("device-hub".into())
            // Ends when every device thread has stopped and dropped its sender.
            .spawn(move || {
                for event in receiver {
                    let Some(inner) = weak.upgrade() else { break };
                    DeviceHub { inner }.observe(&event, unix_ms());
                }
            })?;
        let mut running = Vec::new();
        for entry in devices {
            match Device::spawn(entry.device_config(), sender.clone()) {
                Ok(device) => running.push(device),
                Err(e) => {
                    drop(running);
                    drop(sender);
                    let _ = pump.join();
                    anyhow::bail!("device `{}`: {e}", entry.id);
                }
            }
        }
        drop(sender);
        tracing::info!(devices = running.len(), "Devices started.");
        *lock(&hub.inner.running) = Some(Running { devices: running, pump });
        Ok(hub)
    }

    /// Ends every live stream (their clients see the stream close). Called when the server
    /// starts draining, so open streams do not hold up a graceful shutdown.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Ends the streams, stops every device thread and the pump, and waits for them.
    pub fn shutdown(&self) {
        self.close_streams();
        let running = lock(&self.inner.running).take();
        if let Some(Running { devices, pump }) = running {
            for device in devices {
                device.shutdown();
            }
            if pump.join().is_err() {
                tracing::warn!("The device hub's pump thread panicked.");
            }
        }
    }

    /// Interval of the keep-alive comments on live streams.
    pub fn keep_alive(&self) -> Duration {
        self.inner.keep_alive
    }

    /// Records one device event at `now_ms` and sends it to the device's station. Never waits.
    pub fn observe(&self, event: &DeviceEvent, now_ms: u64) {
        let (station, message) = {
            let mut devices = lock(&self.inner.devices);
            let Some(tracked) = devices.get_mut(device_of(event)) else {
                return;
            };
            let message = tracked.apply(event, now_ms, &self.inner.classifier);
            (tracked.station.clone(), message)
        };
        if let Some(sender) = self.inner.stations.get(&station) {
            // An error only means that nobody is listening on this station right now.
            let _ = sender.send(message);
        }
    }

    /// The live stream of `station`: first a `device` event per device of the station saying
    /// its current state, then everything its devices say, until [`DeviceHub::close_streams`].
    pub fn subscribe(&self, station: &StationId) -> impl Stream<Item = StreamItem> + Send + 'static {
        // Subscribe before reading the current states: a change in between is then seen twice,
        // never missed.
        let receiver = self.inner.stations.get(station).map(broadcast::Sender::subscribe);
        let current: Vec<StreamItem> = {
            let devices = lock(&self.inner.devices);
            devices
                .iter()
                .filter(|(_, tracked)| &tracked.station == station)
                .filter_map(|(id, tracked)| {
                    let status = tracked.status.as_ref()?;
                    Some(StreamItem::Event(StationEvent::Device(device_message(
                        id,
                        tracked.kind,
                        status,
                        tracked.status_changed_at_ms.unwrap_or(0),
                    ))))
                })
                .collect()
        };
        let state = Subscription {
            current: current.into_iter(),
            receiver,
            closing: self.inner.closing.subscribe(),
        };
        futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
    }

    /// The weight a receipt naming `device` takes at `now_ms`, or why there is none.
    pub fn stable_weight(&self, device: &DeviceId, now_ms: u64) -> Result<ScaleReading, WhyNot> {
        let devices = lock(&self.inner.devices);
        let tracked = devices
            .get(device)
            .ok_or_else(|| WhyNot::UnknownDevice(device.to_string()))?;
        let weight = tracked
            .weight
            .as_ref()
            .ok_or_else(|| WhyNot::NotAScale(device.to_string()))?;
        if let Some(DeviceStatus::Disconnected { reason } | DeviceStatus::Fault { reason }) = &tracked.status {
            return Err(WhyNot::Disconnected(reason.clone()));
        }
        match weight.assess(now_ms) {
            Assessment::Usable(reading) => Ok(reading.clone()),
            other => Err(why_not(other)),
        }
    }

    /// The station a device belongs to.
    pub fn station_of(&self, device: &DeviceId) -> Option<StationId> {
        lock(&self.inner.devices).get(device).map(|t| t.station.clone())
    }

    /// Every configured device as it is now, in id order.
    pub fn snapshot(&self) -> Vec<DeviceState> {
        let now_ms = unix_ms();
        let devices = lock(&self.inner.devices);
        devices
            .iter()
            .map(|(id, tracked)| DeviceState {
                id: id.clone(),
                station: tracked.station.clone(),
                kind: tracked.kind,
                path: tracked.path.clone(),
                connected: tracked.status == Some(DeviceStatus::Connected),
                status: tracked.status.clone(),
                status_changed_at_ms: tracked.status_changed_at_ms,
                last_reading: tracked.last_reading.clone(),
                last_stability: tracked.last_stability,
                last_scan: tracked.last_scan.clone(),
                weight_not_usable: tracked.weight.as_ref().and_then(|weight| match weight.assess(now_ms) {
                    Assessment::Usable(_) => None,
                    other => Some(why_not(other).to_string()),
                }),
            })
            .collect()
    }
}

impl DeviceHub {
    /// `returns_edge_device_connected{device,station}` (1 connected, 0 not) and
    /// `returns_edge_device_last_reading_age_seconds{device,station,kind}` (seconds since the
    /// device's last scan, weight or scale state; since the server started when it has sent none)
    /// in the Prometheus text format, for `GET /metrics` to append; empty without devices. Read
    /// at scrape time, at `now_ms`.
    pub fn prometheus_text(&self) -> String {
        self.prometheus_text_at(unix_ms())
    }

    /// [`DeviceHub::prometheus_text`] at a given time (tests).
    pub fn prometheus_text_at(&self, now_ms: u64) -> String {
        let devices = lock(&self.inner.devices);
        if devices.is_empty() {
            return String::new();
        }
        let mut text = String::from(
            "# HELP returns_edge_device_connected 1 while the device is connected, 0 otherwise\n\
             # TYPE returns_edge_device_connected gauge\n",
        );
        let label = |value: &str| value.replace('\\', "\\\\").replace('"', "\\\"");
        for (id, tracked) in devices.iter() {
            let connected = u8::from(tracked.status == Some(DeviceStatus::Connected));
            text.push_str(&format!(
                "returns_edge_device_connected{{device=\"{}\",station=\"{}\"}} {connected}\n",
                label(&id.0),
                label(tracked.station.as_str())
            ));
        }
        text.push_str(
            "# HELP returns_edge_device_last_reading_age_seconds Seconds since the device last sent a scan, weight or scale state (since start when none)\n\
             # TYPE returns_edge_device_last_reading_age_seconds gauge\n",
        );
        for (id, tracked) in devices.iter() {
            let since = tracked.last_reading_at_ms.unwrap_or(self.inner.started_at_ms);
            let age_s = now_ms.saturating_sub(since) as f64 / 1000.0;
            text.push_str(&format!(
                "returns_edge_device_last_reading_age_seconds{{device=\"{}\",station=\"{}\",kind=\"{}\"}} {age_s}\n",
                label(&id.0),
                label(tracked.station.as_str()),
                tracked.kind
            ));
        }
        text
    }
}

impl StationEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            StationEvent::Scan(_) => "scan",
            StationEvent::Weight(_) => "weight",
            StationEvent::Device(_) => "device",
        }
    }
}

impl Tracked {
    /// Records `event` and returns what the station is told.
    fn apply(&mut self, event: &DeviceEvent, now_ms: u64, classifier: &ClassifierConfig) -> StationEvent {
        if let Some(weight) = &mut self.weight {
            weight.observe_event(event);
        }
        if !matches!(event, DeviceEvent::Status { .. }) {
            self.last_reading_at_ms = Some(now_ms);
        }
        match event {
            DeviceEvent::Scan(scan) => {
                self.last_scan = Some(scan.clone());
                StationEvent::Scan(ScanMessage {
                    device: scan.device.clone(),
                    code: scan.code.clone(),
                    symbology: scan.symbology,
                    classification: classify(&scan.code, scan.symbology, classifier),
                    at_ms: scan.at_ms,
                })
            }
            DeviceEvent::Weight(reading) => {
                self.last_reading = Some(reading.clone());
                self.last_stability = Some(reading.stability);
                let (usable, why_not) = self.verdict(now_ms);
                StationEvent::Weight(WeightMessage {
                    device: reading.device.clone(),
                    grams: Some(reading.grams),
                    resolution_g: Some(reading.resolution_g),
                    stability: reading.stability,
                    at_zero: reading.at_zero,
                    usable,
                    why_not,
                    at_ms: reading.at_ms,
                })
            }
            DeviceEvent::ScaleState(state) => {
                self.last_stability = Some(state.stability);
                let (usable, why_not) = self.verdict(now_ms);
                StationEvent::Weight(WeightMessage {
                    device: state.device.clone(),
                    grams: None,
                    resolution_g: None,
                    stability: state.stability,
                    at_zero: state.at_zero,
                    usable,
                    why_not,
                    at_ms: state.at_ms,
                })
            }
            DeviceEvent::Status { device, status, at_ms } => {
                self.status = Some(status.clone());
                self.status_changed_at_ms = Some(*at_ms);
                StationEvent::Device(device_message(device, self.kind, status, *at_ms))
            }
        }
    }

    fn verdict(&self, now_ms: u64) -> (bool, Option<String>) {
        match self.weight.as_ref().map(|weight| weight.assess(now_ms)) {
            Some(Assessment::Usable(_)) => (true, None),
            Some(other) => (false, Some(why_not(other).to_string())),
            None => (false, None),
        }
    }
}

/// A stream's position: the current states still to send, then the station's channel.
struct Subscription {
    current: std::vec::IntoIter<StreamItem>,
    receiver: Option<broadcast::Receiver<StationEvent>>,
    closing: watch::Receiver<bool>,
}

impl Subscription {
    async fn next(&mut self) -> Option<StreamItem> {
        if let Some(item) = self.current.next() {
            return Some(item);
        }
        loop {
            if *self.closing.borrow_and_update() {
                return None;
            }
            let received = async {
                match &mut self.receiver {
                    Some(receiver) => Some(receiver.recv().await),
                    // A station without devices: nothing ever comes, until shutdown.
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = received => match received {
                    Some(Ok(event)) => return Some(StreamItem::Event(event)),
                    Some(Err(broadcast::error::RecvError::Lagged(missed))) => return Some(StreamItem::Lagged { missed }),
                    Some(Err(broadcast::error::RecvError::Closed)) | None => return None,
                },
                changed = self.closing.changed() => if changed.is_err() { return None },
            }
        }
    }
}

fn device_message(device: &DeviceId, kind: &'static str, status: &DeviceStatus, at_ms: u64) -> DeviceMessage {
    let (state, reason) = match status {
        DeviceStatus::Connected => ("connected", None),
        DeviceStatus::Disconnected { reason } => ("disconnected", Some(reason.clone())),
        DeviceStatus::Fault { reason } => ("fault", Some(reason.clone())),
    };
    DeviceMessage {
        device: device.clone(),
        kind,
        state,
        reason,
        at_ms,
    }
}

fn why_not(assessment: Assessment<'_>) -> WhyNot {
    match assessment {
        // Not reached: callers handle `Usable` first.
        Assessment::Usable(_) | Assessment::NoReading => WhyNot::NoReading,
        Assessment::Motion => WhyNot::Motion,
        Assessment::OverCapacity => WhyNot::OverCapacity,
        Assessment::UnderCapacity => WhyNot::UnderCapacity,
        Assessment::NotYetAgreed { identical, needed } => WhyNot::NotYetAgreed { identical, needed },
        Assessment::TooOld { age_ms } => WhyNot::TooOld { age_ms },
        Assessment::BelowMinimum { grams } => WhyNot::BelowMinimum { grams },
    }
}

fn device_of(event: &DeviceEvent) -> &DeviceId {
    match event {
        DeviceEvent::Scan(scan) => &scan.device,
        DeviceEvent::Weight(reading) => &reading.device,
        DeviceEvent::ScaleState(state) => &state.device,
        DeviceEvent::Status { device, .. } => device,
    }
}

/// The configuration name of a device's kind.
pub fn kind_of(source: &DeviceSource) -> &'static str {
    match source {
        DeviceSource::SerialScanner { .. } => "serial_scanner",
        DeviceSource::SerialScale { .. } => "serial_scale",
        DeviceSource::WedgeScanner { .. } => "wedge_scanner",
        DeviceSource::HidScale { .. } => "hid_scale",
    }
}

/// The device file a device is read from.
pub fn path_of(source: &DeviceSource) -> &Path {
    match source {
        DeviceSource::SerialScanner { serial, .. } | DeviceSource::SerialScale { serial, .. } => &serial.path,
        DeviceSource::WedgeScanner { path, .. } | DeviceSource::HidScale { path, .. } => path,
    }
}

/// The state stays consistent under every lock holder (each update is one assignment), so a
/// panic elsewhere does not make it unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
