//! Ack stage: consumes `leads.acks` (keyed by routing domain, so a domain's acks are processed in
//! order by one actor) and turns each into the lead's lifecycle event.
//!
//! The accept link already wrote the ack to the store before publishing it (that is how the rep got
//! an immediate "accepted" or "too late"); acknowledging again here is idempotent and makes acks
//! from other producers (a dialer, a CRM) count the same way. The store decides, atomically against
//! the escalation timer, whether the attempt was still the rep's: `lead.acknowledged` if it was,
//! `lead.ack_refused` if the lead had already moved on.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use speedlead_topics::{derived_id, event_type, Ack, AckRefused, Envelope, LeadEvent, Topic};

use crate::codec::{parse_envelope, to_json};
use crate::escalation::DeadlineSink;
use crate::ports::{Outbound, Record};
use crate::routing_store::AckOutcome;
use crate::stage::{Stage, StageError};
use crate::store::Store;

pub struct AckStage {
    store: Arc<dyn Store>,
    deadlines: Arc<dyn DeadlineSink>,
}

impl AckStage {
    pub fn new(store: Arc<dyn Store>, deadlines: Arc<dyn DeadlineSink>) -> Self {
        AckStage { store, deadlines }
    }
}

/// Counts an acceptance and how long the rep took, once: wherever the store said `Accepted`.
pub fn record_acceptance(
    domain: &str,
    route: &crate::routing_store::RouteRecord,
    accepted_at: DateTime<Utc>,
) {
    if let Some(assigned) = Utc.timestamp_millis_opt(route.assigned_ms).single() {
        let seconds = (accepted_at - assigned).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("speedlead_time_to_accept_seconds", "domain" => domain.to_string())
            .record(seconds);
    }
    metrics::counter!("speedlead_leads_acknowledged_total", "domain" => domain.to_string()).increment(1);
}

#[async_trait]
impl Stage for AckStage {
    fn name(&self) -> &'static str {
        "acks"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let envelope = parse_envelope::<Ack>(record)?;
        let ack = &envelope.payload;
        let (domain, lead_id) = (ack.routing_domain.as_str(), ack.lead_id.to_string());
        let outcome = self.store.acknowledge(domain, &lead_id, &ack.rep_id, ack.attempt).await?;
        let attempt = ack.attempt.to_string();
        let (kind, event) = match outcome {
            AckOutcome::Accepted(route) => {
                self.deadlines.cancel(domain, &lead_id);
                record_acceptance(domain, &route, envelope.occurred_at);
                (event_type::ACKNOWLEDGED, LeadEvent::Acknowledged(ack.clone()))
            }
            // Accepted through the link (which stored it before publishing) or a redelivery: the
            // acceptance was counted where it was stored.
            AckOutcome::AlreadyAccepted(_) => {
                self.deadlines.cancel(domain, &lead_id);
                (event_type::ACKNOWLEDGED, LeadEvent::Acknowledged(ack.clone()))
            }
            AckOutcome::Reassigned(current) => {
                metrics::counter!("speedlead_acks_refused_total", "domain" => domain.to_string())
                    .increment(1);
                let refused = AckRefused {
                    ack: ack.clone(),
                    current_rep_id: current.rep_id,
                    current_attempt: current.attempt,
                };
                (event_type::ACK_REFUSED, LeadEvent::AckRefused(refused))
            }
            AckOutcome::Unknown => {
                return Err(StageError::Invalid(format!(
                    "payload.lead_id: lead {lead_id} has no route in domain '{domain}' (never assigned there, or expired)"
                )));
            }
        };
        let id = derived_id(&["event", kind, &lead_id, &attempt]);
        let out =
            Envelope::with_id(id, kind, envelope.correlation_id, event).with_hops(envelope.hops.clone());
        Ok(vec![Outbound { topic: Topic::Events, key: lead_id, payload: to_json(&out) }])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use speedlead_topics::{event_type, Ack, LeadEvent};

    use super::*;
    use crate::escalation::Escalate;
    use crate::escalation::NoTimers;
    use crate::routing_testkit::{assignment, config, events, lead, Desk};
    use crate::testkit::envelope_record;

    fn ack_record(a: &speedlead_topics::Assignment, attempt: u32) -> Record {
        let ack = Ack {
            lead_id: a.lead_id,
            routing_domain: a.routing_domain.clone(),
            rep_id: a.rep_id.clone(),
            attempt,
        };
        envelope_record(0, event_type::ACKNOWLEDGED, ack)
    }

    #[tokio::test]
    async fn an_ack_of_the_current_attempt_is_the_lead_acknowledged_and_stops_its_escalation() {
        let desk = Desk::new(config());
        let a = assignment(&desk.route(&lead("acked", "na", None)).await).unwrap();
        let stage = AckStage::new(desk.store.clone(), Arc::new(NoTimers));
        let out = stage.process(&ack_record(&a, 1)).await.unwrap();
        assert!(matches!(&events(&out)[0], LeadEvent::Acknowledged(ack) if ack.rep_id == a.rep_id));
        let again = stage.process(&ack_record(&a, 1)).await.unwrap();
        let id =
            |o: &Outbound| serde_json::from_slice::<serde_json::Value>(&o.payload).unwrap()["id"].clone();
        assert_eq!(id(&again[0]), id(&out[0]), "a repeated ack is the same event");
        desk.advance(Duration::from_secs(600));
        let lead_id = a.lead_id.to_string();
        assert_eq!(desk.dispatcher.deadline_due("na", &lead_id, 0).await.unwrap(), None);
        assert!(desk.published_assignments().is_empty(), "an acknowledged lead stays");
    }

    #[tokio::test]
    async fn an_ack_after_the_lead_moved_on_is_refused_and_an_unknown_one_dead_lettered() {
        let desk = Desk::new(config());
        let a = assignment(&desk.route(&lead("late", "na", None)).await).unwrap();
        desk.advance(Duration::from_secs(301));
        desk.dispatcher.deadline_due("na", &a.lead_id.to_string(), 0).await.unwrap();
        let stage = AckStage::new(desk.store.clone(), Arc::new(NoTimers));
        let out = stage.process(&ack_record(&a, 1)).await.unwrap();
        let LeadEvent::AckRefused(refused) = &events(&out)[0] else { panic!("{out:?}") };
        assert_eq!(refused.current_attempt, 2);
        assert_ne!(refused.current_rep_id, a.rep_id);

        let mut stranger = a.clone();
        stranger.lead_id = uuid::Uuid::new_v4();
        let err = stage.process(&ack_record(&stranger, 1)).await.unwrap_err();
        assert!(matches!(&err, StageError::Invalid(why) if why.contains("payload.lead_id")), "{err:?}");
    }
}
