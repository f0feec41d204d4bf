//! Typeform `form_response` webhooks. Signed with `Typeform-Signature: sha256=<base64 HMAC-SHA256>`
//! of the raw body, keyed with the webhook secret. The event id is `event_id`.
//!
//! Answers are mapped by type (`email` → email, `phone_number` → phone) and, for text and choice
//! answers, by the field's `ref` and its title in `form_response.definition` (`name`, `first_name`,
//! `company`, `job title`, `country`, …). Hidden fields `utm_*`, `gclid` and `fbclid` become attribution.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};
use speedlead_topics::{Contact, InboundLead};

use super::fields::{json_body, required, text};
use super::signature::{any_matches, hmac_sha256};
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct Typeform;

impl Provider for Typeform {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let header = request
            .header("typeform-signature")
            .filter(|h| !h.trim().is_empty())
            .ok_or(Rejection::Unauthorized("missing_signature"))?;
        let given = header
            .trim()
            .strip_prefix("sha256=")
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or(Rejection::Unauthorized("bad_signature"))?;
        let expected = source.secrets.iter().map(|s| hmac_sha256(s.as_bytes(), &[request.body]));
        if any_matches(expected, &[given.as_slice()]) {
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
        let event_id = required(root.get("event_id"), "event_id", &mut errors);
        let mut slots = Slots::default();
        let mut attribution = BTreeMap::new();
        match root.get("form_response") {
            Some(Value::Object(response)) => {
                read_response(response, &mut slots, &mut attribution, &mut errors)
            }
            Some(_) => errors.push(FieldError::new("form_response", "must be an object")),
            None => errors.push(FieldError::new("form_response", "required")),
        }
        let event_id = match event_id {
            Some(id) if errors.is_empty() => id,
            _ => return Err(Rejection::Invalid(errors)),
        };
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact: slots.into_contact(),
            attribution,
            raw: Some(payload),
            fetch: None,
            consent: Default::default(),
            signals: Default::default(),
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

/// Where an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Name,
    FirstName,
    LastName,
    Email,
    Phone,
    Company,
    Title,
    Country,
}

#[derive(Default)]
struct Slots(BTreeMap<Slot, String>);

impl Slots {
    /// The first answer for a slot wins.
    fn set(&mut self, slot: Slot, value: String) {
        self.0.entry(slot).or_insert(value);
    }

    fn into_contact(mut self) -> Contact {
        let mut take = |slot: Slot| self.0.remove(&slot);
        let (first, last) = (take(Slot::FirstName), take(Slot::LastName));
        let name = take(Slot::Name).or_else(|| match (first, last) {
            (None, None) => None,
            (f, l) => Some([f, l].into_iter().flatten().collect::<Vec<_>>().join(" ")),
        });
        Contact {
            name,
            email: take(Slot::Email),
            phone: take(Slot::Phone),
            company: take(Slot::Company),
            title: take(Slot::Title),
            country: take(Slot::Country),
        }
    }
}

/// Classifies a text answer by its field's `ref` and title, e.g. `first_name` or "What's your company?".
fn classify(label: &str) -> Option<Slot> {
    let label = label.to_lowercase();
    let words: Vec<&str> = label.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |options: &[&str]| words.iter().any(|w| options.contains(w));
    if label.contains("email") || has(&["mail"]) {
        Some(Slot::Email)
    } else if label.contains("phone") || has(&["tel", "mobile", "cell"]) {
        Some(Slot::Phone)
    } else if label.contains("company") || has(&["organization", "organisation", "business", "employer"]) {
        Some(Slot::Company)
    } else if label.contains("firstname") || (has(&["first", "given"]) && label.contains("name")) {
        Some(Slot::FirstName)
    } else if label.contains("lastname")
        || has(&["surname"])
        || (has(&["last", "family"]) && label.contains("name"))
    {
        Some(Slot::LastName)
    } else if label.contains("jobtitle") || has(&["job", "title", "role", "position"]) {
        Some(Slot::Title)
    } else if has(&["country"]) {
        Some(Slot::Country)
    } else if label.contains("name") {
        Some(Slot::Name)
    } else {
        None
    }
}

fn read_response(
    response: &Map<String, Value>,
    slots: &mut Slots,
    attribution: &mut BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(form_id) = text(response.get("form_id"), "form_response.form_id", errors) {
        attribution.insert("form_id".into(), form_id);
    }
    match response.get("hidden") {
        None | Some(Value::Null) => {}
        Some(Value::Object(hidden)) => {
            for (key, value) in hidden {
                if key.starts_with("utm_") || key == "gclid" || key == "fbclid" {
                    if let Some(v) = text(Some(value), &format!("form_response.hidden.{key}"), errors) {
                        attribution.insert(key.clone(), v);
                    }
                }
            }
        }
        Some(_) => errors.push(FieldError::new("form_response.hidden", "must be an object")),
    }
    // Field titles live in the definition, keyed by field id; answers carry only id, type and ref.
    let titles: BTreeMap<&str, &str> = response
        .get("definition")
        .and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f.get("id")?.as_str()?, f.get("title")?.as_str()?)))
        .collect();
    let answers = match response.get("answers") {
        None | Some(Value::Null) => return,
        Some(Value::Array(answers)) => answers,
        Some(_) => {
            errors.push(FieldError::new("form_response.answers", "must be an array"));
            return;
        }
    };
    for (i, answer) in answers.iter().enumerate() {
        let path = format!("form_response.answers[{i}]");
        let Some(answer) = answer.as_object() else {
            errors.push(FieldError::new(path, "must be an object"));
            continue;
        };
        let kind = required(answer.get("type"), &format!("{path}.type"), errors);
        let Some(field) = answer.get("field").and_then(Value::as_object) else {
            errors.push(FieldError::new(format!("{path}.field"), "must be an object"));
            continue;
        };
        let field_ref = field.get("ref").and_then(Value::as_str).unwrap_or("");
        let title = field.get("id").and_then(Value::as_str).and_then(|id| titles.get(id)).copied();
        let label = format!("{field_ref} {}", title.unwrap_or(""));
        let (slot, value) = match kind.as_deref() {
            Some("email") => (Some(Slot::Email), text(answer.get("email"), &format!("{path}.email"), errors)),
            Some("phone_number") => {
                (Some(Slot::Phone), text(answer.get("phone_number"), &format!("{path}.phone_number"), errors))
            }
            Some("text") => (classify(&label), text(answer.get("text"), &format!("{path}.text"), errors)),
            Some("choice") => match answer.get("choice") {
                Some(Value::Object(choice)) => {
                    (classify(&label), text(choice.get("label"), &format!("{path}.choice.label"), errors))
                }
                _ => {
                    errors.push(FieldError::new(format!("{path}.choice"), "must be an object"));
                    (None, None)
                }
            },
            _ => (None, None),
        };
        if let (Some(slot), Some(value)) = (slot, value) {
            slots.set(slot, value);
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
        "/tests/fixtures/providers/typeform_form_response.json"
    ));
    const SECRET: &str = "tf-webhook-secret";

    fn body() -> &'static [u8] {
        FIXTURE.trim_end_matches('\n').as_bytes()
    }

    fn source() -> SourceConfig {
        // Two secrets: the old one still configured during rotation.
        let secrets = vec!["tf-old-secret".into(), SECRET.into()];
        SourceConfig::new("typeform-quotes", ProviderKind::Typeform, secrets)
    }

    fn sign(body: &[u8]) -> String {
        format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(SECRET.as_bytes(), &[body]))
        )
    }

    fn headers(signature: Option<String>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        if let Some(sig) = signature {
            h.insert("typeform-signature", sig.parse().unwrap());
        }
        h
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/typeform-quotes", headers, body, now: Utc::now() }
    }

    #[test]
    fn fixture_verifies_and_parses() {
        let h = headers(Some(sign(body())));
        assert_eq!(Typeform.verify(&source(), &request(&h, body())), Ok(()));
        let leads = Typeform.parse(&source(), &request(&h, body())).unwrap();
        assert_eq!(leads.len(), 1);
        let lead = &leads[0].lead;
        assert_eq!(leads[0].event_id, "01HZXTEST");
        assert_eq!(lead.event_id, "01HZXTEST");
        assert_eq!(lead.source, "typeform-quotes");
        assert_eq!(lead.contact.name.as_deref(), Some("Jane Doe"));
        assert_eq!(lead.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(lead.attribution["utm_source"], "fb");
        assert_eq!(lead.raw.as_ref(), Some(&serde_json::from_slice::<Value>(body()).unwrap()));
    }

    #[test]
    fn tampered_or_unsigned_bodies_are_refused() {
        let h = headers(Some(sign(body())));
        let tampered = String::from_utf8(body().to_vec()).unwrap().replacen("Jane Doe", "Jane Dot", 1);
        let r = Typeform.verify(&source(), &request(&h, tampered.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let unsigned = headers(None);
        let r = Typeform.verify(&source(), &request(&unsigned, body()));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
        let garbage = headers(Some("sha256=not base64!".into()));
        let r = Typeform.verify(&source(), &request(&garbage, body()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
    }

    #[test]
    fn answers_map_by_type_ref_and_title() {
        let body = br#"{"event_id":"e2","form_response":{"form_id":"F","hidden":{"utm_campaign":"spring","x":"y"},
            "definition":{"fields":[{"id":"a","title":"What's your company?"},{"id":"b","title":"Job title"}]},
            "answers":[
              {"type":"text","text":"Ana","field":{"id":"f","type":"short_text","ref":"first_name"}},
              {"type":"text","text":"Lopez","field":{"id":"l","type":"short_text","ref":"last_name"}},
              {"type":"text","text":"Acme","field":{"id":"a","type":"short_text","ref":"0f3c"}},
              {"type":"text","text":"CTO","field":{"id":"b","type":"short_text","ref":"9d1e"}},
              {"type":"phone_number","phone_number":"+4930123456","field":{"id":"p","type":"phone_number"}},
              {"type":"choice","choice":{"label":"DE"},"field":{"id":"c","type":"dropdown","ref":"country"}}]}}"#;
        let h = headers(None);
        let lead = &Typeform.parse(&source(), &request(&h, body)).unwrap()[0].lead;
        let c = &lead.contact;
        assert_eq!(c.name.as_deref(), Some("Ana Lopez"));
        assert_eq!((c.company.as_deref(), c.title.as_deref()), (Some("Acme"), Some("CTO")));
        assert_eq!((c.phone.as_deref(), c.country.as_deref()), (Some("+4930123456"), Some("DE")));
        assert_eq!(c.email, None, "a missing email is for the gateway to judge");
        assert_eq!(lead.attribution.get("utm_campaign").map(String::as_str), Some("spring"));
        assert!(!lead.attribution.contains_key("x"));
    }

    #[test]
    fn invalid_payloads_name_every_field() {
        let h = headers(None);
        let body = FIXTURE
            .replace(r#""event_id":"01HZXTEST","#, "")
            .replace(r#""email":"jane@example.com""#, r#""email":["x"]"#);
        let Err(Rejection::Invalid(fields)) = Typeform.parse(&source(), &request(&h, body.as_bytes())) else {
            panic!("expected Invalid")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["event_id", "form_response.answers[1].email"]);
        let r = Typeform.parse(&source(), &request(&h, br#"{"event_id":"e","form_response":[]}"#));
        assert_eq!(r, Err(Rejection::invalid("form_response", "must be an object")));
        let mut form = HeaderMap::new();
        form.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        let r = Typeform.parse(&source(), &request(&form, body.as_bytes()));
        assert_eq!(r, Err(Rejection::UnsupportedMediaType("application/x-www-form-urlencoded".into())));
    }
}
