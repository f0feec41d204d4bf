//! librdkafka client settings. Its defaults are tuned for throughput (`linger.ms` 5,
//! `fetch.wait.max.ms` 500); speed-to-lead needs each hop to leave at once.

use rdkafka::ClientConfig;

use crate::config::KafkaSettings;

fn base(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers).set("socket.nagle.disable", "true").set("client.id", "speedlead");
    c
}

/// Producer: wait for all in-sync replicas, never batch-wait, idempotent so retries cannot reorder or
/// duplicate within a partition.
pub fn producer(settings: &KafkaSettings, brokers: &str) -> ClientConfig {
    let mut c = base(brokers);
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .set("message.timeout.ms", settings.delivery_timeout_ms.to_string());
    c
}

/// Producer for the capture gateway: acks=all like every producer, but not idempotent. Each write is
/// one lead whose downstream effect is already idempotent by lead id, so a rare duplicate costs
/// nothing; whereas an idempotent producer whose messages time out during a broker outage must bump
/// its epoch, which some Kafka-compatible brokers (tansu 0.6) answer with `ProducerFenced` forever —
/// the gateway would stay unavailable after the broker came back.
pub fn capture_producer(settings: &KafkaSettings, brokers: &str, timeout_ms: u32) -> ClientConfig {
    let mut c = producer(settings, brokers);
    c.set("enable.idempotence", "false").set("message.timeout.ms", timeout_ms.to_string());
    c
}

/// Consumer in a group: offsets are stored by speedlead only after a record is fully processed
/// (`enable.auto.offset.store=false`) and committed periodically and on revoke.
pub fn consumer(settings: &KafkaSettings, brokers: &str, group_id: &str) -> ClientConfig {
    let mut c = base(brokers);
    c.set("group.id", group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("fetch.min.bytes", "1")
        .set("session.timeout.ms", settings.session_timeout_ms.to_string())
        .set("heartbeat.interval.ms", (settings.session_timeout_ms / 3).max(100).to_string());
    c
}

/// A consumer outside any group, for tools that read topics by assignment (demo, tests, bench).
pub fn reader(settings: &KafkaSettings, brokers: &str) -> ClientConfig {
    let mut c = base(brokers);
    c.set("group.id", format!("speedlead-reader-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("fetch.min.bytes", "1");
    c
}
