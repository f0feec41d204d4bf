//! Any sender that signs per Standard Webhooks and posts speedlead's normalized lead shape:
//! `{"event_id"?, "contact": {…}, "attribution"?: {…}}`. The event id defaults to `webhook-id`.

use std::collections::BTreeMap;

use serde::Deserialize;
use speedlead_topics::{Contact, InboundLead};

use super::signature::verify_standard_webhooks;
use super::{CapturedLead, Provider, RawRequest, Rejection, SourceConfig};

pub struct StandardWebhooks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    event_id: Option<String>,
    contact: StrictContact,
    #[serde(default)]
    attribution: BTreeMap<String, String>,
    #[serde(default)]
    consent: BTreeMap<String, bool>,
    #[serde(default)]
    signals: BTreeMap<String, serde_json::Value>,
}

/// [`Contact`], refusing unknown fields so a sender's typo (`emial`) is an error, not a lost value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictContact {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    company: Option<String>,
    title: Option<String>,
    country: Option<String>,
}

impl From<StrictContact> for Contact {
    fn from(c: StrictContact) -> Self {
        Contact {
            name: c.name,
            email: c.email,
            phone: c.phone,
            company: c.company,
            title: c.title,
            country: c.country,
        }
    }
}

impl Provider for StandardWebhooks {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        verify_standard_webhooks(
            &source.secrets,
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.header("webhook-signature"),
            request.body,
            request.now,
        )
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        if request.content_type() != "application/json" {
            return Err(Rejection::UnsupportedMediaType(request.content_type()));
        }
        let body: Body = serde_json::from_slice(request.body).map_err(|e| {
            let field = json_error_field(&e.to_string());
            Rejection::invalid(field, e.to_string())
        })?;
        let event_id = body
            .event_id
            .or_else(|| request.header("webhook-id").map(str::to_string))
            .ok_or_else(|| Rejection::invalid("event_id", "missing, and no webhook-id header"))?;
        let raw = serde_json::from_slice(request.body).ok();
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact: body.contact.into(),
            attribution: body.attribution,
            raw,
            fetch: None,
            consent: body.consent,
            signals: body.signals,
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

/// The field serde complained about ("missing field `contact`", "unknown field `emial`"), or `$`.
fn json_error_field(message: &str) -> String {
    message.split('`').nth(1).map(str::to_string).unwrap_or_else(|| "$".into())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::ProviderKind;
    use super::*;

    fn source() -> SourceConfig {
        SourceConfig::new("partner", ProviderKind::StandardWebhooks, vec![])
    }

    fn parse(body: &[u8], id: Option<&str>) -> Result<Vec<CapturedLead>, Rejection> {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        if let Some(id) = id {
            h.insert("webhook-id", id.parse().unwrap());
        }
        StandardWebhooks
            .parse(&source(), &RawRequest { method: "POST", uri: "/", headers: &h, body, now: Utc::now() })
    }

    #[test]
    fn normalized_shape_with_event_id_from_the_header() {
        let leads = parse(
            br#"{"contact":{"email":"a@b.co","country":"DE"},"attribution":{"utm_source":"x"}}"#,
            Some("msg_9"),
        )
        .unwrap();
        assert_eq!(leads[0].event_id, "msg_9");
        assert_eq!(leads[0].lead.source, "partner");
        assert_eq!(leads[0].lead.contact.country.as_deref(), Some("DE"));
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(br#"{"contact":{"emial":"a@b.co"}}"#, Some("m")).unwrap_err();
        assert!(matches!(err, Rejection::Invalid(ref f) if f[0].field == "emial"), "{err:?}");
        let err = parse(br#"{"attribution":{}}"#, Some("m")).unwrap_err();
        assert!(matches!(err, Rejection::Invalid(ref f) if f[0].field == "contact"), "{err:?}");
        let err = parse(br#"{"contact":{}}"#, None).unwrap_err();
        assert!(matches!(err, Rejection::Invalid(ref f) if f[0].field == "event_id"), "{err:?}");
    }
}
