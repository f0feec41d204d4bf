//! The Redis webhook store passes the same contract as the in-memory one, against real Redis.
#![cfg(feature = "integration")]

mod common;

use speedlead::webhooks::store_redis::RedisWebhookStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_store_passes_the_contract() {
    let namespace = format!("contract-{}", uuid::Uuid::new_v4().simple());
    let store = RedisWebhookStore::connect(&common::redis_url(), &namespace).await.expect("redis reachable");
    speedlead::webhooks::store_contract::run_all(&store).await;
}
