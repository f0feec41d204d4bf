//! The dedupe evaluation against real Redis: the same matching and the same assertions as the
//! in-memory run (`speedlead::eval::dedupe`'s unit test), plus what a lookup costs over the network.
#![cfg(feature = "integration")]

mod common;

use std::sync::Arc;

use speedlead::eval::dedupe::evaluate;
use speedlead::store::redis::RedisStore;

/// Precision ≥ 0.95 is the product requirement, account precision ≥ 0.99 guards the per-word name
/// similarity, and the recall floors sit a few points under what seeds 1–8 measure in memory (see
/// the unit test); the store must not change any of them, only the latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_on_redis_is_precise_and_recalls_most_duplicates() {
    let namespace = format!("dedupe-eval-{}", uuid::Uuid::new_v4().simple());
    let store = RedisStore::connect(&common::redis_url(), &namespace).await.expect("redis reachable");
    store.ping().await.unwrap();
    let report = evaluate(Arc::new(store), 7, 2000).await;
    println!("{report}");
    println!(
        "redis lookup p99: find_person {:.0} µs, find_accounts {:.0} µs",
        report.person_lookup.p99_us, report.account_lookup.p99_us
    );
    assert!(report.person.precision() >= 0.95, "{report}");
    assert!(report.account.precision() >= 0.99, "{report}");
    assert!(report.person.recall() >= 0.74, "{report}");
    assert!(report.account.recall() >= 0.95, "{report}");
}
