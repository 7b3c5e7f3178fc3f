//! The HID scale and keyboard-wedge transports with real file descriptors but no hardware: a
//! FIFO stands in for `/dev/hidraw0` (each write one report, as hidraw delivers them), and a
//! missing `/dev/input` path shows how an absent wedge scanner is reported.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use firmware_bridge::keymap::KeyboardLayout;
use firmware_bridge::scanner::ScannerConfig;
use firmware_bridge::transport::{Backoff, DeviceConfig, DeviceSource};
use firmware_bridge::wedge::WedgeTerminator;
use firmware_bridge::{Device, DeviceEvent, DeviceId, DeviceStatus, WeightStability};

fn spawn(source: DeviceSource) -> (Device, Receiver<DeviceEvent>) {
    let (sender, events) = mpsc::sync_channel(16);
    let config = DeviceConfig {
        id: DeviceId("hid".into()),
        source,
        reconnect: Backoff {
            initial_ms: 20,
            max_ms: 200,
        },
    };
    (Device::spawn(config, sender).unwrap(), events)
}

fn next_matching(events: &Receiver<DeviceEvent>, what: &str, wanted: impl Fn(&DeviceEvent) -> bool) -> DeviceEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(event) if wanted(&event) => return event,
            Ok(event) => seen.push(event),
            Err(_) => panic!("no {what}; saw {seen:#?}"),
        }
    }
}

/// A writer that does not block on open and keeps the FIFO from reporting end of file.
fn writer(path: &Path) -> File {
    OpenOptions::new().read(true).write(true).open(path).unwrap()
}

#[test]
fn hid_reports_become_weights_and_the_end_of_the_device_a_disconnect() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("hidraw0");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut scale = writer(&path);
    let (device, events) = spawn(DeviceSource::HidScale {
        path: path.clone(),
        report_id: Some(3),
    });
    next_matching(&events, "Connected", |event| {
        matches!(
            event,
            DeviceEvent::Status {
                status: DeviceStatus::Connected,
                ..
            }
        )
    });

    scale.write_all(&[3, 4, 2, 0, 0xE2, 0x04]).unwrap();
    let DeviceEvent::Weight(reading) =
        next_matching(&events, "a weight", |event| matches!(event, DeviceEvent::Weight(_)))
    else {
        unreachable!()
    };
    assert_eq!((reading.grams, reading.stability), (1250, WeightStability::Stable));
    scale.write_all(&[3, 3, 2, 0, 0xE7, 0x04]).unwrap();
    next_matching(
        &events,
        "motion",
        |event| matches!(event, DeviceEvent::Weight(reading) if reading.stability == WeightStability::Motion && reading.grams == 1255),
    );

    drop(scale);
    next_matching(&events, "Disconnected", |event| {
        matches!(
            event,
            DeviceEvent::Status {
                status: DeviceStatus::Disconnected { .. },
                ..
            }
        )
    });
    let mut scale = writer(&path);
    next_matching(&events, "Connected again", |event| {
        matches!(
            event,
            DeviceEvent::Status {
                status: DeviceStatus::Connected,
                ..
            }
        )
    });
    scale.write_all(&[3, 6, 2, 0, 0, 0]).unwrap();
    next_matching(
        &events,
        "over capacity",
        |event| matches!(event, DeviceEvent::ScaleState(state) if state.stability == WeightStability::OverCapacity),
    );
    // The writer stays open until the device thread has stopped: a FIFO's open would block it.
    device.shutdown();
    drop(scale);
}

#[test]
fn a_missing_wedge_scanner_is_reported_disconnected_naming_its_path() {
    let (_device, events) = spawn(DeviceSource::WedgeScanner {
        path: "/dev/input/by-id/usb-Missing_Scanner-event-kbd".into(),
        layout: KeyboardLayout::Us,
        terminator: WedgeTerminator::Enter,
        scanner: ScannerConfig::default(),
    });
    next_matching(&events, "Disconnected naming the path", |event| {
        matches!(event, DeviceEvent::Status { status: DeviceStatus::Disconnected { reason }, .. }
            if reason.contains("usb-Missing_Scanner-event-kbd"))
    });
}
