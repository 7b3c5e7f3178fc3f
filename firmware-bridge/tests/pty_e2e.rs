//! End to end through real PTYs: an in-process simulator on the master side, the real serial
//! transport (`serialport` opening the slave through a stable symlink) on the other, and the
//! `DeviceEvent`s that come out. Waits are bounded by timeouts on the event channel, never sleeps.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use firmware_bridge::classify::{classify, BarcodeClass, ClassifierConfig};
use firmware_bridge::scale::{ScaleConfig, ScaleProtocol};
use firmware_bridge::scanner::{Framing, ScannerConfig};
use firmware_bridge::sim::{ScaleSimConfig, ScaleSimulator, ScannerSimulator};
use firmware_bridge::transport::{Backoff, DeviceConfig, DeviceSource, SerialConfig};
use firmware_bridge::{
    Device, DeviceEvent, DeviceId, DeviceStatus, ScaleReading, StableRule, StableWeight, WeightStability,
};

const DEADLINE: Duration = Duration::from_secs(10);

/// A running device and the events it sends.
struct Station {
    _device: Device,
    events: Receiver<DeviceEvent>,
    seen: Vec<DeviceEvent>,
}

impl Station {
    fn start(source: DeviceSource) -> Station {
        let (sender, events) = mpsc::sync_channel(64);
        let config = DeviceConfig {
            id: DeviceId("dock-1".into()),
            source,
            reconnect: Backoff {
                initial_ms: 20,
                max_ms: 200,
            },
        };
        let device = Device::spawn(config, sender).expect("the device starts");
        Station {
            _device: device,
            events,
            seen: Vec::new(),
        }
    }

    fn scale(link: &Path, protocol: ScaleProtocol) -> Station {
        Station::start(DeviceSource::SerialScale {
            serial: SerialConfig::new(link),
            scale: ScaleConfig {
                poll_interval_ms: 50,
                ..ScaleConfig::new(protocol)
            },
        })
    }

    /// The next event matching `wanted`, or a panic naming `what` and everything seen.
    fn wait_for(&mut self, what: &str, mut wanted: impl FnMut(&DeviceEvent) -> bool) -> DeviceEvent {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if wanted(&event) {
                        return event;
                    }
                }
                Err(_) => panic!("no {what} within {DEADLINE:?}; saw {:#?}", self.seen),
            }
        }
    }

    fn wait_for_weight(&mut self, what: &str, wanted: impl Fn(&ScaleReading) -> bool) -> ScaleReading {
        match self.wait_for(
            what,
            |event| matches!(event, DeviceEvent::Weight(reading) if wanted(reading)),
        ) {
            DeviceEvent::Weight(reading) => reading,
            _ => unreachable!("filtered above"),
        }
    }

    fn wait_for_status(&mut self, what: &str, wanted: impl Fn(&DeviceStatus) -> bool) {
        self.wait_for(
            what,
            |event| matches!(event, DeviceEvent::Status { status, .. } if wanted(status)),
        );
    }
}

fn now_ms() -> u64 {
    firmware_bridge::transport::unix_ms()
}

fn link_in(directory: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    directory.path().join(name)
}

#[test]
fn a_scan_arrives_as_a_scan_event_and_classifies() {
    let directory = tempfile::tempdir().unwrap();
    let link = link_in(&directory, "usb-Honeywell_scanner");
    let scanner = ScannerSimulator::start(Framing::CrLf, Some(link.clone())).unwrap();
    let mut station = Station::start(DeviceSource::SerialScanner {
        serial: SerialConfig::new(&link),
        scanner: ScannerConfig {
            framing: Framing::CrLf,
            ..ScannerConfig::default()
        },
    });
    station.wait_for_status("Connected", |status| *status == DeviceStatus::Connected);

    scanner.scan("1Z999AA10123456784").unwrap();
    let DeviceEvent::Scan(scan) = station.wait_for("the scan", |event| matches!(event, DeviceEvent::Scan(_))) else {
        unreachable!()
    };
    assert_eq!(scan.code, "1Z999AA10123456784");
    assert_eq!(scan.device, DeviceId("dock-1".into()));
    assert!(matches!(
        classify(&scan.code, scan.symbology, &ClassifierConfig::default()),
        BarcodeClass::Ups { .. }
    ));
}

#[test]
fn a_stable_weight_arrives_and_the_rule_accepts_it_for_every_protocol() {
    for protocol in ScaleProtocol::ALL {
        let directory = tempfile::tempdir().unwrap();
        let link = link_in(&directory, "usb-scale");
        let config = ScaleSimConfig {
            initial_grams: 1250,
            link: Some(link.clone()),
            stream_interval: Duration::from_millis(50),
            ..ScaleSimConfig::new(protocol)
        };
        let _scale = ScaleSimulator::start(config).unwrap();
        let mut station = Station::scale(&link, protocol);
        let mut weights = StableWeight::new(StableRule::default());
        station.wait_for(&format!("a usable 1250 g from {protocol}"), |event| {
            weights.observe_event(event);
            weights
                .usable(now_ms())
                .is_some_and(|reading| reading.grams == 1250 && reading.resolution_g == 1)
        });
    }
}

#[test]
fn motion_is_reported_but_never_usable() {
    // NCI sends the moving weight with its motion bit; Toledo 8217 sends the status alone.
    for protocol in [
        ScaleProtocol::Nci,
        ScaleProtocol::Toledo8217,
        ScaleProtocol::Sics,
        ScaleProtocol::Cas,
    ] {
        let directory = tempfile::tempdir().unwrap();
        let link = link_in(&directory, "usb-scale");
        let config = ScaleSimConfig {
            initial_grams: 2000,
            link: Some(link.clone()),
            ..ScaleSimConfig::new(protocol)
        };
        let scale = ScaleSimulator::start(config).unwrap();
        let mut station = Station::scale(&link, protocol);
        let mut weights = StableWeight::new(StableRule::default());
        station.wait_for_weight("a stable reading", |reading| {
            reading.stability == WeightStability::Stable
        });

        scale.set_motion(true).unwrap();
        station.wait_for(&format!("motion from {protocol}"), |event| {
            weights.observe_event(event);
            match event {
                DeviceEvent::Weight(reading) => reading.stability == WeightStability::Motion,
                DeviceEvent::ScaleState(state) => state.stability == WeightStability::Motion,
                _ => false,
            }
        });
        assert_eq!(
            weights.usable(now_ms()),
            None,
            "{protocol}: a moving scale gave a usable weight"
        );

        scale.set_motion(false).unwrap();
        station.wait_for(&format!("stable again from {protocol}"), |event| {
            weights.observe_event(event);
            weights.usable(now_ms()).is_some()
        });
    }
}

#[test]
fn overload_is_reported_as_over_capacity() {
    for protocol in [
        ScaleProtocol::Nci,
        ScaleProtocol::Toledo8217,
        ScaleProtocol::Sics,
        ScaleProtocol::Cas,
    ] {
        let directory = tempfile::tempdir().unwrap();
        let link = link_in(&directory, "usb-scale");
        let config = ScaleSimConfig {
            initial_grams: 2000,
            link: Some(link.clone()),
            ..ScaleSimConfig::new(protocol)
        };
        let scale = ScaleSimulator::start(config).unwrap();
        let mut station = Station::scale(&link, protocol);
        station.wait_for_weight("a reading", |_| true);
        scale.set_overload(true).unwrap();
        station.wait_for(&format!("over capacity from {protocol}"), |event| match event {
            DeviceEvent::Weight(reading) => reading.stability == WeightStability::OverCapacity,
            DeviceEvent::ScaleState(state) => state.stability == WeightStability::OverCapacity,
            _ => false,
        });
    }
}

#[test]
fn unplug_reports_disconnected_and_plug_brings_readings_back() {
    let directory = tempfile::tempdir().unwrap();
    let link = link_in(&directory, "usb-FTDI_scale");
    let config = ScaleSimConfig {
        initial_grams: 1250,
        link: Some(link.clone()),
        ..ScaleSimConfig::new(ScaleProtocol::Nci)
    };
    let scale = ScaleSimulator::start(config).unwrap();
    let mut station = Station::scale(&link, ScaleProtocol::Nci);
    let mut weights = StableWeight::new(StableRule::default());
    station.wait_for("a usable weight", |event| {
        weights.observe_event(event);
        weights.usable(now_ms()).is_some()
    });

    scale.unplug().unwrap();
    station.wait_for("Disconnected", |event| {
        weights.observe_event(event);
        matches!(
            event,
            DeviceEvent::Status {
                status: DeviceStatus::Disconnected { .. },
                ..
            }
        )
    });
    assert_eq!(
        weights.usable(now_ms()),
        None,
        "a weight from an unplugged scale stays usable"
    );

    scale.set_weight(1730).unwrap();
    scale.plug().unwrap();
    station.wait_for_status("Connected again", |status| *status == DeviceStatus::Connected);
    let reading = station.wait_for_weight("readings after replug", |_| true);
    assert_eq!(reading.grams, 1730);
}

#[test]
fn a_line_cut_by_an_unplug_does_not_pollute_the_next_scan() {
    let directory = tempfile::tempdir().unwrap();
    let link = link_in(&directory, "usb-scanner");
    let scanner = ScannerSimulator::start(Framing::Cr, Some(link.clone())).unwrap();
    let mut station = Station::start(DeviceSource::SerialScanner {
        serial: SerialConfig::new(&link),
        scanner: ScannerConfig::default(),
    });
    station.wait_for_status("Connected", |status| *status == DeviceStatus::Connected);
    scanner.send(b"1Z999AA1").unwrap();
    scanner.unplug();
    station.wait_for_status("Disconnected", |status| {
        matches!(status, DeviceStatus::Disconnected { .. })
    });
    scanner.plug().unwrap();
    station.wait_for_status("Connected again", |status| *status == DeviceStatus::Connected);
    scanner.scan("9400111201080805483016").unwrap();
    let DeviceEvent::Scan(scan) = station.wait_for("the scan", |event| matches!(event, DeviceEvent::Scan(_))) else {
        unreachable!()
    };
    assert_eq!(scan.code, "9400111201080805483016");
}

#[test]
fn a_missing_port_is_reported_once_and_picked_up_when_it_appears() {
    let directory = tempfile::tempdir().unwrap();
    let link = link_in(&directory, "usb-not-yet");
    let mut station = Station::scale(&link, ScaleProtocol::Sics);
    station.wait_for_status(
        "Disconnected (no port yet)",
        |status| matches!(status, DeviceStatus::Disconnected { reason } if reason.contains("usb-not-yet")),
    );
    let config = ScaleSimConfig {
        initial_grams: 500,
        link: Some(link.clone()),
        ..ScaleSimConfig::new(ScaleProtocol::Sics)
    };
    let _scale = ScaleSimulator::start(config).unwrap();
    station.wait_for_status("Connected", |status| *status == DeviceStatus::Connected);
    station.wait_for_weight("a reading", |reading| reading.grams == 500);
    let disconnects = station
        .seen
        .iter()
        .filter(|event| {
            matches!(
                event,
                DeviceEvent::Status {
                    status: DeviceStatus::Disconnected { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(disconnects, 1, "retries are not reported again: {:#?}", station.seen);
}
