//! When a failed delivery is tried again, and when an endpoint has failed for long enough to be
//! switched off. Plain functions of the attempt count and the clock, so the whole schedule is
//! tested without waiting it out.

use std::time::Duration;

use speedlead_actors::backoff::jittered;

/// What to do after attempt `attempts` (1-based) failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Try again after this wait.
    RetryIn(Duration),
    /// The schedule is used up: dead-letter the delivery.
    GiveUp,
}

/// The schedule's wait after attempt `attempts`, ±20 %, never before the receiver's
/// `Retry-After` (a 429 or 503 telling us when it can take more) — which counts only up to
/// [`MAX_RETRY_AFTER`]: the receiver does not get to park a job past its store expiry.
pub fn after_failure(schedule_secs: &[f64], attempts: u32, retry_after: Option<Duration>) -> Next {
    let Some(wait) = schedule_secs.get(attempts.saturating_sub(1) as usize) else {
        return Next::GiveUp;
    };
    let wait = jittered(Duration::from_secs_f64(*wait), 0.2);
    Next::RetryIn(retry_after.map_or(wait, |after| after.min(MAX_RETRY_AFTER).max(wait)))
}

/// The longest `Retry-After` honoured (and the longest step a schedule may have).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether an endpoint failing since `failing_since_ms` (its first failure with no success after
/// it) should be disabled at `now_ms`.
pub fn should_disable(failing_since_ms: i64, now_ms: i64, disable_after: Duration) -> bool {
    now_ms.saturating_sub(failing_since_ms) >= disable_after.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_SCHEDULE: [f64; 7] = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

    #[test]
    fn each_failure_waits_its_step_within_twenty_percent_then_gives_up() {
        for (attempt, step) in (1..).zip(ISSUE_SCHEDULE) {
            for _ in 0..50 {
                let Next::RetryIn(wait) = after_failure(&ISSUE_SCHEDULE, attempt, None) else {
                    panic!("attempt {attempt} is retried");
                };
                let secs = wait.as_secs_f64();
                assert!(
                    (step * 0.8..=step * 1.2).contains(&secs),
                    "attempt {attempt}: {secs} s, step {step} s"
                );
            }
        }
        assert_eq!(after_failure(&ISSUE_SCHEDULE, 8, None), Next::GiveUp, "seven retries, then the DLQ");
    }

    #[test]
    fn retry_after_is_a_floor_not_a_replacement() {
        let long = Some(Duration::from_secs(120));
        assert_eq!(after_failure(&ISSUE_SCHEDULE, 1, long), Next::RetryIn(Duration::from_secs(120)));
        let Next::RetryIn(wait) = after_failure(&ISSUE_SCHEDULE, 2, Some(Duration::from_secs(1))) else {
            panic!("retried")
        };
        assert!(wait >= Duration::from_secs(240), "the schedule's longer wait wins: {wait:?}");
    }

    #[test]
    fn a_receivers_retry_after_is_capped() {
        let years = Some(Duration::from_secs(u64::MAX / 2));
        assert_eq!(after_failure(&ISSUE_SCHEDULE, 1, years), Next::RetryIn(MAX_RETRY_AFTER));
    }

    #[test]
    fn an_endpoint_is_disabled_once_its_failures_span_the_window() {
        let day = Duration::from_secs(86_400);
        assert!(!should_disable(0, 86_399_999, day));
        assert!(should_disable(0, 86_400_000, day));
    }
}
