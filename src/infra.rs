//! Connects to the configured broker and store, or starts the embedded ones when none is configured.

use std::sync::Arc;

use speedlead_actors::store::Store;

use crate::config::Settings;
use crate::error::Error;
use crate::kafka::embedded::EmbeddedKafka;
use crate::kafka::TopicNames;

pub struct Infra {
    pub brokers: String,
    pub store: Arc<dyn Store>,
    /// Kept alive for as long as the in-process cluster is in use.
    pub embedded: Option<EmbeddedKafka>,
}

impl Infra {
    pub async fn connect(settings: &Settings) -> Result<Self, Error> {
        let embedded = if settings.embedded_kafka() {
            let names = TopicNames::new(&settings.kafka.topic_prefix);
            let partitions = if settings.kafka.partitions > 0 { settings.kafka.partitions } else { 3 };
            Some(EmbeddedKafka::start(&names, partitions)?)
        } else {
            None
        };
        let brokers = embedded
            .as_ref()
            .map(EmbeddedKafka::bootstrap_servers)
            .unwrap_or_else(|| settings.kafka.brokers.clone());
        let store = crate::store::connect(&settings.redis).await?;
        Ok(Infra { brokers, store, embedded })
    }

    pub fn describe(&self, settings: &Settings) -> String {
        let kafka = if self.embedded.is_some() {
            "embedded Kafka (in-process, not durable)".to_string()
        } else {
            format!("Kafka at {}", self.brokers)
        };
        let store = if settings.embedded_store() {
            "in-memory store".to_string()
        } else {
            format!("Redis at {}", settings.redis.url)
        };
        format!("{kafka} + {store}")
    }
}
