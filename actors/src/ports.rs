//! The traits through which actors reach the outside world (Kafka, Redis, offset bookkeeping).
//!
//! Actors never name rdkafka or redis: production wires in the real adapters from the `speedlead`
//! binary, unit tests wire in-process ones, and the same actor code runs against both.

use std::sync::Arc;

use async_trait::async_trait;
use speedlead_topics::{InboundLead, Topic};

/// One consumed Kafka message, owned so it can travel through an actor mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// Broker or producer timestamp, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Kafka headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// The first header named `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The key as text, for dead letters and logs; non-UTF-8 bytes are replaced.
    pub fn key_text(&self) -> Option<String> {
        self.key.as_deref().map(|k| String::from_utf8_lossy(k).into_owned())
    }
}

/// A message a stage wants published. The topic is the catalogue entry; the adapter maps it to the
/// configured (possibly prefixed) topic name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub topic: Topic,
    pub key: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("publish failed: {message}")]
pub struct PublishError {
    pub message: String,
    /// The client cannot recover (e.g. a fatal idempotent-producer error): retrying is pointless and
    /// the process must restart.
    pub fatal: bool,
}

impl PublishError {
    pub fn retriable(message: impl Into<String>) -> Self {
        PublishError { message: message.into(), fatal: false }
    }
}

/// An actor failure no restart of the actor can cure; its supervisor escalates it so the process
/// exits and restarts from committed offsets.
#[derive(Debug, thiserror::Error)]
#[error("fatal: {0}")]
pub struct Fatal(pub String);

/// Publishes messages durably.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Returns once the broker acknowledged every message (acks=all), or with the first failure.
    /// Messages for the same topic and key keep their order.
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError>;
}

/// Turns a provider's raw payload — published to `leads.inbound` with a `source` header instead of
/// wrapped in an envelope — into normalized leads, with the same adapters the capture gateway uses.
pub trait RawLeadParser: Send + Sync + 'static {
    /// Errors name the problem (unknown source, the bad fields).
    fn parse(
        &self,
        source: &str,
        content_type: Option<&str>,
        payload: &[u8],
    ) -> Result<Vec<InboundLead>, String>;
}

/// A lead fetched from a provider's API (for providers that notify with ids only).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedLead {
    pub contact: speedlead_topics::Contact,
    pub attribution: std::collections::BTreeMap<String, String>,
    /// The provider's answer verbatim, kept for audit.
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The provider does not know the lead (or the source is not set up to fetch): retrying cannot help.
    #[error("{0}")]
    NotFound(String),
    /// The provider is slow, down or rate-limiting: retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// Fetches the fields of a lead that arrived as ids only.
#[async_trait]
pub trait LeadFetcher: Send + Sync + 'static {
    async fn fetch(
        &self,
        source: &str,
        reference: &speedlead_topics::FetchRef,
    ) -> Result<FetchedLead, FetchError>;
}

/// Told when a consumed message has been fully processed, so its offset may be committed.
pub trait OffsetTracker: Send + Sync + 'static {
    fn processed(&self, topic: &str, partition: i32, offset: i64);
}

/// Asks the consumer that feeds a stage to restart one partition: rewind it to the first offset that
/// was not fully processed and attach a fresh actor. Called by the stage supervisor after backoff.
pub trait PartitionRestarter: Send + Sync + 'static {
    fn restart(&self, partition: i32);
}

/// Shared handles to the ports, cloned into every actor of a stage.
pub type SharedPublisher = Arc<dyn Publisher>;

/// Adds what enrichment providers know about a lead's person and company, so intake can qualify
/// and score it without knowing HTTP. Never fails and never blocks past its budget: a provider that
/// cannot answer in time is named in `Enrichment::providers`, `complete` is false, and the lead goes
/// on without it.
#[async_trait]
pub trait Enricher: Send + Sync + 'static {
    /// `email` looks up the person (and, unless it is free mail, the company by its domain);
    /// `company_domain_hint` (e.g. the website a form gave) takes precedence for the company.
    async fn enrich(
        &self,
        email: Option<&str>,
        company_domain_hint: Option<&str>,
    ) -> speedlead_topics::Enrichment;
}
