//! Router stage: places each qualified lead with a rep of its routing domain, publishes the
//! assignment to `leads.assignments` and `lead.assigned` (with the full audit: rule, pool, every
//! candidate and why each was skipped) to `leads.events`, and arms the lead's SLA deadline.
//!
//! Who, in order (the [`Assignment::reason`](speedlead_topics::Assignment) in brackets):
//! 1. a returning person's lead goes to the rep who already owns it (`existing_owner`), else a lead
//!    of an owned account to the account's owner (`account_owner`), when that rep is eligible
//!    (available, on duty, under their caps): one person, one company, one rep;
//! 2. else the pool the lead's rule names (first matching rule; else the grade's pool; else the
//!    domain's default pool) picks by its strategy (`round_robin`, `weighted`, `load_balanced`).
//!    An owner who is in the domain but not eligible hands the lead to their own pool instead
//!    (`owner_unavailable`), so it stays with the owner's team;
//! 3. nobody eligible: the lead waits in the pool's overflow queue (`lead.queued`) and the
//!    escalation timer offers it as soon as a rep frees up.
//!
//! The decision is stored (atomically, see [`crate::dispatch`]) before anything is published, so a
//! redelivered lead gets the stored rep again and the republished messages carry the same ids:
//! downstream sees a duplicate, never a second owner.

use std::sync::Arc;

use async_trait::async_trait;
use speedlead_topics::{Envelope, LeadSummary, QualifiedLead};

use crate::codec::parse_envelope;
use crate::dispatch::{reason, strategy_name, Dispatcher, Placed, QueuedLead, Ticket};
use crate::ports::{Outbound, Record};
use crate::stage::{Stage, StageError};
use crate::telemetry::observe_segment;

pub struct RouterStage {
    dispatcher: Arc<Dispatcher>,
}

impl RouterStage {
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        RouterStage { dispatcher }
    }

    async fn assign(&self, qualified: &Envelope<QualifiedLead>) -> Result<Vec<Outbound>, StageError> {
        let d = &self.dispatcher;
        let lead = &qualified.payload;
        let routing = d.routing();
        let Some(route) = routing.route(lead) else {
            let why = format!("payload.routing_domain: '{}' is not a configured domain", lead.routing_domain);
            return Err(StageError::Invalid(why));
        };
        let domain = route.domain;
        let merge_owner = lead.merge.as_ref().and_then(|m| m.owner.as_deref());
        let account_owner = lead.account.as_ref().and_then(|a| a.owner.as_deref());
        let in_domain = |rep: &&str| domain.reps.iter().any(|r| r == rep);
        let preferred = match (merge_owner.filter(in_domain), account_owner.filter(in_domain)) {
            (Some(rep), _) => Some((rep, reason::EXISTING_OWNER)),
            (None, Some(rep)) => Some((rep, reason::ACCOUNT_OWNER)),
            (None, None) => None,
        };
        // An unavailable owner's lead stays with their team: the owner's pool, not the rule's.
        let pool = match preferred {
            Some((owner, _)) if !route.pool.reps.iter().any(|r| r == owner) => {
                domain.pools_of(owner).next().unwrap_or(route.pool)
            }
            _ => route.pool,
        };
        let orphaned = merge_owner.is_some() || account_owner.is_some();
        let summary = LeadSummary::of(lead, qualified.hops.captured_at);
        let pick_reason = if orphaned { reason::OWNER_UNAVAILABLE } else { strategy_name(pool) };
        let ticket = Ticket {
            lead_id: lead.lead_id,
            lead_key: &lead.lead_key,
            domain,
            pool,
            rule: route.rule,
            required: &route.required_skills,
            sla: route.sla,
            current: None,
            from_overflow: false,
            exclude: &[],
            preferred,
            preferred_only: false,
            pick_reason,
            miss: None,
            summary: Some(&summary),
        };
        let lead_id = lead.lead_id.to_string();
        let (record, audit, fresh) = match d.place(&routing, &ticket).await? {
            Placed::Assigned { record, audit, fresh } => (record, audit, fresh),
            Placed::Moved(record) => (record, d.audit_of(&ticket, Vec::new()), false),
            Placed::Nobody(audit) => {
                let queued = QueuedLead {
                    lead_id: lead.lead_id,
                    lead_key: lead.lead_key.clone(),
                    rule: route.rule.map(str::to_string),
                    required_skills: route.required_skills.clone(),
                    sla_ms: route.sla.as_millis() as u64,
                    summary: Some(summary.clone()),
                };
                return Ok(vec![d.queue_first(domain, pool, &queued, audit).await?]);
            }
        };
        if fresh || !owner_recorded(lead, &record.rep_id) {
            let account_id = lead.account.as_ref().map(|a| a.account_id.as_str());
            d.store.record_owner(&lead_id, account_id, &record.rep_id).await?;
        }
        let now = d.now();
        let mut hops = qualified.hops.clone();
        hops.assigned_at = Some(now);
        if fresh {
            d.deadlines().arm(&domain.name, &lead_id, record.due_ms);
            let labels = [("domain", domain.name.clone()), ("reason", record.reason.clone())];
            metrics::counter!("speedlead_leads_assigned_total", &labels).increment(1);
            observe_segment("qualified_to_assigned", hops.qualified_at, now);
            observe_segment("captured_to_assigned", hops.captured_at, now);
        }
        let mut assignment = d.assignment(lead.lead_id, &domain.name, &record, audit);
        // A returning person's capture republishes their lead's decision under this capture's key.
        assignment.lead_key.clone_from(&lead.lead_key);
        Ok(d.assignment_messages(assignment, qualified.correlation_id, hops))
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
        self.assign(&qualified).await
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
