//! What a rep's dashboards are told about a lead event, and the telling.
//!
//! The feed is fed from the events, not the assignments, because the events are written in the
//! same batch as the assignment only after the router committed it to the store: a rep never sees
//! a lead on the feed that `/v1/reps/{rep}/leads` does not have yet. Each event is told once, by
//! the process that published it, right after the broker's ack ([`crate::handoff`]). A process
//! that dies between the ack and the telling loses that live event; the page re-reads its list on
//! focus and every 30 s, so that costs seconds, never a lead.

use chrono::{DateTime, Utc};
use serde::Serialize;
use speedlead_topics::{Envelope, LeadEvent, LeadSummary};
use uuid::Uuid;

use super::feed::RepFeed;

/// One event on a rep's feed: the SSE `data` (and its `type` the SSE `event` name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    /// `lead.assigned`, `lead.escalated_away` (the SLA passed and the lead went to someone else),
    /// `lead.acknowledged`, `lead.merged` (the person came back with a new capture).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub lead_id: Uuid,
    pub attempt: u32,
    /// The source event's id, so the page can report which event it rendered.
    pub event_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadSummary>,
    /// Timeline for the time-to-seen telemetry (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_at_ms: Option<i64>,
    pub published_at_ms: i64,
}

/// Whether an event of this envelope type can concern a rep ([`feed_event`] maps only these), so
/// the others (`lead.scored`, `lead.merged`, …) need not even be parsed.
pub fn may_concern_a_rep(event_type: &str) -> bool {
    use speedlead_topics::event_type::{ACKNOWLEDGED, ASSIGNED, ESCALATED, QUALIFIED};
    [ASSIGNED, ESCALATED, ACKNOWLEDGED, QUALIFIED].contains(&event_type)
}

/// Which rep an event concerns and what to tell them; `None` for events no rep's list shows.
pub fn feed_event(event: &Envelope<LeadEvent>, now: DateTime<Utc>) -> Option<(String, FeedEvent)> {
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    let base = |kind, lead_id, attempt, lead: Option<LeadSummary>| FeedEvent {
        kind,
        lead_id,
        attempt,
        event_id: event.id,
        captured_at_ms: ms(event.hops.captured_at.or(lead.as_ref().and_then(|l| l.captured_at))),
        lead,
        committed_at_ms: ms(event.hops.assigned_at),
        published_at_ms: now.timestamp_millis(),
    };
    match &event.payload {
        LeadEvent::Assigned(a) => {
            Some((a.rep_id.clone(), base("lead.assigned", a.lead_id, a.attempt, a.lead.clone())))
        }
        // Only when it went to someone: a lead escalated to overflow stays with the rep who missed it.
        LeadEvent::Escalated(e) if e.assignment.is_some() => {
            Some((e.missed_rep_id.clone(), base("lead.escalated_away", e.lead_id, e.missed_attempt, None)))
        }
        LeadEvent::Acknowledged(a) => {
            Some((a.rep_id.clone(), base("lead.acknowledged", a.lead_id, a.attempt, None)))
        }
        LeadEvent::Qualified(q) => {
            let owner = q.merge.as_ref()?.owner.clone()?;
            let summary = LeadSummary::of(q, event.hops.captured_at);
            Some((owner, base("lead.merged", q.lead_id, 0, Some(summary))))
        }
        _ => None,
    }
}

/// Tells the rep concerned by `event` (if any) on every dashboard they have open, on any instance.
pub async fn tell_rep(feed: &RepFeed, event: &Envelope<LeadEvent>) -> Result<(), String> {
    let Some((rep, feed_event)) = feed_event(event, Utc::now()) else {
        return Ok(());
    };
    let json = serde_json::to_string(&feed_event).map_err(|e| e.to_string())?;
    feed.publish(&rep, &json).await?;
    speedlead_actors::telemetry::observe_segment("assigned_to_published", event.hops.assigned_at, Utc::now());
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use speedlead_topics::{Ack, Assignment, Escalation, Hops};

    use super::*;

    /// Zoë assigned to `rep` (attempt `attempt`) in domain `na`, as the router builds it.
    pub(crate) fn assignment(rep: &str, attempt: u32) -> Assignment {
        Assignment {
            lead_id: Uuid::nil(),
            lead_key: "k".into(),
            routing_domain: "na".into(),
            rep_id: rep.into(),
            attempt,
            reason: "round_robin".into(),
            pool: "all".into(),
            sla_due_at: None,
            ack_token: "t".into(),
            audit: None,
            lead: Some(LeadSummary { name: Some("Zoë".into()), ..Default::default() }),
        }
    }

    fn envelope(event: LeadEvent) -> Envelope<LeadEvent> {
        let mut e = Envelope::new("x", Uuid::nil(), event);
        e.hops = Hops { captured_at: Some(Utc::now()), assigned_at: Some(Utc::now()), ..Hops::default() };
        e
    }

    #[test]
    fn an_assignment_goes_to_its_rep_with_the_lead_and_timeline() {
        let (rep, event) =
            feed_event(&envelope(LeadEvent::Assigned(Box::new(assignment("ana", 1)))), Utc::now()).unwrap();
        assert_eq!((rep.as_str(), event.kind, event.attempt), ("ana", "lead.assigned", 1));
        assert_eq!(event.lead.unwrap().name.as_deref(), Some("Zoë"));
        assert!(event.captured_at_ms.is_some() && event.committed_at_ms.is_some());
    }

    #[test]
    fn an_escalation_tells_the_rep_who_lost_the_lead_only_when_it_moved() {
        let escalation = |to: Option<Assignment>| {
            LeadEvent::Escalated(Box::new(Escalation {
                lead_id: Uuid::nil(),
                routing_domain: "na".into(),
                missed_rep_id: "ana".into(),
                missed_attempt: 1,
                due_at: Utc::now(),
                step: "next_in_pool".into(),
                assignment: to,
            }))
        };
        let (rep, event) = feed_event(&envelope(escalation(Some(assignment("ben", 2)))), Utc::now()).unwrap();
        assert_eq!((rep.as_str(), event.kind, event.attempt), ("ana", "lead.escalated_away", 1));
        assert_eq!(
            feed_event(&envelope(escalation(None)), Utc::now()),
            None,
            "overflow keeps the lead with ana"
        );
    }

    #[test]
    fn an_ack_goes_to_the_accepting_rep() {
        let ack = Ack { lead_id: Uuid::nil(), routing_domain: "na".into(), rep_id: "ben".into(), attempt: 2 };
        let (rep, event) = feed_event(&envelope(LeadEvent::Acknowledged(ack)), Utc::now()).unwrap();
        assert_eq!((rep.as_str(), event.kind), ("ben", "lead.acknowledged"));
    }
}
