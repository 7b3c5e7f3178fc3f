//! The `firmware-bridge` command: device simulators on PTYs, serial port listing, and a watcher
//! that prints a real (or simulated) device's events as JSON lines, for commissioning.
//!
//! `simulate` prints the PTY's slave path as its first stdout line, then reads commands from
//! stdin (one per line) and answers each on stdout. It runs until killed, also after stdin ends.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use firmware_bridge::classify::{classify, ClassifierConfig};
use firmware_bridge::keymap::KeyboardLayout;
use firmware_bridge::scale::{ScaleConfig, ScaleProtocol};
use firmware_bridge::scanner::{Framing, ScannerConfig};
use firmware_bridge::sim::{ScaleSimConfig, ScaleSimulator, ScannerSimulator};
use firmware_bridge::transport::{Backoff, DeviceConfig, DeviceSource, SerialConfig};
use firmware_bridge::wedge::WedgeTerminator;
use firmware_bridge::{list_serial_ports, Device, DeviceEvent, DeviceId};

#[derive(Debug, Parser)]
#[command(
    name = "firmware-bridge",
    version,
    about = "Scanners and scales for returns-edge: simulate, list, watch."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulated device on a new PTY; prints its path first, then reads commands from stdin.
    Simulate {
        #[command(subcommand)]
        device: Simulated,
    },
    /// List the serial ports present, with USB identity and /dev/serial/by-id links (JSON lines).
    Ports,
    /// Read a device and print its events as JSON lines (scans with their classification).
    Watch {
        #[command(subcommand)]
        device: Watched,
    },
}

#[derive(Debug, Subcommand)]
enum Simulated {
    /// A serial scale. Commands: weight <grams>, motion, stable, over, under, zero, unplug, plug.
    Scale {
        #[arg(long, value_parser = parse_protocol)]
        protocol: ScaleProtocol,
        #[arg(long = "weight-g", default_value_t = 0, allow_hyphen_values = true)]
        weight_g: i64,
        /// Keep this symlink pointing at the current PTY (a stable path across unplug/plug).
        #[arg(long)]
        link: Option<PathBuf>,
        /// Streaming interval of continuous protocols (CAS).
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// A serial scanner. Commands: scan <code>, unplug, plug.
    Scanner {
        #[arg(long, value_enum, default_value_t = Suffix::Cr)]
        suffix: Suffix,
        #[arg(long)]
        link: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Suffix {
    Cr,
    Lf,
    Crlf,
    Tab,
    StxEtx,
}

impl From<Suffix> for Framing {
    fn from(suffix: Suffix) -> Framing {
        match suffix {
            Suffix::Cr => Framing::Cr,
            Suffix::Lf => Framing::Lf,
            Suffix::Crlf => Framing::CrLf,
            Suffix::Tab => Framing::Tab,
            Suffix::StxEtx => Framing::StxEtx,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Layout {
    Us,
    Uk,
    De,
    Fr,
}

impl From<Layout> for KeyboardLayout {
    fn from(layout: Layout) -> KeyboardLayout {
        match layout {
            Layout::Us => KeyboardLayout::Us,
            Layout::Uk => KeyboardLayout::Uk,
            Layout::De => KeyboardLayout::De,
            Layout::Fr => KeyboardLayout::Fr,
        }
    }
}

#[derive(Debug, Args)]
struct Line {
    /// The port, preferably /dev/serial/by-id/….
    #[arg(long)]
    path: PathBuf,
    #[arg(long, default_value_t = 9600)]
    baud: u32,
}

#[derive(Debug, Subcommand)]
enum Watched {
    /// A scale on a serial port.
    Scale {
        #[command(flatten)]
        line: Line,
        #[arg(long, value_parser = parse_protocol)]
        protocol: ScaleProtocol,
        #[arg(long, default_value_t = 200)]
        poll_ms: u64,
    },
    /// A scanner on a serial port.
    Scanner {
        #[command(flatten)]
        line: Line,
        #[arg(long, value_enum, default_value_t = Suffix::Cr)]
        suffix: Suffix,
    },
    /// A keyboard-wedge scanner (/dev/input/event* or its /dev/input/by-id link), grabbed.
    Wedge {
        #[arg(long)]
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = Layout::Us)]
        layout: Layout,
    },
    /// A USB HID point-of-sale scale (/dev/hidraw*).
    HidScale {
        #[arg(long)]
        path: PathBuf,
    },
}

fn parse_protocol(text: &str) -> Result<ScaleProtocol, String> {
    text.parse()
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Simulate {
            device:
                Simulated::Scale {
                    protocol,
                    weight_g,
                    link,
                    interval_ms,
                },
        } => {
            let config = ScaleSimConfig {
                protocol,
                initial_grams: weight_g,
                link,
                stream_interval: Duration::from_millis(interval_ms.max(1)),
            };
            let simulator = ScaleSimulator::start(config).context("starting the scale simulator")?;
            println!("{}", simulator.path().context("the simulator has no PTY")?.display());
            serve_stdin(|line| simulator.apply(line).map_err(|error| error.to_string()))
        }
        Command::Simulate {
            device: Simulated::Scanner { suffix, link },
        } => {
            let simulator = ScannerSimulator::start(suffix.into(), link).context("starting the scanner simulator")?;
            println!("{}", simulator.path().context("the simulator has no PTY")?.display());
            serve_stdin(|line| scanner_command(&simulator, line))
        }
        Command::Ports => {
            for port in list_serial_ports()? {
                println!("{}", serde_json::to_string(&port)?);
            }
            Ok(())
        }
        Command::Watch { device } => watch(device),
    }
}

fn scanner_command(simulator: &ScannerSimulator, line: &str) -> Result<String, String> {
    let result = match line.split_once(' ').map_or((line, ""), |(word, rest)| (word, rest)) {
        ("scan", code) if !code.is_empty() => simulator.scan(code).map(|()| format!("ok scan {code}")),
        ("unplug", "") => {
            simulator.unplug();
            Ok("ok unplug".to_owned())
        }
        ("plug", "") => simulator.plug().map(|path| format!("plugged {}", path.display())),
        _ => return Err(format!("expected one of: scan <code>, unplug, plug; found {line:?}")),
    };
    result.map_err(|error| error.to_string())
}

/// Applies stdin lines until stdin ends, then keeps the device alive until the process is killed.
fn serve_stdin(mut apply: impl FnMut(&str) -> Result<String, String>) -> Result<()> {
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match apply(line) {
            Ok(message) => println!("{message}"),
            Err(message) => println!("error: {message}"),
        }
    }
    loop {
        std::thread::park();
    }
}

fn watch(device: Watched) -> Result<()> {
    let source = match device {
        Watched::Scale {
            line,
            protocol,
            poll_ms,
        } => DeviceSource::SerialScale {
            serial: SerialConfig {
                baud: line.baud,
                ..SerialConfig::new(line.path)
            },
            scale: ScaleConfig {
                poll_interval_ms: poll_ms,
                ..ScaleConfig::new(protocol)
            },
        },
        Watched::Scanner { line, suffix } => DeviceSource::SerialScanner {
            serial: SerialConfig {
                baud: line.baud,
                ..SerialConfig::new(line.path)
            },
            scanner: ScannerConfig {
                framing: suffix.into(),
                ..ScannerConfig::default()
            },
        },
        Watched::Wedge { path, layout } => DeviceSource::WedgeScanner {
            path,
            layout: layout.into(),
            terminator: WedgeTerminator::Enter,
            scanner: ScannerConfig::default(),
        },
        Watched::HidScale { path } => DeviceSource::HidScale {
            path,
            report_id: Some(3),
        },
    };
    let (events, received) = mpsc::sync_channel(256);
    let config = DeviceConfig {
        id: DeviceId("watched".into()),
        source,
        reconnect: Backoff::default(),
    };
    let _device = Device::spawn(config, events)?;
    let classifier = ClassifierConfig::default();
    for event in received {
        let line = match &event {
            DeviceEvent::Scan(scan) => serde_json::json!({
                "event": event,
                "class": classify(&scan.code, scan.symbology, &classifier),
            }),
            _ => serde_json::json!({ "event": event }),
        };
        println!("{line}");
    }
    Ok(())
}
