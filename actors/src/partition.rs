//! `PartitionWorker`: the actor that runs one stage over one Kafka partition, in offset order.
//!
//! It owns the per-record contract every stage shares: process, retry transient failures with
//! backoff, dead-letter what cannot succeed, publish, and only then mark the offset processed. A panic in
//! stage logic kills the actor with its mailbox; nothing is lost because offsets were never marked
//! for the queued records, and the stage supervisor rewinds the partition to the first unprocessed one.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use speedlead_topics::{derived_id, event_type, DeadLetter, Envelope, Topic};

use crate::ports::{Fatal, OffsetTracker, Outbound, Publisher, Record};
use crate::stage::{Stage, StageError};

/// Backoff between attempts of one record.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before a transient failure is dead-lettered (at least 1).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::exponential(self.initial_backoff, self.max_backoff, attempt)
    }
}

/// Progress of one partition, shared between its worker and the consumer that feeds it. It outlives
/// any one worker so a replacement knows where its predecessor stopped.
#[derive(Debug)]
pub struct PartitionProgress {
    last_processed: AtomicI64,
    in_flight: AtomicUsize,
    /// Offset the stage is working on now: after a crash, the record that crashed it.
    current: AtomicI64,
    /// A record that crashed the stage too often: the next worker dead-letters it unprocessed.
    poison: AtomicI64,
}

const NONE: i64 = -1;

impl Default for PartitionProgress {
    fn default() -> Self {
        PartitionProgress {
            last_processed: AtomicI64::new(NONE),
            in_flight: AtomicUsize::new(0),
            current: AtomicI64::new(NONE),
            poison: AtomicI64::new(NONE),
        }
    }
}

impl PartitionProgress {
    /// Offset of the last fully processed record, if any.
    pub fn last_processed(&self) -> Option<i64> {
        Some(self.last_processed.load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    /// Records handed to a worker and not yet finished; the consumer pauses the partition above a
    /// high-water mark so a slow stage cannot balloon memory.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn forwarded(&self, count: usize) {
        self.in_flight.fetch_add(count, Ordering::AcqRel);
    }

    /// The record the stage was processing, if any; after a crash, the one that crashed it.
    pub fn current(&self) -> Option<i64> {
        Some(self.current.load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    /// Tells the next worker to dead-letter the record at `offset` instead of running the stage on
    /// it again, because it crashed the stage repeatedly.
    pub fn mark_poison(&self, offset: i64) {
        self.poison.store(offset, Ordering::Release);
    }

    fn take_poison(&self, offset: i64) -> bool {
        self.poison.compare_exchange(offset, NONE, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Forgets in-flight records, used when a worker died with them in its mailbox.
    pub fn reset_in_flight(&self) {
        self.in_flight.store(0, Ordering::Release);
    }

    fn finished(&self, offset: Option<i64>) {
        if let Some(offset) = offset {
            self.last_processed.fetch_max(offset, Ordering::AcqRel);
        }
        // Saturating: a reset may have raced with this decrement.
        let _ = self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

pub enum PartitionMsg {
    /// Process these consecutive records of the partition (batches arrive in offset order).
    Records(Vec<Record>),
    /// Reply once every record queued before this message is processed.
    Drain(RpcReplyPort<()>),
}

/// Everything a worker needs; cloned from the stage supervisor for each spawn.
#[derive(Clone)]
pub struct PartitionArgs {
    pub stage: Arc<dyn Stage>,
    pub publisher: Arc<dyn Publisher>,
    pub offsets: Arc<dyn OffsetTracker>,
    pub retry: RetryPolicy,
    pub progress: Arc<PartitionProgress>,
}

pub struct PartitionWorker;

#[ractor::async_trait]
impl Actor for PartitionWorker {
    type Msg = PartitionMsg;
    type State = PartitionArgs;
    type Arguments = PartitionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PartitionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PartitionMsg::Records(records) => handle_batch(state, records).await,
            PartitionMsg::Drain(reply) => {
                let _ = reply.send(());
                Ok(())
            }
        }
    }
}

/// Runs the stage over a batch of consecutive records, then publishes everything they produced with
/// one wait for the broker's acks, and only then marks their offsets processed. Batches form on
/// their own under load (the consumer hands over what it has), so a quiet partition pays one
/// round trip per record and a busy one shares it.
async fn handle_batch(state: &PartitionArgs, records: Vec<Record>) -> Result<(), ActorProcessingErr> {
    let stage = state.stage.name();
    let started = Instant::now();
    let mut outputs = Vec::new();
    let mut finished = Vec::with_capacity(records.len());
    for record in &records {
        // After a rewind the consumer may hand us records a predecessor already finished.
        if state.progress.last_processed().is_some_and(|done| record.offset <= done) {
            state.progress.finished(None);
            continue;
        }
        if state.progress.take_poison(record.offset) {
            let error = StageError::Crashed(format!(
                "the {stage} stage crashed repeatedly on this record; see the logs for the panic"
            ));
            tracing::error!(
                stage,
                partition = record.partition,
                offset = record.offset,
                "dead-lettering a record that keeps crashing the stage"
            );
            metrics::counter!("speedlead_dlq_records_total", "stage" => stage, "reason" => error.reason())
                .increment(1);
            outputs.push(dead_letter(stage, record, &error, 0));
            finished.push((record, "dead_lettered"));
            continue;
        }
        state.progress.current.store(record.offset, Ordering::Release);
        let outcome = match process_with_retries(state, record).await {
            Ok(produced) => {
                outputs.extend(produced);
                "ok"
            }
            Err((error, attempts)) => {
                tracing::warn!(stage, partition = record.partition, offset = record.offset, %error, "dead-lettering record");
                metrics::counter!("speedlead_dlq_records_total", "stage" => stage, "reason" => error.reason())
                    .increment(1);
                outputs.push(dead_letter(stage, record, &error, attempts));
                "dead_lettered"
            }
        };
        finished.push((record, outcome));
    }
    state.progress.current.store(NONE, Ordering::Release);
    publish_until_acknowledged(state, outputs).await?;
    let elapsed = started.elapsed().as_secs_f64();
    for (record, outcome) in finished {
        metrics::histogram!("speedlead_stage_processing_seconds", "stage" => stage).record(elapsed);
        metrics::counter!("speedlead_stage_records_total", "stage" => stage, "outcome" => outcome)
            .increment(1);
        state.offsets.processed(&record.topic, record.partition, record.offset);
        state.progress.finished(Some(record.offset));
    }
    Ok(())
}

/// Runs the stage on one record, retrying transient failures with backoff. Returns the final error
/// and the number of attempts made when the record must be dead-lettered.
async fn process_with_retries(
    state: &PartitionArgs,
    record: &Record,
) -> Result<Vec<Outbound>, (StageError, u32)> {
    let mut attempt = 1;
    loop {
        match state.stage.process(record).await {
            Ok(outputs) => return Ok(outputs),
            Err(e @ StageError::Invalid(_)) => return Err((e, attempt)),
            Err(e) if attempt >= state.retry.max_attempts => return Err((e, attempt)),
            Err(e) => {
                tracing::debug!(stage = state.stage.name(), attempt, error = %e, "retrying record");
                metrics::counter!("speedlead_stage_records_total", "stage" => state.stage.name(), "outcome" => "retried")
                    .increment(1);
                tokio::time::sleep(state.retry.backoff(attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// Publishes until the broker acknowledges, without limit. A failed publish is never the records'
/// fault (the broker is unreachable), so they are not dead-lettered for it, and moving past them
/// unpublished would lose them: the partition waits instead, which shows up as consumer lag.
/// Republishing is harmless: message ids are derived from their input.
async fn publish_until_acknowledged(state: &PartitionArgs, outputs: Vec<Outbound>) -> Result<(), Fatal> {
    if outputs.is_empty() {
        return Ok(());
    }
    let mut attempt = 1;
    while let Err(e) = state.publisher.publish(outputs.clone()).await {
        if e.fatal {
            return Err(Fatal(e.message));
        }
        tracing::error!(stage = state.stage.name(), error = %e, attempt, "publish failed; retrying");
        metrics::counter!("speedlead_publish_retries_total", "stage" => state.stage.name()).increment(1);
        tokio::time::sleep(state.retry.backoff(attempt)).await;
        attempt += 1;
    }
    Ok(())
}

/// The `leads.dlq` message for a record a stage gave up on: reason, detail and the original bytes.
pub fn dead_letter(stage: &str, record: &Record, error: &StageError, attempts: u32) -> Outbound {
    let key = record
        .key_text()
        .unwrap_or_else(|| format!("{}:{}:{}", record.topic, record.partition, record.offset));
    let position =
        [record.topic.as_str(), &record.partition.to_string(), &record.offset.to_string()].join(":");
    let letter = DeadLetter {
        stage: stage.to_string(),
        source_topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        key: record.key_text(),
        reason: error.reason().to_string(),
        detail: error.detail().to_string(),
        attempts,
        failed_at: Utc::now(),
        original_base64: base64::engine::general_purpose::STANDARD
            .encode(record.payload.as_deref().unwrap_or_default()),
    };
    let original =
        record.payload.as_deref().and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok());
    let envelope_field = |name: &str| original.as_ref()?.get(name)?.as_str()?.parse::<uuid::Uuid>().ok();
    // A record handed over in process (offset -1) has no log position; its envelope id names it.
    let id = match (record.offset, envelope_field("id")) {
        (offset, Some(envelope_id)) if offset < 0 => derived_id(&["dlq", stage, &envelope_id.to_string()]),
        _ => derived_id(&["dlq", stage, &position]),
    };
    // Keep the lead's journey id when the original was a readable envelope, so the dead letter shows
    // up in the same trace.
    let correlation_id = envelope_field("correlation_id").unwrap_or(id);
    let envelope = Envelope::with_id(id, event_type::DEAD_LETTERED, correlation_id, letter);
    Outbound {
        topic: Topic::Dlq,
        key,
        payload: serde_json::to_vec(&envelope).expect("dead letter serializes"),
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
