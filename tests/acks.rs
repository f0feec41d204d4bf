//! Ack links on the real broker and Redis: a rep's POST acknowledges the route in Redis and puts
//! the `Ack` on `leads.acks`; a POST for an attempt that was escalated away is refused with 409 and
//! the refusal lands on `leads.events`. A GET (a link preview) changes nothing.
#![cfg(feature = "integration")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rdkafka::message::Message;
use serde_json::Value;
use speedlead::config::Settings;
use speedlead::demo::assigned_reader;
use speedlead::http::acks::{routes, AcksState};
use speedlead::kafka::client;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead_actors::ack_token::AckClaims;
use speedlead_actors::routing_store::{Caps, Committed, RouteCommit, RouteRecord};
use speedlead_actors::store::Store;
use speedlead_topics::{event_type, Ack, Envelope, LeadEvent, Topic};
use uuid::Uuid;

struct AckServer {
    settings: Settings,
    store: Arc<dyn Store>,
    client: reqwest::Client,
}

impl AckServer {
    /// The ack routes on loopback over the test's Redis namespace and topics, publishing through a
    /// capture-style producer as `serve` does.
    async fn start() -> Self {
        let mut settings = isolated_settings();
        create_test_topics(&settings).await;
        let store = speedlead::store::connect(&settings.redis).await.expect("redis");
        let config = client::capture_producer(
            &settings.kafka,
            &settings.kafka.brokers,
            settings.capture.publish_timeout_ms,
        );
        let publisher = Arc::new(KafkaPublisher::new(&config, names(&settings)).expect("producer"));
        let state = AcksState::new(&settings, store.clone(), publisher);
        let base = serve_loopback(routes(state)).await;
        settings.acks.public_base_url = base;
        AckServer { settings, store, client: reqwest::Client::new() }
    }

    /// Commits `attempt` of `lead` to `rep` in emea, as the router (or, with `replaces`, the
    /// escalation timer) would; returns the rep's accept link.
    async fn assign(&self, lead: Uuid, rep: &str, attempt: u32, replaces: Option<u32>) -> String {
        let now = chrono::Utc::now();
        let commit = RouteCommit {
            domain: "emea".into(),
            lead_id: lead.to_string(),
            record: RouteRecord {
                sla_ms: 0,
                parked: false,
                released: false,
                lead_key: format!("{lead}@example.com"),
                rep_id: rep.into(),
                attempt,
                pool: "all".into(),
                rule: None,
                reason: if replaces.is_some() { "sla_escalation" } else { "round_robin" }.into(),
                assigned_ms: now.timestamp_millis(),
                due_ms: now.timestamp_millis() + 300_000,
                acked: false,
                required_skills: vec![],
                tried: if replaces.is_some() { vec!["dora".into()] } else { vec![] },
                summary: None,
            },
            rep_day: now.format("%Y-%m-%d").to_string(),
            caps: Caps::default(),
            cursor: None,
            replaces,
            miss: None,
            from_overflow: None,
        };
        let committed = self.store.commit_route(&commit, Duration::from_secs(3600)).await.expect("redis");
        assert!(matches!(committed, Committed::Fresh(_)), "{committed:?}");
        let claims = AckClaims {
            lead_id: lead,
            domain: "emea".into(),
            rep_id: rep.into(),
            attempt,
            expires_at: now.timestamp() + self.settings.acks.token_ttl_secs as i64,
        };
        self.settings.acks.link(&self.settings.acks.signer().sign(&claims))
    }

    async fn post(&self, link: &str) -> reqwest::Response {
        self.client.post(link).header("accept", "application/json").send().await.expect("server answers")
    }

    /// Every message on `topic` until `idle` passes with nothing new, as (key, value).
    async fn read(&self, topic: Topic, idle: Duration) -> Vec<(String, Vec<u8>)> {
        let s = &self.settings;
        let reader = assigned_reader(s, &s.kafka.brokers, &names(s), &[topic]).expect("reader");
        let mut out = Vec::new();
        while let Ok(message) = tokio::time::timeout(idle, reader.recv()).await {
            let message = message.expect("read from broker");
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            out.push((key, message.payload().unwrap_or_default().to_vec()));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_link_puts_the_ack_on_leads_acks() {
    let server = AckServer::start().await;
    let lead = Uuid::new_v4();
    let link = server.assign(lead, "dora", 1, None).await;

    let preview = server.client.get(&link).send().await.unwrap();
    assert_eq!(preview.status(), 200);
    assert!(preview.text().await.unwrap().contains("Accept lead"));
    let route = server.store.route("emea", &lead.to_string()).await.unwrap().unwrap();
    assert!(!route.acked, "a preview does not accept");

    let response = server.post(&link).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    let again: Value = server.post(&link).await.json().await.unwrap();
    assert_eq!(again["status"], "already_accepted");
    assert!(server.store.route("emea", &lead.to_string()).await.unwrap().unwrap().acked);

    let acks = server.read(Topic::Acks, Duration::from_secs(2)).await;
    assert_eq!(acks.len(), 2, "one message per POST, both with the same id");
    let envelopes: Vec<Envelope<Ack>> =
        acks.iter().map(|(_, value)| serde_json::from_slice(value).expect("an Ack envelope")).collect();
    assert!(acks.iter().all(|(key, _)| key == "emea"));
    assert_eq!(envelopes[0].id, envelopes[1].id);
    assert_eq!(envelopes[0].event_type, event_type::ACKNOWLEDGED);
    let expected = Ack { lead_id: lead, routing_domain: "emea".into(), rep_id: "dora".into(), attempt: 1 };
    assert_eq!(envelopes[0].payload, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_escalated_attempt_is_refused() {
    let server = AckServer::start().await;
    let lead = Uuid::new_v4();
    let dora = server.assign(lead, "dora", 1, None).await;
    let emil = server.assign(lead, "emil", 2, Some(1)).await;

    let refused = server.post(&dora).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!((body["field"].as_str(), body["current_attempt"].as_u64()), (Some("token"), Some(2)));
    assert!(!body.to_string().contains("emil"));

    let events = server.read(Topic::Events, Duration::from_secs(2)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, lead.to_string());
    let envelope: Envelope<LeadEvent> = serde_json::from_slice(&events[0].1).unwrap();
    assert_eq!(envelope.event_type, event_type::ACK_REFUSED);
    let LeadEvent::AckRefused(refusal) = envelope.payload else { panic!("{:?}", envelope.payload) };
    assert_eq!((refusal.current_rep_id.as_str(), refusal.current_attempt), ("emil", 2));

    assert_eq!(server.post(&emil).await.status(), 200, "the current rep still can");
    let acks = server.read(Topic::Acks, Duration::from_secs(2)).await;
    assert_eq!(acks.len(), 1);
    let ack: Envelope<Ack> = serde_json::from_slice(&acks[0].1).unwrap();
    assert_eq!((ack.payload.rep_id.as_str(), ack.payload.attempt), ("emil", 2));
}
