//! `StageConsumer`: one consumer-group member per stage, feeding each assigned partition to its own
//! partition actor, in offset order.
//!
//! The consumer runs on a dedicated thread, not a tokio task, because librdkafka calls the rebalance
//! callback from inside `poll`, and on revoke we must block there until the partition actors have
//! drained and their offsets are committed, before the partitions move to another member.
//!
//! Ordering after a crash: a dead actor's mailbox is lost, so the supervisor asks (through the
//! restart channel) for the partition to be rewound. The rewind (`seek`) happens on this thread
//! between two polls, so no record fetched before the seek can reach the fresh actor; seeking
//! also purges what librdkafka had pre-fetched for the partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dashmap::DashMap;
use ractor::ActorRef;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use speedlead_actors::partition::{PartitionMsg, PartitionProgress};
use speedlead_actors::ports::{OffsetTracker, PartitionRestarter, Record};
use speedlead_actors::supervisor::StageMsg;
use tokio::runtime::Handle;

use crate::error::Error;

/// How long one poll may block; bounds how quickly restarts and shutdown are noticed.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);
/// Most records handed over in one go; bounds the work one publish round trip waits for.
const MAX_BATCH: usize = 256;
/// Crashes of the stage on the same record before that record is dead-lettered.
const POISON_AFTER_CRASHES: u32 = 3;

pub struct StageConsumerConfig {
    pub stage: &'static str,
    pub topic: String,
    pub client: ClientConfig,
    pub drain_timeout: Duration,
    pub max_in_flight: usize,
    /// Told when the consumer thread dies, so the process can exit instead of silently not consuming.
    pub failures: tokio::sync::mpsc::UnboundedSender<String>,
}

/// The partition actor currently fed with one partition's records.
struct Slot {
    worker: ActorRef<PartitionMsg>,
    progress: Arc<PartitionProgress>,
    /// First offset forwarded since assignment: where to rewind to if nothing was processed yet.
    first_forwarded: Option<i64>,
    paused: bool,
    /// Rebalance generation that created this slot.
    generation: u64,
    /// The offset whose record crashed the stage last, and how many times in a row.
    crashes: Option<(i64, u32)>,
}

struct StageContext {
    stage: &'static str,
    topic: String,
    supervisor: ActorRef<StageMsg>,
    runtime: Handle,
    slots: Arc<DashMap<i32, Slot>>,
    drain_timeout: Duration,
    offsets: Arc<PendingOffsets>,
    joined: Arc<AtomicBool>,
    /// Bumped on every assignment, so records fetched before it can be told apart.
    generation: AtomicU64,
}

impl ClientContext for StageContext {}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let partitions = partitions_of(list, &self.topic);
            tracing::info!(stage = self.stage, ?partitions, "partitions revoked; draining");
            self.stop_partitions(partitions.clone());
            // Commit what the drained actors finished before another member takes over.
            store_pending(consumer, &self.topic, &self.offsets);
            for p in &partitions {
                self.offsets.forget(*p);
            }
            commit(consumer, self.stage);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                // A partition we paused for flow control stays paused in librdkafka across a revoke;
                // coming back to us it must fetch again. Resuming an unpaused partition is a no-op.
                if let Err(e) = consumer.resume(list) {
                    tracing::warn!(stage = self.stage, error = %e, "resume on assignment failed");
                }
                let partitions = partitions_of(list, &self.topic);
                tracing::info!(stage = self.stage, ?partitions, "partitions assigned");
                for partition in partitions {
                    if let Err(e) = self.start_partition(partition) {
                        // Without an actor the partition would silently stall: crash instead, and let
                        // the process restart from committed offsets.
                        panic!("stage {}: cannot start partition {partition}: {e}", self.stage);
                    }
                }
                self.joined.store(true, Ordering::Release);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::error!(stage = self.stage, error = %e, "rebalance error"),
        }
    }
}

impl StageContext {
    fn start_partition(&self, partition: i32) -> Result<(), Error> {
        let progress = Arc::new(PartitionProgress::default());
        let worker = self.spawn_worker(partition, progress.clone())?;
        let generation = self.generation.load(Ordering::Acquire);
        let slot = Slot { worker, progress, first_forwarded: None, paused: false, generation, crashes: None };
        self.slots.insert(partition, slot);
        Ok(())
    }

    fn spawn_worker(
        &self,
        partition: i32,
        progress: Arc<PartitionProgress>,
    ) -> Result<ActorRef<PartitionMsg>, Error> {
        let call =
            self.supervisor.call(|reply| StageMsg::StartPartition { partition, progress, reply }, None);
        match self.runtime.block_on(call) {
            Ok(ractor::rpc::CallResult::Success(worker)) => Ok(worker),
            Ok(other) => Err(Error::Actor(format!("start partition {partition}: {other:?}"))),
            Err(e) => Err(Error::Actor(format!("start partition {partition}: {e}"))),
        }
    }

    fn stop_partitions(&self, partitions: Vec<i32>) {
        if partitions.is_empty() {
            return;
        }
        for p in &partitions {
            self.slots.remove(p);
        }
        let timeout = self.drain_timeout;
        let call = self.supervisor.call(
            |reply| StageMsg::StopPartitions { partitions, timeout, reply },
            Some(timeout + Duration::from_secs(1)),
        );
        if let Err(e) = self.runtime.block_on(call) {
            tracing::error!(stage = self.stage, error = %e, "draining revoked partitions failed");
        }
    }
}

fn record_of(message: &BorrowedMessage<'_>) -> Record {
    Record {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        timestamp_ms: message.timestamp().to_millis(),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn partitions_of(list: &TopicPartitionList, topic: &str) -> Vec<i32> {
    list.elements_for_topic(topic).iter().map(|e| e.partition()).collect()
}

/// Offsets of fully processed records, reported by partition actors and stored on the consumer by
/// its own thread (librdkafka's offset store belongs to the consumer; the actors never touch it).
#[derive(Debug, Default)]
pub struct PendingOffsets {
    latest: DashMap<i32, i64>,
}

impl PendingOffsets {
    fn take(&self) -> Vec<(i32, i64)> {
        let done: Vec<(i32, i64)> = self.latest.iter().map(|e| (*e.key(), *e.value())).collect();
        for (p, o) in &done {
            self.latest.remove_if(p, |_, v| v == o);
        }
        done
    }

    fn forget(&self, partition: i32) {
        self.latest.remove(&partition);
    }
}

impl OffsetTracker for PendingOffsets {
    fn processed(&self, _topic: &str, partition: i32, offset: i64) {
        self.latest.entry(partition).and_modify(|o| *o = (*o).max(offset)).or_insert(offset);
    }
}

fn store_pending(consumer: &BaseConsumer<StageContext>, topic: &str, offsets: &PendingOffsets) {
    let done = offsets.take();
    if done.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (partition, offset) in done {
        // The committed offset is the next record to read.
        let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset + 1));
    }
    if let Err(e) = consumer.store_offsets(&list) {
        // A partition revoked meanwhile; its new owner reprocesses from the last commit.
        tracing::debug!(topic, error = %e, "offsets not stored");
    }
}

fn commit(consumer: &BaseConsumer<StageContext>, stage: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        // Nothing stored since the last commit.
        Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(stage, error = %e, "offset commit failed"),
    }
}

/// Sends restart requests from the stage supervisor to the consumer thread.
pub struct ChannelRestarter(pub Sender<i32>);

impl PartitionRestarter for ChannelRestarter {
    fn restart(&self, partition: i32) {
        let _ = self.0.send(partition);
    }
}

/// A running stage consumer; stop it with [`StageConsumer::shutdown`].
pub struct StageConsumer {
    stage: &'static str,
    thread: Option<JoinHandle<()>>,
    shutdown: Arc<AtomicBool>,
    joined: Arc<AtomicBool>,
    slots: Arc<DashMap<i32, Slot>>,
}

impl StageConsumer {
    /// Subscribes to the stage's topic and starts feeding partition actors through `supervisor`.
    /// `restarts` receives the supervisor's restart requests; `offsets` the actors' progress.
    pub fn start(
        config: StageConsumerConfig,
        supervisor: ActorRef<StageMsg>,
        restarts: Receiver<i32>,
        offsets: Arc<PendingOffsets>,
    ) -> Result<Self, Error> {
        let joined = Arc::new(AtomicBool::new(false));
        let slots = Arc::new(DashMap::new());
        let context = StageContext {
            stage: config.stage,
            topic: config.topic.clone(),
            supervisor,
            runtime: Handle::current(),
            slots: slots.clone(),
            drain_timeout: config.drain_timeout,
            offsets,
            joined: joined.clone(),
            generation: AtomicU64::new(0),
        };
        let consumer: BaseConsumer<StageContext> = config.client.create_with_context(context)?;
        consumer.subscribe(&[&config.topic])?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let feeder = Feeder {
            consumer,
            restarts,
            shutdown: shutdown.clone(),
            max_in_flight: config.max_in_flight.max(1),
        };
        let (stage, failures, thread_joined) = (config.stage, config.failures, joined.clone());
        let thread = std::thread::Builder::new().name(format!("consumer-{stage}")).spawn(move || {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| feeder.run())) {
                let reason = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                thread_joined.store(false, Ordering::Release);
                tracing::error!(stage, %reason, "consumer thread died");
                let _ = failures.send(format!("stage {stage} consumer died: {reason}"));
            }
        })?;
        Ok(StageConsumer { stage: config.stage, thread: Some(thread), shutdown, joined, slots })
    }

    /// True once the consumer has joined its group and received an assignment (possibly empty).
    pub fn joined(&self) -> bool {
        self.joined.load(Ordering::Acquire)
    }

    /// How many partitions this member currently owns.
    pub fn assigned_partitions(&self) -> usize {
        self.slots.len()
    }

    /// Drains every partition actor, commits, and leaves the group.
    pub async fn shutdown(mut self) {
        self.shutdown.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let stage = self.stage;
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!(stage, "consumer thread ended abnormally");
            }
        }
    }
}

impl Drop for StageConsumer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
    }
}

/// The consumer thread's loop.
struct Feeder {
    consumer: BaseConsumer<StageContext>,
    restarts: Receiver<i32>,
    shutdown: Arc<AtomicBool>,
    max_in_flight: usize,
}

impl Feeder {
    fn run(self) {
        let ctx = self.consumer.context();
        while !self.shutdown.load(Ordering::Acquire) {
            for partition in self.restarts.try_iter().collect::<Vec<_>>() {
                self.restart(partition);
            }
            self.resume_drained();
            store_pending(&self.consumer, &ctx.topic, &ctx.offsets);
            let Some(first) = self.consumer.poll(POLL_INTERVAL) else { continue };
            self.forward_available(first);
        }
        // Shutdown: let the actors finish, commit, leave the group.
        let partitions: Vec<i32> = ctx.slots.iter().map(|s| *s.key()).collect();
        ctx.stop_partitions(partitions);
        store_pending(&self.consumer, &ctx.topic, &ctx.offsets);
        commit(&self.consumer, ctx.stage);
        self.consumer.unsubscribe();
    }

    /// Hands `first` and whatever else is already fetched (up to [`MAX_BATCH`]) to the partition
    /// actors, one batch per partition, so a busy partition shares one publish round trip across its
    /// batch while a quiet one still gets each record at once.
    fn forward_available(&self, first: KafkaResult<BorrowedMessage<'_>>) {
        let ctx = self.consumer.context();
        let generation = ctx.generation.load(Ordering::Acquire);
        let mut batches: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
        let mut next = Some(first);
        let mut collected = 0;
        while let Some(result) = next.take() {
            match result {
                Ok(message) => {
                    batches.entry(message.partition()).or_default().push(record_of(&message));
                    collected += 1;
                }
                Err(e) => {
                    metrics::counter!("speedlead_consumer_errors_total", "stage" => ctx.stage).increment(1);
                    tracing::warn!(stage = ctx.stage, error = %e, "consumer error");
                }
            }
            if collected < MAX_BATCH {
                next = self.consumer.poll(Duration::ZERO);
            }
        }
        for (partition, records) in batches {
            self.forward(partition, records, generation);
        }
    }

    fn forward(&self, partition: i32, records: Vec<Record>, generation: u64) {
        let ctx = self.consumer.context();
        let Some(mut slot) = ctx.slots.get_mut(&partition) else {
            // Revoked while we collected: the new owner reads these from the committed offset.
            return;
        };
        if slot.generation > generation {
            // Reassigned while we collected: fetching restarted from the committed offset, so these
            // records come again, in order.
            return;
        }
        slot.first_forwarded.get_or_insert(records[0].offset);
        slot.progress.forwarded(records.len());
        // A dead actor refuses the records; the partition is rewound when it is restarted.
        let _ = slot.worker.cast(PartitionMsg::Records(records));
        if !slot.paused && slot.progress.in_flight() >= self.max_in_flight {
            slot.paused = self.set_paused(partition, true);
        }
    }

    /// Rewinds a partition to its first unprocessed record and attaches a fresh actor. A record that
    /// crashed the stage [`POISON_AFTER_CRASHES`] times in a row is dead-lettered by the fresh actor
    /// instead of being tried again, so one poisonous lead cannot block its partition forever.
    fn restart(&self, partition: i32) {
        let ctx = self.consumer.context();
        // Take what is needed and release the slot before blocking on the supervisor.
        let (progress, resume, was_paused) = {
            let Some(mut slot) = ctx.slots.get_mut(&partition) else { return };
            if let Some(culprit) = slot.progress.current() {
                let crashes = match slot.crashes {
                    Some((offset, n)) if offset == culprit => n + 1,
                    _ => 1,
                };
                slot.crashes = Some((culprit, crashes));
                if crashes >= POISON_AFTER_CRASHES {
                    tracing::error!(
                        stage = ctx.stage,
                        partition,
                        offset = culprit,
                        crashes,
                        "record keeps crashing the stage; it will be dead-lettered"
                    );
                    slot.progress.mark_poison(culprit);
                    slot.crashes = None;
                }
            }
            let resume = slot.progress.last_processed().map(|o| o + 1).or(slot.first_forwarded);
            (slot.progress.clone(), resume, std::mem::replace(&mut slot.paused, false))
        };
        if let Some(offset) = resume {
            if let Err(e) = self.consumer.seek(&ctx.topic, partition, Offset::Offset(offset), SEEK_TIMEOUT) {
                // Without the rewind the fresh actor would skip records.
                panic!("stage {}: cannot rewind partition {partition} to {offset}: {e}", ctx.stage);
            }
        }
        progress.reset_in_flight();
        let still_paused = was_paused && !self.set_paused(partition, false);
        let worker = match ctx.spawn_worker(partition, progress) {
            Ok(worker) => worker,
            Err(e) => panic!("stage {}: cannot restart partition {partition}: {e}", ctx.stage),
        };
        tracing::info!(stage = ctx.stage, partition, ?resume, "partition restarted");
        if let Some(mut slot) = ctx.slots.get_mut(&partition) {
            slot.worker = worker;
            slot.paused = still_paused;
        }
    }

    fn resume_drained(&self) {
        let ctx = self.consumer.context();
        for mut slot in ctx.slots.iter_mut() {
            if slot.paused && slot.progress.in_flight() <= self.max_in_flight / 2 {
                let partition = *slot.key();
                slot.paused = !self.set_paused(partition, false);
            }
        }
    }

    /// Pauses or resumes fetching one partition; returns whether it worked.
    fn set_paused(&self, partition: i32, pause: bool) -> bool {
        let ctx = self.consumer.context();
        let mut list = TopicPartitionList::new();
        list.add_partition(&ctx.topic, partition);
        let result = if pause { self.consumer.pause(&list) } else { self.consumer.resume(&list) };
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(stage = ctx.stage, partition, pause, error = %e, "pause/resume failed");
                false
            }
        }
    }
}
