//! A rep's open leads on Redis: `repleads:{domain}:<rep>`, a sorted set of lead ids by assignment
//! time that the commit script adds to (and takes an escalated lead out of, for the rep who missed
//! it) and the release script removes from, so the index changes in the same atomic step as the
//! route it points to.
//!
//! Reading cleans up as it goes: an entry whose route expired, was closed or belongs to someone
//! else (never expected, but an index must not show a lead to the wrong rep) is dropped.

use std::sync::LazyLock;

use redis::Script;
use speedlead_actors::routing_store::RouteRecord;
use speedlead_actors::store::StoreError;

use super::redis::{unavailable, RedisStore};
use super::redis_routing::{route_record, Keys};

/// KEYS[1] = the rep's lead index; ARGV[1] = limit, ARGV[2] = rep id, ARGV[3] = route key prefix.
/// Returns a flat list of lead id, record JSON, acked; newest first.
static REP_LEADS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local route = redis.call('HMGET', ARGV[3] .. id, 'record', 'rep', 'acked', 'released')
  if not route[1] or route[2] ~= ARGV[2] or route[4] == '1' then
    redis.call('ZREM', KEYS[1], id)
  else
    out[#out + 1] = id
    out[#out + 1] = route[1]
    out[#out + 1] = route[3] or '0'
  end
end
return out
",
    )
});

pub(super) async fn rep_leads(
    store: &RedisStore,
    keys: &Keys,
    rep_id: &str,
    limit: usize,
) -> Result<Vec<(String, RouteRecord)>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let route_prefix = keys.route("");
    let mut call = REP_LEADS.key(keys.rep_leads(rep_id));
    call.arg(limit.min(10_000)).arg(rep_id).arg(route_prefix);
    let flat: Vec<String> = call.invoke_async(&mut store.connection()).await.map_err(unavailable)?;
    flat.chunks_exact(3)
        .map(|row| Ok((row[0].clone(), route_record(&row[1], Some(row[2].as_str()))?)))
        .collect()
}
