//! Payload types of the lead topics: what marketing systems publish and what each stage emits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Event types carried in [`crate::Envelope::event_type`].
pub mod event_type {
    pub const CAPTURED: &str = "lead.captured";
    pub const QUALIFIED: &str = "lead.qualified";
    pub const ASSIGNED: &str = "lead.assigned";
    pub const ACKNOWLEDGED: &str = "lead.acknowledged";
    pub const OUTCOME: &str = "lead.outcome";
    pub const DEAD_LETTERED: &str = "lead.dead_lettered";
}

/// Contact details as a source delivered them. Intake normalizes them (email case, phone to E.164).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Any common notation; E.164 (`+4930123456`) is best. Without a country prefix the lead's
    /// `country` decides how it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Value of `leads.inbound`: one lead from one source, as captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InboundLead {
    /// Configured source name, e.g. `website-demo-form`, `meta-ads`.
    pub source: String,
    /// The provider's id for this delivery; (source, event_id) is the idempotency key.
    pub event_id: String,
    #[serde(default)]
    pub contact: Contact,
    /// UTM / campaign attribution (`utm_source`, `utm_campaign`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribution: BTreeMap<String, String>,
    /// The provider payload verbatim, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
    /// Set by providers that notify with ids only (e.g. Meta Lead Ads): intake fetches the lead's
    /// fields from the provider's API before qualifying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchRef>,
    /// Consent the person gave, by purpose (`email_marketing`, `sms`, `terms`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, bool>,
    /// Behaviour signals for scoring (`pages_viewed`, `time_on_site_secs`, `form_type`,
    /// `chat_transcript`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, serde_json::Value>,
}

/// Where to fetch a lead that arrived as ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchRef {
    /// Provider whose API holds the lead, e.g. `meta`.
    pub provider: String,
    /// The provider's id of the lead, e.g. Meta's `leadgen_id`.
    pub id: String,
}

/// Value of `leads.qualified`: a validated, normalized lead with its routing domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QualifiedLead {
    /// Stable id of the lead (the journey id), derived from source + event id when first captured.
    pub lead_id: Uuid,
    /// See [`lead_key`]: lowercased email, else E.164 phone, else `source:event_id`.
    pub lead_key: String,
    /// The team whose router owns this lead.
    pub routing_domain: String,
    pub source: String,
    pub event_id: String,
    /// Normalized contact: email lowercased and trimmed, phone in E.164.
    pub contact: Contact,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribution: BTreeMap<String, String>,
    /// Carried from the inbound lead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, bool>,
    /// Carried from the inbound lead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, serde_json::Value>,
    /// Fields that were present but unusable and so left out of `contact` (the inbound message keeps
    /// the original), e.g. `contact.email: 'ana@' has no valid domain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Value of `leads.assignments`: who owns a lead now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    pub lead_id: Uuid,
    pub lead_key: String,
    pub routing_domain: String,
    pub rep_id: String,
    /// 1 for the first assignment, +1 for each reassignment down the escalation chain.
    pub attempt: u32,
    /// Why this rep, e.g. `round_robin`.
    pub reason: String,
}

/// Value of `leads.acks`: a rep accepted a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    pub lead_id: Uuid,
    pub routing_domain: String,
    pub rep_id: String,
    pub attempt: u32,
}

/// Value of `leads.outcomes`: what finally became of a lead, for the scoring model to learn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub lead_id: Uuid,
    pub converted: bool,
    /// Deal value in the account currency, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Value of `leads.events`: the lifecycle of a lead, for CRM writers, webhooks and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeadEvent {
    Qualified(Box<QualifiedLead>),
    Assigned(Assignment),
    Acknowledged(Ack),
}

/// Value of `leads.dlq`: a message a stage gave up on, with everything needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Stage that gave up, e.g. `intake`.
    pub stage: String,
    pub source_topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Machine-readable reason class, e.g. `invalid`, `retries_exhausted`.
    pub reason: String,
    /// Human-readable explanation naming the bad field where there is one.
    pub detail: String,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
    /// The original message value, base64 (standard alphabet), byte for byte.
    pub original_base64: String,
}

/// The lead id (journey id) of a (source, provider event id): a UUIDv5, so a re-sent event is the
/// same lead wherever it is computed (gateway, intake, publishers).
pub fn lead_id(source: &str, event_id: &str) -> uuid::Uuid {
    crate::derived_id(&["lead", source, event_id])
}

/// The partition key of a lead on `leads.inbound`: lowercased email, else E.164 phone, else
/// `source:event_id`. The same person always lands on the same partition, so one intake actor sees
/// all of their events in order. Callers pass already-normalized email and phone.
pub fn lead_key(email: Option<&str>, phone_e164: Option<&str>, source: &str, event_id: &str) -> String {
    match (email.map(str::trim).filter(|e| !e.is_empty()), phone_e164.filter(|p| !p.is_empty())) {
        (Some(email), _) => email.to_lowercase(),
        (None, Some(phone)) => phone.to_string(),
        (None, None) => format!("{source}:{event_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_key_prefers_email_then_phone_then_source_event() {
        assert_eq!(lead_key(Some(" Ann@Example.COM "), Some("+4930123"), "s", "1"), "ann@example.com");
        assert_eq!(lead_key(None, Some("+4930123"), "s", "1"), "+4930123");
        assert_eq!(lead_key(Some(""), None, "form", "e-9"), "form:e-9");
    }

    #[test]
    fn lead_event_is_tagged_by_kind() {
        let ev = LeadEvent::Acknowledged(Ack {
            lead_id: Uuid::nil(),
            routing_domain: "emea".into(),
            rep_id: "r1".into(),
            attempt: 1,
        });
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["kind"], "acknowledged");
        assert_eq!(serde_json::from_value::<LeadEvent>(v).unwrap(), ev);
    }
}
