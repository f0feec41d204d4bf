//! Meta Lead Ads: the Page webhook (`leadgen` field) notifies with ids only, signed with
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, app secret)>`; the lead's answers are then
//! fetched from the Graph API (`GET /{leadgen_id}`, `field_data`). The subscription handshake is a GET
//! with `hub.mode`, `hub.verify_token` and `hub.challenge`.

use std::collections::BTreeMap;

use serde_json::Value;
use speedlead_actors::ports::{FetchError, FetchedLead};
use speedlead_topics::{Contact, FetchRef, InboundLead};

use super::api;
use super::fields::json_body;
use super::signature::{any_matches, hmac_sha256};
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct Meta;

/// Graph API used when a source sets no `api_base_url`.
pub const GRAPH_API: &str = "https://graph.facebook.com/v21.0";

impl Provider for Meta {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let given =
            request.header("x-hub-signature-256").ok_or(Rejection::Unauthorized("missing_signature"))?;
        let given = given.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok());
        let given = given.ok_or(Rejection::Unauthorized("bad_signature"))?;
        let expected = source.secrets.iter().map(|s| hmac_sha256(s.as_bytes(), &[request.body]));
        if any_matches(expected, &[&given]) {
            Ok(())
        } else {
            Err(Rejection::Unauthorized("bad_signature"))
        }
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let body = json_body(request)?;
        let entries = body
            .get("entry")
            .and_then(Value::as_array)
            .ok_or_else(|| Rejection::invalid("entry", "missing"))?;
        let mut leads = Vec::new();
        let mut errors = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let changes =
                entry.get("changes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for (j, change) in changes.iter().enumerate() {
                if change.get("field").and_then(Value::as_str) != Some("leadgen") {
                    continue;
                }
                let value = &change["value"];
                let Some(id) = text(&value["leadgen_id"]) else {
                    errors.push(FieldError::new(
                        format!("entry[{i}].changes[{j}].value.leadgen_id"),
                        "missing",
                    ));
                    continue;
                };
                let attribution: BTreeMap<String, String> = ["page_id", "form_id", "ad_id", "adgroup_id"]
                    .into_iter()
                    .filter_map(|k| text(&value[k]).map(|v| (format!("meta_{k}"), v)))
                    .collect();
                let lead = InboundLead {
                    source: source.name.clone(),
                    event_id: id.clone(),
                    contact: Contact::default(),
                    attribution,
                    raw: Some(change.clone()),
                    fetch: Some(FetchRef { provider: "meta".into(), id: id.clone() }),
                    consent: Default::default(),
                    signals: Default::default(),
                };
                leads.push(CapturedLead { event_id: id, lead });
            }
        }
        if !errors.is_empty() {
            return Err(Rejection::Invalid(errors));
        }
        if leads.is_empty() {
            return Err(Rejection::invalid("entry", "no leadgen change in the notification"));
        }
        Ok(leads)
    }
}

/// Ids arrive as strings or numbers.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Answers Meta's subscription handshake: the challenge when the mode and verify token are right.
pub fn handshake(source: &SourceConfig, query: &BTreeMap<String, String>) -> Option<String> {
    let token = source.verify_token.as_deref()?;
    let given = query.get("hub.verify_token")?;
    let ok = query.get("hub.mode").map(String::as_str) == Some("subscribe")
        && super::signature::ct_eq(given.as_bytes(), token.as_bytes());
    ok.then(|| query.get("hub.challenge").cloned()).flatten()
}

/// Fetches a lead's answers from the Graph API.
pub async fn fetch(
    client: &reqwest::Client,
    source: &SourceConfig,
    id: &str,
) -> Result<FetchedLead, FetchError> {
    let (base, token) = api::endpoint(source, "Graph API", GRAPH_API)?;
    let request = client.get(format!("{base}/{id}")).query(&[("access_token", token)]);
    Ok(lead_from_graph(api::get_json(request, "Graph API", &format!("lead {id}")).await?))
}

/// Maps Graph API `field_data` (`[{"name": "email", "values": ["…"]}]`) onto a contact.
pub fn lead_from_graph(body: Value) -> FetchedLead {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for field in body.get("field_data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let (Some(name), Some(value)) =
            (field["name"].as_str(), field["values"].get(0).and_then(Value::as_str))
        else {
            continue;
        };
        fields.insert(name.to_ascii_lowercase(), value.to_string());
    }
    let get = |names: &[&str]| names.iter().find_map(|n| fields.get(*n).cloned());
    let name = get(&["full_name"]).or_else(|| {
        let parts: Vec<String> = [get(&["first_name"]), get(&["last_name"])].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let contact = Contact {
        name,
        email: get(&["email"]),
        phone: get(&["phone_number", "phone"]),
        company: get(&["company_name", "company"]),
        title: get(&["job_title"]),
        country: get(&["country"]),
    };
    let attribution = ["ad_id", "form_id", "campaign_id"]
        .into_iter()
        .filter_map(|k| text(&body[k]).map(|v| (format!("meta_{k}"), v)))
        .collect();
    FetchedLead { contact, attribution, raw: body }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::ProviderKind;
    use super::*;

    const NOTIFICATION: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/meta_leadgen_webhook.json"
    ));
    const RETRIEVED: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/meta_lead_retrieved.json"
    ));
    const SECRETS: [&str; 2] = ["old-app-secret", "app-secret"];

    fn source() -> SourceConfig {
        let mut s = SourceConfig::new("meta-ads", ProviderKind::Meta, SECRETS.map(String::from).to_vec());
        s.verify_token = Some("verify-me".into());
        s
    }

    fn headers(signature: Option<String>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        if let Some(sig) = signature {
            h.insert("x-hub-signature-256", sig.parse().unwrap());
        }
        h
    }

    fn sign(body: &[u8]) -> String {
        format!("sha256={}", hex::encode(hmac_sha256(b"app-secret", &[body])))
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/meta-ads", headers, body, now: Utc::now() }
    }

    #[test]
    fn the_fixture_verifies_and_becomes_a_lead_to_fetch() {
        let body = NOTIFICATION.trim_end().as_bytes();
        let h = headers(Some(sign(body)));
        Meta.verify(&source(), &request(&h, body)).unwrap();
        let leads = Meta.parse(&source(), &request(&h, body)).unwrap();
        assert_eq!(leads.len(), 1);
        assert_eq!(leads[0].event_id, "123123123123");
        let lead = &leads[0].lead;
        assert_eq!(lead.fetch, Some(FetchRef { provider: "meta".into(), id: "123123123123".into() }));
        assert_eq!(lead.attribution["meta_form_id"], "12312312312");
    }

    #[test]
    fn tampered_or_unsigned_notifications_are_refused() {
        let body = NOTIFICATION.trim_end().as_bytes();
        let tampered = NOTIFICATION.trim_end().replace("123123123123", "999999999999");
        let h = headers(Some(sign(body)));
        assert_eq!(
            Meta.verify(&source(), &request(&h, tampered.as_bytes())),
            Err(Rejection::Unauthorized("bad_signature"))
        );
        let unsigned = headers(None);
        assert_eq!(
            Meta.verify(&source(), &request(&unsigned, body)),
            Err(Rejection::Unauthorized("missing_signature"))
        );
        let garbage = headers(Some("sha256=zz".into()));
        assert_eq!(
            Meta.verify(&source(), &request(&garbage, body)),
            Err(Rejection::Unauthorized("bad_signature"))
        );
    }

    #[test]
    fn notifications_without_ids_name_the_field() {
        let body =
            br#"{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"form_id":"1"}}]}]}"#;
        let h = headers(None);
        let err = Meta.parse(&source(), &request(&h, body)).unwrap_err();
        assert_eq!(err, Rejection::invalid("entry[0].changes[0].value.leadgen_id", "missing"));
    }

    #[test]
    fn handshake_echoes_the_challenge_only_for_the_right_token() {
        let q = |token: &str| -> BTreeMap<String, String> {
            [("hub.mode", "subscribe"), ("hub.verify_token", token), ("hub.challenge", "1158201444")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into()
        };
        assert_eq!(handshake(&source(), &q("verify-me")).as_deref(), Some("1158201444"));
        assert_eq!(handshake(&source(), &q("guess")), None);
    }

    #[test]
    fn graph_answers_map_onto_the_contact() {
        let fetched = lead_from_graph(serde_json::from_str(RETRIEVED).unwrap());
        assert_eq!(fetched.contact.name.as_deref(), Some("Jane Doe"));
        assert_eq!(fetched.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(fetched.contact.phone.as_deref(), Some("+15555550123"));
        assert_eq!(fetched.attribution["meta_ad_id"], "12312312312");
    }
}
