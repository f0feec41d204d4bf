//! The real binary, restarted between messages: after a crash (SIGKILL) every lead is still
//! assigned exactly once and in per-key order; after a graceful stop (SIGTERM) nothing is even
//! redelivered, because in-flight leads were finished and their offsets committed.
#![cfg(feature = "integration")]

mod common;

use std::time::Duration;

use common::process::SpeedleadProcess;
use common::*;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_process_loses_and_double_assigns_nothing() {
    let settings = delivery_settings();
    create_test_topics(&settings).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let mut leads = leads_from_people(4, 30, 6).into_iter();

    // Phase 1: crash mid-stream, with leads still arriving.
    let first = SpeedleadProcess::serve(&settings, "first").await;
    for lead in leads.by_ref().take(60) {
        publisher.send(lead).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    reader.read_until(WAIT, |o| o.assignments.len() >= 20).await;
    first.crash();
    for lead in leads.by_ref().take(60) {
        publisher.send(lead).await;
    }

    // Phase 2: a new process takes over from the committed offsets.
    let second = SpeedleadProcess::serve(&settings, "second").await;
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    reader.observed.assert_all_assigned_once(&publisher.sent);
    reader.observed.assert_per_key_order(&publisher.sent);
    let duplicates_after_crash = reader.observed.duplicate_messages();
    println!("redelivered assignment messages after the crash: {duplicates_after_crash}");

    // The process exports what it did, histograms as buckets so Grafana can take quantiles.
    let metrics =
        reqwest::get(format!("http://{}/metrics", second.http)).await.unwrap().text().await.unwrap();
    for needle in [
        "speedlead_leads_assigned_total{domain=\"",
        "speedlead_stage_records_total{stage=\"router\",outcome=\"ok\"}",
        "speedlead_lead_segment_seconds_bucket{segment=\"captured_to_assigned\",le=\"0.005\"}",
        "speedlead_stage_processing_seconds_bucket{stage=\"intake\",le=",
        "speedlead_partitions_assigned{stage=\"intake\"} 3",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }
    let health = reqwest::get(format!("http://{}/healthz", second.http)).await.unwrap();
    assert!(health.status().is_success());

    // Phase 3: graceful stop between messages, then more leads for the next process.
    assert!(second.terminate(), "graceful shutdown exits 0");
    for lead in leads.by_ref() {
        publisher.send(lead).await;
    }
    let third = SpeedleadProcess::serve(&settings, "third").await;
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    // Give any (wrong) redelivery of already-committed leads time to show up.
    reader.read_until(Duration::from_secs(2), |_| false).await;
    drop(third);

    let observed = &reader.observed;
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert_eq!(publisher.sent.len(), 180);
    assert_eq!(
        observed.duplicate_messages(),
        duplicates_after_crash,
        "a graceful restart must not redeliver leads that were already assigned"
    );
}
