//! The hub fed with events directly (no ports): routing per station, the stable-weight answer
//! for receipts, and a slow subscriber losing only its own oldest events.

use firmware_bridge::{DeviceEvent, DeviceId, DeviceStatus, ScaleReading, ScanEvent, WeightStability};
use futures_util::StreamExt;

use super::*;
use crate::config::{DeviceEntry, DeviceSettings};

fn entries() -> Vec<DeviceEntry> {
    let toml = r#"
        [[devices]]
        id = "dock-1-scanner"
        station = "dock-1"
        source = { kind = "serial_scanner", serial = { path = "/dev/a" } }
        [[devices]]
        id = "dock-1-scale"
        station = "dock-1"
        source = { kind = "serial_scale", serial = { path = "/dev/b" }, scale = { protocol = "nci" } }
        [[devices]]
        id = "dock-2-scanner"
        station = "dock-2"
        source = { kind = "serial_scanner", serial = { path = "/dev/c" } }
    "#;
    #[derive(serde::Deserialize)]
    struct Devices {
        devices: Vec<DeviceEntry>,
    }
    toml::from_str::<Devices>(toml).expect("valid devices").devices
}

fn hub(stream_buffer: u64) -> DeviceHub {
    let settings = DeviceSettings {
        stream_buffer,
        ..DeviceSettings::default()
    };
    DeviceHub::new(&entries(), &settings)
}

fn station(name: &str) -> StationId {
    StationId::parse(name).expect("a station id")
}

fn scan(device: &str, code: &str) -> DeviceEvent {
    DeviceEvent::Scan(ScanEvent {
        device: DeviceId(device.into()),
        code: code.into(),
        symbology: None,
        at_ms: 1_000,
    })
}

fn weight(grams: i64, stability: WeightStability, at_ms: u64) -> DeviceEvent {
    DeviceEvent::Weight(ScaleReading {
        device: DeviceId("dock-1-scale".into()),
        grams,
        resolution_g: 1,
        stability,
        at_zero: false,
        at_ms,
    })
}

fn status(device: &str, status: DeviceStatus) -> DeviceEvent {
    DeviceEvent::Status {
        device: DeviceId(device.into()),
        status,
        at_ms: 1_000,
    }
}

async fn next(stream: &mut (impl Stream<Item = StreamItem> + Unpin)) -> StreamItem {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
        .expect("the stream is open")
}

#[tokio::test]
async fn a_scan_goes_to_its_station_only_with_its_classification() {
    let hub = hub(16);
    let mut dock1 = Box::pin(hub.subscribe(&station("dock-1")));
    let mut dock2 = Box::pin(hub.subscribe(&station("dock-2")));
    hub.observe(&scan("dock-1-scanner", "1Z999AA10123456784"), 1_000);
    hub.observe(&scan("dock-2-scanner", "marker"), 1_000);
    let StreamItem::Event(StationEvent::Scan(seen)) = next(&mut dock1).await else {
        panic!("expected a scan")
    };
    assert_eq!(seen.code, "1Z999AA10123456784");
    assert!(matches!(seen.classification, BarcodeClass::Ups { .. }), "{seen:?}");
    let StreamItem::Event(StationEvent::Scan(seen)) = next(&mut dock2).await else {
        panic!("expected a scan")
    };
    assert_eq!(seen.code, "marker", "dock-2 saw dock-1's scan first");
}

#[tokio::test]
async fn a_new_subscriber_first_hears_the_current_device_states() {
    let hub = hub(16);
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), 1_000);
    let mut dock1 = Box::pin(hub.subscribe(&station("dock-1")));
    let StreamItem::Event(StationEvent::Device(device)) = next(&mut dock1).await else {
        panic!("expected a device event")
    };
    assert_eq!((device.device.0.as_str(), device.state), ("dock-1-scale", "connected"));
}

#[test]
fn the_stable_weight_is_given_only_when_usable_and_says_why_not_otherwise() {
    let hub = hub(16);
    let scale = DeviceId("dock-1-scale".into());
    assert_eq!(hub.stable_weight(&scale, 1_000), Err(WhyNot::NoReading));
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), 1_000);
    hub.observe(&weight(1250, WeightStability::Stable, 1_000), 1_000);
    assert_eq!(hub.stable_weight(&scale, 1_100).map(|r| r.grams), Ok(1250));
    assert_eq!(hub.stable_weight(&scale, 10_000), Err(WhyNot::TooOld { age_ms: 9_000 }));
    hub.observe(&weight(1300, WeightStability::Motion, 1_200), 1_200);
    assert_eq!(hub.stable_weight(&scale, 1_300), Err(WhyNot::Motion));
    hub.observe(&weight(90_000, WeightStability::OverCapacity, 1_300), 1_300);
    assert_eq!(hub.stable_weight(&scale, 1_400), Err(WhyNot::OverCapacity));
    hub.observe(&weight(1250, WeightStability::Stable, 1_400), 1_400);
    hub.observe(
        &status("dock-1-scale", DeviceStatus::Disconnected { reason: "gone".into() }),
        1_500,
    );
    assert_eq!(
        hub.stable_weight(&scale, 1_500),
        Err(WhyNot::Disconnected("gone".into()))
    );

    let unknown = hub.stable_weight(&DeviceId("nope".into()), 1_000).unwrap_err();
    assert!(unknown.is_unknown());
    let scanner = hub
        .stable_weight(&DeviceId("dock-1-scanner".into()), 1_000)
        .unwrap_err();
    assert_eq!(scanner, WhyNot::NotAScale("dock-1-scanner".into()));
    assert!(!WhyNot::Motion.is_unknown());
}

#[tokio::test]
async fn a_slow_subscriber_loses_its_oldest_events_and_is_told_how_many() {
    let hub = hub(8);
    let mut slow = Box::pin(hub.subscribe(&station("dock-1")));
    let mut fast = Box::pin(hub.subscribe(&station("dock-1")));
    for i in 0..20 {
        hub.observe(&scan("dock-1-scanner", &format!("code-{i}")), 1_000);
        let StreamItem::Event(StationEvent::Scan(seen)) = next(&mut fast).await else {
            panic!("the fast subscriber lost an event")
        };
        assert_eq!(seen.code, format!("code-{i}"));
    }
    assert_eq!(next(&mut slow).await, StreamItem::Lagged { missed: 12 });
    let StreamItem::Event(StationEvent::Scan(seen)) = next(&mut slow).await else {
        panic!("expected the oldest kept scan")
    };
    assert_eq!(seen.code, "code-12");
}

#[tokio::test]
async fn closing_ends_every_stream() {
    let hub = hub(8);
    let mut with_devices = Box::pin(hub.subscribe(&station("dock-1")));
    let mut without = Box::pin(hub.subscribe(&station("dock-9")));
    hub.close_streams();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        (with_devices.next().await, without.next().await)
    });
    assert_eq!(ended.await.expect("streams end within 5 s"), (None, None));
}

#[test]
fn the_snapshot_lists_every_device_with_its_state() {
    let hub = hub(8);
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), 1_000);
    hub.observe(&weight(1250, WeightStability::Motion, 1_000), 1_000);
    let snapshot = hub.snapshot();
    let ids: Vec<&str> = snapshot.iter().map(|d| d.id.0.as_str()).collect();
    assert_eq!(ids, ["dock-1-scale", "dock-1-scanner", "dock-2-scanner"]);
    assert!(snapshot[0].connected);
    assert_eq!(snapshot[0].kind, "serial_scale");
    assert_eq!(snapshot[0].last_reading.as_ref().map(|r| r.grams), Some(1250));
    assert_eq!(snapshot[0].weight_not_usable.as_deref(), Some("the scale is in motion"));
    assert!(!snapshot[1].connected && snapshot[1].status.is_none());
}

#[test]
fn the_connected_gauge_has_one_line_per_device() {
    let hub = hub(8);
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), 1_000);
    let text = hub.prometheus_text();
    assert!(
        text.contains("returns_edge_device_connected{device=\"dock-1-scale\",station=\"dock-1\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("returns_edge_device_connected{device=\"dock-2-scanner\",station=\"dock-2\"} 0\n"),
        "{text}"
    );
    assert_eq!(DeviceHub::disabled().prometheus_text(), "");
}

#[test]
fn the_reading_age_counts_from_the_last_reading_and_from_start_for_a_silent_device() {
    let hub = hub(8);
    let started = hub.inner.started_at_ms;
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), started + 500);
    hub.observe(&weight(1250, WeightStability::Stable, started + 1_000), started + 1_000);
    hub.observe(&scan("dock-1-scanner", "X1"), started + 4_000);
    // A status change is not a reading: the scale's age still counts from its weight.
    hub.observe(&status("dock-1-scale", DeviceStatus::Connected), started + 9_000);
    let text = hub.prometheus_text_at(started + 10_000);
    let line = |device: &str, station: &str, kind: &str, age: &str| {
        format!(
            "returns_edge_device_last_reading_age_seconds{{device=\"{device}\",station=\"{station}\",kind=\"{kind}\"}} {age}\n"
        )
    };
    for want in [
        line("dock-1-scale", "dock-1", "serial_scale", "9"),
        line("dock-1-scanner", "dock-1", "serial_scanner", "6"),
        line("dock-2-scanner", "dock-2", "serial_scanner", "10"),
    ] {
        assert!(text.contains(&want), "missing `{want}` in\n{text}");
    }
    assert!(text.contains("# TYPE returns_edge_device_last_reading_age_seconds gauge\n"));
}
