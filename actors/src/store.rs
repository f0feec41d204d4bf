//! The state stages keep between records (idempotency keys, assignment decisions, round-robin turns)
//! and its in-memory implementation. The Redis implementation lives in the `speedlead` binary; both
//! must pass [`crate::store_contract`].
//!
//! Every operation is one atomic step (one round trip on Redis) because a partition worker awaits it
//! once per lead: a second round trip would add directly to speed-to-lead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no candidate reps to choose from")]
    NoCandidates,
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Result of [`Store::remember`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The value stored under the key: ours if we were first, else the earlier one.
    pub value: String,
    pub first: bool,
}

/// Result of [`Store::assign_round_robin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub rep_id: String,
    /// False when the lead already had a decision (a redelivery): the same rep is returned.
    pub fresh: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under idempotency `key` for `ttl` unless the key is already held; either way
    /// returns what is stored. Atomic: of concurrent callers exactly one is `first`.
    async fn remember(&self, key: &str, value: &str, ttl: Duration) -> Result<Remembered, StoreError>;

    /// The value under idempotency `key`, if it is held.
    async fn recall(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets idempotency `key` to `value` for `ttl`, whoever held it (the holder finishing its work).
    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Drops idempotency `key`, so a retry of work that failed can claim it again.
    async fn forget(&self, key: &str) -> Result<(), StoreError>;

    /// Returns the lead's existing decision in `domain`, or takes the domain's next round-robin turn
    /// over `candidates` and stores it as the decision for `ttl`. Atomic, so a redelivered or
    /// concurrently processed lead can never get a second rep, and turns are never skipped or reused.
    async fn assign_round_robin(
        &self,
        domain: &str,
        lead_id: &str,
        candidates: &[String],
        ttl: Duration,
    ) -> Result<Decision, StoreError>;

    /// The stored decision for a lead, if any.
    async fn assignment(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError>;

    /// How many round-robin turns the domain has taken.
    async fn round_robin_turns(&self, domain: &str) -> Result<u64, StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

/// Picks the candidate for a 1-based round-robin turn.
pub fn candidate_for_turn(candidates: &[String], turn: u64) -> &str {
    &candidates[((turn - 1) % candidates.len() as u64) as usize]
}

/// In-process store for the embedded default and for unit tests. State dies with the process, which
/// is why production uses Redis.
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: DashMap<String, Expiring>,
    turns: DashMap<String, u64>,
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

fn decision_key(domain: &str, lead_id: &str) -> String {
    format!("decision\u{1f}{domain}\u{1f}{lead_id}")
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
        // The turn is taken inside the entry's lock, so only a lead without a decision consumes one.
        let stored = self.get_or_insert(decision_key(domain, lead_id), ttl, || {
            let mut turn = self.turns.entry(domain.to_string()).or_insert(0);
            *turn += 1;
            candidate_for_turn(candidates, *turn).to_string()
        });
        Ok(Decision { rep_id: stored.value, fresh: stored.first })
    }

    async fn assignment(&self, domain: &str, lead_id: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        Ok(self
            .values
            .get(&decision_key(domain, lead_id))
            .filter(|v| v.expires > now)
            .map(|v| v.value.clone()))
    }

    async fn round_robin_turns(&self, domain: &str) -> Result<u64, StoreError> {
        Ok(self.turns.get(domain).map(|t| *t).unwrap_or(0))
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
