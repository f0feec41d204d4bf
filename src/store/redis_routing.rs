//! [`RoutingStore`] on Redis: every method is one round trip, every write one Lua script, and all
//! of a domain's keys share its hash tag `{<domain>}`, so the scripts work on a Redis Cluster.
//!
//! A route is a hash, not a bare JSON string: `record` (the [`RouteRecord`] JSON exactly as Rust
//! wrote it), and beside it `attempt` and `rep` (what the scripts check), `acked` and `released`
//! (`0`/`1`, what they change). The scripts thus never decode or re-encode JSON: cjson would turn
//! an empty list into an object and print large numbers with 14 significant digits. Readers take
//! `acked` from its field, not from the JSON, which keeps the value the route was committed with.
//!
//! Rep hashes (`rep:{d}:<rep>`) hold the [`RepState`] fields under their own names; a missing
//! field is its default, so a rep never seen needs no hash.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use speedlead_actors::routing_store::{
    AckOutcome, Committed, Park, Queued, RepState, RepStatus, Roster, RouteCommit, RouteRecord, RoutingStore,
};
use speedlead_actors::store::StoreError;

use super::redis::{ttl_ms, unavailable, RedisStore};

/// The rep hash fields, in the order the scripts return them and [`rep_state`] reads them.
const REP_FIELDS: [&str; 6] = ["status", "open", "day", "today", "misses", "last_assigned_ms"];

/// KEYS[1] = route, KEYS[2] = cursor, KEYS[3..] = rep hashes. Returns a flat list: the route's
/// record and acked (nil, nil without a route), the cursor, then the rep fields of each rep.
static ROSTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local route = redis.call('HMGET', KEYS[1], 'record', 'acked')
local out = {route[1], route[2], redis.call('GET', KEYS[2]) or '0'}
for i = 3, #KEYS do
  local rep = redis.call('HMGET', KEYS[i], 'status', 'open', 'day', 'today', 'misses', 'last_assigned_ms')
  for j = 1, 6 do out[#out + 1] = rep[j] end
end
return out
",
    )
});

/// KEYS[1] = route, KEYS[2] = rep hash of the record's rep, KEYS[3] = sla, KEYS[4] = overflow lead
/// hash, KEYS[5] = cursor, KEYS[6] = overflow queue, KEYS[7] = rep hash of the miss (KEYS[5..7]
/// are only touched when their ARGV says so), KEYS[8] = the rep's lead index.
/// ARGV[1] = lead id, ARGV[2] = record JSON, ARGV[3] = ttl ms, ARGV[4] = rep id, ARGV[5] = attempt,
/// ARGV[6] = assigned ms, ARGV[7] = due ms, ARGV[8] = rep day, ARGV[9] = max open, ARGV[10] = max
/// per day, ARGV[11] = attempt replaced, ARGV[12] = cursor expected, ARGV[13] = cursor next,
/// ARGV[14] = '1' to count a miss, ARGV[15] = away after, ARGV[16] = '1' to leave overflow,
/// ARGV[17] = rep hash prefix (the replaced rep is only known here), ARGV[18] = rep lead index
/// prefix. '' is "none" throughout.
/// Returns {0} fresh, {1, record, acked} existing, {2} contended, {3} no route to replace.
static COMMIT_ROUTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local route = redis.call('HMGET', KEYS[1], 'record', 'attempt', 'rep', 'acked', 'released')
if ARGV[11] == '' then
  if route[1] then return {1, route[1], route[4]} end
else
  if not route[1] then return {3} end
  if route[2] ~= ARGV[11] or route[4] == '1' or route[5] == '1' then return {1, route[1], route[4]} end
end
if ARGV[12] ~= '' and (redis.call('GET', KEYS[5]) or '0') ~= ARGV[12] then return {2} end
local rep = redis.call('HMGET', KEYS[2], 'open', 'day', 'today')
local open = tonumber(rep[1] or '0')
local today = 0
if rep[2] == ARGV[8] then today = tonumber(rep[3] or '0') end
if ARGV[9] ~= '' and open >= tonumber(ARGV[9]) then return {2} end
if ARGV[10] ~= '' and today >= tonumber(ARGV[10]) then return {2} end

redis.call('HINCRBY', KEYS[2], 'open', 1)
redis.call('HSET', KEYS[2], 'day', ARGV[8], 'today', today + 1, 'last_assigned_ms', ARGV[6])
if ARGV[11] ~= '' then
  local replaced = ARGV[17] .. route[3]
  if tonumber(redis.call('HGET', replaced, 'open') or '0') > 0 then
    redis.call('HINCRBY', replaced, 'open', -1)
  end
end
if ARGV[14] == '1' then
  local misses = redis.call('HINCRBY', KEYS[7], 'misses', 1)
  if ARGV[15] ~= '' and misses >= tonumber(ARGV[15]) then redis.call('HSET', KEYS[7], 'status', 'away') end
end
if ARGV[12] ~= '' then redis.call('SET', KEYS[5], ARGV[13]) end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'attempt', ARGV[5], 'rep', ARGV[4], 'acked', '0',
  'released', '0', 'parked', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[8], ARGV[6], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', '(' .. (tonumber(ARGV[6]) - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[8], ARGV[3])
if ARGV[11] ~= '' and route[3] ~= ARGV[4] then redis.call('ZREM', ARGV[18] .. route[3], ARGV[1]) end
if tonumber(ARGV[7]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if ARGV[16] == '1' then
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return {0}
",
    )
});

/// KEYS[1] = route, KEYS[2] = sla, KEYS[3] = the acking rep's hash; ARGV[1] = lead id, ARGV[2] =
/// rep id, ARGV[3] = attempt. Returns {0} unknown, {1, record} accepted now, {2, record} already
/// accepted, {3, record, acked} reassigned.
static ACKNOWLEDGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local route = redis.call('HMGET', KEYS[1], 'record', 'attempt', 'rep', 'acked')
if not route[1] then return {0} end
local current, attempt = tonumber(route[2]), tonumber(ARGV[3])
if current < attempt then return {0} end
if current > attempt or route[3] ~= ARGV[2] then return {3, route[1], route[4]} end
if route[4] == '1' then return {2, route[1]} end
redis.call('HSET', KEYS[1], 'acked', '1')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'misses', 0)
return {1, route[1]}
",
    )
});

/// KEYS[1] = route, KEYS[2] = sla; ARGV[1] = lead id, ARGV[2] = rep hash prefix, ARGV[3] = rep lead
/// index prefix. Returns the rep released from, or nil when there is no route or it was released
/// already.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local route = redis.call('HMGET', KEYS[1], 'rep', 'released')
if not route[1] or route[2] == '1' then return false end
redis.call('HSET', KEYS[1], 'released', '1')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[3] .. route[1], ARGV[1])
local rep = ARGV[2] .. route[1]
if tonumber(redis.call('HGET', rep, 'open') or '0') > 0 then redis.call('HINCRBY', rep, 'open', -1) end
return route[1]
",
    )
});

/// KEYS[1] = rep hash; ARGV[1] = status. Returns the rep fields afterwards.
static SET_REP_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HSET', KEYS[1], 'status', ARGV[1])
if ARGV[1] == 'available' then redis.call('HSET', KEYS[1], 'misses', 0) end
return redis.call('HMGET', KEYS[1], 'status', 'open', 'day', 'today', 'misses', 'last_assigned_ms')
",
    )
});

/// KEYS[1] = route, KEYS[2] = sla, KEYS[3] = overflow queue, KEYS[4] = overflow lead hash, KEYS[5] =
/// the missed rep's hash; ARGV[1] = lead id, ARGV[2] = attempt, ARGV[3] = queued ms, ARGV[4] = lead
/// JSON, ARGV[5] = '1' to count a miss, ARGV[6] = away after. Returns 1 if parked now.
static PARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local route = redis.call('HMGET', KEYS[1], 'attempt', 'acked', 'released', 'parked')
if not route[1] or route[1] ~= ARGV[2] or route[2] == '1' or route[3] == '1' or route[4] == '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'parked', '1')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1])
redis.call('HSETNX', KEYS[4], ARGV[1], ARGV[4])
if ARGV[5] == '1' then
  local misses = redis.call('HINCRBY', KEYS[5], 'misses', 1)
  if ARGV[6] ~= '' and misses >= tonumber(ARGV[6]) then redis.call('HSET', KEYS[5], 'status', 'away') end
end
return 1
",
    )
});

/// KEYS[1] = rep hash; ARGV[1] = away after ('' for never). Returns the rep's fields.
static RECORD_MISS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local misses = redis.call('HINCRBY', KEYS[1], 'misses', 1)
if ARGV[1] ~= '' and misses >= tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'status', 'away') end
return redis.call('HMGET', KEYS[1], 'status', 'open', 'day', 'today', 'misses', 'last_assigned_ms')
",
    )
});

/// KEYS[1] = overflow queue, KEYS[2] = overflow lead hash; ARGV[1] = lead id, ARGV[2] = queued ms,
/// ARGV[3] = lead JSON. Returns 1 if the lead was not queued before.
static ENQUEUE_OVERFLOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])
return added
",
    )
});

/// KEYS[1] = overflow queue, KEYS[2] = overflow lead hash; ARGV[1] = lead id. Returns 1 if the
/// lead was queued.
static REMOVE_OVERFLOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return removed
",
    )
});

/// KEYS[1] = overflow queue, KEYS[2] = overflow lead hash; ARGV[1] = limit. Returns a flat list of
/// lead id, lead JSON ('' if gone), queued ms; oldest first.
static OVERFLOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local queued = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #queued, 2 do
  out[#out + 1] = queued[i]
  out[#out + 1] = redis.call('HGET', KEYS[2], queued[i]) or ''
  out[#out + 1] = queued[i + 1]
end
return out
",
    )
});

/// The routing keys of one domain, `<namespace>:<kind>:{<domain>}…`, all in its hash slot.
pub(super) struct Keys {
    namespace: String,
    tag: String,
}

impl Keys {
    pub(super) fn new(store: &RedisStore, domain: &str) -> Self {
        Keys { namespace: store.namespace().to_string(), tag: format!("{{{domain}}}") }
    }

    fn key(&self, kind: &str) -> String {
        format!("{}:{kind}:{}", self.namespace, self.tag)
    }

    pub(super) fn route(&self, lead_id: &str) -> String {
        format!("{}:{lead_id}", self.key("route"))
    }

    /// The rep hash is this + rep id (the scripts append a replaced rep's id they read).
    fn rep_prefix(&self) -> String {
        format!("{}:", self.key("rep"))
    }

    fn rep(&self, rep_id: &str) -> String {
        format!("{}{rep_id}", self.rep_prefix())
    }

    fn cursor(&self, pool: &str) -> String {
        format!("{}:{pool}", self.key("cursor"))
    }

    fn sla(&self) -> String {
        self.key("sla")
    }

    fn overflow(&self, pool: &str) -> String {
        format!("{}:{pool}", self.key("overflow"))
    }

    fn overflow_leads(&self) -> String {
        self.key("overflowlead")
    }

    /// A rep's lead index is this + rep id (scripts append a replaced rep's id they read).
    pub(super) fn rep_leads_prefix(&self) -> String {
        format!("{}:", self.key("repleads"))
    }

    pub(super) fn rep_leads(&self, rep_id: &str) -> String {
        format!("{}{rep_id}", self.rep_leads_prefix())
    }
}

/// An optional number as the scripts take it: `''` for none.
fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        ""
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// A stored route: its record JSON, with `acked` from the field beside it.
pub(super) fn route_record(record: &str, acked: Option<&str>) -> Result<RouteRecord, StoreError> {
    let record: RouteRecord = serde_json::from_str(record).map_err(|e| corrupt("route record", e))?;
    Ok(RouteRecord { acked: acked == Some("1"), ..record })
}

fn number<T: std::str::FromStr + Default>(field: &str, raw: Option<&String>) -> Result<T, StoreError> {
    match raw {
        None => Ok(T::default()),
        Some(raw) => raw.parse().map_err(|_| corrupt("rep state", format!("{field} = '{raw}'"))),
    }
}

/// A rep hash's fields in [`REP_FIELDS`] order; missing ones are defaults.
fn rep_state(fields: &[Option<String>]) -> Result<RepState, StoreError> {
    let field = |i: usize| fields.get(i).and_then(Option::as_ref);
    let status = match field(0) {
        None => RepStatus::default(),
        Some(raw) => {
            RepStatus::parse(raw).ok_or_else(|| corrupt("rep state", format!("status = '{raw}'")))?
        }
    };
    Ok(RepState {
        status,
        open: number("open", field(1))?,
        day: field(2).cloned().unwrap_or_default(),
        today: number("today", field(3))?,
        misses: number("misses", field(4))?,
        last_assigned_ms: number("last_assigned_ms", field(5))?,
    })
}

/// A script's reply: a status code, then up to two strings (nil when absent).
type Reply = (i64, Option<String>, Option<String>);

fn reply(values: Vec<Option<String>>) -> Result<Reply, StoreError> {
    let mut values = values.into_iter();
    let code = values.next().flatten().and_then(|code| code.parse().ok());
    let code = code.ok_or_else(|| corrupt("script reply", "no status code"))?;
    Ok((code, values.next().flatten(), values.next().flatten()))
}

#[async_trait]
impl RoutingStore for RedisStore {
    async fn roster(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        reps: &[String],
    ) -> Result<Roster, StoreError> {
        let keys = Keys::new(self, domain);
        let mut call = ROSTER.key(keys.route(lead_id));
        call.key(keys.cursor(pool));
        for rep in reps {
            call.key(keys.rep(rep));
        }
        let flat: Vec<Option<String>> =
            call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        if flat.len() != 3 + REP_FIELDS.len() * reps.len() {
            return Err(corrupt("roster reply", format!("{} values", flat.len())));
        }
        let route = flat[0].as_deref().map(|record| route_record(record, flat[1].as_deref())).transpose()?;
        let cursor = flat[2].as_deref().unwrap_or("0");
        let cursor = cursor.parse().map_err(|_| corrupt("cursor", format!("'{cursor}'")))?;
        let states = flat[3..].chunks_exact(REP_FIELDS.len()).map(rep_state).collect::<Result<_, _>>()?;
        Ok(Roster { route, cursor, states })
    }

    async fn route(&self, domain: &str, lead_id: &str) -> Result<Option<RouteRecord>, StoreError> {
        type Fields = (Option<String>, Option<String>, Option<String>, Option<String>);
        let (record, acked, parked, released): Fields = redis::cmd("HMGET")
            .arg(Keys::new(self, domain).route(lead_id))
            .arg(&["record", "acked", "parked", "released"][..])
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let Some(record) = record else { return Ok(None) };
        let record = route_record(&record, acked.as_deref())?;
        let (parked, released) = (parked.as_deref() == Some("1"), released.as_deref() == Some("1"));
        Ok(Some(RouteRecord { parked, released, ..record }))
    }

    async fn park(&self, park: &Park) -> Result<bool, StoreError> {
        let keys = Keys::new(self, &park.domain);
        let mut call = PARK.key(keys.route(&park.lead_id));
        call.key(keys.sla()).key(keys.overflow(&park.pool)).key(keys.overflow_leads());
        let missed = park.miss.as_ref().map_or("", |m| m.rep_id.as_str());
        call.key(keys.rep(missed));
        call.arg(&park.lead_id).arg(park.attempt).arg(park.queued_ms).arg(&park.lead);
        call.arg(flag(park.miss.is_some())).arg(opt(park.miss.as_ref().and_then(|m| m.away_after)));
        let parked: i64 = call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        Ok(parked == 1)
    }

    async fn commit_route(&self, commit: &RouteCommit, ttl: Duration) -> Result<Committed, StoreError> {
        let record = &commit.record;
        let json = serde_json::to_string(record).map_err(|e| corrupt("route record", e))?;
        let keys = Keys::new(self, &commit.domain);
        let cursor_pool = commit.cursor.as_ref().map_or(&record.pool, |c| &c.pool);
        let overflow_pool = commit.from_overflow.as_ref().unwrap_or(&record.pool);
        let miss_rep = commit.miss.as_ref().map_or(&record.rep_id, |m| &m.rep_id);
        let mut call = COMMIT_ROUTE.key(keys.route(&commit.lead_id));
        call.key(keys.rep(&record.rep_id))
            .key(keys.sla())
            .key(keys.overflow_leads())
            .key(keys.cursor(cursor_pool))
            .key(keys.overflow(overflow_pool))
            .key(keys.rep(miss_rep))
            .key(keys.rep_leads(&record.rep_id));
        call.arg(&commit.lead_id)
            .arg(json)
            .arg(ttl_ms(ttl))
            .arg(&record.rep_id)
            .arg(record.attempt)
            .arg(record.assigned_ms)
            .arg(record.due_ms)
            .arg(&commit.rep_day)
            .arg(opt(commit.caps.max_open))
            .arg(opt(commit.caps.max_per_day))
            .arg(opt(commit.replaces))
            .arg(opt(commit.cursor.as_ref().map(|c| c.expected)))
            .arg(opt(commit.cursor.as_ref().map(|c| c.next)))
            .arg(flag(commit.miss.is_some()))
            .arg(opt(commit.miss.as_ref().and_then(|m| m.away_after)))
            .arg(flag(commit.from_overflow.is_some()))
            .arg(keys.rep_prefix())
            .arg(keys.rep_leads_prefix());
        let values: Vec<Option<String>> =
            call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        match reply(values)? {
            (0, _, _) => Ok(Committed::Fresh(record.clone())),
            (1, Some(existing), acked) => Ok(Committed::Existing(route_record(&existing, acked.as_deref())?)),
            (2, _, _) => Ok(Committed::Contended),
            (3, _, _) => Err(StoreError::Conflict(format!(
                "lead {}: no route to replace (attempt {})",
                commit.lead_id,
                opt(commit.replaces)
            ))),
            other => Err(corrupt("commit reply", format!("{other:?}"))),
        }
    }

    async fn acknowledge(
        &self,
        domain: &str,
        lead_id: &str,
        rep_id: &str,
        attempt: u32,
    ) -> Result<AckOutcome, StoreError> {
        let keys = Keys::new(self, domain);
        let mut call = ACKNOWLEDGE.key(keys.route(lead_id));
        call.key(keys.sla()).key(keys.rep(rep_id)).arg(lead_id).arg(rep_id).arg(attempt);
        let values: Vec<Option<String>> =
            call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        match reply(values)? {
            (0, _, _) => Ok(AckOutcome::Unknown),
            (1, Some(record), _) => Ok(AckOutcome::Accepted(route_record(&record, Some("1"))?)),
            (2, Some(record), _) => Ok(AckOutcome::AlreadyAccepted(route_record(&record, Some("1"))?)),
            (3, Some(record), acked) => Ok(AckOutcome::Reassigned(route_record(&record, acked.as_deref())?)),
            other => Err(corrupt("acknowledge reply", format!("{other:?}"))),
        }
    }

    async fn deadlines(
        &self,
        domain: &str,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Scores come back as text Redis formats as a double; due times are whole milliseconds,
        // far below 2^53, so the round trip through f64 is exact.
        let due: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(Keys::new(self, domain).sla())
            .arg("-inf")
            .arg(until_ms.map_or_else(|| "+inf".to_string(), |until| until.to_string()))
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            // Redis counts are signed 64-bit and -1 means all: `usize::MAX` (everything) must not overflow.
            .arg(i64::try_from(limit).unwrap_or(-1))
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(due.into_iter().map(|(lead, due)| (lead, due as i64)).collect())
    }

    async fn drop_deadline(&self, domain: &str, lead_id: &str) -> Result<bool, StoreError> {
        let removed: i64 = redis::cmd("ZREM")
            .arg(Keys::new(self, domain).sla())
            .arg(lead_id)
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn rep_state(&self, domain: &str, rep_id: &str) -> Result<RepState, StoreError> {
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(Keys::new(self, domain).rep(rep_id))
            .arg(&REP_FIELDS[..])
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        rep_state(&fields)
    }

    async fn set_rep_status(
        &self,
        domain: &str,
        rep_id: &str,
        status: RepStatus,
    ) -> Result<RepState, StoreError> {
        let mut call = SET_REP_STATUS.key(Keys::new(self, domain).rep(rep_id));
        call.arg(status.as_str());
        let fields: Vec<Option<String>> =
            call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        rep_state(&fields)
    }

    async fn record_miss(
        &self,
        domain: &str,
        rep_id: &str,
        away_after: Option<u32>,
    ) -> Result<RepState, StoreError> {
        let mut call = RECORD_MISS.key(Keys::new(self, domain).rep(rep_id));
        call.arg(away_after.map(|n| n.to_string()).unwrap_or_default());
        let fields: Vec<Option<String>> =
            call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        rep_state(&fields)
    }

    async fn release(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError> {
        let keys = Keys::new(self, domain);
        let mut call = RELEASE.key(keys.route(lead_id));
        call.key(keys.sla()).arg(lead_id).arg(keys.rep_prefix()).arg(keys.rep_leads_prefix());
        call.invoke_async(&mut self.connection()).await.map_err(unavailable)
    }

    async fn enqueue_overflow(
        &self,
        domain: &str,
        pool: &str,
        lead_id: &str,
        lead: &str,
        queued_ms: i64,
    ) -> Result<bool, StoreError> {
        let keys = Keys::new(self, domain);
        let mut call = ENQUEUE_OVERFLOW.key(keys.overflow(pool));
        call.key(keys.overflow_leads()).arg(lead_id).arg(queued_ms).arg(lead);
        let added: i64 = call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        Ok(added == 1)
    }

    async fn overflow(&self, domain: &str, pool: &str, limit: usize) -> Result<Vec<Queued>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = Keys::new(self, domain);
        let mut call = OVERFLOW.key(keys.overflow(pool));
        call.key(keys.overflow_leads()).arg(limit);
        let flat: Vec<String> = call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        flat.chunks_exact(3)
            .map(|entry| {
                let queued_ms = entry[2].parse::<f64>().map_err(|_| corrupt("overflow score", &entry[2]))?;
                Ok(Queued { lead_id: entry[0].clone(), lead: entry[1].clone(), queued_ms: queued_ms as i64 })
            })
            .collect()
    }

    async fn remove_overflow(&self, domain: &str, pool: &str, lead_id: &str) -> Result<bool, StoreError> {
        let keys = Keys::new(self, domain);
        let mut call = REMOVE_OVERFLOW.key(keys.overflow(pool));
        call.key(keys.overflow_leads()).arg(lead_id);
        let removed: i64 = call.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn rep_leads(
        &self,
        domain: &str,
        rep_id: &str,
        limit: usize,
    ) -> Result<Vec<(String, RouteRecord)>, StoreError> {
        super::redis_rep_leads::rep_leads(self, &Keys::new(self, domain), rep_id, limit).await
    }

    async fn overflow_len(&self, domain: &str, pool: &str) -> Result<u64, StoreError> {
        redis::cmd("ZCARD")
            .arg(Keys::new(self, domain).overflow(pool))
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)
    }
}
