//! `[notify]`: who is reached on which channel, in which order, how fast, and how hard we try.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::channels::ChannelSettings;
use super::templates::TemplateSettings;
use super::ChannelKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// A lead this hot (score 0–100), or of grade A, jumps every channel's queue.
    #[serde(default = "defaults::hot_score")]
    pub hot_score: u8,
    /// Sends per notice and channel before the hub gives up on that channel (and falls back).
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "defaults::initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "defaults::max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Sends in flight per channel at most.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
    /// Per channel: `{ per_second = 1.0, burst = 1 }` (Slack allows about one message a second
    /// per channel, Twilio's default is one SMS a second per number). Channels without an entry
    /// are not limited.
    #[serde(default)]
    pub rate_limits: BTreeMap<ChannelKind, RateLimit>,
    /// In the rep's own time zone, SMS and dialer steps are skipped (the next step follows at once):
    /// a text at 3 a.m. costs more goodwill than the lead is worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// The steps of a rep without a plan of their own.
    #[serde(default = "defaults::plan")]
    pub default_plan: Vec<Step>,
    /// Each rep's addresses, and optionally their own plan.
    #[serde(default)]
    pub reps: Vec<RepChannels>,
    #[serde(default)]
    pub channels: ChannelSettings,
    #[serde(default)]
    pub templates: TemplateSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            hot_score: defaults::hot_score(),
            max_attempts: defaults::max_attempts(),
            initial_backoff_ms: defaults::initial_backoff_ms(),
            max_backoff_ms: defaults::max_backoff_ms(),
            max_in_flight: defaults::max_in_flight(),
            rate_limits: BTreeMap::new(),
            quiet_hours: None,
            default_plan: defaults::plan(),
            reps: Vec::new(),
            channels: ChannelSettings::default(),
            templates: TemplateSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    #[serde(default = "defaults::burst")]
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `21:00`: quiet from then…
    pub start: NaiveTime,
    /// `08:00`: …until then (overnight when `end` < `start`).
    pub end: NaiveTime,
}

impl QuietHours {
    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

/// One step of a rep's plan: send on `channel`, `after_secs` after the assignment unless the lead
/// was accepted by then. A step whose channel fails for good (or is skipped) starts the next one
/// at once: the fallback does not wait for its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub channel: ChannelKind,
    #[serde(default)]
    pub after_secs: u64,
}

/// A rep's addresses per channel (a channel without one is skipped) and their own order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepChannels {
    pub id: String,
    /// Slack channel or user id (chat.postMessage), or an incoming-webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<String>,
    /// E.164 phone number for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// URL of the rep's push relay or personal webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The rep's user id at the dialer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<Step>>,
}

impl RepChannels {
    pub fn address(&self, channel: ChannelKind) -> Option<&str> {
        match channel {
            ChannelKind::Slack => self.slack.as_deref(),
            ChannelKind::Sms => self.sms.as_deref(),
            ChannelKind::Email => self.email.as_deref(),
            ChannelKind::Webhook => self.webhook.as_deref(),
            ChannelKind::Dialer => self.dialer.as_deref(),
        }
        .filter(|a| !a.trim().is_empty())
    }
}

mod defaults {
    use super::Step;
    use crate::notify::ChannelKind;

    pub fn hot_score() -> u8 {
        80
    }
    pub fn max_attempts() -> u32 {
        5
    }
    pub fn initial_backoff_ms() -> u64 {
        200
    }
    pub fn max_backoff_ms() -> u64 {
        30_000
    }
    pub fn max_in_flight() -> usize {
        16
    }
    pub fn burst() -> u32 {
        1
    }
    /// Slack at once, a text if the lead is still not accepted half a minute later, email as the
    /// last resort.
    pub fn plan() -> Vec<Step> {
        vec![
            Step { channel: ChannelKind::Slack, after_secs: 0 },
            Step { channel: ChannelKind::Sms, after_secs: 30 },
            Step { channel: ChannelKind::Email, after_secs: 60 },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_may_span_midnight() {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        let night = QuietHours { start: t("21:00"), end: t("08:00") };
        assert!(night.contains(t("23:30")) && night.contains(t("03:00")) && !night.contains(t("08:00")));
        assert!(!night.contains(t("12:00")));
        let lunch = QuietHours { start: t("12:00"), end: t("13:00") };
        assert!(lunch.contains(t("12:30")) && !lunch.contains(t("13:00")) && !lunch.contains(t("11:59")));
    }
}
