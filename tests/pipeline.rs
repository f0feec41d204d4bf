//! The pipeline on the real broker and Redis: every lead assigned exactly once, in per-key order,
//! including when stage actors panic mid-stream, and bad input dead-lettered without stalling.
#![cfg(feature = "integration")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use common::*;
use speedlead::pipeline::{Pipeline, StageWrappers};
use speedlead_actors::ports::{Outbound, Record};
use speedlead_actors::stage::{Stage, StageError};

const WAIT: Duration = Duration::from_secs(60);

async fn start(settings: &speedlead::config::Settings, wrappers: StageWrappers) -> Pipeline {
    let pipeline = start_pipeline(settings, wrappers).await;
    pipeline.wait_ready(WAIT).await.expect("consumers joined");
    pipeline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lead_is_assigned_once_in_per_key_order() {
    let settings = delivery_settings();
    create_test_topics(&settings).await;
    let pipeline = start(&settings, StageWrappers::default()).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    for lead in leads_from_people(1, 40, 5) {
        publisher.send(lead).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    pipeline.shutdown().await;

    let observed = &reader.observed;
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert_eq!(observed.duplicate_messages(), 0, "no failure happened, so nothing may be redelivered");
    assert!(observed.dead_letters.is_empty());
    assert_round_robin_is_fair(observed);
}

/// Within each domain every rep got ⌊M/N⌋ or ⌈M/N⌉ of the domain's M leads that took a round-robin
/// turn (`round_robin`, and `owner_unavailable` for a lead whose account is owned by a rep of another
/// domain); leads of an account with an eligible owner go to that owner instead, by design.
fn assert_round_robin_is_fair(observed: &Observed) {
    let routing = speedlead::config::Settings::defaults().routing().unwrap();
    let mut per_domain: std::collections::HashMap<&str, std::collections::HashMap<&str, usize>> =
        Default::default();
    for a in observed
        .assignments
        .iter()
        .filter(|a| ["round_robin", "owner_unavailable"].contains(&a.reason.as_str()))
    {
        *per_domain.entry(&a.routing_domain).or_default().entry(&a.rep_id).or_default() += 1;
    }
    for (domain, counts) in per_domain {
        let n = routing.reps(domain).unwrap().len();
        let m: usize = counts.values().sum();
        let (lo, hi) = (m / n, m.div_ceil(n));
        assert!(
            counts.values().all(|c| (lo..=hi).contains(c)),
            "{domain}: {counts:?} for {m} leads over {n} reps"
        );
    }
}

/// Delegates to the real stage, but panics the first time it meets the `nth` distinct record, as a
/// bug triggered by one lead would.
struct PanicOnNth {
    inner: Arc<dyn Stage>,
    nth: usize,
    seen: AtomicUsize,
    panicked: Arc<AtomicBool>,
}

#[async_trait]
impl Stage for PanicOnNth {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth
            && !self.panicked.swap(true, Ordering::SeqCst)
        {
            panic!("injected bug in stage {} at offset {}", self.inner.name(), record.offset);
        }
        self.inner.process(record).await
    }
}

fn panic_on_nth(nth: usize, flag: &Arc<AtomicBool>) -> speedlead::pipeline::StageWrapper {
    let flag = flag.clone();
    Box::new(move |inner| {
        Arc::new(PanicOnNth { inner, nth, seen: AtomicUsize::new(0), panicked: flag.clone() })
            as Arc<dyn Stage>
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_stage_actors_lose_no_lead_and_keep_order() {
    let settings = delivery_settings();
    create_test_topics(&settings).await;
    let (intake_panicked, router_panicked) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let wrappers = StageWrappers {
        intake: Some(panic_on_nth(37, &intake_panicked)),
        router: Some(panic_on_nth(81, &router_panicked)),
        ..Default::default()
    };
    let pipeline = start(&settings, wrappers).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    for lead in leads_from_people(2, 30, 5) {
        publisher.send(lead).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    pipeline.shutdown().await;

    assert!(
        intake_panicked.load(Ordering::SeqCst) && router_panicked.load(Ordering::SeqCst),
        "faults were injected"
    );
    let observed = &reader.observed;
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert!(
        observed.dead_letters.is_empty(),
        "a panic is not a reason to dead-letter: {:?}",
        observed.dead_letters
    );
}

/// Panics on every record whose payload mentions `needle`, as a stage bug triggered by one lead's
/// data would, on every redelivery.
struct AlwaysPanicsOn {
    inner: Arc<dyn Stage>,
    needle: String,
}

#[async_trait]
impl Stage for AlwaysPanicsOn {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let payload = String::from_utf8_lossy(record.payload.as_deref().unwrap_or_default());
        if payload.contains(&self.needle) {
            panic!("injected bug: cannot route {}", self.needle);
        }
        self.inner.process(record).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_that_always_crashes_its_stage_is_dead_lettered_and_the_rest_flow() {
    let settings = delivery_settings();
    create_test_topics(&settings).await;
    let needle = "poison.pill@example.com".to_string();
    let router: speedlead::pipeline::StageWrapper = {
        let needle = needle.clone();
        Box::new(move |inner| Arc::new(AlwaysPanicsOn { inner, needle: needle.clone() }) as Arc<dyn Stage>)
    };
    let pipeline = start(&settings, StageWrappers { router: Some(router), ..Default::default() }).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let mut leads = leads_from_people(6, 10, 4);
    let mut poison = leads.remove(15);
    poison.contact.email = Some(needle.clone());
    let (poison_key, envelope) = speedlead::sample::captured(poison);
    for (i, lead) in leads.into_iter().enumerate() {
        if i == 12 {
            publisher.send_raw(&poison_key, serde_json::to_vec(&envelope).unwrap()).await;
        }
        publisher.send(lead).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    reader.read_until(WAIT, |o| !o.dead_letters.is_empty()).await;
    pipeline.shutdown().await;

    let observed = &reader.observed;
    observed.assert_all_assigned_once(&publisher.sent);
    observed.assert_per_key_order(&publisher.sent);
    assert_eq!(observed.dead_letters.len(), 1, "{:?}", observed.dead_letters);
    let letter = &observed.dead_letters[0];
    assert_eq!((letter.stage.as_str(), letter.reason.as_str()), ("router", "stage_crashed"));
    assert!(
        observed.assignments.iter().all(|a| a.lead_id != envelope.correlation_id),
        "the poison lead was not assigned"
    );
    let original = base64::engine::general_purpose::STANDARD.decode(&letter.original_base64).unwrap();
    assert!(
        String::from_utf8(original).unwrap().contains(&needle),
        "the dead letter carries the qualified lead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_leads_are_dead_lettered_and_their_partition_moves_on() {
    let settings = delivery_settings();
    create_test_topics(&settings).await;
    let pipeline = start(&settings, StageWrappers::default()).await;
    let mut reader = OutputReader::new(&settings);
    let mut publisher = LeadPublisher::new(&settings);
    let leads = leads_from_people(3, 4, 3);
    // Bad messages share keys with good ones, so they sit in the same partitions, between them.
    let key = speedlead::sample::captured(leads[0].clone()).0;
    publisher.send(leads[0].clone()).await;
    publisher.send_raw(&key, b"{\"not\": \"an envelope\"".to_vec()).await;
    let mut no_contact = leads[1].clone();
    no_contact.event_id = "no-contact".into();
    no_contact.contact.email = None;
    no_contact.contact.phone = Some("not a number".into());
    let (no_contact_key, envelope) = speedlead::sample::captured(no_contact);
    publisher.send_raw(&no_contact_key, serde_json::to_vec(&envelope).unwrap()).await;
    for lead in &leads[1..] {
        publisher.send(lead.clone()).await;
    }
    reader.read_all_assigned(&publisher.sent, WAIT).await;
    reader.read_until(WAIT, |o| o.dead_letters.len() >= 2).await;
    pipeline.shutdown().await;

    let observed = &reader.observed;
    observed.assert_all_assigned_once(&publisher.sent);
    assert_eq!(observed.dead_letters.len(), 2, "{:?}", observed.dead_letters);
    let garbage =
        observed.dead_letters.iter().find(|d| d.key.as_deref() == Some(key.as_str())).expect("garbage");
    assert_eq!((garbage.stage.as_str(), garbage.reason.as_str()), ("intake", "invalid"));
    assert!(garbage.detail.starts_with("value: not a valid envelope"), "{}", garbage.detail);
    let original = base64::engine::general_purpose::STANDARD.decode(&garbage.original_base64).unwrap();
    assert_eq!(original, b"{\"not\": \"an envelope\"");
    assert!(garbage.source_topic.ends_with("leads.inbound"));
    let unreachable =
        observed.dead_letters.iter().find(|d| d.key.as_deref() == Some(no_contact_key.as_str())).unwrap();
    assert!(
        unreachable.detail.contains("payload.contact: no usable email or phone"),
        "{}",
        unreachable.detail
    );
    assert!(unreachable.detail.contains("contact.phone: 'not a number'"), "{}", unreachable.detail);
}
