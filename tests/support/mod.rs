//! The shipped binary as a child process, for integration tests that must run exactly what
//! operators run: a store in a temp directory, tokens made with the `token` command, `serve` on a
//! free loopback port. Include it with `mod support;`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_returns-edge");

/// A command of the binary run in `dir`, with no configuration from the environment and the
/// per-station rate limit raised out of the way: tests that send thousands of requests from one
/// token are not testing the limit.
pub fn bin(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("RETURNS_EDGE_CONFIG")
        .env("NO_COLOR", "1")
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_PER_SECOND", "100000")
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_BURST", "100000");
    cmd
}

/// Creates a token with the `token create` command (the server must not be running on `data`)
/// and returns the bearer token, which the command prints last.
pub fn create_token(dir: &Path, data: &Path, station: &str, role: &str) -> String {
    let out = bin(dir)
        .args(["token", "create", "--station", station, "--role", role, "--data-dir"])
        .arg(data)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .last()
        .expect("the token on the last line")
        .trim()
        .to_owned()
}

/// `serve` on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct RealServer {
    child: Child,
    /// `127.0.0.1:<port>`
    pub addr: String,
}

impl RealServer {
    pub fn start(dir: &Path, data: &Path) -> RealServer {
        let mut child = bin(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let addr = wait_for_listen(&mut child);
        RealServer { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's log until it says where it listens; keeps draining it afterwards so the
/// server never blocks on a full pipe.
fn wait_for_listen(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the server did not report its address")
}
