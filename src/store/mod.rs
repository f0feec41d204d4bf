//! Store adapters: Redis for production and tests, the in-memory store for the embedded default.

pub mod redis;
mod redis_rep_leads;
mod redis_routing;

use std::sync::Arc;

use speedlead_actors::store::{MemoryStore, Store};

use crate::config::RedisSettings;
use crate::error::Error;

/// The configured store: Redis when a URL is set, else in-memory.
pub async fn connect(settings: &RedisSettings) -> Result<Arc<dyn Store>, Error> {
    if settings.url.trim().is_empty() {
        return Ok(Arc::new(MemoryStore::new()));
    }
    Ok(Arc::new(redis::RedisStore::connect(&settings.url, &settings.namespace).await?))
}
