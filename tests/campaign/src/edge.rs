//! The edge under test: the real returns-edge binary as a child process on a store that lives
//! across restarts. Starts it, waits until it answers, kills it with SIGKILL (the point of the
//! campaign), pauses it with SIGSTOP/SIGCONT, stops it with SIGTERM, and runs its offline tools.
//! Once it is stopped, its store is opened to read what each Odoo delivery recorded (the picking
//! a receipt says it booked on): no API shows a delivered entry's references.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use returns_edge_fakes::{FakeOdoo, FakeRefund};

/// The site name written in the config; Odoo origins read `RE/<SITE>/<event id>`.
pub const SITE: &str = "campaign";

/// The name of the Odoo sink in the config.
pub const ODOO_SINK: &str = "odoo";

/// Where one event stands for the Odoo sink, as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `Delivered`, `Pending`, `DeadLettered`, `Discarded`.
    pub state: String,
    /// What the sink learnt on the way: `picking`, `wrote:<move>`, `dest:<product>:<location>`…
    pub refs: BTreeMap<String, i64>,
    /// Dead-letter reason, or the note of an entry settled without a remote effect.
    pub note: Option<String>,
}

/// The HMAC key shared with the fake refund receiver (its default).
const REFUND_KEY: &str = "returns-edge-refund-test-key";

#[derive(Debug)]
pub struct Edge {
    binary: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Edge {
    /// Writes the config and secrets under `dir` and creates one supervisor token per station.
    pub fn prepare(
        binary: &Path,
        dir: &Path,
        odoo: &FakeOdoo,
        refund: &FakeRefund,
        stations: usize,
    ) -> anyhow::Result<(Edge, Vec<String>)> {
        let odoo_secret = dir.join("odoo-secret");
        std::fs::write(&odoo_secret, format!("{}\n", odoo.password()))?;
        let refund_key = dir.join("refund-key");
        std::fs::write(&refund_key, format!("{REFUND_KEY}\n"))?;
        let config = dir.join("returns-edge.toml");
        let text = format!(
            r#"site = "{SITE}"
[server]
listen = "127.0.0.1:0"
rate_limit_per_second = 100000
rate_limit_burst = 100000
[store]
data_dir = "{data}"
[delivery]
concurrency = 4
[[sinks]]
name = "{ODOO_SINK}"
kind = "odoo"
[sinks.odoo]
url = "{odoo_url}"
database = "{db}"
login = "{login}"
secret_file = "{odoo_secret}"
timeout_secs = 2
rma_cache = true
rma_sync_interval_secs = 5
[[sinks]]
name = "refunds"
kind = "refund"
[sinks.refund]
url = "{refund_url}"
secret_file = "{refund_key}"
timeout_secs = 2
"#,
            data = dir.join("data").display(),
            odoo_url = odoo.url(),
            db = odoo.db(),
            login = odoo.login(),
            odoo_secret = odoo_secret.display(),
            refund_url = refund.url(),
            refund_key = refund_key.display(),
        );
        std::fs::write(&config, text)?;
        let edge = Edge {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            config,
            child: None,
            starts: 0,
        };
        let mut tokens = Vec::new();
        for i in 0..stations {
            let out = edge.tool(&["token", "create", "--station", &station(i), "--role", "supervisor"])?;
            let token = out.lines().last().unwrap_or_default().trim().to_owned();
            anyhow::ensure!(token.starts_with("re1_"), "token create printed {out:?}");
            tokens.push(token);
        }
        Ok((edge, tokens))
    }

    /// Runs an offline command (`token`, `store check`, …) with the config; its stdout.
    pub fn tool(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = edge_command(&self.binary)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .with_context(|| format!("running {}", self.binary.display()))?;
        if !out.status.success() {
            bail!(
                "`returns-edge {}` failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The Odoo delivery of each event sequence number in `seqs` (offline: stop the server first).
    pub fn odoo_deliveries(&self, seqs: &[u64]) -> anyhow::Result<HashMap<u64, Delivery>> {
        use returns_edge::store::{Store, StoreOptions};
        let store = Store::open(
            &self.dir.join("data"),
            &StoreOptions {
                cache_capacity_bytes: 16 << 20,
                site: None,
            },
        )
        .context("opening the stopped edge's store")?;
        let mut out = HashMap::new();
        for &seq in seqs {
            if let Some(status) = store.delivery_status(ODOO_SINK, seq)? {
                out.insert(
                    seq,
                    Delivery {
                        state: format!("{:?}", status.state),
                        refs: status.entry.refs,
                        note: status.reason,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Starts the server and waits until `/readyz` answers; its address.
    pub async fn start(&mut self) -> anyhow::Result<String> {
        self.starts += 1;
        let log_path = self.dir.join(format!("server-{:04}.log", self.starts));
        let mut child = edge_command(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(&log_path).ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                if let Some(log) = log.as_mut() {
                    let _ = writeln!(log, "{line}");
                }
            }
        });
        // The store may still be held for a moment by the previous (killed) process's lock.
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("the server did not report its address within 60 s (see server-*.log)")?;
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("http://{addr}/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(addr);
                }
            }
            if Instant::now() > deadline {
                bail!("the server at {addr} did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP for `pause`, then SIGCONT: a frozen process whose sockets stay open.
    pub async fn freeze(&self, pause: Duration) {
        if let Some(child) = &self.child {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-STOP", &pid]).status();
            tokio::time::sleep(pause).await;
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
        }
    }

    /// SIGTERM, waiting for a clean exit (killed after 30 s).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::ensure!(status.success(), "the server exited with {status} on SIGTERM");
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the server did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A command for the binary whose only configuration is the campaign's file: `RETURNS_EDGE_*`
/// variables of the caller's environment (which the binary would apply, or refuse as unknown)
/// are not passed on.
fn edge_command(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RETURNS_EDGE_") {
            command.env_remove(name);
        }
    }
    command
}

/// The name of station `i`.
pub fn station(i: usize) -> String {
    format!("dock-{i}")
}
