//! Router stage: decides which rep of the lead's routing domain owns it and publishes the decision
//! to `leads.assignments` and `lead.assigned` to `leads.events`.
//!
//! Who, in order (the [`Assignment::reason`] in brackets):
//! 1. a returning person's lead goes to the rep who already owns it (`existing_owner`): one person,
//!    one rep, whichever form they fill in next;
//! 2. else a lead of an owned account goes to the account's owner (`account_owner`), so one
//!    company hears from one rep;
//! 3. else a round-robin turn: the next rep of the domain's pool for the lead's grade
//!    (`grade_pool`) if the domain configures one (`grade_pools`, e.g. A-leads to the closers),
//!    else the domain's next rep among all its reps (`round_robin`). Each pool has its own turn
//!    counter, so it rotates independently of the domain's rotation and of other pools.
//!
//! An owner is only chosen while eligible, i.e. still among the domain's configured reps (working
//! hours, capacity and availability come later). A lead whose owner is not eligible, or whose
//! stored decision names a rep since removed from the domain, gets a round-robin turn instead
//! (`owner_unavailable`, or `grade_pool` when its grade's pool took the turn: the reason of a turn
//! names the rotation that took it, so each rotation's fairness can be checked from reasons); see
//! [`RouterStage::decide`] for how that stays idempotent.
//!
//! The decision is stored before anything is published, so a redelivered lead gets the stored rep
//! again and the republished messages carry the same ids: downstream sees a duplicate, never a
//! second owner. The decision is keyed by (domain, lead id) whichever rotation made it, so a lead
//! redelivered after its grade changed (intake rescored it with a newer learned model) keeps its
//! first rep and takes no turn in its new grade's rotation; only the `reason` it is published with
//! follows the current grade (the message ids stay the same). Then the rep is recorded as the
//! owner of the person and (if it has none yet) of the account, which is what steps 1 and 2 of
//! later leads read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use speedlead_topics::{derived_id, event_type, Assignment, Envelope, LeadEvent, QualifiedLead, Topic};

use crate::codec::{parse_envelope, to_json};
use crate::ports::{Outbound, Record};
use crate::rules::{Rotation, Routing};
use crate::stage::{Stage, StageError};
use crate::store::{Decision, Store, StoreError};
use crate::telemetry::observe_segment;

/// The first assignment of a lead; escalation (a later issue) raises it.
const FIRST_ATTEMPT: u32 = 1;

/// [`Assignment::reason`] values, also the `reason` label of `speedlead_leads_assigned_total`: a
/// closed set, so the label stays low-cardinality.
pub mod reason {
    pub const EXISTING_OWNER: &str = "existing_owner";
    pub const ACCOUNT_OWNER: &str = "account_owner";
    pub const ROUND_ROBIN: &str = "round_robin";
    pub const OWNER_UNAVAILABLE: &str = "owner_unavailable";
    pub const GRADE_POOL: &str = "grade_pool";
}

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

    /// The lead's rep and why; see the module documentation for the order. `reps` are the domain's
    /// (who is eligible), `rotation` where the lead takes a round-robin turn (its grade's pool or
    /// all of `reps`).
    ///
    /// A stored decision naming a rep who is no longer among `reps` (removed from the domain's
    /// configuration after deciding) is not overwritten: the replacement is a round-robin decision
    /// of its own, stored under `<decision key>/after:<old rep>`. A redelivery finds the same stale
    /// decision, follows it to the same key and so gets the same replacement, and a lead whose
    /// replacement is removed too follows the chain one link further. The chain ends because a
    /// fresh round-robin turn always names a configured rep (a pool's reps are the domain's).
    async fn decide(
        &self,
        lead: &QualifiedLead,
        reps: &[String],
        rotation: Rotation<'_>,
    ) -> Result<(Decision, &'static str), StoreError> {
        let domain = &lead.routing_domain;
        let eligible = |rep: &&str| reps.iter().any(|r| r == rep);
        let merge_owner = lead.merge.as_ref().and_then(|m| m.owner.as_deref());
        let account_owner = lead.account.as_ref().and_then(|a| a.owner.as_deref());
        let preferred = match (merge_owner.filter(eligible), account_owner.filter(eligible)) {
            (Some(rep), _) => Some((rep, reason::EXISTING_OWNER)),
            (None, Some(rep)) => Some((rep, reason::ACCOUNT_OWNER)),
            (None, None) => None,
        };
        let take_turn = |key: String| async move {
            let store = &self.store;
            store.assign_round_robin_in(domain, rotation.pool, &key, rotation.reps, self.decision_ttl).await
        };
        // A turn's reason names its rotation; `otherwise` is the domain rotation's reason.
        let turn_reason = |otherwise| if rotation.pool.is_some() { reason::GRADE_POOL } else { otherwise };
        let mut key = lead.lead_id.to_string();
        let (mut decision, mut why) = match preferred {
            Some((rep, why)) => (self.store.assign_to(domain, &key, rep, self.decision_ttl).await?, why),
            None => {
                let decision = take_turn(key.clone()).await?;
                // The lead or its account had an owner, just not an eligible one.
                let orphaned = merge_owner.is_some() || account_owner.is_some();
                let why = if orphaned { reason::OWNER_UNAVAILABLE } else { reason::ROUND_ROBIN };
                (decision, turn_reason(why))
            }
        };
        while !reps.contains(&decision.rep_id) {
            key = format!("{key}/after:{}", decision.rep_id);
            decision = take_turn(key.clone()).await?;
            why = turn_reason(reason::OWNER_UNAVAILABLE);
        }
        Ok((decision, why))
    }
}

/// Whether the lead shows its owner recorded already: the person owned by `rep` and the account,
/// if any, owned by someone. A decision that is not fresh still records the owner unless this
/// holds, because `record_owner` failing after a fresh decision leaves the owner unrecorded and
/// the retry finds the decision no longer fresh; a returning person whose owner is on record costs
/// no extra round trip.
fn owner_recorded(lead: &QualifiedLead, rep: &str) -> bool {
    let person_owned = lead.merge.as_ref().and_then(|m| m.owner.as_deref()) == Some(rep);
    let account_owned = lead.account.as_ref().is_none_or(|a| a.owner.is_some());
    person_owned && account_owned
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
        let grade = lead.score.as_ref().map(|s| s.grade.as_str());
        let (Some(reps), Some(rotation)) = (self.routing.reps(domain), self.routing.rotation(domain, grade))
        else {
            let why = format!("payload.routing_domain: '{domain}' is not a configured domain");
            return Err(StageError::Invalid(why));
        };
        let lead_id = lead.lead_id.to_string();
        let (decision, why) = self.decide(lead, reps, rotation).await?;
        if decision.fresh || !owner_recorded(lead, &decision.rep_id) {
            let account_id = lead.account.as_ref().map(|a| a.account_id.as_str());
            self.store.record_owner(&lead_id, account_id, &decision.rep_id).await?;
        }

        let now = Utc::now();
        let mut hops = qualified.hops.clone();
        hops.assigned_at = Some(now);
        if decision.fresh {
            metrics::counter!("speedlead_leads_assigned_total", "domain" => domain.clone(), "reason" => why)
                .increment(1);
            observe_segment("qualified_to_assigned", hops.qualified_at, now);
            observe_segment("captured_to_assigned", hops.captured_at, now);
        }
        let assignment = Assignment {
            lead_id: lead.lead_id,
            lead_key: lead.lead_key.clone(),
            routing_domain: domain.clone(),
            rep_id: decision.rep_id,
            attempt: FIRST_ATTEMPT,
            reason: why.into(),
            pool: String::new(),
            sla_due_at: None,
            ack_token: String::new(),
            audit: None,
        };
        // The rep is part of the ids: a replacement rep (the first one left the domain) is a new
        // assignment downstream must not drop as a duplicate; the same rep again is the same one.
        let (attempt, rep_id) = (FIRST_ATTEMPT.to_string(), assignment.rep_id.clone());
        let correlation = qualified.correlation_id;
        let event = Envelope::with_id(
            derived_id(&["event", event_type::ASSIGNED, &lead_id, &attempt, &rep_id]),
            event_type::ASSIGNED,
            correlation,
            LeadEvent::Assigned(assignment.clone()),
        )
        .with_hops(hops.clone());
        let assigned = Envelope::with_id(
            derived_id(&["assignment", &lead_id, &attempt, &rep_id]),
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
