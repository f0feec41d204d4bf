//! The state stages keep between records (idempotency keys, the people and accounts dedupe matches
//! against, the learned scoring model's weights) and its in-memory implementation. The Redis
//! implementation lives in the `speedlead` binary; both must pass [`crate::store_contract`].
//!
//! Routing state (each lead's route, the reps' live state, the pools' rotation cursors, SLA
//! deadlines, overflow queues) is not declared here but in [`crate::routing_store::RoutingStore`],
//! a supertrait of [`Store`], so one store serves both.
//!
//! Every operation is one atomic step (one round trip on Redis) because a partition worker awaits it
//! once per lead: a second round trip would add directly to speed-to-lead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

#[path = "store_model.rs"]
mod model;
#[path = "store_people.rs"]
mod people;
#[path = "store_routing.rs"]
mod routing;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A value cannot be stored or read back: written by an incompatible version, or a model step
    /// with a non-finite delta (see [`check_model_step`]). Retrying will not help.
    #[error("stored value unusable: {0}")]
    Corrupt(String),
    /// Someone else wrote first (e.g. another partition created the same person): retrying reads
    /// what they wrote.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Refuses a model step with a NaN or infinite delta before it reaches a store: added to a weight it
/// would poison that weight for good (Redis refuses it, memory would keep it), so both implementations
/// refuse it the same way, with nothing applied.
pub fn check_model_step(step: &[(u32, f64)]) -> Result<(), StoreError> {
    match step.iter().find(|(_, delta)| !delta.is_finite()) {
        Some((bucket, delta)) => {
            Err(StoreError::Corrupt(format!("model step: bucket {bucket} has a non-finite delta {delta}")))
        }
        None => Ok(()),
    }
}

/// Result of [`Store::remember`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The value stored under the key: ours if we were first, else the earlier one.
    pub value: String,
    pub first: bool,
}

#[async_trait]
/// Routing state is part of it (see [`crate::routing_store`]) so one `Arc<dyn Store>` serves both.
pub trait Store: crate::routing_store::RoutingStore {
    /// Stores `value` under idempotency `key` for `ttl` unless the key is already held; either way
    /// returns what is stored. Atomic: of concurrent callers exactly one is `first`.
    async fn remember(&self, key: &str, value: &str, ttl: Duration) -> Result<Remembered, StoreError>;

    /// The value under idempotency `key`, if it is held.
    async fn recall(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets idempotency `key` to `value` for `ttl`, whoever held it (the holder finishing its work).
    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Drops idempotency `key`, so a retry of work that failed can claim it again.
    async fn forget(&self, key: &str) -> Result<(), StoreError>;

    /// The person whose record is indexed under `email_key` (a `dedupe::match_email_key`), else the
    /// one indexed under `phone` (E.164). Email wins when both point at records: an email address
    /// is personal, a phone number is sometimes shared (an office line, a family phone).
    async fn find_person(
        &self,
        email_key: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<StoredPerson>, StoreError>;

    /// Stores a person seen for the first time, like [`Store::save_person`], but only if none of
    /// their email keys and phones already points at another lead; otherwise writes nothing and
    /// returns false. Two captures of one person can reach two partitions at once (their Kafka
    /// keys differ: `Ana.Lopez@gmail.com` vs `analopez@gmail.com`, or email vs phone only); the
    /// loser retries, finds the winner's record and merges into it, so the person keeps one lead.
    async fn create_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Stores a person's `record` for `ttl` and points every email key and phone at `lead_id` (a
    /// phone another record held now points here: the newest capture says whose it is). Keeps the
    /// owner set beside the record.
    async fn save_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Sets the owner of a stored person; false when there is no such person (expired or unknown).
    async fn set_person_owner(&self, lead_id: &str, owner: &str) -> Result<bool, StoreError>;

    /// Candidate accounts for a lead, in one round trip: the account indexed under `domain` first,
    /// then every account in the name block `name_block` (see `account::name_block`). Everything
    /// found lives on for `ttl` from now: an account with leads every week must not expire (and
    /// lose its owner) two years after it was created.
    async fn find_accounts(
        &self,
        domain: Option<&str>,
        name_block: &str,
        ttl: Duration,
    ) -> Result<Vec<AccountRecord>, StoreError>;

    /// Stores an account for `ttl`, adds it to `name_block` and indexes its domain, unless the domain
    /// already belongs to another account (the first account to claim a domain keeps it). Keeps the
    /// owner set beside the record.
    async fn save_account(
        &self,
        account: &AccountRecord,
        name_block: &str,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Sets the owner of a stored account; false when there is no such account.
    async fn set_account_owner(&self, account_id: &str, owner: &str) -> Result<bool, StoreError>;

    /// Records who a lead was assigned to, in one round trip: `rep_id` becomes the owner of the
    /// person stored under `lead_id`, and of account `account_id` if that account has no owner yet
    /// (the first rep to own a lead of an account owns the account; later leads of the account are
    /// routed to them). A person or account that is not stored is left alone, not created.
    ///
    /// The two updates are each atomic but not atomic together: each is idempotent on its own, so
    /// a retry after a partial failure completes the other, and on Redis Cluster the person and the
    /// account live in different slots, which one script could not span.
    async fn record_owner(
        &self,
        lead_id: &str,
        account_id: Option<&str>,
        rep_id: &str,
    ) -> Result<(), StoreError>;

    /// Every bucket of the learned scoring `model` that has a weight (see [`crate::model`]: feature
    /// buckets and the reserved bias and outcome-counter buckets), in bucket order; empty for a
    /// model that never learned.
    async fn model_buckets(&self, model: &str) -> Result<Vec<(u32, f64)>, StoreError>;

    /// Adds every `(bucket, delta)` of an SGD step to `model`, atomically. Steps only add, so
    /// instances applying steps concurrently never lose each other's: no read-modify-write. An empty
    /// step changes nothing; a step with a non-finite delta is refused whole ([`check_model_step`]).
    async fn apply_model_step(&self, model: &str, step: &[(u32, f64)]) -> Result<(), StoreError>;

    /// [`Store::apply_model_step`] for the outcome `outcome_id`, unless that outcome was learned
    /// within `ttl`; returns whether the step was applied. The claim and the step are one atomic
    /// write, so a lost reply or a crash can neither skip an outcome nor learn it twice.
    async fn apply_model_step_once(
        &self,
        model: &str,
        outcome_id: &str,
        step: &[(u32, f64)],
        ttl: Duration,
    ) -> Result<bool, StoreError>;
}

/// A person as [`Store::find_person`] returns it: the record dedupe wrote (JSON, opaque to the store)
/// and the owner stored beside it.
///
/// The owner lives beside the record, not in it, so that a merge (read, merge, save) racing with the
/// router setting the owner cannot write the old owner back: [`Store::save_person`] never touches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub record: String,
    pub owner: Option<String>,
}

/// A company account as the store keeps it. Small and typed (unlike a person record) because the
/// store indexes it by domain and returns candidate sets of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub account_id: String,
    /// Normalized company name (see `account::normalize_company_name`).
    pub name: String,
    /// Corporate email domain, once one was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Stored beside the record and set only by [`Store::set_account_owner`], for the same reason
    /// as [`StoredPerson::owner`]; [`Store::save_account`] ignores it.
    #[serde(skip)]
    pub owner: Option<String>,
}

pub type SharedStore = Arc<dyn Store>;

/// In-process store for the embedded default and for unit tests. State dies with the process, which
/// is why production uses Redis.
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: DashMap<String, Expiring>,
    directory: people::Directory,
    models: model::Models,
    routing: routing::RoutingState,
}

#[derive(Debug)]
struct Expiring {
    value: String,
    expires: Instant,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `make()` under `key` unless a live value is there; returns what is stored afterwards.
    fn get_or_insert(&self, key: String, ttl: Duration, make: impl FnOnce() -> String) -> Remembered {
        let now = Instant::now();
        match self.values.entry(key) {
            Entry::Occupied(e) if e.get().expires > now => {
                Remembered { value: e.get().value.clone(), first: false }
            }
            Entry::Occupied(mut e) => {
                let value = make();
                e.insert(Expiring { value: value.clone(), expires: now + ttl });
                Remembered { value, first: true }
            }
            Entry::Vacant(e) => {
                let value = make();
                e.insert(Expiring { value: value.clone(), expires: now + ttl });
                Remembered { value, first: true }
            }
        }
    }
}

fn idempotency_key(key: &str) -> String {
    format!("idem\u{1f}{key}")
}

#[async_trait]
impl Store for MemoryStore {
    async fn remember(&self, key: &str, value: &str, ttl: Duration) -> Result<Remembered, StoreError> {
        Ok(self.get_or_insert(idempotency_key(key), ttl, || value.to_string()))
    }

    async fn recall(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        Ok(self.values.get(&idempotency_key(key)).filter(|v| v.expires > now).map(|v| v.value.clone()))
    }

    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.values.insert(
            idempotency_key(key),
            Expiring { value: value.to_string(), expires: Instant::now() + ttl },
        );
        Ok(())
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        self.values.remove(&idempotency_key(key));
        Ok(())
    }

    async fn find_person(
        &self,
        email_key: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<StoredPerson>, StoreError> {
        Ok(self.directory.find_person(email_key, phone))
    }

    async fn create_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self.directory.create_person(lead_id, record, email_keys, phones, ttl))
    }

    async fn save_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.directory.save_person(lead_id, record, email_keys, phones, ttl);
        Ok(())
    }

    async fn set_person_owner(&self, lead_id: &str, owner: &str) -> Result<bool, StoreError> {
        Ok(self.directory.set_person_owner(lead_id, owner))
    }

    async fn find_accounts(
        &self,
        domain: Option<&str>,
        name_block: &str,
        ttl: Duration,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        Ok(self.directory.find_accounts(domain, name_block, ttl))
    }

    async fn save_account(
        &self,
        account: &AccountRecord,
        name_block: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.directory.save_account(account, name_block, ttl);
        Ok(())
    }

    async fn set_account_owner(&self, account_id: &str, owner: &str) -> Result<bool, StoreError> {
        Ok(self.directory.set_account_owner(account_id, owner))
    }

    async fn record_owner(
        &self,
        lead_id: &str,
        account_id: Option<&str>,
        rep_id: &str,
    ) -> Result<(), StoreError> {
        self.directory.record_owner(lead_id, account_id, rep_id);
        Ok(())
    }

    async fn model_buckets(&self, model: &str) -> Result<Vec<(u32, f64)>, StoreError> {
        Ok(self.models.buckets(model))
    }

    async fn apply_model_step(&self, model: &str, step: &[(u32, f64)]) -> Result<(), StoreError> {
        check_model_step(step)?;
        self.models.apply(model, step);
        Ok(())
    }

    async fn apply_model_step_once(
        &self,
        model: &str,
        outcome_id: &str,
        step: &[(u32, f64)],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        check_model_step(step)?;
        Ok(self.models.apply_once(model, outcome_id, step, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_passes_the_store_contract() {
        crate::store_contract::run_all(Arc::new(MemoryStore::new())).await;
    }
}
