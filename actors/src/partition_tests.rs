use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use base64::Engine as _;
use speedlead_topics::{event_type, Contact, DeadLetter, Topic};

use super::*;
use crate::codec::parse_envelope;
use crate::intake::IntakeStage;
use crate::testkit::{
    envelope_record, inbound, record, routing, FlakyStage, RecordingOffsets, RecordingPublisher,
};

struct Fixture {
    worker: ActorRef<PartitionMsg>,
    publisher: Arc<RecordingPublisher>,
    offsets: Arc<RecordingOffsets>,
    progress: Arc<PartitionProgress>,
}

async fn spawn(stage: Arc<dyn Stage>, retry: RetryPolicy) -> Fixture {
    let publisher = Arc::new(RecordingPublisher::default());
    let offsets = Arc::new(RecordingOffsets::default());
    let progress = Arc::new(PartitionProgress::default());
    let args = PartitionArgs {
        stage,
        publisher: publisher.clone(),
        offsets: offsets.clone(),
        retry,
        progress: progress.clone(),
    };
    let (worker, _) = Actor::spawn(None, PartitionWorker, args).await.unwrap();
    Fixture { worker, publisher, offsets, progress }
}

impl Fixture {
    fn send(&self, record: Record) {
        self.send_batch(vec![record]);
    }

    fn send_batch(&self, records: Vec<Record>) {
        self.progress.forwarded(records.len());
        self.worker.cast(PartitionMsg::Records(records)).unwrap();
    }

    async fn drain(&self) {
        self.worker.call(PartitionMsg::Drain, None).await.unwrap();
    }
}

fn valid(offset: i64, n: usize) -> Record {
    let contact = Contact { email: Some(format!("lead{n}@example.com")), ..Default::default() };
    envelope_record(offset, event_type::CAPTURED, inbound(&format!("e{n}"), contact))
}

fn dead_letters(publisher: &RecordingPublisher) -> Vec<DeadLetter> {
    publisher
        .sent_to(Topic::Dlq)
        .iter()
        .map(|m| parse_envelope::<DeadLetter>(&record(0, &m.payload)).unwrap().payload)
        .collect()
}

#[tokio::test]
async fn processes_in_order_and_marks_offsets_only_after_publishing() {
    let f = spawn(Arc::new(IntakeStage::new(routing())), RetryPolicy::default()).await;
    for i in 0..5 {
        f.send(valid(i, i as usize));
    }
    f.drain().await;
    let emails: Vec<_> = f
        .publisher
        .sent_to(Topic::Qualified)
        .iter()
        .map(|m| {
            parse_envelope::<speedlead_topics::QualifiedLead>(&record(0, &m.payload))
                .unwrap()
                .payload
                .lead_key
        })
        .collect();
    assert_eq!(emails, (0..5).map(|i| format!("lead{i}@example.com")).collect::<Vec<_>>());
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(f.progress.last_processed(), Some(4));
    assert_eq!(f.progress.in_flight(), 0);
}

#[tokio::test]
async fn invalid_record_is_dead_lettered_with_original_bytes_and_the_partition_moves_on() {
    let f = spawn(Arc::new(IntakeStage::new(routing())), RetryPolicy::default()).await;
    f.send(record(10, b"\x00not a lead"));
    f.send(valid(11, 1));
    f.drain().await;
    let dlq = dead_letters(&f.publisher);
    assert_eq!(dlq.len(), 1);
    let letter = &dlq[0];
    assert_eq!(
        (letter.stage.as_str(), letter.reason.as_str(), letter.offset, letter.attempts),
        ("intake", "invalid", 10, 1)
    );
    assert!(letter.detail.starts_with("value: not a valid envelope"), "{}", letter.detail);
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(&letter.original_base64).unwrap(),
        b"\x00not a lead"
    );
    assert_eq!(f.publisher.sent_to(Topic::Dlq)[0].key, "k");
    assert_eq!(f.publisher.sent_to(Topic::Qualified).len(), 1);
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![10, 11]);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff() {
    let f = spawn(Arc::new(IntakeStage::new(routing())), RetryPolicy::default()).await;
    f.publisher.fail_next(2);
    let started = tokio::time::Instant::now();
    f.send(valid(0, 0));
    f.drain().await;
    assert_eq!(f.publisher.sent_to(Topic::Qualified).len(), 1);
    assert!(dead_letters(&f.publisher).is_empty());
    // 50 ms + 100 ms of backoff, on the paused clock.
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_dead_letter_the_record() {
    let retry = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let f = spawn(Arc::new(FlakyStage { failures_left: AtomicU32::new(3) }), retry).await;
    f.send(valid(5, 0));
    f.send(valid(6, 1));
    f.drain().await;
    let dlq = dead_letters(&f.publisher);
    assert_eq!(dlq.len(), 1);
    assert_eq!((dlq[0].reason.as_str(), dlq[0].attempts, dlq[0].offset), ("retries_exhausted", 3, 5));
    assert_eq!(
        f.publisher.sent_to(Topic::Qualified).iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        ["6"]
    );
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![5, 6]);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_broker_stalls_the_partition_instead_of_dead_lettering() {
    let retry = RetryPolicy { max_attempts: 2, ..RetryPolicy::default() };
    let f = spawn(Arc::new(IntakeStage::new(routing())), retry).await;
    f.publisher.fail_next(10);
    f.send(valid(0, 0));
    f.drain().await;
    assert!(dead_letters(&f.publisher).is_empty());
    assert_eq!(f.publisher.sent_to(Topic::Qualified).len(), 1);
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![0]);
}

#[tokio::test]
async fn a_batch_is_published_with_one_wait_in_order() {
    let f = spawn(Arc::new(FlakyStage { failures_left: AtomicU32::new(0) }), RetryPolicy::default()).await;
    f.send_batch((0..5).map(|o| record(o, b"x")).collect());
    f.drain().await;
    assert_eq!(f.publisher.calls(), 1);
    let keys: Vec<_> = f.publisher.sent_to(Topic::Qualified).into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["0", "1", "2", "3", "4"]);
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(f.progress.in_flight(), 0);
}

#[tokio::test]
async fn a_record_marked_poison_is_dead_lettered_without_running_the_stage() {
    let f = spawn(Arc::new(FlakyStage { failures_left: AtomicU32::new(0) }), RetryPolicy::default()).await;
    f.progress.mark_poison(5);
    f.send_batch(vec![record(5, b"poison"), record(6, b"fine")]);
    f.drain().await;
    let dlq = dead_letters(&f.publisher);
    assert_eq!(dlq.len(), 1);
    assert_eq!((dlq[0].reason.as_str(), dlq[0].offset), ("stage_crashed", 5));
    assert!(dlq[0].detail.contains("flaky stage crashed repeatedly"), "{}", dlq[0].detail);
    assert_eq!(
        f.publisher.sent_to(Topic::Qualified).iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        ["6"]
    );
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![5, 6]);
    // The mark is used up: a later delivery of offset 5 (after a rewind) is not dead-lettered again.
    assert!(!f.progress.take_poison(5));
}

#[tokio::test]
async fn records_a_predecessor_finished_are_skipped_after_a_rewind() {
    let f = spawn(Arc::new(IntakeStage::new(routing())), RetryPolicy::default()).await;
    f.progress.finished(Some(3));
    for i in 2..6 {
        f.send(valid(i, i as usize));
    }
    f.drain().await;
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![4, 5]);
    assert_eq!(f.publisher.sent_to(Topic::Qualified).len(), 2);
}
