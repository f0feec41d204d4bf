//! The Redis store passes the same contract suite as the in-memory one, against real Redis.
#![cfg(feature = "integration")]

mod common;

use std::sync::Arc;

use speedlead::store::redis::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_store_contract() {
    let store =
        RedisStore::connect(&common::redis_url(), &format!("contract-{}", uuid::Uuid::new_v4().simple()))
            .await
            .expect("redis reachable");
    store.ping().await.unwrap();
    speedlead_actors::store_contract::run_all(Arc::new(store)).await;
}
