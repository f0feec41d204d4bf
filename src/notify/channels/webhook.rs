//! A signed webhook to the rep's own URL: a push gateway, a phone automation, an in-house tool.
//!
//! Signed per Standard Webhooks (the scheme speedlead's capture side verifies too, with the same
//! helpers in `providers::signature`): `webhook-id` is the notice id, so a receiver drops a retry
//! it already processed; `webhook-timestamp` is when this attempt was sent; `webhook-signature`
//! holds one `v1,<base64 HMAC-SHA256>` per configured secret, so receivers can rotate.
//!
//! The payload is fat (everything the rep needs), so a receiver can show the lead without
//! calling back into speedlead.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::CONTENT_TYPE;
use reqwest::Url;
use serde_json::{json, Value};

use super::http;
use super::{Secret, WebhookSettings, CONFIG_PATH};
use crate::notify::templates::{self, Templates};
use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};
use crate::providers::signature::{sign_standard_webhooks, standard_webhooks_key};

/// The payload's `type`.
pub const EVENT_TYPE: &str = "lead.assigned";

pub struct WebhookChannel {
    http: reqwest::Client,
    secrets: Vec<Secret>,
    templates: Arc<Templates>,
}

impl WebhookChannel {
    pub fn new(
        settings: &WebhookSettings,
        http: reqwest::Client,
        templates: Arc<Templates>,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if settings.secrets.is_empty() {
            problems.push(format!("{CONFIG_PATH}.webhook.secrets: at least one whsec_<base64> secret"));
        }
        for (i, secret) in settings.secrets.iter().enumerate() {
            if standard_webhooks_key(secret.expose()).is_none_or(|key| key.is_empty()) {
                problems.push(format!("{CONFIG_PATH}.webhook.secrets[{i}]: not a whsec_<base64> secret"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(WebhookChannel { http, secrets: settings.secrets.clone(), templates })
    }
}

/// `webhook-signature`: one `v1,<base64>` per secret, space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign_standard_webhooks(s.expose(), id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `{type, timestamp, data}`, the envelope Standard Webhooks recommends.
pub fn payload(notice: &Notice, title: &str, now: DateTime<Utc>) -> Value {
    json!({
        "type": EVENT_TYPE,
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "notice_id": notice.id,
            "title": title,
            "lead_id": notice.lead_id,
            "attempt": notice.attempt,
            "routing_domain": notice.routing_domain,
            "hot": notice.hot,
            "lead": notice.lead,
            "rep": { "id": notice.rep_id, "name": notice.rep_name },
            "why": notice.why,
            "accept_url": notice.accept_url,
        },
    })
}

#[async_trait]
impl Channel for WebhookChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
        let url = match Url::parse(to.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Err(SendError::Permanent {
                    reason: "the webhook address is not an http(s) URL".into(),
                })
            }
        };
        let title = self
            .templates
            .render(templates::WEBHOOK_TITLE, notice)
            .map_err(|reason| SendError::Permanent { reason })?;
        let now = Utc::now();
        let body = serde_json::to_vec(&payload(notice, &title, now))
            .map_err(|e| SendError::Permanent { reason: format!("payload: {e}") })?;
        let timestamp = now.timestamp();
        let request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &notice.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature_header(&self.secrets, &notice.id, timestamp, &body))
            .body(body);
        let answer = http::execute(request).await?;
        if answer.status == reqwest::StatusCode::GONE {
            // Standard Webhooks: 410 means "stop sending to this endpoint".
            return Err(SendError::Permanent {
                reason: "HTTP 410: the receiver disabled this endpoint".into(),
            });
        }
        answer.check()?;
        Ok(Sent::default())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_server::{notice, templates, Loopback, Reply};
    use super::*;
    use crate::providers::signature::verify_standard_webhooks;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn channel(secrets: &[&str]) -> WebhookChannel {
        let settings =
            WebhookSettings { enabled: true, secrets: secrets.iter().map(|s| Secret::new(*s)).collect() };
        WebhookChannel::new(&settings, http::client(Duration::from_secs(5)).unwrap(), templates()).unwrap()
    }

    /// The published Standard Webhooks test vector (tests/fixtures/providers/README.md), through
    /// the header this channel sends.
    #[test]
    fn signs_the_published_test_vector() {
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let header =
            signature_header(&[Secret::new(SECRET)], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body);
        assert_eq!(header, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[tokio::test]
    async fn posts_a_signed_payload_that_the_capture_verifier_accepts() {
        let server = Loopback::start(vec![Reply::text(204, "")]).await;
        let n = notice();
        channel(&[SECRET, OLD_SECRET]).send(&n, &format!("{}/push/dana?x=1", server.base)).await.unwrap();
        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/push/dana?x=1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("webhook-id"), Some(n.id.as_str()));
        let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!((Utc::now().timestamp() - ts).abs() < 5);
        let signatures = r.header("webhook-signature").unwrap();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        // Each receiver, holding either secret, accepts it; a stranger does not.
        for secret in [SECRET, OLD_SECRET] {
            let verified = verify_standard_webhooks(
                &[secret.to_string()],
                r.header("webhook-id"),
                r.header("webhook-timestamp"),
                Some(signatures),
                &r.body,
                Utc::now(),
            );
            assert_eq!(verified, Ok(()), "{secret}");
        }
        let stranger = verify_standard_webhooks(
            &["whsec_dGVzdHRlc3R0ZXN0dGVzdA==".to_string()],
            r.header("webhook-id"),
            r.header("webhook-timestamp"),
            Some(signatures),
            &r.body,
            Utc::now(),
        );
        assert!(stranger.is_err());

        let body = r.json();
        assert_eq!(body["type"], "lead.assigned");
        let data = &body["data"];
        assert_eq!(data["notice_id"], n.id);
        assert_eq!(data["title"], "Hot lead: Ana Lima (Acme GmbH)");
        assert_eq!(data["lead_id"], n.lead_id.to_string());
        assert_eq!(data["accept_url"], n.accept_url);
        assert_eq!(data["hot"], true);
        assert_eq!(data["why"], n.why);
        assert_eq!(data["rep"], json!({"id": "dana", "name": "Dana Scully"}));
        assert_eq!(data["lead"]["company"], "Acme GmbH");
        assert_eq!(data["lead"]["score"], 91);
    }

    #[tokio::test]
    async fn answers_map_to_what_the_hub_should_do() {
        let cases = [
            (Reply::text(200, "thanks"), None),
            (Reply::text(410, ""), Some("permanent")),
            (Reply::text(400, "bad"), Some("permanent")),
            (Reply::text(503, ""), Some("retryable")),
            (Reply::text(429, "").header("retry-after", "7"), Some("retryable")),
        ];
        for (reply, expected) in cases {
            let server = Loopback::start(vec![reply.clone()]).await;
            let result = channel(&[SECRET]).send(&notice(), &server.base).await;
            assert_eq!(result.as_ref().err().map(SendError::outcome), expected, "{reply:?}: {result:?}");
        }
        let server = Loopback::start(vec![Reply::text(429, "").header("retry-after", "7")]).await;
        let err = channel(&[SECRET]).send(&notice(), &server.base).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Retryable { reason: "HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) }
        );
    }

    #[tokio::test]
    async fn an_address_that_is_not_a_url_is_permanent() {
        for to in ["", "dana@example.com", "ftp://x/y"] {
            let err = channel(&[SECRET]).send(&notice(), to).await.unwrap_err();
            assert_eq!(err.outcome(), "permanent", "{to}");
        }
    }

    #[test]
    fn secrets_must_decode() {
        let bad =
            WebhookSettings { enabled: true, secrets: vec![Secret::new(SECRET), Secret::new("whsec_%%%")] };
        let http = http::client(Duration::from_secs(1)).unwrap();
        let problems = WebhookChannel::new(&bad, http.clone(), templates()).err().unwrap();
        assert_eq!(problems, ["notify.channels.webhook.secrets[1]: not a whsec_<base64> secret"]);
        let none = WebhookSettings { enabled: true, secrets: vec![] };
        assert_eq!(WebhookChannel::new(&none, http, templates()).err().unwrap().len(), 1);
    }
}
