//! The dialer trigger: instead of telling the rep about the lead, start the call. The rep's
//! address is their user id at the dialer; the lead's E.164 phone is the number called.
//!
//! - Aircall: `POST /v1/users/{id}/calls` `{number_id, to}` (Basic `api_id:api_token`) rings the
//!   rep's Aircall app and dials the lead once they pick up; 204 on success.
//! - Dialpad: `POST /api/v2/users/{id}/initiate_call` `{phone_number, custom_data}` (Bearer key)
//!   does the same; `custom_data` comes back on Dialpad's call events, so the call can be tied to
//!   the lead. Dialpad documents a low rate limit (5 calls a minute per user): its 429 is
//!   retryable like any other.

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{json, Value};

use super::http;
use super::{require, DialerSettings, Secret, CONFIG_PATH};
use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};

enum Provider {
    Aircall { api_id: String, api_token: Secret, number_id: u64 },
    Dialpad { api_key: Secret, outbound_caller_id: Option<String> },
}

pub struct DialerChannel {
    http: reqwest::Client,
    base: Url,
    provider: Provider,
}

impl DialerChannel {
    pub fn new(settings: &DialerSettings, http: reqwest::Client) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let (provider, api_base) = match settings {
            DialerSettings::Aircall(s) => {
                require(&mut problems, "dialer.api_id", &s.api_id);
                require(&mut problems, "dialer.api_token", s.api_token.expose());
                let provider = Provider::Aircall {
                    api_id: s.api_id.clone(),
                    api_token: s.api_token.clone(),
                    number_id: s.number_id,
                };
                (provider, &s.api_base)
            }
            DialerSettings::Dialpad(s) => {
                require(&mut problems, "dialer.api_key", s.api_key.expose());
                let outbound_caller_id = s
                    .outbound_caller_id
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string);
                (Provider::Dialpad { api_key: s.api_key.clone(), outbound_caller_id }, &s.api_base)
            }
        };
        match http::base_url(&format!("{CONFIG_PATH}.dialer.api_base"), api_base) {
            Ok(base) if problems.is_empty() => Ok(DialerChannel { http, base, provider }),
            Ok(_) => Err(problems),
            Err(p) => Err([problems, vec![p]].concat()),
        }
    }

    fn request(&self, user: &str, phone: &str, notice: &Notice) -> reqwest::RequestBuilder {
        match &self.provider {
            Provider::Aircall { api_id, api_token, number_id } => self
                .http
                .post(http::endpoint(&self.base, &["v1", "users", user, "calls"]))
                .basic_auth(api_id, Some(api_token.expose()))
                .json(&json!({ "number_id": number_id, "to": phone })),
            Provider::Dialpad { api_key, outbound_caller_id } => {
                let mut body = json!({ "phone_number": phone, "custom_data": custom_data(notice) });
                if let Some(caller_id) = outbound_caller_id {
                    body["outbound_caller_id"] = Value::from(caller_id.as_str());
                }
                self.http
                    .post(http::endpoint(&self.base, &["api", "v2", "users", user, "initiate_call"]))
                    .bearer_auth(api_key.expose())
                    .json(&body)
            }
        }
    }
}

/// What Dialpad hands back on the call's events: enough to find the lead and the notice.
fn custom_data(notice: &Notice) -> String {
    json!({
        "lead_id": notice.lead_id,
        "notice_id": notice.id,
        "routing_domain": notice.routing_domain,
        "attempt": notice.attempt,
    })
    .to_string()
}

#[async_trait]
impl Channel for DialerChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Dialer
    }

    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
        let user = to.trim();
        if user.is_empty() {
            return Err(SendError::Permanent { reason: "no dialer user id".into() });
        }
        let Some(phone) = notice.lead.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) else {
            return Err(SendError::Permanent { reason: "lead has no phone".into() });
        };
        let answer = http::execute(self.request(user, phone, notice)).await?;
        answer.check()?;
        // Dialpad answers with the call's id; Aircall with 204 and nothing.
        let id = serde_json::from_str::<Value>(&answer.body).ok().and_then(|v| match &v["call_id"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Ok(Sent { provider_id: id })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;

    use super::super::test_server::{notice, Loopback, Reply};
    use super::super::{AircallSettings, DialpadSettings};
    use super::*;

    fn aircall(base: &str) -> DialerChannel {
        let s = DialerSettings::Aircall(AircallSettings {
            enabled: true,
            api_id: "api-id".into(),
            api_token: Secret::new("api-token"),
            number_id: 1234,
            api_base: base.into(),
        });
        DialerChannel::new(&s, http::client(Duration::from_secs(5)).unwrap()).unwrap()
    }

    fn dialpad(base: &str) -> DialerChannel {
        let s = DialerSettings::Dialpad(DialpadSettings {
            enabled: true,
            api_key: Secret::new("dp-key"),
            outbound_caller_id: Some("+15550001111".into()),
            api_base: base.into(),
        });
        DialerChannel::new(&s, http::client(Duration::from_secs(5)).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn aircall_starts_a_call_from_the_configured_number() {
        let server = Loopback::start(vec![Reply::text(204, "")]).await;
        let sent = aircall(&server.base).send(&notice(), "98765").await.unwrap();
        assert_eq!(sent, Sent::default());
        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/users/98765/calls"));
        let basic = base64::engine::general_purpose::STANDARD.encode("api-id:api-token");
        assert_eq!(r.header("authorization"), Some(format!("Basic {basic}").as_str()));
        assert_eq!(r.json(), json!({"number_id": 1234, "to": "+4915112345678"}));
    }

    #[tokio::test]
    async fn dialpad_initiates_a_call_tagged_with_the_lead() {
        let server =
            Loopback::start(vec![Reply::json(200, json!({"call_id": 5551, "state": "calling"}))]).await;
        let n = notice();
        let sent = dialpad(&format!("{}/", server.base)).send(&n, "u/42").await.unwrap();
        assert_eq!(sent.provider_id.as_deref(), Some("5551"));
        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v2/users/u%2F42/initiate_call"));
        assert_eq!(r.header("authorization"), Some("Bearer dp-key"));
        let body = r.json();
        assert_eq!(body["phone_number"], "+4915112345678");
        assert_eq!(body["outbound_caller_id"], "+15550001111");
        let custom: Value = serde_json::from_str(body["custom_data"].as_str().unwrap()).unwrap();
        assert_eq!(custom["lead_id"], n.lead_id.to_string());
        assert_eq!(custom["notice_id"], n.id);
    }

    #[tokio::test]
    async fn a_lead_without_a_phone_is_permanent_and_calls_nobody() {
        let server = Loopback::start(vec![Reply::text(204, "")]).await;
        let mut n = notice();
        n.lead.phone = Some(" ".into());
        let err = aircall(&server.base).send(&n, "98765").await.unwrap_err();
        assert_eq!(err, SendError::Permanent { reason: "lead has no phone".into() });
        n.lead.phone = None;
        assert_eq!(dialpad(&server.base).send(&n, "42").await.unwrap_err().outcome(), "permanent");
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn errors_map_like_every_http_channel() {
        let cases = [
            (Reply::text(503, ""), SendError::Retryable { reason: "HTTP 503".into(), retry_after: None }),
            (
                Reply::text(429, "").header("retry-after", "7"),
                SendError::Retryable { reason: "HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) },
            ),
            (
                Reply::json(400, json!({"error": "user is not available"})),
                SendError::Permanent { reason: r#"HTTP 400: {"error":"user is not available"}"#.into() },
            ),
        ];
        for (reply, expected) in cases {
            let server = Loopback::start(vec![reply]).await;
            assert_eq!(aircall(&server.base).send(&notice(), "1").await.unwrap_err(), expected.clone());
            assert_eq!(dialpad(&server.base).send(&notice(), "1").await.unwrap_err(), expected);
        }
    }
}
