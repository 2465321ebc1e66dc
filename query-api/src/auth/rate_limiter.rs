//! Per-key request budget. Invariant: one key cannot take more than its share of the API; a
//! refusal says when to come back.
//!
//! A token bucket per key id: `burst` requests at once, refilled at `per_second`. Keys are few
//! (hundreds at most), so one mutex-guarded map is cheaper than anything cleverer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Limits of one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 20.0,
            burst: 60,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of every key seen.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<Arc<str>, Bucket>>,
}

impl RateLimiter {
    /// A limiter applying `limit` to each key separately.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s budget, or says how long until one is available.
    pub fn check(&self, key: &Arc<str>, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let burst = f64::from(self.limit.burst.max(1));
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let key: Arc<str> = "k1".into();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&key, t0).is_ok());
        }
        let wait = limiter.check(&key, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::ZERO);
        assert!(limiter.check(&key, t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn one_key_exhausting_its_budget_does_not_limit_another() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 1,
        });
        let t0 = Instant::now();
        assert!(limiter.check(&"a".into(), t0).is_ok());
        assert!(limiter.check(&"a".into(), t0).is_err());
        assert!(limiter.check(&"b".into(), t0).is_ok());
    }
}
