//! Serial ports present on this machine, for commissioning: path, stable `/dev/serial/by-id`
//! link, and USB vendor/product/serial number.
//!
//! `serialport` is built without libudev; on Linux it then reads `/sys/class/tty` and the USB
//! attributes in sysfs itself, so USB identity is still reported. It panics when
//! `/sys/class/tty` is missing (some containers), so that case is checked first. Pseudo-terminals
//! (the simulators' `/dev/pts/N`) are not listed: they have no device in sysfs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

/// Why ports could not be listed.
#[derive(Debug, Error)]
pub enum PortsError {
    /// sysfs could not be read (permissions, or not Linux).
    #[error("could not list serial ports: {0}")]
    Enumerate(String),
}

/// What kind of port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    Usb,
    Pci,
    Bluetooth,
    Unknown,
}

/// USB identity of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbIds {
    /// Vendor ID, four hex digits.
    pub vid: String,
    /// Product ID, four hex digits.
    pub pid: String,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

/// One serial port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SerialPortEntry {
    pub path: PathBuf,
    /// The `/dev/serial/by-id/…` link to this port: the path to configure.
    pub by_id: Option<PathBuf>,
    pub kind: PortKind,
    pub usb: Option<UsbIds>,
}

/// The serial ports present now.
pub fn list_serial_ports() -> Result<Vec<SerialPortEntry>, PortsError> {
    if !Path::new("/sys/class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let ports = serialport::available_ports().map_err(|error| PortsError::Enumerate(error.to_string()))?;
    let links = by_id_links(Path::new("/dev/serial/by-id"));
    let mut entries: Vec<SerialPortEntry> = ports
        .into_iter()
        .map(|port| {
            let path = PathBuf::from(&port.port_name);
            let (kind, usb) = match port.port_type {
                serialport::SerialPortType::UsbPort(info) => (
                    PortKind::Usb,
                    Some(UsbIds {
                        vid: format!("{:04x}", info.vid),
                        pid: format!("{:04x}", info.pid),
                        serial_number: info.serial_number,
                        manufacturer: info.manufacturer,
                        product: info.product,
                    }),
                ),
                serialport::SerialPortType::PciPort => (PortKind::Pci, None),
                serialport::SerialPortType::BluetoothPort => (PortKind::Bluetooth, None),
                serialport::SerialPortType::Unknown => (PortKind::Unknown, None),
            };
            let by_id = std::fs::canonicalize(&path)
                .ok()
                .and_then(|real| links.get(&real).cloned());
            SerialPortEntry { path, by_id, kind, usb }
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Map from the real device path to its by-id link.
fn by_id_links(directory: &Path) -> HashMap<PathBuf, PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_symlink()))
        .filter_map(|entry| {
            let link = entry.path();
            std::fs::canonicalize(&link).ok().map(|real| (real, link))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_never_fails_on_this_machine() {
        // Whatever hardware there is (none in CI), listing works and every entry is a /dev path.
        let ports = list_serial_ports().unwrap();
        assert!(ports.iter().all(|port| port.path.starts_with("/dev")));
    }

    #[test]
    fn by_id_links_resolve_to_their_targets() {
        let directory = tempfile::tempdir().unwrap();
        let target = directory.path().join("ttyUSB9");
        std::fs::write(&target, b"").unwrap();
        let link = directory.path().join("usb-FTDI_FT232R_A1B2C3-if00-port0");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let links = by_id_links(directory.path());
        assert_eq!(links.get(&std::fs::canonicalize(&target).unwrap()), Some(&link));
    }
}
