//! Kafka adapters: client settings, the publisher port, the stage consumers that feed partition
//! actors, topic administration and the embedded in-process cluster.

pub mod admin;
pub mod client;
pub mod consumer;
pub mod embedded;
pub mod publisher;

use speedlead_topics::Topic;

/// Maps catalogue topics to the names configured on the broker (prefix + catalogue name).
#[derive(Debug, Clone, Default)]
pub struct TopicNames {
    prefix: String,
}

impl TopicNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        TopicNames { prefix: prefix.into() }
    }

    pub fn name(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.name())
    }
}
