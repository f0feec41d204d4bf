//! Lead intelligence end to end on the real broker and Redis, with an enrichment API played by a
//! loopback server: a returning person merges into their lead (`lead.merged`) and stays with its
//! rep; a colleague goes to the account's owner; enrichment is fetched once per person and then read
//! from the Redis cache; every capture is scored (`lead.scored`, previous score for the returning
//! one); and a conversion outcome on `leads.outcomes` teaches the stored model exactly once.
#![cfg(feature = "integration")]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use rdkafka::message::Message;
use serde_json::json;
use speedlead::demo::assigned_reader;
use speedlead::enrich::{LookupKind, ProviderConfig};
use speedlead::kafka::client;
use speedlead::kafka::publisher::KafkaPublisher;
use speedlead_actors::model::Model;
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::{
    derived_id, event_type, lead_id, Contact, Envelope, InboundLead, LeadEvent, Outcome, QualifiedLead, Topic,
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Knows people at acme.io; counts every request.
async fn enrichment_api(hits: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/people",
        get(move |Query(q): Query<BTreeMap<String, String>>| {
            hits.fetch_add(1, Ordering::SeqCst);
            async move {
                let email = q.get("email").cloned().unwrap_or_default();
                if email.ends_with("@acme.io") {
                    Ok(Json(json!({
                        "company_name": "Acme Robotics", "domain": "acme.io", "employees": 450,
                        "industry": "software", "seniority": "vp"
                    })))
                } else {
                    Err(StatusCode::NOT_FOUND)
                }
            }
        }),
    );
    serve_loopback(app).await
}

fn lead(event_id: &str, contact: Contact) -> InboundLead {
    InboundLead {
        source: "web".into(),
        event_id: event_id.into(),
        contact,
        attribution: Default::default(),
        raw: None,
        fetch: None,
        consent: Default::default(),
        signals: [("pages_viewed".to_string(), json!(8)), ("form_type".to_string(), json!("demo"))].into(),
    }
}

fn person(name: &str, email: Option<&str>, phone: Option<&str>, company: Option<&str>) -> Contact {
    Contact {
        name: Some(name.into()),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        company: company.map(Into::into),
        country: Some("US".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_people_merge_colleagues_follow_the_account_and_outcomes_teach_the_model() {
    let hits = Arc::new(AtomicUsize::new(0));
    let api = enrichment_api(hits.clone()).await;
    let mut settings = isolated_settings();
    settings.enrichment.providers =
        vec![ProviderConfig::new("firmo", LookupKind::Person, format!("{api}/people?email={{email}}"))];
    settings.scoring_model.refresh_secs = 1;
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let events = assigned_reader(
        &settings,
        &settings.kafka.brokers,
        &names(&settings),
        &[Topic::Events, Topic::Qualified],
    )
    .unwrap();

    let ana = lead_id("web", "a1");
    publisher.send(lead("a1", person("Ana Lopez", Some("ana@acme.io"), None, Some("Acme Inc.")))).await;
    reader.read_until(WAIT, |o| o.assignments.iter().any(|a| a.lead_id == ana)).await;
    let owner = reader.observed.assignments[0].rep_id.clone();

    // Ana returns from another form with a phone; Ben, her colleague, arrives; Cy is a stranger.
    let returning = person("Ana López", Some(" ANA@acme.io"), Some("+1 415 555 2671"), Some("Acme Robotics"));
    publisher.send(lead("a2", returning)).await;
    publisher.send(lead("b1", person("Ben Ode", Some("ben@acme.io"), None, None))).await;
    publisher.send(lead("c1", person("Cy Young", Some("cy@gmail.com"), None, Some("Globex")))).await;
    let (ben, cy) = (lead_id("web", "b1"), lead_id("web", "c1"));
    reader
        .read_until(WAIT, |o| {
            [ben, cy].iter().all(|id| o.assignments.iter().any(|a| a.lead_id == *id))
                && o.assignments.iter().filter(|a| a.lead_id == ana).count() >= 2
        })
        .await;

    let observed = &reader.observed;
    assert!(observed.dead_letters.is_empty(), "{:?}", observed.dead_letters);
    let of = |id: Uuid| observed.assignments.iter().filter(move |a| a.lead_id == id);
    assert!(
        of(ana).all(|a| a.rep_id == owner),
        "the returning person stays with her rep, never a second one"
    );
    assert_eq!(observed.reps_per_lead().len(), 3, "a2 merged into a1: three leads, not four");
    let ben_assignment = of(ben).next().unwrap();
    assert_eq!(
        (ben_assignment.rep_id.as_str(), ben_assignment.reason.as_str()),
        (owner.as_str(), "account_owner")
    );

    // What intake published: merges, scores, enrichment.
    let mut merged = Vec::new();
    let mut scored = Vec::new();
    let mut qualified: BTreeMap<String, QualifiedLead> = BTreeMap::new();
    while merged.is_empty() || scored.len() < 4 || qualified.len() < 4 {
        let message = tokio::time::timeout(WAIT, events.recv()).await.expect("events in time").unwrap();
        let value: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        match value["type"].as_str().unwrap() {
            event_type::QUALIFIED => {
                let q: Envelope<QualifiedLead> = serde_json::from_value(value).unwrap();
                qualified.insert(q.payload.event_id.clone(), q.payload);
            }
            _ => match serde_json::from_value::<Envelope<LeadEvent>>(value).unwrap().payload {
                LeadEvent::Merged(m) => merged.push(m),
                LeadEvent::Scored(s) => scored.push(*s),
                _ => {}
            },
        }
    }
    assert_eq!(merged.len(), 1);
    assert_eq!((merged[0].source_lead_id, merged[0].target_lead_id), (lead_id("web", "a2"), ana));
    assert_eq!(merged[0].matched_by, "email");

    let a1 = &qualified["a1"];
    let a2 = &qualified["a2"];
    assert_eq!(a2.lead_id, ana);
    assert_eq!(a2.contact.name.as_deref(), Some("Ana López"));
    assert_eq!(a2.merge.as_ref().unwrap().history["name"], ["Ana Lopez"]);
    assert_eq!(a1.enrichment.as_ref().unwrap().providers["firmo"], "fresh");
    assert_eq!(a2.enrichment.as_ref().unwrap().providers["firmo"], "cached", "the cache is in Redis");
    assert_eq!(a1.enrichment.as_ref().unwrap().employees, Some(450));
    assert_eq!(qualified["c1"].enrichment.as_ref().unwrap().providers["firmo"], "not_found");
    assert!(qualified["c1"].account.as_ref().is_some_and(|a| a.domain.is_none()), "gmail.com is no company");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "ana once, ben once, cy once");
    let (hot, cold) = (a1.score.as_ref().unwrap(), qualified["c1"].score.as_ref().unwrap());
    assert!(hot.contributions.contains_key("fit.company_size"), "{hot:?}");
    assert!(hot.score > cold.score, "an enriched VP at a 450-person software company outscores a stranger");
    let a2_scored =
        scored.iter().find(|s| s.lead_id == ana && s.previous_score.is_some()).expect("re-scored");
    assert_eq!(a2_scored.previous_score, Some(hot.score));

    // Conversion outcomes teach the model in Redis, once each.
    let outcomes =
        KafkaPublisher::new(&client::producer(&settings.kafka, &settings.kafka.brokers), names(&settings))
            .unwrap();
    for _ in 0..2 {
        let outcome = Outcome { lead_id: ana, converted: true, value: Some(12_000.0) };
        let envelope =
            Envelope::with_id(derived_id(&["outcome", &ana.to_string()]), event_type::OUTCOME, ana, outcome);
        let payload = serde_json::to_vec(&envelope).unwrap();
        outcomes
            .publish(vec![Outbound { topic: Topic::Outcomes, key: ana.to_string(), payload }])
            .await
            .unwrap();
    }
    let store = speedlead::store::connect(&settings.redis).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let model = loop {
        let model = Model::from_buckets(store.model_buckets("default").await.unwrap());
        if model.outcomes >= 1 || tokio::time::Instant::now() > deadline {
            break model;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.shutdown().await;
    assert_eq!((model.outcomes, model.positives), (1, 1));
    let after = Model::from_buckets(store.model_buckets("default").await.unwrap());
    assert_eq!(after.outcomes, 1, "the redelivered outcome taught nothing");
    assert!(after.weights.values().any(|w| *w > 0.0), "the converted lead's features gained weight");
}
