use std::sync::Mutex;

use super::*;
use crate::routing_store::{Caps, RouteCommit, RouteRecord, RoutingStore};
use crate::store::MemoryStore;

/// Records every due deadline, with the (test) time it fired; answers with a scripted result.
struct RecordingEscalator {
    clock: Clock,
    /// Like the dispatcher, drops a deadline it is done with from the store (else sweeps re-arm it).
    store: Mutex<Option<Arc<MemoryStore>>>,
    fired: Mutex<Vec<(String, i64, i64)>>,
    answers: Mutex<Vec<Result<Option<i64>, StageError>>>,
}

impl RecordingEscalator {
    fn new(clock: Clock) -> Arc<Self> {
        Arc::new(RecordingEscalator {
            clock,
            store: Mutex::new(None),
            fired: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
        })
    }

    fn fired(&self) -> Vec<(String, i64, i64)> {
        self.fired.lock().unwrap().clone()
    }
}

#[async_trait]
impl Escalate for RecordingEscalator {
    async fn deadline_due(
        &self,
        domain: &str,
        lead_id: &str,
        due_ms: i64,
    ) -> Result<Option<i64>, StageError> {
        self.fired.lock().unwrap().push((lead_id.to_string(), due_ms, (self.clock)()));
        let answer = self.answers.lock().unwrap().pop().unwrap_or(Ok(None));
        let store = self.store.lock().unwrap().clone();
        if let (Ok(None), Some(store)) = (&answer, store) {
            store.drop_deadline(domain, lead_id).await.unwrap();
        }
        answer
    }

    async fn offer_overflow(&self, _domain: &str) -> Result<(), StageError> {
        Ok(())
    }
}

async fn start(
    store: Arc<MemoryStore>,
    escalator: Arc<RecordingEscalator>,
    clock: Clock,
) -> EscalationTimers {
    let settings = TimerSettings { tick: Duration::from_millis(100), ..TimerSettings::default() };
    EscalationTimers::start(vec!["na".into()], store, escalator, settings, clock).await.unwrap()
}

/// Lets the supervisor start its timers (they load the store first).
async fn until_running(timers: &EscalationTimers) {
    for _ in 0..100 {
        if timers.pending("na").await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timer for na never started");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_fires_once_when_due_and_not_before() {
    let clock = tokio_clock();
    let escalator = RecordingEscalator::new(clock.clone());
    let timers = start(Arc::new(MemoryStore::new()), escalator.clone(), clock.clone()).await;
    until_running(&timers).await;
    let due = clock() + 60_000;
    timers.arm("na", "lead-1", due);

    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(escalator.fired().is_empty(), "fired early: {:?}", escalator.fired());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fired = escalator.fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].0.as_str(), fired[0].1), ("lead-1", due));
    assert!(fired[0].2 - due < 1_000, "fired {} ms late", fired[0].2 - due);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(escalator.fired().len(), 1, "a deadline fires once");
    timers.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_deadline_never_fires() {
    let clock = tokio_clock();
    let escalator = RecordingEscalator::new(clock.clone());
    let timers = start(Arc::new(MemoryStore::new()), escalator.clone(), clock.clone()).await;
    until_running(&timers).await;
    timers.arm("na", "lead-1", clock() + 5_000);
    timers.arm("na", "lead-2", clock() + 5_000);
    timers.cancel("na", "lead-1");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let fired: Vec<_> = escalator.fired().into_iter().map(|f| f.0).collect();
    assert_eq!(fired, ["lead-2"]);
    timers.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_timer_re_arms_what_the_store_holds() {
    let clock = tokio_clock();
    let store = Arc::new(MemoryStore::new());
    let due = clock() + 3_000;
    let record = RouteRecord {
        sla_ms: 0,
        parked: false,
        released: false,
        lead_key: "ana@example.com".into(),
        rep_id: "ana".into(),
        attempt: 1,
        pool: "all".into(),
        rule: None,
        reason: "round_robin".into(),
        assigned_ms: clock(),
        due_ms: due,
        acked: false,
        required_skills: Vec::new(),
        tried: Vec::new(),
        summary: None,
    };
    let commit = RouteCommit {
        domain: "na".into(),
        lead_id: "lead-9".into(),
        record,
        rep_day: "2026-11-25".into(),
        caps: Caps::default(),
        cursor: None,
        replaces: None,
        miss: None,
        from_overflow: None,
    };
    store.commit_route(&commit, Duration::from_secs(3600)).await.unwrap();

    // A process that never saw the assignment: it learns the deadline from the store alone.
    let escalator = RecordingEscalator::new(clock.clone());
    *escalator.store.lock().unwrap() = Some(store.clone());
    let timers = start(store, escalator.clone(), clock.clone()).await;
    until_running(&timers).await;
    assert_eq!(timers.pending("na").await, Some(1));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let fired = escalator.fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].2 - due < 1_000, "fired {} ms late", fired[0].2 - due);
    timers.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_escalation_is_retried_and_a_moved_deadline_re_armed() {
    let clock = tokio_clock();
    let escalator = RecordingEscalator::new(clock.clone());
    let later = clock() + 30_000;
    // Answers pop from the back: first a store failure, then "re-arm at `later`", then done.
    *escalator.answers.lock().unwrap() =
        vec![Ok(None), Ok(Some(later)), Err(StageError::Transient("store: down".into()))];
    let timers = start(Arc::new(MemoryStore::new()), escalator.clone(), clock.clone()).await;
    until_running(&timers).await;
    let due = clock() + 1_000;
    timers.arm("na", "lead-1", due);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fired = escalator.fired();
    assert_eq!(fired.len(), 2, "failed once, retried a second later: {fired:?}");
    assert!(fired[1].2 - fired[0].2 >= 1_000);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let fired = escalator.fired();
    assert_eq!(fired.len(), 3, "{fired:?}");
    assert_eq!(fired[2].1, later);
    timers.stop().await;
}
