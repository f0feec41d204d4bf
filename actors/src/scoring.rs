//! Lead scoring: a 0–100 score and an A–D grade from rules everyone can read (fit: who the lead is;
//! behaviour: what they did), blended with a model that learns from conversion outcomes once it
//! has seen enough of them ([`crate::model`]).
//!
//! The rules' score is a sum of per-feature points kept on the lead as `contributions`
//! (`fit.company_size`, `behaviour.pages_viewed`, …), so a rep can see why a lead is hot. A sum
//! outside 0–100 is clamped, and the clamp is itself a contribution (`cap`) so the contributions
//! still add up to the rules' score. How the model is blended in: [`BlendConfig`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use speedlead_topics::{QualifiedLead, Score};

use crate::model::{features_of, Model};

#[path = "scoring_config.rs"]
mod config;
#[path = "scoring_facts.rs"]
pub mod facts;

pub use config::{
    Band, BehaviourRules, BlendConfig, FitRules, GradeCutoffs, IntentRules, RecencyRules, ScoringConfig,
    ScoringRules, OTHER,
};
pub use facts::{seniority_from_title, LeadFacts};

/// Contribution that brings a sum outside 0–100 back into range.
pub const CAP: &str = "cap";

/// The grade of a score under the default cut-offs (A ≥ 80, B ≥ 60, C ≥ 40, else D).
pub fn grade(score: u8) -> &'static str {
    GradeCutoffs::default().grade(score)
}

/// The rules' score of a lead at `now`, and the points each feature contributed (rounded to
/// hundredths; they add up to the score but for that rounding). A feature the lead has no value
/// for (no enrichment, no `pages_viewed` signal) contributes nothing and is left out.
pub fn score_rules(
    lead: &QualifiedLead,
    rules: &ScoringRules,
    now: DateTime<Utc>,
) -> (u8, BTreeMap<String, f64>) {
    score_facts(&LeadFacts::of(lead), rules, now)
}

/// [`score_rules`] from already extracted facts.
pub fn score_facts(
    facts: &LeadFacts,
    rules: &ScoringRules,
    now: DateTime<Utc>,
) -> (u8, BTreeMap<String, f64>) {
    let (fit, behaviour) = (&rules.fit, &rules.behaviour);
    let mut points: Vec<(&str, f64)> = Vec::with_capacity(11);
    if let Some(n) = facts.employees {
        points.push(("fit.company_size", band_points(&fit.company_size, f64::from(n))));
    }
    if let Some(industry) = &facts.industry {
        points.push(("fit.industry", text_points(&fit.industry, industry)));
    }
    if let Some(country) = &facts.country {
        points.push(("fit.country", exact_points(&fit.country, country)));
    }
    if let Some(seniority) = &facts.seniority {
        points.push(("fit.seniority", exact_points(&fit.seniority, seniority)));
    }
    points.push(("behaviour.source", text_points(&behaviour.source, &facts.source)));
    if let Some(pages) = facts.pages_viewed {
        points.push(("behaviour.pages_viewed", band_points(&behaviour.pages_viewed, pages)));
    }
    if let Some(secs) = facts.time_on_site_secs {
        points.push(("behaviour.time_on_site", band_points(&behaviour.time_on_site_secs, secs)));
    }
    if let Some(form) = &facts.form_type {
        points.push(("behaviour.form_type", text_points(&behaviour.form_type, form)));
    }
    if !facts.intent_words.is_empty() {
        points.push(("behaviour.chat_intent", intent_points(&behaviour.chat_intent, &facts.intent_words)));
    }
    let age_hours = facts.activity_at.map_or(0.0, |at| (now - at).num_seconds().max(0) as f64 / 3600.0);
    let recency = &behaviour.recency;
    points.push(("behaviour.recency", recency.points * 0.5f64.powf(age_hours / recency.half_life_hours)));

    let mut contributions: BTreeMap<String, f64> =
        points.into_iter().map(|(k, v)| (k.to_string(), hundredths(v))).collect();
    let sum: f64 = contributions.values().sum();
    let score = sum.clamp(0.0, 100.0);
    if score != sum {
        contributions.insert(CAP.to_string(), hundredths(score - sum));
    }
    (score.round() as u8, contributions)
}

/// Scores leads with validated rules and, once it has learned enough, the model.
#[derive(Debug, Clone)]
pub struct Scorer {
    config: ScoringConfig,
}

impl Scorer {
    /// Validates the configuration, naming every problem found.
    pub fn new(config: ScoringConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Scorer { config })
    }

    pub fn config(&self) -> &ScoringConfig {
        &self.config
    }

    /// The lead's score against a snapshot of the model.
    pub fn score(&self, lead: &QualifiedLead, model: &Model, now: DateTime<Utc>) -> Score {
        let facts = LeadFacts::of(lead);
        self.score_with_features(&facts, &features_of(&facts), model, now)
    }

    /// [`Scorer::score`] for a caller that keeps the model features (to learn from the lead's
    /// outcome later) and so has computed them already.
    pub fn score_with_features(
        &self,
        facts: &LeadFacts,
        features: &[(u32, f32)],
        model: &Model,
        now: DateTime<Utc>,
    ) -> Score {
        let (rules, contributions) = score_facts(facts, &self.config.rules, now);
        let blend = &self.config.blend;
        let (score, model_probability) = if model.outcomes >= blend.min_outcomes {
            let p = model.predict(features);
            let w = blend.weight(model.outcomes);
            let blended = w * model.relative_score(p) + (1.0 - w) * f64::from(rules) / 100.0;
            ((100.0 * blended).round().clamp(0.0, 100.0) as u8, Some(p))
        } else {
            (rules, None)
        };
        Score {
            score,
            grade: self.config.rules.grades.grade(score).to_string(),
            rules,
            model_probability,
            model_outcomes: model.outcomes,
            contributions,
        }
    }
}

/// Points of the band `value` falls in; nothing below the first band.
fn band_points(bands: &[Band], value: f64) -> f64 {
    bands.iter().rev().find(|b| value >= b.min).map_or(0.0, |b| b.points)
}

fn exact_points(table: &BTreeMap<String, f64>, value: &str) -> f64 {
    table.get(value).or_else(|| table.get(OTHER)).copied().unwrap_or(0.0)
}

/// Points of the most specific key whose words appear, in order, in the normalized `value`.
fn text_points(table: &BTreeMap<String, f64>, value: &str) -> f64 {
    let value_words: Vec<&str> = value.split('_').collect();
    table
        .iter()
        .filter(|(key, _)| key.as_str() != OTHER)
        .filter_map(|(key, points)| {
            let key_words: Vec<&str> = key.split('_').collect();
            value_words.windows(key_words.len()).any(|w| w == key_words.as_slice()).then_some((key, points))
        })
        .max_by_key(|(key, _)| key.len())
        .or_else(|| table.get_key_value(OTHER))
        .map_or(0.0, |(_, &points)| points)
}

/// Each keyword that starts a word adds its points once; the sum stops at `max_points`.
fn intent_points(rules: &IntentRules, words: &[String]) -> f64 {
    let found = |keyword: &str| words.iter().any(|w| w.starts_with(keyword));
    let sum: f64 = rules.keywords.iter().filter(|(k, _)| found(k)).map(|(_, &p)| p).sum();
    sum.min(rules.max_points)
}

fn hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
