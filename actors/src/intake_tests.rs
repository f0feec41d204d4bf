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
    assert_eq!(out.len(), 2, "lead.qualified on leads.events, the lead on leads.qualified");
    assert_eq!((out[1].topic, out[1].key.as_str()), (Topic::Qualified, "emea"));
    let env = parse_envelope::<QualifiedLead>(&record(0, &out[1].payload)).unwrap();
    let lead = env.payload;
    assert_eq!((out[0].topic, out[0].key.clone()), (Topic::Events, lead.lead_id.to_string()));
    let event = parse_envelope::<speedlead_topics::LeadEvent>(&record(0, &out[0].payload)).unwrap();
    assert!(matches!(event.payload, speedlead_topics::LeadEvent::Qualified(ref q) if **q == lead));
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
async fn consent_and_signals_travel_with_the_lead() {
    let mut lead = inbound("e", contact(Some("a@b.co"), None, None));
    lead.consent.insert("email_marketing".into(), true);
    lead.signals.insert("pages_viewed".into(), 7.into());
    let q = qualify(&lead, &routing().load()).unwrap();
    assert_eq!(q.consent, lead.consent);
    assert_eq!(q.signals, lead.signals);
}

#[tokio::test]
async fn keeps_the_lead_when_only_one_channel_is_unusable() {
    let lead =
        qualify(&inbound("e", contact(Some("not-an-email"), Some("+14155552671"), None)), &routing().load())
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

/// Stands in for the provider adapters: reads `{"event_id", "email"}` for the source `website`.
struct FakeRawParser;

impl crate::ports::RawLeadParser for FakeRawParser {
    fn parse(
        &self,
        source: &str,
        content_type: Option<&str>,
        payload: &[u8],
    ) -> Result<Vec<speedlead_topics::InboundLead>, String> {
        if source != "website" {
            return Err(format!("unknown source '{source}'"));
        }
        assert_eq!(content_type, Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        let contact = Contact { email: v["email"].as_str().map(Into::into), ..Default::default() };
        Ok(vec![speedlead_topics::InboundLead {
            source: source.into(),
            ..inbound(v["event_id"].as_str().unwrap(), contact)
        }])
    }
}

fn raw_record(source: &str, body: &[u8]) -> crate::ports::Record {
    let mut r = record(3, body);
    r.timestamp_ms = Some(1_700_000_000_000);
    r.headers = vec![
        ("source".into(), source.as_bytes().to_vec()),
        ("content-type".into(), b"application/json".to_vec()),
    ];
    r
}

#[tokio::test]
async fn raw_provider_payloads_with_a_source_header_are_qualified_too() {
    let stage = IntakeStage::new(routing()).with_raw_payloads(std::sync::Arc::new(FakeRawParser));
    let out = stage
        .process(&raw_record("website", br#"{"event_id":"f-1","email":"Raw@Example.com"}"#))
        .await
        .unwrap();
    let env = parse_envelope::<QualifiedLead>(&record(0, &out[0].payload)).unwrap();
    assert_eq!(env.correlation_id, speedlead_topics::lead_id("website", "f-1"));
    assert_eq!(env.payload.lead_id, env.correlation_id);
    assert_eq!(env.payload.lead_key, "raw@example.com");
    assert_eq!(env.hops.captured_at.unwrap().timestamp_millis(), 1_700_000_000_000);

    let unknown = stage.process(&raw_record("fax", b"{}")).await.unwrap_err();
    assert_eq!(unknown.detail(), "value (raw payload of source 'fax'): unknown source 'fax'");
    let refused = IntakeStage::new(routing()).process(&raw_record("website", b"{}")).await.unwrap_err();
    assert!(refused.detail().starts_with("headers.source:"), "{refused}");
}
