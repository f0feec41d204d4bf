//! What the escalation timers ask of the dispatcher: move a lead whose SLA passed down the
//! escalation chain, and offer overflow queues to reps who freed up.
//!
//! The chain, in order: the next eligible rep of the lead's pool who has not had it, then the
//! pool's backup pool, then the missed rep's manager, then the pool's overflow queue. A lead in
//! overflow after an escalation stays with the rep who missed it (they can still accept it) until
//! someone frees up: never unowned. After `escalation.max_attempts` assignments the lead goes
//! straight to overflow.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use speedlead_topics::{event_type, Escalation, Hops, LeadEvent, LeadQueued};
use uuid::Uuid;

use crate::dispatch::{reason, Dispatcher, Placed, QueuedLead, Ticket};
use crate::escalation::Escalate;
use crate::ports::Outbound;
use crate::routing_store::{Miss, Park, RouteRecord};
use crate::rules::{Domain, Routing};
use crate::stage::StageError;

/// Publishing an escalation's messages is tried this often in line, then again in the background
/// (the commit is done: retrying the escalation itself would find nothing to do).
const PUBLISH_ATTEMPTS: u32 = 3;

/// How long background publishing keeps trying before it gives up and logs the lost messages.
const PUBLISH_GIVE_UP: Duration = Duration::from_secs(600);

/// Overflow leads offered per pool per round: the oldest first.
const OFFER_BATCH: usize = 16;

/// One step of the escalation chain: the pool it picks from, the rep it tries first (the manager),
/// and the reason the new assignment carries.
type Step<'a> = (&'a crate::pool::Pool, Option<(&'a str, &'static str)>, &'static str);

#[async_trait]
impl Escalate for Dispatcher {
    async fn deadline_due(
        &self,
        domain: &str,
        lead_id: &str,
        due_ms: i64,
    ) -> Result<Option<i64>, StageError> {
        let Some(current) = self.store.route(domain, lead_id).await? else {
            self.store.drop_deadline(domain, lead_id).await?;
            return Ok(None);
        };
        let now_ms = self.now().timestamp_millis();
        // Accepted, closed, or parked in overflow (another process fired this deadline first):
        // nothing for this deadline to do.
        if current.acked || current.released || current.parked {
            self.store.drop_deadline(domain, lead_id).await?;
            return Ok(None);
        }
        if current.due_ms > now_ms {
            // Re-armed since this deadline was queued (a newer attempt): wait for that one.
            return Ok(Some(current.due_ms));
        }
        let routing = self.routing();
        let Some(domain) = routing.domain(domain) else {
            tracing::warn!(domain, lead_id, "deadline of a domain no longer configured; dropping it");
            self.store.drop_deadline(domain, lead_id).await?;
            return Ok(None);
        };
        let lead =
            lead_id.parse::<Uuid>().map_err(|e| StageError::Invalid(format!("lead id {lead_id}: {e}")))?;
        let _ = due_ms;
        self.escalate(&routing, domain, lead, &current).await
    }

    async fn offer_overflow(&self, domain: &str) -> Result<(), StageError> {
        let routing = self.routing();
        let Some(domain) = routing.domain(domain) else { return Ok(()) };
        for pool in &domain.pools {
            self.offer_pool(&routing, domain, &pool.name).await?;
        }
        Ok(())
    }
}

impl Dispatcher {
    async fn escalate(
        &self,
        routing: &Routing,
        domain: &Domain,
        lead: Uuid,
        current: &RouteRecord,
    ) -> Result<Option<i64>, StageError> {
        let missed = current.rep_id.as_str();
        let mut tried = current.tried.clone();
        tried.push(missed.to_string());
        let pool = domain.pool(&current.pool).unwrap_or_else(|| domain.default_pool());
        let sla = match current.sla_ms {
            0 => Duration::from_millis((current.due_ms - current.assigned_ms).max(1000) as u64),
            configured => Duration::from_millis(configured),
        };
        let miss = Some(Miss { rep_id: missed.to_string(), away_after: domain.escalation.away_after_misses });

        let manager =
            routing.rep(missed).and_then(|p| p.manager.as_deref()).filter(|m| !tried.iter().any(|t| t == m));
        let backup = pool.backup.as_deref().and_then(|b| domain.pool(b));
        let mut steps: Vec<Step<'_>> = Vec::new();
        if current.attempt < domain.escalation.max_attempts {
            steps.push((pool, None, reason::NEXT_IN_POOL));
            if let Some(backup) = backup {
                steps.push((backup, None, reason::BACKUP_POOL));
            }
            if let Some(manager) = manager {
                steps.push((pool, Some((manager, reason::MANAGER)), reason::MANAGER));
            }
        }
        for (step_pool, preferred, step) in steps {
            let ticket = Ticket {
                lead_id: lead,
                lead_key: &current.lead_key,
                domain,
                pool: step_pool,
                rule: current.rule.as_deref(),
                required: &current.required_skills,
                sla,
                current: Some(current),
                from_overflow: false,
                exclude: &tried,
                preferred,
                preferred_only: preferred.is_some(),
                pick_reason: step,
                miss: miss.clone(),
                summary: current.summary.as_ref(),
            };
            match self.place(routing, &ticket).await? {
                Placed::Assigned { record, audit, .. } => {
                    self.announce_escalation(domain, lead, current, step, Some((record.clone(), audit)))
                        .await?;
                    return Ok(Some(record.due_ms));
                }
                Placed::Moved(route) => return Ok(next_deadline(current, &route)),
                Placed::Nobody(_) => {}
            }
        }
        // Nobody left on the chain: the lead waits in overflow, still with the missed rep.
        let queued = QueuedLead {
            lead_id: lead,
            lead_key: current.lead_key.clone(),
            rule: current.rule.clone(),
            required_skills: current.required_skills.clone(),
            sla_ms: sla.as_millis() as u64,
            summary: current.summary.clone(),
        };
        let park = Park {
            domain: domain.name.clone(),
            lead_id: lead.to_string(),
            attempt: current.attempt,
            pool: pool.name.clone(),
            lead: serde_json::to_string(&queued).expect("queued lead serializes"),
            queued_ms: self.now().timestamp_millis(),
            miss,
        };
        if !self.store.park(&park).await? {
            // Someone else parked, moved or closed it meanwhile, or the rep accepted after all.
            let now = self.store.route(&domain.name, &park.lead_id).await?;
            return Ok(now.and_then(|route| next_deadline(current, &route)));
        }
        self.announce_escalation(domain, lead, current, reason::OVERFLOW, None).await?;
        Ok(None)
    }

    /// Publishes `lead.escalated` and, when the lead went to someone, the new assignment.
    async fn announce_escalation(
        &self,
        domain: &Domain,
        lead: Uuid,
        missed: &RouteRecord,
        step: &'static str,
        placed: Option<(RouteRecord, speedlead_topics::RoutingAudit)>,
    ) -> Result<(), StageError> {
        let mut messages = Vec::new();
        let assignment = placed.map(|(record, audit)| self.assignment(lead, &domain.name, &record, audit));
        if let Some(assignment) = &assignment {
            let hops = Hops { assigned_at: Some(self.now()), ..Hops::default() };
            messages.extend(self.assignment_messages(assignment.clone(), lead, hops));
            let account = None;
            self.store.record_owner(&lead.to_string(), account, &assignment.rep_id).await?;
        }
        metrics::counter!("speedlead_sla_misses_total", "domain" => domain.name.clone()).increment(1);
        let escalation = Escalation {
            lead_id: lead,
            routing_domain: domain.name.clone(),
            missed_rep_id: missed.rep_id.clone(),
            missed_attempt: missed.attempt,
            due_at: Utc.timestamp_millis_opt(missed.due_ms).single().unwrap_or_else(Utc::now),
            step: step.to_string(),
            assignment,
        };
        let attempt = missed.attempt.to_string();
        let event = LeadEvent::Escalated(Box::new(escalation));
        messages.push(self.event(event_type::ESCALATED, &[&lead.to_string(), &attempt], lead, event));
        metrics::counter!("speedlead_leads_escalated_total", "domain" => domain.name.clone(), "step" => step)
            .increment(1);
        self.publish_or_keep_trying(messages).await;
        Ok(())
    }

    /// Publishes messages of a placement already committed. The commit cannot be undone and a
    /// retried escalation would find nothing to do, so a broker outage must not lose them: after
    /// a few tries in line, a background task keeps trying (up to [`PUBLISH_GIVE_UP`]). A crash
    /// meanwhile still loses them; the new rep's deadline then moves the lead on.
    async fn publish_or_keep_trying(&self, messages: Vec<Outbound>) {
        let Err(error) = self.publish(messages.clone()).await else { return };
        tracing::warn!(%error, "publishing a committed reassignment failed; retrying in the background");
        let publisher = self.publisher.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut pause = Duration::from_millis(500);
            while started.elapsed() < PUBLISH_GIVE_UP {
                tokio::time::sleep(pause).await;
                if publisher.publish(messages.clone()).await.is_ok() {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            metrics::counter!("speedlead_escalation_publish_failures_total").increment(1);
            tracing::error!(messages = messages.len(), "gave up publishing a committed reassignment");
        });
    }

    pub(crate) async fn publish(&self, messages: Vec<Outbound>) -> Result<(), StageError> {
        let mut last = None;
        for attempt in 1..=PUBLISH_ATTEMPTS {
            match self.publisher.publish(messages.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = Some(e.message);
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
            }
        }
        Err(StageError::Transient(format!("publish: {}", last.unwrap_or_default())))
    }

    /// Offers the oldest leads of one pool's overflow to its reps; a lead nobody can take yet stays
    /// where it is (it keeps its place: the queue is ordered by when it was first queued).
    async fn offer_pool(
        &self,
        routing: &Routing,
        domain: &Domain,
        pool_name: &str,
    ) -> Result<(), StageError> {
        let name = domain.name.as_str();
        let labels = [("domain", name.to_string()), ("pool", pool_name.to_string())];
        let waiting = self.store.overflow_len(name, pool_name).await?;
        metrics::gauge!("speedlead_overflow_leads", &labels).set(waiting as f64);
        if waiting == 0 {
            metrics::gauge!("speedlead_overflow_oldest_wait_seconds", &labels).set(0.0);
            return Ok(());
        }
        let Some(pool) = domain.pool(pool_name) else { return Ok(()) };
        let queued = self.store.overflow(name, pool_name, OFFER_BATCH).await?;
        let now_ms = self.now().timestamp_millis();
        let oldest = queued.first().map_or(0, |q| now_ms - q.queued_ms).max(0) as f64 / 1000.0;
        metrics::gauge!("speedlead_overflow_oldest_wait_seconds", &labels).set(oldest);
        if oldest > domain.escalation.overflow_alert_secs as f64 {
            metrics::counter!("speedlead_overflow_alerts_total", &labels).increment(1);
            tracing::warn!(
                domain = name,
                pool = pool_name,
                oldest_wait_secs = oldest as u64,
                waiting,
                "overflow: a lead has waited longer than the alert threshold"
            );
        }
        for entry in queued {
            let Ok(lead) = serde_json::from_str::<QueuedLead>(&entry.lead) else {
                // Kept, it would block the head of the queue for good.
                tracing::error!(domain = name, pool = pool_name, lead_id = %entry.lead_id, "unreadable overflow entry; dropping it from the queue");
                self.store.remove_overflow(name, pool_name, &entry.lead_id).await?;
                continue;
            };
            let current = self.store.route(name, &entry.lead_id).await?;
            if current.as_ref().is_some_and(|c| c.acked || c.released || !c.parked) {
                // Accepted or closed while waiting, or already placed another way (a redelivered
                // lead the router assigned): it no longer needs anyone from here.
                self.store.remove_overflow(name, pool_name, &entry.lead_id).await?;
                continue;
            }
            let mut tried = current.as_ref().map(|c| c.tried.clone()).unwrap_or_default();
            tried.extend(current.as_ref().map(|c| c.rep_id.clone()));
            let ticket = Ticket {
                lead_id: lead.lead_id,
                lead_key: &lead.lead_key,
                domain,
                pool,
                rule: lead.rule.as_deref(),
                required: &lead.required_skills,
                sla: Duration::from_millis(lead.sla_ms),
                current: current.as_ref(),
                from_overflow: true,
                exclude: &tried,
                preferred: None,
                preferred_only: false,
                pick_reason: reason::OVERFLOW,
                miss: None,
                summary: lead.summary.as_ref(),
            };
            match self.place(routing, &ticket).await? {
                Placed::Assigned { record, audit, fresh: true } => {
                    self.deadlines().arm(name, &entry.lead_id, record.due_ms);
                    let assignment = self.assignment(lead.lead_id, name, &record, audit);
                    let hops = Hops { assigned_at: Some(self.now()), ..Hops::default() };
                    self.store.record_owner(&entry.lead_id, None, &record.rep_id).await?;
                    let labels = [("domain", name.to_string()), ("reason", reason::OVERFLOW.to_string())];
                    metrics::counter!("speedlead_leads_assigned_total", &labels).increment(1);
                    self.publish_or_keep_trying(self.assignment_messages(assignment, lead.lead_id, hops))
                        .await;
                }
                // Placed by someone else (another instance's offer, a redelivery): not ours to place.
                Placed::Assigned { .. } | Placed::Moved(_) => {
                    self.store.remove_overflow(name, pool_name, &entry.lead_id).await?;
                }
                Placed::Nobody(_) => {}
            }
        }
        Ok(())
    }

    /// Queues a first assignment nobody can take, and says so on `leads.events`.
    pub(crate) async fn queue_first(
        &self,
        domain: &Domain,
        pool: &crate::pool::Pool,
        queued: &QueuedLead,
        audit: speedlead_topics::RoutingAudit,
    ) -> Result<Outbound, StageError> {
        let (name, lead_id) = (domain.name.as_str(), queued.lead_id.to_string());
        let json = serde_json::to_string(queued).expect("queued lead serializes");
        self.store.enqueue_overflow(name, &pool.name, &lead_id, &json, self.now().timestamp_millis()).await?;
        metrics::counter!("speedlead_leads_queued_total", "domain" => name.to_string()).increment(1);
        let event = LeadEvent::Queued(Box::new(LeadQueued {
            lead_id: queued.lead_id,
            routing_domain: name.to_string(),
            pool: pool.name.clone(),
            audit,
        }));
        Ok(self.event(event_type::QUEUED, &[&lead_id], queued.lead_id, event))
    }
}

/// The deadline to arm after a placement found the route already `moved` on from `missed`: the
/// new attempt's, if there is one and it is still waiting; none when the same attempt was accepted,
/// closed or parked, so a deadline with nothing left to do is not fired again and again.
fn next_deadline(missed: &RouteRecord, moved: &RouteRecord) -> Option<i64> {
    let waiting = moved.attempt != missed.attempt && !moved.acked && !moved.released && !moved.parked;
    waiting.then_some(moved.due_ms)
}
