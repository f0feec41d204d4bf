//! The one envelope every value on every speedlead topic travels in.
//!
//! Keeping a single shape means any consumer can log, trace and measure a message without knowing its
//! payload: `correlation_id` follows a lead across every hop, and `hops` records when each stage saw it
//! so latency per segment can be computed anywhere downstream.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the envelope and payload shapes. Bumped on any breaking change; consumers reject
/// versions newer than they understand instead of misreading them.
pub const SCHEMA_VERSION: u32 = 1;

/// A message on a speedlead topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// Unique id of this message. Deterministic for derived messages (same input → same id) so
    /// redelivered effects can be de-duplicated by consumers.
    pub id: Uuid,
    /// Event type, e.g. `lead.captured`, `lead.assigned`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the thing this message describes happened.
    pub occurred_at: DateTime<Utc>,
    /// Shape version of envelope and payload; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The lead's journey id: set when the lead is first captured and kept on every later message.
    pub correlation_id: Uuid,
    /// When the lead passed each hop of the pipeline.
    #[serde(default)]
    pub hops: Hops,
    /// The value itself; its type is fixed per topic (see the catalogue).
    pub payload: T,
}

/// Timestamps of each hop a lead passes. A later hop copies the earlier ones forward, so the last
/// message of a journey carries the whole timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hops {
    /// The capture gateway (or the publishing marketing system) accepted the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
    /// The intake stage validated and qualified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_at: Option<DateTime<Utc>>,
    /// The router decided who owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<DateTime<Utc>>,
    /// A notification channel accepted the message for the rep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<DateTime<Utc>>,
    /// The rep acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl<T> Envelope<T> {
    /// A new message with a random id, occurring now.
    pub fn new(event_type: impl Into<String>, correlation_id: Uuid, payload: T) -> Self {
        Self::with_id(Uuid::new_v4(), event_type, correlation_id, payload)
    }

    /// A message whose id is chosen by the caller, for effects that must be idempotent.
    pub fn with_id(id: Uuid, event_type: impl Into<String>, correlation_id: Uuid, payload: T) -> Self {
        Envelope {
            id,
            event_type: event_type.into(),
            occurred_at: Utc::now(),
            schema_version: SCHEMA_VERSION,
            correlation_id,
            hops: Hops::default(),
            payload,
        }
    }

    /// Carries the timeline of an earlier message forward.
    pub fn with_hops(mut self, hops: Hops) -> Self {
        self.hops = hops;
        self
    }
}

/// Deterministic message id for an effect derived from `parts`, so that reprocessing the same input
/// yields the same id and consumers can drop the duplicate.
pub fn derived_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, parts.join("\u{1f}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_omits_unset_hops() {
        let env = Envelope::new("lead.captured", Uuid::new_v4(), serde_json::json!({"a": 1}));
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.contains("\"type\":\"lead.captured\""));
        assert!(!text.contains("qualified_at"));
        let back: Envelope<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(derived_id(&["a", "b"]), derived_id(&["a", "b"]));
        assert_ne!(derived_id(&["a", "b"]), derived_id(&["ab"]));
    }
}
