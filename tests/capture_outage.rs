//! Broker outage at the capture gateway: while the broker cannot acknowledge, providers get 503 with
//! `Retry-After` and nothing is acknowledged; once it is back, their retries are accepted and every
//! lead is written exactly once. The broker is paused (SIGSTOP), not killed: tansu's memory engine
//! would forget everything on exit. Its own test binary, so no other test shares the outage.
#![cfg(feature = "integration")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::gateway::{with_sources, Gateway};
use common::*;
use rdkafka::message::Message;
use serde_json::json;
use speedlead::demo::assigned_reader;
use speedlead_topics::{Envelope, InboundLead, Topic};

fn signal_broker(signal: &str) {
    let pid = std::env::var("SL_TEST_BROKER_PID").expect("SL_TEST_BROKER_PID is set by scripts/test.sh");
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
}

/// Resumes the broker even if an assertion fails while it is paused.
struct Resume;

impl Drop for Resume {
    fn drop(&mut self) {
        signal_broker("-CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_answers_503_and_the_retries_lose_nothing() {
    let mut settings = with_sources(isolated_settings());
    settings.capture.publish_timeout_ms = 1500;
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let body = |n: usize| {
        serde_json::to_vec(
            &json!({ "event_id": format!("o-{n}"), "contact": { "email": format!("o{n}@example.com") } }),
        )
        .unwrap()
    };
    assert_eq!(gateway.post_signed("partner", "before", "application/json", &body(0)).await.status(), 202);

    let resume = Resume;
    signal_broker("-STOP");
    for n in 1..=3 {
        let response =
            gateway.post_signed("partner", &format!("during-{n}"), "application/json", &body(n)).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
    }
    drop(resume);

    // The providers retry; each retry must now be accepted as new (nothing was acknowledged before).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for n in 1..=3 {
        loop {
            let response =
                gateway.post_signed("partner", &format!("retry-{n}"), "application/json", &body(n)).await;
            let status = response.status();
            if status == 202 {
                break;
            }

            assert_eq!(status, 503, "while the broker recovers the gateway may only ask for a retry");
            assert!(tokio::time::Instant::now() < deadline, "broker did not come back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let reader =
        assigned_reader(&settings, &settings.kafka.brokers, &names(&settings), &[Topic::Inbound]).unwrap();
    let mut ids_per_event: std::collections::BTreeMap<String, Vec<uuid::Uuid>> = Default::default();
    while let Ok(message) = tokio::time::timeout(Duration::from_secs(2), reader.recv()).await {
        let envelope: Envelope<InboundLead> =
            serde_json::from_slice(message.unwrap().payload().unwrap()).unwrap();
        ids_per_event.entry(envelope.payload.event_id).or_default().push(envelope.id);
    }
    let events: Vec<&str> = ids_per_event.keys().map(String::as_str).collect();
    assert_eq!(events, ["o-0", "o-1", "o-2", "o-3"], "every lead written, none lost");
    // A write whose outcome the paused broker left unknown (answered 503) may land as well as its
    // retry; both copies are the same message (same id), which every consumer de-duplicates.
    for (event, ids) in &ids_per_event {
        assert!(ids.iter().all(|id| *id == ids[0]), "{event}: copies differ: {ids:?}");
    }
}
