//! The retry schedule, in one place: exponential backoff with jitter, capped, never giving up.
//!
//! Built on the `backoff` crate's `ExponentialBackoff` for the jitter arithmetic. The attempt
//! count is persisted with each outbox entry, so the delay is computed from it (not from a
//! long-lived backoff object): a restart resumes the same schedule. There is deliberately no
//! maximum elapsed time: an outage of days must drain by itself once the sink is back.

use std::time::Duration;

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;

/// Shape of a retry schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// 0.5 spreads each delay over ±50%, so entries failing together do not retry together.
    pub jitter: f64,
}

impl Schedule {
    /// Per-entry retries: 1 s doubling to 5 min.
    pub const ENTRY: Schedule = Schedule {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(300),
        multiplier: 2.0,
        jitter: 0.5,
    };
    /// Probes of a paused sink: 1 s doubling to 1 min.
    pub const PROBE: Schedule = Schedule {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        multiplier: 2.0,
        jitter: 0.5,
    };

    /// Delay before retry number `attempt` (1 = the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(63) as i32;
        let base = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let interval = Duration::from_secs_f64(base.min(self.max.as_secs_f64()));
        let mut backoff = ExponentialBackoff {
            current_interval: interval,
            initial_interval: self.initial,
            randomization_factor: self.jitter,
            multiplier: self.multiplier,
            max_interval: self.max,
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        // With no maximum elapsed time `next_backoff` always answers; the fallback is the cap.
        backoff
            .next_backoff()
            .unwrap_or(self.max)
            .min(self.max.mul_f64(1.0 + self.jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_capped_and_never_stop() {
        let s = Schedule {
            jitter: 0.0,
            ..Schedule::ENTRY
        };
        assert_eq!(s.delay(1), Duration::from_secs(1));
        assert_eq!(s.delay(2), Duration::from_secs(2));
        assert_eq!(s.delay(5), Duration::from_secs(16));
        assert_eq!(s.delay(20), Duration::from_secs(300));
        assert_eq!(s.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_spreads_delays_within_bounds() {
        let delays: Vec<Duration> = (0..200).map(|_| Schedule::ENTRY.delay(3)).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_secs(2) && *d <= Duration::from_secs(6)));
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter must vary the delay");
    }
}
