//! [`Store`] on Redis. Each operation is one Lua script call: atomic, and one round trip.
//!
//! Routing state ([`speedlead_actors::routing_store::RoutingStore`]) lives in `redis_routing.rs`,
//! keyed by the routing domain in a hash tag (`{domain}`) so a domain's routes, rep states and pool
//! cursors share one slot of a Redis Cluster, which its Lua scripts require.
//!
//! Dedupe state shares two hash tags, `{people}` and `{accounts}`: a lookup follows an index entry to
//! a record whose key it only learns inside the script, and one round trip is only possible if that
//! key is in the same slot. The price on a Cluster is that all people (and all accounts) live on one
//! shard; splitting them would cost a second round trip per lookup.
//!
//! The learned scoring model is one hash per model, `…:model:{name}` (field = bucket id in decimal,
//! value = weight), updated only with `HINCRBYFLOAT`, so concurrent instances' steps add up.

use std::time::Duration;

use async_trait::async_trait;
use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::{ErrorKind, Script, ServerErrorKind};
use speedlead_actors::store::{check_model_step, AccountRecord, Remembered, Store, StoreError, StoredPerson};

use crate::error::Error;

/// KEYS[1] = key; ARGV[1] = value, ARGV[2] = ttl ms. Returns {stored value, 1 if ours}.
const REMEMBER: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], 1}
";

/// KEYS[1] = person or account hash; ARGV[1] = owner. Sets the owner only if the hash exists and
/// has none. Returns 1 if it set it.
const SET_OWNER_IF_NONE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'owner', ARGV[1])
";

/// KEYS[1] = model hash; ARGV = bucket, delta, bucket, delta, … The deltas go to `HINCRBYFLOAT` as
/// the strings we sent, never through a Lua number.
const APPLY_MODEL_STEP: &str = r"
for i = 1, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
";

/// KEYS[1] = model hash, KEYS[2] = the outcome's claim (same hash tag); ARGV[1] = claim ttl ms,
/// then bucket, delta pairs. Returns 1 if applied, 0 if the outcome was learned already.
const APPLY_MODEL_STEP_ONCE: &str = r"
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
";

/// KEYS = index keys in priority order (email key first, then phone); ARGV[1] = person key prefix.
/// Returns {record, owner or ''} of the first index entry whose person still exists, else nil.
const FIND_PERSON: &str = r"
for _, index in ipairs(KEYS) do
  local id = redis.call('GET', index)
  if id then
    local found = redis.call('HMGET', ARGV[1] .. id, 'record', 'owner')
    if found[1] then return {found[1], found[2] or ''} end
  end
end
return false
";

/// KEYS[1] = person hash, KEYS[2..] = index keys; ARGV[1] = lead id, ARGV[2] = record, ARGV[3] = ttl
/// ms. The hash's `owner` field is left alone.
/// As SAVE_PERSON, but writes nothing and returns 0 when an index key points at another lead.
const CREATE_PERSON: &str = r"
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and held ~= ARGV[1] then return 0 end
end
redis.call('HSET', KEYS[1], 'record', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[3]) end
return 1
";

const SAVE_PERSON: &str = r"
redis.call('HSET', KEYS[1], 'record', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[3]) end
return 1
";

/// KEYS[1] = person or account hash; ARGV[1] = owner. Returns 1 if the hash exists (and was set).
const SET_OWNER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
return 1
";

/// KEYS[1] = name block set, KEYS[2] = domain index (optional); ARGV[1] = account key prefix,
/// ARGV[2] = ttl ms. Returns a flat list of record, owner or '' — the domain's account first, then
/// the block's. Block members whose account expired are removed on the way; everything found lives
/// on for the ttl.
const FIND_ACCOUNTS: &str = r"
local ids = {}
if KEYS[2] then
  local id = redis.call('GET', KEYS[2])
  if id then
    ids[#ids + 1] = id
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do ids[#ids + 1] = id end
local out, seen = {}, {}
for _, id in ipairs(ids) do
  if not seen[id] then
    seen[id] = true
    local found = redis.call('HMGET', ARGV[1] .. id, 'record', 'owner')
    if found[1] then
      redis.call('PEXPIRE', ARGV[1] .. id, ARGV[2])
      out[#out + 1] = found[1]
      out[#out + 1] = found[2] or ''
    else
      redis.call('SREM', KEYS[1], id)
    end
  end
end
return out
";

/// KEYS[1] = account hash, KEYS[2] = name block set, KEYS[3] = domain index (optional);
/// ARGV[1] = account id, ARGV[2] = record, ARGV[3] = ttl ms. A domain held by another account stays
/// with it; the hash's `owner` field is left alone.
const SAVE_ACCOUNT: &str = r"
redis.call('HSET', KEYS[1], 'record', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if KEYS[3] then
  local holder = redis.call('GET', KEYS[3])
  if not holder or holder == ARGV[1] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3]) end
end
return 1
";

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    namespace: String,
    remember: Script,
    find_person: Script,
    save_person: Script,
    create_person: Script,
    set_owner: Script,
    set_owner_if_none: Script,
    find_accounts: Script,
    save_account: Script,
    apply_model_step: Script,
    apply_model_step_once: Script,
}

impl RedisStore {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        let connection = client.get_connection_manager().await?;
        Ok(RedisStore {
            connection,
            namespace: namespace.to_string(),
            remember: Script::new(REMEMBER),
            find_person: Script::new(FIND_PERSON),
            save_person: Script::new(SAVE_PERSON),
            create_person: Script::new(CREATE_PERSON),
            set_owner: Script::new(SET_OWNER),
            set_owner_if_none: Script::new(SET_OWNER_IF_NONE),
            find_accounts: Script::new(FIND_ACCOUNTS),
            save_account: Script::new(SAVE_ACCOUNT),
            apply_model_step: Script::new(APPLY_MODEL_STEP),
            apply_model_step_once: Script::new(APPLY_MODEL_STEP_ONCE),
        })
    }

    /// Checks the server answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut c).await?;
        Ok(())
    }

    /// For the routing half of the store (`redis_routing.rs`), which shares this connection.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    fn idempotency_key(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.namespace)
    }

    /// The person hash is this prefix + lead id (the scripts append the id they read from an index).
    fn person_prefix(&self) -> String {
        format!("{}:person:{{people}}:", self.namespace)
    }

    fn email_index_key(&self, email_key: &str) -> String {
        format!("{}:person-email:{{people}}:{email_key}", self.namespace)
    }

    fn phone_index_key(&self, phone: &str) -> String {
        format!("{}:person-phone:{{people}}:{phone}", self.namespace)
    }

    /// A person-saving script call: the person's hash, then its email and phone index keys.
    fn person_call<'a>(
        &self,
        script: &'a Script,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> redis::ScriptInvocation<'a> {
        let mut call = script.key(format!("{}{lead_id}", self.person_prefix()));
        for key in email_keys {
            call.key(self.email_index_key(key));
        }
        for phone in phones {
            call.key(self.phone_index_key(phone));
        }
        call.arg(lead_id).arg(record).arg(ttl_ms(ttl));
        call
    }

    /// The account hash is this prefix + account id.
    fn account_prefix(&self) -> String {
        format!("{}:account:{{accounts}}:", self.namespace)
    }

    fn account_domain_key(&self, domain: &str) -> String {
        format!("{}:account-domain:{{accounts}}:{domain}", self.namespace)
    }

    fn account_block_key(&self, block: &str) -> String {
        format!("{}:account-block:{{accounts}}:{block}", self.namespace)
    }

    fn model_key(&self, model: &str) -> String {
        format!("{}:model:{{{model}}}", self.namespace)
    }

    async fn set_owner(&self, hash: String, owner: &str) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let set: i64 = self.set_owner.key(hash).arg(owner).invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(set == 1)
    }
}

/// An owner as the scripts return it: `''` for none.
fn owner(raw: String) -> Option<String> {
    (!raw.is_empty()).then_some(raw)
}

pub(crate) fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
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

    async fn find_person(
        &self,
        email_key: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<StoredPerson>, StoreError> {
        let indexes: Vec<String> = email_key
            .map(|k| self.email_index_key(k))
            .into_iter()
            .chain(phone.map(|p| self.phone_index_key(p)))
            .collect();
        if indexes.is_empty() {
            return Ok(None);
        }
        let mut c = self.connection.clone();
        let mut call = self.find_person.prepare_invoke();
        call.key(indexes).arg(self.person_prefix());
        let found: Option<(String, String)> = call.invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(found.map(|(record, raw_owner)| StoredPerson { record, owner: owner(raw_owner) }))
    }

    async fn create_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let call = self.person_call(&self.create_person, lead_id, record, email_keys, phones, ttl);
        call.invoke_async::<i64>(&mut c).await.map(|created| created == 1).map_err(unavailable)
    }

    async fn save_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let call = self.person_call(&self.save_person, lead_id, record, email_keys, phones, ttl);
        call.invoke_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn set_person_owner(&self, lead_id: &str, owner: &str) -> Result<bool, StoreError> {
        self.set_owner(format!("{}{lead_id}", self.person_prefix()), owner).await
    }

    async fn find_accounts(
        &self,
        domain: Option<&str>,
        name_block: &str,
        ttl: Duration,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut c = self.connection.clone();
        let mut call = self.find_accounts.key(self.account_block_key(name_block));
        if let Some(domain) = domain {
            call.key(self.account_domain_key(domain));
        }
        call.arg(self.account_prefix()).arg(ttl_ms(ttl));
        let flat: Vec<String> = call.invoke_async(&mut c).await.map_err(unavailable)?;
        flat.chunks_exact(2)
            .map(|pair| {
                let record = serde_json::from_str::<AccountRecord>(&pair[0])
                    .map_err(|e| StoreError::Corrupt(format!("account record: {e}")))?;
                Ok(AccountRecord { owner: owner(pair[1].clone()), ..record })
            })
            .collect()
    }

    async fn save_account(
        &self,
        account: &AccountRecord,
        name_block: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let record = serde_json::to_string(account)
            .map_err(|e| StoreError::Corrupt(format!("account record: {e}")))?;
        let mut c = self.connection.clone();
        let mut call = self.save_account.key(format!("{}{}", self.account_prefix(), account.account_id));
        call.key(self.account_block_key(name_block));
        if let Some(domain) = &account.domain {
            call.key(self.account_domain_key(domain));
        }
        call.arg(&account.account_id).arg(record).arg(ttl_ms(ttl));
        call.invoke_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn set_account_owner(&self, account_id: &str, owner: &str) -> Result<bool, StoreError> {
        self.set_owner(format!("{}{account_id}", self.account_prefix()), owner).await
    }

    /// Two scripts in one pipeline (one round trip), not one script: the person (`{people}`) and
    /// the account (`{accounts}`) are in different Cluster slots. Pipelined scripts are sent as
    /// `EVALSHA` without the automatic load `invoke_async` does, so after a Redis restart emptied
    /// the script cache the pipeline is sent once more with the scripts loaded first; both scripts
    /// are idempotent, so running one of them twice is harmless.
    async fn record_owner(
        &self,
        lead_id: &str,
        account_id: Option<&str>,
        rep_id: &str,
    ) -> Result<(), StoreError> {
        let mut person = self.set_owner.key(format!("{}{lead_id}", self.person_prefix()));
        person.arg(rep_id);
        let account = account_id.map(|id| {
            let mut account = self.set_owner_if_none.key(format!("{}{id}", self.account_prefix()));
            account.arg(rep_id);
            account
        });
        let pipeline = |load: bool| {
            let mut pipe = redis::pipe();
            if load {
                pipe.load_script(&self.set_owner).ignore().load_script(&self.set_owner_if_none).ignore();
            }
            pipe.invoke_script(&person).ignore();
            if let Some(account) = &account {
                pipe.invoke_script(account).ignore();
            }
            pipe
        };
        let mut c = self.connection.clone();
        match pipeline(false).query_async::<()>(&mut c).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                pipeline(true).query_async::<()>(&mut c).await
            }
            done => done,
        }
        .map_err(unavailable)
    }

    async fn model_buckets(&self, model: &str) -> Result<Vec<(u32, f64)>, StoreError> {
        let mut c = self.connection.clone();
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.model_key(model))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        let mut buckets = raw
            .into_iter()
            .map(|(bucket, weight)| match (bucket.parse::<u32>(), weight.parse::<f64>()) {
                (Ok(bucket), Ok(weight)) => Ok((bucket, weight)),
                _ => Err(StoreError::Corrupt(format!("model {model}: bucket '{bucket}' = '{weight}'"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        buckets.sort_unstable_by_key(|&(bucket, _)| bucket);
        Ok(buckets)
    }

    async fn apply_model_step(&self, model: &str, step: &[(u32, f64)]) -> Result<(), StoreError> {
        check_model_step(step)?;
        if step.is_empty() {
            return Ok(());
        }
        let mut c = self.connection.clone();
        let mut call = self.apply_model_step.key(self.model_key(model));
        for &(bucket, delta) in step {
            call.arg(bucket).arg(delta);
        }
        call.invoke_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn apply_model_step_once(
        &self,
        model: &str,
        outcome_id: &str,
        step: &[(u32, f64)],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        check_model_step(step)?;
        let mut c = self.connection.clone();
        let claim = format!("{}:model-learned:{{{model}}}:{outcome_id}", self.namespace);
        let mut call = self.apply_model_step_once.key(self.model_key(model));
        call.key(claim).arg(ttl_ms(ttl));
        for &(bucket, delta) in step {
            call.arg(bucket).arg(delta);
        }
        call.invoke_async::<i64>(&mut c).await.map(|applied| applied == 1).map_err(unavailable)
    }
}
