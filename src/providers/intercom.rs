//! Intercom webhook notifications (`notification_event`), e.g. `conversation.user.created`. Signed
//! with `X-Hub-Signature: sha1=<hex HMAC-SHA1(raw body, client secret)>`. The event id is the
//! notification `id`.
//!
//! For a conversation, the contact comes from the first user/lead/contact object found among
//! `source.author`, `conversation_message.author` (older API versions), `user` and
//! `contacts.contacts[0]`; admin and bot authors are skipped. For contact topics (`item.type` of
//! `contact`, `user` or `lead`) the item itself is the contact. The chat transcript stays in
//! `lead.raw`; its text (HTML stripped) also goes into `attribution["chat_excerpt"]`, cut at 500
//! characters. A `ping` notification (sent when the webhook is set up) carries no lead.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use speedlead_topics::{Contact, InboundLead};

use super::fields::{json_body, text};
use super::signature::{any_matches, hmac_sha1};
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct Intercom;

const EXCERPT_CHARS: usize = 500;

impl Provider for Intercom {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let header = request
            .header("x-hub-signature")
            .filter(|h| !h.trim().is_empty())
            .ok_or(Rejection::Unauthorized("missing_signature"))?;
        let given = header
            .trim()
            .strip_prefix("sha1=")
            .and_then(|s| hex::decode(s).ok())
            .ok_or(Rejection::Unauthorized("bad_signature"))?;
        let expected = source.secrets.iter().map(|s| hmac_sha1(s.as_bytes(), &[request.body]));
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
        let event_id = text(root.get("id"), "id", &mut errors);
        if event_id.is_none() && errors.is_empty() {
            errors.push(FieldError::new("id", "required"));
        }
        if text(root.get("topic"), "topic", &mut errors).as_deref() == Some("ping") {
            return Ok(Vec::new());
        }
        let item = match root.get("data").map(|d| (d, d.get("item"))) {
            Some((Value::Object(_), Some(Value::Object(item)))) => Some(item),
            Some((Value::Object(_), _)) => {
                errors.push(FieldError::new("data.item", "must be an object"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new("data", "must be an object"));
                None
            }
            None => {
                errors.push(FieldError::new("data", "required"));
                None
            }
        };
        let mut contact = Contact::default();
        let mut attribution = BTreeMap::new();
        let mut signals = BTreeMap::new();
        if let Some(item) = item {
            read_item(item, &mut contact, &mut attribution, &mut signals, &mut errors);
        }
        let event_id = match event_id {
            Some(id) if errors.is_empty() => id,
            _ => return Err(Rejection::Invalid(errors)),
        };
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact,
            attribution,
            raw: Some(payload),
            fetch: None,
            consent: Default::default(),
            signals,
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

fn read_item(
    item: &Map<String, Value>,
    contact: &mut Contact,
    attribution: &mut BTreeMap<String, String>,
    signals: &mut BTreeMap<String, Value>,
    errors: &mut Vec<FieldError>,
) {
    let kind = text(item.get("type"), "data.item.type", errors);
    match kind.as_deref() {
        Some("contact" | "user" | "lead") => fill(contact, item, "data.item", errors),
        Some("conversation") => {
            if let Some(id) = text(item.get("id"), "data.item.id", errors) {
                attribution.insert("intercom_conversation_id".into(), id);
            }
            let contacts = item.get("contacts").and_then(|c| c.get("contacts"));
            let people = [
                (item.get("source").and_then(|s| s.get("author")), "data.item.source.author"),
                (
                    item.get("conversation_message").and_then(|m| m.get("author")),
                    "data.item.conversation_message.author",
                ),
                (item.get("user"), "data.item.user"),
                (contacts.and_then(|c| c.get(0)), "data.item.contacts.contacts[0]"),
            ];
            for (person, path) in people {
                let Some(person) = person.and_then(Value::as_object) else { continue };
                let role = person.get("type").and_then(Value::as_str).unwrap_or("user");
                if matches!(role, "user" | "lead" | "contact") {
                    fill(contact, person, path, errors);
                }
            }
            if let Some(url) =
                text(item.get("source").and_then(|s| s.get("url")), "data.item.source.url", errors)
            {
                attribution.insert("page_url".into(), url);
            }
            let transcript = transcript(item, errors);
            if !transcript.is_empty() {
                attribution.insert("chat_excerpt".into(), transcript.chars().take(EXCERPT_CHARS).collect());
                signals.insert("chat_transcript".into(), Value::String(transcript.clone()));
            }
        }
        Some(other) => {
            errors.push(FieldError::new("data.item.type", format!("unsupported item type `{other}`")))
        }
        None => errors.push(FieldError::new("data.item.type", "required")),
    }
}

/// Fills the contact fields still empty from a person object at `path`.
fn fill(contact: &mut Contact, person: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    let mut get = |key: &str| text(person.get(key), &format!("{path}.{key}"), errors);
    let (name, email, phone) = (get("name"), get("email"), get("phone"));
    contact.name = contact.name.take().or(name);
    contact.email = contact.email.take().or(email);
    contact.phone = contact.phone.take().or(phone);
}

/// The conversation's message bodies as plain text, one line each: the opening message, then parts.
fn transcript(item: &Map<String, Value>, errors: &mut Vec<FieldError>) -> String {
    let mut lines = Vec::new();
    for key in ["source", "conversation_message"] {
        let path = format!("data.item.{key}.body");
        if let Some(body) = text(item.get(key).and_then(|s| s.get("body")), &path, errors) {
            lines.push(strip_html(&body));
        }
    }
    let parts =
        item.get("conversation_parts").and_then(|p| p.get("conversation_parts")).and_then(Value::as_array);
    for (i, part) in parts.into_iter().flatten().enumerate() {
        let path = format!("data.item.conversation_parts.conversation_parts[{i}].body");
        if let Some(body) = text(part.get("body"), &path, errors) {
            lines.push(strip_html(&body));
        }
    }
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}

/// Drops tags, decodes the common entities and collapses whitespace: good enough for an excerpt.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::ProviderKind;
    use super::*;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/intercom_conversation_created.json"
    ));
    const SECRET: &str = "intercom-client-secret";

    fn body() -> &'static [u8] {
        FIXTURE.trim_end_matches('\n').as_bytes()
    }

    fn source() -> SourceConfig {
        let secrets = vec![SECRET.into(), "next-client-secret".into()];
        SourceConfig::new("intercom-chat", ProviderKind::Intercom, secrets)
    }

    fn headers(signature: Option<String>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json; charset=utf-8".parse().unwrap());
        if let Some(sig) = signature {
            h.insert("x-hub-signature", sig.parse().unwrap());
        }
        h
    }

    fn sign(body: &[u8]) -> String {
        format!("sha1={}", hex::encode(hmac_sha1(SECRET.as_bytes(), &[body])))
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/intercom-chat", headers, body, now: Utc::now() }
    }

    #[test]
    fn fixture_verifies_and_parses() {
        let h = headers(Some(sign(body())));
        assert_eq!(Intercom.verify(&source(), &request(&h, body())), Ok(()));
        let leads = Intercom.parse(&source(), &request(&h, body())).unwrap();
        let lead = &leads[0].lead;
        assert_eq!((leads[0].event_id.as_str(), lead.event_id.as_str()), ("notif_1", "notif_1"));
        assert_eq!(lead.source, "intercom-chat");
        assert_eq!(lead.contact.name.as_deref(), Some("Jane Doe"));
        assert_eq!(lead.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(lead.attribution["chat_excerpt"], "Need a quote");
        assert_eq!(lead.signals["chat_transcript"], "Need a quote", "the whole transcript, for scoring");
        assert_eq!(lead.attribution["intercom_conversation_id"], "1105161660");
        assert_eq!(lead.raw.as_ref(), Some(&serde_json::from_slice::<Value>(body()).unwrap()));
    }

    #[test]
    fn tampered_or_unsigned_bodies_are_refused() {
        let h = headers(Some(sign(body())));
        let tampered = FIXTURE.trim_end_matches('\n').replacen("Need a quote", "Need a quota", 1);
        let r = Intercom.verify(&source(), &request(&h, tampered.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let r = Intercom.verify(&source(), &request(&headers(None), body()));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
        let sha256 = headers(Some(sign(body()).replace("sha1=", "sha256=")));
        assert_eq!(
            Intercom.verify(&source(), &request(&sha256, body())),
            Err(Rejection::Unauthorized("bad_signature"))
        );
    }

    #[test]
    fn transcript_parts_are_excerpted_and_admins_skipped() {
        let long = "word ".repeat(200);
        let body = serde_json::json!({"id": "n2", "topic": "conversation.admin.replied", "data": {"item": {
            "type": "conversation", "id": "c9",
            "source": {"body": "<p>Hi &amp; hello</p>", "author": {"type": "admin", "name": "Agent", "email": "a@corp.io"}},
            "contacts": {"contacts": [{"type": "contact", "id": "x", "email": "lead@example.com", "phone": "+15555550100"}]},
            "conversation_parts": {"conversation_parts": [{"body": "<p>Call me</p>"}, {"body": long}]}}}});
        let body = body.to_string();
        let lead = &Intercom.parse(&source(), &request(&headers(None), body.as_bytes())).unwrap()[0].lead;
        assert_eq!(lead.contact.email.as_deref(), Some("lead@example.com"));
        assert_eq!(lead.contact.phone.as_deref(), Some("+15555550100"));
        assert_eq!(lead.contact.name, None);
        let excerpt = &lead.attribution["chat_excerpt"];
        assert!(excerpt.starts_with("Hi & hello\nCall me\nword word"), "{excerpt}");
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS);
        let ping =
            br#"{"type":"notification_event","id":"p1","topic":"ping","data":{"item":{"type":"ping"}}}"#;
        assert_eq!(Intercom.parse(&source(), &request(&headers(None), ping)), Ok(vec![]));
    }

    #[test]
    fn invalid_payloads_name_every_field() {
        let body = FIXTURE
            .replace(r#""id":"notif_1","#, "")
            .replace(r#""email":"jane@example.com""#, r#""email":{}"#);
        let Err(Rejection::Invalid(fields)) =
            Intercom.parse(&source(), &request(&headers(None), body.as_bytes()))
        else {
            panic!("expected Invalid")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["id", "data.item.source.author.email"]);
        let r = Intercom
            .parse(&source(), &request(&headers(None), br#"{"id":"n","data":{"item":{"type":"ticket"}}}"#));
        assert_eq!(r, Err(Rejection::invalid("data.item.type", "unsupported item type `ticket`")));
        let mut xml = HeaderMap::new();
        xml.insert("content-type", "text/xml".parse().unwrap());
        assert_eq!(
            Intercom.parse(&source(), &request(&xml, body.as_bytes())),
            Err(Rejection::UnsupportedMediaType("text/xml".into()))
        );
    }
}
