//! The embedded default: librdkafka's in-process mock cluster, for trying speedlead without a broker.
//! It is not durable and not for production.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use speedlead_topics::Topic;

use super::TopicNames;
use crate::error::Error;

/// A running in-process cluster with the catalogue's topics. Dropping it stops the cluster.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Starts a one-broker cluster and creates every topic. The mock broker does not answer the
    /// CreateTopics admin call, so topics are created through the mock API instead.
    pub fn start(names: &TopicNames, partitions: i32) -> Result<Self, Error> {
        let cluster = MockCluster::new(1)?;
        for topic in Topic::ALL {
            let count = if partitions > 0 { partitions } else { topic.spec().partitions };
            cluster.create_topic(&names.name(topic), count, 1)?;
        }
        Ok(EmbeddedKafka { cluster })
    }

    /// Adds a topic outside the catalogue (the load generator's ping topic).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), Error> {
        Ok(self.cluster.create_topic(name, partitions, 1)?)
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
