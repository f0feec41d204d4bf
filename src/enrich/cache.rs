//! Provider answers cached in the store (Redis in production), so a person or company is looked up
//! once per TTL across every speedlead process instead of once per lead: providers bill per lookup
//! and a cache hit costs a millisecond instead of a provider round trip.
//!
//! Keys are `enrich:{provider}:{lookup}` (the store adds its namespace); values are the
//! [`Answer`] as JSON. "Not found" is cached too, for a shorter TTL: a person unknown today may be
//! known next week, but asking again for every lead from them in the meantime is waste.
//!
//! The cache never fails enrichment: an unreachable store or an unreadable entry is a miss, and a
//! write that fails is dropped. What is cached is the mapped profile, not the raw answer; a changed
//! `format` or `fields` of a provider applies to entries written after the change.

use std::time::Duration;

use speedlead_actors::store::SharedStore;

use super::provider::Answer;

pub struct AnswerCache {
    store: SharedStore,
    found_ttl: Duration,
    not_found_ttl: Duration,
}

impl AnswerCache {
    pub fn new(store: SharedStore, found_ttl: Duration, not_found_ttl: Duration) -> Self {
        AnswerCache { store, found_ttl, not_found_ttl }
    }

    pub fn key(provider: &str, lookup: &str) -> String {
        format!("enrich:{provider}:{lookup}")
    }

    pub async fn get(&self, provider: &str, lookup: &str) -> Option<Answer> {
        match self.store.recall(&Self::key(provider, lookup)).await {
            Ok(Some(json)) => match serde_json::from_str(&json) {
                Ok(answer) => Some(answer),
                Err(e) => {
                    tracing::warn!(provider, error = %e, "unreadable enrichment cache entry, ignored");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(provider, error = %e, "enrichment cache unavailable, asking the provider");
                None
            }
        }
    }

    pub async fn put(&self, provider: &str, lookup: &str, answer: &Answer) {
        let ttl = match answer {
            Answer::Found(_) => self.found_ttl,
            Answer::NotFound => self.not_found_ttl,
        };
        if ttl.is_zero() {
            return; // caching switched off for this kind of answer
        }
        let json = serde_json::to_string(answer).expect("an answer serializes");
        if let Err(e) = self.store.replace(&Self::key(provider, lookup), &json, ttl).await {
            tracing::warn!(provider, error = %e, "enrichment answer not cached");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use speedlead_actors::store::MemoryStore;

    use super::super::mapping::Profile;
    use super::*;

    #[tokio::test]
    async fn answers_round_trip_and_unreadable_entries_are_misses() {
        let store = Arc::new(MemoryStore::new());
        let cache = AnswerCache::new(store.clone(), Duration::from_secs(60), Duration::from_secs(10));
        let found = Answer::Found(Profile { company_name: Some("Acme".into()), ..Profile::default() });
        cache.put("clearbit", "ana@acme.io", &found).await;
        cache.put("clearbit", "bo@acme.io", &Answer::NotFound).await;
        assert_eq!(cache.get("clearbit", "ana@acme.io").await, Some(found));
        assert_eq!(cache.get("clearbit", "bo@acme.io").await, Some(Answer::NotFound));
        assert_eq!(cache.get("apollo", "ana@acme.io").await, None, "keys are per provider");

        use speedlead_actors::store::Store;
        store.replace("enrich:clearbit:cy@acme.io", "{not json", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("clearbit", "cy@acme.io").await, None);
    }

    #[tokio::test]
    async fn a_zero_ttl_caches_nothing() {
        let cache = AnswerCache::new(Arc::new(MemoryStore::new()), Duration::from_secs(60), Duration::ZERO);
        cache.put("p", "x.io", &Answer::NotFound).await;
        assert_eq!(cache.get("p", "x.io").await, None);
    }
}
