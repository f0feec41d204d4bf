//! The contract every [`Store`] implementation must honour, as one suite run against each of them
//! (in-memory in unit tests, Redis in the integration tests), so they cannot drift apart.
//!
//! Keys are random per run, so the suite can run repeatedly against a shared Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Store, StoreError};

const TTL: Duration = Duration::from_secs(60);

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn reps(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("rep-{i}")).collect()
}

/// Runs every contract check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn Store>) {
    remember_keeps_the_first_value(&*store).await;
    remember_is_atomic_under_concurrency(store.clone()).await;
    remember_expires_after_its_ttl(&*store).await;
    replace_and_forget_settle_a_claim(&*store).await;
    assignment_is_idempotent(&*store).await;
    round_robin_rotates_in_order(&*store).await;
    round_robin_is_fair_under_concurrency(store.clone()).await;
    domains_rotate_independently(&*store).await;
    assigning_without_candidates_is_an_error(&*store).await;
}

async fn remember_keeps_the_first_value(store: &dyn Store) {
    let key = unique("idem");
    let first = store.remember(&key, "lead-a", TTL).await.unwrap();
    assert!(first.first, "remember_keeps_the_first_value: first call must win");
    let second = store.remember(&key, "lead-b", TTL).await.unwrap();
    assert!(!second.first, "remember_keeps_the_first_value: second call must not win");
    assert_eq!(second.value, "lead-a", "remember_keeps_the_first_value");
}

async fn remember_is_atomic_under_concurrency(store: Arc<dyn Store>) {
    let key = unique("race");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.remember(&key, &format!("v{i}"), TTL).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    let mut values = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        winners += usize::from(r.first);
        values.push(r.value);
    }
    assert_eq!(winners, 1, "remember_is_atomic_under_concurrency: exactly one caller is first");
    values.dedup();
    assert_eq!(values.len(), 1, "remember_is_atomic_under_concurrency: everyone sees the same value");
}

async fn remember_expires_after_its_ttl(store: &dyn Store) {
    let key = unique("ttl");
    store.remember(&key, "old", Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = store.remember(&key, "new", TTL).await.unwrap();
    assert!(again.first && again.value == "new", "remember_expires_after_its_ttl: got {again:?}");
}

async fn replace_and_forget_settle_a_claim(store: &dyn Store) {
    let key = unique("claim");
    assert_eq!(store.recall(&key).await.unwrap(), None, "replace_and_forget_settle_a_claim: unheld key");
    store.remember(&key, "pending", TTL).await.unwrap();
    assert_eq!(store.recall(&key).await.unwrap().as_deref(), Some("pending"));
    store.replace(&key, "done", TTL).await.unwrap();
    let again = store.remember(&key, "other", TTL).await.unwrap();
    assert_eq!((again.value.as_str(), again.first), ("done", false), "replace_and_forget_settle_a_claim");
    store.forget(&key).await.unwrap();
    assert_eq!(store.recall(&key).await.unwrap(), None, "replace_and_forget_settle_a_claim: forgotten");
    assert!(store.remember(&key, "retry", TTL).await.unwrap().first, "a forgotten key can be claimed again");
}

async fn assignment_is_idempotent(store: &dyn Store) {
    let domain = unique("dom");
    let candidates = reps(3);
    let first = store.assign_round_robin(&domain, "lead-1", &candidates, TTL).await.unwrap();
    assert!(first.fresh, "assignment_is_idempotent: first decision is fresh");
    for _ in 0..3 {
        let again = store.assign_round_robin(&domain, "lead-1", &candidates, TTL).await.unwrap();
        assert_eq!(again.rep_id, first.rep_id, "assignment_is_idempotent: same rep on redelivery");
        assert!(!again.fresh, "assignment_is_idempotent: redelivery is not fresh");
    }
    assert_eq!(
        store.round_robin_turns(&domain).await.unwrap(),
        1,
        "assignment_is_idempotent: no turn consumed"
    );
    assert_eq!(store.assignment(&domain, "lead-1").await.unwrap(), Some(first.rep_id));
    assert_eq!(store.assignment(&domain, "lead-none").await.unwrap(), None);
}

async fn round_robin_rotates_in_order(store: &dyn Store) {
    let domain = unique("dom");
    let candidates = reps(3);
    let mut got = Vec::new();
    for i in 0..7 {
        got.push(store.assign_round_robin(&domain, &format!("l{i}"), &candidates, TTL).await.unwrap().rep_id);
    }
    let want = ["rep-1", "rep-2", "rep-3", "rep-1", "rep-2", "rep-3", "rep-1"];
    assert_eq!(got, want, "round_robin_rotates_in_order");
}

async fn round_robin_is_fair_under_concurrency(store: Arc<dyn Store>) {
    let domain = unique("dom");
    let candidates = reps(4);
    let leads = 41;
    let tasks: Vec<_> = (0..leads)
        .map(|i| {
            let (store, domain, candidates) = (store.clone(), domain.clone(), candidates.clone());
            tokio::spawn(async move {
                store.assign_round_robin(&domain, &format!("l{i}"), &candidates, TTL).await.unwrap().rep_id
            })
        })
        .collect();
    let mut per_rep: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        *per_rep.entry(t.await.unwrap()).or_default() += 1;
    }
    // With N reps and M leads each rep gets floor(M/N) or ceil(M/N).
    let (lo, hi) = (leads / candidates.len(), leads.div_ceil(candidates.len()));
    assert_eq!(per_rep.len(), candidates.len(), "round_robin_is_fair_under_concurrency: {per_rep:?}");
    assert!(
        per_rep.values().all(|n| (lo..=hi).contains(n)),
        "round_robin_is_fair_under_concurrency: {per_rep:?}"
    );
}

async fn domains_rotate_independently(store: &dyn Store) {
    let (a, b) = (unique("dom-a"), unique("dom-b"));
    let candidates = reps(2);
    store.assign_round_robin(&a, "x1", &candidates, TTL).await.unwrap();
    let first_in_b = store.assign_round_robin(&b, "y1", &candidates, TTL).await.unwrap();
    assert_eq!(first_in_b.rep_id, "rep-1", "domains_rotate_independently");
    assert_eq!(store.round_robin_turns(&a).await.unwrap(), 1, "domains_rotate_independently");
}

async fn assigning_without_candidates_is_an_error(store: &dyn Store) {
    let err = store.assign_round_robin(&unique("dom"), "l", &[], TTL).await.unwrap_err();
    assert_eq!(err, StoreError::NoCandidates, "assigning_without_candidates_is_an_error");
}
