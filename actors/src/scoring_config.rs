//! Scoring configuration: the rules' points, the grade cut-offs, and how the learned model is
//! blended in. Every struct has defaults sensible for B2B SaaS, so a deployment only writes what it
//! changes; a map or band list it writes replaces the default one whole (merging would make it
//! impossible to remove a default entry).
//!
//! Point tables keyed by text (`industry`, `source`, `form_type`) match a lead's normalized value
//! when the key's words appear in it, in order: `software` matches `internet_software_services`,
//! `demo` matches `request_a_demo`. The most specific (longest) matching key wins; the key `other`
//! scores values no key matches. A lead without the value at all scores nothing for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::{normalize_key, SENIORITY_LEVELS};
use crate::model::LearningConfig;

/// The key of a point table that scores values no other key matches.
pub const OTHER: &str = "other";

/// Everything scoring needs: rules, how the model is blended in, and how it learns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    pub rules: ScoringRules,
    pub blend: BlendConfig,
    pub learning: LearningConfig,
}

/// Points for fit (who the lead is) and behaviour (what they did), and the grade cut-offs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringRules {
    pub fit: FitRules,
    pub behaviour: BehaviourRules,
    pub grades: GradeCutoffs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitRules {
    /// Points by employee count (from enrichment).
    pub company_size: Vec<Band>,
    /// Points by industry (from enrichment).
    pub industry: BTreeMap<String, f64>,
    /// Points by ISO 3166-1 alpha-2 country (the company's, else the contact's).
    pub country: BTreeMap<String, f64>,
    /// Points by seniority (`c_level`, `vp`, `director`, `manager`, `individual`).
    pub seniority: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BehaviourRules {
    /// Points by configured source name (`website-demo-form` matches the key `website`).
    pub source: BTreeMap<String, f64>,
    pub pages_viewed: Vec<Band>,
    pub time_on_site_secs: Vec<Band>,
    /// Points by the `form_type` signal.
    pub form_type: BTreeMap<String, f64>,
    pub chat_intent: IntentRules,
    pub recency: RecencyRules,
}

/// A band of a numeric value: from `min` up to the next band's `min`. Values below the first band
/// score nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub min: f64,
    pub points: f64,
}

/// Buying intent in what the person wrote (chat transcript, form message): each keyword found
/// (as a word or a word's start, so `quote` finds "quotes") adds its points, up to `max_points`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntentRules {
    pub keywords: BTreeMap<String, f64>,
    pub max_points: f64,
}

/// A lead is hottest when it just happened: its `points` halve every `half_life_hours` of age
/// (age from the `last_activity_at`/`captured_at` signal; a lead without one is fresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecencyRules {
    pub points: f64,
    pub half_life_hours: f64,
}

/// Lowest score of each grade; below `c` is `D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GradeCutoffs {
    pub a: u8,
    pub b: u8,
    pub c: u8,
}

/// How the learned model's opinion enters the score.
///
/// `score = round(100 * (w * calibrated + (1 - w) * rules / 100))`, where `calibrated` is the
/// model's conversion odds relative to the average lead mapped to 0–1 (0.5 = average; see
/// `Model::relative_score`). `w` is 0 below `min_outcomes` (a model that has seen few outcomes
/// is mostly noise), then rises linearly to `max_weight` at `full_weight_outcomes`, so scores
/// drift instead of jumping when the model comes in. `max_weight` stays below 1 on purpose:
/// outcomes are biased by the score itself (reps work A leads harder), and the rules keep the
/// score explainable and anchored to what sales agreed a good lead is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlendConfig {
    pub min_outcomes: u64,
    pub full_weight_outcomes: u64,
    pub max_weight: f64,
}

impl BlendConfig {
    /// The model's weight in the blend after `outcomes` outcomes.
    pub fn weight(&self, outcomes: u64) -> f64 {
        if outcomes < self.min_outcomes || self.max_weight <= 0.0 {
            return 0.0;
        }
        let ramp = self.full_weight_outcomes.saturating_sub(self.min_outcomes);
        let progress =
            if ramp == 0 { 1.0 } else { ((outcomes - self.min_outcomes) as f64 / ramp as f64).min(1.0) };
        self.max_weight * progress
    }
}

impl GradeCutoffs {
    /// `A` (hottest) to `D`.
    pub fn grade(&self, score: u8) -> &'static str {
        match score {
            s if s >= self.a => "A",
            s if s >= self.b => "B",
            s if s >= self.c => "C",
            _ => "D",
        }
    }
}

impl Default for GradeCutoffs {
    fn default() -> Self {
        GradeCutoffs { a: 80, b: 60, c: 40 }
    }
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig { min_outcomes: 200, full_weight_outcomes: 2000, max_weight: 0.7 }
    }
}

impl Default for RecencyRules {
    fn default() -> Self {
        RecencyRules { points: 5.0, half_life_hours: 24.0 }
    }
}

impl Default for IntentRules {
    fn default() -> Self {
        let keywords = [
            ("buy", 8.0),
            ("purchase", 8.0),
            ("quote", 8.0),
            ("contract", 6.0),
            ("pricing", 6.0),
            ("price", 6.0),
            ("demo", 6.0),
            ("trial", 4.0),
            ("integration", 3.0),
        ];
        IntentRules { keywords: table(&keywords), max_points: 12.0 }
    }
}

/// Fit tops out near 52 points: a VP at a 1,000-person US software company.
impl Default for FitRules {
    fn default() -> Self {
        FitRules {
            company_size: bands(&[
                (1.0, 2.0),
                (11.0, 6.0),
                (51.0, 12.0),
                (201.0, 18.0),
                (1001.0, 20.0),
                (5001.0, 16.0),
            ]),
            industry: table(&[
                ("software", 12.0),
                ("internet", 10.0),
                ("information_technology", 10.0),
                ("financial_services", 10.0),
                ("healthcare", 8.0),
                ("manufacturing", 6.0),
                ("retail", 5.0),
                ("media", 4.0),
                ("education", 2.0),
                ("government", 1.0),
                ("non_profit", 0.0),
                (OTHER, 4.0),
            ]),
            country: table(&[
                ("US", 8.0),
                ("CA", 6.0),
                ("GB", 7.0),
                ("DE", 7.0),
                ("FR", 5.0),
                ("NL", 6.0),
                ("SE", 5.0),
                ("AU", 6.0),
                ("JP", 4.0),
                (OTHER, 2.0),
            ]),
            seniority: table(&[
                ("c_level", 10.0),
                ("vp", 12.0),
                ("director", 10.0),
                ("manager", 6.0),
                ("individual", 2.0),
                (OTHER, 2.0),
            ]),
        }
    }
}

/// Behaviour tops out near 60 points (scores above 100 are capped): a referral who asked for a
/// demo, read ten pages, stayed ten minutes and wrote "quote" in the chat, just now.
impl Default for BehaviourRules {
    fn default() -> Self {
        BehaviourRules {
            source: table(&[
                ("referral", 10.0),
                ("partner", 9.0),
                ("website", 8.0),
                ("web_form", 8.0),
                ("chat", 8.0),
                ("intercom", 8.0),
                ("drift", 8.0),
                ("event", 6.0),
                ("hubspot", 6.0),
                ("typeform", 5.0),
                ("google_ads", 5.0),
                ("meta", 3.0),
                (OTHER, 4.0),
            ]),
            pages_viewed: bands(&[(0.0, 0.0), (2.0, 3.0), (5.0, 7.0), (10.0, 10.0)]),
            time_on_site_secs: bands(&[(0.0, 0.0), (60.0, 2.0), (180.0, 5.0), (600.0, 8.0)]),
            form_type: table(&[
                ("demo_request", 15.0),
                ("demo", 15.0),
                ("pricing", 12.0),
                ("trial", 12.0),
                ("contact", 8.0),
                ("webinar", 4.0),
                ("content_download", 3.0),
                ("newsletter", 1.0),
                (OTHER, 2.0),
            ]),
            chat_intent: IntentRules::default(),
            recency: RecencyRules::default(),
        }
    }
}

fn table(entries: &[(&str, f64)]) -> BTreeMap<String, f64> {
    entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn bands(entries: &[(f64, f64)]) -> Vec<Band> {
    entries.iter().map(|&(min, points)| Band { min, points }).collect()
}

/// The largest magnitude a single entry may award; beyond it one feature would decide the grade.
const MAX_POINTS: f64 = 100.0;

impl ScoringConfig {
    /// Checks every part, naming every problem found (paths relative to `scoring`).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        self.rules.check("scoring.rules", &mut problems);
        let b = &self.blend;
        if !(0.0..=1.0).contains(&b.max_weight) {
            problems.push(format!("scoring.blend.max_weight: {} is not between 0 and 1", b.max_weight));
        }
        if b.full_weight_outcomes < b.min_outcomes {
            problems.push(format!(
                "scoring.blend.full_weight_outcomes: {} is below min_outcomes {}",
                b.full_weight_outcomes, b.min_outcomes
            ));
        }
        problems.extend(self.learning.problems("scoring.learning"));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

impl ScoringRules {
    /// Checks the rules alone, naming every problem found (paths relative to `scoring.rules`).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        self.check("scoring.rules", &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn check(&self, at: &str, problems: &mut Vec<String>) {
        let (fit, behaviour) = (&self.fit, &self.behaviour);
        check_bands(&format!("{at}.fit.company_size"), &fit.company_size, problems);
        check_text_table(&format!("{at}.fit.industry"), &fit.industry, problems);
        check_table(&format!("{at}.fit.country"), &fit.country, problems, |k| {
            (k.len() == 2 && k.chars().all(|c| c.is_ascii_uppercase()))
                .then_some(())
                .ok_or("is not an upper-case ISO 3166-1 alpha-2 code (e.g. US)".to_string())
        });
        check_table(&format!("{at}.fit.seniority"), &fit.seniority, problems, |k| {
            SENIORITY_LEVELS
                .contains(&k)
                .then_some(())
                .ok_or(format!("is not a seniority level (one of {})", SENIORITY_LEVELS.join(", ")))
        });
        check_text_table(&format!("{at}.behaviour.source"), &behaviour.source, problems);
        check_bands(&format!("{at}.behaviour.pages_viewed"), &behaviour.pages_viewed, problems);
        check_bands(&format!("{at}.behaviour.time_on_site_secs"), &behaviour.time_on_site_secs, problems);
        check_text_table(&format!("{at}.behaviour.form_type"), &behaviour.form_type, problems);
        let intent = &behaviour.chat_intent;
        let path = format!("{at}.behaviour.chat_intent");
        check_table(&format!("{path}.keywords"), &intent.keywords, problems, |k| {
            (!k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
                .then_some(())
                .ok_or("must be one lower-case word".to_string())
        });
        check_points(&format!("{path}.max_points"), intent.max_points, problems);
        if intent.max_points < 0.0 {
            problems.push(format!("{path}.max_points: {} must not be negative", intent.max_points));
        }
        let recency = &behaviour.recency;
        check_points(&format!("{at}.behaviour.recency.points"), recency.points, problems);
        if !(recency.half_life_hours.is_finite() && recency.half_life_hours > 0.0) {
            problems.push(format!(
                "{at}.behaviour.recency.half_life_hours: {} must be a positive number",
                recency.half_life_hours
            ));
        }
        let g = &self.grades;
        if !(0 < g.c && g.c < g.b && g.b < g.a && g.a <= 100) {
            problems.push(format!(
                "{at}.grades: cut-offs must rise, 0 < c < b < a <= 100 (got a={}, b={}, c={})",
                g.a, g.b, g.c
            ));
        }
    }
}

fn check_points(path: &str, points: f64, problems: &mut Vec<String>) {
    if !(points.is_finite() && points.abs() <= MAX_POINTS) {
        problems.push(format!("{path}: {points} is not a number of points between -100 and 100"));
    }
}

fn check_bands(path: &str, bands: &[Band], problems: &mut Vec<String>) {
    for (i, band) in bands.iter().enumerate() {
        check_points(&format!("{path}[{i}].points"), band.points, problems);
        if !(band.min.is_finite() && band.min >= 0.0) {
            problems.push(format!("{path}[{i}].min: {} must be a non-negative number", band.min));
        } else if i > 0 && band.min <= bands[i - 1].min {
            problems.push(format!(
                "{path}[{i}].min: {} must be above the previous band's {} (bands go up)",
                band.min,
                bands[i - 1].min
            ));
        }
    }
}

/// A table keyed by normalized text: keys must already be in the form lead values are compared in.
fn check_text_table(path: &str, table: &BTreeMap<String, f64>, problems: &mut Vec<String>) {
    check_table(path, table, problems, |k| {
        let normal = normalize_key(k);
        (normal == k && !k.is_empty())
            .then_some(())
            .ok_or(format!("must be lower-case snake_case ('{normal}')"))
    });
}

fn check_table(
    path: &str,
    table: &BTreeMap<String, f64>,
    problems: &mut Vec<String>,
    key_ok: impl Fn(&str) -> Result<(), String>,
) {
    for (key, points) in table {
        check_points(&format!("{path}.{key}"), *points, problems);
        if key != OTHER {
            if let Err(why) = key_ok(key) {
                problems.push(format!("{path}: key '{key}' {why}"));
            }
        }
    }
}
