//! The contract every [`WebhookStore`] honours, one suite run against each (memory in unit tests,
//! Redis in `tests/webhooks_store.rs`), so they cannot drift apart. Ids are random per run, so the
//! suite can run again and again against a shared Redis.

use std::time::Duration;

use super::attempt::Failure;
use super::settings::Subscription;
use super::store::{DeadDelivery, Delivery, WebhookStore};

fn delivery(subscription: &str, created_ms: i64) -> Delivery {
    let event = uuid::Uuid::new_v4().to_string();
    Delivery {
        id: Delivery::id_of(subscription, &event),
        subscription: subscription.to_string(),
        event_id: event,
        event_type: "lead.created".into(),
        lead_id: uuid::Uuid::new_v4(),
        body: r#"{"type":"lead.created"}"#.into(),
        attempts: 0,
        created_ms,
        last_failure: None,
        ordered: false,
    }
}

/// Runs every check; panics naming the first that fails.
pub async fn run_all(store: &dyn WebhookStore) {
    let sub = format!("contract-{}", uuid::Uuid::new_v4().simple());
    a_job_is_added_once_and_due_at_once(store, &sub).await;
    a_leased_job_comes_back_only_when_its_lease_ran_out(store, &sub).await;
    a_retried_job_keeps_its_state_and_is_due_at_its_time(store, &sub).await;
    a_finished_job_is_gone_and_cannot_be_added_again(store, &sub).await;
    dead_letters_are_listed_by_time_per_subscription(store, &sub).await;
    a_replayed_dead_letter_is_due_again_with_a_fresh_schedule(store, &format!("{sub}-replay")).await;
    endpoint_failures_and_disabling(store, &sub).await;
    subscriptions_are_added_once_listed_and_removed(store, &sub).await;
    an_ordered_line_releases_one_delivery_at_a_time(store, &format!("{sub}-ordered")).await;
}

/// Takes every job due at `now` (a few at a time), returns those of `sub`.
async fn due_of(store: &dyn WebhookStore, sub: &str, now: i64) -> Vec<Delivery> {
    let taken = store.take_due(now, Duration::from_secs(30), 1000).await.unwrap();
    taken.into_iter().filter(|d| d.subscription == sub).collect()
}

async fn a_job_is_added_once_and_due_at_once(store: &dyn WebhookStore, sub: &str) {
    let job = delivery(sub, 1_000);
    assert!(store.enqueue(&job).await.unwrap(), "added");
    assert!(!store.enqueue(&job).await.unwrap(), "the same delivery is not added twice");
    assert!(due_of(store, sub, 999).await.is_empty(), "not due before its time");
    assert_eq!(due_of(store, sub, 1_000).await, vec![job.clone()]);
    store.finish(&job).await.unwrap();
}

async fn a_leased_job_comes_back_only_when_its_lease_ran_out(store: &dyn WebhookStore, sub: &str) {
    let job = delivery(sub, 2_000);
    store.enqueue(&job).await.unwrap();
    assert_eq!(due_of(store, sub, 2_000).await.len(), 1);
    assert!(due_of(store, sub, 2_000 + 29_999).await.is_empty(), "leased: nobody else takes it");
    assert_eq!(due_of(store, sub, 2_000 + 30_000).await, vec![job.clone()], "its holder died");
    store.finish(&job).await.unwrap();
}

async fn a_retried_job_keeps_its_state_and_is_due_at_its_time(store: &dyn WebhookStore, sub: &str) {
    let mut job = delivery(sub, 3_000);
    store.enqueue(&job).await.unwrap();
    due_of(store, sub, 3_000).await;
    job.attempts = 1;
    job.last_failure = Some(Failure { status: Some(503), detail: "busy".into(), retry_after_secs: Some(7) });
    store.retry(&job, 10_000).await.unwrap();
    assert!(due_of(store, sub, 9_999).await.is_empty(), "the retry is due at its time, not the lease's");
    assert_eq!(due_of(store, sub, 10_000).await, vec![job.clone()], "with its attempts and failure");
    store.finish(&job).await.unwrap();
}

async fn a_finished_job_is_gone_and_cannot_be_added_again(store: &dyn WebhookStore, sub: &str) {
    let job = delivery(sub, 4_000);
    store.enqueue(&job).await.unwrap();
    store.finish(&job).await.unwrap();
    assert!(due_of(store, sub, i64::MAX / 2).await.is_empty(), "finished");
    assert!(!store.enqueue(&job).await.unwrap(), "a redelivered event finds the tombstone");
    // A holder whose lease ran out comes back late: its outcome changes nothing.
    store.retry(&job, 5_000).await.unwrap();
    assert!(due_of(store, sub, i64::MAX / 2).await.is_empty(), "a late retry does not revive it");
    let late = DeadDelivery { delivery: job.clone(), reason: "schedule_exhausted".into(), dead_ms: 5_000 };
    store.bury(&late).await.unwrap();
    assert_eq!(store.dead_letter(sub, &job.id).await.unwrap(), None, "nor does a late burial");
}

async fn dead_letters_are_listed_by_time_per_subscription(store: &dyn WebhookStore, sub: &str) {
    let other = format!("{sub}-other");
    for (s, at) in [(sub, 5_300), (sub, 5_100), (other.as_str(), 5_200), (sub, 9_000)] {
        let job = delivery(s, at);
        store.enqueue(&job).await.unwrap();
        store
            .bury(&DeadDelivery { delivery: job, reason: "schedule_exhausted".into(), dead_ms: at })
            .await
            .unwrap();
    }
    let listed = store.dead_letters(sub, 5_000, 6_000, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.dead_ms).collect::<Vec<_>>(),
        vec![5_100, 5_300],
        "oldest first, in range"
    );
    assert_eq!(store.dead_letters(sub, 0, i64::MAX, 1).await.unwrap().len(), 1, "limited");
    assert!(due_of(store, sub, i64::MAX / 2).await.is_empty(), "a buried job is not due");
}

async fn a_replayed_dead_letter_is_due_again_with_a_fresh_schedule(store: &dyn WebhookStore, sub: &str) {
    let mut job = delivery(sub, 6_000);
    store.enqueue(&job).await.unwrap();
    job.attempts = 8;
    job.last_failure = Some(Failure { status: Some(500), detail: "down".into(), retry_after_secs: None });
    let dead = DeadDelivery { delivery: job.clone(), reason: "schedule_exhausted".into(), dead_ms: 7_000 };
    store.bury(&dead).await.unwrap();
    assert_eq!(store.dead_letter(sub, &job.id).await.unwrap(), Some(dead.clone()));
    assert_eq!(store.dead_letter("someone-else", &job.id).await.unwrap(), None, "per subscription");

    assert!(store.replay(&dead, 8_000).await.unwrap());
    assert!(!store.replay(&dead, 8_001).await.unwrap(), "a second replay of the same letter does nothing");
    assert_eq!(store.dead_letter(sub, &job.id).await.unwrap(), None, "no longer a dead letter");
    assert!(store.dead_letters(sub, 0, i64::MAX, 10).await.unwrap().is_empty());
    let due = due_of(store, sub, 8_000).await;
    assert_eq!(due, vec![job.fresh(8_000)], "due now, no attempts, no failure");
    store.finish(&due[0]).await.unwrap();
}

async fn endpoint_failures_and_disabling(store: &dyn WebhookStore, sub: &str) {
    assert_eq!(store.endpoint_failed(sub, 100).await.unwrap(), 100);
    assert_eq!(store.endpoint_failed(sub, 900).await.unwrap(), 100, "failing since the first failure");
    store.endpoint_ok(sub).await.unwrap();
    assert_eq!(store.endpoint_failed(sub, 1_000).await.unwrap(), 1_000, "a success resets it");
    assert_eq!(store.disabled(sub).await.unwrap(), None);
    store.set_disabled(sub, Some("410")).await.unwrap();
    assert_eq!(store.disabled(sub).await.unwrap().as_deref(), Some("410"));
    store.set_disabled(sub, None).await.unwrap();
    assert_eq!(store.disabled(sub).await.unwrap(), None);
    assert_eq!(store.endpoint_failed(sub, 2_000).await.unwrap(), 2_000, "enabling forgets the failures");
}

async fn subscriptions_are_added_once_listed_and_removed(store: &dyn WebhookStore, id: &str) {
    let subscription = Subscription {
        id: id.to_string(),
        url: "https://hooks.example.com/in".into(),
        events: vec!["lead.assigned".into()],
        secrets: vec![crate::notify::channels::Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
        ordered_by_lead: true,
    };
    assert!(store.add_subscription(&subscription).await.unwrap());
    let changed = Subscription { url: "https://elsewhere.example.com/".into(), ..subscription.clone() };
    assert!(!store.add_subscription(&changed).await.unwrap(), "an id is taken once");
    let listed = store.subscriptions().await.unwrap();
    assert_eq!(
        listed.iter().filter(|s| s.id == id).collect::<Vec<_>>(),
        vec![&subscription],
        "with its secrets"
    );
    assert!(store.remove_subscription(id).await.unwrap());
    assert!(!store.remove_subscription(id).await.unwrap());
    assert!(store.subscriptions().await.unwrap().iter().all(|s| s.id != id));
}

async fn an_ordered_line_releases_one_delivery_at_a_time(store: &dyn WebhookStore, sub: &str) {
    let lead = uuid::Uuid::new_v4();
    let in_line = |at| Delivery { ordered: true, lead_id: lead, ..delivery(sub, at) };
    let (first, second, third) = (in_line(11_000), in_line(11_001), in_line(11_002));
    let other_lead = Delivery { ordered: true, ..delivery(sub, 11_003) };
    for job in [&first, &second, &third, &other_lead] {
        assert!(store.enqueue(job).await.unwrap());
    }
    let due = due_of(store, sub, 20_000).await;
    assert_eq!(due, vec![first.clone(), other_lead.clone()], "each line's head, other leads not held up");
    store.finish(&other_lead).await.unwrap();

    store.retry(&first, 21_000).await.unwrap();
    assert!(due_of(store, sub, 20_500).await.is_empty(), "a retried head holds its line");
    store.finish(&first).await.unwrap();
    assert_eq!(due_of(store, sub, 20_500).await, vec![second.clone()], "the next is due at once");
    let dead =
        DeadDelivery { delivery: second.clone(), reason: "schedule_exhausted".into(), dead_ms: 20_600 };
    store.bury(&dead).await.unwrap();
    assert_eq!(due_of(store, sub, 20_700).await, vec![third.clone()], "a buried head frees its line");

    // Replayed while the third still holds the line: it waits behind it.
    assert!(store.replay(&dead, 20_800).await.unwrap());
    assert!(due_of(store, sub, 50_000).await.iter().all(|d| d.id != second.id), "behind the third");
    store.finish(&third).await.unwrap();
    assert_eq!(due_of(store, sub, 50_000).await, vec![second.fresh(20_800)]);
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_passes_the_contract() {
        super::run_all(&super::super::store::MemoryWebhookStore::default()).await;
    }
}
