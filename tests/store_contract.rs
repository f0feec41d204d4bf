//! The Redis store passes the same contract suite as the in-memory one, against real Redis.
#![cfg(feature = "integration")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use speedlead::store::redis::RedisStore;
use speedlead_actors::store::{AccountRecord, Store};

async fn store() -> RedisStore {
    let store =
        RedisStore::connect(&common::redis_url(), &format!("contract-{}", uuid::Uuid::new_v4().simple()))
            .await
            .expect("redis reachable");
    store.ping().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_store_contract() {
    speedlead_actors::store_contract::run_all(Arc::new(store().await)).await;
}

/// `record_owner` pipelines its scripts as `EVALSHA`, which Redis answers with `NOSCRIPT` once its
/// script cache is empty (a restart, a failover, `SCRIPT FLUSH`); the store must load them and
/// go on. Flushing is harmless to tests running alongside: every other call loads its script itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_owner_survives_an_emptied_script_cache() {
    let store = store().await;
    let ttl = Duration::from_secs(60);
    let (lead, email) = ("lead-1", "flushed@example.com");
    let account =
        AccountRecord { account_id: "acct-1".into(), name: "flush".into(), domain: None, owner: None };
    store.save_person(lead, "{}", &[email.to_string()], &[], ttl).await.unwrap();
    store.save_account(&account, "flu", ttl).await.unwrap();

    let mut admin =
        redis::Client::open(common::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut admin).await.unwrap();
    store.record_owner(lead, Some(&account.account_id), "rep-1").await.unwrap();

    let person = store.find_person(Some(email), None).await.unwrap().unwrap();
    let accounts = store.find_accounts(None, "flu", ttl).await.unwrap();
    assert_eq!((person.owner.as_deref(), accounts[0].owner.as_deref()), (Some("rep-1"), Some("rep-1")));
}
