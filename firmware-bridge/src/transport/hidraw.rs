//! USB HID point-of-sale scales through `/dev/hidraw*`: each read is one input report; weight
//! reports go to the pure [`HidPosDecoder`], others (status, feature echoes) are skipped.
//! Deliberately thin: the report format is decoded and tested in `scale::hidpos`.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use super::{unix_ms, wait_readable, Runner, SessionEnd};
use crate::scale::hidpos::{HidPosDecoder, REPORT_DATA_LEN};
use crate::scale::ScaleDecoder;

pub(crate) fn run(runner: &mut Runner, path: &Path, report_id: Option<u8>) {
    let mut decoder = HidPosDecoder::new(report_id);
    let report_len = REPORT_DATA_LEN + usize::from(report_id.is_some());
    runner.supervise(
        || File::open(path).map_err(|error| format!("can not open {}: {error}", path.display())),
        |runner, mut file| {
            decoder.reset();
            let mut report = [0u8; 64];
            loop {
                if runner.stopping() {
                    return SessionEnd::Stop;
                }
                match wait_readable(&file) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(reason) => return SessionEnd::Lost(reason),
                }
                let count = match file.read(&mut report) {
                    Ok(0) => return SessionEnd::Lost("the device reported end of file".to_owned()),
                    Ok(count) => count,
                    Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                    Err(error) => return SessionEnd::Lost(format!("read failed: {error}")),
                };
                let is_weight_report = count == report_len && report_id.is_none_or(|id| report[0] == id);
                if !is_weight_report {
                    continue;
                }
                decoder.push(&report[..count], unix_ms());
                while let Some(frame) = decoder.poll() {
                    if runner.scale_frame(frame).is_err() {
                        return SessionEnd::Stop;
                    }
                }
            }
        },
    );
}
