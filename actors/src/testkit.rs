//! In-process fakes of the ports, for unit tests of actors and stages.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use speedlead_topics::{Contact, Envelope, InboundLead, Topic};

use crate::ports::{OffsetTracker, Outbound, PartitionRestarter, PublishError, Publisher, Record};
use crate::rules::{Routing, RoutingConfig, SharedRouting};

/// Records what was published; can be told to fail the next N calls.
#[derive(Default)]
pub struct RecordingPublisher {
    sent: Mutex<Vec<Outbound>>,
    failures_left: AtomicU32,
    calls: AtomicU32,
    fatal: std::sync::atomic::AtomicBool,
}

impl RecordingPublisher {
    /// Every later publish fails as if the producer hit a fatal error.
    pub fn fail_fatally(&self) {
        self.fatal.store(true, Ordering::SeqCst);
    }

    /// Successful publish calls.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn fail_next(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    pub fn sent_to(&self, topic: Topic) -> Vec<Outbound> {
        self.sent.lock().unwrap().iter().filter(|m| m.topic == topic).cloned().collect()
    }
}

#[async_trait]
impl Publisher for RecordingPublisher {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        if self.fatal.load(Ordering::SeqCst) {
            return Err(PublishError { message: "producer fenced (test)".into(), fatal: true });
        }
        let failing =
            self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(PublishError::retriable("broker unavailable (test)"));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.sent.lock().unwrap().extend(messages);
        Ok(())
    }
}

#[derive(Default)]
pub struct RecordingOffsets {
    pub processed: Mutex<Vec<i64>>,
}

impl OffsetTracker for RecordingOffsets {
    fn processed(&self, _topic: &str, _partition: i32, offset: i64) {
        self.processed.lock().unwrap().push(offset);
    }
}

#[derive(Default)]
pub struct RecordingRestarter {
    pub restarts: Mutex<Vec<i32>>,
}

impl PartitionRestarter for RecordingRestarter {
    fn restart(&self, partition: i32) {
        self.restarts.lock().unwrap().push(partition);
    }
}

/// A stage that fails transiently `failures` times, then echoes each record's offset as the key.
pub struct FlakyStage {
    pub failures_left: AtomicU32,
}

#[async_trait]
impl crate::stage::Stage for FlakyStage {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, crate::stage::StageError> {
        if self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(crate::stage::StageError::Transient("store unavailable (test)".into()));
        }
        Ok(vec![Outbound { topic: Topic::Qualified, key: record.offset.to_string(), payload: vec![] }])
    }
}

pub fn record(offset: i64, payload: &[u8]) -> Record {
    Record {
        topic: "leads.inbound".into(),
        partition: 0,
        offset,
        key: Some(b"k".to_vec()),
        payload: Some(payload.to_vec()),
        timestamp_ms: None,
        headers: Vec::new(),
    }
}

pub fn inbound(event_id: &str, contact: Contact) -> InboundLead {
    InboundLead::new("web-form", event_id, contact)
}

pub fn envelope_record<T: serde::Serialize>(offset: i64, event_type: &str, payload: T) -> Record {
    let env = Envelope::new(event_type, uuid::Uuid::new_v4(), payload);
    record(offset, &serde_json::to_vec(&env).unwrap())
}

pub fn routing() -> SharedRouting {
    let config: RoutingConfig = serde_json::from_value(serde_json::json!({
        "default_domain": "na",
        "domains": [
            {"name": "na", "countries": ["US", "CA"], "reps": [{"id": "ana"}, {"id": "ben"}, {"id": "cy"}]},
            {"name": "emea", "countries": ["DE", "FR"], "reps": [{"id": "dora"}]}
        ]
    }))
    .unwrap();
    crate::rules::shared(Routing::new(config).unwrap())
}
