//! A token bucket on tokio's clock. Hand-written rather than `governor`, whose clock ignores
//! `tokio::time::pause()`, so the hub's pacing is tested deterministically.

use std::time::Duration;

use tokio::time::Instant;

use super::settings::RateLimit;

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// Starts full: a quiet channel sends its first `burst` messages at once.
    pub fn new(limit: RateLimit) -> Self {
        let burst = f64::from(limit.burst.max(1));
        TokenBucket { per_second: limit.per_second.max(1e-6), burst, tokens: burst, refilled: Instant::now() }
    }

    /// Waits until a token is there and takes it.
    pub async fn take(&mut self) {
        loop {
            let now = Instant::now();
            let earned = now.duration_since(self.refilled).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.refilled = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - self.tokens) / self.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_its_burst_through_then_paces_at_its_rate() {
        let mut bucket = TokenBucket::new(RateLimit { per_second: 2.0, burst: 3 });
        let start = Instant::now();
        for _ in 0..3 {
            bucket.take().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is immediate");
        bucket.take().await;
        bucket.take().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "then one every half second");
    }
}
