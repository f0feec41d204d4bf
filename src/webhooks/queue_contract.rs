//! The contract every [`DeliveryQueue`] honours, one suite run against each (memory in unit tests,
//! Redis in `tests/webhooks_queue.rs`), so they cannot drift apart. Ids are random per run, so the
//! suite can run again and again against a shared Redis.

use std::time::Duration;

use super::attempt::Failure;
use super::queue::{DeadDelivery, Delivery, DeliveryQueue};

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
    }
}

/// Runs every check; panics naming the first that fails.
pub async fn run_all(queue: &dyn DeliveryQueue) {
    let sub = format!("contract-{}", uuid::Uuid::new_v4().simple());
    a_job_is_added_once_and_due_at_once(queue, &sub).await;
    a_leased_job_comes_back_only_when_its_lease_ran_out(queue, &sub).await;
    a_retried_job_keeps_its_state_and_is_due_at_its_time(queue, &sub).await;
    a_finished_job_is_gone_and_cannot_be_added_again(queue, &sub).await;
    dead_letters_are_listed_by_time_per_subscription(queue, &sub).await;
    a_replayed_dead_letter_is_due_again_with_a_fresh_schedule(queue, &format!("{sub}-replay")).await;
    endpoint_failures_and_disabling(queue, &sub).await;
}

/// Takes every job due at `now` (a few at a time), returns those of `sub`.
async fn due_of(queue: &dyn DeliveryQueue, sub: &str, now: i64) -> Vec<Delivery> {
    let taken = queue.take_due(now, Duration::from_secs(30), 1000).await.unwrap();
    taken.into_iter().filter(|d| d.subscription == sub).collect()
}

async fn a_job_is_added_once_and_due_at_once(queue: &dyn DeliveryQueue, sub: &str) {
    let job = delivery(sub, 1_000);
    assert!(queue.enqueue(&job).await.unwrap(), "added");
    assert!(!queue.enqueue(&job).await.unwrap(), "the same delivery is not added twice");
    assert!(due_of(queue, sub, 999).await.is_empty(), "not due before its time");
    assert_eq!(due_of(queue, sub, 1_000).await, vec![job.clone()]);
    queue.finish(&job).await.unwrap();
}

async fn a_leased_job_comes_back_only_when_its_lease_ran_out(queue: &dyn DeliveryQueue, sub: &str) {
    let job = delivery(sub, 2_000);
    queue.enqueue(&job).await.unwrap();
    assert_eq!(due_of(queue, sub, 2_000).await.len(), 1);
    assert!(due_of(queue, sub, 2_000 + 29_999).await.is_empty(), "leased: nobody else takes it");
    assert_eq!(due_of(queue, sub, 2_000 + 30_000).await, vec![job.clone()], "its holder died");
    queue.finish(&job).await.unwrap();
}

async fn a_retried_job_keeps_its_state_and_is_due_at_its_time(queue: &dyn DeliveryQueue, sub: &str) {
    let mut job = delivery(sub, 3_000);
    queue.enqueue(&job).await.unwrap();
    due_of(queue, sub, 3_000).await;
    job.attempts = 1;
    job.last_failure = Some(Failure { status: Some(503), detail: "busy".into(), retry_after_secs: Some(7) });
    queue.retry(&job, 10_000).await.unwrap();
    assert!(due_of(queue, sub, 9_999).await.is_empty(), "the retry is due at its time, not the lease's");
    assert_eq!(due_of(queue, sub, 10_000).await, vec![job.clone()], "with its attempts and failure");
    queue.finish(&job).await.unwrap();
}

async fn a_finished_job_is_gone_and_cannot_be_added_again(queue: &dyn DeliveryQueue, sub: &str) {
    let job = delivery(sub, 4_000);
    queue.enqueue(&job).await.unwrap();
    queue.finish(&job).await.unwrap();
    assert!(due_of(queue, sub, i64::MAX / 2).await.is_empty(), "finished");
    assert!(!queue.enqueue(&job).await.unwrap(), "a redelivered event finds the tombstone");
}

async fn dead_letters_are_listed_by_time_per_subscription(queue: &dyn DeliveryQueue, sub: &str) {
    let other = format!("{sub}-other");
    for (s, at) in [(sub, 5_300), (sub, 5_100), (other.as_str(), 5_200), (sub, 9_000)] {
        let job = delivery(s, at);
        queue.enqueue(&job).await.unwrap();
        queue
            .bury(&DeadDelivery { delivery: job, reason: "schedule_exhausted".into(), dead_ms: at })
            .await
            .unwrap();
    }
    let listed = queue.dead_letters(sub, 5_000, 6_000, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.dead_ms).collect::<Vec<_>>(),
        vec![5_100, 5_300],
        "oldest first, in range"
    );
    assert_eq!(queue.dead_letters(sub, 0, i64::MAX, 1).await.unwrap().len(), 1, "limited");
    assert!(due_of(queue, sub, i64::MAX / 2).await.is_empty(), "a buried job is not due");
}

async fn a_replayed_dead_letter_is_due_again_with_a_fresh_schedule(queue: &dyn DeliveryQueue, sub: &str) {
    let mut job = delivery(sub, 6_000);
    queue.enqueue(&job).await.unwrap();
    job.attempts = 8;
    job.last_failure = Some(Failure { status: Some(500), detail: "down".into(), retry_after_secs: None });
    let dead = DeadDelivery { delivery: job.clone(), reason: "schedule_exhausted".into(), dead_ms: 7_000 };
    queue.bury(&dead).await.unwrap();
    assert_eq!(queue.dead_letter(sub, &job.id).await.unwrap(), Some(dead.clone()));
    assert_eq!(queue.dead_letter("someone-else", &job.id).await.unwrap(), None, "per subscription");

    queue.replay(&dead, 8_000).await.unwrap();
    assert_eq!(queue.dead_letter(sub, &job.id).await.unwrap(), None, "no longer a dead letter");
    assert!(queue.dead_letters(sub, 0, i64::MAX, 10).await.unwrap().is_empty());
    let due = due_of(queue, sub, 8_000).await;
    assert_eq!(due, vec![job.fresh(8_000)], "due now, no attempts, no failure");
    queue.finish(&due[0]).await.unwrap();
}

async fn endpoint_failures_and_disabling(queue: &dyn DeliveryQueue, sub: &str) {
    assert_eq!(queue.endpoint_failed(sub, 100).await.unwrap(), 100);
    assert_eq!(queue.endpoint_failed(sub, 900).await.unwrap(), 100, "failing since the first failure");
    queue.endpoint_ok(sub).await.unwrap();
    assert_eq!(queue.endpoint_failed(sub, 1_000).await.unwrap(), 1_000, "a success resets it");
    assert_eq!(queue.disabled(sub).await.unwrap(), None);
    queue.set_disabled(sub, Some("410")).await.unwrap();
    assert_eq!(queue.disabled(sub).await.unwrap().as_deref(), Some("410"));
    queue.set_disabled(sub, None).await.unwrap();
    assert_eq!(queue.disabled(sub).await.unwrap(), None);
    assert_eq!(queue.endpoint_failed(sub, 2_000).await.unwrap(), 2_000, "enabling forgets the failures");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_queue_passes_the_contract() {
        super::run_all(&super::super::queue::MemoryQueue::default()).await;
    }
}
