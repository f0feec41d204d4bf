//! The one error type of the `speedlead` binary.

use speedlead_actors::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("actor system: {0}")]
    Actor(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ractor::SpawnErr> for Error {
    fn from(e: ractor::SpawnErr) -> Self {
        Error::Actor(e.to_string())
    }
}
