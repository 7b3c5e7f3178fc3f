//! The real `firmware-bridge` binary: `simulate` prints the PTY path first, answers the protocol
//! on it, and takes commands from stdin.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Simulator {
    child: Child,
    lines: Receiver<String>,
}

impl Simulator {
    fn start(args: &[&str]) -> Simulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firmware-bridge"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Simulator { child, lines }
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(TIMEOUT).expect("a stdout line")
    }

    fn command(&mut self, command: &str) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.line()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` on the slave and reads until `until` ends the reply.
fn ask(path: &str, request: &[u8], until: u8) -> Vec<u8> {
    let mut port = serialport::new(path, 9600).timeout(TIMEOUT).open().unwrap();
    port.write_all(request).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while reply.last() != Some(&until) {
        port.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    reply
}

#[test]
fn simulate_scale_prints_its_pty_first_and_answers_polls_and_commands() {
    let mut simulator = Simulator::start(&["simulate", "scale", "--protocol", "sics", "--weight-g", "750"]);
    let path = simulator.line();
    assert!(
        path.starts_with("/dev/pts/"),
        "first line should be the PTY path, got {path:?}"
    );
    assert_eq!(ask(&path, b"SI\r\n", b'\n'), b"S S      0.750 kg\r\n");

    assert_eq!(simulator.command("motion"), "ok motion");
    assert!(ask(&path, b"SI\r\n", b'\n').starts_with(b"S D "));
    assert!(simulator
        .command("fly")
        .starts_with("error: expected one of: weight <grams>"));
}

#[test]
fn simulate_scanner_sends_scans_with_the_chosen_suffix() {
    let mut simulator = Simulator::start(&["simulate", "scanner", "--suffix", "crlf"]);
    let path = simulator.line();
    let mut port = serialport::new(&path, 9600).timeout(TIMEOUT).open().unwrap();
    assert_eq!(
        simulator.command("scan 1Z999AA10123456784"),
        "ok scan 1Z999AA10123456784"
    );
    let mut received = [0u8; 20];
    port.read_exact(&mut received).unwrap();
    assert_eq!(&received, b"1Z999AA10123456784\r\n");
}
