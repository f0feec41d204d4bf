//! What a pipeline stage is: a function from one consumed record to the messages it produces.
//!
//! Stages are plain async objects with no actor machinery, so their domain logic is tested without
//! Kafka, and the partition actor adds ordering, retries, dead-lettering and offset bookkeeping once
//! for all of them.

use async_trait::async_trait;

use crate::ports::{Outbound, Record};

/// Why a stage could not process a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The record itself is bad (unparseable, missing fields). Retrying cannot help: it goes to the
    /// dead-letter topic at once. The text names the offending field.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Something outside the record failed (store, broker). Retried with backoff, then dead-lettered.
    #[error("transient: {0}")]
    Transient(String),
    /// The stage panicked on this record again and again (the supervisor restarted it each time).
    #[error("crashed: {0}")]
    Crashed(String),
}

impl StageError {
    /// Low-cardinality reason label for metrics and dead letters.
    pub fn reason(&self) -> &'static str {
        match self {
            StageError::Invalid(_) => "invalid",
            StageError::Transient(_) => "retries_exhausted",
            StageError::Crashed(_) => "stage_crashed",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            StageError::Invalid(d) | StageError::Transient(d) | StageError::Crashed(d) => d,
        }
    }
}

/// A store that is down or lost a race is worth retrying; a value it cannot read back is not.
impl From<crate::store::StoreError> for StageError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Corrupt(why) => StageError::Invalid(format!("store: {why}")),
            e => StageError::Transient(format!("store: {e}")),
        }
    }
}

/// One step of the pipeline, run for each record of a partition in order.
#[async_trait]
pub trait Stage: Send + Sync + 'static {
    /// Stable, low-cardinality name used in metrics, logs and consumer group ids.
    fn name(&self) -> &'static str;

    /// Processes one record and returns what to publish. Must be safe to call again for the same
    /// record (at-least-once delivery): effects are keyed so a repeat changes nothing.
    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError>;
}
