//! A circuit breaker per enrichment provider.
//!
//! Enrichment runs on the speed-to-lead path with a budget of a few hundred milliseconds. A provider
//! that is down would otherwise cost every lead its full timeout; once it has failed
//! `failure_threshold` times in a row the breaker answers "open" at once instead, for `open_for`.
//! After that cool-down exactly one trial request is let through (half-open): its success closes the
//! breaker, its failure opens it for another cool-down. Concurrent requests during the trial are
//! refused, so a recovering provider is not stampeded.
//!
//! The clock is passed in (`now`) rather than read here, so the state machine is tested step by
//! step without sleeping; production passes `tokio::time::Instant::now()`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What the breaker currently lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Every request goes through; consecutive failures are counted.
    Closed,
    /// No request goes through until the cool-down ends.
    Open,
    /// The cool-down ended: one trial request may go (or is under way).
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

#[derive(Debug)]
pub struct Breaker {
    failure_threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

/// Leave to make one request. Report how it went with [`Permit::succeeded`] or [`Permit::failed`];
/// a permit dropped without a report (the caller gave up) frees the trial slot, so an abandoned
/// trial cannot leave the breaker half-open forever.
#[must_use = "report the request's outcome on the permit"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// Granted as the half-open trial: only the trial's outcome moves the breaker out of half-open.
    trial: bool,
    reported: bool,
}

impl Breaker {
    /// A threshold of 0 is read as 1: a breaker that could never close would never let anything by.
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Breaker {
            failure_threshold: failure_threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The state as of `now` (an open breaker whose cool-down ended reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A permit to call the provider, or `None` while the breaker is open (or its trial is under way).
    pub fn try_acquire(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return None,
            State::HalfOpen { trial_in_flight: true } => return None,
            State::Open { .. } | State::HalfOpen { trial_in_flight: false } => {
                *state = State::HalfOpen { trial_in_flight: true };
                true
            }
        };
        Some(Permit { breaker: self, trial, reported: false })
    }

    fn record(&self, trial: bool, ok: bool, now: Instant) {
        let mut state = self.lock();
        match (&mut *state, trial, ok) {
            (_, true, true) => *state = State::Closed { failures: 0 },
            (_, true, false) => *state = State::Open { until: now + self.open_for },
            (State::Closed { failures }, false, true) => *failures = 0,
            (State::Closed { failures }, false, false) => {
                *failures += 1;
                if *failures >= self.failure_threshold {
                    *state = State::Open { until: now + self.open_for };
                }
            }
            // A request granted while closed that finishes after the breaker opened says nothing
            // the trial will not say better.
            (State::Open { .. } | State::HalfOpen { .. }, false, _) => {}
        }
    }

    fn abandon(&self, trial: bool) {
        if trial {
            let mut state = self.lock();
            if let State::HalfOpen { trial_in_flight } = &mut *state {
                *trial_in_flight = false;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value updated in one step: a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Permit<'_> {
    /// The provider answered (including "not found": it is up, it just does not know the lead).
    pub fn succeeded(mut self, now: Instant) {
        self.reported = true;
        self.breaker.record(self.trial, true, now);
    }

    /// The provider timed out, answered 5xx/429/auth errors, or could not be reached.
    pub fn failed(mut self, now: Instant) {
        self.reported = true;
        self.breaker.record(self.trial, false, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker.abandon(self.trial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL_DOWN: Duration = Duration::from_secs(30);

    fn fail(b: &Breaker, now: Instant) {
        b.try_acquire(now).expect("permitted").failed(now);
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let b = Breaker::new(3, COOL_DOWN);
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        b.try_acquire(t0).unwrap().succeeded(t0); // a success resets the run
        fail(&b, t0);
        fail(&b, t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        fail(&b, t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(b.try_acquire(t0 + COOL_DOWN - Duration::from_millis(1)).is_none());
    }

    #[test]
    fn half_opens_after_cool_down_with_a_single_trial_whose_success_closes() {
        let b = Breaker::new(1, COOL_DOWN);
        let t0 = Instant::now();
        fail(&b, t0);
        let later = t0 + COOL_DOWN;
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        let trial = b.try_acquire(later).expect("the trial goes through");
        assert!(b.try_acquire(later).is_none(), "only one trial at a time");
        trial.succeeded(later);
        assert_eq!(b.state(later), BreakerState::Closed);
        b.try_acquire(later).unwrap().succeeded(later);
        let _second = b.try_acquire(later).expect("closed lets everything by");
    }

    #[test]
    fn failed_trial_opens_for_another_full_cool_down() {
        let b = Breaker::new(2, COOL_DOWN);
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        let t1 = t0 + COOL_DOWN + Duration::from_secs(5);
        fail(&b, t1); // the trial
        assert_eq!(b.state(t1 + COOL_DOWN - Duration::from_millis(1)), BreakerState::Open);
        assert!(b.try_acquire(t1 + COOL_DOWN - Duration::from_millis(1)).is_none());
        assert!(b.try_acquire(t1 + COOL_DOWN).is_some());
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot_for_the_next_one() {
        let b = Breaker::new(1, COOL_DOWN);
        let t0 = Instant::now();
        fail(&b, t0);
        let later = t0 + COOL_DOWN;
        drop(b.try_acquire(later).expect("trial"));
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.try_acquire(later).is_some(), "a new trial may go");
    }

    #[test]
    fn late_results_of_requests_granted_while_closed_do_not_move_an_open_breaker() {
        let b = Breaker::new(1, COOL_DOWN);
        let t0 = Instant::now();
        let slow = b.try_acquire(t0).unwrap();
        fail(&b, t0);
        slow.succeeded(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
    }

    #[test]
    fn zero_threshold_acts_as_one() {
        let b = Breaker::new(0, COOL_DOWN);
        let t0 = Instant::now();
        assert!(b.try_acquire(t0).is_some());
        fail(&b, t0);
        assert_eq!(b.state(t0), BreakerState::Open);
    }
}
