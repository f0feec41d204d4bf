//! Router stage: decides which rep of the lead's routing domain owns it (round robin for now) and
//! publishes the decision to `leads.assignments` and `lead.assigned` to `leads.events`.
//!
//! The decision is stored before anything is published, so a redelivered lead gets the stored rep
//! again and the republished messages carry the same ids: downstream sees a duplicate, never a
//! second owner.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use speedlead_topics::{derived_id, event_type, Assignment, Envelope, LeadEvent, QualifiedLead, Topic};

use crate::codec::{parse_envelope, to_json};
use crate::ports::{Outbound, Record};
use crate::rules::Routing;
use crate::stage::{Stage, StageError};
use crate::store::Store;
use crate::telemetry::observe_segment;

/// The first assignment of a lead; escalation (a later issue) raises it.
const FIRST_ATTEMPT: u32 = 1;

pub struct RouterStage {
    routing: Arc<Routing>,
    store: Arc<dyn Store>,
    /// How long decisions are remembered: longer than any redelivery can arrive.
    decision_ttl: Duration,
}

impl RouterStage {
    pub fn new(routing: Arc<Routing>, store: Arc<dyn Store>, decision_ttl: Duration) -> Self {
        RouterStage { routing, store, decision_ttl }
    }
}

#[async_trait]
impl Stage for RouterStage {
    fn name(&self) -> &'static str {
        "router"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let qualified = parse_envelope::<QualifiedLead>(record)?;
        let lead = &qualified.payload;
        let domain = &lead.routing_domain;
        let reps = self.routing.reps(domain).ok_or_else(|| {
            StageError::Invalid(format!("payload.routing_domain: '{domain}' is not a configured domain"))
        })?;
        let lead_id = lead.lead_id.to_string();
        let decision = self
            .store
            .assign_round_robin(domain, &lead_id, reps, self.decision_ttl)
            .await
            .map_err(|e| StageError::Transient(e.to_string()))?;

        let now = Utc::now();
        let mut hops = qualified.hops.clone();
        hops.assigned_at = Some(now);
        if decision.fresh {
            metrics::counter!("speedlead_leads_assigned_total", "domain" => domain.clone()).increment(1);
            observe_segment("qualified_to_assigned", hops.qualified_at, now);
            observe_segment("captured_to_assigned", hops.captured_at, now);
        }
        let assignment = Assignment {
            lead_id: lead.lead_id,
            lead_key: lead.lead_key.clone(),
            routing_domain: domain.clone(),
            rep_id: decision.rep_id,
            attempt: FIRST_ATTEMPT,
            reason: "round_robin".into(),
        };
        let attempt = FIRST_ATTEMPT.to_string();
        let correlation = qualified.correlation_id;
        let event = Envelope::with_id(
            derived_id(&["event", event_type::ASSIGNED, &lead_id, &attempt]),
            event_type::ASSIGNED,
            correlation,
            LeadEvent::Assigned(assignment.clone()),
        )
        .with_hops(hops.clone());
        let assigned = Envelope::with_id(
            derived_id(&["assignment", &lead_id, &attempt]),
            event_type::ASSIGNED,
            correlation,
            assignment,
        )
        .with_hops(hops);
        Ok(vec![
            Outbound { topic: Topic::Assignments, key: domain.clone(), payload: to_json(&assigned) },
            Outbound { topic: Topic::Events, key: lead_id, payload: to_json(&event) },
        ])
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
