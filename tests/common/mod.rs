//! Shared helpers for the integration tests: they talk to the real broker and Redis that
//! `scripts/test.sh` started and exported as `SL_TEST_BROKERS` / `SL_TEST_REDIS`.
//! Every test works in its own topic prefix, consumer groups and Redis namespace.

#![allow(dead_code)]

pub mod gateway;
pub mod process;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::StreamConsumer;
use rdkafka::message::Message;
use speedlead::config::Settings;
use speedlead::demo::assigned_reader;
use speedlead::kafka::admin::create_topics;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead::kafka::{client, TopicNames};
use speedlead::sample::{captured, SampleLeads};
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::{Assignment, DeadLetter, Envelope, InboundLead, Topic};
use uuid::Uuid;

pub fn brokers() -> String {
    std::env::var("SL_TEST_BROKERS")
        .expect("SL_TEST_BROKERS is not set: run the integration tests through scripts/test.sh")
}

pub fn redis_url() -> String {
    std::env::var("SL_TEST_REDIS")
        .expect("SL_TEST_REDIS is not set: run the integration tests through scripts/test.sh")
}

/// Settings for an isolated test: fresh topic prefix, groups and Redis namespace.
pub fn isolated_settings() -> Settings {
    let run = format!("t{}", &Uuid::new_v4().simple().to_string()[..10]);
    let mut s = Settings::defaults();
    s.kafka.brokers = brokers();
    s.kafka.topic_prefix = format!("{run}.");
    s.kafka.group_prefix = run.clone();
    s.kafka.partitions = 3;
    s.redis.url = redis_url();
    s.redis.namespace = run;
    s.pipeline.initial_backoff_ms = 10;
    s.pipeline.max_backoff_ms = 200;
    s
}

/// [`isolated_settings`] for tests of delivery itself (order, crashes, rebalances): they send many
/// captures of one person and follow each through the pipeline, so returning people must not merge
/// into one lead there. Dedupe has its own tests.
pub fn delivery_settings() -> Settings {
    let mut s = isolated_settings();
    s.dedupe.enabled = false;
    s
}

pub async fn create_test_topics(settings: &Settings) {
    create_topics(&settings.kafka, &names(settings)).await.expect("topics created");
}

/// The pipeline on `settings`' broker, topics and Redis namespace (not yet waited for).
pub async fn start_pipeline(
    settings: &Settings,
    wrappers: speedlead::pipeline::StageWrappers,
) -> speedlead::pipeline::Pipeline {
    let store = speedlead::store::connect(&settings.redis).await.expect("redis");
    speedlead::pipeline::Pipeline::start(settings, &settings.kafka.brokers, store, wrappers)
        .await
        .expect("pipeline")
}

/// Serves `app` on a free loopback port (a stand-in for a provider's API); returns its base URL.
pub async fn serve_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

pub fn names(settings: &Settings) -> TopicNames {
    TopicNames::new(&settings.kafka.topic_prefix)
}

/// One lead to publish, with its place in the test's sequence.
pub struct SentLead {
    pub seq: usize,
    pub lead_id: Uuid,
    pub key: String,
}

/// `people` distinct people sending `events_each` leads each, interleaved, so several leads share a
/// key (and so a partition) and their order can be checked.
pub fn leads_from_people(seed: u64, people: usize, events_each: usize) -> Vec<InboundLead> {
    let mut samples = SampleLeads::new(seed, format!("it-{}", Uuid::new_v4().simple()));
    let persons: Vec<InboundLead> = (0..people).map(|_| samples.next_lead()).collect();
    let mut out = Vec::new();
    for round in 0..events_each {
        for (i, person) in persons.iter().enumerate() {
            let mut lead = person.clone();
            lead.event_id = format!("p{i}-r{round}");
            out.push(lead);
        }
    }
    out
}

pub struct LeadPublisher {
    publisher: KafkaPublisher,
    pub sent: Vec<SentLead>,
}

impl LeadPublisher {
    pub fn new(settings: &Settings) -> Self {
        let publisher =
            KafkaPublisher::new(&client::producer(&settings.kafka, &settings.kafka.brokers), names(settings))
                .expect("producer");
        LeadPublisher { publisher, sent: Vec::new() }
    }

    pub async fn send(&mut self, lead: InboundLead) {
        let (key, envelope) = captured(lead);
        self.sent.push(SentLead { seq: self.sent.len(), lead_id: envelope.correlation_id, key: key.clone() });
        let payload = serde_json::to_vec(&envelope).unwrap();
        self.publisher
            .publish(vec![Outbound { topic: Topic::Inbound, key, payload }])
            .await
            .expect("published");
    }

    pub async fn send_raw(&mut self, key: &str, payload: Vec<u8>) {
        self.publisher
            .publish(vec![Outbound { topic: Topic::Inbound, key: key.into(), payload }])
            .await
            .expect("published");
    }
}

/// Everything that came out of `leads.assignments` and `leads.dlq`.
#[derive(Default)]
pub struct Observed {
    /// Every assignment message, in the order read per partition.
    pub assignments: Vec<Assignment>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Observed {
    /// Distinct reps seen per lead.
    pub fn reps_per_lead(&self) -> HashMap<Uuid, Vec<String>> {
        let mut reps: HashMap<Uuid, Vec<String>> = HashMap::new();
        for a in &self.assignments {
            let entry = reps.entry(a.lead_id).or_default();
            if !entry.contains(&a.rep_id) {
                entry.push(a.rep_id.clone());
            }
        }
        reps
    }

    /// Asserts every sent lead was assigned, and never to two reps.
    pub fn assert_all_assigned_once(&self, sent: &[SentLead]) {
        let reps = self.reps_per_lead();
        let missing: Vec<usize> =
            sent.iter().filter(|s| !reps.contains_key(&s.lead_id)).map(|s| s.seq).collect();
        assert!(missing.is_empty(), "{} of {} leads never assigned: {missing:?}", missing.len(), sent.len());
        let doubled: Vec<_> = reps.iter().filter(|(_, r)| r.len() > 1).collect();
        assert!(doubled.is_empty(), "leads assigned to more than one rep: {doubled:?}");
    }

    /// Asserts leads sharing a key were first assigned in the order they were sent.
    pub fn assert_per_key_order(&self, sent: &[SentLead]) {
        let seq_of: HashMap<Uuid, &SentLead> = sent.iter().map(|s| (s.lead_id, s)).collect();
        let mut last_seq_per_key: BTreeMap<&str, usize> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for a in &self.assignments {
            let Some(s) = seq_of.get(&a.lead_id) else { continue };
            if !seen.insert(a.lead_id) {
                continue; // a redelivery: only first occurrences carry the order
            }
            if let Some(prev) = last_seq_per_key.insert(&s.key, s.seq) {
                assert!(prev < s.seq, "key {} out of order: lead #{} assigned after #{}", s.key, s.seq, prev);
            }
        }
    }

    /// How many assignment messages were duplicates of an earlier one (redeliveries).
    pub fn duplicate_messages(&self) -> usize {
        self.assignments.len() - self.reps_per_lead().len()
    }
}

/// Reads `leads.assignments` and `leads.dlq` until `done` holds or `timeout` passes.
pub struct OutputReader {
    reader: StreamConsumer,
    dlq_topic: String,
    pub observed: Observed,
}

impl OutputReader {
    pub fn new(settings: &Settings) -> Self {
        let n = names(settings);
        let reader =
            assigned_reader(settings, &settings.kafka.brokers, &n, &[Topic::Assignments, Topic::Dlq])
                .expect("reader");
        OutputReader { reader, dlq_topic: n.name(Topic::Dlq), observed: Observed::default() }
    }

    pub async fn read_until(&mut self, timeout: Duration, done: impl Fn(&Observed) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.observed) {
            let next = tokio::time::timeout_at(deadline, self.reader.recv()).await;
            let Ok(message) = next else { return };
            let message = message.expect("read from broker");
            let payload = message.payload().unwrap_or_default();
            if message.topic() == self.dlq_topic {
                let letter: Envelope<DeadLetter> =
                    serde_json::from_slice(payload).expect("dead letter parses");
                self.observed.dead_letters.push(letter.payload);
            } else {
                let a: Envelope<Assignment> = serde_json::from_slice(payload).expect("assignment parses");
                self.observed.assignments.push(a.payload);
            }
        }
    }

    /// Reads until every sent lead was assigned at least once.
    pub async fn read_all_assigned(&mut self, sent: &[SentLead], timeout: Duration) {
        let want: std::collections::HashSet<Uuid> = sent.iter().map(|s| s.lead_id).collect();
        self.read_until(timeout, |o| {
            let got: std::collections::HashSet<Uuid> = o.assignments.iter().map(|a| a.lead_id).collect();
            want.is_subset(&got)
        })
        .await;
    }
}

/// A new lead from Germany (routed to `emea`) named `name`, with a fresh email and no company (so
/// no account match sends it to an earlier lead's rep).
pub fn german_lead_named(source: &str, event_id: &str, name: &str) -> InboundLead {
    let contact = speedlead_topics::Contact {
        name: Some(name.into()),
        email: Some(format!("{}@example.de", Uuid::new_v4().simple())),
        country: Some("DE".into()),
        ..Default::default()
    };
    InboundLead::new(source, event_id, contact)
}

/// The accept-link routes as `serve` has them: acks published through a capture-style producer.
pub async fn ack_routes(
    settings: &Settings,
) -> (axum::Router, std::sync::Arc<dyn speedlead_actors::store::Store>) {
    let store = speedlead::store::connect(&settings.redis).await.expect("redis");
    let producer = client::capture_producer(&settings.kafka, &settings.kafka.brokers, 5_000);
    let publisher = std::sync::Arc::new(KafkaPublisher::new(&producer, names(settings)).expect("producer"));
    let state = speedlead::http::acks::AcksState::new(settings, store.clone(), publisher);
    (speedlead::http::acks::routes(state), store)
}
