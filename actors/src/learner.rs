//! Learner stage: every conversion outcome on `leads.outcomes` teaches the scoring model one step.
//!
//! The step needs the features the lead was scored with, which intake kept in the store under
//! [`features_key`]. Steps are stored as increments ([`Store::apply_model_step`]), so any number of
//! learner actors on any number of instances update one shared model without losing each other's
//! steps; intake picks the model up through its [`ModelSnapshot`].
//!
//! An outcome teaches exactly once: its claim and its step are one atomic write
//! ([`Store::apply_model_step_once`]), so neither a redelivery nor a lost reply learns it twice,
//! and a crash before the write leaves it to the redelivery.

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
        let lead_id = outcome.lead_id.to_string();
        self.release(&lead_id).await?;
        let Some(stored) = self.store.recall(&features_key(&lead_id)).await? else {
            // Scored before features were kept, or longer ago than they are kept: nothing to learn.
            count("no_features");
            return Ok(Vec::new());
        };
        let features: Vec<(u32, f32)> = serde_json::from_str(&stored)
            .map_err(|e| StageError::Invalid(format!("stored features of lead {lead_id}: {e}")))?;
        let step = self.model.get().learning_step(&features, outcome.converted, &self.learning);
        let applied =
            self.store.apply_model_step_once(self.model.name(), &lead_id, &step, self.claim_ttl).await?;
        if applied {
            self.model.apply(&step);
            count(if outcome.converted { "converted" } else { "not_converted" });
        } else {
            count("duplicate");
        }
        Ok(Vec::new())
    }
}

impl LearnerStage {
    /// A lead with an outcome is closed: its rep's open slot is freed for the next lead (capacity
    /// caps count open leads). The domain is the one intake claimed for the lead; idempotent, so a
    /// redelivered outcome frees nothing twice.
    async fn release(&self, lead_id: &str) -> Result<(), StageError> {
        if let Some(domain) = self.store.recall(&crate::intelligence::domain_claim_key(lead_id)).await? {
            if let Some(rep) = self.store.release(&domain, lead_id).await? {
                tracing::debug!(lead_id, rep, "lead closed; rep's open slot freed");
                metrics::counter!("speedlead_leads_closed_total", "domain" => domain).increment(1);
            }
        }
        Ok(())
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("speedlead_model_outcomes_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
#[path = "learner_tests.rs"]
mod tests;
