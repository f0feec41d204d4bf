//! GoHighLevel: `x-wh-signature` is a base64 RSA-SHA256 (PKCS#1 v1.5) signature over the raw body,
//! checked with GoHighLevel's published public key (configured as the source's secret, PEM; list
//! two while they rotate). The body's `timestamp`, where the event has one, must be within 5 minutes
//! of receipt.
//! `ContactCreate` carries the contact; `OpportunityCreate` carries only a contact id, so intake reads
//! the contact from the GoHighLevel API (`api_token`, optional `api_base_url`).

use std::collections::BTreeMap;

use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::Value;
use sha2::Sha256;
use speedlead_actors::ports::{FetchError, FetchedLead};
use speedlead_topics::{Contact, FetchRef, InboundLead};

use super::api;
use super::fields::json_body;
use super::signature::{fresh, TIMESTAMP_TOLERANCE_SECS};
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct GoHighLevel;

impl Provider for GoHighLevel {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let given = request.header("x-wh-signature").ok_or(Rejection::Unauthorized("missing_signature"))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(given.trim())
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or(Rejection::Unauthorized("bad_signature"))?;
        // Every configured key is tried (no early exit), so timing does not tell which one matched.
        let verified = source
            .secrets
            .iter()
            .filter_map(|pem| RsaPublicKey::from_public_key_pem(pem).ok())
            .map(|key| VerifyingKey::<Sha256>::new(key).verify(request.body, &given).is_ok())
            .fold(false, |any, ok| any | ok);
        if !verified {
            return Err(Rejection::Unauthorized("bad_signature"));
        }
        let body: Value =
            serde_json::from_slice(request.body).map_err(|_| Rejection::Unauthorized("bad_signature"))?;
        // Some events (e.g. OpportunityCreate in GoHighLevel's own examples) carry no timestamp; they
        // still need the signature, and a replay of the same event is absorbed by its idempotency key.
        let Some(timestamp) = body.get("timestamp") else { return Ok(()) };
        let timestamp = timestamp
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or(Rejection::Unauthorized("stale_timestamp"))?;
        fresh(timestamp.timestamp(), request.now, TIMESTAMP_TOLERANCE_SECS)
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let body = json_body(request)?;
        let (event_field, contact, fetch) = match body.get("type").and_then(Value::as_str) {
            Some("ContactCreate") => ("webhookId", contact_from(&body), None),
            // Carries only the contact's id: intake reads the contact from the GoHighLevel API.
            Some("OpportunityCreate") => {
                let Some(contact_id) = text(&body, "contactId") else {
                    return Err(Rejection::invalid("contactId", "missing"));
                };
                ("id", Contact::default(), Some(FetchRef { provider: "gohighlevel".into(), id: contact_id }))
            }
            Some(other) => return Err(Rejection::invalid("type", format!("'{other}' is not a lead event"))),
            None => return Err(Rejection::invalid("type", "missing")),
        };
        let Some(event_id) = text(&body, event_field) else {
            return Err(Rejection::Invalid(vec![FieldError::new(event_field, "missing")]));
        };
        let mut attribution = BTreeMap::new();
        if let Some(s) = text(&body, "source") {
            attribution.insert("ghl_source".to_string(), s);
        }
        if let Some(tags) = body.get("tags").and_then(Value::as_array) {
            let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
            attribution.insert("ghl_tags".to_string(), tags.join(","));
        }
        for (field, key) in [("pipelineId", "ghl_pipeline_id"), ("monetaryValue", "ghl_monetary_value")] {
            if let Some(v) = text(&body, field) {
                attribution.insert(key.to_string(), v);
            }
        }
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact,
            attribution,
            raw: Some(body.clone()),
            fetch,
            consent: Default::default(),
            signals: Default::default(),
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

/// A non-empty string (or number) field of a JSON object.
fn text(object: &Value, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A GoHighLevel contact (webhook body or API answer) as a lead's contact.
fn contact_from(object: &Value) -> Contact {
    let name = text(object, "name").or_else(|| {
        let parts: Vec<String> =
            [text(object, "firstName"), text(object, "lastName")].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    Contact {
        name,
        email: text(object, "email"),
        phone: text(object, "phone"),
        company: text(object, "companyName"),
        title: None,
        country: text(object, "country"),
    }
}

/// API used when a source sets no `api_base_url`.
pub const GOHIGHLEVEL_API: &str = "https://services.leadconnectorhq.com";

/// Reads a contact from the GoHighLevel API (`GET /contacts/{id}`, answer `{"contact": {…}}`).
pub async fn fetch(
    client: &reqwest::Client,
    source: &SourceConfig,
    id: &str,
) -> Result<FetchedLead, FetchError> {
    let (base, token) = api::endpoint(source, "GoHighLevel API", GOHIGHLEVEL_API)?;
    let request =
        client.get(format!("{base}/contacts/{id}")).bearer_auth(token).header("Version", "2021-07-28");
    let body = api::get_json(request, "GoHighLevel API", &format!("contact {id}")).await?;
    let contact = contact_from(body.get("contact").unwrap_or(&body));
    Ok(FetchedLead { contact, attribution: Default::default(), raw: body })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::{DateTime, Utc};
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    use super::super::ProviderKind;
    use super::*;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/gohighlevel_contact_create.json"
    ));
    const OPPORTUNITY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/gohighlevel_opportunity_create.json"
    ));
    const PRIVATE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/gohighlevel_test_private_key.pem"
    ));
    const PUBLIC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/gohighlevel_test_public_key.pem"
    ));

    fn sign(body: &[u8]) -> String {
        let key = SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(PRIVATE).unwrap());
        base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
    }

    fn source() -> SourceConfig {
        SourceConfig::new("ghl", ProviderKind::GoHighLevel, vec![PUBLIC.into()])
    }

    fn check(
        body: &[u8],
        signature: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<CapturedLead>, Rejection> {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        if let Some(s) = signature {
            h.insert("x-wh-signature", s.parse().unwrap());
        }
        let request = RawRequest { method: "POST", uri: "/v1/capture/ghl", headers: &h, body, now };
        GoHighLevel.verify(&source(), &request)?;
        GoHighLevel.parse(&source(), &request)
    }

    fn signed_at() -> DateTime<Utc> {
        "2025-11-07T12:47:00Z".parse().unwrap()
    }

    #[test]
    fn the_contact_fixture_verifies_and_maps() {
        let body = FIXTURE.trim_end().as_bytes();
        let leads = check(body, Some(sign(body)), signed_at()).unwrap();
        assert_eq!(leads[0].event_id, "881b9415-5d35-4ff1-a667-0545b80b96c0");
        let lead = &leads[0].lead;
        assert_eq!(lead.contact.name.as_deref(), Some("John Deo"));
        assert_eq!(lead.contact.email.as_deref(), Some("john@example.com"));
        assert_eq!(lead.contact.phone.as_deref(), Some("+919509597501"));
        assert_eq!(lead.attribution["ghl_tags"], "facebook-lead");
    }

    #[test]
    fn tampered_unsigned_and_stale_deliveries_are_refused() {
        let body = FIXTURE.trim_end();
        let tampered = body.replace("john@example.com", "eve@example.com");
        assert_eq!(
            check(tampered.as_bytes(), Some(sign(body.as_bytes())), signed_at()).unwrap_err(),
            Rejection::Unauthorized("bad_signature")
        );
        assert_eq!(
            check(body.as_bytes(), None, signed_at()).unwrap_err(),
            Rejection::Unauthorized("missing_signature")
        );
        let late = signed_at() + chrono::Duration::minutes(6);
        assert_eq!(
            check(body.as_bytes(), Some(sign(body.as_bytes())), late).unwrap_err(),
            Rejection::Unauthorized("stale_timestamp")
        );
    }

    #[test]
    fn opportunities_become_leads_to_fetch_by_contact_id() {
        let body = OPPORTUNITY
            .trim_end()
            .replace("\"dateAdded\"", "\"timestamp\":\"2025-11-07T12:46:45.953Z\",\"dateAdded\"");
        let leads = check(body.as_bytes(), Some(sign(body.as_bytes())), signed_at()).unwrap();
        assert_eq!(leads[0].event_id, "wWhVuzqpRuOA1ZVWi4FC");
        let lead = &leads[0].lead;
        assert_eq!(
            lead.fetch,
            Some(FetchRef { provider: "gohighlevel".into(), id: "cJAWDskpkJHbRbhAT7bs".into() })
        );
        assert_eq!(lead.attribution["ghl_source"], "Google Ads");
        assert_eq!(lead.attribution["ghl_monetary_value"], "40");
    }

    #[test]
    fn api_contacts_map_like_webhook_contacts() {
        let answer = serde_json::json!({"contact": {"firstName": "Ana", "lastName": "Ruiz", "email": "ana@ruiz.es", "phone": "+34912345678"}});
        let c = contact_from(answer.get("contact").unwrap());
        assert_eq!(
            (c.name.as_deref(), c.email.as_deref(), c.phone.as_deref()),
            (Some("Ana Ruiz"), Some("ana@ruiz.es"), Some("+34912345678"))
        );
    }
}
