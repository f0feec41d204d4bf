//! The hub's walk through a rep's plan, on paused time with scripted channels: fallbacks go at
//! once, reminders wait for their time and stop once the lead is accepted, retries back off, and
//! a notice nobody received is dead-lettered.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use speedlead_actors::ports::{Outbound, PublishError};
use speedlead_actors::routing_store::{Caps, RouteCommit, RouteRecord, RoutingStore};
use speedlead_actors::store::MemoryStore;
use speedlead_topics::{LeadSummary, Topic};
use tokio::time::Instant;
use uuid::Uuid;

use super::*;
use crate::notify::settings::{QuietHours, RepChannels};

/// A notice for `rep`'s attempt 1 of the nil lead in domain `na`.
pub(crate) fn notice(rep: &str) -> Notice {
    Notice {
        id: "n-1".into(),
        lead_id: Uuid::nil(),
        attempt: 1,
        routing_domain: "na".into(),
        rep_id: rep.into(),
        rep_name: Some("Ana Lopez".into()),
        lead: LeadSummary {
            name: Some("Zoë".into()),
            score: Some(90),
            source: "web".into(),
            ..Default::default()
        },
        why: "round robin".into(),
        accept_url: "http://127.0.0.1/v1/acks/t".into(),
        hot: true,
    }
}

/// Answers from a script (then `Ok`), recording when each send happened.
struct Scripted {
    kind: ChannelKind,
    answers: Mutex<VecDeque<Result<Sent, SendError>>>,
    sends: Mutex<Vec<(Instant, String)>>,
}

impl Scripted {
    fn new(kind: ChannelKind, answers: Vec<Result<Sent, SendError>>) -> Arc<Self> {
        Arc::new(Scripted { kind, answers: Mutex::new(answers.into()), sends: Mutex::default() })
    }
    fn sends(&self) -> Vec<(Instant, String)> {
        self.sends.lock().unwrap().clone()
    }
}

#[async_trait]
impl Channel for Scripted {
    fn kind(&self) -> ChannelKind {
        self.kind
    }
    async fn send(&self, _notice: &Notice, to: &str) -> Result<Sent, SendError> {
        self.sends.lock().unwrap().push((Instant::now(), to.to_string()));
        self.answers.lock().unwrap().pop_front().unwrap_or(Ok(Sent::default()))
    }
}

#[derive(Default)]
struct Letters(Mutex<Vec<Outbound>>);

#[async_trait]
impl Publisher for Letters {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        self.0.lock().unwrap().extend(messages);
        Ok(())
    }
}

struct Desk {
    hub: Arc<NotificationHub>,
    store: Arc<MemoryStore>,
    letters: Arc<Letters>,
    start: Instant,
}

fn permanent() -> Result<Sent, SendError> {
    Err(SendError::Permanent { reason: "channel_not_found".into() })
}

fn busy(after: Option<u64>) -> Result<Sent, SendError> {
    Err(SendError::Retryable { reason: "503".into(), retry_after: after.map(Duration::from_secs) })
}

async fn desk(settings: NotifySettings, channels: Vec<Arc<dyn Channel>>) -> Desk {
    let store = Arc::new(MemoryStore::new());
    let record = RouteRecord {
        lead_key: "k".into(),
        rep_id: "ana".into(),
        attempt: 1,
        pool: "all".into(),
        rule: None,
        reason: "round_robin".into(),
        assigned_ms: Utc::now().timestamp_millis(),
        due_ms: 0,
        acked: false,
        required_skills: vec![],
        sla_ms: 0,
        parked: false,
        released: false,
        tried: vec![],
        summary: None,
    };
    let commit = RouteCommit {
        domain: "na".into(),
        lead_id: Uuid::nil().to_string(),
        record,
        rep_day: "2026-12-06".into(),
        caps: Caps::default(),
        cursor: None,
        replaces: None,
        miss: None,
        from_overflow: None,
    };
    store.commit_route(&commit, Duration::from_secs(3600)).await.unwrap();
    let letters = Arc::new(Letters::default());
    let routing =
        Arc::new(arc_swap::ArcSwap::from_pointee(crate::config::Settings::defaults().routing().unwrap()));
    let hub = NotificationHub::new(&settings, channels, store.clone(), letters.clone(), routing);
    Desk { hub, store, letters, start: Instant::now() }
}

fn settings(plan: Vec<Step>) -> NotifySettings {
    let ana = RepChannels {
        id: "ana".into(),
        slack: Some("#ana".into()),
        sms: Some("+14155550100".into()),
        email: Some("ana@example.com".into()),
        plan: Some(plan),
        ..Default::default()
    };
    NotifySettings { reps: vec![ana], initial_backoff_ms: 1000, ..NotifySettings::default() }
}

fn step(channel: ChannelKind, after_secs: u64) -> Step {
    Step { channel, after_secs }
}

fn source() -> Record {
    Record {
        topic: "leads.assignments".into(),
        partition: 0,
        offset: 7,
        key: Some(b"na".to_vec()),
        payload: Some(b"{}".to_vec()),
        timestamp_ms: None,
        headers: vec![],
    }
}

/// Runs the notice to its end (paused time races through the sleeps).
async fn run(desk: &Desk, notice: Notice) {
    let steps = desk.hub.plan_for(&notice.rep_id);
    desk.hub.deliver(Arc::new(notice), steps, Utc::now(), source()).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_channel_falls_back_to_the_next_at_once() {
    let slack = Scripted::new(ChannelKind::Slack, vec![permanent()]);
    let sms = Scripted::new(ChannelKind::Sms, vec![]);
    let plan = vec![step(ChannelKind::Slack, 0), step(ChannelKind::Sms, 30)];
    let desk = desk(settings(plan), vec![slack.clone(), sms.clone()]).await;
    run(&desk, notice("ana")).await;
    assert_eq!(slack.sends().len(), 1, "a permanent refusal is not retried");
    let sms = sms.sends();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0 - desk.start, Duration::ZERO, "the fallback did not wait its 30 s");
    assert_eq!(sms[0].1, "+14155550100");
    assert!(desk.letters.0.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reminder_waits_for_its_time_and_only_while_the_lead_is_not_accepted() {
    let slack = Scripted::new(ChannelKind::Slack, vec![]);
    let sms = Scripted::new(ChannelKind::Sms, vec![]);
    let plan = vec![step(ChannelKind::Slack, 0), step(ChannelKind::Sms, 30)];
    let desk = desk(settings(plan.clone()), vec![slack.clone(), sms.clone()]).await;
    run(&desk, notice("ana")).await;
    let at = sms.sends()[0].0 - desk.start;
    assert!(at >= Duration::from_secs(29) && at <= Duration::from_secs(31), "SMS at {at:?}, not at 30 s");

    let slack = Scripted::new(ChannelKind::Slack, vec![]);
    let sms = Scripted::new(ChannelKind::Sms, vec![]);
    let desk = desk_with_ack(plan, slack.clone(), sms.clone()).await;
    run(&desk, notice("ana")).await;
    assert_eq!(slack.sends().len(), 1);
    assert!(sms.sends().is_empty(), "an accepted lead gets no reminder");
}

async fn desk_with_ack(plan: Vec<Step>, slack: Arc<Scripted>, sms: Arc<Scripted>) -> Desk {
    let desk = desk(settings(plan), vec![slack, sms]).await;
    desk.store.acknowledge("na", &Uuid::nil().to_string(), "ana", 1).await.unwrap();
    desk
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_and_honour_retry_after() {
    let slack = Scripted::new(ChannelKind::Slack, vec![busy(None), busy(Some(7))]);
    let desk = desk(settings(vec![step(ChannelKind::Slack, 0)]), vec![slack.clone()]).await;
    run(&desk, notice("ana")).await;
    let times: Vec<Duration> = slack.sends().iter().map(|(t, _)| *t - desk.start).collect();
    assert_eq!(times.len(), 3, "two failures, then success: {times:?}");
    let first_gap = times[1] - times[0];
    assert!(
        first_gap >= Duration::from_millis(800) && first_gap <= Duration::from_millis(1200),
        "{first_gap:?}"
    );
    assert!(times[2] - times[1] >= Duration::from_secs(7), "Retry-After: 7 was honoured");
}

#[tokio::test(start_paused = true)]
async fn a_notice_no_channel_delivered_is_dead_lettered_with_every_reason() {
    let slack = Scripted::new(ChannelKind::Slack, vec![busy(None); 5]);
    let sms = Scripted::new(ChannelKind::Sms, vec![Err(SendError::OptedOut { reason: "21610".into() })]);
    let plan = vec![step(ChannelKind::Slack, 0), step(ChannelKind::Sms, 30)];
    let desk = desk(settings(plan), vec![slack.clone(), sms.clone()]).await;
    run(&desk, notice("ana")).await;
    assert_eq!(slack.sends().len(), 5, "max_attempts sends");
    let letters = desk.letters.0.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].topic, Topic::Dlq);
    let letter: serde_json::Value = serde_json::from_slice(&letters[0].payload).unwrap();
    let detail = letter["payload"]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("slack: retryable") && detail.contains("sms: opted out"), "{detail}");
    assert_eq!(letter["payload"]["stage"], "notify");

    // The opted-out number is remembered: the next notice skips SMS without sending.
    run(&desk, notice("ana")).await;
    assert_eq!(sms.sends().len(), 1, "no second text to an opted-out number");
}

#[tokio::test(start_paused = true)]
async fn quiet_hours_skip_texts_in_the_reps_time_zone() {
    let sms = Scripted::new(ChannelKind::Sms, vec![]);
    let email = Scripted::new(ChannelKind::Email, vec![]);
    let mut s = settings(vec![step(ChannelKind::Sms, 0), step(ChannelKind::Email, 60)]);
    // Overnight from noon to a microsecond before noon: quiet at whatever time the test runs.
    let noon = chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap();
    let just_before = chrono::NaiveTime::from_hms_micro_opt(11, 59, 59, 999_999).unwrap();
    s.quiet_hours = Some(QuietHours { start: noon, end: just_before });
    let desk = desk(s, vec![sms.clone(), email.clone()]).await;
    run(&desk, notice("ana")).await;
    assert!(sms.sends().is_empty(), "no text in quiet hours");
    assert_eq!(email.sends().len(), 1, "the next step went instead");
}

#[test]
fn steps_without_a_channel_or_an_address_are_left_out() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let slack = Scripted::new(ChannelKind::Slack, vec![]);
        let plan =
            vec![step(ChannelKind::Webhook, 0), step(ChannelKind::Slack, 0), step(ChannelKind::Dialer, 5)];
        let desk = desk(settings(plan), vec![slack]).await;
        let steps: Vec<_> = desk.hub.plan_for("ana").into_iter().map(|(s, to)| (s.channel, to)).collect();
        assert_eq!(steps, [(ChannelKind::Slack, "#ana".to_string())]);
        assert!(desk.hub.plan_for("nobody").is_empty());
    });
}
