//! How long the fake takes to answer. `Latency::Odoo17` is calibrated on the medians recorded
//! against a real Odoo 17 (`20_timing_summary.json`: workers=0, a new TCP connection per call,
//! same host); the costs of calls that were not measured are marked as estimates. The delay is
//! applied with `tokio::time::sleep`, so tests under `tokio::time::pause()` do not wait.

use std::time::Duration;

/// The latency model of a fake Odoo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Latency {
    /// Answer at once (tests).
    #[default]
    None,
    /// Like the Odoo 17 lab server (benchmarks).
    Odoo17,
    /// The same delay for every call.
    Fixed(Duration),
}

/// Milliseconds, as measured (medians of 20).
mod measured {
    /// `common.version` with no database.
    pub const VERSION: f64 = 25.5;
    /// A trivial `execute_kw` (`check_access_rights`).
    pub const TRIVIAL: f64 = 26.3;
    /// `search_read` of one picking.
    pub const SEARCH_READ: f64 = 21.7;
    /// `stock.picking.create` with one move.
    pub const CREATE_PICKING: f64 = 59.3;
    /// `button_validate` of a one-line picking.
    pub const VALIDATE: f64 = 87.6;
    /// `stock.move.create` of 50 moves in one call.
    pub const CREATE_50: f64 = 96.1;
}

/// Estimates for calls the lab did not time (between a read and a create).
mod estimated {
    pub const WRITE: f64 = 35.0;
    pub const ACTION: f64 = 45.0;
}

impl Latency {
    /// The time one call takes. `records` is the number of records the call creates (list
    /// creates and `(0, 0, vals)` commands count), so batching is cheaper than single calls as
    /// on the real server: one record ≈ 59 ms, fifty ≈ 96 ms.
    pub fn for_call(&self, model: &str, method: &str, records: usize) -> Duration {
        let ms = match self {
            Latency::None => return Duration::ZERO,
            Latency::Fixed(d) => return *d,
            Latency::Odoo17 => match (model, method) {
                ("common" | "web" | "db", _) => measured::VERSION,
                (_, "search" | "search_read" | "read" | "search_count" | "name_search") => measured::SEARCH_READ,
                (_, "fields_get" | "check_access_rights" | "check_object_reference" | "default_get") => {
                    measured::TRIVIAL
                }
                (_, "create") => {
                    let per_extra = (measured::CREATE_50 - measured::CREATE_PICKING) / 49.0;
                    measured::CREATE_PICKING + per_extra * records.saturating_sub(1) as f64
                }
                (_, "write" | "unlink") => estimated::WRITE,
                (_, "button_validate" | "process" | "process_cancel_backorder" | "dont_send_sms" | "send_sms") => {
                    measured::VALIDATE
                }
                (_, "action_validate" | "do_scrap" | "action_done" | "create_returns") => measured::VALIDATE,
                _ => estimated::ACTION,
            },
        };
        Duration::from_micros((ms * 1000.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo17_matches_the_recorded_medians() {
        let l = Latency::Odoo17;
        assert_eq!(l.for_call("stock.picking", "search_read", 0).as_micros(), 21_700);
        assert_eq!(l.for_call("stock.picking", "create", 2).as_millis(), 60);
        assert_eq!(l.for_call("stock.move", "create", 50).as_micros(), 96_100);
        assert_eq!(l.for_call("stock.picking", "button_validate", 0).as_micros(), 87_600);
        assert_eq!(Latency::None.for_call("stock.picking", "create", 1), Duration::ZERO);
    }
}
