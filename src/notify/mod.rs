//! The notification hub: tells a rep, on the channels they chose and in their order, that a lead is
//! theirs, with a link to accept it.
//!
//! - [`channels`]: one file per channel (Slack, SMS, email, signed webhook, dialer), each turning a
//!   [`Notice`] into the provider's request and the provider's answer into a [`SendError`] kind.
//! - [`templates`]: the message texts, from config.
//!
//! The channels know nothing of queues, retries or fallbacks: the hub owns those, so every channel
//! gets the same priority order, rate limit, backoff and dead-lettering.

pub mod channels;
pub mod hub;
pub mod queue;
pub mod rate;
pub mod settings;
pub mod stage;
pub mod templates;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use speedlead_topics::LeadSummary;
use uuid::Uuid;

/// The kinds of channel a rep can be reached on. Also the `channel` label of the notification
/// metrics: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    Sms,
    Email,
    Webhook,
    Dialer,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] =
        [ChannelKind::Slack, ChannelKind::Sms, ChannelKind::Email, ChannelKind::Webhook, ChannelKind::Dialer];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Dialer => "dialer",
        }
    }
}

/// One notification: which lead, for which rep, and why. Everything a template may show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable per (assignment, step): the idempotency key providers that support one get
    /// (`webhook-id`, `Idempotency-Key`), and the dead letter's id.
    pub id: String,
    pub lead_id: Uuid,
    pub attempt: u32,
    pub routing_domain: String,
    pub rep_id: String,
    pub rep_name: Option<String>,
    /// Name, company, score, source… of the lead (empty fields when the assignment had none).
    pub lead: LeadSummary,
    /// Why the lead was routed to this rep, for people: e.g. "round robin in pool enterprise".
    pub why: String,
    /// The accept link (`/v1/acks/{token}`).
    pub accept_url: String,
    /// Hot leads (grade A or score ≥ the configured threshold) jump the queue.
    pub hot: bool,
}

/// What a provider said when it took the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message (Twilio `sid`, Slack `ts`, SMTP queue id), when it gives one.
    pub provider_id: Option<String>,
}

/// Why a send failed, sorted by what the hub should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 5xx, 429, timeouts, refused connections: try again, no sooner than `retry_after` when the
    /// provider said (Retry-After).
    #[error("retryable: {reason}")]
    Retryable { reason: String, retry_after: Option<Duration> },
    /// The provider refused the message itself (4xx, bad address, revoked token): retrying
    /// cannot help; the hub moves on to the rep's next channel.
    #[error("permanent: {reason}")]
    Permanent { reason: String },
    /// The recipient opted out (Twilio 21610): never send them this channel again until they opt in.
    #[error("opted out: {reason}")]
    OptedOut { reason: String },
}

impl SendError {
    /// Low-cardinality `outcome` label.
    pub fn outcome(&self) -> &'static str {
        match self {
            SendError::Retryable { .. } => "retryable",
            SendError::Permanent { .. } => "permanent",
            SendError::OptedOut { .. } => "opted_out",
        }
    }
}

/// A way to reach a rep. `to` is the rep's address on this channel: a Slack channel or user id (or
/// an incoming-webhook URL), an E.164 phone number, an email address, a webhook URL, or the rep's
/// user id at the dialer.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    fn kind(&self) -> ChannelKind;
    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError>;
}
