//! Drift webhooks, e.g. `contact_identified`. Drift does not sign its requests: it sends the app's
//! static verification token in the body field `token` and in the `X-Verification-Token` header.
//! Every token present must equal one configured secret (constant time). A static token proves only
//! the sender knows it: it does not protect the rest of the body, and it cannot refuse replays.
//!
//! The event id is `{type}:{data.id}`, e.g. `contact_identified:987654`. The contact comes from
//! `data.attributes` (`email`, `name` or `first_name` + `last_name`, `phone`, `company`, `title`,
//! `country`); `utm_*` attributes become attribution.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use speedlead_topics::{Contact, InboundLead};

use super::fields::{json_body, required, text};
use super::signature::any_matches;
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct Drift;

impl Provider for Drift {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let header = request.header("x-verification-token").map(str::trim).filter(|t| !t.is_empty());
        let body: Option<Value> = serde_json::from_slice(request.body).ok();
        let in_body =
            body.as_ref().and_then(|b| b.get("token")).and_then(Value::as_str).filter(|t| !t.is_empty());
        let tokens: Vec<&str> = [header, in_body].into_iter().flatten().collect();
        if tokens.is_empty() {
            return Err(Rejection::Unauthorized("missing_signature"));
        }
        let all_match = tokens.iter().fold(true, |ok, token| {
            let expected = source.secrets.iter().map(|s| s.as_bytes().to_vec());
            any_matches(expected, &[token.as_bytes()]) & ok
        });
        if all_match {
            Ok(())
        } else {
            Err(Rejection::Unauthorized("bad_signature"))
        }
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let payload = json_body(request)?;
        let Some(root) = payload.as_object() else {
            return Err(Rejection::invalid("$", "must be a JSON object"));
        };
        let mut errors = Vec::new();
        let kind = required(root.get("type"), "type", &mut errors);
        let mut id = None;
        let mut contact = Contact::default();
        let mut attribution = BTreeMap::new();
        match root.get("data") {
            Some(Value::Object(data)) => {
                id = required(data.get("id"), "data.id", &mut errors);
                match data.get("attributes") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(attributes)) => {
                        read_attributes(attributes, &mut contact, &mut attribution, &mut errors)
                    }
                    Some(_) => errors.push(FieldError::new("data.attributes", "must be an object")),
                }
            }
            Some(_) => errors.push(FieldError::new("data", "must be an object")),
            None => errors.push(FieldError::new("data", "required")),
        }
        let event_id = match (kind, id) {
            (Some(kind), Some(id)) if errors.is_empty() => format!("{kind}:{id}"),
            _ => return Err(Rejection::Invalid(errors)),
        };
        // The verification token is a credential: it must not travel on to Kafka with the payload.
        let mut payload = payload;
        if let Some(body) = payload.as_object_mut() {
            body.remove("token");
        }
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact,
            attribution,
            raw: Some(payload),
            fetch: None,
            consent: Default::default(),
            signals: Default::default(),
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

fn read_attributes(
    attributes: &Map<String, Value>,
    contact: &mut Contact,
    attribution: &mut BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
) {
    let mut get = |keys: &[&str]| {
        let mut found = None;
        for key in keys {
            let value = text(attributes.get(*key), &format!("data.attributes.{key}"), errors);
            found = found.or(value);
        }
        found
    };
    let (first, last) = (get(&["first_name"]), get(&["last_name"]));
    contact.name = get(&["name", "full_name"]).or_else(|| match (first, last) {
        (None, None) => None,
        (f, l) => Some([f, l].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    });
    contact.email = get(&["email"]);
    contact.phone = get(&["phone", "phone_number", "mobile_phone"]);
    contact.company = get(&["company", "company_name"]);
    contact.title = get(&["title", "job_title", "employment_title"]);
    contact.country = get(&["country", "country_code"]);
    for (key, value) in attributes.iter().filter(|(k, _)| k.starts_with("utm_")) {
        if let Some(v) = text(Some(value), &format!("data.attributes.{key}"), errors) {
            attribution.insert(key.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::ProviderKind;
    use super::*;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/drift_contact_identified.json"
    ));
    /// The fixture's `token`.
    const TOKEN: &str = "verif-token";

    fn body() -> &'static [u8] {
        FIXTURE.trim_end_matches('\n').as_bytes()
    }

    fn source() -> SourceConfig {
        let secrets = vec!["rotated-token".into(), TOKEN.into()];
        SourceConfig::new("drift-chat", ProviderKind::Drift, secrets)
    }

    fn headers(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        if let Some(token) = token {
            h.insert("x-verification-token", token.parse().unwrap());
        }
        h
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/drift-chat", headers, body, now: Utc::now() }
    }

    #[test]
    fn fixture_verifies_and_parses() {
        assert_eq!(Drift.verify(&source(), &request(&headers(Some(TOKEN)), body())), Ok(()));
        assert_eq!(Drift.verify(&source(), &request(&headers(None), body())), Ok(()), "body token alone");
        let leads = Drift.parse(&source(), &request(&headers(Some(TOKEN)), body())).unwrap();
        let lead = &leads[0].lead;
        assert_eq!(leads[0].event_id, "contact_identified:987654");
        assert_eq!(lead.event_id, "contact_identified:987654");
        assert_eq!(lead.source, "drift-chat");
        assert_eq!(lead.contact.name.as_deref(), Some("Jane Doe"));
        assert_eq!(lead.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(lead.contact.phone.as_deref(), Some("+15555550123"));
        let mut expected = serde_json::from_slice::<Value>(body()).unwrap();
        expected.as_object_mut().unwrap().remove("token");
        assert_eq!(lead.raw.as_ref(), Some(&expected), "payload kept verbatim, less the token");
    }

    #[test]
    fn wrong_or_missing_tokens_are_refused() {
        // One byte of the token changed in the body: refused even though the header is right.
        let tampered = FIXTURE.trim_end_matches('\n').replacen("verif-token", "verif-tokem", 1);
        let r = Drift.verify(&source(), &request(&headers(Some(TOKEN)), tampered.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let r = Drift.verify(&source(), &request(&headers(Some("verif-tokeN")), body()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let tokenless = FIXTURE.trim_end_matches('\n').replacen(r#""token":"verif-token","#, "", 1);
        let r = Drift.verify(&source(), &request(&headers(None), tokenless.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
        assert_eq!(Drift.verify(&source(), &request(&headers(Some(TOKEN)), tokenless.as_bytes())), Ok(()));
    }

    #[test]
    fn invalid_payloads_name_every_field() {
        let body = br#"{"token":"verif-token","data":{"attributes":{"email":["jane@example.com"]}}}"#;
        let Err(Rejection::Invalid(fields)) = Drift.parse(&source(), &request(&headers(None), body)) else {
            panic!("expected Invalid")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["type", "data.id", "data.attributes.email"]);
        let r = Drift.parse(&source(), &request(&headers(None), br#"{"type":"new_conversation","data":7}"#));
        assert_eq!(r, Err(Rejection::invalid("data", "must be an object")));
        let mut form = HeaderMap::new();
        form.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(
            Drift.parse(&source(), &request(&form, body)),
            Err(Rejection::UnsupportedMediaType("text/plain".into()))
        );
    }

    #[test]
    fn first_and_last_names_and_utm_attributes() {
        let body = br#"{"type":"contact_identified","data":{"id":"5","attributes":{"first_name":"Ana","last_name":"Lopez","utm_source":"g2"}}}"#;
        let lead = &Drift.parse(&source(), &request(&headers(None), body)).unwrap()[0].lead;
        assert_eq!(lead.contact.name.as_deref(), Some("Ana Lopez"));
        assert_eq!(lead.contact.email, None);
        assert_eq!(lead.attribution["utm_source"], "g2");
    }
}
