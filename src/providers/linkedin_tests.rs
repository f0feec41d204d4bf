use axum::http::HeaderMap;
use chrono::Utc;

use super::super::ProviderKind;
use super::*;

const NOTIFICATION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/providers/linkedin_lead_notification.json"
));
const RESPONSE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/providers/linkedin_lead_form_response.json"
));
const FORM: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/providers/linkedin_lead_form.json"));

fn source() -> SourceConfig {
    SourceConfig::new("linkedin", ProviderKind::LinkedIn, vec!["new-secret".into(), "old-secret".into()])
}

fn headers(signature: Option<String>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    if let Some(sig) = signature {
        h.insert("x-li-signature", sig.parse().unwrap());
    }
    h
}

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
    RawRequest { method: "POST", uri: "/v1/capture/linkedin", headers, body, now: Utc::now() }
}

fn hex_mac(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), parts))
}

#[test]
fn every_reading_of_the_signature_verifies_with_any_configured_secret() {
    let body = NOTIFICATION.trim_end().as_bytes();
    for signature in [
        hex_mac("old-secret", &[body]),
        format!("hmacsha256={}", hex_mac("new-secret", &[body])),
        hex_mac("new-secret", &[b"hmacsha256=", body]),
    ] {
        let h = headers(Some(signature.clone()));
        assert_eq!(LinkedIn.verify(&source(), &request(&h, body)), Ok(()), "{signature}");
    }
}

#[test]
fn tampered_unsigned_or_foreign_signatures_are_refused() {
    let body = NOTIFICATION.trim_end().as_bytes();
    let tampered = NOTIFICATION.trim_end().replace("1a2b3c-4", "1a2b3c-5");
    let h = headers(Some(hex_mac("new-secret", &[body])));
    assert_eq!(
        LinkedIn.verify(&source(), &request(&h, tampered.as_bytes())),
        Err(Rejection::Unauthorized("bad_signature"))
    );
    let foreign = headers(Some(hex_mac("someone-else", &[body])));
    assert_eq!(
        LinkedIn.verify(&source(), &request(&foreign, body)),
        Err(Rejection::Unauthorized("bad_signature"))
    );
    let garbage = headers(Some("hmacsha256=not-hex".into()));
    assert_eq!(
        LinkedIn.verify(&source(), &request(&garbage, body)),
        Err(Rejection::Unauthorized("bad_signature"))
    );
    let none = headers(None);
    assert_eq!(
        LinkedIn.verify(&source(), &request(&none, body)),
        Err(Rejection::Unauthorized("missing_signature"))
    );
}

#[test]
fn a_created_lead_action_becomes_a_lead_to_fetch() {
    let body = NOTIFICATION.trim_end().as_bytes();
    let h = headers(None);
    let leads = LinkedIn.parse(&source(), &request(&h, body)).unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].event_id, "urn:li:leadGenFormResponse:1a2b3c-4");
    let lead = &leads[0].lead;
    assert_eq!(lead.fetch, Some(FetchRef { provider: "linkedin".into(), id: "1a2b3c-4".into() }));
    assert_eq!(lead.attribution["linkedin_creative"], "urn:li:sponsoredCreative:456");
    assert_eq!(lead.attribution["linkedin_sponsored_account"], "urn:li:sponsoredAccount:123");
    assert_eq!(lead.raw.as_ref().unwrap()["occurredAt"], 1686182358881_i64);
}

#[test]
fn deleted_actions_are_acknowledged_without_a_lead_and_bad_bodies_name_fields() {
    let deleted = NOTIFICATION.trim_end().replace("\"CREATED\"", "\"DELETED\"");
    let h = headers(None);
    assert_eq!(LinkedIn.parse(&source(), &request(&h, deleted.as_bytes())).unwrap(), vec![]);
    let err = LinkedIn.parse(&source(), &request(&h, br#"{"leadAction":"CREATED"}"#)).unwrap_err();
    assert_eq!(
        err,
        Rejection::Invalid(vec![
            crate::providers::FieldError::new("type", "required"),
            crate::providers::FieldError::new("leadGenFormResponse", "required"),
        ])
    );
}

#[test]
fn the_challenge_is_answered_with_the_current_secret() {
    let query: BTreeMap<String, String> =
        [("challengeCode".to_string(), "890e4665-4dfe-4ab1-b689-ed553bceeed0".to_string())].into();
    let answer = handshake(&source(), &query).unwrap();
    assert_eq!(answer["challengeCode"], "890e4665-4dfe-4ab1-b689-ed553bceeed0");
    let expected = hex_mac("new-secret", &[b"890e4665-4dfe-4ab1-b689-ed553bceeed0"]);
    assert_eq!(answer["challengeResponse"], expected.as_str());
    assert_eq!(handshake(&source(), &BTreeMap::new()), None);
}

#[test]
fn answers_map_onto_the_contact_through_the_forms_predefined_fields() {
    let form: Value = serde_json::from_str(FORM).unwrap();
    let mut response: Value = serde_json::from_str(RESPONSE).unwrap();
    response["form"] = json!({ "hiddenFields": form["hiddenFields"].clone() });
    let fetched = lead_from_response(response, &questions_of(&form["content"]["questions"]));
    let c = &fetched.contact;
    assert_eq!(c.name.as_deref(), Some("Kevin Johnson"));
    assert_eq!(c.email.as_deref(), Some("kevin.johnson@example.com"));
    assert_eq!(c.phone.as_deref(), Some("+1 415 555 2671"));
    assert_eq!(
        (c.company.as_deref(), c.title.as_deref()),
        (Some("Example Logistics"), Some("Head of Operations"))
    );
    assert_eq!(fetched.attribution["utm_campaign"], "q4-demo");
    assert_eq!(fetched.attribution["linkedin_region"], "na");
    assert_eq!(fetched.attribution["linkedin_campaign"], "urn:li:sponsoredCampaign:198356826");
}

#[test]
fn form_ids_come_from_versioned_form_urns() {
    assert_eq!(form_id("urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246,1)"), Some("7234246"));
    assert_eq!(form_id("urn:li:versionedLeadGenForm:(urn:li:leadGenForm:1, 1)"), Some("1"));
    assert_eq!(form_id("urn:li:somethingElse:1"), None);
}
