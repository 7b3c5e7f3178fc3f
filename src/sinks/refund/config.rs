//! Settings of a refund sink (`[sinks.refund]` under a `[[sinks]]` entry of kind `refund`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::sinks::common::{read_secret, Secret};

/// How to reach the central refund trigger.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundConfig {
    /// Base URL of the receiver; decisions go to `<url>/refunds`.
    pub url: String,
    /// File holding the shared HMAC-SHA256 key (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the key (used when no file is given).
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Extra CA certificate (PEM) trusted besides the system roots; certificate checks stay on.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_timeout_secs() -> u64 {
    30
}

impl RefundConfig {
    /// Reads the HMAC key from `secret_file` or `secret_env`.
    pub fn read_key(&self) -> Result<Secret, String> {
        let key = read_secret(
            self.secret_file.as_deref(),
            self.secret_env.as_deref(),
            "sinks.refund",
            "the HMAC key",
        )?;
        // A short key makes the signature guessable; 32 bytes is the HMAC-SHA256 block's half.
        if key.expose().len() < 16 {
            return Err("sinks.refund: the HMAC key must be at least 16 characters".into());
        }
        Ok(key)
    }

    /// `<url>/refunds`.
    pub fn endpoint(&self) -> String {
        format!("{}/refunds", self.url.trim_end_matches('/'))
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err((
                "url".into(),
                format!("expected an http:// or https:// URL, found `{}`", self.url),
            ));
        }
        if self.secret_file.is_none() && self.secret_env.is_none() {
            return Err((
                "secret_file".into(),
                "give secret_file or secret_env (the HMAC key)".into(),
            ));
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err(("timeout_secs".into(), "expected 1 to 300".into()));
        }
        Ok(())
    }
}
