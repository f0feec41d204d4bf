//! Outbound webhooks: lead events, signed per Standard Webhooks, delivered to the subscribers that
//! asked for their type, retried on a schedule for about a day and a half, dead-lettered after.
//!
//! - [`settings`]: `[webhooks]`: subscriptions, the retry schedule, the SSRF guard's switch;
//! - [`event`]: which lead events go out, as which type, with which payload;
//! - [`guard`]: refuses loopback, private and link-local destinations;
//! - [`attempt`]: one signed POST and what its answer means;
//! - [`schedule`]: when the next attempt is due, when an endpoint is switched off;
//! - [`store`] (+ `store_redis`, and the contract both pass): durable jobs, dead letters, endpoint state;
//! - [`subscriptions`]: the config file's subscriptions and the admin API's, re-read from the store;
//! - [`stage`]: the `webhooks` stage on `leads.events`, which enqueues;
//! - [`deliverer`]: takes due jobs and attempts them.

pub mod attempt;
pub mod deliverer;
pub mod event;
pub mod guard;
pub mod schedule;
pub mod settings;
pub mod stage;
pub mod store;
#[cfg(any(test, feature = "integration"))]
pub mod store_contract;
pub mod store_redis;
pub mod subscriptions;

use std::sync::Arc;

use crate::config::RedisSettings;
use crate::error::Error;
use store::{MemoryWebhookStore, WebhookStore};

/// The configured store: Redis when a URL is set, else in memory (embedded default).
pub async fn connect_store(redis: &RedisSettings) -> Result<Arc<dyn WebhookStore>, Error> {
    if redis.url.trim().is_empty() {
        return Ok(Arc::new(MemoryWebhookStore::default()));
    }
    Ok(Arc::new(store_redis::RedisWebhookStore::connect(&redis.url, &redis.namespace).await?))
}
