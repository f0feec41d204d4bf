//! [`WebhookStore`] on Redis. Every key shares the hash tag `{webhooks}`, so the scripts that
//! touch a job and the due set together are allowed on a Redis Cluster (one slot).
//!
//! - `<ns>:{webhooks}:job:<id>`: the job as JSON, or `done` once finished (kept for [`JOB_TTL`]);
//! - `<ns>:{webhooks}:due`: job ids by due time (ms);
//! - `<ns>:{webhooks}:line:<subscription>:<lead>`: an ordered subscription's pending job ids for
//!   one lead, the head first (only the head is in `due`);
//! - `<ns>:{webhooks}:dead:<subscription>`: dead job ids by time of death, each dead letter in
//!   `<ns>:{webhooks}:dead-job:<id>` for [`DEAD_TTL`];
//! - `<ns>:{webhooks}:endpoint:<subscription>`: hash with `failing_since` and `disabled`;
//! - `<ns>:{webhooks}:subscriptions`: hash of the admin API's subscriptions (id → JSON).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use speedlead_actors::store::StoreError;

use super::settings::Subscription;
use super::store::{DeadDelivery, Delivery, WebhookStore, DEAD_TTL, JOB_TTL};
use crate::error::Error;
use crate::store::redis::{ttl_ms, unavailable};

/// The end of ENQUEUE and REPLAY, which share their KEYS[1..3] and ARGV layout: KEYS[1] = job,
/// KEYS[2] = due, KEYS[3] = its lead's line; ARGV[1] = id, ARGV[2] = job JSON, ARGV[3] = due ms,
/// ARGV[4] = ttl ms, ARGV[5] = '1' if ordered. The job becomes due, or, if ordered, joins the end of
/// its line and is due only when it heads it.
macro_rules! join_line_or_due {
    () => {
        r"
if ARGV[5] == '1' then
  local length = redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  if length > 1 then return 1 end
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"
    };
}

/// See [`join_line_or_due`] for the layout. Adds the job unless its id is held (or finished).
const ENQUEUE: &str = concat!(
    r"
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[4]) then return 0 end",
    join_line_or_due!()
);

/// KEYS[1] = due; ARGV[1] = now ms, ARGV[2] = lease end ms, ARGV[3] = max, ARGV[4] = job key prefix.
/// Leases the due jobs and returns id, JSON, id, JSON, …; ids whose job is gone or finished leave
/// the set.
const TAKE_DUE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local jobs = {}
for _, id in ipairs(ids) do
  local job = redis.call('GET', ARGV[4] .. id)
  if job and job ~= 'done' then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(jobs, id)
    table.insert(jobs, job)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return jobs
";

/// KEYS[1] = job, KEYS[2] = due, KEYS[3] = its lead's line; ARGV[1] = id, ARGV[2] = job JSON or
/// 'done', ARGV[3] = due ms or '' (leave the queue), ARGV[4] = ttl ms, ARGV[5] = job key prefix.
/// A finished job is never written again (a holder whose lease ran out coming back late). Every
/// write restarts the job's expiry, so a job being retried never expires. When a job leaves, the
/// next live one in its lead's line is due at once, and the jobs still waiting in the line get
/// their expiry restarted too (a long line must not outwait them).
const UPDATE: &str = r"
if redis.call('GET', KEYS[1]) == 'done' then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('LREM', KEYS[3], 1, ARGV[1]) > 0 then
  while true do
    local next = redis.call('LINDEX', KEYS[3], 0)
    if not next then break end
    local job = redis.call('GET', ARGV[5] .. next)
    if job and job ~= 'done' then
      redis.call('ZADD', KEYS[2], 0, next)
      break
    end
    redis.call('LPOP', KEYS[3])
  end
  for _, waiting in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    redis.call('PEXPIRE', ARGV[5] .. waiting, ARGV[4])
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return 1
";

/// See [`join_line_or_due`] for the layout, plus KEYS[4] = dead index, KEYS[5] = dead letter; ARGV[2]
/// is the fresh job and ARGV[3] now. Does nothing (0) unless the letter is still dead.
const REPLAY: &str = concat!(
    r"
if redis.call('ZREM', KEYS[4], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[5])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])",
    join_line_or_due!()
);

pub struct RedisWebhookStore {
    connection: ConnectionManager,
    prefix: String,
    enqueue: Script,
    take_due: Script,
    update: Script,
    replay: Script,
}

impl RedisWebhookStore {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, Error> {
        let connection = redis::Client::open(url)?.get_connection_manager().await?;
        Ok(RedisWebhookStore {
            connection,
            prefix: format!("{namespace}:{{webhooks}}:"),
            enqueue: Script::new(ENQUEUE),
            take_due: Script::new(TAKE_DUE),
            update: Script::new(UPDATE),
            replay: Script::new(REPLAY),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn due(&self) -> String {
        format!("{}due", self.prefix)
    }

    /// False when the job had finished already (nothing was written).
    async fn update(
        &self,
        delivery: &Delivery,
        value: &str,
        due_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let written: i64 = self
            .update
            .key(self.key("job", &delivery.id))
            .key(self.due())
            .key(self.key("line", &delivery.line()))
            .arg(&delivery.id)
            .arg(value)
            .arg(due_ms.map(|d| d.to_string()).unwrap_or_default())
            .arg(ttl_ms(JOB_TTL))
            .arg(format!("{}job:", self.prefix))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(written == 1)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("webhook jobs serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("webhook job: {e}")))
}

#[async_trait]
impl WebhookStore for RedisWebhookStore {
    async fn enqueue(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let added: i64 = self
            .enqueue
            .key(self.key("job", &delivery.id))
            .key(self.due())
            .key(self.key("line", &delivery.line()))
            .arg(&delivery.id)
            .arg(to_json(delivery))
            .arg(delivery.created_ms)
            .arg(ttl_ms(JOB_TTL))
            .arg(if delivery.ordered { "1" } else { "0" })
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(added == 1)
    }

    async fn take_due(&self, now_ms: i64, lease: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let jobs: Vec<String> = self
            .take_due
            .key(self.due())
            .arg(now_ms)
            .arg(now_ms + lease.as_millis() as i64)
            .arg(max)
            .arg(format!("{}job:", self.prefix))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        let mut taken = Vec::with_capacity(jobs.len() / 2);
        for pair in jobs.chunks(2) {
            let [id, json] = pair else { continue };
            match from_json::<Delivery>(json) {
                Ok(job) => taken.push(job),
                // Unreadable (another version wrote it): out of the due set, so it cannot hold up
                // the jobs taken with it; the raw job stays until it expires, for inspection.
                Err(e) => {
                    tracing::error!(id, error = %e, "unreadable webhook job dropped from the queue");
                    metrics::counter!("speedlead_webhook_unreadable_jobs_total").increment(1);
                    let _: i64 = self.connection.clone().zrem(self.due(), id).await.map_err(unavailable)?;
                }
            }
        }
        Ok(taken)
    }

    async fn retry(&self, delivery: &Delivery, due_ms: i64) -> Result<(), StoreError> {
        self.update(delivery, &to_json(delivery), Some(due_ms)).await.map(drop)
    }

    async fn finish(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.update(delivery, "done", None).await.map(drop)
    }

    async fn bury(&self, dead: &DeadDelivery) -> Result<(), StoreError> {
        // Finished first: a job delivered meanwhile (by whoever held it after our lease ran out)
        // must not also become a dead letter that a replay would send again.
        if !self.update(&dead.delivery, "done", None).await? {
            return Ok(());
        }
        let id = &dead.delivery.id;
        let mut connection = self.connection.clone();
        let _: () = redis::pipe()
            .atomic()
            .set_ex(self.key("dead-job", id), to_json(dead), DEAD_TTL.as_secs())
            .zadd(self.key("dead", &dead.delivery.subscription), id, dead.dead_ms)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        subscription: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DeadDelivery>, StoreError> {
        let mut connection = self.connection.clone();
        let index = self.key("dead", subscription);
        let ids: Vec<String> = connection
            .zrangebyscore_limit(&index, from_ms, to_ms, 0, limit as isize)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key("dead-job", id)).collect();
        let raw: Vec<Option<String>> = connection.mget(&keys).await.map_err(unavailable)?;
        let mut letters = Vec::with_capacity(raw.len());
        for (id, raw) in ids.iter().zip(raw) {
            match raw {
                Some(raw) => letters.push(from_json(&raw)?),
                // Expired: its index entry goes too.
                None => {
                    let _: i64 = connection.zrem(&index, id).await.map_err(unavailable)?;
                }
            }
        }
        Ok(letters)
    }

    async fn dead_letter(&self, subscription: &str, id: &str) -> Result<Option<DeadDelivery>, StoreError> {
        let raw: Option<String> =
            self.connection.clone().get(self.key("dead-job", id)).await.map_err(unavailable)?;
        let dead: Option<DeadDelivery> = raw.map(|r| from_json(&r)).transpose()?;
        Ok(dead.filter(|d| d.delivery.subscription == subscription))
    }

    async fn replay(&self, dead: &DeadDelivery, now_ms: i64) -> Result<bool, StoreError> {
        let id = &dead.delivery.id;
        let replayed: i64 = self
            .replay
            .key(self.key("job", id))
            .key(self.due())
            .key(self.key("line", &dead.delivery.line()))
            .key(self.key("dead", &dead.delivery.subscription))
            .key(self.key("dead-job", id))
            .arg(id)
            .arg(to_json(&dead.delivery.fresh(now_ms)))
            .arg(now_ms)
            .arg(ttl_ms(JOB_TTL))
            .arg(if dead.delivery.ordered { "1" } else { "0" })
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(replayed == 1)
    }

    async fn add_subscription(&self, subscription: &Subscription) -> Result<bool, StoreError> {
        let key = format!("{}subscriptions", self.prefix);
        let json = to_json(subscription);
        self.connection.clone().hset_nx(key, &subscription.id, json).await.map_err(unavailable)
    }

    async fn remove_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let key = format!("{}subscriptions", self.prefix);
        let removed: i64 = self.connection.clone().hdel(key, id).await.map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let key = format!("{}subscriptions", self.prefix);
        let stored: std::collections::BTreeMap<String, String> =
            self.connection.clone().hgetall(key).await.map_err(unavailable)?;
        stored.values().map(|json| from_json(json)).collect()
    }

    async fn endpoint_failed(&self, subscription: &str, now_ms: i64) -> Result<i64, StoreError> {
        let key = self.key("endpoint", subscription);
        let mut connection = self.connection.clone();
        let (_, since): (i64, i64) = redis::pipe()
            .atomic()
            .hset_nx(&key, "failing_since", now_ms)
            .hget(&key, "failing_since")
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(since)
    }

    async fn endpoint_ok(&self, subscription: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .connection
            .clone()
            .hdel(self.key("endpoint", subscription), "failing_since")
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_disabled(&self, subscription: &str, reason: Option<&str>) -> Result<(), StoreError> {
        let key = self.key("endpoint", subscription);
        let mut connection = self.connection.clone();
        match reason {
            Some(reason) => connection.hset::<_, _, _, i64>(&key, "disabled", reason).await.map(drop),
            None => connection.del::<_, i64>(&key).await.map(drop),
        }
        .map_err(unavailable)
    }

    async fn disabled(&self, subscription: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .clone()
            .hget(self.key("endpoint", subscription), "disabled")
            .await
            .map_err(unavailable)
    }
}
