use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use speedlead_topics::Topic;

use super::*;
use crate::ports::{Outbound, Record};
use crate::stage::StageError;
use crate::testkit::{record, RecordingOffsets, RecordingPublisher, RecordingRestarter};

/// Echoes each record's offset; panics once at `panic_at`, like a bug hit by one bad lead.
struct PanicOnce {
    panic_at: i64,
    armed: AtomicBool,
    delay: Duration,
}

#[async_trait]
impl Stage for PanicOnce {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        tokio::time::sleep(self.delay).await;
        if record.offset == self.panic_at && self.armed.swap(false, Ordering::SeqCst) {
            panic!("stage bug at offset {}", record.offset);
        }
        Ok(vec![Outbound { topic: Topic::Qualified, key: record.offset.to_string(), payload: vec![] }])
    }
}

struct Fixture {
    supervisor: ActorRef<StageMsg>,
    publisher: Arc<RecordingPublisher>,
    offsets: Arc<RecordingOffsets>,
    restarter: Arc<RecordingRestarter>,
}

async fn supervisor(stage: PanicOnce) -> Fixture {
    let publisher = Arc::new(RecordingPublisher::default());
    let offsets = Arc::new(RecordingOffsets::default());
    let restarter = Arc::new(RecordingRestarter::default());
    let args = StageArgs {
        stage: Arc::new(stage),
        publisher: publisher.clone(),
        offsets: offsets.clone(),
        restarter: restarter.clone(),
        retry: RetryPolicy::default(),
        backoff: RestartBackoff { initial: Duration::from_millis(20), ..RestartBackoff::default() },
    };
    let (supervisor, _) = Actor::spawn(None, StageSupervisor, args).await.unwrap();
    Fixture { supervisor, publisher, offsets, restarter }
}

impl Fixture {
    async fn start(&self, partition: i32, progress: Arc<PartitionProgress>) -> ActorRef<PartitionMsg> {
        self.supervisor
            .call(|reply| StageMsg::StartPartition { partition, progress, reply }, None)
            .await
            .unwrap()
            .unwrap()
    }

    fn keys(&self) -> Vec<String> {
        self.publisher.sent_to(Topic::Qualified).into_iter().map(|m| m.key).collect()
    }
}

/// Waits up to 5 s for `condition`, failing the test with `what` if it never holds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn send(worker: &ActorRef<PartitionMsg>, progress: &PartitionProgress, offsets: std::ops::Range<i64>) {
    for o in offsets {
        progress.forwarded(1);
        // A dead worker refuses the message, as the real consumer sees it.
        let _ = worker.cast(PartitionMsg::Records(vec![record(o, b"x")]));
    }
}

#[tokio::test]
async fn a_panicking_worker_is_restarted_and_resumes_after_the_last_processed_offset() {
    let f = supervisor(PanicOnce { panic_at: 3, armed: AtomicBool::new(true), delay: Duration::ZERO }).await;
    let progress = Arc::new(PartitionProgress::default());
    let worker = f.start(4, progress.clone()).await;
    send(&worker, &progress, 0..6);

    // The supervisor waits out the backoff, then asks the consumer to rewind and restart.
    eventually("a restart request", || !f.restarter.restarts.lock().unwrap().is_empty()).await;
    assert_eq!(*f.restarter.restarts.lock().unwrap(), vec![4]);
    assert_eq!(progress.last_processed(), Some(2));
    assert_eq!(worker.get_status(), ractor::ActorStatus::Stopped);

    // What the consumer does on restart: rewind to last_processed + 1 and feed a fresh worker.
    progress.reset_in_flight();
    let fresh = f.start(4, progress.clone()).await;
    send(&fresh, &progress, 3..6);
    fresh.call(PartitionMsg::Drain, None).await.unwrap();
    assert_eq!(f.keys(), ["0", "1", "2", "3", "4", "5"]);
    assert_eq!(*f.offsets.processed.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn the_crashing_record_is_reported_as_current() {
    let f = supervisor(PanicOnce { panic_at: 2, armed: AtomicBool::new(true), delay: Duration::ZERO }).await;
    let progress = Arc::new(PartitionProgress::default());
    let worker = f.start(1, progress.clone()).await;
    send(&worker, &progress, 0..5);
    eventually("a restart request", || !f.restarter.restarts.lock().unwrap().is_empty()).await;
    // What the consumer uses to find a poisonous record.
    assert_eq!(progress.current(), Some(2));
}

#[tokio::test]
async fn a_stale_restart_is_ignored_once_the_partition_has_a_worker_again() {
    let f =
        supervisor(PanicOnce { panic_at: -1, armed: AtomicBool::new(false), delay: Duration::ZERO }).await;
    let worker = f.start(3, Arc::new(PartitionProgress::default())).await;
    f.supervisor.cast(StageMsg::RestartDue { partition: 3 }).unwrap();
    f.supervisor.cast(StageMsg::RestartDue { partition: 4 }).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*f.restarter.restarts.lock().unwrap(), vec![4]);
    assert_eq!(worker.get_status(), ractor::ActorStatus::Running);
}

#[tokio::test]
async fn a_fatal_publish_error_fails_the_stage_supervisor_instead_of_restarting() {
    let f =
        supervisor(PanicOnce { panic_at: -1, armed: AtomicBool::new(false), delay: Duration::ZERO }).await;
    let progress = Arc::new(PartitionProgress::default());
    let worker = f.start(0, progress.clone()).await;
    f.publisher.fail_fatally();
    send(&worker, &progress, 0..1);
    eventually("the supervisor stopping", || f.supervisor.get_status() == ractor::ActorStatus::Stopped).await;
    assert!(f.restarter.restarts.lock().unwrap().is_empty());
    assert!(f.offsets.processed.lock().unwrap().is_empty(), "nothing unpublished may be marked processed");
}

#[tokio::test]
async fn revoking_drains_queued_records_before_stopping() {
    let f = supervisor(PanicOnce {
        panic_at: -1,
        armed: AtomicBool::new(false),
        delay: Duration::from_millis(5),
    })
    .await;
    let progress = Arc::new(PartitionProgress::default());
    let worker = f.start(0, progress.clone()).await;
    send(&worker, &progress, 0..10);
    f.supervisor
        .call(
            |reply| StageMsg::StopPartitions { partitions: vec![0], timeout: Duration::from_secs(5), reply },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.offsets.processed.lock().unwrap().len(), 10);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(worker.get_status(), ractor::ActorStatus::Stopped);
    assert!(f.restarter.restarts.lock().unwrap().is_empty(), "a revoked worker is not restarted");
}
