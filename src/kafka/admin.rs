//! `speedlead topics create`: creates the catalogue's topics on the configured broker. Idempotent:
//! topics that already exist are left as they are and reported as such.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use speedlead_topics::Topic;

use super::TopicNames;
use crate::config::KafkaSettings;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicStatus {
    Created,
    AlreadyExisted,
}

/// Creates every catalogue topic; returns each name with what happened to it.
pub async fn create_topics(
    settings: &KafkaSettings,
    names: &TopicNames,
) -> Result<Vec<(String, TopicStatus)>, Error> {
    let specs: Vec<(String, i32, String)> = Topic::ALL
        .iter()
        .map(|t| {
            let spec = t.spec();
            let partitions = if settings.partitions > 0 { settings.partitions } else { spec.partitions };
            (names.name(*t), partitions, spec.retention_ms.to_string())
        })
        .collect();
    create(settings, &specs).await
}

/// Creates one topic outside the catalogue (the load generator's ping topic), unless it exists.
pub async fn create_topic(
    settings: &KafkaSettings,
    name: &str,
    partitions: i32,
) -> Result<TopicStatus, Error> {
    let spec = (name.to_string(), partitions, (60 * 60 * 1000).to_string());
    Ok(create(settings, &[spec]).await?.remove(0).1)
}

/// Creates (name, partitions, retention ms) topics; existing ones are reported, not changed.
async fn create(
    settings: &KafkaSettings,
    specs: &[(String, i32, String)],
) -> Result<Vec<(String, TopicStatus)>, Error> {
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|(name, partitions, retention)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(settings.replication_factor))
                .set("retention.ms", retention)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new_topics, &options).await?;
    let mut out = Vec::new();
    for result in results {
        match result {
            Ok(name) => out.push((name, TopicStatus::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                out.push((name, TopicStatus::AlreadyExisted))
            }
            Err((name, code)) => {
                return Err(Error::Config(format!("creating topic {name}: {code}")));
            }
        }
    }
    Ok(out)
}
