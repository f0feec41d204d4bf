//! Outbound webhooks end to end on the real broker and Redis, with subscribers played by loopback
//! HTTP servers that verify every signature:
//! - a lead's events reach the subscriber that wants all types, signed with both secrets of a
//!   rotation, in the `{id, type, timestamp, api_version, data}` envelope; a receiver that fails
//!   on purpose (503 with Retry-After) gets each event once it comes back, under the same
//!   `webhook-id`; a subscriber of `lead.assigned` only gets that; a redelivered event is not sent
//!   again;
//! - a receiver answering 410 is disabled after one attempt and later events become dead letters;
//! - a name resolving to loopback is refused at connect time without the explicit allowance;
//! - dead letters are listed (with the request and the last answer) and replayed, one or by time
//!   range, through the admin API, which wants the bearer token;
//! - a subscription made through the admin API gets the event types it asked for, and none once
//!   removed;
//! - an ordered subscription gets a lead's events in their order while the first is retried;
//! - a returning person's changed field goes out as `lead.updated` with its old and new value;
//! - switching webhooks on does not replay the events already in the topic.
#![cfg(feature = "integration")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use common::*;
use rdkafka::message::Message;
use serde_json::Value;
use speedlead::config::Settings;
use speedlead::demo::assigned_reader;
use speedlead::kafka::client;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead::notify::channels::Secret;
use speedlead::providers::signature::verify_standard_webhooks;
use speedlead::webhooks::settings::Subscription;
use speedlead::webhooks::store::WebhookStore;
use speedlead::webhooks::store_redis::RedisWebhookStore;
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::Topic;
use uuid::Uuid;

/// The published Standard Webhooks example secret, and a second one as during a rotation.
const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_c3BlZWRsZWFkLXJvdGF0aW9uLXNlY3JldC0wMQ==";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    event_type: String,
    body: Value,
    /// Whether the signature verified with each secret alone.
    signed_by: (bool, bool),
    answered: u16,
}

/// A scripted answer: the status, and a `Retry-After` value.
type Answer = (StatusCode, Option<&'static str>);

/// A subscriber on loopback: answers from `script` (then 200), keeps every request.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<Answer>>>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<Answer>) -> (Self, String) {
        let receiver = Receiver { script: Arc::new(Mutex::new(script)), ..Default::default() };
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let base = serve_loopback(app).await;
        (receiver, format!("{base}/hook"))
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The event ids answered 2xx, with how often.
    fn delivered(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for r in self.seen().into_iter().filter(|r| r.answered < 300) {
            *ids.entry(r.id).or_insert(0) += 1;
        }
        ids
    }

    async fn until(&self, timeout: Duration, done: impl Fn(&Receiver) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verify = |secret: &str| {
        let secrets = [secret.to_string()];
        let (id, ts, sig) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
        verify_standard_webhooks(&secrets, id, ts, sig, &body, chrono::Utc::now()).is_ok()
    };
    let (status, retry_after) = {
        let mut script = receiver.script.lock().unwrap();
        if script.is_empty() {
            (StatusCode::OK, None)
        } else {
            script.remove(0)
        }
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    receiver.seen.lock().unwrap().push(Received {
        id: header("webhook-id").unwrap_or_default().to_string(),
        event_type: parsed["type"].as_str().unwrap_or_default().to_string(),
        body: parsed,
        signed_by: (verify(OLD_SECRET), verify(NEW_SECRET)),
        answered: status.as_u16(),
    });
    let mut answer = status.into_response();
    if let Some(after) = retry_after {
        answer.headers_mut().insert("retry-after", after.parse().unwrap());
    }
    answer
}

fn subscription(id: &str, url: &str, events: &[&str]) -> Subscription {
    Subscription {
        id: id.into(),
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        secrets: vec![Secret::new(OLD_SECRET), Secret::new(NEW_SECRET)],
        ordered_by_lead: false,
    }
}

/// Loopback receivers allowed, and a schedule of a few fast retries.
fn webhook_settings(subscriptions: Vec<Subscription>) -> Settings {
    let mut settings = isolated_settings();
    settings.webhooks.allow_private_networks = true;
    settings.webhooks.retry_schedule_secs = vec![0.3, 0.3, 0.3, 0.3];
    settings.webhooks.subscriptions = subscriptions;
    settings
}

async fn pipeline_with_one_lead(settings: &Settings, name: &str) -> (speedlead::pipeline::Pipeline, Uuid) {
    create_test_topics(settings).await;
    let pipeline = start_pipeline(settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    let mut leads = LeadPublisher::new(settings);
    leads.send(german_lead_named(&format!("wh-{}", Uuid::new_v4().simple()), "e-1", name)).await;
    let lead = leads.sent[0].lead_id;
    (pipeline, lead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_each_signed_event_once_even_after_failing_on_purpose() {
    // Down for the first three requests (503, come back in a second), then up.
    let down = (StatusCode::SERVICE_UNAVAILABLE, Some("1"));
    let (everything, everything_url) = Receiver::start(vec![down, down, down]).await;
    let (assigned_only, assigned_url) = Receiver::start(vec![]).await;
    let settings = webhook_settings(vec![
        subscription("all", &everything_url, &[]),
        subscription("assigned", &assigned_url, &["lead.assigned"]),
    ]);
    let (pipeline, lead) = pipeline_with_one_lead(&settings, "Hooked Hanna").await;

    let expected: BTreeSet<&str> = ["lead.created", "lead.scored", "lead.assigned"].into();
    let delivered_types = |r: &Receiver| -> BTreeSet<String> {
        r.seen().into_iter().filter(|x| x.answered < 300).map(|x| x.event_type).collect()
    };
    everything.until(Duration::from_secs(60), |r| delivered_types(r).len() == expected.len()).await;
    let seen = everything.seen();
    assert_eq!(delivered_types(&everything), expected.iter().map(|s| s.to_string()).collect(), "{seen:#?}");
    assert_eq!(seen.iter().filter(|r| r.answered == 503).count(), 3, "the receiver failed three times");
    for r in &seen {
        assert_eq!(r.signed_by, (true, true), "signed with both secrets of the rotation: {r:?}");
        assert_eq!(r.body["id"], r.id.as_str(), "webhook-id is the event id");
        assert_eq!(r.body["api_version"], speedlead::webhooks::event::API_VERSION);
        assert!(r.body["timestamp"].as_str().is_some());
    }
    // Every failed request was for an event delivered later under the same id.
    let delivered = everything.delivered();
    assert!(seen.iter().filter(|r| r.answered == 503).all(|r| delivered.contains_key(&r.id)), "{seen:#?}");
    assert!(delivered.values().all(|n| *n == 1), "each event delivered once: {delivered:?}");
    let assignment = seen.iter().find(|r| r.event_type == "lead.assigned").unwrap();
    assert_eq!(assignment.body["data"]["lead_id"], lead.to_string());
    assert_eq!(assignment.body["data"]["lead"]["name"], "Hooked Hanna", "the payload is fat");

    assigned_only.until(Duration::from_secs(10), |r| !r.delivered().is_empty()).await;
    let only: Vec<String> = assigned_only.seen().into_iter().map(|r| r.event_type).collect();
    assert_eq!(only, vec!["lead.assigned".to_string()]);

    // The broker hands the assignment event over again (a rebalance, a crash before the commit).
    let (event_id, raw) = events_of(&settings, lead, "lead.assigned").await;
    assert_eq!(event_id, assignment.id);
    let producer =
        KafkaPublisher::new(&client::producer(&settings.kafka, &settings.kafka.brokers), names(&settings));
    let again = Outbound { topic: Topic::Events, key: lead.to_string(), payload: raw };
    producer.expect("producer").publish(vec![again]).await.expect("republished");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(everything.delivered().get(&event_id), Some(&1), "not sent twice");
    assert_eq!(assigned_only.delivered().len(), 1, "not sent twice");
    pipeline.shutdown().await;
}

/// The id and raw bytes of the lead's first event of `event_type` on `leads.events`.
async fn events_of(settings: &Settings, lead: Uuid, event_type: &str) -> (String, Vec<u8>) {
    let reader =
        assigned_reader(settings, &settings.kafka.brokers, &names(settings), &[Topic::Events]).unwrap();
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(30), reader.recv()).await.expect("event").unwrap();
        let raw = message.payload().unwrap_or_default().to_vec();
        let value: Value = serde_json::from_slice(&raw).unwrap();
        if value["type"] == event_type && value["payload"]["lead_id"] == lead.to_string() {
            return (value["id"].as_str().unwrap().to_string(), raw);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_answers_410_is_disabled_and_later_events_are_dead_letters() {
    let (gone, gone_url) = Receiver::start(vec![(StatusCode::GONE, None); 10]).await;
    let settings = webhook_settings(vec![subscription("gone", &gone_url, &[])]);
    let (pipeline, _first) = pipeline_with_one_lead(&settings, "Gone Gerda").await;
    let queue = RedisWebhookStore::connect(&settings.redis.url, &settings.redis.namespace).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while queue.disabled("gone").await.unwrap().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let disabled = queue.disabled("gone").await.unwrap();
    assert!(disabled.is_some_and(|why| why.contains("410")), "disabled by the 410");
    // The first lead's events may have been in flight together: each got a 410, none a second try.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = gone.seen().len();
    let gone_letters = queue.dead_letters("gone", 0, i64::MAX, 100).await.unwrap();
    let answered_gone: Vec<_> = gone_letters.iter().filter(|l| l.reason == "endpoint_gone").collect();
    assert_eq!(answered_gone.len(), requests, "every 410 dead-letters its delivery at once");
    assert!(answered_gone.iter().all(|l| l.delivery.attempts == 1));

    // A later lead's events are kept as dead letters without a request.
    let mut leads = LeadPublisher::new(&settings);
    leads.send(german_lead_named(&format!("wh-{}", Uuid::new_v4().simple()), "e-2", "Later Lena")).await;
    let later = leads.sent[0].lead_id.to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut held = Vec::new();
    while held.len() < 3 && tokio::time::Instant::now() < deadline {
        let letters = queue.dead_letters("gone", 0, i64::MAX, 100).await.unwrap();
        held = letters.into_iter().filter(|l| l.delivery.lead_id.to_string() == later).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held.len(), 3, "created, scored and assigned held back");
    assert!(held.iter().all(|l| l.reason == "endpoint_disabled" && l.delivery.attempts == 0), "{held:?}");
    assert!(held.iter().all(|l| !l.delivery.body.is_empty()), "the payload is kept for replay");
    assert_eq!(gone.seen().len(), requests, "no request after the endpoint was disabled");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_is_refused_unless_allowed() {
    let (receiver, url) = Receiver::start(vec![]).await;
    // The same receiver, by a name instead of an IP literal: config validation cannot tell.
    let by_name = url.replace("127.0.0.1", "localhost");
    let mut settings = webhook_settings(vec![subscription("internal", &by_name, &["lead.created"])]);
    settings.webhooks.allow_private_networks = false;
    settings.webhooks.retry_schedule_secs = vec![0.2];
    let (pipeline, _lead) = pipeline_with_one_lead(&settings, "Guarded Greta").await;
    let queue = RedisWebhookStore::connect(&settings.redis.url, &settings.redis.namespace).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut letters = Vec::new();
    while letters.is_empty() && tokio::time::Instant::now() < deadline {
        letters = queue.dead_letters("internal", 0, i64::MAX, 10).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let letter = letters.first().expect("dead-lettered after the schedule");
    assert_eq!((letter.reason.as_str(), letter.delivery.attempts), ("schedule_exhausted", 2));
    let failure = letter.delivery.last_failure.as_ref().expect("why");
    assert!(failure.detail.contains("refused addresses"), "{failure:?}");
    assert!(receiver.seen().is_empty(), "nothing reached the loopback receiver");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_through_the_admin_api() {
    // Down long enough for each of the lead's three events to use up a two-attempt schedule.
    let (receiver, url) = Receiver::start(vec![(StatusCode::INTERNAL_SERVER_ERROR, None); 6]).await;
    let mut settings = webhook_settings(vec![subscription("crm", &url, &[])]);
    settings.webhooks.retry_schedule_secs = vec![0.2];
    settings.http.admin_token = Some("admin-secret".into());
    let (pipeline, lead) = pipeline_with_one_lead(&settings, "Replayed Rosa").await;
    let admin =
        serve_loopback(speedlead::http::webhooks_admin::routes(pipeline.webhooks_admin(&settings))).await;
    let http = reqwest::Client::new();
    let letters_url = format!("{admin}/v1/admin/webhooks/crm/dead-letters");
    let list = || async {
        let answer = http.get(&letters_url).bearer_auth("admin-secret").send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.json::<Value>().await.unwrap()["dead_letters"].as_array().cloned().unwrap_or_default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut letters = list().await;
    while letters.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        letters = list().await;
    }
    assert_eq!(letters.len(), 3, "{letters:#?}");
    for letter in &letters {
        assert_eq!(letter["reason"], "schedule_exhausted");
        assert_eq!((letter["attempts"].as_u64(), letter["last_status"].as_u64()), (Some(2), Some(500)));
        assert_eq!(letter["request_body"]["data"]["lead_id"], lead.to_string(), "the request is kept");
    }

    // Without the token nothing is listed or replayed.
    let anonymous = http.get(&letters_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.unwrap()["field"], "authorization");
    let bad_range =
        http.get(format!("{letters_url}?from=yesterday")).bearer_auth("admin-secret").send().await;
    assert_eq!(bad_range.unwrap().json::<Value>().await.unwrap()["field"], "from");

    // The receiver is back: replay the assignment alone, then the rest by time range.
    let assigned = letters.iter().find(|l| l["type"] == "lead.assigned").expect("assignment dead-lettered");
    let one = format!("{letters_url}/{}/replay", assigned["delivery_id"].as_str().unwrap());
    let answer = http.post(&one).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(answer.status(), 202);
    receiver.until(Duration::from_secs(10), |r| !r.delivered().is_empty()).await;
    let delivered: Vec<String> =
        receiver.seen().into_iter().filter(|r| r.answered == 200).map(|r| r.event_type).collect();
    assert_eq!(delivered, vec!["lead.assigned".to_string()]);

    let range = format!("{letters_url}/replay?from=0&to={}", chrono::Utc::now().timestamp_millis());
    let answer = http.post(&range).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(answer.json::<Value>().await.unwrap()["replayed"], 2);
    receiver.until(Duration::from_secs(10), |r| r.delivered().len() == 3).await;
    assert_eq!(receiver.delivered().len(), 3, "every event delivered once: {:?}", receiver.delivered());
    assert!(list().await.is_empty(), "replayed letters are no longer dead");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_made_through_the_admin_api_gets_events_until_it_is_removed() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let mut settings = webhook_settings(vec![]);
    settings.http.admin_token = Some("admin-secret".into());
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    let admin =
        serve_loopback(speedlead::http::webhooks_admin::routes(pipeline.webhooks_admin(&settings))).await;
    let http = reqwest::Client::new();
    let hooks = format!("{admin}/v1/admin/webhooks");
    let subscribe = |body: Value| http.post(&hooks).bearer_auth("admin-secret").json(&body).send();

    let made = subscribe(serde_json::json!({
        "id": "crm", "url": url, "events": ["lead.assigned"], "secrets": [OLD_SECRET],
    }))
    .await
    .unwrap();
    assert_eq!(made.status(), 201);
    let taken = subscribe(serde_json::json!({ "id": "crm", "url": url })).await.unwrap();
    assert_eq!(taken.status(), 409);
    let odd = subscribe(serde_json::json!({ "url": url, "events": ["lead.exploded"] })).await.unwrap();
    assert_eq!(odd.status(), 400);
    assert_eq!(odd.json::<Value>().await.unwrap()["field"], "events");
    let listed: Value =
        http.get(&hooks).bearer_auth("admin-secret").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["subscriptions"][0]["source"], "api");

    let mut leads = LeadPublisher::new(&settings);
    leads.send(german_lead_named(&format!("wh-{}", Uuid::new_v4().simple()), "e-1", "Subscribed Sara")).await;
    let lead = leads.sent[0].lead_id;
    receiver.until(Duration::from_secs(30), |r| !r.delivered().is_empty()).await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "only the type it asked for: {seen:#?}");
    assert_eq!((seen[0].event_type.as_str(), seen[0].signed_by.0), ("lead.assigned", true));
    assert_eq!(seen[0].body["data"]["lead_id"], lead.to_string());

    let removed = http.delete(format!("{hooks}/crm")).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(removed.status(), 204);
    leads.send(german_lead_named(&format!("wh-{}", Uuid::new_v4().simple()), "e-2", "Unheard Una")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.seen().len(), 1, "nothing after unsubscribing");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_subscription_gets_each_leads_events_in_order_even_while_one_is_retried() {
    // The first request of the lead fails three times; its later events must wait for it.
    let down = (StatusCode::SERVICE_UNAVAILABLE, None);
    let (receiver, url) = Receiver::start(vec![down, down, down]).await;
    let ordered = Subscription { ordered_by_lead: true, ..subscription("ordered", &url, &[]) };
    let settings = webhook_settings(vec![ordered]);
    let (pipeline, lead) = pipeline_with_one_lead(&settings, "Ordered Olivia").await;
    receiver.until(Duration::from_secs(60), |r| r.delivered().len() == 3).await;

    // The order the lead's events have on leads.events (one partition per lead).
    let reader =
        assigned_reader(&settings, &settings.kafka.brokers, &names(&settings), &[Topic::Events]).unwrap();
    let mut logged = Vec::new();
    while logged.len() < 3 {
        let message =
            tokio::time::timeout(Duration::from_secs(30), reader.recv()).await.expect("event").unwrap();
        let value: Value = serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
        let id = value["id"].as_str().unwrap_or_default().to_string();
        let about_lead = value["payload"]["lead_id"] == lead.to_string();
        if about_lead && receiver.delivered().contains_key(&id) {
            logged.push(id);
        }
    }
    let seen = receiver.seen();
    let failed: BTreeSet<&str> = seen.iter().filter(|r| r.answered == 503).map(|r| r.id.as_str()).collect();
    assert_eq!(
        failed.into_iter().collect::<Vec<_>>(),
        vec![logged[0].as_str()],
        "only the head was tried: {seen:#?}"
    );
    let delivered: Vec<String> = seen.iter().filter(|r| r.answered == 200).map(|r| r.id.clone()).collect();
    assert_eq!(delivered, logged, "delivered in the order they happened");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_person_with_a_new_title_goes_out_as_lead_updated_with_old_and_new() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let settings = webhook_settings(vec![subscription("updates", &url, &["lead.updated"])]);
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    let source = format!("wh-{}", Uuid::new_v4().simple());
    let first = german_lead_named(&source, "e-1", "Returning Rita");
    let mut second = german_lead_named(&source, "e-2", "Returning Rita");
    second.contact.email = first.contact.email.clone();
    second.contact.title = Some("Head of Sales".into());
    let mut leads = LeadPublisher::new(&settings);
    leads.send(first).await;
    leads.send(second).await;

    receiver.until(Duration::from_secs(30), |r| !r.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "only the second capture changed anything: {seen:#?}");
    let data = &seen[0].body["data"];
    assert_eq!(seen[0].event_type, "lead.updated");
    assert_eq!(data["changes"]["title"], serde_json::json!({"old": null, "new": "Head of Sales"}));
    assert_eq!(data["lead_id"], leads.sent[0].lead_id.to_string(), "the lead the person already had");
    assert_eq!(data["lead"]["contact"]["title"], "Head of Sales");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_webhooks_on_sends_what_happens_from_then_on_not_the_topics_history() {
    let (receiver, url) = Receiver::start(vec![]).await;
    let settings = webhook_settings(vec![subscription("fresh", &url, &["lead.acknowledged"])]);
    create_test_topics(&settings).await;
    // An event from before webhooks were switched on, still in the topic.
    let ack = |rep: &str| {
        let ack = speedlead_topics::Ack {
            lead_id: Uuid::new_v4(),
            routing_domain: "emea".into(),
            rep_id: rep.into(),
            attempt: 1,
        };
        let envelope = speedlead_topics::Envelope::new(
            "lead.acknowledged",
            ack.lead_id,
            speedlead_topics::LeadEvent::Acknowledged(ack),
        );
        Outbound {
            topic: Topic::Events,
            key: envelope.correlation_id.to_string(),
            payload: serde_json::to_vec(&envelope).unwrap(),
        }
    };
    let producer =
        KafkaPublisher::new(&client::producer(&settings.kafka, &settings.kafka.brokers), names(&settings))
            .unwrap();
    producer.publish(vec![ack("before")]).await.unwrap();

    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    // The group's start position is taken once it has its partitions; give it a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    producer.publish(vec![ack("after")]).await.unwrap();
    receiver.until(Duration::from_secs(30), |r| !r.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reps: Vec<Value> = receiver.seen().iter().map(|r| r.body["data"]["rep_id"].clone()).collect();
    assert_eq!(reps, vec![Value::from("after")]);
    pipeline.shutdown().await;
}
