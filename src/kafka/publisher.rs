//! The [`Publisher`] port on a real (or embedded) Kafka producer.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use speedlead_actors::ports::{Outbound, PublishError, Publisher};

use super::TopicNames;
use crate::error::Error;

#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    names: TopicNames,
}

impl KafkaPublisher {
    pub fn new(config: &rdkafka::ClientConfig, names: TopicNames) -> Result<Self, Error> {
        Ok(KafkaPublisher { producer: config.create()?, names })
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Waits for outstanding deliveries, for a clean shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "producer flush incomplete");
        }
    }
}

impl KafkaPublisher {
    /// A publish error, marked fatal when the producer can no longer deliver anything.
    fn error(&self, message: String, cause: Option<&KafkaError>) -> PublishError {
        // A fenced idempotent producer never recovers (seen on brokers without epoch bumps).
        let fenced = cause.and_then(KafkaError::rdkafka_error_code) == Some(RDKafkaErrorCode::ProducerFenced);
        if fenced {
            return PublishError { message, fatal: true };
        }
        match self.producer.client().fatal_error() {
            Some((code, reason)) => {
                PublishError { message: format!("{message} (fatal {code:?}: {reason})"), fatal: true }
            }
            None => PublishError::retriable(message),
        }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        // Enqueue everything first (in order, so same-key messages keep it), then await the acks
        // together: one broker round trip for the batch instead of one per message.
        let mut deliveries = Vec::with_capacity(messages.len());
        for m in &messages {
            let topic = self.names.name(m.topic);
            let record = FutureRecord::to(&topic).key(&m.key).payload(&m.payload);
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((e, _)) => return Err(self.error(format!("enqueue to {topic}: {e}"), Some(&e))),
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(self.error(e.to_string(), Some(&e))),
                Err(_) => return Err(self.error("producer dropped the delivery".into(), None)),
            }
        }
        Ok(())
    }
}
