//! Exponential backoff shared by record retries and actor restarts.

use std::time::Duration;

/// `initial` doubled for each step after the first (`n` counts from 1), capped at `max`.
pub fn exponential(initial: Duration, max: Duration, n: u32) -> Duration {
    let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
    initial.saturating_mul(factor).min(max)
}

/// `d` ± `spread` (0.2 = ±20 %): retries scheduled in one moment (an outage) spread out instead of
/// arriving in one wave when it ends.
pub fn jittered(d: Duration, spread: f64) -> Duration {
    d.mul_f64(1.0 - spread + fastrand::f64() * 2.0 * spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_without_overflowing() {
        let ms = |n| exponential(Duration::from_millis(50), Duration::from_millis(300), n).as_millis();
        assert_eq!((1..6).map(ms).collect::<Vec<_>>(), vec![50, 100, 200, 300, 300]);
        assert_eq!(ms(u32::MAX), 300);
        assert_eq!(ms(0), 50);
    }
}
