//! The routing state the router and the escalation timers keep in the store: each lead's current
//! route (rep, attempt, SLA deadline, acknowledged or not), each rep's live state (status, open
//! leads, today's count, SLA misses), each pool's rotation cursor, the per-domain SLA deadlines and
//! the per-pool overflow queues.
//!
//! Every write is one atomic step so that two instances (during a rebalance, or an HTTP ack racing
//! an escalation timer) can never both win: a lead has exactly one current rep, an ack after the
//! lead moved on is refused, and a deadline fires at most once.
//!
//! Redis keys (all of a domain's in one hash slot, `{<domain>}`): `route:{d}:<lead>` (hash: the
//! [`RouteRecord`] JSON in `record`, with `attempt`, `rep`, `acked` and `released` beside it, so the
//! scripts check and change a route without decoding JSON), `rep:{d}:<rep>` (hash of [`RepState`]), `cursor:{d}:<pool>`, `sla:{d}`
//! (sorted set of lead ids by due time, ms), `overflow:{d}:<pool>` (sorted set of lead ids by
//! queued time, ms) and `overflowlead:{d}` (hash lead id → lead JSON).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use speedlead_topics::LeadSummary;

use crate::store::StoreError;

/// Whether a rep takes leads now. Changed through the API, and to `away` by repeated SLA misses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepStatus {
    #[default]
    Available,
    Away,
    Offline,
}

impl RepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RepStatus::Available => "available",
            RepStatus::Away => "away",
            RepStatus::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(RepStatus::Available),
            "away" => Some(RepStatus::Away),
            "offline" => Some(RepStatus::Offline),
            _ => None,
        }
    }
}

/// A rep's live state; a rep never seen has the default (available, nothing open).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepState {
    pub status: RepStatus,
    /// Leads assigned to the rep and not yet closed or moved on.
    pub open: u32,
    /// The rep-local calendar day `today` counts (`YYYY-MM-DD`); another day means 0 today.
    pub day: String,
    pub today: u32,
    /// SLA misses since the rep last accepted a lead.
    pub misses: u32,
    /// When the rep was last assigned a lead (ms since the epoch), 0 never.
    pub last_assigned_ms: i64,
}

impl RepState {
    /// Leads assigned on the rep-local `day`.
    pub fn today_on(&self, day: &str) -> u32 {
        if self.day == day {
            self.today
        } else {
            0
        }
    }
}

/// One attempt of a lead's assignment, as stored (and republished on redelivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// Carried so an escalation can publish the new assignment without the lead at hand.
    pub lead_key: String,
    pub rep_id: String,
    /// 1 for the first assignment, +1 per escalation.
    pub attempt: u32,
    pub pool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `existing_owner`, `round_robin`, `sla_escalation`, … (see `router::reason`).
    pub reason: String,
    pub assigned_ms: i64,
    /// When the SLA runs out (ms since the epoch).
    pub due_ms: i64,
    pub acked: bool,
    /// Skills the lead requires (the pool's and its rule's), kept for its escalations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_skills: Vec<String>,
    /// The SLA this attempt was given (ms), so an escalation gives the next rep the same clock
    /// (`due_ms - assigned_ms` is longer when only working hours count). 0 in routes stored before
    /// it existed.
    #[serde(default)]
    pub sla_ms: u64,
    /// Set by the store: the lead waits in an overflow queue after its escalation chain ran out
    /// ([`RoutingStore::park`]), still with this rep. Cleared by the next commit.
    #[serde(default)]
    pub parked: bool,
    /// Set by the store: the lead was closed ([`RoutingStore::release`]); nothing moves it any more.
    #[serde(default)]
    pub released: bool,
    /// Reps who had this lead before (escalation does not offer it to them again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
    /// Who the lead is, kept so every attempt's assignment (and the rep's dashboard) can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<LeadSummary>,
}

/// A pool's rotation position, and the value the commit expects it to still have: a concurrent
/// decision that moved it first makes the commit [`Committed::Contended`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorMove {
    pub pool: String,
    pub expected: u64,
    pub next: u64,
}

/// A rep's caps, checked atomically with the commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub max_open: Option<u32>,
    pub max_per_day: Option<u32>,
}

/// The SLA miss an escalation counts against the rep who let the lead pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    pub rep_id: String,
    /// Set the rep `away` when their misses reach this.
    pub away_after: Option<u32>,
}

/// Everything [`RoutingStore::commit_route`] writes in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCommit {
    pub domain: String,
    pub lead_id: String,
    pub record: RouteRecord,
    /// The rep-local day of the assignment, for `record.rep_id`'s daily count.
    pub rep_day: String,
    pub caps: Caps,
    pub cursor: Option<CursorMove>,
    /// For an escalation: the attempt that must still be current and unacknowledged. `None`: a
    /// first assignment, which must find no route at all.
    pub replaces: Option<u32>,
    /// For an escalation: the miss to count (the replaced rep's open lead is released too).
    pub miss: Option<Miss>,
    /// The overflow queue (pool name) the lead leaves.
    pub from_overflow: Option<String>,
}

/// A lead whose escalation chain ran out, to wait in `pool`'s overflow with its current rep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Park {
    pub domain: String,
    pub lead_id: String,
    /// The attempt that must still be current, unacknowledged, not released and not parked.
    pub attempt: u32,
    pub pool: String,
    /// What placing it again needs (the dispatcher's `QueuedLead` JSON).
    pub lead: String,
    pub queued_ms: i64,
    /// The SLA miss of the rep who let it pass.
    pub miss: Option<Miss>,
}

/// What [`RoutingStore::commit_route`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Written: the rep's open and daily counts went up, the deadline is armed.
    Fresh(RouteRecord),
    /// Nothing written because the lead's route is not the one the commit expected: a first
    /// assignment found one (a redelivery: this is the stored decision to republish), or an
    /// escalation found its attempt acknowledged or already replaced (this is the current route).
    Existing(RouteRecord),
    /// Nothing written because the rotation cursor moved or the rep reached a cap since the roster
    /// was read: read again and decide again.
    Contended,
}

/// What [`RoutingStore::acknowledge`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// The rep's attempt was current: it is acknowledged now and its deadline cancelled.
    Accepted(RouteRecord),
    /// The same ack again.
    AlreadyAccepted(RouteRecord),
    /// The lead moved on after this attempt: `current` is the route now.
    Reassigned(RouteRecord),
    /// No route for this lead (never assigned here, or expired).
    Unknown,
}

/// [`RoutingStore::roster`]'s answer: everything a decision reads, in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    pub route: Option<RouteRecord>,
    pub cursor: u64,
    /// One per requested rep, in the order asked.
    pub states: Vec<RepState>,
}

/// A lead waiting in a pool's overflow queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub lead_id: String,
    /// The `QualifiedLead` JSON, routed again when a rep frees up.
    pub lead: String,
    pub queued_ms: i64,
}

#[async_trait]
pub trait RoutingStore: Send + Sync + 'static {
    /// The lead's current route, `pool`'s cursor and the states of `reps`.
    async fn roster(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        reps: &[String],
    ) -> Result<Roster, StoreError>;

    /// The lead's current route, if any.
    async fn route(&self, domain: &str, lead_id: &str) -> Result<Option<RouteRecord>, StoreError>;

    /// Atomically, unless the route is not what `commit.replaces` expects ([`Committed::Existing`])
    /// or the cursor moved / a cap is reached ([`Committed::Contended`]): stores the record for
    /// `ttl`, bumps the rep's open count, daily count (resetting it on a new `rep_day`) and
    /// last-assigned time, moves the cursor, re-arms the lead's deadline in `sla:{d}` (a record
    /// with `due_ms` 0 has none), takes the lead out of `from_overflow`; for an escalation also
    /// releases the replaced rep's open lead and counts `miss` (setting the rep away at the limit).
    ///
    /// A released route (the lead closed) cannot be replaced either: [`Committed::Existing`]. An
    /// escalation that finds no route at all (it expired) is `Err(StoreError::Conflict)`: there is
    /// no current route to return, and assigning the lead afresh is a different decision.
    async fn commit_route(&self, commit: &RouteCommit, ttl: Duration) -> Result<Committed, StoreError>;

    /// The rep accepts `attempt` of the lead: if that attempt is the current route and `rep_id` its
    /// rep, marks it acknowledged, cancels its deadline and resets the rep's misses. An attempt
    /// later than the current one was never made: [`AckOutcome::Unknown`].
    async fn acknowledge(
        &self,
        domain: &str,
        lead_id: &str,
        rep_id: &str,
        attempt: u32,
    ) -> Result<AckOutcome, StoreError>;

    /// Pending deadlines of the domain as `(lead id, due ms)`, earliest first: those due by
    /// `until_ms` (all when `None`), at most `limit`.
    async fn deadlines(
        &self,
        domain: &str,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// Drops a deadline that has nothing left to do (its lead expired, or the router gave up on
    /// it); true if it was there.
    async fn drop_deadline(&self, domain: &str, lead_id: &str) -> Result<bool, StoreError>;

    async fn rep_state(&self, domain: &str, rep_id: &str) -> Result<RepState, StoreError>;

    /// Sets a rep's status (an `available` rep also has their misses reset); returns the new state.
    async fn set_rep_status(
        &self,
        domain: &str,
        rep_id: &str,
        status: RepStatus,
    ) -> Result<RepState, StoreError>;

    /// Atomically, if `park.attempt` is still the current, unacknowledged, unreleased and unparked
    /// attempt: marks the route parked, drops its deadline, queues the lead in the pool's overflow
    /// (keeping a first queued time) and counts the miss. False, and nothing written, otherwise: a
    /// deadline that fires in two processes parks a lead (and counts its miss) once.
    async fn park(&self, park: &Park) -> Result<bool, StoreError>;

    /// Counts an SLA miss against a rep outside a commit (the lead went to overflow and stays with
    /// them), setting them away when their misses reach `away_after`; returns the new state.
    async fn record_miss(
        &self,
        domain: &str,
        rep_id: &str,
        away_after: Option<u32>,
    ) -> Result<RepState, StoreError>;

    /// The lead is closed (won, lost, …): its rep's open lead is released and its deadline dropped.
    /// Returns the rep it was released from; `None` if there is no open route (idempotent). The
    /// record stays until its ttl, so a redelivery still finds the decision.
    async fn release(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError>;

    /// Queues a lead nobody can take in `pool`'s overflow (keeping its first queued time if it is
    /// already there); true if it was not queued before.
    async fn enqueue_overflow(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        lead: &str,
        queued_ms: i64,
    ) -> Result<bool, StoreError>;

    /// The oldest `limit` leads waiting in `pool`'s overflow, oldest first. The lead JSON is kept
    /// per domain, not per pool, so a lead queued in two pools and taken from one has `""` in the
    /// other.
    async fn overflow(&self, domain: &str, pool: &str, limit: usize) -> Result<Vec<Queued>, StoreError>;

    /// Takes a lead out of `pool`'s overflow without assigning it (it was accepted while waiting);
    /// true if it was queued there.
    async fn remove_overflow(&self, domain: &str, pool: &str, lead_id: &str) -> Result<bool, StoreError>;

    /// How many leads wait in `pool`'s overflow.
    async fn overflow_len(&self, domain: &str, pool: &str) -> Result<u64, StoreError>;

    /// The leads `rep_id` holds now (their current attempt, accepted or not, not closed), newest
    /// first, at most `limit`, as `(lead id, route)`. What the rep's dashboard shows: escalated
    /// leads leave the list in the same commit that gives them to the next rep.
    async fn rep_leads(
        &self,
        domain: &str,
        rep_id: &str,
        limit: usize,
    ) -> Result<Vec<(String, RouteRecord)>, StoreError>;
}
