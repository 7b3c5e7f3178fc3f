//! What every HTTP sink needs alike: a secret that never prints, read from a file or an
//! environment variable (never from the config file itself), an HTTP client that verifies TLS
//! with the system roots plus an optional site CA, and the `Retry-After` header.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A password, API key or signing key. Never printed: Debug shows `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret from the first line of `file`, else from the variable `env`. `key` names the
/// config key in errors (e.g. `sinks.refund`), `what` the secret ("the HMAC key").
pub fn read_secret(file: Option<&Path>, env: Option<&str>, key: &str, what: &str) -> Result<Secret, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {key}.secret_file {}: {e}", path.display()))?;
        let first = text.lines().next().unwrap_or_default().trim().to_owned();
        if first.is_empty() {
            return Err(format!("{key}.secret_file {} is empty", path.display()));
        }
        return Ok(Secret(first));
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(Secret)
            .map_err(|_| format!("{key}.secret_env names {var}, which is not set"));
    }
    Err(format!("{key} needs secret_file or secret_env ({what})"))
}

/// An HTTP client with the given timeout; TLS certificates are always verified, against the
/// system roots and `ca_file` (PEM) when given. `key` names the config section in errors.
pub fn http_client(timeout: Duration, ca_file: Option<&PathBuf>, key: &str) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {key}.ca_file {}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("{key}.ca_file {} is not a PEM certificate: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The delay a `Retry-After: <seconds>` header asks for (the HTTP-date form is not used by the
/// services we talk to, and a wrong guess only shortens one wait).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
