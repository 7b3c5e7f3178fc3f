//! Keyboard-wedge scanners through Linux evdev: open `/dev/input/event*`, grab it exclusively
//! (EVIOCGRAB, through the `evdev` crate, so the scanner's keystrokes reach no console or
//! desktop), and feed key events to the pure [`LineAssembler`]. Deliberately thin: everything
//! that can be tested without a device lives in `wedge` and `keymap`.

use std::path::Path;

use evdev::raw_stream::RawDevice;
use evdev::EventType;

use super::{unix_ms, wait_readable, Runner, SessionEnd};
use crate::keymap::KeyboardLayout;
use crate::scanner::ScannerConfig;
use crate::wedge::{LineAssembler, WedgeLine, WedgeTerminator};

pub(crate) fn run(
    runner: &mut Runner,
    path: &Path,
    layout: KeyboardLayout,
    terminator: WedgeTerminator,
    scanner: ScannerConfig,
) {
    runner.supervise(
        || {
            let mut device =
                RawDevice::open(path).map_err(|error| format!("can not open {}: {error}", path.display()))?;
            device
                .grab()
                .map_err(|error| format!("can not grab {} exclusively: {error}", path.display()))?;
            Ok(device)
        },
        |runner, mut device| {
            // A fresh assembler per connection: keys held when the scanner went away are not.
            let mut assembler = LineAssembler::new(layout, terminator, scanner.clone());
            loop {
                if runner.stopping() {
                    return SessionEnd::Stop;
                }
                match wait_readable(&device) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(reason) => return SessionEnd::Lost(reason),
                }
                let keys: Vec<(u16, i32)> = match device.fetch_events() {
                    Ok(events) => events
                        .filter(|event| event.event_type() == EventType::KEY)
                        .map(|event| (event.code(), event.value()))
                        .collect(),
                    Err(error) => return SessionEnd::Lost(format!("read failed: {error}")),
                };
                for (code, value) in keys {
                    let sent = match assembler.key(code, value, unix_ms()) {
                        None => Ok(()),
                        Some(WedgeLine::Code(code)) => runner.scan_frame(crate::scanner::ScanFrame::Code(code)),
                        Some(WedgeLine::Error(error)) => runner.fault(error.to_string()),
                    };
                    if sent.is_err() {
                        return SessionEnd::Stop;
                    }
                }
            }
        },
    );
}
