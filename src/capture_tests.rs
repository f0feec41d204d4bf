use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use speedlead_actors::ports::PublishError;
use speedlead_actors::store::MemoryStore;
use speedlead_topics::Contact;

use super::*;

/// Records published messages; can fail, and takes a little time like a broker ack.
#[derive(Default)]
struct FakeBroker {
    written: Mutex<Vec<Outbound>>,
    down: AtomicBool,
}

#[async_trait]
impl Publisher for FakeBroker {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        let down = self.down.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        if down {
            return Err(PublishError::retriable("broker down (test)"));
        }
        self.written.lock().unwrap().extend(messages);
        Ok(())
    }
}

fn policy() -> CapturePolicy {
    CapturePolicy {
        require_contact: true,
        idempotency_ttl: Duration::from_secs(60),
        pending_ttl: Duration::from_secs(30),
        duplicate_wait: Duration::from_secs(5),
    }
}

fn captured(event_id: &str, email: Option<&str>, phone: Option<&str>) -> CapturedLead {
    let contact =
        Contact { email: email.map(Into::into), phone: phone.map(Into::into), ..Default::default() };
    let lead = InboundLead::new("website", event_id, contact);
    CapturedLead { event_id: event_id.into(), lead }
}

fn setup() -> (Arc<dyn Store>, Arc<FakeBroker>, Arc<dyn Publisher>) {
    let broker = Arc::new(FakeBroker::default());
    (Arc::new(MemoryStore::new()), broker.clone(), broker)
}

#[tokio::test]
async fn a_redelivery_answers_the_same_lead_and_writes_nothing() {
    let (store, broker, publisher) = setup();
    let first = accept(captured("e1", Some("a@b.co"), None), &store, &publisher, &policy()).await.unwrap();
    let again = accept(captured("e1", Some("a@b.co"), None), &store, &publisher, &policy()).await.unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.lead_id, again.lead_id);
    assert_eq!(first.lead_id, lead_id("website", "e1"));
    assert_eq!(broker.written.lock().unwrap().len(), 1);
    let key = &broker.written.lock().unwrap()[0].key;
    assert_eq!(key, "a@b.co");
}

#[tokio::test]
async fn concurrent_duplicates_write_once_and_all_get_the_lead_id() {
    let (store, broker, publisher) = setup();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, publisher) = (store.clone(), publisher.clone());
            tokio::spawn(async move {
                accept(captured("storm", Some("s@b.co"), None), &store, &publisher, &policy()).await
            })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        let accepted = t.await.unwrap().unwrap();
        assert_eq!(accepted.lead_id, lead_id("website", "storm"));
        new += usize::from(!accepted.duplicate);
    }
    assert_eq!(new, 1);
    assert_eq!(broker.written.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_write_is_not_acknowledged_and_the_retry_writes_it() {
    let (store, broker, publisher) = setup();
    broker.down.store(true, Ordering::SeqCst);
    let err =
        accept(captured("e2", None, Some("+14155552671")), &store, &publisher, &policy()).await.unwrap_err();
    assert!(matches!(err, Unavailable::Broker(_)), "{err}");
    broker.down.store(false, Ordering::SeqCst);
    let retry =
        accept(captured("e2", None, Some("+14155552671")), &store, &publisher, &policy()).await.unwrap();
    assert!(!retry.duplicate, "the failed attempt must not count as captured");
    assert_eq!(broker.written.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_duplicate_waiting_on_a_failing_first_takes_over() {
    let (store, broker, publisher) = setup();
    broker.down.store(true, Ordering::SeqCst);
    let first = {
        let (store, publisher) = (store.clone(), publisher.clone());
        tokio::spawn(async move {
            accept(captured("e3", Some("c@b.co"), None), &store, &publisher, &policy()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = {
        let (store, publisher, broker) = (store.clone(), publisher.clone(), broker.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            broker.down.store(false, Ordering::SeqCst);
            accept(captured("e3", Some("c@b.co"), None), &store, &publisher, &policy()).await
        })
    };
    assert!(first.await.unwrap().is_err());
    let second = second.await.unwrap().unwrap();
    assert!(!second.duplicate);
    assert_eq!(broker.written.lock().unwrap().len(), 1);
}

#[test]
fn leads_without_a_usable_contact_are_named() {
    let ok = [captured("a", Some("a@b.co"), Some("nonsense"))];
    assert!(check_contact(&ok, &policy()).is_ok());
    let bad = [captured("b", Some("not-an-email"), Some("12")), captured("c", None, None)];
    let errors = check_contact(&bad, &policy()).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].field, "leads[0].contact");
    assert!(errors[0].message.contains("email 'not-an-email' has no '@'"), "{}", errors[0].message);
    assert!(errors[0].message.contains("phone '12'"), "{}", errors[0].message);
    assert_eq!(errors[1].message, "no usable email or phone: neither email nor phone given");
    let relaxed = CapturePolicy { require_contact: false, ..policy() };
    assert!(check_contact(&bad, &relaxed).is_ok());
}
