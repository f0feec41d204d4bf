//! The dispatcher: places a lead with a rep and says so. The router stage calls it for each newly
//! qualified lead ([`Dispatcher::assign`]), the escalation timers when a deadline passes and when
//! overflow queues may move (see `dispatch_escalate.rs`).
//!
//! One placement is: read the roster (the lead's current route, the pool's cursor, the reps'
//! states) in one round trip, decide in memory with [`pool::choose`], and commit in one atomic
//! write that re-checks what the decision assumed (no route yet / still the attempt being replaced,
//! the cursor, the caps). A commit that lost a race is decided again from a fresh roster, so two
//! instances deciding at once (a rebalance) can neither double-assign a lead nor skip or reuse a
//! round-robin turn.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use speedlead_topics::{
    derived_id, event_type, Assignment, CandidateVerdict, Envelope, Hops, LeadEvent, LeadSummary,
    RoutingAudit, Topic,
};
use uuid::Uuid;

use crate::ack_token::{AckClaims, AckSigner};
use crate::codec::to_json;
use crate::escalation::{wall_clock, Clock, DeadlineSink, NoTimers};
use crate::pool::{self, eligibility, Pool};
use crate::ports::{Outbound, Publisher};
use crate::routing_store::{Caps, Committed, CursorMove, Miss, Roster, RouteCommit, RouteRecord};
use crate::rules::{Domain, Routing};
use crate::store::{Store, StoreError};

/// [`Assignment::reason`] values, also the `reason` label of `speedlead_leads_assigned_total`: a
/// closed set, so the label stays low-cardinality.
pub mod reason {
    pub const EXISTING_OWNER: &str = "existing_owner";
    pub const ACCOUNT_OWNER: &str = "account_owner";
    pub const OWNER_UNAVAILABLE: &str = "owner_unavailable";
    pub const ROUND_ROBIN: &str = "round_robin";
    pub const WEIGHTED: &str = "weighted";
    pub const LOAD_BALANCED: &str = "load_balanced";
    pub const NEXT_IN_POOL: &str = "escalated_next_in_pool";
    pub const BACKUP_POOL: &str = "escalated_backup_pool";
    pub const MANAGER: &str = "escalated_manager";
    pub const OVERFLOW: &str = "overflow";
}

/// What the accept link of a stored route vouches for: its lead, domain, rep and attempt, valid
/// `token_ttl` from the assignment. Deterministic, so the assignment message and the rep's
/// dashboard (which signs it again from the route) show the same link.
pub fn ack_claims(lead_id: Uuid, domain: &str, record: &RouteRecord, token_ttl: Duration) -> AckClaims {
    AckClaims {
        lead_id,
        domain: domain.to_string(),
        rep_id: record.rep_id.clone(),
        attempt: record.attempt,
        expires_at: record.assigned_ms / 1000 + token_ttl.as_secs() as i64,
    }
}

/// Decisions that lost this many races in a row give up (transient: the record is retried). 16 was
/// used up once by twelve deciders racing for one pool on a loaded two-core machine; with the
/// growing random pause, 64 rounds still give up within about half a second.
const MAX_CONTENDED: usize = 64;

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// How long a route is remembered: longer than any redelivery or SLA chain can take.
    pub decision_ttl: Duration,
    /// How long an accept link stays valid after the assignment.
    pub token_ttl: Duration,
}

pub struct Dispatcher {
    pub(crate) routing: Arc<ArcSwap<Routing>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) signer: AckSigner,
    pub(crate) settings: DispatchSettings,
    /// Set once the timers run (they need the dispatcher first); until then sweeps find deadlines.
    deadlines: OnceLock<Arc<dyn DeadlineSink>>,
    /// The time decisions are made at (working hours, daily caps, SLA deadlines): the wall clock,
    /// or a replayed event's time in `speedlead simulate`.
    clock: Clock,
}

/// A lead waiting in an overflow queue: what placing it again needs, without the whole lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedLead {
    pub lead_id: Uuid,
    pub lead_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_skills: Vec<String>,
    pub sla_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<LeadSummary>,
}

/// A lead to place, whatever brought it here.
pub(crate) struct Ticket<'a> {
    pub lead_id: Uuid,
    pub lead_key: &'a str,
    pub domain: &'a Domain,
    pub pool: &'a Pool,
    pub rule: Option<&'a str>,
    pub required: &'a [String],
    pub sla: Duration,
    /// The route this placement replaces (an escalation, or an escalated lead leaving overflow);
    /// `None`: a first assignment.
    pub current: Option<&'a RouteRecord>,
    pub from_overflow: bool,
    /// Reps who had the lead.
    pub exclude: &'a [String],
    /// A rep to try before the pool (`reason`), e.g. the account owner or the missed rep's manager.
    pub preferred: Option<(&'a str, &'static str)>,
    /// Only the preferred rep, never the pool (the manager step of the chain).
    pub preferred_only: bool,
    /// The reason of a pool pick.
    pub pick_reason: &'static str,
    pub miss: Option<Miss>,
    /// Who the lead is, stored with the route.
    pub summary: Option<&'a LeadSummary>,
}

/// What [`Dispatcher::pick`] decided before committing: the rep (`None`: nobody), why, the pool's
/// next cursor (`None`: not a pool turn) and every rep considered with its verdict.
struct Pick {
    rep: Option<String>,
    reason: &'static str,
    cursor: Option<u64>,
    candidates: Vec<CandidateVerdict>,
}

pub(crate) enum Placed {
    Assigned {
        record: RouteRecord,
        audit: RoutingAudit,
        fresh: bool,
    },
    /// Nobody can take it now.
    Nobody(RoutingAudit),
    /// The route it was to replace is gone: acknowledged, or moved on by someone else.
    Moved(RouteRecord),
}

impl Dispatcher {
    pub fn new(
        routing: Arc<ArcSwap<Routing>>,
        store: Arc<dyn Store>,
        publisher: Arc<dyn Publisher>,
        signer: AckSigner,
        settings: DispatchSettings,
    ) -> Self {
        Dispatcher {
            routing,
            store,
            publisher,
            signer,
            settings,
            deadlines: OnceLock::new(),
            clock: wall_clock(),
        }
    }

    /// Decides at the times `clock` tells instead of the wall clock's.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt((self.clock)()).single().unwrap_or_else(Utc::now)
    }

    /// Where fresh deadlines are reported from now on (once; later calls are ignored).
    pub fn report_deadlines_to(&self, sink: Arc<dyn DeadlineSink>) {
        let _ = self.deadlines.set(sink);
    }

    pub(crate) fn deadlines(&self) -> &dyn DeadlineSink {
        self.deadlines.get().map(|d| d.as_ref()).unwrap_or(&NoTimers)
    }

    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// Places `ticket`: the preferred rep if eligible, else the pool's pick, committed atomically.
    pub(crate) async fn place(&self, routing: &Routing, t: &Ticket<'_>) -> Result<Placed, StoreError> {
        let domain = t.domain.name.as_str();
        let lead_id = t.lead_id.to_string();
        // The pool's reps, plus the preferred rep when they are not in it: copied only then, since
        // every lead is placed through here.
        let reps: Cow<'_, [String]> =
            match t.preferred.filter(|(rep, _)| !t.pool.reps.iter().any(|r| r == rep)) {
                Some((rep, _)) => Cow::Owned(t.pool.reps.iter().cloned().chain([rep.to_string()]).collect()),
                None => Cow::Borrowed(&t.pool.reps),
            };
        for attempt in 0..MAX_CONTENDED {
            if attempt > 0 {
                // Racing deciders back off by a random, growing pause, so they stop colliding
                // instead of all re-reading and re-committing in lockstep.
                let pause = fastrand::u64(0..=200 * (1 << attempt.min(6)));
                tokio::time::sleep(Duration::from_micros(pause)).await;
            }
            let now = self.now();
            let mut roster = self.store.roster(domain, &t.pool.name, &lead_id, &reps).await?;
            match (t.current, roster.route.take()) {
                (None, Some(existing)) => {
                    let audit = self.audit_of(t, Vec::new());
                    return Ok(Placed::Assigned { record: existing, audit, fresh: false });
                }
                // Same attempt, still unacknowledged: the route this placement replaces (its
                // store flags, e.g. `parked`, may differ from what the caller read).
                (Some(current), route)
                    if !route.as_ref().is_some_and(|r| r.attempt == current.attempt && !r.acked) =>
                {
                    return Ok(match route {
                        Some(route) => Placed::Moved(route),
                        None => Placed::Moved(current.clone()),
                    });
                }
                _ => {}
            }
            let Pick { rep, reason: why, cursor, candidates } = self.pick(routing, t, &mut roster, now);
            let Some(rep) = rep else {
                return Ok(Placed::Nobody(self.audit_of(t, candidates)));
            };
            let commit = self.commit_for(routing, t, (&rep, why, cursor), roster.cursor, now);
            match self.store.commit_route(&commit, self.settings.decision_ttl).await? {
                Committed::Fresh(record) => {
                    let audit = self.audit_of(t, candidates);
                    return Ok(Placed::Assigned { record, audit, fresh: true });
                }
                Committed::Existing(record) if t.current.is_none() => {
                    let audit = self.audit_of(t, Vec::new());
                    return Ok(Placed::Assigned { record, audit, fresh: false });
                }
                Committed::Existing(record) => return Ok(Placed::Moved(record)),
                Committed::Contended => {
                    metrics::counter!("speedlead_routing_contended_total").increment(1);
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "lead {lead_id}: {MAX_CONTENDED} routing decisions in a row lost a race"
        )))
    }

    /// The preferred rep if eligible, else the pool's pick (unless `preferred_only`).
    fn pick(&self, routing: &Routing, t: &Ticket<'_>, roster: &mut Roster, now: DateTime<Utc>) -> Pick {
        let mut candidates = Vec::new();
        if let Some((rep, why)) = t.preferred {
            let at = t.pool.reps.iter().position(|r| r == rep).unwrap_or(t.pool.reps.len());
            let state = roster.states.get(at).cloned().unwrap_or_default();
            // An owner keeps their lead whatever skills a rule asks for: one person, one rep.
            match eligibility(routing.rep(rep), &state, &[], t.exclude, now) {
                Ok(()) => {
                    candidates.push(verdict(rep, "chosen"));
                    return Pick { rep: Some(rep.to_string()), reason: why, cursor: None, candidates };
                }
                Err(skip) => candidates.push(verdict(rep, &skip.verdict())),
            }
            if t.preferred_only {
                return Pick { rep: None, reason: why, cursor: None, candidates };
            }
        }
        roster.states.truncate(t.pool.reps.len());
        let choice = pool::choose(t.pool, |id| routing.rep(id), roster, t.required, t.exclude, now);
        candidates.extend(choice.candidates);
        Pick { rep: choice.rep, reason: t.pick_reason, cursor: Some(choice.cursor), candidates }
    }

    /// The commit of `rep` (picked for `why`, moving the cursor from `expected` to `cursor`).
    fn commit_for(
        &self,
        routing: &Routing,
        t: &Ticket<'_>,
        (rep, why, cursor): (&str, &str, Option<u64>),
        expected: u64,
        now: DateTime<Utc>,
    ) -> RouteCommit {
        let profile = routing.rep(rep);
        let due = match profile {
            Some(p) => p.sla_due(now, t.sla, t.domain.working_hours_only),
            None => now + t.sla,
        };
        let mut tried = t.exclude.to_vec();
        tried.retain(|r| r != rep);
        let record = RouteRecord {
            lead_key: t.lead_key.to_string(),
            rep_id: rep.to_string(),
            attempt: t.current.map_or(1, |c| c.attempt + 1),
            pool: t.pool.name.clone(),
            rule: t.rule.map(str::to_string),
            reason: why.to_string(),
            assigned_ms: now.timestamp_millis(),
            due_ms: due.timestamp_millis(),
            acked: false,
            required_skills: t.required.to_vec(),
            sla_ms: t.sla.as_millis() as u64,
            parked: false,
            released: false,
            tried,
            summary: t.summary.cloned(),
        };
        RouteCommit {
            domain: t.domain.name.clone(),
            lead_id: t.lead_id.to_string(),
            record,
            rep_day: profile.map_or_else(|| now.format("%Y-%m-%d").to_string(), |p| p.local_day(now)),
            caps: profile.map_or(Caps::default(), |p| p.caps),
            cursor: cursor.map(|next| CursorMove { pool: t.pool.name.clone(), expected, next }),
            replaces: t.current.map(|c| c.attempt),
            miss: t.miss.clone(),
            from_overflow: t.from_overflow.then(|| t.pool.name.clone()),
        }
    }

    pub(crate) fn audit_of(&self, t: &Ticket<'_>, candidates: Vec<CandidateVerdict>) -> RoutingAudit {
        RoutingAudit {
            rule: t.rule.map(str::to_string),
            pool: t.pool.name.clone(),
            strategy: strategy_name(t.pool).to_string(),
            required_skills: t.required.to_vec(),
            candidates,
        }
    }

    /// The assignment message for a stored route, with its accept-link token.
    pub(crate) fn assignment(
        &self,
        lead_id: Uuid,
        domain: &str,
        record: &RouteRecord,
        audit: RoutingAudit,
    ) -> Assignment {
        let claims = ack_claims(lead_id, domain, record, self.settings.token_ttl);
        Assignment {
            lead_id,
            lead_key: record.lead_key.clone(),
            routing_domain: domain.to_string(),
            rep_id: record.rep_id.clone(),
            attempt: record.attempt,
            reason: record.reason.clone(),
            pool: record.pool.clone(),
            sla_due_at: Utc.timestamp_millis_opt(record.due_ms).single(),
            ack_token: self.signer.sign(&claims),
            audit: Some(audit),
            lead: record.summary.clone(),
        }
    }

    /// `leads.assignments` and `lead.assigned` for an assignment. Ids are derived from (lead,
    /// attempt, rep), so a republished decision is a duplicate downstream, never a second owner.
    pub(crate) fn assignment_messages(
        &self,
        assignment: Assignment,
        correlation: Uuid,
        hops: Hops,
    ) -> Vec<Outbound> {
        let lead_id = assignment.lead_id.to_string();
        let (attempt, rep_id) = (assignment.attempt.to_string(), assignment.rep_id.clone());
        let domain = assignment.routing_domain.clone();
        let event = Envelope::with_id(
            derived_id(&["event", event_type::ASSIGNED, &lead_id, &attempt, &rep_id]),
            event_type::ASSIGNED,
            correlation,
            LeadEvent::Assigned(Box::new(assignment.clone())),
        )
        .with_hops(hops.clone());
        let assigned = Envelope::with_id(
            derived_id(&["assignment", &lead_id, &attempt, &rep_id]),
            event_type::ASSIGNED,
            correlation,
            assignment,
        )
        .with_hops(hops);
        vec![
            Outbound { topic: Topic::Assignments, key: domain, payload: to_json(&assigned) },
            Outbound { topic: Topic::Events, key: lead_id, payload: to_json(&event) },
        ]
    }

    /// A lead event keyed by lead id with an id derived from `parts`.
    pub(crate) fn event(&self, kind: &str, parts: &[&str], lead_id: Uuid, event: LeadEvent) -> Outbound {
        let mut id_parts = vec!["event", kind];
        id_parts.extend_from_slice(parts);
        let envelope = Envelope::with_id(derived_id(&id_parts), kind, lead_id, event);
        Outbound { topic: Topic::Events, key: lead_id.to_string(), payload: to_json(&envelope) }
    }
}

fn verdict(rep: &str, verdict: &str) -> CandidateVerdict {
    CandidateVerdict { rep_id: rep.to_string(), verdict: verdict.to_string() }
}

pub(crate) fn strategy_name(pool: &Pool) -> &'static str {
    match pool.strategy {
        crate::rules_config::Strategy::RoundRobin => reason::ROUND_ROBIN,
        crate::rules_config::Strategy::Weighted => reason::WEIGHTED,
        crate::rules_config::Strategy::LoadBalanced => reason::LOAD_BALANCED,
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
