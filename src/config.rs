//! Configuration: the embedded `config/returns-edge.toml`, then the site's file (any subset of
//! keys), then `RETURNS_EDGE_…` environment variables, then command-line flags; validated once
//! into typed settings. Nothing downstream re-reads or re-checks configuration.
//!
//! The layers are merged as TOML tables before typing (`layers.rs`), so a partial file is held to
//! the same strict rules as a complete one: unknown keys are refused, with the file and line (or
//! the variable, or the flag) that set them. `check-config` exists so that a broken line is found
//! before a restart, not by one; `check-config --show` prints what a server would run with.

mod layers;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::domain::{Policy, ScaleId, SiteId, StationId};
use crate::sinks::{SinkKind, SinkName};
use layers::Seg;
pub use layers::{Layered, Source};

/// The embedded defaults, also shipped as `config/returns-edge.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/returns-edge.toml");

/// Validated settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteId,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Scanners and scales attached to stations (`[[devices]]`); none by default.
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
    #[serde(default)]
    pub device_settings: DeviceSettings,
}

/// One device (`[[devices]]`): the firmware-bridge device settings plus the station it belongs to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// Names the device in events, in `GET /v1/devices` and in a receipt's `scale`.
    pub id: firmware_bridge::DeviceId,
    /// The station whose live stream gets this device's events.
    pub station: StationId,
    /// Where the bytes come from and how they are decoded (firmware-bridge's `DeviceSource`).
    pub source: firmware_bridge::DeviceSource,
    #[serde(default)]
    pub reconnect: firmware_bridge::transport::Backoff,
}

impl DeviceEntry {
    /// The firmware-bridge configuration of this device.
    pub fn device_config(&self) -> firmware_bridge::DeviceConfig {
        firmware_bridge::DeviceConfig {
            id: self.id.clone(),
            source: self.source.clone(),
            reconnect: self.reconnect,
        }
    }
}

/// Settings shared by all devices (`[device_settings]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceSettings {
    /// Events kept per station for a slow live-stream client before it loses the oldest.
    #[serde(deserialize_with = "in_range::<_, 8, 65_536>")]
    pub stream_buffer: u64,
    /// Seconds between keep-alive comments on an idle live stream.
    #[serde(deserialize_with = "in_range::<_, 1, 300>")]
    pub keep_alive_secs: u64,
    /// Capacity of the one channel from the device threads to the server.
    #[serde(deserialize_with = "in_range::<_, 8, 65_536>")]
    pub channel_capacity: u64,
    /// When a scale's weight may go into a receipt (firmware-bridge's `StableRule`).
    pub stable: firmware_bridge::StableRule,
    /// The site's RMA label pattern for scan classification (firmware-bridge's `ClassifierConfig`).
    pub classifier: firmware_bridge::ClassifierConfig,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            stream_buffer: 256,
            keep_alive_secs: 15,
            channel_capacity: 1024,
            stable: firmware_bridge::StableRule::default(),
            classifier: firmware_bridge::ClassifierConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Deliveries running at once per sink (different cases; one case is always in order).
    #[serde(deserialize_with = "in_range::<_, 1, 64>")]
    pub concurrency: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig { concurrency: 4 }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    #[serde(deserialize_with = "in_range::<_, 1024, 1_048_576>")]
    pub max_body_bytes: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 300>")]
    pub request_timeout_secs: u64,
    /// Requests per second each station token may make, sustained (1 – 100000).
    #[serde(deserialize_with = "in_range::<_, 1, 100_000>")]
    pub rate_limit_per_second: u64,
    /// Requests a token may make in a burst above the sustained rate (1 – 100000).
    #[serde(deserialize_with = "in_range::<_, 1, 100_000>")]
    pub rate_limit_burst: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 65_536,
            request_timeout_secs: 30,
            rate_limit_per_second: 50,
            rate_limit_burst: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    #[serde(deserialize_with = "in_range::<_, 4, 1024>")]
    pub cache_capacity_mb: u64,
    /// Closed, fully delivered cases older than this many days are archived and pruned; 0 keeps
    /// everything forever (the default: what may be deleted is the site's decision).
    #[serde(deserialize_with = "in_range::<_, 0, 36_500>")]
    pub retention_days: u64,
    /// Where retention writes its archive files; empty means `<data_dir>/archive`.
    #[serde(deserialize_with = "empty_is_none")]
    pub archive_dir: Option<PathBuf>,
    /// New events are refused (507) while the store's file system has less free than this; 0
    /// turns the guard off.
    #[serde(deserialize_with = "in_range::<_, 0, 1_048_576>")]
    pub min_free_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("./data"),
            cache_capacity_mb: 32,
            retention_days: 0,
            archive_dir: None,
            min_free_mb: 128,
        }
    }
}

impl StoreConfig {
    /// The archive directory: `archive_dir`, or `<data_dir>/archive`.
    pub fn archive_dir(&self) -> PathBuf {
        self.archive_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("archive"))
    }
}

/// An empty path string is "not set" (TOML has no null, and the env override needs a value).
fn empty_is_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = PathBuf::deserialize(d)?;
    Ok((!path.as_os_str().is_empty()).then_some(path))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Human,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The return policy file (see `config/policy.toml`); `None`: the embedded one.
    pub file: Option<PathBuf>,
    /// The loaded, validated policy (filled by `Config::load`).
    #[serde(skip)]
    pub rules: Policy,
}

impl PolicyConfig {
    pub fn policy(&self) -> Policy {
        self.rules.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: SinkName,
    pub kind: SinkKind,
    /// Settings of an `odoo` sink (required for that kind).
    #[serde(default)]
    pub odoo: Option<crate::sinks::odoo::OdooConfig>,
    /// Settings of a `refund` sink (required for that kind).
    #[serde(default)]
    pub refund: Option<crate::sinks::refund::RefundConfig>,
}

/// Overrides given on the command line; `None` leaves the configured value.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

/// Why configuration could not be loaded. Each names the file, variable or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// TOML syntax or a bad value in the file; the message carries line, column and key.
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    /// An environment variable could not be applied.
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// A value that is fine alone but not with the others.
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// A key refused where it was set: `origin` is the file and line, the environment variable
    /// or the flag.
    #[error("{origin}: key `{key}`: {message}")]
    At {
        origin: String,
        key: String,
        message: String,
    },
}

impl Config {
    /// Loads the layers (embedded defaults, the file if any, environment, flags) into settings.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        Self::load_layered(file, env, flags).map(|(config, _)| config)
    }

    /// [`Config::load`], also handing back the layers: where each value came from, for
    /// `check-config --show`.
    pub fn load_layered(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<(Config, Layered), ConfigError> {
        let text = file
            .map(|path| {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            })
            .transpose()?;
        let mut layers = Layered::build(file.zip(text.as_deref()), env)?;
        // Typed from the merged table, so a partial file is judged by the same strict rules as a
        // whole one; the error's key path finds the layer and line that set the key.
        let mut config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(layers.table.clone())).map_err(|e| {
                let path = key_path(e.path());
                layers.error_at(&path, e.inner().message().trim())
            })?;
        if let Some(listen) = flags.listen {
            config.server.listen = listen;
            layers.set_flag(
                &["server", "listen"],
                "--listen",
                toml::Value::String(listen.to_string()),
            );
        }
        if let Some(dir) = &flags.data_dir {
            config.store.data_dir = dir.clone();
            let shown = toml::Value::String(dir.display().to_string());
            layers.set_flag(&["store", "data_dir"], "--data-dir", shown);
        }
        config.validate().map_err(|e| placed(&layers, e))?;
        config.policy.rules = crate::policy_file::load(config.policy.file.as_deref())?;
        config.validate_against_policy().map_err(|e| placed(&layers, e))?;
        Ok((config, layers))
    }

    /// What needs the loaded policy: each Odoo sink has a location for every disposition the
    /// policy lets a station give, so none is found missing one dead letter at a time.
    fn validate_against_policy(&self) -> Result<(), ConfigError> {
        for (i, sink) in self.sinks.iter().enumerate() {
            if let Some(odoo) = &sink.odoo {
                odoo.check_dispositions(&self.policy.rules)
                    .map_err(|(key, message)| ConfigError::Invalid {
                        key: format!("sinks[{i}].odoo.{key}"),
                        message,
                    })?;
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            if !seen.insert(&sink.name) {
                return Err(ConfigError::Invalid {
                    key: format!("sinks[{i}].name"),
                    message: format!("sink name `{}` is used twice; names must be unique", sink.name),
                });
            }
            let section = |key: &str, message: String| ConfigError::Invalid {
                key: format!("sinks[{i}].{key}"),
                message,
            };
            match (sink.kind, &sink.odoo, &sink.refund) {
                (SinkKind::Odoo, Some(odoo), None) => odoo
                    .validate()
                    .map_err(|(key, message)| section(&format!("odoo.{key}"), message))?,
                (SinkKind::Refund, None, Some(refund)) => refund
                    .validate()
                    .map_err(|(key, message)| section(&format!("refund.{key}"), message))?,
                (SinkKind::Odoo, None, _) => {
                    return Err(section(
                        "odoo",
                        "a sink of kind `odoo` needs a [sinks.odoo] table (url, database, login, secret)".into(),
                    ))
                }
                (SinkKind::Refund, _, None) => {
                    return Err(section(
                        "refund",
                        "a sink of kind `refund` needs a [sinks.refund] table (url, secret_file or secret_env)".into(),
                    ))
                }
                (SinkKind::Nats, None, None) => {
                    return Err(section(
                        "kind",
                        "the `nats` sink is not available in this version; use `odoo` or `refund`".into(),
                    ))
                }
                (kind, odoo, _) => {
                    // The table that does not belong to this kind.
                    let stray = if kind != SinkKind::Odoo && odoo.is_some() {
                        "odoo"
                    } else {
                        "refund"
                    };
                    return Err(section(
                        stray,
                        format!("a sink of kind `{kind:?}` takes no [sinks.{stray}] table; remove it"),
                    ));
                }
            }
        }
        let caches: Vec<usize> = (0..self.sinks.len())
            .filter(|i| self.sinks[*i].odoo.as_ref().is_some_and(|o| o.rma_cache))
            .collect();
        if let [_, second, ..] = caches.as_slice() {
            return Err(ConfigError::Invalid {
                key: format!("sinks[{second}].odoo.rma_cache"),
                message: "only one Odoo sink may feed the RMA cache (one cache per site)".into(),
            });
        }
        self.validate_devices()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| ConfigError::Invalid {
            key: "log.level".into(),
            message: format!("expected a tracing filter such as `info` or `returns_edge=debug`: {e}"),
        })?;
        Ok(())
    }

    /// Device ids are unique and usable as a receipt's `scale`; no two devices share a path; the
    /// stable rule needs at least one reading.
    fn validate_devices(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        let mut paths = HashSet::new();
        for (i, device) in self.devices.iter().enumerate() {
            if let Err(e) = ScaleId::parse(&device.id.0) {
                return Err(ConfigError::Invalid {
                    key: format!("devices[{i}].id"),
                    message: format!("expected {}", e.expected),
                });
            }
            if !ids.insert(&device.id) {
                return Err(ConfigError::Invalid {
                    key: format!("devices[{i}].id"),
                    message: format!("device id `{}` is used twice; ids must be unique", device.id),
                });
            }
            let path = match &device.source {
                firmware_bridge::DeviceSource::SerialScanner { serial, .. }
                | firmware_bridge::DeviceSource::SerialScale { serial, .. } => &serial.path,
                firmware_bridge::DeviceSource::WedgeScanner { path, .. }
                | firmware_bridge::DeviceSource::HidScale { path, .. } => path,
            };
            if !paths.insert(path) {
                return Err(ConfigError::Invalid {
                    key: format!("devices[{i}].source"),
                    message: format!("{} is already used by another device", path.display()),
                });
            }
        }
        if self.device_settings.stable.identical_n == 0 {
            return Err(ConfigError::Invalid {
                key: "device_settings.stable.identical_n".into(),
                message: "expected at least 1".into(),
            });
        }
        Ok(())
    }

    /// The environment variables this build understands, with the key each overrides.
    pub fn env_vars() -> BTreeMap<String, Vec<String>> {
        layers::env_vars()
    }
}

/// serde_path_to_error's path as ours; it stops where serde stopped seeing keys (inside an
/// internally tagged enum, at the enum's table).
fn key_path(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .map_while(|segment| match segment {
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// A validation error about a key some layer other than the defaults set, placed at that layer
/// (file line, variable, flag). Errors about the defaults themselves stay as they are.
fn placed(layers: &Layered, error: ConfigError) -> ConfigError {
    match error {
        ConfigError::Invalid { key, message } => {
            let path = layers::parse_dotted(&key);
            match layers.source_of(&path) {
                Source::Default => ConfigError::Invalid { key, message },
                _ => layers.error_at(&path, message),
            }
        }
        other => other,
    }
}

fn in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(d: D) -> Result<u64, D::Error> {
    let value = u64::deserialize(d)?;
    if (MIN..=MAX).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected an integer from {MIN} to {MAX}, found {value}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), [], &FlagOverrides::default())
    }

    #[test]
    fn the_embedded_file_is_the_default() {
        let config = Config::load(None, [], &FlagOverrides::default()).unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.store, StoreConfig::default());
        assert_eq!(config.log, LogConfig::default());
        assert_eq!(config.policy, PolicyConfig::default());
        assert_eq!(config.delivery, DeliveryConfig::default());
        assert_eq!(config.site.as_str(), "site-1");
        assert!(config.sinks.is_empty());
    }

    #[test]
    fn a_file_holding_only_what_it_changes_loads_with_every_other_key_from_the_defaults() {
        let config = load_text("# dock west\n[server]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
        assert_eq!(config.site.as_str(), "site-1");
        assert_eq!(config.server.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.server.max_body_bytes, ServerConfig::default().max_body_bytes);
        assert_eq!(config.store, StoreConfig::default());
        assert_eq!(config.device_settings, DeviceSettings::default());
        let config = load_text("").unwrap();
        assert_eq!(config, Config::load(None, [], &FlagOverrides::default()).unwrap());
    }

    #[test]
    fn errors_name_the_layer_that_set_the_key_and_only_serdes_message() {
        let err = load_text("[server]\nlisten = 5\n").unwrap_err().to_string();
        assert!(err.contains("line 2: key `server.listen`: invalid type"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        let env = vec![("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB".to_owned(), "2".to_owned())];
        let err = Config::load(None, env, &FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable RETURNS_EDGE_STORE_CACHE_CAPACITY_MB: key `store.cache_capacity_mb`: \
             expected an integer from 4 to 1024, found 2"
        );
        // A rule across keys is placed too: at the second sink's name, line 10.
        let text = format!(
            "[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}"
        );
        let err = load_text(&text).unwrap_err().to_string();
        assert!(err.contains("line 10: key `sinks[1].name`"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = load_text("site = \"s\"\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 4"), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_line_and_expectation() {
        let err = load_text("site = \"s\"\n\n[store]\ncache_capacity_mb = 5000\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 4") && text.contains("from 4 to 1024"), "{text}");
        let err = load_text("site = \"s\"\n[policy]\nsupervisor_dispositions = [\"burn\"]\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let err = load_text("site = \"bad site\"\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    const ODOO: &str =
        "[sinks.odoo]\nurl = \"http://127.0.0.1:8069\"\ndatabase = \"d\"\nlogin = \"a\"\nsecret_env = \"X\"\n";

    #[test]
    fn duplicate_sink_names_are_refused() {
        let text = format!("site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}");
        let err = load_text(&text).unwrap_err();
        assert!(err.to_string().contains("sinks[1].name"), "{err}");
    }

    #[test]
    fn an_odoo_sink_is_validated_naming_the_key() {
        let ok = format!("site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}");
        let config = load_text(&ok).unwrap();
        assert_eq!(config.sinks[0].odoo.as_ref().unwrap().database, "d");
        let err = load_text("site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n").unwrap_err();
        assert!(err.to_string().contains("sinks[0].odoo"), "{err}");
        let bad_url = ok.replace("http://127.0.0.1:8069", "ftp://x");
        assert!(load_text(&bad_url)
            .unwrap_err()
            .to_string()
            .contains("sinks[0].odoo.url"));
        let typo = ok.replace("database", "databse");
        assert!(load_text(&typo).unwrap_err().to_string().contains("databse"));
    }

    #[test]
    fn rma_cache_settings_are_validated_naming_the_key() {
        let base = format!("site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}");
        let config = load_text(&format!(
            "{base}rma_cache = true\ntracking_field = \"carrier_tracking_ref\"\n"
        ))
        .unwrap();
        let odoo = config.sinks[0].odoo.as_ref().unwrap();
        assert!(odoo.rma_cache);
        assert_eq!(odoo.rma_sync_interval_secs, 60);
        assert_eq!(odoo.tracking_field.as_deref(), Some("carrier_tracking_ref"));
        let err = load_text(&format!("{base}rma_sync_interval_secs = 1\n")).unwrap_err();
        assert!(
            err.to_string().contains("sinks[0].odoo.rma_sync_interval_secs"),
            "{err}"
        );
        let err = load_text(&format!("{base}tracking_field = \"x'; drop\"\n")).unwrap_err();
        assert!(err.to_string().contains("sinks[0].odoo.tracking_field"), "{err}");
        let second = format!("[[sinks]]\nname = \"odoo2\"\nkind = \"odoo\"\n{ODOO}");
        let err = load_text(&format!("{base}rma_cache = true\n{second}rma_cache = true\n")).unwrap_err();
        assert!(err.to_string().contains("sinks[1].odoo.rma_cache"), "{err}");
    }

    #[test]
    fn a_site_dispositions_table_keeps_the_defaults_it_does_not_name() {
        let text = format!(
            "site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}[sinks.odoo.dispositions]\nrefurbish = \"WH/Repair\"\n"
        );
        let config = load_text(&text).unwrap();
        let map = &config.sinks[0].odoo.as_ref().unwrap().dispositions;
        let name = |d| map.get(&d).map(ToString::to_string);
        assert_eq!(
            name(crate::domain::Disposition::Refurbish).as_deref(),
            Some("WH/Repair")
        );
        assert_eq!(name(crate::domain::Disposition::Restock).as_deref(), Some("WH/Stock"));
        assert_eq!(name(crate::domain::Disposition::Recycle).as_deref(), Some("WH/Recycle"));
    }

    #[test]
    fn an_odoo_sink_without_a_location_for_a_disposition_the_policy_gives_is_refused() {
        let base = format!("site = \"s\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n{ODOO}");
        assert!(load_text(&base).is_ok());
        let err = load_text(&format!("{base}[sinks.odoo.dispositions]\nrecycle = \"\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("sinks[0].odoo.dispositions.recycle") && text.contains("grade F"),
            "{text}"
        );
        // A policy file that suggests another disposition is named as the reason.
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        let donate_f = crate::policy_file::DEFAULT_POLICY_TOML.replace(
            "[grades.F]\ndisposition = \"recycle\"",
            "[grades.F]\ndisposition = \"donate\"",
        );
        assert_ne!(donate_f, crate::policy_file::DEFAULT_POLICY_TOML);
        std::fs::write(&policy, donate_f).unwrap();
        let text = format!(
            "{}[sinks.odoo.dispositions]\ndonate = \"\"\n",
            base.replacen("\n", &format!("\n[policy]\nfile = \"{}\"\n", policy.display()), 1)
        );
        let err = load_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("sinks[0].odoo.dispositions.donate") && err.contains("grade F"),
            "{err}"
        );
    }

    /// The commented `[[sinks]]` example at the end of the shipped file, uncommented.
    fn shipped_odoo_example() -> String {
        let start = DEFAULT_TOML
            .find("# [[sinks]]")
            .expect("the shipped file has a sink example");
        let mut out = String::from("site = \"s\"\n");
        for line in DEFAULT_TOML[start..].lines() {
            out.push_str(line.strip_prefix("# ").unwrap_or(line));
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_shipped_odoo_example_loads_with_the_default_dispositions() {
        let text = shipped_odoo_example();
        let config = load_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let odoo = config.sinks[0].odoo.as_ref().unwrap();
        let defaults: crate::sinks::odoo::OdooConfig = toml::from_str("url = \"http://x\"\ndatabase = \"d\"").unwrap();
        assert_eq!(odoo.dispositions, defaults.dispositions);
        assert!(text.contains("[sinks.odoo.dispositions]\nrestock"), "{text}");
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let env = vec![
            ("RETURNS_EDGE_SERVER_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            ("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB".to_owned(), "16".to_owned()),
            ("RETURNS_EDGE_STORE_DATA_DIR".to_owned(), "/var/lib/x".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let flags = FlagOverrides {
            data_dir: Some("/flag".into()),
            ..Default::default()
        };
        let config = Config::load(None, env, &flags).unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.store.cache_capacity_mb, 16);
        assert_eq!(config.store.data_dir, PathBuf::from("/flag"));
    }

    #[test]
    fn a_bad_or_unknown_environment_variable_is_named() {
        let env = vec![("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB".to_owned(), "lots".to_owned())];
        let err = Config::load(None, env, &FlagOverrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB"),
            "{err}"
        );
        let env = vec![("RETURNS_EDGE_SERVER_LISTN".to_owned(), "x".to_owned())];
        let err = Config::load(None, env, &FlagOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("RETURNS_EDGE_SERVER_LISTN"), "{err}");
    }

    #[test]
    fn the_embedded_defaults_have_no_devices_and_the_default_device_settings() {
        let config = Config::load(None, [], &FlagOverrides::default()).unwrap();
        assert!(config.devices.is_empty());
        assert_eq!(config.device_settings, DeviceSettings::default());
    }

    /// The commented `[[devices]]` and classifier examples of the shipped file, uncommented.
    fn shipped_device_examples() -> String {
        let mut out = String::from("site = \"s\"\n");
        let mut in_examples = false;
        for line in DEFAULT_TOML.lines() {
            if line == "# [device_settings.classifier]" || line == "# [[devices]]" {
                in_examples = true;
            }
            if in_examples && line.is_empty() {
                in_examples = false;
            }
            if in_examples
                && !line.starts_with("# rma = { glob")
                && !line.starts_with("# The site")
                && !line.starts_with("# Either")
            {
                out.push_str(line.strip_prefix("# ").unwrap_or(line.trim_start_matches('#')));
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn the_shipped_device_examples_load() {
        let text = shipped_device_examples();
        let config = load_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let ids: Vec<&str> = config.devices.iter().map(|d| d.id.0.as_str()).collect();
        assert_eq!(
            ids,
            ["dock-1-scale", "dock-1-scanner", "dock-2-scanner", "dock-2-scale"]
        );
        assert_eq!(config.devices[0].station.as_str(), "dock-1");
        let firmware_bridge::DeviceSource::SerialScale { scale, .. } = &config.devices[0].source else {
            panic!("{:?}", config.devices[0].source)
        };
        assert_eq!(scale.poll_interval_ms, 200);
        let rma = config.device_settings.classifier.rma.as_ref().expect("the RMA example");
        assert!(rma.matches("RMA00012345"));
        assert_eq!(config.devices[0].device_config().id, config.devices[0].id);
    }

    const SCALE: &str = "[[devices]]\nid = \"scale-1\"\nstation = \"dock-1\"\n[devices.source]\nkind = \"serial_scale\"\nserial = { path = \"/dev/ttyUSB0\" }\nscale = { protocol = \"nci\" }\n";

    #[test]
    fn an_unknown_device_key_is_named_with_its_line() {
        let err = load_text(&format!("site = \"s\"\n{SCALE}")).map(drop);
        assert!(err.is_ok(), "{err:?}");
        let typo = SCALE.replace("station =", "staton =");
        let text = load_text(&format!("site = \"s\"\n{typo}")).unwrap_err().to_string();
        assert!(text.contains("staton") && text.contains("line 4"), "{text}");
        let typo = SCALE.replace("protocol = \"nci\"", "protocol = \"nci\", pol_interval_ms = 5");
        let text = load_text(&format!("site = \"s\"\n{typo}")).unwrap_err().to_string();
        // Inside `source` (an internally tagged enum) the line is the table's, the key is exact.
        assert!(text.contains("pol_interval_ms") && text.contains("line 5"), "{text}");
        let text = load_text("site = \"s\"\n[device_settings.stable]\nmax_ag_ms = 1\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("max_ag_ms") && text.contains("line 3"), "{text}");
        let text = load_text("site = \"s\"\n[device_settings]\nstream_buffer = 1\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("line 3") && text.contains("from 8 to 65536"), "{text}");
    }

    #[test]
    fn device_ids_must_be_unique_and_usable_as_a_scale_and_paths_not_shared() {
        let twice = format!("site = \"s\"\n{SCALE}{}", SCALE.replace("/dev/ttyUSB0", "/dev/ttyUSB1"));
        let err = load_text(&twice).unwrap_err().to_string();
        assert!(err.contains("devices[1].id") && err.contains("twice"), "{err}");
        let shared = format!("site = \"s\"\n{SCALE}{}", SCALE.replace("scale-1", "scale-2"));
        let err = load_text(&shared).unwrap_err().to_string();
        assert!(
            err.contains("devices[1].source") && err.contains("/dev/ttyUSB0"),
            "{err}"
        );
        let bad_id = SCALE.replace("scale-1", " scale");
        let err = load_text(&format!("site = \"s\"\n{bad_id}")).unwrap_err().to_string();
        assert!(err.contains("devices[0].id"), "{err}");
        let err = load_text("site = \"s\"\n[device_settings.stable]\nidentical_n = 0\n").unwrap_err();
        assert!(err.to_string().contains("device_settings.stable.identical_n"), "{err}");
    }

    #[test]
    fn retention_is_off_and_the_archive_goes_beside_the_store_unless_configured() {
        let config = Config::load(None, [], &FlagOverrides::default()).unwrap();
        assert_eq!(config.store.retention_days, 0);
        assert_eq!(config.store.archive_dir(), PathBuf::from("./data/archive"));
        let env = vec![
            ("RETURNS_EDGE_STORE_RETENTION_DAYS".to_owned(), "90".to_owned()),
            ("RETURNS_EDGE_STORE_ARCHIVE_DIR".to_owned(), "/srv/archive".to_owned()),
            ("RETURNS_EDGE_STORE_MIN_FREE_MB".to_owned(), "0".to_owned()),
        ];
        let config = Config::load(None, env, &FlagOverrides::default()).unwrap();
        assert_eq!(config.store.retention_days, 90);
        assert_eq!(config.store.archive_dir(), PathBuf::from("/srv/archive"));
        assert_eq!(config.store.min_free_mb, 0);
        let err = load_text("site = \"s\"\n[store]\nretention_days = 40000\n").unwrap_err();
        assert!(
            err.to_string().contains("line 3") && err.to_string().contains("0 to 36500"),
            "{err}"
        );
    }

    #[test]
    fn device_settings_follow_the_environment() {
        let env = vec![(
            "RETURNS_EDGE_DEVICE_SETTINGS_STABLE_MAX_AGE_MS".to_owned(),
            "1500".to_owned(),
        )];
        let config = Config::load(None, env, &FlagOverrides::default()).unwrap();
        assert_eq!(config.device_settings.stable.max_age_ms, 1500);
    }
}
