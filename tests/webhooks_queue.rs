//! The Redis delivery queue passes the same contract as the in-memory one, against real Redis.
#![cfg(feature = "integration")]

mod common;

use speedlead::webhooks::queue_redis::RedisQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_queue_passes_the_contract() {
    let namespace = format!("contract-{}", uuid::Uuid::new_v4().simple());
    let queue = RedisQueue::connect(&common::redis_url(), &namespace).await.expect("redis reachable");
    speedlead::webhooks::queue_contract::run_all(&queue).await;
}
