//! The in-memory half of the routing state: [`RoutingStore`] for [`MemoryStore`].
//!
//! It mirrors the Redis layout in `src/store/redis_routing.rs` (a route with `acked`, `parked` and
//! `released` beside its record, rep hashes, cursors, and sorted sets ordered by score then member) so both
//! pass the same contract, expiry included. One mutex over all of it makes every method a single
//! atomic step, as one Lua script is on Redis; nothing awaits while it is held.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{MemoryStore, StoreError};
use crate::routing_store::{
    AckOutcome, Committed, Park, Queued, RepState, RepStatus, Roster, RouteCommit, RouteRecord, RoutingStore,
};

#[derive(Debug, Default)]
pub(super) struct RoutingState {
    domains: Mutex<HashMap<String, Domain>>,
}

impl RoutingState {
    /// Runs `f` on the domain's state under the one lock.
    fn with<T>(&self, domain: &str, f: impl FnOnce(&mut Domain) -> T) -> T {
        let mut domains = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        f(domains.entry(domain.to_string()).or_default())
    }
}

/// One routing domain, as the keys of its hash tag are on Redis.
#[derive(Debug, Default)]
struct Domain {
    routes: HashMap<String, Route>,
    reps: HashMap<String, RepState>,
    cursors: HashMap<String, u64>,
    deadlines: Scored,
    /// Pool → its queue.
    overflow: HashMap<String, Scored>,
    /// Lead id → lead JSON, shared by the domain's queues (`overflowlead:{d}`).
    overflow_leads: HashMap<String, String>,
}

/// A stored route; the store's own flags (`acked`, `parked`, `released`) live in its record.
#[derive(Debug)]
struct Route {
    record: RouteRecord,
    expires: Instant,
}

/// A Redis sorted set: one score per member, ordered by score and then by member.
#[derive(Debug, Default)]
struct Scored {
    order: BTreeSet<(i64, String)>,
    scores: HashMap<String, i64>,
}

impl Scored {
    /// `ZADD`: sets the member's score, moving it if it was there.
    fn add(&mut self, member: &str, score: i64) {
        self.remove(member);
        self.order.insert((score, member.to_string()));
        self.scores.insert(member.to_string(), score);
    }

    /// `ZADD NX`: true if the member was new.
    fn add_new(&mut self, member: &str, score: i64) -> bool {
        if self.scores.contains_key(member) {
            return false;
        }
        self.add(member, score);
        true
    }

    /// `ZREM`: true if the member was there.
    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.order.remove(&(score, member.to_string())),
            None => false,
        }
    }

    /// `ZRANGEBYSCORE -inf max LIMIT 0 limit`.
    fn first(&self, max: Option<i64>, limit: usize) -> Vec<(String, i64)> {
        self.order
            .iter()
            .take_while(|(score, _)| max.is_none_or(|max| *score <= max))
            .take(limit)
            .map(|(score, member)| (member.clone(), *score))
            .collect()
    }
}

/// Takes one open lead back from a rep; never below 0, so a count that drifted (a route that
/// expired while open) cannot wrap around.
fn give_back(rep: &mut RepState) {
    rep.open = rep.open.saturating_sub(1);
}

/// An SLA miss: counted, and the rep set away when their misses reach `away_after`.
fn count_miss(rep: &mut RepState, away_after: Option<u32>) {
    rep.misses += 1;
    if away_after.is_some_and(|limit| rep.misses >= limit) {
        rep.status = RepStatus::Away;
    }
}

impl Domain {
    /// The lead's live route; an expired one is dropped on the way, as Redis would have.
    fn route(&mut self, lead_id: &str, now: Instant) -> Option<&mut Route> {
        if self.routes.get(lead_id).is_some_and(|route| route.expires <= now) {
            self.routes.remove(lead_id);
        }
        self.routes.get_mut(lead_id)
    }

    fn rep(&mut self, rep_id: &str) -> &mut RepState {
        self.reps.entry(rep_id.to_string()).or_default()
    }

    fn commit(&mut self, commit: &RouteCommit, ttl: Duration, now: Instant) -> Result<Committed, StoreError> {
        let record = &commit.record;
        let replaced = match (self.route(&commit.lead_id, now), commit.replaces) {
            (Some(route), None) => return Ok(Committed::Existing(route.record.clone())),
            (None, Some(attempt)) => {
                return Err(StoreError::Conflict(format!(
                    "lead {}: no route to replace (attempt {attempt})",
                    commit.lead_id
                )))
            }
            (Some(route), Some(attempt))
                if route.record.attempt != attempt || route.record.acked || route.record.released =>
            {
                return Ok(Committed::Existing(route.record.clone()))
            }
            (Some(route), Some(_)) => Some(route.record.rep_id.clone()),
            (None, None) => None,
        };
        if let Some(cursor) = &commit.cursor {
            if self.cursors.get(&cursor.pool).copied().unwrap_or(0) != cursor.expected {
                return Ok(Committed::Contended);
            }
        }
        let rep = self.reps.get(&record.rep_id).cloned().unwrap_or_default();
        let today = rep.today_on(&commit.rep_day);
        if commit.caps.max_open.is_some_and(|max| rep.open >= max)
            || commit.caps.max_per_day.is_some_and(|max| today >= max)
        {
            return Ok(Committed::Contended);
        }

        // Checked: now everything is written, in the order the Redis script writes it.
        let rep = self.rep(&record.rep_id);
        rep.open += 1;
        rep.day = commit.rep_day.clone();
        rep.today = today + 1;
        rep.last_assigned_ms = record.assigned_ms;
        if let Some(replaced) = replaced {
            give_back(self.rep(&replaced));
        }
        if let Some(miss) = &commit.miss {
            count_miss(self.rep(&miss.rep_id), miss.away_after);
        }
        if let Some(cursor) = &commit.cursor {
            self.cursors.insert(cursor.pool.clone(), cursor.next);
        }
        let mut stored = record.clone();
        (stored.released, stored.parked) = (false, false);
        let route = Route { record: stored, expires: now + ttl };
        self.routes.insert(commit.lead_id.clone(), route);
        if record.due_ms > 0 {
            self.deadlines.add(&commit.lead_id, record.due_ms);
        } else {
            self.deadlines.remove(&commit.lead_id);
        }
        if let Some(pool) = &commit.from_overflow {
            if let Some(queue) = self.overflow.get_mut(pool) {
                queue.remove(&commit.lead_id);
            }
            self.overflow_leads.remove(&commit.lead_id);
        }
        Ok(Committed::Fresh(record.clone()))
    }

    fn acknowledge(&mut self, lead_id: &str, rep_id: &str, attempt: u32, now: Instant) -> AckOutcome {
        let Some(route) = self.route(lead_id, now) else { return AckOutcome::Unknown };
        let current = &mut route.record;
        if current.attempt < attempt {
            return AckOutcome::Unknown;
        }
        if current.attempt > attempt || current.rep_id != rep_id {
            return AckOutcome::Reassigned(current.clone());
        }
        if current.acked {
            return AckOutcome::AlreadyAccepted(current.clone());
        }
        current.acked = true;
        let accepted = current.clone();
        self.deadlines.remove(lead_id);
        self.rep(rep_id).misses = 0;
        AckOutcome::Accepted(accepted)
    }

    fn park(&mut self, park: &Park, now: Instant) -> bool {
        let Some(route) = self.route(&park.lead_id, now) else { return false };
        let record = &mut route.record;
        if record.attempt != park.attempt || record.acked || record.released || record.parked {
            return false;
        }
        record.parked = true;
        self.deadlines.remove(&park.lead_id);
        self.overflow.entry(park.pool.clone()).or_default().add_new(&park.lead_id, park.queued_ms);
        self.overflow_leads.entry(park.lead_id.clone()).or_insert_with(|| park.lead.clone());
        if let Some(miss) = &park.miss {
            count_miss(self.rep(&miss.rep_id), miss.away_after);
        }
        true
    }

    fn release(&mut self, lead_id: &str, now: Instant) -> Option<String> {
        let route = self.route(lead_id, now).filter(|route| !route.record.released)?;
        route.record.released = true;
        let rep_id = route.record.rep_id.clone();
        self.deadlines.remove(lead_id);
        give_back(self.rep(&rep_id));
        Some(rep_id)
    }
}

#[async_trait]
impl RoutingStore for MemoryStore {
    async fn roster(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        reps: &[String],
    ) -> Result<Roster, StoreError> {
        let now = Instant::now();
        Ok(self.routing.with(domain, |d| Roster {
            route: d.route(lead_id, now).map(|route| route.record.clone()),
            cursor: d.cursors.get(pool).copied().unwrap_or(0),
            states: reps.iter().map(|rep| d.reps.get(rep).cloned().unwrap_or_default()).collect(),
        }))
    }

    async fn route(&self, domain: &str, lead_id: &str) -> Result<Option<RouteRecord>, StoreError> {
        let now = Instant::now();
        Ok(self.routing.with(domain, |d| d.route(lead_id, now).map(|route| route.record.clone())))
    }

    async fn commit_route(&self, commit: &RouteCommit, ttl: Duration) -> Result<Committed, StoreError> {
        let now = Instant::now();
        self.routing.with(&commit.domain, |d| d.commit(commit, ttl, now))
    }

    async fn acknowledge(
        &self,
        domain: &str,
        lead_id: &str,
        rep_id: &str,
        attempt: u32,
    ) -> Result<AckOutcome, StoreError> {
        let now = Instant::now();
        Ok(self.routing.with(domain, |d| d.acknowledge(lead_id, rep_id, attempt, now)))
    }

    async fn deadlines(
        &self,
        domain: &str,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self.routing.with(domain, |d| d.deadlines.first(until_ms, limit)))
    }

    async fn drop_deadline(&self, domain: &str, lead_id: &str) -> Result<bool, StoreError> {
        Ok(self.routing.with(domain, |d| d.deadlines.remove(lead_id)))
    }

    async fn rep_state(&self, domain: &str, rep_id: &str) -> Result<RepState, StoreError> {
        Ok(self.routing.with(domain, |d| d.reps.get(rep_id).cloned().unwrap_or_default()))
    }

    async fn set_rep_status(
        &self,
        domain: &str,
        rep_id: &str,
        status: RepStatus,
    ) -> Result<RepState, StoreError> {
        Ok(self.routing.with(domain, |d| {
            let rep = d.rep(rep_id);
            rep.status = status;
            if status == RepStatus::Available {
                rep.misses = 0;
            }
            rep.clone()
        }))
    }

    async fn record_miss(
        &self,
        domain: &str,
        rep_id: &str,
        away_after: Option<u32>,
    ) -> Result<RepState, StoreError> {
        Ok(self.routing.with(domain, |d| {
            let rep = d.rep(rep_id);
            count_miss(rep, away_after);
            rep.clone()
        }))
    }

    async fn park(&self, park: &Park) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.routing.with(&park.domain, |d| d.park(park, now)))
    }

    async fn release(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        Ok(self.routing.with(domain, |d| d.release(lead_id, now)))
    }

    async fn enqueue_overflow(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        lead: &str,
        queued_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.routing.with(domain, |d| {
            let added = d.overflow.entry(pool.to_string()).or_default().add_new(lead_id, queued_ms);
            d.overflow_leads.entry(lead_id.to_string()).or_insert_with(|| lead.to_string());
            added
        }))
    }

    async fn overflow(&self, domain: &str, pool: &str, limit: usize) -> Result<Vec<Queued>, StoreError> {
        Ok(self.routing.with(domain, |d| {
            let Some(queue) = d.overflow.get(pool) else { return Vec::new() };
            queue
                .first(None, limit)
                .into_iter()
                .map(|(lead_id, queued_ms)| Queued {
                    lead: d.overflow_leads.get(&lead_id).cloned().unwrap_or_default(),
                    lead_id,
                    queued_ms,
                })
                .collect()
        }))
    }

    async fn remove_overflow(&self, domain: &str, pool: &str, lead_id: &str) -> Result<bool, StoreError> {
        Ok(self.routing.with(domain, |d| {
            let removed = d.overflow.get_mut(pool).is_some_and(|queue| queue.remove(lead_id));
            if removed {
                d.overflow_leads.remove(lead_id);
            }
            removed
        }))
    }

    async fn rep_leads(
        &self,
        domain: &str,
        rep_id: &str,
        limit: usize,
    ) -> Result<Vec<(String, RouteRecord)>, StoreError> {
        let now = Instant::now();
        let mut held: Vec<(String, RouteRecord)> = self.routing.with(domain, |d| {
            d.routes
                .iter()
                .filter(|(_, r)| r.expires > now && r.record.rep_id == rep_id && !r.record.released)
                .map(|(id, r)| (id.clone(), r.record.clone()))
                .collect()
        });
        held.sort_by(|a, b| (b.1.assigned_ms, &b.0).cmp(&(a.1.assigned_ms, &a.0)));
        held.truncate(limit);
        Ok(held)
    }

    async fn overflow_len(&self, domain: &str, pool: &str) -> Result<u64, StoreError> {
        Ok(self.routing.with(domain, |d| d.overflow.get(pool).map_or(0, |queue| queue.scores.len() as u64)))
    }
}
