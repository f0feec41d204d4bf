use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use speedlead_topics::{event_type, Assignment, Contact, LeadEvent, Topic};

use super::*;
use crate::codec::parse_envelope;
use crate::intake::qualify;
use crate::store::MemoryStore;
use crate::testkit::{envelope_record, inbound, record, routing};

fn qualified(event_id: &str, country: &str) -> speedlead_topics::QualifiedLead {
    let contact = Contact {
        email: Some(format!("{event_id}@example.com")),
        country: Some(country.into()),
        ..Default::default()
    };
    qualify(&inbound(event_id, contact), &routing()).unwrap()
}

fn router() -> (RouterStage, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (RouterStage::new(routing(), store.clone(), Duration::from_secs(3600)), store)
}

fn assignment_of(out: &[Outbound]) -> Assignment {
    let a = out.iter().find(|o| o.topic == Topic::Assignments).unwrap();
    parse_envelope::<Assignment>(&record(0, &a.payload)).unwrap().payload
}

#[tokio::test]
async fn assigns_round_robin_within_the_domain_and_publishes_both_topics() {
    let (stage, _) = router();
    let mut per_rep: HashMap<String, u32> = HashMap::new();
    for i in 0..9 {
        let out = stage
            .process(&envelope_record(i, event_type::QUALIFIED, qualified(&format!("l{i}"), "US")))
            .await
            .unwrap();
        assert_eq!(out.len(), 2);
        let a = assignment_of(&out);
        assert_eq!((a.routing_domain.as_str(), a.attempt, a.reason.as_str()), ("na", 1, "round_robin"));
        let event = out.iter().find(|o| o.topic == Topic::Events).unwrap();
        assert_eq!(event.key, a.lead_id.to_string());
        assert!(
            matches!(parse_envelope::<LeadEvent>(&record(0, &event.payload)).unwrap().payload, LeadEvent::Assigned(ref e) if *e == a)
        );
        *per_rep.entry(a.rep_id).or_default() += 1;
    }
    assert_eq!(per_rep, HashMap::from([("ana".into(), 3), ("ben".into(), 3), ("cy".into(), 3)]));
}

#[tokio::test]
async fn redelivered_lead_gets_the_same_rep_and_message_ids() {
    let (stage, store) = router();
    let lead = qualified("dup", "DE");
    let first = stage.process(&envelope_record(1, event_type::QUALIFIED, lead.clone())).await.unwrap();
    let again = stage.process(&envelope_record(2, event_type::QUALIFIED, lead)).await.unwrap();
    assert_eq!(assignment_of(&first), assignment_of(&again));
    let ids = |out: &[Outbound]| {
        out.iter()
            .map(|o| parse_envelope::<serde_json::Value>(&record(0, &o.payload)).unwrap().id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(store.round_robin_turns("emea").await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_domain_is_invalid() {
    let (stage, _) = router();
    let mut lead = qualified("x", "US");
    lead.routing_domain = "apac".into();
    let err = stage.process(&envelope_record(1, event_type::QUALIFIED, lead)).await.unwrap_err();
    assert_eq!(err, StageError::Invalid("payload.routing_domain: 'apac' is not a configured domain".into()));
}
