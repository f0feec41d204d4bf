//! The capture gateway on the real broker and Redis: verified leads are written to `leads.inbound`
//! exactly once per (source, event id), even under a concurrent duplicate storm, and flow on through
//! the pipeline; refused requests write nothing and say why.
#![cfg(feature = "integration")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::gateway::{with_sources, Gateway, SECRET};
use common::*;
use rdkafka::message::Message;
use serde_json::{json, Value};
use speedlead::demo::assigned_reader;
use speedlead_topics::{Envelope, InboundLead, Topic};

const WAIT: Duration = Duration::from_secs(30);

/// Reads `leads.inbound` until `idle` passes with nothing new; returns the envelopes.
async fn inbound_messages(
    settings: &speedlead::config::Settings,
    idle: Duration,
) -> Vec<Envelope<InboundLead>> {
    let reader =
        assigned_reader(settings, &settings.kafka.brokers, &names(settings), &[Topic::Inbound]).unwrap();
    let mut out = Vec::new();
    while let Ok(message) = tokio::time::timeout(idle, reader.recv()).await {
        let message = message.unwrap();
        out.push(serde_json::from_slice(message.payload().unwrap()).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_lead_is_written_once_and_assigned() {
    let settings = with_sources(isolated_settings());
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);

    let body = br#"{"name":"Ana Lopez","email":"Ana@Acme.io","country":"DE","utm_campaign":"spring","submission_id":"form-1"}"#;
    let first = gateway.post_signed("website", "msg_1", "application/json", body).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let lead_id = first["leads"][0]["lead_id"].as_str().unwrap().to_string();
    assert_eq!(first["leads"][0]["duplicate"], false);

    let again = gateway.post_signed("website", "msg_1", "application/json", body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["leads"][0]["lead_id"].as_str().unwrap(), &again["leads"][0]["duplicate"]),
        (lead_id.as_str(), &json!(true))
    );

    reader.read_until(WAIT, |o| !o.assignments.is_empty()).await;
    pipeline.shutdown().await;
    let assignment = &reader.observed.assignments[0];
    assert_eq!(assignment.lead_id.to_string(), lead_id);
    assert_eq!(assignment.routing_domain, "emea");

    let inbound = inbound_messages(&settings, Duration::from_secs(1)).await;
    assert_eq!(inbound.len(), 1, "the redelivery wrote nothing");
    let lead = &inbound[0];
    assert_eq!(lead.correlation_id.to_string(), lead_id);
    assert_eq!(lead.payload.event_id, "form-1");
    assert_eq!(lead.payload.attribution["utm_campaign"], "spring");
    assert!(lead.hops.captured_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_storm_yields_exactly_one_lead_per_event() {
    let settings = with_sources(isolated_settings());
    create_test_topics(&settings).await;
    let gateway = std::sync::Arc::new(Gateway::start(&settings).await);
    const EVENTS: usize = 25;
    let mut tasks = Vec::new();
    for n in 0..EVENTS {
        let body = serde_json::to_vec(
            &json!({ "event_id": format!("evt-{n}"), "contact": { "email": format!("p{n}@example.com") } }),
        )
        .unwrap();
        for _ in 0..3 {
            let (gateway, body) = (gateway.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let response =
                    gateway.post_signed("partner", &format!("msg-{n}"), "application/json", &body).await;
                let status = response.status().as_u16();
                let json: Value = response.json().await.unwrap();
                (n, status, json["leads"][0]["lead_id"].as_str().unwrap().to_string())
            }));
        }
    }
    let mut ids: HashMap<usize, Vec<String>> = HashMap::new();
    for t in tasks {
        let (n, status, lead_id) = t.await.unwrap();
        assert!(status == 200 || status == 202, "status {status}");
        ids.entry(n).or_default().push(lead_id);
    }
    assert!(
        ids.values().all(|v| v.len() == 3 && v.iter().all(|id| *id == v[0])),
        "every delivery of an event names the same lead"
    );

    let inbound = inbound_messages(&settings, Duration::from_secs(1)).await;
    assert_eq!(inbound.len(), EVENTS, "exactly one write per event");
    let mut events: Vec<_> = inbound.iter().map(|e| e.payload.event_id.clone()).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), EVENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_write_nothing_and_say_why() {
    let mut settings = with_sources(isolated_settings());
    settings.capture.max_body_bytes = 1024;
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let url = |source: &str| format!("{}/v1/capture/{source}", gateway.base);
    let good = br#"{"email":"a@b.co"}"#;

    // Unsigned, and signed with another secret / over other bytes.
    let unsigned = gateway
        .client
        .post(url("website"))
        .header("content-type", "application/json")
        .body(good.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(unsigned.json::<Value>().await.unwrap()["reason"], "missing_signature");
    let now = chrono::Utc::now().timestamp();
    let signature = speedlead::providers::signature::sign_standard_webhooks(SECRET, "m1", now, good).unwrap();
    let tampered = gateway
        .client
        .post(url("website"))
        .header("content-type", "application/json")
        .header("webhook-id", "m1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(br#"{"email":"evil@b.co"}"#.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    assert_eq!(tampered.json::<Value>().await.unwrap()["reason"], "bad_signature");

    let too_big = vec![b' '; 2048];
    assert_eq!(gateway.post_signed("website", "m2", "application/json", &too_big).await.status(), 413);
    let xml = gateway.post_signed("website", "m3", "application/xml", b"<lead/>").await;
    assert_eq!(xml.status(), 415);
    let invalid = gateway
        .post_signed("website", "m4", "application/json", br#"{"email":["a@b.co"],"phone":true}"#)
        .await;
    assert_eq!(invalid.status(), 422);
    let invalid: Value = invalid.json().await.unwrap();
    assert_eq!(invalid["error"], "invalid_payload");
    let fields: Vec<&str> =
        invalid["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "phone"]);
    let no_contact = gateway
        .post_signed("website", "m5", "application/json", br#"{"name":"Nobody","email":"nobody@"}"#)
        .await;
    assert_eq!(no_contact.status(), 422);
    let no_contact: Value = no_contact.json().await.unwrap();
    assert_eq!(no_contact["error"], "no_contact");
    assert!(
        no_contact["fields"][0]["message"].as_str().unwrap().contains("email 'nobody@' has no valid domain"),
        "{no_contact}"
    );
    let unknown = gateway.post_signed("nope", "m6", "application/json", good).await;
    assert_eq!(unknown.status(), 404);

    // A valid lead still goes through, and only it was written.
    assert_eq!(gateway.post_signed("website", "m7", "application/json", good).await.status(), 202);
    let inbound = inbound_messages(&settings, Duration::from_secs(1)).await;
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].payload.contact.email.as_deref(), Some("a@b.co"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_provider_payloads_published_with_a_source_header_are_assigned() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let settings = with_sources(isolated_settings());
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);
    let producer: FutureProducer =
        speedlead::kafka::client::producer(&settings.kafka, &settings.kafka.brokers).create().unwrap();
    let topic = names(&settings).name(Topic::Inbound);
    let send = |source: &'static str, body: &'static str| {
        let headers = OwnedHeaders::new()
            .insert(Header { key: "source", value: Some(source) })
            .insert(Header { key: "content-type", value: Some("application/json") });
        let record = FutureRecord::to(&topic).key("raw").payload(body).headers(headers);
        producer.send(record, Duration::from_secs(5))
    };
    send("website", r#"{"submission_id":"raw-1","email":"raw.lead@example.com","country":"FR"}"#)
        .await
        .unwrap();
    send("fax", r#"{"email":"x@example.com"}"#).await.unwrap();

    reader.read_until(WAIT, |o| !o.assignments.is_empty() && !o.dead_letters.is_empty()).await;
    pipeline.shutdown().await;
    let observed = &reader.observed;
    assert_eq!(observed.assignments.len(), 1);
    assert_eq!(observed.assignments[0].lead_id, speedlead_topics::lead_id("website", "raw-1"));
    assert_eq!(observed.assignments[0].routing_domain, "emea");
    assert_eq!(observed.dead_letters.len(), 1);
    assert!(
        observed.dead_letters[0].detail.contains("unknown source 'fax'"),
        "{}",
        observed.dead_letters[0].detail
    );
}
