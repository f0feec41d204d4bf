//! Which lead events subscribers get, under which type, with which payload.
//!
//! Payloads are fat (the whole lead, the whole assignment), so a receiver acts without calling
//! back. The envelope is the one Standard Webhooks recommends plus the API version:
//! `{id, type, timestamp, api_version, data}`. `id` is the lead event's own id, which is stable
//! across redeliveries, so it doubles as `webhook-id` and receivers de-duplicate on it.

use chrono::SecondsFormat;
use serde_json::{json, Value};
use speedlead_topics::{derived_id, Envelope, LeadEvent};

/// The payload shape's version; bumped when a field changes meaning or disappears.
pub const API_VERSION: &str = "2026-12-01";

/// Every type a subscription can ask for.
pub const TYPES: [&str; 7] = [
    "lead.created",
    "lead.updated",
    "lead.merged",
    "lead.scored",
    "lead.assigned",
    "lead.acknowledged",
    "lead.escalated",
];

/// An event ready to sign and send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEvent {
    pub id: String,
    pub event_type: &'static str,
    pub lead_id: uuid::Uuid,
    /// The JSON body, byte for byte what is signed.
    pub body: String,
}

/// The outbound forms of a lead event: none for internal events (overflow queueing, refused
/// acks). A returning person's capture goes out as `lead.merged` with the merged lead (the thin
/// `LeadMerged` record is left out: its facts are in that payload's `merge`), followed by
/// `lead.updated` with the fields it changed (old and new values) when it changed any.
pub fn outbound(event: &Envelope<LeadEvent>) -> Vec<OutboundEvent> {
    let one = |event_type, lead_id, data| vec![envelope(event.id, event_type, lead_id, event, data)];
    match &event.payload {
        LeadEvent::Qualified(lead) => match &lead.merge {
            None => one("lead.created", lead.lead_id, json!(lead)),
            Some(merge) => {
                let mut out = one("lead.merged", lead.lead_id, json!(lead));
                if !merge.changes.is_empty() {
                    // Its own stable id: a redelivered capture event yields the same one.
                    let id = derived_id(&["webhook", "lead.updated", &event.id.to_string()]);
                    let data = json!({ "lead_id": lead.lead_id, "changes": merge.changes, "lead": lead });
                    out.push(envelope(id, "lead.updated", lead.lead_id, event, data));
                }
                out
            }
        },
        LeadEvent::Scored(scored) => one("lead.scored", scored.lead_id, json!(scored)),
        LeadEvent::Assigned(assignment) => one("lead.assigned", assignment.lead_id, json!(assignment)),
        LeadEvent::Acknowledged(ack) => one("lead.acknowledged", ack.lead_id, json!(ack)),
        LeadEvent::Escalated(escalation) => one("lead.escalated", escalation.lead_id, json!(escalation)),
        LeadEvent::Merged(_) | LeadEvent::Queued(_) | LeadEvent::AckRefused(_) => Vec::new(),
    }
}

fn envelope(
    id: uuid::Uuid,
    event_type: &'static str,
    lead_id: uuid::Uuid,
    event: &Envelope<LeadEvent>,
    data: Value,
) -> OutboundEvent {
    let body: Value = json!({
        "id": id,
        "type": event_type,
        "timestamp": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "api_version": API_VERSION,
        "data": data,
    });
    OutboundEvent { id: id.to_string(), event_type, lead_id, body: body.to_string() }
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
        let out = outbound(&envelope).pop().expect("sent");
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

    /// A returning person's capture: merged into lead 1, the company changed.
    fn merged_capture(changes: serde_json::Value) -> Envelope<LeadEvent> {
        let lead = serde_json::from_value(json!({
            "lead_id": Uuid::from_u128(1), "lead_key": "ana@acme.com", "routing_domain": "emea",
            "source": "website", "event_id": "e2", "contact": {"email": "ana@acme.com", "company": "Globex"},
            "merge": {"merged_lead_id": Uuid::from_u128(2), "into_lead_id": Uuid::from_u128(1),
                      "matched_by": "email", "changes": changes},
        }))
        .unwrap();
        Envelope::new("lead.qualified", Uuid::nil(), LeadEvent::Qualified(Box::new(lead)))
    }

    #[test]
    fn a_returning_persons_capture_is_merged_and_updated_with_old_and_new_values() {
        let event = merged_capture(json!({"company": {"old": "Acme", "new": "Globex"}}));
        let out = outbound(&event);
        let types: Vec<&str> = out.iter().map(|o| o.event_type).collect();
        assert_eq!(types, ["lead.merged", "lead.updated"]);
        let updated: Value = serde_json::from_str(&out[1].body).unwrap();
        assert_eq!(updated["data"]["changes"]["company"], json!({"old": "Acme", "new": "Globex"}));
        assert_eq!(updated["data"]["lead"]["contact"]["company"], "Globex", "fat: the lead as it is now");
        assert_ne!(out[0].id, out[1].id);
        assert_eq!(outbound(&event)[1].id, out[1].id, "the same id when the event is read again");
        let unchanged = outbound(&merged_capture(json!({})));
        assert_eq!(unchanged.iter().map(|o| o.event_type).collect::<Vec<_>>(), ["lead.merged"]);
    }

    #[test]
    fn the_thin_merge_record_stays_inside() {
        let merged = LeadMerged {
            source_lead_id: Uuid::nil(),
            target_lead_id: Uuid::nil(),
            matched_by: "email".into(),
        };
        assert_eq!(outbound(&Envelope::new("lead.merged", Uuid::nil(), LeadEvent::Merged(merged))), vec![]);
    }
}
