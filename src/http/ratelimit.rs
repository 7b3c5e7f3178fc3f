//! Per-station-token rate limits (GCRA, from the `governor` crate).
//!
//! The key is the token id of a *verified* token, so a stranger cannot spend another station's
//! allowance by sending its token id with a wrong secret: unauthenticated requests are refused
//! (401) before any bucket is touched. One noisy station slows only itself.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::TokenId;

/// The buckets of every station token.
#[derive(Debug)]
pub struct StationLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl StationLimiter {
    pub fn new(per_second: u64, burst: u64) -> Self {
        let rate = NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX).max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(u32::try_from(burst).unwrap_or(u32::MAX).max(1)).unwrap_or(NonZeroU32::MIN);
        StationLimiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from the token's bucket, or says how long until one is free.
    pub fn check(&self, token: &TokenId) -> Result<(), Duration> {
        self.limiter
            .check_key(&token.as_str().to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

impl Default for StationLimiter {
    fn default() -> Self {
        StationLimiter::new(50, 200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_over_its_burst_waits_and_another_token_does_not() {
        let limiter = StationLimiter::new(1, 3);
        let (a, b) = (TokenId::parse("aaaa").unwrap(), TokenId::parse("bbbb").unwrap());
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        let wait = limiter.check(&a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(&b).is_ok(), "another station keeps its own allowance");
    }
}
