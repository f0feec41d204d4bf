//! `[webhooks]`: who subscribes to which lead events, and how hard speedlead tries to reach them.

use serde::{Deserialize, Serialize};

use crate::notify::channels::Secret;
use crate::providers::signature::standard_webhooks_key;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSettings {
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The waits between attempts: attempt n + 1 comes `retry_schedule_secs[n - 1]` (±20 %) after
    /// attempt n fails, and the delivery is dead-lettered when the schedule is used up. The default
    /// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) keeps trying for about a day and a half.
    #[serde(default = "defaults::retry_schedule_secs")]
    pub retry_schedule_secs: Vec<f64>,
    /// An endpoint that has failed every attempt for this long is disabled (its deliveries are
    /// dead-lettered until it is enabled again).
    #[serde(default = "defaults::disable_after_secs")]
    pub disable_after_secs: u64,
    /// Lets subscriptions point at loopback, private and link-local addresses (the SSRF guard
    /// refuses them otherwise). For tests and receivers on the same private network.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Per attempt: connecting, sending and reading the answer.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts in flight per process.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
}

impl Default for WebhooksSettings {
    fn default() -> Self {
        WebhooksSettings {
            subscriptions: Vec::new(),
            retry_schedule_secs: defaults::retry_schedule_secs(),
            disable_after_secs: defaults::disable_after_secs(),
            allow_private_networks: false,
            timeout_ms: defaults::timeout_ms(),
            max_in_flight: defaults::max_in_flight(),
        }
    }
}

/// One receiver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Stable id: it names the subscription in metrics-free places (dead letters, the admin API).
    pub id: String,
    pub url: String,
    /// The event types it wants (`lead.created`, `lead.assigned`, …); empty means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// `whsec_<base64>` secrets; each signs every message, so a receiver can rotate without a gap.
    pub secrets: Vec<Secret>,
    /// Delivers each lead's events in the order they happened: a lead's later event waits while
    /// an earlier one is being retried (other leads' events do not). Off by default, because one
    /// failing event then holds up that lead's later ones for as long as its schedule runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered_by_lead: bool,
}

impl Subscription {
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event_type)
    }

    /// What is wrong with it, as (field, problem) pairs; empty when nothing is.
    pub fn problems(&self, allow_private: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.id.trim().is_empty() {
            problems.push(("id".to_string(), "missing".to_string()));
        }
        if let Err(e) = super::guard::check_url(&self.url, allow_private) {
            problems.push(("url".into(), e));
        }
        if self.secrets.is_empty() {
            problems.push(("secrets".into(), "at least one whsec_<base64> secret".into()));
        }
        for (j, secret) in self.secrets.iter().enumerate() {
            if standard_webhooks_key(secret.expose()).is_none_or(|k| k.is_empty()) {
                problems.push((format!("secrets[{j}]"), "not a whsec_<base64> secret".into()));
            }
        }
        for event in &self.events {
            if !super::event::TYPES.contains(&event.as_str()) {
                let problem = format!("unknown type {event} (one of {:?})", super::event::TYPES);
                problems.push(("events".into(), problem));
            }
        }
        problems
    }
}

impl WebhooksSettings {
    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let key = format!("webhooks.subscriptions[{i}]");
            if !ids.insert(s.id.as_str()) {
                problems.push(format!("{key}.id: not unique"));
            }
            for (field, problem) in s.problems(self.allow_private_networks) {
                problems.push(format!("{key}.{field}: {problem}"));
            }
        }
        // Bounded so that no job outlives its stored copy (three days, refreshed at each retry).
        let longest = super::schedule::MAX_RETRY_AFTER.as_secs_f64();
        if self.retry_schedule_secs.iter().any(|s| !s.is_finite() || *s < 0.0 || *s > longest) {
            problems.push(format!("webhooks.retry_schedule_secs: each wait must be 0..={longest} seconds"));
        }
        if self.retry_schedule_secs.len() > 20 {
            problems.push("webhooks.retry_schedule_secs: at most 20 retries".into());
        }
        if !(60..=30 * 86_400).contains(&self.disable_after_secs) {
            problems.push("webhooks.disable_after_secs: must be 60..=2592000 (30 days)".into());
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            problems.push("webhooks.timeout_ms: must be 100..=120000".into());
        }
        if self.max_in_flight == 0 {
            problems.push("webhooks.max_in_flight: must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

mod defaults {
    pub fn retry_schedule_secs() -> Vec<f64> {
        vec![5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    }
    pub fn disable_after_secs() -> u64 {
        5 * 24 * 60 * 60
    }
    pub fn timeout_ms() -> u64 {
        10_000
    }
    pub fn max_in_flight() -> usize {
        64
    }
}
