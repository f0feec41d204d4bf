//! Notifications end to end on the real broker and Redis, with Slack played by a loopback HTTP
//! server and email by a real SMTP listener on loopback:
//! - a new lead reaches its rep on Slack (after a 500 is retried) with the lead's name and an
//!   Accept button whose link is the assignment's own accept link;
//! - the email reminder follows at its time for the lead nobody accepted, and never comes for the
//!   lead the rep accepted through that link;
//! - a rep whose only channel refuses the message ends in `leads.dlq`, and the lead still escalates
//!   on its SLA (notifications never stall the escalation chain);
//! - an assignment that no live process handed over in-process (its publisher died after the ack)
//!   is notified by the notify stage's consumer, once.
#![cfg(feature = "integration")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::*;
use rdkafka::message::Message;
use serde_json::{json, Value};
use speedlead::config::Settings;
use speedlead::demo::assigned_reader;
use speedlead::kafka::client;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead::notify::channels::smtp_listener::SmtpListener;
use speedlead::notify::settings::{RepChannels, Step};
use speedlead::notify::ChannelKind;
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::{event_type, Assignment, DeadLetter, Envelope, LeadEvent, LeadSummary, Topic};
use uuid::Uuid;

/// A Slack incoming webhook on loopback: answers from `script` (then 200 `ok`), keeps every body.
#[derive(Clone, Default)]
struct FakeSlack {
    script: Arc<Mutex<Vec<(StatusCode, &'static str)>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl FakeSlack {
    async fn start(script: Vec<(StatusCode, &'static str)>) -> (Self, String) {
        let slack = FakeSlack { script: Arc::new(Mutex::new(script)), ..Default::default() };
        let app = Router::new().route("/hook", post(receive)).with_state(slack.clone());
        let base = serve_loopback(app).await;
        (slack, format!("{base}/hook"))
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn receive(State(slack): State<FakeSlack>, body: axum::body::Bytes) -> (StatusCode, &'static str) {
    slack.bodies.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let mut script = slack.script.lock().unwrap();
    if script.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        script.remove(0)
    }
}

/// Every emea rep reached on `slack_url`, then by email after `email_after` seconds.
fn with_channels(settings: &mut Settings, slack_url: &str, smtp: Option<&SmtpListener>, email_after: u64) {
    settings.notify.initial_backoff_ms = 50;
    // Parsed as from a config file, so defaults apply as they would there.
    settings.notify.channels.slack = Some(serde_json::from_value(json!({})).expect("slack settings"));
    let mut plan = vec![Step { channel: ChannelKind::Slack, after_secs: 0 }];
    if let Some(smtp) = smtp {
        let email = json!({
            "host": smtp.host(), "port": smtp.port(), "tls": "none", "from": "speedlead <leads@speedlead.test>",
        });
        settings.notify.channels.email = Some(serde_json::from_value(email).expect("email settings"));
        plan.push(Step { channel: ChannelKind::Email, after_secs: email_after });
    }
    settings.notify.reps = ["dora", "emil"]
        .into_iter()
        .map(|rep| RepChannels {
            id: rep.into(),
            slack: Some(slack_url.into()),
            email: Some(format!("{rep}@example.com")),
            plan: Some(plan.clone()),
            ..RepChannels::default()
        })
        .collect();
}

/// Reads `leads.assignments`, `leads.events` and `leads.dlq` until `done`.
struct Output {
    reader: rdkafka::consumer::StreamConsumer,
    assignments: Vec<Assignment>,
    events: Vec<LeadEvent>,
    dead: Vec<DeadLetter>,
    topics: [String; 3],
}

impl Output {
    fn new(settings: &Settings) -> Self {
        let n = names(settings);
        let topics = [Topic::Assignments, Topic::Events, Topic::Dlq];
        let reader = assigned_reader(settings, &settings.kafka.brokers, &n, &topics).expect("reader");
        Output {
            reader,
            assignments: vec![],
            events: vec![],
            dead: vec![],
            topics: topics.map(|t| n.name(t)),
        }
    }

    async fn until(&mut self, timeout: Duration, done: impl Fn(&Output) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) {
            let Ok(message) = tokio::time::timeout_at(deadline, self.reader.recv()).await else { return };
            let message = message.expect("read");
            let payload = message.payload().unwrap_or_default();
            if message.topic() == self.topics[0] {
                self.assignments
                    .push(serde_json::from_slice::<Envelope<Assignment>>(payload).unwrap().payload);
            } else if message.topic() == self.topics[1] {
                self.events.push(serde_json::from_slice::<Envelope<LeadEvent>>(payload).unwrap().payload);
            } else {
                self.dead.push(serde_json::from_slice::<Envelope<DeadLetter>>(payload).unwrap().payload);
            }
        }
    }

    fn first_assignment(&self, lead: Uuid) -> Option<&Assignment> {
        self.assignments.iter().find(|a| a.lead_id == lead && a.attempt == 1)
    }
}

/// The Accept button's URL in a Slack message.
fn accept_url(body: &Value) -> Option<String> {
    let blocks = body["blocks"].as_array()?;
    let actions = blocks.iter().find(|b| b["type"] == "actions")?;
    Some(actions["elements"][0]["url"].as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_is_told_on_slack_then_reminded_by_email_unless_they_accepted() {
    let (slack, slack_url) = FakeSlack::start(vec![(StatusCode::INTERNAL_SERVER_ERROR, "boom")]).await;
    let mut smtp = SmtpListener::start().await.expect("smtp listener");
    let mut settings = isolated_settings();
    with_channels(&mut settings, &slack_url, Some(&smtp), 3);
    // The accept links point at the ack routes served here.
    settings.acks.public_base_url = serve_loopback(ack_routes(&settings).await.0).await;
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();

    let source = format!("notify-{}", Uuid::new_v4().simple());
    let mut leads = LeadPublisher::new(&settings);
    leads.send(german_lead_named(&source, "e-1", "Ignored Ida")).await;
    leads.send(german_lead_named(&source, "e-2", "Accepted Alma")).await;
    let (ignored, accepted) = (leads.sent[0].lead_id, leads.sent[1].lead_id);
    let mut out = Output::new(&settings);
    out.until(Duration::from_secs(60), |o| {
        o.first_assignment(ignored).is_some() && o.first_assignment(accepted).is_some()
    })
    .await;
    let link = |lead| settings.acks.link(&out.first_assignment(lead).expect("assigned").ack_token);
    let (ignored_link, accepted_link) = (link(ignored), link(accepted));

    // Both on Slack, one of them after the scripted 500 was retried.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while slack.bodies().len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bodies = slack.bodies();
    assert_eq!(bodies.len(), 3, "two notices, one retried after a 500: {bodies:?}");
    let urls: Vec<_> = bodies.iter().filter_map(accept_url).collect();
    assert!(urls.contains(&ignored_link) && urls.contains(&accepted_link), "{urls:?}");
    let alma = bodies.iter().find(|b| accept_url(b).as_deref() == Some(&accepted_link)).unwrap();
    assert!(alma.to_string().contains("Accepted Alma"), "the message names the lead: {alma}");

    // The rep accepts Alma through the link Slack showed.
    let answer = reqwest::Client::new().post(&accepted_link).send().await.expect("accept");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    // Ida's reminder arrives by email at its time; Alma's never does.
    let mail = smtp.next(Duration::from_secs(15)).await.expect("an email reminder");
    let text = mail.part("text/plain").unwrap_or_default();
    let html = mail.part("text/html").unwrap_or_default();
    assert!(text.contains(&ignored_link) && html.contains("Ignored Ida"), "text: {text}\nhtml: {html}");
    assert!(mail.to.iter().any(|to| to.ends_with("@example.com")));
    assert!(smtp.next(Duration::from_secs(4)).await.is_none(), "no reminder for the accepted lead");
    // Both the in-process handoff and the notify consumer saw both assignments by now.
    assert_eq!(slack.bodies().len(), 3, "each assignment notified once");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_no_channel_could_deliver_is_dead_lettered_and_the_lead_still_escalates() {
    let refusals = vec![(StatusCode::BAD_REQUEST, "invalid_payload"); 100];
    let (slack, slack_url) = FakeSlack::start(refusals).await;
    let mut settings = isolated_settings();
    with_channels(&mut settings, &slack_url, None, 0);
    settings.routing.sla.default_secs = 2;
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();

    let mut leads = LeadPublisher::new(&settings);
    leads.send(german_lead_named(&format!("dlq-{}", Uuid::new_v4().simple()), "e-1", "Refused Rita")).await;
    let id = leads.sent[0].lead_id;
    let mut out = Output::new(&settings);
    let escalated =
        |o: &Output| o.events.iter().any(|e| matches!(e, LeadEvent::Escalated(x) if x.lead_id == id));
    out.until(Duration::from_secs(60), |o| !o.dead.is_empty() && escalated(o)).await;

    let letter = out.dead.iter().find(|d| d.stage == "notify").expect("the notice was dead-lettered");
    assert!(letter.detail.contains("slack: permanent"), "{}", letter.detail);
    assert_eq!(letter.source_topic, names(&settings).name(Topic::Assignments));
    let original =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &letter.original_base64).unwrap();
    let assignment: Envelope<Assignment> =
        serde_json::from_slice(&original).expect("the assignment, byte for byte");
    assert_eq!(assignment.payload.lead_id, id);
    assert!(!slack.bodies().is_empty(), "Slack was tried");
    assert!(escalated(&out), "the SLA escalation went on without the notification");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_nobody_handed_over_is_notified_once_by_the_notify_consumer() {
    let (slack, slack_url) = FakeSlack::start(vec![]).await;
    let mut settings = isolated_settings();
    with_channels(&mut settings, &slack_url, None, 0);
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();

    // As an instance that died right after the broker's ack would leave it: in the log, never
    // handed to any hub. Published twice, as a redelivery would read it.
    let lead_id = Uuid::new_v4();
    let assignment = Assignment {
        lead_id,
        lead_key: "orphan@example.com".into(),
        routing_domain: "emea".into(),
        rep_id: "dora".into(),
        attempt: 1,
        reason: "round_robin".into(),
        pool: "all".into(),
        sla_due_at: None,
        ack_token: "orphan-token".into(),
        audit: None,
        lead: Some(LeadSummary { name: Some("Orphaned Olga".into()), ..Default::default() }),
    };
    let envelope = Envelope::new(event_type::ASSIGNED, lead_id, assignment);
    let message = Outbound {
        topic: Topic::Assignments,
        key: "emea".into(),
        payload: serde_json::to_vec(&envelope).unwrap(),
    };
    let producer = client::producer(&settings.kafka, &settings.kafka.brokers);
    let publisher = KafkaPublisher::new(&producer, names(&settings)).expect("producer");
    publisher.publish(vec![message.clone(), message]).await.expect("published");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while slack.bodies().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bodies = slack.bodies();
    assert!(bodies.first().is_some_and(|b| b.to_string().contains("Orphaned Olga")), "{bodies:?}");
    assert!(accept_url(&bodies[0]).is_some_and(|url| url.ends_with("orphan-token")), "{:?}", bodies[0]);
    // The redelivered copy finds the claim taken.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(slack.bodies().len(), 1, "notified once: {:?}", slack.bodies());
    pipeline.shutdown().await;
}
