//! The stable-weight rule: when a scale reading may be copied into a receipt. Pure: readings and
//! the current time in, a verdict out.
//!
//! A reading is usable only when all of these hold:
//! - the scale said `Stable`, or, for protocols without a stability flag (`Unreported`), the last
//!   `identical_n` readings were identical and arrived within `window_ms`;
//! - it is not over or under capacity, and not in motion;
//! - it is the latest thing the scale said: a later state-only report (motion, overload), a
//!   disconnect or a fault withdraws it;
//! - it is younger than `max_age_ms`, and at least `min_grams` (a stable zero is an empty scale,
//!   not a parcel).
//!
//! The tracker never hides a state: [`StableWeight::assess`] says why a weight is not usable, so a
//! station can show "in motion" or "over capacity". Keep one tracker per scale.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::event::{DeviceEvent, DeviceStatus, ScaleReading, ScaleState, WeightStability};

/// The configurable parts of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StableRule {
    /// A reading older than this is not usable (the parcel may have been taken off).
    pub max_age_ms: u64,
    /// For protocols without a stability flag: how many identical readings in a row count as
    /// stable.
    pub identical_n: usize,
    /// ...and the span within which those readings must have arrived.
    pub window_ms: u64,
    /// Lightest usable weight.
    pub min_grams: i64,
}

impl Default for StableRule {
    fn default() -> Self {
        StableRule {
            max_age_ms: 3_000,
            identical_n: 3,
            window_ms: 2_000,
            min_grams: 1,
        }
    }
}

/// Why the latest weight is or is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment<'a> {
    Usable(&'a ScaleReading),
    /// Nothing since start, the last disconnect or fault, or the last state-only report.
    NoReading,
    /// The scale says its weight is moving (or its last state report did).
    Motion,
    OverCapacity,
    UnderCapacity,
    /// The protocol has no stability flag and the readings have not agreed long enough yet.
    NotYetAgreed {
        identical: usize,
        needed: usize,
    },
    /// The latest reading is older than `max_age_ms`.
    TooOld {
        age_ms: u64,
    },
    /// Stable, but lighter than `min_grams` (an empty scale).
    BelowMinimum {
        grams: i64,
    },
}

/// Tracks one scale's readings and applies [`StableRule`].
#[derive(Debug, Clone)]
pub struct StableWeight {
    rule: StableRule,
    latest: Latest,
    /// Arrival times of the current run of identical `Unreported` readings (at most N kept).
    run: VecDeque<u64>,
    last_at_ms: u64,
}

#[derive(Debug, Clone)]
enum Latest {
    Nothing,
    Reading(ScaleReading),
    State(WeightStability),
}

impl StableWeight {
    pub fn new(rule: StableRule) -> Self {
        StableWeight {
            rule,
            latest: Latest::Nothing,
            run: VecDeque::new(),
            last_at_ms: 0,
        }
    }

    pub fn rule(&self) -> StableRule {
        self.rule
    }

    /// Records a reading. Readings older than the latest one seen are ignored.
    pub fn observe(&mut self, reading: &ScaleReading) {
        if !self.is_current(reading.at_ms) {
            return;
        }
        let continues_run = matches!(&self.latest, Latest::Reading(previous)
            if previous.stability == WeightStability::Unreported
                && reading.stability == WeightStability::Unreported
                && previous.grams == reading.grams
                && previous.resolution_g == reading.resolution_g);
        if !continues_run {
            self.run.clear();
        }
        if reading.stability == WeightStability::Unreported {
            self.run.push_back(reading.at_ms);
            while self.run.len() > self.rule.identical_n.max(1) {
                self.run.pop_front();
            }
        }
        self.latest = Latest::Reading(reading.clone());
    }

    /// Records a state reported without a weight: the previous reading no longer holds.
    pub fn observe_state(&mut self, state: &ScaleState) {
        if self.is_current(state.at_ms) {
            self.latest = Latest::State(state.stability);
            self.run.clear();
        }
    }

    /// Routes a device event: weights and states are recorded, a disconnect or fault withdraws
    /// the latest reading, scans are ignored. Feed it the events of one scale only.
    pub fn observe_event(&mut self, event: &DeviceEvent) {
        match event {
            DeviceEvent::Weight(reading) => self.observe(reading),
            DeviceEvent::ScaleState(state) => self.observe_state(state),
            DeviceEvent::Status {
                status: DeviceStatus::Disconnected { .. } | DeviceStatus::Fault { .. },
                ..
            } => {
                self.latest = Latest::Nothing;
                self.run.clear();
            }
            DeviceEvent::Status {
                status: DeviceStatus::Connected,
                ..
            }
            | DeviceEvent::Scan(_) => {}
        }
    }

    /// The reading to copy into a receipt at `now_ms`, if there is one.
    pub fn usable(&self, now_ms: u64) -> Option<&ScaleReading> {
        match self.assess(now_ms) {
            Assessment::Usable(reading) => Some(reading),
            _ => None,
        }
    }

    /// Whether the latest weight is usable at `now_ms`, and if not, why.
    pub fn assess(&self, now_ms: u64) -> Assessment<'_> {
        let reading = match &self.latest {
            Latest::Nothing => return Assessment::NoReading,
            Latest::State(stability) => return not_usable(*stability).unwrap_or(Assessment::NoReading),
            Latest::Reading(reading) => reading,
        };
        if let Some(reason) = not_usable(reading.stability) {
            return reason;
        }
        let age_ms = now_ms.saturating_sub(reading.at_ms);
        if age_ms > self.rule.max_age_ms {
            return Assessment::TooOld { age_ms };
        }
        if reading.stability == WeightStability::Unreported {
            let needed = self.rule.identical_n.max(1);
            let agreed = self.run.len() >= needed
                && match (self.run.front(), self.run.back()) {
                    (Some(first), Some(last)) => last.saturating_sub(*first) <= self.rule.window_ms,
                    _ => false,
                };
            if !agreed {
                return Assessment::NotYetAgreed {
                    identical: self.run.len(),
                    needed,
                };
            }
        }
        if reading.grams < self.rule.min_grams {
            return Assessment::BelowMinimum { grams: reading.grams };
        }
        Assessment::Usable(reading)
    }

    fn is_current(&mut self, at_ms: u64) -> bool {
        if at_ms < self.last_at_ms {
            return false;
        }
        self.last_at_ms = at_ms;
        true
    }
}

fn not_usable(stability: WeightStability) -> Option<Assessment<'static>> {
    match stability {
        WeightStability::Motion => Some(Assessment::Motion),
        WeightStability::OverCapacity => Some(Assessment::OverCapacity),
        WeightStability::UnderCapacity => Some(Assessment::UnderCapacity),
        WeightStability::Stable | WeightStability::Unreported => None,
    }
}

#[cfg(test)]
mod tests;
