//! Generic web form: JSON or `application/x-www-form-urlencoded`, with forgiving field names
//! (`email`/`email_address`, `phone`/`tel`, `first_name` + `last_name`, `utm_*`, …). Signed with
//! Standard Webhooks by the form's server, or unsigned when the source says `allow_unsigned`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use speedlead_topics::{Contact, InboundLead};

use super::signature::sha256;
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct WebForm;

const EMAIL: &[&str] = &["email", "email_address", "e-mail", "mail"];
const PHONE: &[&str] = &["phone", "phone_number", "tel", "telephone", "mobile"];
const NAME: &[&str] = &["name", "full_name", "fullname"];
const FIRST_NAME: &[&str] = &["first_name", "firstname", "given_name"];
const LAST_NAME: &[&str] = &["last_name", "lastname", "family_name"];
const COMPANY: &[&str] = &["company", "company_name", "organization", "organisation"];
const TITLE: &[&str] = &["title", "job_title", "jobtitle", "role"];
const COUNTRY: &[&str] = &["country", "country_code"];
const EVENT_ID: &[&str] = &["event_id", "submission_id", "id"];

impl Provider for WebForm {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        if source.allow_unsigned && request.header("webhook-signature").is_none() {
            return Ok(());
        }
        // Signed forms use Standard Webhooks, exactly as that provider checks it.
        super::standard_webhooks::StandardWebhooks.verify(source, request)
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let fields = match request.content_type().as_str() {
            "application/json" => json_fields(request.body)?,
            "application/x-www-form-urlencoded" => form_fields(request.body)?,
            other => return Err(Rejection::UnsupportedMediaType(other.to_string())),
        };
        let event_id = pick(&fields, EVENT_ID)?
            .or_else(|| request.header("webhook-id").map(str::to_string))
            // A form without ids: the same submission body is the same event.
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(&sha256(&[request.body])[..16])));
        let lead = lead_from_fields(&source.name, &event_id, &fields)?;
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

fn json_fields(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::invalid("$", "must be a JSON object")),
        Err(e) => Err(Rejection::invalid("$", format!("not valid JSON: {e}"))),
    }
}

fn form_fields(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| Rejection::invalid("$", format!("not a valid form body: {e}")))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// The first of `names` present with a non-empty value, as text. Numbers are accepted (phone fields
/// often arrive as numbers); anything else names the field.
fn pick(fields: &Map<String, Value>, names: &[&str]) -> Result<Option<String>, Rejection> {
    for name in names {
        match fields.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(Value::String(s)) => return Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(_) => return Err(Rejection::invalid(*name, "must be a string")),
        }
    }
    Ok(None)
}

/// Builds the lead from whatever fields the form had, collecting every type error at once.
pub(crate) fn lead_from_fields(
    source: &str,
    event_id: &str,
    fields: &Map<String, Value>,
) -> Result<InboundLead, Rejection> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut get = |names: &[&str]| match pick(fields, names) {
        Ok(v) => v,
        Err(Rejection::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(_) => None,
    };
    let (first, last) = (get(FIRST_NAME), get(LAST_NAME));
    let name = get(NAME).or_else(|| match (first, last) {
        (None, None) => None,
        (f, l) => Some([f, l].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    });
    let contact = Contact {
        name,
        email: get(EMAIL),
        phone: get(PHONE),
        company: get(COMPANY),
        title: get(TITLE),
        country: get(COUNTRY),
    };
    let attribution: BTreeMap<String, String> = fields
        .iter()
        .filter(|(k, _)| k.starts_with("utm_") || *k == "gclid" || *k == "fbclid" || *k == "campaign")
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let mut consent = BTreeMap::new();
    for (key, value) in fields.iter().filter(|(k, _)| k.starts_with("consent_")) {
        match as_bool(value) {
            Some(given) => {
                consent.insert(key.trim_start_matches("consent_").to_string(), given);
            }
            None => errors.push(FieldError::new(key.as_str(), "must be true/false, yes/no, on/off or 1/0")),
        }
    }
    let signals = fields
        .iter()
        .filter(|(k, _)| SIGNALS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    Ok(InboundLead {
        source: source.to_string(),
        event_id: event_id.to_string(),
        contact,
        attribution,
        raw: Some(Value::Object(fields.clone())),
        fetch: None,
        consent,
        signals,
    })
}

/// Behaviour a form (or its page script) reports, kept for scoring.
const SIGNALS: &[&str] =
    &["pages_viewed", "time_on_site_secs", "page_url", "referrer", "form_type", "message"];

/// Checkbox values as browsers and form tools send them.
fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().filter(|n| *n == 0 || *n == 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::signature::sign_standard_webhooks;
    use super::super::ProviderKind;
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn source(allow_unsigned: bool) -> SourceConfig {
        let mut source = SourceConfig::new("website", ProviderKind::WebForm, vec![SECRET.into()]);
        source.allow_unsigned = allow_unsigned;
        source
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/website", headers, body, now: Utc::now() }
    }

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", content_type.parse().unwrap());
        h
    }

    #[test]
    fn json_form_with_forgiving_names() {
        let body = br#"{"first_name":"Ana","last_name":"Lopez","email_address":"Ana@Acme.io","tel":4155552671,"company_name":"Acme","utm_campaign":"spring","submission_id":"s-1"}"#;
        let h = headers("application/json; charset=utf-8");
        let leads = WebForm.parse(&source(true), &request(&h, body)).unwrap();
        let lead = &leads[0].lead;
        assert_eq!(leads[0].event_id, "s-1");
        assert_eq!(lead.contact.name.as_deref(), Some("Ana Lopez"));
        assert_eq!(lead.contact.email.as_deref(), Some("Ana@Acme.io"));
        assert_eq!(lead.contact.phone.as_deref(), Some("4155552671"));
        assert_eq!(lead.attribution["utm_campaign"], "spring");
        assert_eq!(lead.raw.as_ref().unwrap()["company_name"], "Acme");
    }

    #[test]
    fn consent_checkboxes_and_behaviour_signals_are_kept() {
        let body = b"email=a%40b.co&consent_email_marketing=on&consent_sms=0&pages_viewed=7&form_type=demo";
        let h = headers("application/x-www-form-urlencoded");
        let lead = &WebForm.parse(&source(true), &request(&h, body)).unwrap()[0].lead;
        assert_eq!(lead.consent, BTreeMap::from([("email_marketing".into(), true), ("sms".into(), false)]));
        assert_eq!(lead.signals["pages_viewed"], "7");
        assert_eq!(lead.signals["form_type"], "demo");
        let h = headers("application/json");
        let bad =
            WebForm.parse(&source(true), &request(&h, br#"{"email":"a@b.co","consent_terms":"maybe"}"#));
        assert!(matches!(bad, Err(Rejection::Invalid(ref f)) if f[0].field == "consent_terms"), "{bad:?}");
    }

    #[test]
    fn urlencoded_form_and_id_from_body_hash() {
        let body = b"name=Jo+Park&email=jo%40park.dev&country=KR";
        let h = headers("application/x-www-form-urlencoded");
        let a = WebForm.parse(&source(true), &request(&h, body)).unwrap();
        let b = WebForm.parse(&source(true), &request(&h, body)).unwrap();
        assert_eq!(a[0].lead.contact.email.as_deref(), Some("jo@park.dev"));
        assert_eq!(a[0].lead.contact.country.as_deref(), Some("KR"));
        assert!(a[0].event_id.starts_with("sha256:"));
        assert_eq!(a[0].event_id, b[0].event_id, "the same submission is the same event");
    }

    #[test]
    fn bad_payloads_name_every_field() {
        let h = headers("application/json");
        let err =
            WebForm.parse(&source(true), &request(&h, br#"{"email":["a"],"phone":{"n":1}}"#)).unwrap_err();
        let Rejection::Invalid(fields) = err else { panic!("{err:?}") };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["email", "phone"]);
        assert!(matches!(WebForm.parse(&source(true), &request(&h, b"[1]")), Err(Rejection::Invalid(_))));
        let xml = headers("application/xml");
        assert_eq!(
            WebForm.parse(&source(true), &request(&xml, b"<a/>")),
            Err(Rejection::UnsupportedMediaType("application/xml".into()))
        );
    }

    #[test]
    fn signed_forms_verify_and_unsigned_need_permission() {
        let body = br#"{"email":"a@b.co"}"#;
        let now = Utc::now().timestamp();
        let mut h = headers("application/json");
        assert_eq!(
            WebForm.verify(&source(false), &request(&h, body)),
            Err(Rejection::Unauthorized("missing_signature"))
        );
        assert_eq!(WebForm.verify(&source(true), &request(&h, body)), Ok(()));
        h.insert("webhook-id", "msg_1".parse().unwrap());
        h.insert("webhook-timestamp", now.to_string().parse().unwrap());
        h.insert(
            "webhook-signature",
            sign_standard_webhooks(SECRET, "msg_1", now, body).unwrap().parse().unwrap(),
        );
        assert_eq!(WebForm.verify(&source(false), &request(&h, body)), Ok(()));
        // A signature that is present must be right, even where unsigned requests are allowed.
        assert_eq!(
            WebForm.verify(&source(true), &request(&h, br#"{"email":"x@b.co"}"#)),
            Err(Rejection::Unauthorized("bad_signature"))
        );
    }
}
