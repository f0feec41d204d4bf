//! Learner stage: every conversion outcome on `leads.outcomes` teaches the scoring model one step.
//!
//! The step needs the features the lead was scored with, which intake kept in the store under
//! [`features_key`]. Steps are stored as increments ([`Store::apply_model_step`]), so any number of
//! learner actors on any number of instances update one shared model without losing each other's
//! steps; intake picks the model up through its [`ModelSnapshot`].
//!
//! An outcome teaches at most once: it is claimed (`learned:{lead_id}`) before its step is stored.
//! A crash between the two loses that one step, which is harmless; learning it twice on every
//! redelivery would bias the model.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use speedlead_topics::Outcome;

use crate::codec::parse_envelope;
use crate::intelligence::{features_key, ModelSnapshot};
use crate::model::LearningConfig;
use crate::ports::{Outbound, Record};
use crate::stage::{Stage, StageError};
use crate::store::Store;

pub struct LearnerStage {
    store: Arc<dyn Store>,
    model: Arc<ModelSnapshot>,
    learning: LearningConfig,
    /// How long a learned outcome is remembered, so its redelivery teaches nothing.
    claim_ttl: Duration,
}

impl LearnerStage {
    pub fn new(
        store: Arc<dyn Store>,
        model: Arc<ModelSnapshot>,
        learning: LearningConfig,
        claim_ttl: Duration,
    ) -> Self {
        LearnerStage { store, model, learning, claim_ttl }
    }
}

#[async_trait]
impl Stage for LearnerStage {
    fn name(&self) -> &'static str {
        "learner"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let outcome = parse_envelope::<Outcome>(record)?.payload;
        let transient = |e: crate::store::StoreError| StageError::Transient(format!("store: {e}"));
        let lead_id = outcome.lead_id.to_string();
        let claim = format!("learned:{lead_id}");
        if !self.store.remember(&claim, "1", self.claim_ttl).await.map_err(transient)?.first {
            count("duplicate");
            return Ok(Vec::new());
        }
        match self.learn(&lead_id, outcome.converted).await {
            Err(StageError::Transient(why)) => {
                // Release the claim so the retry can learn it.
                let _ = self.store.forget(&claim).await;
                Err(StageError::Transient(why))
            }
            other => other.map(|()| Vec::new()),
        }
    }
}

impl LearnerStage {
    async fn learn(&self, lead_id: &str, converted: bool) -> Result<(), StageError> {
        let transient = |e: crate::store::StoreError| StageError::Transient(format!("store: {e}"));
        let Some(stored) = self.store.recall(&features_key(lead_id)).await.map_err(transient)? else {
            // Scored before features were kept, or longer ago than they are kept: nothing to learn.
            count("no_features");
            return Ok(());
        };
        let features: Vec<(u32, f32)> = serde_json::from_str(&stored)
            .map_err(|e| StageError::Invalid(format!("stored features of lead {lead_id}: {e}")))?;
        let step = self.model.get().learning_step(&features, converted, &self.learning);
        self.store.apply_model_step(self.model.name(), &step).await.map_err(transient)?;
        self.model.apply(&step);
        count(if converted { "converted" } else { "not_converted" });
        Ok(())
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("speedlead_model_outcomes_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
#[path = "learner_tests.rs"]
mod tests;
