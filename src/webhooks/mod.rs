//! Outbound webhooks: lead events, signed per Standard Webhooks, delivered to the subscribers that
//! asked for their type, retried on a schedule for about a day and a half, dead-lettered after.
//!
//! - [`settings`]: `[webhooks]`: subscriptions, the retry schedule, the SSRF guard's switch;
//! - [`event`]: which lead events go out, as which type, with which payload;
//! - [`guard`]: refuses loopback, private and link-local destinations;
//! - [`attempt`]: one signed POST and what its answer means;
//! - [`schedule`]: when the next attempt is due, when an endpoint is switched off;
//! - [`queue`] (+ `queue_redis`, and the contract both pass): the durable jobs and dead letters;
//! - [`stage`]: the `webhooks` stage on `leads.events`, which enqueues;
//! - [`deliverer`]: takes due jobs and attempts them.

pub mod attempt;
pub mod deliverer;
pub mod event;
pub mod guard;
pub mod queue;
#[cfg(any(test, feature = "integration"))]
pub mod queue_contract;
pub mod queue_redis;
pub mod schedule;
pub mod settings;
pub mod stage;

use std::sync::Arc;

use crate::config::RedisSettings;
use crate::error::Error;
use queue::{DeliveryQueue, MemoryQueue};

/// The configured queue: Redis when a URL is set, else in memory (embedded default).
pub async fn connect_queue(redis: &RedisSettings) -> Result<Arc<dyn DeliveryQueue>, Error> {
    if redis.url.trim().is_empty() {
        return Ok(Arc::new(MemoryQueue::default()));
    }
    Ok(Arc::new(queue_redis::RedisQueue::connect(&redis.url, &redis.namespace).await?))
}
