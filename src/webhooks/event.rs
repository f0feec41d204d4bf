//! Which lead events subscribers get, under which type, with which payload.
//!
//! Payloads are fat (the whole lead, the whole assignment), so a receiver acts without calling
//! back. The envelope is the one Standard Webhooks recommends plus the API version:
//! `{id, type, timestamp, api_version, data}`. `id` is the lead event's own id, which is stable
//! across redeliveries, so it doubles as `webhook-id` and receivers de-duplicate on it.

use chrono::SecondsFormat;
use serde_json::{json, Value};
use speedlead_topics::{Envelope, LeadEvent};

/// The payload shape's version; bumped when a field changes meaning or disappears.
pub const API_VERSION: &str = "2026-12-01";

/// Every type a subscription can ask for.
pub const TYPES: [&str; 6] =
    ["lead.created", "lead.merged", "lead.scored", "lead.assigned", "lead.acknowledged", "lead.escalated"];

/// An event ready to sign and send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEvent {
    pub id: String,
    pub event_type: &'static str,
    pub lead_id: uuid::Uuid,
    /// The JSON body, byte for byte what is signed.
    pub body: String,
}

/// The outbound form of a lead event; `None` for internal events (overflow queueing, refused
/// acks). A returning person's capture goes out as `lead.merged` with the merged lead (the thin
/// `LeadMerged` record is left out: its facts are in that payload's `merge`).
pub fn outbound(event: &Envelope<LeadEvent>) -> Option<OutboundEvent> {
    let (event_type, lead_id, data) = match &event.payload {
        LeadEvent::Qualified(lead) if lead.merge.is_some() => ("lead.merged", lead.lead_id, json!(lead)),
        LeadEvent::Qualified(lead) => ("lead.created", lead.lead_id, json!(lead)),
        LeadEvent::Scored(scored) => ("lead.scored", scored.lead_id, json!(scored)),
        LeadEvent::Assigned(assignment) => ("lead.assigned", assignment.lead_id, json!(assignment)),
        LeadEvent::Acknowledged(ack) => ("lead.acknowledged", ack.lead_id, json!(ack)),
        LeadEvent::Escalated(escalation) => ("lead.escalated", escalation.lead_id, json!(escalation)),
        LeadEvent::Merged(_) | LeadEvent::Queued(_) | LeadEvent::AckRefused(_) => return None,
    };
    let body: Value = json!({
        "id": event.id,
        "type": event_type,
        "timestamp": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "api_version": API_VERSION,
        "data": data,
    });
    Some(OutboundEvent { id: event.id.to_string(), event_type, lead_id, body: body.to_string() })
}

#[cfg(test)]
mod tests {
    use speedlead_topics::{Ack, LeadMerged};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn an_ack_goes_out_as_lead_acknowledged_in_the_standard_envelope() {
        let ack = Ack { lead_id: Uuid::nil(), routing_domain: "na".into(), rep_id: "ana".into(), attempt: 2 };
        let envelope = Envelope::new("lead.acknowledged", Uuid::nil(), LeadEvent::Acknowledged(ack));
        let out = outbound(&envelope).expect("sent");
        let body: Value = serde_json::from_str(&out.body).unwrap();
        assert_eq!(out.id, envelope.id.to_string());
        assert_eq!(body["id"], envelope.id.to_string());
        assert_eq!(
            (body["type"].as_str(), body["api_version"].as_str()),
            (Some("lead.acknowledged"), Some(API_VERSION))
        );
        assert_eq!(body["data"]["rep_id"], "ana");
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn the_thin_merge_record_stays_inside() {
        let merged = LeadMerged {
            source_lead_id: Uuid::nil(),
            target_lead_id: Uuid::nil(),
            matched_by: "email".into(),
        };
        assert_eq!(outbound(&Envelope::new("lead.merged", Uuid::nil(), LeadEvent::Merged(merged))), None);
    }
}
