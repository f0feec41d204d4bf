//! Scaling out and in: a second instance joins the consumer groups mid-stream and the first leaves.
//! Partitions move between them; revoked partitions are drained and committed before they move, so
//! every lead is assigned exactly once, in per-key order, and nothing is even redelivered.
#![cfg(feature = "integration")]

mod common;

use std::time::Duration;

use common::*;
use speedlead::pipeline::{Pipeline, StageWrappers};
use speedlead::store;

const WAIT: Duration = Duration::from_secs(60);

async fn instance(settings: &speedlead::config::Settings) -> Pipeline {
    let store = store::connect(&settings.redis).await.expect("redis");
    Pipeline::start(settings, &settings.kafka.brokers, store, StageWrappers::default())
        .await
        .expect("pipeline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_instances_without_loss_or_redelivery() {
    let settings = isolated_settings();
    create_test_topics(&settings).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let mut leads = leads_from_people(5, 30, 6).into_iter();

    let first = instance(&settings).await;
    first.wait_ready(WAIT).await.unwrap();
    for lead in leads.by_ref().take(60) {
        publisher.send(lead).await;
    }

    // Scale out while leads keep arriving: the groups rebalance across both instances.
    let second = instance(&settings).await;
    for lead in leads.by_ref().take(60) {
        publisher.send(lead).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.wait_ready(WAIT).await.unwrap();
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    // Two stages of 3 partitions each, now split between the instances.
    let (a, b) = (first.assigned_partitions(), second.assigned_partitions());
    assert!(a > 0 && b > 0 && a + b == 6, "partitions not shared: first {a}, second {b}");

    // Scale in: the first instance leaves; the second takes every partition.
    first.shutdown().await;
    for lead in leads.by_ref() {
        publisher.send(lead).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    reader.read_until(Duration::from_secs(2), |_| false).await;
    assert_eq!(second.assigned_partitions(), 6);
    second.shutdown().await;

    let observed = &reader.observed;
    assert_eq!(publisher.sent.len(), 180);
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert_eq!(observed.duplicate_messages(), 0, "drain-and-commit on revoke means nothing is reprocessed");
}
