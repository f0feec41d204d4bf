//! The learned half of lead scoring: logistic regression on hashed features, updated online from
//! conversion outcomes.
//!
//! **Features** are `name=value` strings (`industry=software`, `employees_band=201-1000`, and a few
//! interactions such as `industry_x_size=software|201-1000`) hashed with xxh3 into
//! 2^[`FEATURE_BITS`] buckets. xxh3 is specified and seeded by us, unlike std's hasher, so a bucket
//! means the same on every instance and after every restart or upgrade. A lead's features are a
//! plain sparse vector, so they can be stored when the lead is scored and learned from when its
//! outcome arrives days later, exactly as the model saw it.
//!
//! **Shared state without races.** An SGD step only adds to weights, so a step is expressed as a
//! list of `(bucket, delta)` ([`Model::learning_step`]); instances apply it with `HINCRBYFLOAT` on
//! one Redis hash (field = bucket as decimal) and never read-modify-write. The bias and the
//! outcome counters live in that hash too, under reserved buckets above every feature bucket
//! ([`BIAS_BUCKET`], [`OUTCOMES_BUCKET`], [`POSITIVES_BUCKET`]), so one step is one batch of
//! increments. Steps computed from a slightly stale snapshot are the usual asynchronous-SGD
//! trade-off: at a few outcomes per second against a model refreshed every few seconds, the
//! staleness is a handful of steps and does not affect convergence.
//!
//! **Learning rate**: `rate_t = learning_rate / sqrt(1 + t / decay_outcomes)`, `t` the outcomes
//! learned so far. Early outcomes move the model quickly; later ones refine it, and the 1/sqrt(t)
//! decay is the classic schedule under which online SGD on a convex loss converges. A per-bucket
//! rate (AdaGrad) would need a second additive accumulator per bucket; the global schedule is
//! simpler to operate, and on the evaluation (`speedlead::eval::scoring`) it gets within 0.05–0.07
//! AUC of the ground truth's ceiling after 5,000 outcomes, so AdaGrad was not tried.
//! **L2** (`l2`) pulls the weights of the features in a step towards zero, applied lazily (only
//! to the buckets the lead has, which keeps steps sparse), so rare feature values and hash
//! collisions cannot grow large weights from a few lucky outcomes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use speedlead_topics::QualifiedLead;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::scoring::LeadFacts;

/// log2 of the number of feature buckets: 262,144, plenty for the few thousand distinct feature
/// values B2B leads have, so collisions are rare.
pub const FEATURE_BITS: u32 = 18;
const FEATURE_MASK: u64 = (1 << FEATURE_BITS) - 1;
/// Reserved buckets, above every feature bucket whatever `FEATURE_BITS` becomes.
pub const BIAS_BUCKET: u32 = u32::MAX;
pub const OUTCOMES_BUCKET: u32 = u32::MAX - 1;
pub const POSITIVES_BUCKET: u32 = u32::MAX - 2;
/// Fixed forever: changing it re-maps every feature and orphans every learned weight.
const HASH_SEED: u64 = 0x5EED_1EAD;
/// Words of a chat beyond this many add little and would drown the other features.
const MAX_CHAT_WORDS: usize = 32;
const UNKNOWN: &str = "unknown";

/// How the model learns; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningConfig {
    /// Step size at the first outcome.
    pub learning_rate: f64,
    /// Outcomes after which the step size has fallen to 1/sqrt(2) of `learning_rate`.
    pub decay_outcomes: f64,
    /// L2 regularisation strength.
    pub l2: f64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        LearningConfig { learning_rate: 0.1, decay_outcomes: 100.0, l2: 0.001 }
    }
}

impl LearningConfig {
    /// The step size after `outcomes` outcomes.
    pub fn rate_at(&self, outcomes: u64) -> f64 {
        self.learning_rate / (1.0 + outcomes as f64 / self.decay_outcomes).sqrt()
    }

    /// Every problem with these settings, prefixed by `at` (their path in the configuration).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in [("learning_rate", self.learning_rate), ("decay_outcomes", self.decay_outcomes)]
        {
            if !(value.is_finite() && value > 0.0) {
                problems.push(format!("{at}.{name}: {value} must be a positive number"));
            }
        }
        if !(self.l2.is_finite() && (0.0..1.0).contains(&self.l2)) {
            problems.push(format!("{at}.l2: {} must be at least 0 and below 1", self.l2));
        }
        problems
    }
}

/// The model: weights of the buckets that have one, the bias, and how many outcomes (and how many
/// conversions among them) it has learned from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub weights: HashMap<u32, f64>,
    pub bias: f64,
    pub outcomes: u64,
    pub positives: u64,
}

impl Model {
    /// A model from its stored buckets (e.g. `HGETALL` of the model hash), reserved ones included.
    pub fn from_buckets(buckets: impl IntoIterator<Item = (u32, f64)>) -> Self {
        let mut model = Model::default();
        for (bucket, value) in buckets {
            model.add(bucket, value);
        }
        model
    }

    /// Every stored bucket, reserved ones included: the inverse of [`Model::from_buckets`].
    pub fn to_buckets(&self) -> Vec<(u32, f64)> {
        let mut buckets: Vec<(u32, f64)> = self.weights.iter().map(|(&b, &w)| (b, w)).collect();
        buckets.sort_by_key(|&(b, _)| b);
        buckets.extend([
            (POSITIVES_BUCKET, self.positives as f64),
            (OUTCOMES_BUCKET, self.outcomes as f64),
            (BIAS_BUCKET, self.bias),
        ]);
        buckets
    }

    /// Probability that a lead with these features converts.
    pub fn predict(&self, features: &[(u32, f32)]) -> f64 {
        sigmoid(self.bias + features.iter().map(|&(b, x)| self.weight(b) * f64::from(x)).sum::<f64>())
    }

    /// One SGD step on the log loss for an outcome, as increments: one per feature bucket, the
    /// bias, and the outcome counters. Applying the increments in any order, on any instance or
    /// in Redis, gives the same model.
    pub fn learning_step(
        &self,
        features: &[(u32, f32)],
        converted: bool,
        config: &LearningConfig,
    ) -> Vec<(u32, f64)> {
        let label = if converted { 1.0 } else { 0.0 };
        let gradient = self.predict(features) - label;
        let rate = config.rate_at(self.outcomes);
        let mut step: Vec<(u32, f64)> = features
            .iter()
            .map(|&(b, x)| (b, -rate * (gradient * f64::from(x) + config.l2 * self.weight(b))))
            .collect();
        step.extend([(BIAS_BUCKET, -rate * gradient), (OUTCOMES_BUCKET, 1.0), (POSITIVES_BUCKET, label)]);
        step
    }

    /// Adds a step's increments (from this instance or another).
    pub fn apply(&mut self, step: &[(u32, f64)]) {
        for &(bucket, delta) in step {
            self.add(bucket, delta);
        }
    }

    /// Share of learned outcomes that converted, smoothed so it is never 0 or 1.
    pub fn base_rate(&self) -> f64 {
        (self.positives as f64 + 1.0) / (self.outcomes as f64 + 2.0)
    }

    /// A probability on the score's 0–1 scale: the lead's conversion odds relative to the average
    /// lead's, `sigmoid(logit(p) - logit(base_rate))`. An average lead is 0.5, one with 4x the
    /// average odds 0.8. Raw probabilities would not blend with the rules: at a 10% base rate
    /// even great leads sit at 0.3–0.5 and the blend would drag every score down.
    pub fn relative_score(&self, probability: f64) -> f64 {
        let p = probability.clamp(1e-9, 1.0 - 1e-9);
        sigmoid(logit(p) - logit(self.base_rate()))
    }

    fn weight(&self, bucket: u32) -> f64 {
        self.weights.get(&bucket).copied().unwrap_or(0.0)
    }

    fn add(&mut self, bucket: u32, delta: f64) {
        let count = |n: u64| (n as f64 + delta).max(0.0).round() as u64;
        match bucket {
            BIAS_BUCKET => self.bias += delta,
            OUTCOMES_BUCKET => self.outcomes = count(self.outcomes),
            POSITIVES_BUCKET => self.positives = count(self.positives),
            _ => *self.weights.entry(bucket).or_insert(0.0) += delta,
        }
    }
}

/// The hashed features of a lead: one-hot `name=value` features (value 1) and the words of its
/// chat (values 1/sqrt(words), so a long chat weighs as much as a short one), sorted by bucket,
/// without duplicates.
pub fn features(lead: &QualifiedLead) -> Vec<(u32, f32)> {
    features_of(&LeadFacts::of(lead))
}

/// [`features`] from already extracted facts.
pub fn features_of(facts: &LeadFacts) -> Vec<(u32, f32)> {
    let size = employees_band(facts.employees);
    let industry = facts.industry.as_deref().unwrap_or(UNKNOWN);
    let seniority = facts.seniority.as_deref().unwrap_or(UNKNOWN);
    let form = facts.form_type.as_deref().unwrap_or("none");
    let mut x: Vec<(u32, f32)> = [
        ("employees_band", size),
        ("industry", industry),
        ("seniority", seniority),
        ("country", facts.country.as_deref().unwrap_or(UNKNOWN)),
        ("source", facts.source.as_str()),
        ("form_type", form),
        ("pages_band", pages_band(facts.pages_viewed)),
        ("time_band", time_band(facts.time_on_site_secs)),
        ("email", facts.email.as_str()),
        ("phone", if facts.has_phone { "yes" } else { "no" }),
        ("chat", if facts.intent_words.is_empty() { "no" } else { "yes" }),
        // Interactions a linear model cannot form itself and B2B sales know matter: the same
        // industry buys differently at 20 and at 2,000 employees, a founder of a startup is a
        // buyer while a CEO of an enterprise rarely fills in a form.
        ("industry_x_size", &format!("{industry}|{size}")),
        ("seniority_x_size", &format!("{seniority}|{size}")),
        ("seniority_x_form", &format!("{seniority}|{form}")),
    ]
    .iter()
    .map(|(name, value)| (bucket(name, value), 1.0))
    .collect();
    let mut chat_words: Vec<&str> = facts.intent_words.iter().map(String::as_str).collect();
    chat_words.sort_unstable();
    chat_words.dedup();
    chat_words.truncate(MAX_CHAT_WORDS);
    let word_value = 1.0 / (chat_words.len().max(1) as f32).sqrt();
    x.extend(chat_words.iter().map(|w| (bucket("chat_word", w), word_value)));
    x.sort_unstable_by_key(|&(b, _)| b);
    x.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
    x
}

/// The bucket of feature `name=value`.
pub fn bucket(name: &str, value: &str) -> u32 {
    let mut key = String::with_capacity(name.len() + value.len() + 1);
    key.push_str(name);
    key.push('=');
    key.push_str(value);
    (xxh3_64_with_seed(key.as_bytes(), HASH_SEED) & FEATURE_MASK) as u32
}

/// The model's own employee bands. Fixed here, not taken from the rules, so reconfiguring the
/// rules' points does not re-map the learned features.
fn employees_band(employees: Option<u32>) -> &'static str {
    match employees {
        None => UNKNOWN,
        Some(0..=10) => "1-10",
        Some(11..=50) => "11-50",
        Some(51..=200) => "51-200",
        Some(201..=1000) => "201-1000",
        Some(1001..=5000) => "1001-5000",
        Some(_) => "5001+",
    }
}

fn pages_band(pages: Option<f64>) -> &'static str {
    match pages {
        None => UNKNOWN,
        Some(p) if p < 1.0 => "0",
        Some(p) if p < 2.0 => "1",
        Some(p) if p < 5.0 => "2-4",
        Some(p) if p < 10.0 => "5-9",
        Some(_) => "10+",
    }
}

fn time_band(secs: Option<f64>) -> &'static str {
    match secs {
        None => UNKNOWN,
        Some(s) if s < 30.0 => "0-29s",
        Some(s) if s < 120.0 => "30-119s",
        Some(s) if s < 600.0 => "120-599s",
        Some(_) => "600s+",
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
