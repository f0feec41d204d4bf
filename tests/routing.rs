//! SLA escalation on the real broker and Redis: a lead nobody accepts moves to the next rep when
//! its SLA passes, an accepted one stays, and a router process killed while deadlines are pending
//! is replaced by one that re-arms them from Redis and still escalates on time.
#![cfg(feature = "integration")]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::process::SpeedleadProcess;
use common::*;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::Message;
use speedlead::config::Settings;
use speedlead::demo::assigned_reader;
use speedlead::kafka::client;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead_topics::{Assignment, Envelope, InboundLead, LeadEvent, Topic};
use uuid::Uuid;

/// Assignments (with when they were published) and lifecycle events, as read from the broker.
struct Routed {
    reader: StreamConsumer,
    assignments_topic: String,
    assignments: Vec<(Assignment, DateTime<Utc>)>,
    events: Vec<LeadEvent>,
}

impl Routed {
    fn new(settings: &Settings) -> Self {
        let n = names(settings);
        let topics = [Topic::Assignments, Topic::Events];
        let reader = assigned_reader(settings, &settings.kafka.brokers, &n, &topics).expect("reader");
        Routed {
            reader,
            assignments_topic: n.name(Topic::Assignments),
            assignments: Vec::new(),
            events: Vec::new(),
        }
    }

    async fn read_until(&mut self, timeout: Duration, done: impl Fn(&Routed) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) {
            let Ok(message) = tokio::time::timeout_at(deadline, self.reader.recv()).await else { return };
            let message = message.expect("read from broker");
            let payload = message.payload().unwrap_or_default();
            if message.topic() == self.assignments_topic {
                let a: Envelope<Assignment> = serde_json::from_slice(payload).expect("assignment parses");
                self.assignments.push((a.payload, a.occurred_at));
            } else {
                let e: Envelope<LeadEvent> = serde_json::from_slice(payload).expect("event parses");
                self.events.push(e.payload);
            }
        }
    }

    /// The first message of each attempt of `lead`.
    fn attempts(&self, lead: Uuid) -> HashMap<u32, (Assignment, DateTime<Utc>)> {
        let mut out = HashMap::new();
        for (a, at) in self.assignments.iter().filter(|(a, _)| a.lead_id == lead) {
            out.entry(a.attempt).or_insert_with(|| (a.clone(), *at));
        }
        out
    }

    fn escalated(&self, lead: Uuid) -> bool {
        self.events.iter().any(|e| matches!(e, LeadEvent::Escalated(x) if x.lead_id == lead))
    }

    fn acknowledged(&self, lead: Uuid) -> bool {
        self.events.iter().any(|e| matches!(e, LeadEvent::Acknowledged(x) if x.lead_id == lead))
    }
}

/// A lead from a new person in Germany: routed in emea (dora, emil).
fn german_lead(source: &str, n: usize) -> InboundLead {
    german_lead_named(source, &format!("evt-{n}"), &format!("Person {n}"))
}

/// How late the escalation was published after the missed attempt's deadline.
fn lateness(missed: &Assignment, escalated_at: DateTime<Utc>) -> chrono::Duration {
    escalated_at - missed.sla_due_at.expect("assignments carry their SLA deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unaccepted_lead_moves_on_after_its_sla_and_an_accepted_one_stays() {
    let mut settings = isolated_settings();
    settings.routing.sla.default_secs = 3;
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    // The accept links, served as `serve` does (the capture producer publishes the acks).
    let store = speedlead::store::connect(&settings.redis).await.expect("redis");
    let producer = client::capture_producer(&settings.kafka, &settings.kafka.brokers, 5_000);
    let publisher = Arc::new(KafkaPublisher::new(&producer, names(&settings)).expect("producer"));
    let state = speedlead::http::acks::AcksState::new(&settings, store, publisher);
    let base = serve_loopback(speedlead::http::acks::routes(state)).await;

    let source = format!("sla-{}", Uuid::new_v4().simple());
    let mut leads = LeadPublisher::new(&settings);
    leads.send(german_lead(&source, 1)).await;
    leads.send(german_lead(&source, 2)).await;
    let (accepted, ignored) = (leads.sent[0].lead_id, leads.sent[1].lead_id);
    let mut routed = Routed::new(&settings);
    routed
        .read_until(Duration::from_secs(60), |r| {
            !r.attempts(accepted).is_empty() && !r.attempts(ignored).is_empty()
        })
        .await;
    let Some((first, _)) = routed.attempts(accepted).remove(&1) else {
        panic!("not assigned: {} assignments, events {:?}", routed.assignments.len(), routed.events)
    };
    assert_eq!(first.routing_domain, "emea");

    let link = format!("{base}/v1/acks/{}", first.ack_token);
    let answer =
        reqwest::Client::new().post(&link).header("accept", "application/json").send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());

    routed
        .read_until(Duration::from_secs(15), |r| {
            r.attempts(ignored).contains_key(&2) && r.acknowledged(accepted) && r.escalated(ignored)
        })
        .await;
    let attempts = routed.attempts(ignored);
    let (missed, _) = &attempts[&1];
    let (moved, at) = attempts.get(&2).expect("the ignored lead moved to the next rep");
    assert_ne!(moved.rep_id, missed.rep_id);
    assert_eq!(moved.reason, "escalated_next_in_pool");
    let late = lateness(missed, *at);
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::seconds(1),
        "escalated {late} after due"
    );
    assert!(routed.escalated(ignored), "lead.escalated on leads.events");
    assert!(routed.acknowledged(accepted), "lead.acknowledged on leads.events");

    // The accepted lead stays with its rep well past its deadline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    routed.read_until(Duration::from_secs(1), |_| false).await;
    assert_eq!(routed.attempts(accepted).len(), 1, "an accepted lead never escalates");
    assert!(!routed.escalated(accepted));
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_router_process_is_replaced_and_its_deadlines_still_fire_on_time() {
    let settings = isolated_settings();
    create_test_topics(&settings).await;
    let sla = [("SPEEDLEAD_ROUTING__SLA__DEFAULT_SECS", "10")];
    let first = SpeedleadProcess::serve_with(&settings, "first", &sla).await;
    let source = format!("kill-{}", Uuid::new_v4().simple());
    let mut leads = LeadPublisher::new(&settings);
    for n in 0..3 {
        leads.send(german_lead(&source, n)).await;
    }
    let ids: Vec<Uuid> = leads.sent.iter().map(|s| s.lead_id).collect();
    let mut routed = Routed::new(&settings);
    routed
        .read_until(Duration::from_secs(60), |r| ids.iter().all(|id| r.attempts(*id).contains_key(&1)))
        .await;
    first.crash();

    // A process that never saw these leads: it learns their deadlines from Redis alone.
    let second = SpeedleadProcess::serve_with(&settings, "second", &sla).await;
    routed
        .read_until(Duration::from_secs(30), |r| ids.iter().all(|id| r.attempts(*id).contains_key(&2)))
        .await;
    for id in &ids {
        let attempts = routed.attempts(*id);
        let (missed, _) = &attempts[&1];
        let Some((moved, at)) = attempts.get(&2) else {
            panic!("lead {id} was not escalated after the crash; log:\n{}", second.log_text())
        };
        assert_ne!(moved.rep_id, missed.rep_id);
        let late = lateness(missed, *at);
        assert!(
            late >= chrono::Duration::zero() && late < chrono::Duration::seconds(1),
            "lead {id} escalated {late} after its deadline"
        );
    }
}

/// Never called on the first-assignment path (the router returns its messages).
struct Unused;

#[async_trait::async_trait]
impl speedlead_actors::ports::Publisher for Unused {
    async fn publish(
        &self,
        _: Vec<speedlead_actors::ports::Outbound>,
    ) -> Result<(), speedlead_actors::ports::PublishError> {
        Ok(())
    }
}

/// Two instances (two routers on one Redis namespace, as during a rebalance) race for one domain:
/// every lead gets exactly one rep, and the rotation stays fair to the lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_redis_share_a_domain_fairly() {
    use speedlead_actors::dispatch::{DispatchSettings, Dispatcher};
    use speedlead_actors::router::RouterStage;
    use speedlead_actors::stage::Stage;

    let settings = isolated_settings();
    let router = |store: Arc<dyn speedlead_actors::store::Store>| {
        let routing = speedlead_actors::rules::shared(settings.routing().unwrap());
        let dispatch = DispatchSettings {
            decision_ttl: Duration::from_secs(3600),
            token_ttl: Duration::from_secs(3600),
        };
        let dispatcher = Dispatcher::new(routing, store, Arc::new(Unused), settings.acks.signer(), dispatch);
        Arc::new(RouterStage::new(Arc::new(dispatcher)))
    };
    let instances = [
        router(speedlead::store::connect(&settings.redis).await.expect("redis")),
        router(speedlead::store::connect(&settings.redis).await.expect("redis")),
    ];
    let source = format!("race-{}", Uuid::new_v4().simple());
    let leads: Vec<_> = (0..120)
        .map(|n| {
            let inbound = german_lead(&source, n);
            let mut lead = speedlead_actors::intake::qualify(&inbound, &settings.routing().unwrap()).unwrap();
            lead.routing_domain = "emea".into();
            lead
        })
        .collect();
    let record = |lead: &speedlead_topics::QualifiedLead| {
        let envelope = Envelope::new("lead.qualified", lead.lead_id, lead.clone());
        speedlead_actors::ports::Record {
            topic: "leads.qualified".into(),
            partition: 0,
            offset: 0,
            key: Some(b"emea".to_vec()),
            payload: Some(serde_json::to_vec(&envelope).unwrap()),
            timestamp_ms: None,
            headers: Vec::new(),
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, chunk) in leads.chunks(10).enumerate() {
        let (stage, records) = (instances[i % 2].clone(), chunk.iter().map(record).collect::<Vec<_>>());
        tasks.spawn(async move {
            let mut reps = Vec::new();
            for r in &records {
                let out = stage.process(r).await.expect("routed");
                let a: Envelope<Assignment> = serde_json::from_slice(&out[0].payload).unwrap();
                reps.push((a.payload.lead_id, a.payload.rep_id));
            }
            reps
        });
    }
    let mut per_rep: HashMap<String, usize> = HashMap::new();
    let mut per_lead = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        for (lead, rep) in done.unwrap() {
            assert!(per_lead.insert(lead, rep.clone()).is_none(), "lead {lead} decided twice");
            *per_rep.entry(rep).or_default() += 1;
        }
    }
    assert_eq!(per_rep, HashMap::from([("dora".into(), 60), ("emil".into(), 60)]));
    // Both instances see the stored decision on redelivery.
    for (i, lead) in leads.iter().enumerate() {
        let out = instances[(i + 1) % 2].process(&record(lead)).await.unwrap();
        let a: Envelope<Assignment> = serde_json::from_slice(&out[0].payload).unwrap();
        assert_eq!(a.payload.rep_id, per_lead[&lead.lead_id]);
    }
}
