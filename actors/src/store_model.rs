//! The in-memory half of the learned scoring model's state: one map of bucket → weight per model,
//! mirroring the Redis hash (`{ns}:model:{name}`, field = bucket) that `src/store/redis.rs` keeps.
//! [`super::MemoryStore`] delegates [`super::Store::model_buckets`] and
//! [`super::Store::apply_model_step`] here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

#[derive(Debug, Default)]
pub(super) struct Models {
    weights: DashMap<String, HashMap<u32, f64>>,
    /// (model, outcome id) → until when the outcome counts as learned.
    learned: DashMap<(String, String), Instant>,
}

impl Models {
    /// The model's buckets in bucket order, like the Redis implementation returns them.
    pub(super) fn buckets(&self, model: &str) -> Vec<(u32, f64)> {
        let mut buckets: Vec<_> = self
            .weights
            .get(model)
            .map(|weights| weights.iter().map(|(&bucket, &weight)| (bucket, weight)).collect())
            .unwrap_or_default();
        buckets.sort_unstable_by_key(|&(bucket, _)| bucket);
        buckets
    }

    /// Applies the step unless the outcome was learned and its claim is live; the claim's entry
    /// stays locked while the step is applied, so the two happen together.
    pub(super) fn apply_once(&self, model: &str, outcome: &str, step: &[(u32, f64)], ttl: Duration) -> bool {
        let now = Instant::now();
        match self.learned.entry((model.to_string(), outcome.to_string())) {
            Entry::Occupied(claim) if *claim.get() > now => false,
            Entry::Occupied(mut claim) => {
                claim.insert(now + ttl);
                self.apply(model, step);
                true
            }
            Entry::Vacant(claim) => {
                let _claim = claim.insert(now + ttl);
                self.apply(model, step);
                true
            }
        }
    }

    /// Adds the step under the model's entry lock, so a concurrent reader sees all of it or none.
    /// An empty step creates no model, as `HINCRBYFLOAT` never runs for it on Redis.
    pub(super) fn apply(&self, model: &str, step: &[(u32, f64)]) {
        if step.is_empty() {
            return;
        }
        let mut weights = self.weights.entry(model.to_string()).or_default();
        for &(bucket, delta) in step {
            *weights.entry(bucket).or_insert(0.0) += delta;
        }
    }
}
