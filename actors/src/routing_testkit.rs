//! A router on an in-memory store with a hand-driven clock, for tests of routing, escalation and
//! acks.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use speedlead_topics::{event_type, Assignment, Contact, LeadEvent, QualifiedLead, Score, Topic};

use crate::ack_token::AckSigner;
use crate::codec::parse_envelope;
use crate::dispatch::{DispatchSettings, Dispatcher};
use crate::ports::Outbound;
use crate::router::RouterStage;
use crate::rules::{shared, Routing, RoutingConfig};
use crate::stage::Stage;
use crate::store::MemoryStore;
use crate::testkit::{envelope_record, record, RecordingPublisher};

pub const SECRET: &[u8] = b"routing-tests-secret-0123456789";

/// Wednesday 2026-11-25 12:00 UTC.
pub fn noon() -> DateTime<Utc> {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

/// na: pool `sales` (ana, ben, cy; backup `bench`), pool `bench` (dan, who speaks Spanish), cy's
/// manager max; rule `spanish` sends Spanish speakers to `bench` with a 60 s SLA. emea: dora.
pub fn config() -> RoutingConfig {
    serde_json::from_value(serde_json::json!({
        "default_domain": "na",
        "domains": [
            {
                "name": "na",
                "countries": ["US"],
                "reps": [
                    {"id": "ana"}, {"id": "ben"}, {"id": "cy", "manager": "max"},
                    {"id": "dan", "skills": ["language:es"]}, {"id": "max"}
                ],
                "pools": [
                    {"name": "sales", "reps": ["ana", "ben", "cy"], "backup": "bench"},
                    {"name": "bench", "reps": ["dan"]}
                ],
                "default_pool": "sales"
            },
            {"name": "emea", "countries": ["DE"], "reps": [{"id": "dora"}]}
        ],
        "rules": [{
            "name": "spanish", "domain": "na", "pool": "bench",
            "when": {"languages": ["es"]}, "required_skills": ["language:{language}"], "sla_secs": 60
        }]
    }))
    .unwrap()
}

pub struct Desk {
    pub stage: RouterStage,
    pub dispatcher: Arc<Dispatcher>,
    pub store: Arc<MemoryStore>,
    pub publisher: Arc<RecordingPublisher>,
    clock: Arc<AtomicI64>,
}

impl Desk {
    pub fn new(config: RoutingConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let publisher = Arc::new(RecordingPublisher::default());
        let clock = Arc::new(AtomicI64::new(noon().timestamp_millis()));
        let reading = clock.clone();
        let settings = DispatchSettings {
            decision_ttl: Duration::from_secs(3600),
            token_ttl: Duration::from_secs(86_400),
        };
        let routing = shared(Routing::new(config).unwrap());
        let dispatcher = Dispatcher::new(
            routing,
            store.clone(),
            publisher.clone(),
            AckSigner::new(vec![SECRET.to_vec()]),
            settings,
        )
        .with_clock(Arc::new(move || reading.load(Ordering::SeqCst)));
        let dispatcher = Arc::new(dispatcher);
        Desk { stage: RouterStage::new(dispatcher.clone()), dispatcher, store, publisher, clock }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        self.clock.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    pub async fn route(&self, lead: &QualifiedLead) -> Vec<Outbound> {
        self.stage.process(&envelope_record(0, event_type::QUALIFIED, lead)).await.unwrap()
    }

    /// Assignments published by escalations and overflow offers, in order.
    pub fn published_assignments(&self) -> Vec<Assignment> {
        self.publisher
            .sent_to(Topic::Assignments)
            .iter()
            .filter_map(|o| assignment(std::slice::from_ref(o)))
            .collect()
    }

    pub fn published_events(&self) -> Vec<LeadEvent> {
        events(&self.publisher.sent_to(Topic::Events))
    }
}

/// A qualified lead of `domain` (no owner, no score unless `grade`).
pub fn lead(name: &str, domain: &str, grade: Option<&str>) -> QualifiedLead {
    let email = format!("{name}@example.com");
    QualifiedLead {
        lead_id: speedlead_topics::lead_id("web-form", name),
        lead_key: email.clone(),
        routing_domain: domain.into(),
        source: "web-form".into(),
        event_id: name.into(),
        contact: Contact { email: Some(email), country: Some("US".into()), ..Default::default() },
        attribution: Default::default(),
        consent: Default::default(),
        signals: Default::default(),
        warnings: Vec::new(),
        merge: None,
        account: None,
        enrichment: None,
        score: grade.map(|g| Score {
            score: 90,
            grade: g.into(),
            rules: 90,
            model_probability: None,
            model_outcomes: 0,
            contributions: Default::default(),
        }),
    }
}

pub fn assignment(out: &[Outbound]) -> Option<Assignment> {
    let a = out.iter().find(|o| o.topic == Topic::Assignments)?;
    Some(parse_envelope::<Assignment>(&record(0, &a.payload)).unwrap().payload)
}

pub fn events(out: &[Outbound]) -> Vec<LeadEvent> {
    out.iter()
        .filter(|o| o.topic == Topic::Events)
        .map(|o| parse_envelope::<LeadEvent>(&record(0, &o.payload)).unwrap().payload)
        .collect()
}
