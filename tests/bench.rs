//! `returns-edge bench` as regional IT runs it: the real binary, a short run with `--json`, every
//! figure present and sane, and nothing left behind in the directory it ran in. Performance
//! figures are printed by the command, never asserted on time here.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_returns-edge");

fn number(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("`{field}` is missing or not a number in {value}"))
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn bench_json_has_every_figure_with_sane_values_and_removes_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("RETURNS_EDGE_CONFIG")
        .args(["bench", "--json", "--events", "2000", "--seconds", "1", "--runs", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    assert!(stderr.contains("bench: "), "no progress line on stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    let ingest = report["ingest"].as_array().expect("ingest is a list");
    let stations: Vec<u64> = ingest.iter().map(|i| i["stations"].as_u64().unwrap()).collect();
    assert_eq!(stations, [1, 16, 64]);
    for row in ingest {
        assert!(number(row, "events_per_s") > 0.0, "{row}");
        let (p50, p99, max) = (number(row, "p50_ms"), number(row, "p99_ms"), number(row, "max_ms"));
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{row}");
        let fsyncs = number(row, "fsyncs_per_write");
        assert!(
            fsyncs > 0.0 && fsyncs <= 1.0 + 1e-9,
            "every write waited for a sync, none for two: {row}"
        );
    }
    let limits = report["limit"].as_array().expect("limit is a list");
    assert_eq!(limits.len(), 3);
    for row in limits {
        assert!(number(row, "events_per_s") > 0.0, "{row}");
    }
    assert_eq!(
        number(&report, "limit_events_per_s"),
        number(&limits[2], "events_per_s")
    );
    assert!(number(&report, "limit_ratio") > 0.0);

    // The medians are taken over the runs, each of which is in the report.
    assert_eq!(number(&report, "runs"), 2.0);
    let runs = report["per_run"].as_array().expect("per_run is a list");
    assert_eq!(runs.len(), 2);
    for (level, row) in ingest.iter().enumerate() {
        let rates: Vec<f64> = runs
            .iter()
            .map(|r| number(&r["ingest"][level], "events_per_s"))
            .collect();
        // serde_json's float parsing may differ in the last bit.
        let mean = (rates[0] + rates[1]) / 2.0;
        assert!(
            (number(row, "events_per_s") - mean).abs() <= mean * 1e-9,
            "{row} vs {rates:?}"
        );
    }

    let footprint = &report["footprint"];
    assert!(number(footprint, "rss_idle_mb") > 1.0, "{footprint}");
    assert!(number(footprint, "rss_loaded_mb") >= number(footprint, "rss_idle_mb") * 0.5);
    assert!(
        number(footprint, "events") >= 2000.0,
        "at least N events were stored: {report}"
    );
    assert!(number(footprint, "bytes_per_event") > 0.0);
    let cold = number(footprint, "cold_start_s");
    assert!(cold > 0.0 && cold < 60.0, "cold start in seconds: {cold}");

    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "the temporary data directory is gone"
    );
}

#[test]
fn bench_with_data_dir_works_there_and_leaves_only_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    std::fs::write(disk.join("keep.txt"), "site data").unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "bench",
            "--json",
            "--events",
            "100",
            "--seconds",
            "1",
            "--runs",
            "1",
            "--data-dir",
        ])
        .arg(&disk)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(entries(&disk), ["keep.txt"]);
    assert_eq!(entries(dir.path()), ["disk"]);
}
