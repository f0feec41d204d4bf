//! `speedlead topics create` on the real broker: creates every catalogue topic, and is idempotent.
#![cfg(feature = "integration")]

mod common;

use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use speedlead_topics::Topic;

#[test]
fn topics_create_makes_every_catalogue_topic_and_is_idempotent() {
    let settings = common::isolated_settings();
    let run = |expect: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_speedlead"))
            .args(["topics", "create"])
            .envs(common::process::env_for(&settings))
            .env("SPEEDLEAD_KAFKA__PARTITIONS", "2")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        for topic in Topic::ALL {
            let line = format!("{}{}: {expect}", settings.kafka.topic_prefix, topic.name());
            assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
        }
    };
    run("created");
    run("already exists");

    let consumer: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &settings.kafka.brokers).create().unwrap();
    for topic in Topic::ALL {
        let name = format!("{}{}", settings.kafka.topic_prefix, topic.name());
        let metadata = consumer.fetch_metadata(Some(&name), Duration::from_secs(10)).unwrap();
        assert_eq!(metadata.topics()[0].partitions().len(), 2, "{name}");
    }
}

#[test]
fn topics_create_without_a_broker_explains_what_to_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_speedlead"))
        .args(["topics", "create"])
        .env_remove("SPEEDLEAD_KAFKA__BROKERS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no broker configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
