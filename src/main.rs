//! The `returns-edge` command line (docs/architecture.md#cli-contract): serve, check-config, token management and the
//! store tools. Parses arguments, loads configuration, and hands over to `app`, the store or a
//! running server's HTTP API; owns no logic.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use returns_edge::config::{Config, FlagOverrides, LogFormat};
use returns_edge::domain::{Role, StationId, TokenId};
use returns_edge::store::{Store, StoreError, StoreOptions};
use returns_edge::{app, ingest, tokens};

#[derive(Debug, Parser)]
#[command(name = "returns-edge", version, about = "Edge server for warehouse returns")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (embedded defaults when no --config is given).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on; overrides server.listen.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check a configuration (the defaults, FILE, the environment and these flags, as `serve`
    /// would layer them); exits non-zero naming the bad key and where it was set.
    CheckConfig {
        /// The site's file; without one, the embedded defaults and the environment are checked.
        #[arg(env = "RETURNS_EDGE_CONFIG")]
        file: Option<PathBuf>,
        /// Print the effective configuration, each value with where it came from (default,
        /// file:line, env VAR, flag); secrets are never printed.
        #[arg(long)]
        show: bool,
        /// As `serve --listen`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// As `serve --data-dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Manage station tokens: through a running server with --server (admin token), or offline
    /// in the store while no server runs.
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Delivery status per sink: through a running server with --server, or offline in the store.
    Outbox {
        #[command(subcommand)]
        command: OutboxCmd,
    },
    /// Entries a sink rejected: through a running server with --server (supervisor or admin
    /// token), or offline in the store.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCmd,
    },
    /// Scanners and scales: the configured ones and the serial ports on this machine.
    Devices {
        #[command(subcommand)]
        command: DevicesCmd,
    },
    /// Store tools: check, backup, restore, archive.
    Store {
        #[command(subcommand)]
        command: StoreCmd,
    },
    /// Site qualification: durable ingest over loopback HTTP, the disk's fdatasync limit, and
    /// the footprint (RSS, bytes per event, cold start), in a temporary directory removed afterwards.
    Bench {
        /// Where to create the temporary directory (the disk to qualify); default: the current directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// N: events stored before the footprint is read (1000000 for the full figure).
        #[arg(long, default_value_t = returns_edge::bench::DEFAULT_EVENTS)]
        events: u64,
        /// Seconds per ingest phase and per disk-limit phase.
        #[arg(long, default_value_t = returns_edge::bench::DEFAULT_SECONDS)]
        seconds: u64,
        /// Runs of the ingest and disk-limit phases; the table shows their medians.
        #[arg(long, default_value_t = returns_edge::bench::DEFAULT_RUNS)]
        runs: usize,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Internal: time opening the store in DIR and print it (run by bench itself).
        #[arg(long, hide = true)]
        cold_start_child: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCmd {
    /// Decode every record and verify the indexes and the outbox against the events (offline:
    /// stop the server first). Exit code 0 clean, 1 problems found, 2 the store cannot be opened.
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Write a checksummed, portable backup to FILE: offline, or from a running server with
    /// --server (admin token).
    Backup {
        #[command(flatten)]
        common: Common,
        /// The backup file to write (replaced only once complete).
        file: PathBuf,
        /// Download the backup from this running server instead, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: Option<String>,
        /// Admin token for --server.
        #[arg(long, env = "RETURNS_EDGE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Restore a backup into the data directory (offline). Verifies the checksum, schema and site
    /// before writing anything; refuses a non-empty store unless --force.
    Restore {
        #[command(flatten)]
        common: Common,
        /// The backup file.
        file: PathBuf,
        /// Replace an existing, non-empty store.
        #[arg(long)]
        force: bool,
    },
    /// Archive closed, fully delivered cases older than the retention age to gzip JSON-lines files
    /// and prune them (offline: stop the server first; `serve` does this hourly when
    /// store.retention_days is set). Never touches an undelivered or dead-lettered event.
    Archive {
        #[command(flatten)]
        common: Common,
        /// Age in days of a case's last event before it may go; overrides store.retention_days
        /// (0 archives every closed, settled case).
        #[arg(long)]
        older_than: Option<u64>,
        /// Where the archive files go; overrides store.archive_dir (default <data_dir>/archive).
        #[arg(long)]
        archive_dir: Option<PathBuf>,
    },
}

/// Ends the CLI with a specific exit code (`store check`: 1 problems found, 2 cannot open).
#[derive(Debug)]
struct ExitWith {
    code: u8,
    message: String,
}

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitWith {}

#[derive(Debug, Subcommand)]
enum DevicesCmd {
    /// Every configured device (kind, path, station, whether its path exists now) and the
    /// serial ports present with their USB ids. The running server's live state is at
    /// GET /v1/devices.
    List {
        /// Configuration file (TOML).
        #[arg(long, env = "RETURNS_EDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Also show the live state (connected, last reading, last scan) from a running server,
        /// e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: Option<String>,
        /// Station token for --server.
        #[arg(long, env = "RETURNS_EDGE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCmd {
    /// Pending entries, oldest pending age and dead letters per configured sink.
    Status {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterCmd {
    /// List dead letters with their reasons.
    List {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
    },
    /// Put a dead letter back in the outbox (it keeps its step, so no effect is repeated).
    Replay {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
        /// `<sink>:<seq>` as `dead-letters list` shows it.
        id: String,
    },
    /// Give up on a dead letter; the case's later entries then proceed.
    Discard {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
        /// `<sink>:<seq>` as `dead-letters list` shows it.
        id: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        note: String,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Configuration file (TOML).
    #[arg(long, env = "RETURNS_EDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory; overrides store.data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// A running server to act through instead of opening the store.
#[derive(Debug, clap::Args)]
struct Remote {
    /// Act through this running server, e.g. http://127.0.0.1:8080, instead of opening the store.
    #[arg(long)]
    server: Option<String>,
    /// Token for --server: admin for `token`, supervisor or admin for `dead-letters`, any for `outbox`.
    #[arg(long, env = "RETURNS_EDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Remote {
    /// The server and token when --server is given; --server without a token is an error.
    fn target(&self) -> anyhow::Result<Option<(&str, &str)>> {
        match (&self.server, &self.token) {
            (Some(server), Some(token)) => Ok(Some((server, token))),
            (Some(_), None) => anyhow::bail!("--server needs --token (or RETURNS_EDGE_TOKEN) with an admin token"),
            (None, _) => Ok(None),
        }
    }
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a token; prints it once, as the last line of stdout.
    Create {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
        /// The station the token acts for.
        #[arg(long)]
        station: String,
        /// receiver, inspector, supervisor or admin.
        #[arg(long)]
        role: String,
    },
    /// List tokens (ids, stations, roles; never secrets).
    List {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token by id; a running server refuses it from the next request on.
    Revoke {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
        /// Token id (the part after `re1_`, as `token list` shows it).
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<ExitWith>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Serve { common, listen } => {
            let config = load(&common, listen)?;
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                let app = app::App::build(&config).await?;
                tracing::info!(
                    listen = %app.local_addr(),
                    data_dir = %config.store.data_dir.display(),
                    site = %config.site,
                    sinks = config.sinks.len(),
                    "returns-edge serving."
                );
                app.run(app::shutdown_signal()).await
            })
        }
        Cmd::CheckConfig {
            file,
            show,
            listen,
            data_dir,
        } => {
            let flags = FlagOverrides { listen, data_dir };
            let (config, layers) = Config::load_layered(file.as_deref(), std::env::vars(), &flags)?;
            if show {
                print!("{}", layers.render(file.as_deref()));
            }
            println!(
                "{}{}: ok (site {}, listen {}, data_dir {}, {} sink(s))",
                if show { "# " } else { "" },
                file.as_deref()
                    .map_or("embedded defaults".into(), |f| f.display().to_string()),
                config.site,
                config.server.listen,
                config.store.data_dir.display(),
                config.sinks.len()
            );
            Ok(())
        }
        Cmd::Token { command } => token(command),
        Cmd::Outbox {
            command: OutboxCmd::Status { common, remote },
        } => match remote.target()? {
            Some((server, token)) => outbox_status_live(server, token),
            None => outbox_status(&common),
        },
        Cmd::DeadLetters { command } => dead_letters(command),
        Cmd::Store { command } => store_tool(command),
        Cmd::Bench {
            data_dir,
            events,
            seconds,
            runs,
            json,
            cold_start_child,
        } => bench(data_dir, events, seconds, runs, json, cold_start_child),
        Cmd::Devices {
            command: DevicesCmd::List { config, server, token },
        } => {
            devices_list(config.as_deref())?;
            match (server, token) {
                (Some(server), Some(token)) => devices_live(&server, &token),
                (Some(_), None) => anyhow::bail!("--server needs --token (or RETURNS_EDGE_TOKEN)"),
                _ => Ok(()),
            }
        }
    }
}

fn bench(
    data_dir: Option<PathBuf>,
    events: u64,
    seconds: u64,
    runs: usize,
    json: bool,
    cold_start_child: Option<PathBuf>,
) -> anyhow::Result<()> {
    if let Some(dir) = cold_start_child {
        return returns_edge::bench::cold_start_child(&dir);
    }
    anyhow::ensure!(
        events > 0 && seconds > 0 && runs > 0,
        "--events, --seconds and --runs must be at least 1"
    );
    let options = returns_edge::bench::BenchOptions {
        parent_dir: data_dir.unwrap_or_else(|| PathBuf::from(".")),
        events,
        seconds,
        runs,
        progress: true,
    };
    let report = returns_edge::bench::run(&options)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn devices_list(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = Config::load(file, std::env::vars(), &FlagOverrides::default())?;
    println!("configured devices: {}", config.devices.len());
    println!("{:<24} {:<16} {:<14} {:<9} path", "id", "station", "kind", "present");
    for device in &config.devices {
        let path = returns_edge::devices::path_of(&device.source);
        // Shows where a by-id link points now, or that the device is not plugged in.
        let (present, shown) = match std::fs::canonicalize(path) {
            Ok(target) if target != path => ("yes", format!("{} -> {}", path.display(), target.display())),
            Ok(_) => ("yes", path.display().to_string()),
            Err(_) => ("no", path.display().to_string()),
        };
        println!(
            "{:<24} {:<16} {:<14} {:<9} {}",
            device.id,
            device.station,
            returns_edge::devices::kind_of(&device.source),
            present,
            shown
        );
    }
    let ports = firmware_bridge::list_serial_ports()?;
    println!("serial ports on this machine: {}", ports.len());
    for port in ports {
        let usb = port.usb.map_or("-".to_owned(), |usb| {
            let names = [
                usb.manufacturer,
                usb.product,
                usb.serial_number.map(|s| format!("serial {s}")),
            ];
            let names: Vec<String> = names.into_iter().flatten().collect();
            format!("usb {}:{} {}", usb.vid, usb.pid, names.join(" "))
        });
        let by_id = port.by_id.map_or("-".to_owned(), |link| link.display().to_string());
        println!("{}  {:?}  {}  {}", port.path.display(), port.kind, by_id, usb);
    }
    Ok(())
}

/// Prints the running server's live device state from `GET /v1/devices`.
fn devices_live(server: &str, token: &str) -> anyhow::Result<()> {
    let answer = call_server(server, token, reqwest::Method::GET, "/v1/devices", None)?;
    println!("live state from {server}:");
    println!(
        "{:<24} {:<10} {:<32} last scan / weight not usable because",
        "id", "connected", "last reading"
    );
    for device in answer["devices"].as_array().into_iter().flatten() {
        let reading = &device["last_reading"];
        let reading = if reading.is_null() {
            "-".to_owned()
        } else {
            format!(
                "{} g ({})",
                reading["grams"],
                reading["stability"].as_str().unwrap_or("?")
            )
        };
        let note = device["last_scan"]["code"]
            .as_str()
            .or_else(|| device["weight_not_usable"].as_str())
            .unwrap_or("-");
        println!(
            "{:<24} {:<10} {:<32} {}",
            device["id"].as_str().unwrap_or("?"),
            device["connected"],
            reading,
            note
        );
    }
    Ok(())
}

fn outbox_status(common: &Common) -> anyhow::Result<()> {
    let config = load(common, None)?;
    let store = open_offline(common)?;
    let now = ingest::now_ms();
    println!(
        "{:<16} {:>9} {:>14} {:>12}",
        "sink", "pending", "oldest_age_s", "dead_letters"
    );
    for sink in &config.sinks {
        let counts = store.sink_counts(sink.name.as_str())?;
        let age = counts
            .oldest_pending_ms
            .map_or("-".to_owned(), |at| (now.saturating_sub(at) / 1000).to_string());
        println!(
            "{:<16} {:>9} {:>14} {:>12}",
            sink.name, counts.pending, age, counts.dead_letters
        );
    }
    if config.sinks.is_empty() {
        println!("(no sinks configured)");
    }
    Ok(())
}

/// `outbox status` through a running server: its live view (in flight, paused, counters too).
fn outbox_status_live(server: &str, token: &str) -> anyhow::Result<()> {
    let outbox = call_server(server, token, reqwest::Method::GET, "/v1/outbox", None)?;
    println!(
        "{:<16} {:>9} {:>9} {:>14} {:>12}  paused",
        "sink", "pending", "in_flight", "oldest_age_s", "dead_letters"
    );
    let sinks = outbox["sinks"].as_array().cloned().unwrap_or_default();
    for sink in &sinks {
        let age = sink["oldest_pending_age_s"]
            .as_u64()
            .map_or("-".to_owned(), |a| a.to_string());
        println!(
            "{:<16} {:>9} {:>9} {:>14} {:>12}  {}",
            sink["name"].as_str().unwrap_or("?"),
            sink["pending"],
            sink["in_flight"],
            age,
            sink["dead_letters"],
            sink["paused"].as_str().unwrap_or("-")
        );
    }
    if sinks.is_empty() {
        println!("(no sinks configured)");
    }
    Ok(())
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn dead_letters(command: DeadLetterCmd) -> anyhow::Result<()> {
    let parse = |id: &str| -> anyhow::Result<(String, u64)> {
        let (sink, seq) = id
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("expected <sink>:<seq>, found `{id}`"))?;
        Ok((
            sink.to_owned(),
            seq.parse()
                .map_err(|_| anyhow::anyhow!("expected <sink>:<seq>, found `{id}`"))?,
        ))
    };
    match command {
        DeadLetterCmd::List { remote, .. } if remote.server.is_some() => {
            let (server, token) = remote.target()?.expect("--server given");
            let letters = call_server(server, token, reqwest::Method::GET, "/v1/dead-letters", None)?;
            let letters = letters.as_array().cloned().unwrap_or_default();
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                println!(
                    "{}  case {}  event {}  attempts {}  step {}  reason: {}",
                    l["id"].as_str().unwrap_or("?"),
                    l["case_id"].as_str().unwrap_or("?"),
                    l["event_id"].as_str().unwrap_or("?"),
                    l["attempts"],
                    l["step"],
                    l["reason"].as_str().unwrap_or("")
                );
            }
        }
        DeadLetterCmd::Replay { remote, id, .. } if remote.server.is_some() => {
            let (server, token) = remote.target()?.expect("--server given");
            parse(&id)?;
            call_server(
                server,
                token,
                reqwest::Method::POST,
                &format!("/v1/dead-letters/{id}/replay"),
                None,
            )?;
            println!("{id} is back in the outbox and due now");
        }
        DeadLetterCmd::Discard { remote, id, note, .. } if remote.server.is_some() => {
            let (server, token) = remote.target()?.expect("--server given");
            parse(&id)?;
            let path = format!("/v1/dead-letters/{id}?note={}", encode_query(&note));
            call_server(server, token, reqwest::Method::DELETE, &path, None)?;
            println!("{id} is discarded; the case's later entries proceed");
        }
        DeadLetterCmd::List { common, .. } => {
            let store = open_offline(&common)?;
            let letters = store.dead_letters(None)?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for (sink, letter) in letters {
                println!(
                    "{sink}:{}  case {}  event {}  attempts {}  step {}  reason: {}",
                    letter.entry.seq,
                    letter.entry.case_id,
                    letter.entry.event_id,
                    letter.entry.attempts,
                    letter.entry.step,
                    letter.reason
                );
            }
        }
        DeadLetterCmd::Replay { common, id, .. } => {
            let (sink, seq) = parse(&id)?;
            let store = open_offline(&common)?;
            if !store.replay_dead_letter(&sink, seq)? {
                anyhow::bail!("{id} is not a dead letter; `returns-edge dead-letters list` shows them");
            }
            store.close()?;
            println!("{id} is back in the outbox; it is delivered when the server runs");
        }
        DeadLetterCmd::Discard { common, id, note, .. } => {
            let (sink, seq) = parse(&id)?;
            let store = open_offline(&common)?;
            if !store.discard_dead_letter(&sink, seq, &format!("by the CLI: {note}"), ingest::now_ms())? {
                anyhow::bail!("{id} is not a dead letter; `returns-edge dead-letters list` shows them");
            }
            store.close()?;
            println!("{id} discarded");
        }
    }
    Ok(())
}

fn token(command: TokenCmd) -> anyhow::Result<()> {
    match command {
        TokenCmd::Create {
            common,
            remote,
            station,
            role,
        } => {
            let station = StationId::parse(&station).map_err(|e| anyhow::anyhow!("--station: expected {e}"))?;
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("--role: expected {e}"))?;
            let (record, token) = match remote.target()? {
                Some((server, admin)) => {
                    let body = serde_json::json!({ "station": station, "role": role });
                    let answer = call_server(server, admin, reqwest::Method::POST, "/v1/admin/tokens", Some(body))?;
                    let token = answer["token"].as_str().unwrap_or_default().to_owned();
                    (listed(&answer)?, token)
                }
                None => {
                    let store = open_for_tokens(&common)?;
                    let new = tokens::issue(&store, station, role, cli_actor(), ingest::now_ms())?;
                    store.close()?;
                    (new.record.into(), new.token)
                }
            };
            eprintln!(
                "Created token {} for station {} with role {}. It is shown once; store it now:",
                record.id, record.station, record.role
            );
            println!("{token}");
        }
        TokenCmd::List { common, remote } => {
            let records: Vec<ListedToken> = match remote.target()? {
                Some((server, admin)) => {
                    let answer = call_server(server, admin, reqwest::Method::GET, "/v1/admin/tokens", None)?;
                    answer["tokens"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(listed)
                        .collect::<anyhow::Result<_>>()?
                }
                None => {
                    let store = open_for_tokens(&common)?;
                    let records = tokens::list(&store, cli_actor(), ingest::now_ms())?;
                    store.close()?;
                    records.into_iter().map(ListedToken::from).collect()
                }
            };
            println!(
                "{:<14} {:<24} {:<11} {:<15} revoked_at_ms",
                "id", "station", "role", "created_at_ms"
            );
            for t in records {
                let revoked = t.revoked_at_ms.map_or("-".to_owned(), |ms| ms.to_string());
                println!(
                    "{:<14} {:<24} {:<11} {:<15} {}",
                    t.id, t.station, t.role, t.created_at_ms, revoked
                );
            }
        }
        TokenCmd::Revoke { common, remote, id } => {
            let id = TokenId::parse(&id).map_err(|e| anyhow::anyhow!("token id: expected {e}"))?;
            let unknown = || anyhow::anyhow!("no token with id {id}; `returns-edge token list` shows them");
            match remote.target()? {
                Some((server, admin)) => {
                    let path = format!("/v1/admin/tokens/{id}");
                    call_server(server, admin, reqwest::Method::DELETE, &path, None).map_err(|e| match e
                        .downcast_ref::<ServerAnswer>()
                    {
                        Some(answer) if answer.status == reqwest::StatusCode::NOT_FOUND => unknown(),
                        _ => e,
                    })?;
                }
                None => {
                    let store = open_for_tokens(&common)?;
                    let revoked = tokens::revoke(&store, &id, cli_actor(), ingest::now_ms())?;
                    store.close()?;
                    revoked.ok_or_else(unknown)?;
                }
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// A token as `token list` prints it, from the store or from the server's answer.
#[derive(Debug)]
struct ListedToken {
    id: String,
    station: String,
    role: String,
    created_at_ms: u64,
    revoked_at_ms: Option<u64>,
}

impl From<returns_edge::store::TokenRecord> for ListedToken {
    fn from(record: returns_edge::store::TokenRecord) -> Self {
        ListedToken {
            id: record.id.to_string(),
            station: record.station.to_string(),
            role: record.role.as_str().to_owned(),
            created_at_ms: record.created_at_ms,
            revoked_at_ms: record.revoked_at_ms,
        }
    }
}

/// Reads one token of the admin routes' answers (`TokenView`, or the create answer).
fn listed(value: &serde_json::Value) -> anyhow::Result<ListedToken> {
    let text = |field: &str| {
        value[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("the server's answer has no `{field}`: {value}"))
    };
    Ok(ListedToken {
        id: text("id")?,
        station: text("station")?,
        role: text("role")?,
        created_at_ms: value["created_at_ms"].as_u64().unwrap_or_default(),
        revoked_at_ms: value["revoked_at_ms"].as_u64(),
    })
}

/// Who the offline CLI acts as, for the token audit trail: the OS account, as the environment
/// names it (a hint, not a proof: opening the store needs no token).
fn cli_actor() -> returns_edge::store::TokenActor {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    returns_edge::store::TokenActor::Cli { user }
}

/// Opens the store for the offline token commands; when a running server holds it, says how to
/// do the same through that server instead.
fn open_for_tokens(common: &Common) -> anyhow::Result<Store> {
    open_offline(common).map_err(|e| {
        let held = e
            .chain()
            .any(|cause| matches!(cause.downcast_ref::<StoreError>(), Some(StoreError::Open { reason, .. }) if reason.contains("lock")));
        if held {
            e.context(
                "a running server holds this store: manage tokens through it instead, with --server URL \
                 (e.g. http://127.0.0.1:8080) and an admin token in --token or RETURNS_EDGE_TOKEN",
            )
        } else {
            e
        }
    })
}

/// A server's refusal, kept typed so callers can tell a 404 from the rest.
#[derive(Debug)]
struct ServerAnswer {
    server: String,
    status: reqwest::StatusCode,
    detail: String,
}

impl std::fmt::Display for ServerAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}: {}", self.server, self.status, self.detail)
    }
}

impl std::error::Error for ServerAnswer {}

/// One JSON request to a running server's API with a bearer token; a non-2xx answer becomes a
/// [`ServerAnswer`] carrying the problem's `detail`.
fn call_server(
    server: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", server.trim_end_matches('/')))
            .bearer_auth(token)
            .timeout(std::time::Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {server}"))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ServerAnswer {
                server: server.to_owned(),
                status,
                detail: answer["detail"].as_str().unwrap_or_default().to_owned(),
            }
            .into());
        }
        Ok(answer)
    })
}

fn store_tool(command: StoreCmd) -> anyhow::Result<()> {
    use returns_edge::store::backup;
    match command {
        StoreCmd::Check { common } => {
            let config = load(&common, None)?;
            let dir = &config.store.data_dir;
            let cannot_open = |message: String| ExitWith { code: 2, message };
            if !dir.join("conf").exists() && !dir.join("db").exists() {
                return Err(cannot_open(format!("no store in {}", dir.display())).into());
            }
            let store = open_offline(&common).map_err(|e| cannot_open(format!("{e:#}")))?;
            let sinks: Vec<_> = config
                .sinks
                .iter()
                .map(|s| (s.name.as_str().to_owned(), s.kind))
                .collect();
            let report = store.check(&sinks)?;
            store.close()?;
            println!("{report}");
            if !report.is_clean() {
                return Err(ExitWith {
                    code: 1,
                    message: format!(
                        "store check found {} problem(s) in {}",
                        report.problems.len(),
                        dir.display()
                    ),
                }
                .into());
            }
        }
        StoreCmd::Backup {
            common,
            file,
            server,
            token,
        } => {
            // `FILE.partial` (the whole name, plus a suffix): a backup is only ever found under
            // `FILE` once it has been read back and verified, whichever way it was taken.
            let mut partial = file.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let summary = match (server, token) {
                (Some(server), Some(token)) => {
                    download_backup(&server, &token, &partial)?;
                    backup::verify_file(&partial).context("the downloaded backup does not verify")?
                }
                (Some(_), None) => anyhow::bail!("--server needs --token (or RETURNS_EDGE_TOKEN)"),
                (None, _) => {
                    let store = open_offline(&common)?;
                    let out = std::fs::File::create(&partial)
                        .with_context(|| format!("cannot create {}", partial.display()))?;
                    store.backup_to(&out, ingest::now_ms())?;
                    out.sync_all()?;
                    store.close()?;
                    backup::verify_file(&partial).context("the written backup does not verify")?
                }
            };
            std::fs::rename(&partial, &file)?;
            println!(
                "backup of site {} ({} records, last seq {}, {} bytes) verified and written to {}",
                summary.header.site.as_deref().unwrap_or("-"),
                summary.records,
                summary.header.last_seq,
                summary.bytes,
                file.display()
            );
        }
        StoreCmd::Archive {
            common,
            older_than,
            archive_dir,
        } => {
            let config = load(&common, None)?;
            let days = match (older_than, config.store.retention_days) {
                (Some(days), _) => days,
                (None, 0) => anyhow::bail!(
                    "retention is off (store.retention_days = 0): pass --older-than DAYS to archive anyway"
                ),
                (None, days) => days,
            };
            let archive_dir = archive_dir.unwrap_or_else(|| config.store.archive_dir());
            let now = ingest::now_ms();
            let run = returns_edge::store::retention::RetentionRun {
                archive_dir: archive_dir.clone(),
                cutoff_ms: now.saturating_sub(days.saturating_mul(86_400_000)),
                now_ms: now,
            };
            let store = open_offline(&common)?;
            let summary = store
                .archive(&run)
                .with_context(|| format!("archiving into {}", archive_dir.display()))?;
            store.close()?;
            for file in &summary.files {
                println!("wrote {}", file.display());
            }
            println!(
                "archived {} case(s) with {} event(s) older than {days} day(s) into {} file(s) in {}; pruned {} idempotency record(s); archived up to seq {}",
                summary.cases,
                summary.events,
                summary.files.len(),
                archive_dir.display(),
                summary.idempotency_records,
                summary.archived_up_to
            );
        }
        StoreCmd::Restore { common, file, force } => {
            let config = load(&common, None)?;
            let options = backup::RestoreOptions {
                site: Some(config.site.clone()),
                force,
            };
            let summary = backup::restore(&file, &config.store.data_dir, &options)
                .with_context(|| format!("restoring {} into {}", file.display(), config.store.data_dir.display()))?;
            println!(
                "restored {} records (site {}, last seq {}) into {}",
                summary.records,
                summary.header.site.as_deref().unwrap_or("-"),
                summary.header.last_seq,
                config.store.data_dir.display()
            );
        }
    }
    Ok(())
}

/// Streams `GET /v1/admin/backup` of a running server into `file`.
fn download_backup(server: &str, token: &str, file: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(format!("{}/v1/admin/backup", server.trim_end_matches('/')))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("cannot reach {server}"))?;
        let status = response.status();
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            anyhow::bail!(
                "{server} answered {status}: {}",
                body["detail"].as_str().unwrap_or_default()
            );
        }
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?,
        );
        while let Some(chunk) = response.chunk().await.context("the download broke off")? {
            out.write_all(&chunk)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })
}

fn load(common: &Common, listen: Option<std::net::SocketAddr>) -> anyhow::Result<Config> {
    let flags = FlagOverrides {
        listen,
        data_dir: common.data_dir.clone(),
    };
    Ok(Config::load(common.config.as_deref(), std::env::vars(), &flags)?)
}

/// Opens the store for an offline tool, without recording a site (the server does that).
fn open_offline(common: &Common) -> anyhow::Result<Store> {
    let config = load(common, None)?;
    let options = StoreOptions {
        cache_capacity_bytes: 16 << 20,
        site: None,
    };
    Store::open(&config.store.data_dir, &options)
        .with_context(|| format!("opening the store in {}", config.store.data_dir.display()))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}
