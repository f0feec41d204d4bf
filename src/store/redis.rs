//! [`Store`] on Redis. Each operation is one Lua script call: atomic, and one round trip.
//!
//! Keys carry the routing domain in a hash tag (`{domain}`) so a domain's decisions and its
//! round-robin counter live in the same slot of a Redis Cluster, which Lua scripts require.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use speedlead_actors::store::{Decision, Remembered, Store, StoreError};

use crate::error::Error;

/// KEYS[1] = key; ARGV[1] = value, ARGV[2] = ttl ms. Returns {stored value, 1 if ours}.
const REMEMBER: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], 1}
";

/// KEYS[1] = decision key, KEYS[2] = round-robin counter; ARGV[1] = ttl ms, ARGV[2..] = candidates.
/// Returns {rep, 1 if decided now}. The counter only moves for a lead without a decision. Picks the
/// same candidate for a turn as `candidate_for_turn` does in memory (ARGV[1] is the ttl).
const ASSIGN_ROUND_ROBIN: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
local n = #ARGV - 1
local turn = redis.call('INCR', KEYS[2])
local rep = ARGV[((turn - 1) % n) + 2]
redis.call('SET', KEYS[1], rep, 'PX', ARGV[1])
return {rep, 1}
";

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    namespace: String,
    remember: Script,
    assign: Script,
}

impl RedisStore {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        let connection = client.get_connection_manager().await?;
        Ok(RedisStore {
            connection,
            namespace: namespace.to_string(),
            remember: Script::new(REMEMBER),
            assign: Script::new(ASSIGN_ROUND_ROBIN),
        })
    }

    /// Checks the server answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut c).await?;
        Ok(())
    }

    fn idempotency_key(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.namespace)
    }

    fn decision_key(&self, domain: &str, lead_id: &str) -> String {
        format!("{}:decision:{{{domain}}}:{lead_id}", self.namespace)
    }

    fn turns_key(&self, domain: &str) -> String {
        format!("{}:rr:{{{domain}}}", self.namespace)
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn ttl_ms(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u64::MAX as u128) as u64
}

#[async_trait]
impl Store for RedisStore {
    async fn remember(&self, key: &str, value: &str, ttl: Duration) -> Result<Remembered, StoreError> {
        let mut c = self.connection.clone();
        let (value, first): (String, i64) = self
            .remember
            .key(self.idempotency_key(key))
            .arg(value)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(Remembered { value, first: first == 1 })
    }

    async fn recall(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("GET").arg(self.idempotency_key(key)).query_async(&mut c).await.map_err(unavailable)
    }

    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(self.idempotency_key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("DEL").arg(self.idempotency_key(key)).query_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn assign_round_robin(
        &self,
        domain: &str,
        lead_id: &str,
        candidates: &[String],
        ttl: Duration,
    ) -> Result<Decision, StoreError> {
        if candidates.is_empty() {
            return Err(StoreError::NoCandidates);
        }
        let mut c = self.connection.clone();
        let mut call = self.assign.key(self.decision_key(domain, lead_id));
        call.key(self.turns_key(domain)).arg(ttl_ms(ttl));
        for candidate in candidates {
            call.arg(candidate);
        }
        let (rep_id, fresh): (String, i64) = call.invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(Decision { rep_id, fresh: fresh == 1 })
    }

    async fn assignment(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("GET")
            .arg(self.decision_key(domain, lead_id))
            .query_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn round_robin_turns(&self, domain: &str) -> Result<u64, StoreError> {
        let mut c = self.connection.clone();
        let turns: Option<u64> =
            redis::cmd("GET").arg(self.turns_key(domain)).query_async(&mut c).await.map_err(unavailable)?;
        Ok(turns.unwrap_or(0))
    }
}
