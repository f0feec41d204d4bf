//! Does the learned model earn its place in the score? Trains it online on a stream of generated
//! leads whose conversion chance is known ([`leads`]), and measures on held-out leads, at
//! checkpoints, how well the rules, the model alone and the blended score rank converting leads
//! above the others (ROC AUC: the chance that a random converting lead outscores a random
//! non-converting one; 0.5 is a coin).
//!
//! The ground truth deliberately differs from the default rules, as real funnels differ from what
//! sales first writes down; the model should find the difference from outcomes alone. The
//! ceiling is the AUC of the true probabilities: the best any scorer could do, given the noise.

use std::fmt;

use chrono::{TimeZone, Utc};
use speedlead_actors::model::{features_of, Model};
use speedlead_actors::scoring::{score_facts, LeadFacts, Scorer, ScoringConfig};

#[path = "scoring_leads.rs"]
pub mod leads;

use leads::LeadGenerator;

/// Outcomes after which the held-out set is scored (those up to the training size, and the size).
const CHECKPOINTS: &[usize] = &[0, 100, 500, 1000, 2000, 5000, 10_000, 20_000];

/// Held-out AUCs after the model learned from `outcomes` outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Checkpoint {
    pub outcomes: usize,
    pub rules_auc: f64,
    pub model_auc: f64,
    pub blended_auc: f64,
    /// The model's weight in the blended score at this point.
    pub model_weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoringReport {
    pub seed: u64,
    pub train: usize,
    pub test: usize,
    /// Share of held-out leads that converted.
    pub test_conversion_rate: f64,
    /// AUC of the true conversion probabilities on the held-out leads.
    pub ceiling_auc: f64,
    pub checkpoints: Vec<Checkpoint>,
}

/// Generates `test` held-out leads, then learns from `train` outcomes one by one, as the outcome
/// consumer would, scoring the held-out leads with the default configuration at each checkpoint.
pub fn evaluate(seed: u64, train: usize, test: usize) -> ScoringReport {
    evaluate_with(ScoringConfig::default(), seed, train, test).expect("the default configuration is valid")
}

/// [`evaluate`] with another scoring configuration (rules, blend, learning rate), to try one out.
pub fn evaluate_with(
    config: ScoringConfig,
    seed: u64,
    train: usize,
    test: usize,
) -> Result<ScoringReport, String> {
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
    let scorer = Scorer::new(config)?;
    let config = scorer.config();
    let mut generator = LeadGenerator::new(seed, now);
    let held_out: Vec<_> = (0..test)
        .map(|_| {
            let labelled = generator.next_lead();
            let facts = LeadFacts::of(&labelled.lead);
            let features = features_of(&facts);
            (facts, features, labelled)
        })
        .collect();
    let labels: Vec<bool> = held_out.iter().map(|(_, _, l)| l.converted).collect();
    let rules: Vec<f64> =
        held_out.iter().map(|(facts, _, _)| f64::from(score_facts(facts, &config.rules, now).0)).collect();
    let rules_auc = auc(&rules, &labels);

    let mut model = Model::default();
    let mut checkpoints = Vec::new();
    let mut at = CHECKPOINTS.iter().copied().filter(|&c| c < train).chain([train]).peekable();
    for learned in 0..=train {
        if at.next_if_eq(&learned).is_some() {
            let (mut predicted, mut blended) = (Vec::with_capacity(test), Vec::with_capacity(test));
            for (facts, features, _) in &held_out {
                predicted.push(model.predict(features));
                blended.push(f64::from(scorer.score_with_features(facts, features, &model, now).score));
            }
            checkpoints.push(Checkpoint {
                outcomes: learned,
                rules_auc,
                model_auc: auc(&predicted, &labels),
                blended_auc: auc(&blended, &labels),
                model_weight: config.blend.weight(model.outcomes),
            });
        }
        if learned < train {
            let labelled = generator.next_lead();
            let features = features_of(&LeadFacts::of(&labelled.lead));
            let step = model.learning_step(&features, labelled.converted, &config.learning);
            model.apply(&step);
        }
    }
    let truth: Vec<f64> = held_out.iter().map(|(_, _, l)| l.probability).collect();
    Ok(ScoringReport {
        seed,
        train,
        test,
        test_conversion_rate: labels.iter().filter(|&&c| c).count() as f64 / test.max(1) as f64,
        ceiling_auc: auc(&truth, &labels),
        checkpoints,
    })
}

/// ROC AUC by ranks (Mann–Whitney U): ties share their mean rank, so a scorer that cannot tell
/// leads apart scores 0.5. 0.5 also when one class is empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let end =
            (start..order.len()).find(|&i| scores[order[i]] != scores[order[start]]).unwrap_or(order.len());
        let mean_rank = (start + end + 1) as f64 / 2.0; // ranks start..end, 1-based
        positive_rank_sum += mean_rank * order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end;
    }
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

impl fmt::Display for ScoringReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lead scoring, seed {}: {} held-out leads ({:.1}% convert), ceiling AUC {:.3}",
            self.seed,
            self.test,
            100.0 * self.test_conversion_rate,
            self.ceiling_auc
        )?;
        writeln!(
            f,
            "{:>8}  {:>9}  {:>9}  {:>11}  {:>12}",
            "outcomes", "rules AUC", "model AUC", "blended AUC", "model weight"
        )?;
        for c in &self.checkpoints {
            writeln!(
                f,
                "{:>8}  {:>9.3}  {:>9.3}  {:>11.3}  {:>12.2}",
                c.outcomes, c.rules_auc, c.model_auc, c.blended_auc, c.model_weight
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
