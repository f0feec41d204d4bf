//! HubSpot form submissions (`{"results": [{"conversionId", "values": [{"name", "value"}], …}]}`, as
//! the form-integrations API and workflow webhooks deliver them). One lead per result; the event id
//! is `conversionId`.
//!
//! Signatures, keyed with the app's client secret:
//! - v3 (used whenever `X-HubSpot-Signature-v3` is present): base64 HMAC-SHA256 over
//!   `method + uri + body + timestamp`, `X-HubSpot-Request-Timestamp` in milliseconds, refused when
//!   more than 5 minutes off. HubSpot signs the full URL it called, but [`RawRequest::uri`] is only
//!   path and query, so the URL is rebuilt as `https://{Host header}{uri}`: HubSpot only calls
//!   `https` targets, and the `Host` header is what it sent (a proxy in front must keep it;
//!   `X-Forwarded-Host` is not trusted). The characters HubSpot's docs list (`%3A`, `%2F`, `%3F`,
//!   `%40`, `%21`, `%24`, `%27`, `%28`, `%29`, `%2A`, `%2C`, `%3B`) are percent-decoded first.
//! - v1 (when `X-HubSpot-Signature-Version: v1` and no v3 header): hex SHA-256 of `secret + body`
//!   in `X-HubSpot-Signature`. v1 has no timestamp, so it cannot refuse replays. v2 is not supported.
//!
//! `contact.creation` webhook events carry only object ids: see [`super::hubspot_contacts`].

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};
use speedlead_topics::{Contact, InboundLead};

use super::fields::{json_body, text};
use super::signature::{any_matches, hmac_sha256, sha256, TIMESTAMP_TOLERANCE_SECS};
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct Hubspot;

impl Provider for Hubspot {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let header = |name| request.header(name).map(str::trim).filter(|v| !v.is_empty());
        if let Some(signature) = header("x-hubspot-signature-v3") {
            let timestamp =
                header("x-hubspot-request-timestamp").ok_or(Rejection::Unauthorized("missing_signature"))?;
            return verify_v3(source, request, signature, timestamp);
        }
        match header("x-hubspot-signature-version") {
            Some(v) if v.eq_ignore_ascii_case("v1") => {
                let signature =
                    header("x-hubspot-signature").ok_or(Rejection::Unauthorized("missing_signature"))?;
                let given = hex::decode(signature).map_err(|_| Rejection::Unauthorized("bad_signature"))?;
                let expected = source.secrets.iter().map(|s| sha256(&[s.as_bytes(), request.body]));
                matched(any_matches(expected, &[given.as_slice()]))
            }
            // A legacy version we do not check (v2): refuse rather than accept unverified.
            Some(_) => Err(Rejection::Unauthorized("bad_signature")),
            None => Err(Rejection::Unauthorized("missing_signature")),
        }
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let payload = json_body(request)?;
        let root = match &payload {
            Value::Object(root) => root,
            Value::Array(events) if events.iter().any(|e| e["subscriptionType"] == "contact.creation") => {
                return super::hubspot_contacts::parse_events(source, events);
            }
            Value::Array(_) => {
                return Err(Rejection::invalid("$", "expected form submissions, not webhook events"))
            }
            _ => return Err(Rejection::invalid("$", "must be a JSON object")),
        };
        let results = match root.get("results") {
            Some(Value::Array(results)) => results,
            Some(_) => return Err(Rejection::invalid("results", "must be an array")),
            None => return Err(Rejection::invalid("results", "required")),
        };
        let mut errors = Vec::new();
        let mut leads = Vec::new();
        for (i, result) in results.iter().enumerate() {
            let path = format!("results[{i}]");
            let Some(result) = result.as_object() else {
                errors.push(FieldError::new(path, "must be an object"));
                continue;
            };
            if let Some((event_id, contact, attribution)) = read_result(result, &path, &mut errors) {
                let lead = InboundLead {
                    source: source.name.clone(),
                    event_id: event_id.clone(),
                    contact,
                    attribution,
                    raw: Some(payload.clone()),
                    fetch: None,
                    consent: Default::default(),
                    signals: Default::default(),
                };
                leads.push(CapturedLead { event_id, lead });
            }
        }
        if errors.is_empty() {
            Ok(leads)
        } else {
            Err(Rejection::Invalid(errors))
        }
    }
}

fn verify_v3(
    source: &SourceConfig,
    request: &RawRequest<'_>,
    signature: &str,
    timestamp: &str,
) -> Result<(), Rejection> {
    let millis: i64 = timestamp.parse().map_err(|_| Rejection::Unauthorized("bad_signature"))?;
    if (request.now.timestamp_millis() - millis).abs() > TIMESTAMP_TOLERANCE_SECS * 1000 {
        return Err(Rejection::Unauthorized("stale_timestamp"));
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| Rejection::Unauthorized("bad_signature"))?;
    let host = request.header("host").ok_or(Rejection::Unauthorized("bad_signature"))?;
    let url = decode_signed_uri(&format!("https://{host}{}", request.uri));
    let parts: [&[u8]; 4] = [request.method.as_bytes(), url.as_bytes(), request.body, timestamp.as_bytes()];
    let expected = source.secrets.iter().map(|s| hmac_sha256(s.as_bytes(), &parts));
    matched(any_matches(expected, &[given.as_slice()]))
}

fn matched(ok: bool) -> Result<(), Rejection> {
    ok.then_some(()).ok_or(Rejection::Unauthorized("bad_signature"))
}

/// Decodes the percent-escapes HubSpot's v3 instructions list, and only those.
fn decode_signed_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let decoded = rest
            .get(at + 1..at + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map(char::from)
            .filter(|c| ":/?@!$'()*,;".contains(*c));
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A submission's event id, contact and attribution.
type Submission = (String, Contact, BTreeMap<String, String>);

/// One submission: its `conversionId` and the contact in its `values`. HubSpot property names
/// (`firstname`, `jobtitle`, `mobilephone`, …) and common form names are both understood.
fn read_result(result: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) -> Option<Submission> {
    let before = errors.len();
    let id_path = format!("{path}.conversionId");
    let event_id = text(result.get("conversionId"), &id_path, errors);
    if event_id.is_none() && errors.len() == before {
        errors.push(FieldError::new(id_path, "required"));
    }
    let mut fields: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut attribution = BTreeMap::new();
    if let Some(page) = text(result.get("pageUrl"), &format!("{path}.pageUrl"), errors) {
        attribution.insert("page_url".to_string(), page);
    }
    let values = match result.get("values") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(values)) => values.as_slice(),
        Some(_) => {
            errors.push(FieldError::new(format!("{path}.values"), "must be an array"));
            &[][..]
        }
    };
    for (j, entry) in values.iter().enumerate() {
        let entry_path = format!("{path}.values[{j}]");
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            errors.push(FieldError::new(format!("{entry_path}.name"), "must be a string"));
            continue;
        };
        let Some(value) = text(entry.get("value"), &format!("{entry_path}.value"), errors) else { continue };
        let name = name.trim().to_ascii_lowercase();
        let slot = match name.as_str() {
            "email" | "email_address" => "email",
            "firstname" | "first_name" => "first",
            "lastname" | "last_name" => "last",
            "name" | "full_name" | "fullname" => "name",
            "phone" | "mobilephone" | "phone_number" => "phone",
            "company" | "company_name" => "company",
            "jobtitle" | "job_title" => "title",
            "country" => "country",
            n if n.starts_with("utm_") || n == "gclid" || n == "fbclid" => {
                attribution.insert(name.clone(), value);
                continue;
            }
            _ => continue,
        };
        fields.entry(slot).or_insert(value);
    }
    let (first, last) = (fields.remove("first"), fields.remove("last"));
    let name = fields.remove("name").or_else(|| match (first, last) {
        (None, None) => None,
        (f, l) => Some([f, l].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    });
    let contact = Contact {
        name,
        email: fields.remove("email"),
        phone: fields.remove("phone"),
        company: fields.remove("company"),
        title: fields.remove("title"),
        country: fields.remove("country"),
    };
    Some((event_id?, contact, attribution))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::{DateTime, Utc};

    use super::super::ProviderKind;
    use super::*;

    const FORM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/hubspot_form_submission.json"
    ));
    const CREATION: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/hubspot_contact_creation.json"
    ));
    /// The client secret of HubSpot's published v1 example.
    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "/v1/capture/hubspot-forms?portal=62515";

    fn source() -> SourceConfig {
        let secrets = vec!["old-client-secret".into(), SECRET.into()];
        SourceConfig::new("hubspot-forms", ProviderKind::Hubspot, secrets)
    }

    fn v3_headers(body: &[u8], uri: &str, millis: i64) -> HeaderMap {
        let url = format!("https://hooks.example.com{uri}");
        let ts = millis.to_string();
        let mac = hmac_sha256(SECRET.as_bytes(), &[b"POST", url.as_bytes(), body, ts.as_bytes()]);
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("host", "hooks.example.com".parse().unwrap());
        h.insert("x-hubspot-request-timestamp", ts.parse().unwrap());
        h.insert(
            "x-hubspot-signature-v3",
            base64::engine::general_purpose::STANDARD.encode(mac).parse().unwrap(),
        );
        h
    }

    fn request<'a>(
        headers: &'a HeaderMap,
        uri: &'a str,
        body: &'a [u8],
        now: DateTime<Utc>,
    ) -> RawRequest<'a> {
        RawRequest { method: "POST", uri, headers, body, now }
    }

    #[test]
    fn form_submission_verifies_with_v3_and_parses() {
        let body = FORM.trim_end_matches('\n').as_bytes();
        let now = Utc::now();
        let h = v3_headers(body, URI, now.timestamp_millis() - 2_000);
        assert_eq!(Hubspot.verify(&source(), &request(&h, URI, body, now)), Ok(()));
        let leads = Hubspot.parse(&source(), &request(&h, URI, body, now)).unwrap();
        assert_eq!(leads.len(), 1);
        let lead = &leads[0].lead;
        assert_eq!((leads[0].event_id.as_str(), lead.event_id.as_str()), ("a1b2c3", "a1b2c3"));
        assert_eq!(lead.source, "hubspot-forms");
        assert_eq!(lead.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(lead.contact.name.as_deref(), Some("Jane"));
        assert_eq!(lead.attribution["page_url"], "https://example.com/contact");
        assert_eq!(lead.raw.as_ref(), Some(&serde_json::from_slice::<Value>(body).unwrap()));
    }

    #[test]
    fn v3_refuses_tampered_unsigned_and_stale_requests() {
        let body = FORM.trim_end_matches('\n').as_bytes();
        let now = Utc::now();
        let h = v3_headers(body, URI, now.timestamp_millis());
        let tampered = FORM.trim_end_matches('\n').replacen("a1b2c3", "a1b2c4", 1);
        let r = Hubspot.verify(&source(), &request(&h, URI, tampered.as_bytes(), now));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let r = Hubspot.verify(&source(), &request(&h, "/v1/capture/other", body, now));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")), "the URL is signed");
        let stale = v3_headers(body, URI, now.timestamp_millis() - 301_000);
        let r = Hubspot.verify(&source(), &request(&stale, URI, body, now));
        assert_eq!(r, Err(Rejection::Unauthorized("stale_timestamp")));
        let mut unsigned = HeaderMap::new();
        unsigned.insert("host", "hooks.example.com".parse().unwrap());
        let r = Hubspot.verify(&source(), &request(&unsigned, URI, body, now));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
    }

    #[test]
    fn v3_decodes_the_listed_escapes_in_the_url() {
        let body = FORM.trim_end_matches('\n').as_bytes();
        let now = Utc::now();
        let h =
            v3_headers(body, "/v1/capture/hubspot-forms?to=ops@example.com&x=%20", now.timestamp_millis());
        let r = Hubspot.verify(
            &source(),
            &request(&h, "/v1/capture/hubspot-forms?to=ops%40example.com&x=%20", body, now),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(decode_signed_uri("a%3a%2F%25%zz%"), "a:/%25%zz%");
    }

    /// HubSpot's published v1 example, on a contact.creation batch.
    #[test]
    fn v1_test_vector_and_contact_creation() {
        let body = CREATION.trim_end_matches('\n').as_bytes();
        let vector = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-hubspot-signature-version", "v1".parse().unwrap());
        let now = Utc::now();
        let r = Hubspot.verify(&source(), &request(&h, URI, body, now));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
        h.insert("x-hubspot-signature", vector.parse().unwrap());
        assert_eq!(Hubspot.verify(&source(), &request(&h, URI, body, now)), Ok(()));
        let tampered = CREATION.trim_end_matches('\n').replacen("\"objectId\":123", "\"objectId\":124", 1);
        let r = Hubspot.verify(&source(), &request(&h, URI, tampered.as_bytes(), now));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let leads = Hubspot.parse(&source(), &request(&h, URI, body, now)).unwrap();
        assert_eq!(
            leads[0].lead.fetch.as_ref().map(|f| f.id.as_str()),
            Some("123"),
            "fetched later by intake"
        );
    }

    #[test]
    fn invalid_payloads_name_every_field() {
        let h = v3_headers(b"", URI, 0);
        let body = br#"{"results":[{"values":[{"name":"email","value":{"x":1}}]},{"conversionId":"c2","values":7}]}"#;
        let Err(Rejection::Invalid(fields)) = Hubspot.parse(&source(), &request(&h, URI, body, Utc::now()))
        else {
            panic!("expected Invalid")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["results[0].conversionId", "results[0].values[0].value", "results[1].values"]);
        let r = Hubspot.parse(&source(), &request(&h, URI, br#"{"paging":{}}"#, Utc::now()));
        assert_eq!(r, Err(Rejection::invalid("results", "required")));
    }
}
