//! Scaling out and in: a second instance joins the consumer groups mid-stream and the first leaves.
//! Partitions move between them; revoked partitions are drained and committed before they move, so
//! every lead is assigned exactly once, in per-key order, and nothing is even redelivered.
#![cfg(feature = "integration")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use speedlead::pipeline::{Pipeline, StageWrappers};
use speedlead_actors::ports::{Outbound, Record};
use speedlead_actors::stage::{Stage, StageError};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(60);

async fn instance(settings: &speedlead::config::Settings) -> Pipeline {
    start_pipeline(settings, StageWrappers::default()).await
}

/// Holds every record until the gate opens, so its partitions back up and get paused.
struct Gated {
    inner: Arc<dyn Stage>,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl Stage for Gated {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
        self.inner.process(record).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_paused_when_revoked_fetches_again_when_it_comes_back() {
    let mut settings = delivery_settings();
    settings.pipeline.max_in_flight_per_partition = 2;
    settings.pipeline.drain_timeout_ms = 500;
    create_test_topics(&settings).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let (gate, open) = watch::channel(false);
    let gated: speedlead::pipeline::StageWrapper =
        Box::new(move |inner| Arc::new(Gated { inner, open: open.clone() }) as Arc<dyn Stage>);

    // The first instance's router partitions fill up behind the closed gate and get paused.
    let first = start_pipeline(&settings, StageWrappers { router: Some(gated), ..Default::default() }).await;
    first.wait_ready(WAIT).await.unwrap();
    for lead in leads_from_people(7, 30, 3) {
        publisher.send(lead).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A second member joins: everything is revoked (the stuck workers time out their drain), then
    // partitions are handed out again, some back to the first instance, still paused in librdkafka.
    let second = instance(&settings).await;
    second.wait_ready(WAIT).await.unwrap();
    gate.send(true).unwrap();
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    let (a, b) = (first.assigned_partitions(), second.assigned_partitions());
    first.shutdown().await;
    second.shutdown().await;

    assert!(a > 0 && b > 0, "partitions not shared: first {a}, second {b}");
    reader.observed.assert_all_assigned_once(&publisher.sent);
    reader.observed.assert_per_key_order(&publisher.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_instances_without_loss_or_redelivery() {
    let mut settings = delivery_settings();
    // A tiny in-flight limit keeps partitions pausing and resuming while they move.
    settings.pipeline.max_in_flight_per_partition = 3;
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
    // Five stages (intake, router, acks, learner, notify) of 3 partitions each, now split
    // between the instances.
    let (a, b) = (first.assigned_partitions(), second.assigned_partitions());
    assert!(a > 0 && b > 0 && a + b == 15, "partitions not shared: first {a}, second {b}");

    // Scale in: the first instance leaves; the second takes every partition.
    first.shutdown().await;
    for lead in leads.by_ref() {
        publisher.send(lead).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    reader.read_until(Duration::from_secs(2), |_| false).await;
    assert_eq!(second.assigned_partitions(), 15);
    second.shutdown().await;

    let observed = &reader.observed;
    assert_eq!(publisher.sent.len(), 180);
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert_eq!(observed.duplicate_messages(), 0, "drain-and-commit on revoke means nothing is reprocessed");
}
