use speedlead_topics::{event_type, Contact, QualifiedLead, Topic};

use super::*;
use crate::codec::parse_envelope;
use crate::testkit::{envelope_record, inbound, record, routing};

fn contact(email: Option<&str>, phone: Option<&str>, country: Option<&str>) -> Contact {
    Contact {
        name: Some(" Ana Lopez ".into()),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        country: country.map(Into::into),
        ..Default::default()
    }
}

#[tokio::test]
async fn qualifies_and_keys_by_routing_domain() {
    let stage = IntakeStage::new(routing());
    let rec = envelope_record(
        7,
        event_type::CAPTURED,
        inbound("e1", contact(Some(" Ana@Example.com"), Some("030 901820"), Some("de"))),
    );
    let out = stage.process(&rec).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, Topic::Qualified);
    assert_eq!(out[0].key, "emea");
    let env = parse_envelope::<QualifiedLead>(&record(0, &out[0].payload)).unwrap();
    let lead = env.payload;
    assert_eq!(lead.lead_key, "ana@example.com");
    assert_eq!(lead.contact.phone.as_deref(), Some("+4930901820"));
    assert_eq!(lead.contact.name.as_deref(), Some("Ana Lopez"));
    assert_eq!(lead.contact.country.as_deref(), Some("DE"));
    assert!(env.hops.captured_at.is_some() && env.hops.qualified_at.is_some());
}

#[tokio::test]
async fn same_source_event_gives_same_lead_and_message_ids() {
    let stage = IntakeStage::new(routing());
    let lead = inbound("e-42", contact(None, Some("+1 415 555 2671"), None));
    let a = stage.process(&envelope_record(1, event_type::CAPTURED, lead.clone())).await.unwrap();
    let b = stage.process(&envelope_record(2, event_type::CAPTURED, lead)).await.unwrap();
    let (a, b) = (
        parse_envelope::<QualifiedLead>(&record(0, &a[0].payload)).unwrap(),
        parse_envelope::<QualifiedLead>(&record(0, &b[0].payload)).unwrap(),
    );
    assert_eq!(a.id, b.id);
    assert_eq!(a.payload.lead_id, b.payload.lead_id);
    assert_eq!(a.payload.lead_key, "+14155552671");
    assert_eq!(a.payload.routing_domain, "na");
}

#[tokio::test]
async fn rejects_leads_without_a_usable_contact_naming_the_field() {
    let stage = IntakeStage::new(routing());
    let none = stage
        .process(&envelope_record(1, event_type::CAPTURED, inbound("e", contact(None, None, None))))
        .await;
    assert_eq!(
        none.unwrap_err(),
        StageError::Invalid(
            "payload.contact: no usable email or phone: neither email nor phone given".into()
        )
    );
    let bad = stage
        .process(&envelope_record(
            1,
            event_type::CAPTURED,
            inbound("e", contact(Some("ana@"), Some("12"), Some("US"))),
        ))
        .await
        .unwrap_err();
    assert!(bad.detail().contains("contact.email") && bad.detail().contains("contact.phone"), "{bad}");
}

#[tokio::test]
async fn keeps_the_lead_when_only_one_channel_is_unusable() {
    let lead = qualify(&inbound("e", contact(Some("not-an-email"), Some("+14155552671"), None)), &routing())
        .unwrap();
    assert_eq!(lead.contact.email, None);
    assert_eq!(lead.lead_key, "+14155552671");
    assert_eq!(lead.warnings.len(), 1);
    assert!(lead.warnings[0].starts_with("contact.email:"));
}

#[tokio::test]
async fn rejects_garbage_and_future_schema_versions() {
    let stage = IntakeStage::new(routing());
    let garbage = stage.process(&record(1, b"{not json")).await.unwrap_err();
    assert!(
        matches!(garbage, StageError::Invalid(ref d) if d.starts_with("value: not a valid envelope")),
        "{garbage}"
    );
    let missing =
        stage.process(&record(1, br#"{"id":"00000000-0000-0000-0000-000000000000"}"#)).await.unwrap_err();
    assert!(missing.detail().contains("missing field"), "{missing}");
    let mut env = serde_json::to_value(speedlead_topics::Envelope::new(
        "lead.captured",
        uuid::Uuid::nil(),
        inbound("e", contact(Some("a@b.co"), None, None)),
    ))
    .unwrap();
    env["schema_version"] = 99.into();
    let future = stage.process(&record(1, &serde_json::to_vec(&env).unwrap())).await.unwrap_err();
    assert!(future.detail().starts_with("schema_version: 99"), "{future}");
    let empty_source = stage
        .process(&envelope_record(
            1,
            event_type::CAPTURED,
            speedlead_topics::InboundLead {
                source: " ".into(),
                ..inbound("e", contact(Some("a@b.co"), None, None))
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(empty_source.detail(), "payload.source: must not be empty");
}
