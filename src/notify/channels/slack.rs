//! Slack, in the two ways a workspace can let us in:
//!
//! - an incoming webhook: the rep's address IS the webhook URL (it names its channel and carries
//!   its own credential); we POST `{text, blocks}` and Slack answers `200 ok`;
//! - `chat.postMessage` with a bot token: the rep's address is a channel or user id (a user id
//!   sends a DM). Slack answers HTTP 200 even for failures, with `{ok:false, error}`.
//!
//! The message is the `slack` template as a mrkdwn section plus an "Accept" URL button to the accept
//! link. A URL button only opens the link, and `GET /v1/acks/{token}` never accepts by itself, so
//! Slack's link unfurling cannot accept a lead on the rep's behalf.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, Answer};
use super::{Secret, SlackSettings, CONFIG_PATH};
use crate::notify::templates::{self, Templates};
use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};

/// Slack refuses a section whose text is longer.
const MAX_SECTION_CHARS: usize = 3000;

/// `{ok:false}` errors that say "not now" rather than "never": Slack's documented transient
/// failures. Anything else (`channel_not_found`, `invalid_auth`, `not_in_channel`…) is permanent.
const TRANSIENT_ERRORS: [&str; 5] =
    ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"];

pub struct SlackChannel {
    http: reqwest::Client,
    bot_token: Option<Secret>,
    post_message: Url,
    templates: Arc<Templates>,
}

impl SlackChannel {
    pub fn new(
        settings: &SlackSettings,
        http: reqwest::Client,
        templates: Arc<Templates>,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if settings.bot_token.as_ref().is_some_and(Secret::is_empty) {
            problems
                .push(format!("{CONFIG_PATH}.slack.bot_token: empty (leave it out to use webhooks only)"));
        }
        let base = http::base_url(&format!("{CONFIG_PATH}.slack.api_base"), &settings.api_base);
        match base {
            Ok(base) if problems.is_empty() => Ok(SlackChannel {
                http,
                bot_token: settings.bot_token.clone(),
                post_message: http::endpoint(&base, &["chat.postMessage"]),
                templates,
            }),
            Ok(_) => Err(problems),
            Err(p) => Err([problems, vec![p]].concat()),
        }
    }

    async fn incoming_webhook(&self, url: &str, message: Value) -> Result<Sent, SendError> {
        let answer = http::execute(self.http.post(url).json(&message)).await?;
        answer.check()?;
        Ok(Sent::default())
    }

    async fn chat_post_message(&self, channel: &str, mut message: Value) -> Result<Sent, SendError> {
        let Some(token) = &self.bot_token else {
            return Err(SendError::Permanent {
                reason: format!("'{channel}' is a channel id, and no slack.bot_token is configured"),
            });
        };
        message["channel"] = Value::from(channel);
        let request = self.http.post(self.post_message.clone()).bearer_auth(token.expose()).json(&message);
        let answer = http::execute(request).await?;
        answer.check()?;
        api_result(&answer)
    }
}

#[derive(Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Reads a Web API answer: `{ok:true, ts}` is success (the `ts` identifies the message).
fn api_result(answer: &Answer) -> Result<Sent, SendError> {
    let parsed: ApiAnswer = serde_json::from_str(&answer.body).map_err(|_| SendError::Retryable {
        reason: http::reason(answer.status, &format!("not a Slack API answer: {}", answer.body)),
        retry_after: None,
    })?;
    if parsed.ok {
        return Ok(Sent { provider_id: parsed.ts });
    }
    let error = parsed.error.unwrap_or_else(|| "unknown_error".into());
    let reason = format!("slack: {error}");
    if TRANSIENT_ERRORS.contains(&error.as_str()) {
        Err(SendError::Retryable { reason, retry_after: answer.retry_after })
    } else {
        Err(SendError::Permanent { reason })
    }
}

/// `{text, blocks}`: the text is both the section and the notification's fallback.
pub fn message(notice: &Notice, text: &str) -> Value {
    let section: String = text.chars().take(MAX_SECTION_CHARS).collect();
    json!({
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": section } },
            { "type": "actions", "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": "Accept" },
                "style": "primary",
                "url": notice.accept_url,
                "action_id": "accept_lead",
                "value": notice.lead_id.to_string(),
            }]},
        ],
    })
}

/// An address that is a URL is an incoming webhook; anything else is a channel or user id.
fn is_webhook(to: &str) -> bool {
    to.starts_with("https://") || to.starts_with("http://")
}

#[async_trait]
impl Channel for SlackChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
        let to = to.trim();
        if to.is_empty() {
            return Err(SendError::Permanent { reason: "no Slack address".into() });
        }
        let text = self
            .templates
            .render(templates::SLACK, notice)
            .map_err(|reason| SendError::Permanent { reason })?;
        let message = message(notice, &text);
        if is_webhook(to) {
            self.incoming_webhook(to, message).await
        } else {
            self.chat_post_message(to, message).await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_server::{notice, templates, Loopback, Reply};
    use super::*;

    fn channel(base: &str, token: Option<&str>) -> SlackChannel {
        let settings = SlackSettings {
            enabled: true,
            bot_token: token.map(Secret::new),
            api_base: format!("{base}/api"),
        };
        SlackChannel::new(&settings, http::client(Duration::from_secs(5)).unwrap(), templates()).unwrap()
    }

    fn assert_accept_button(body: &Value) {
        let n = notice();
        assert_eq!(body["blocks"][0]["type"], "section");
        assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
        assert!(body["blocks"][0]["text"]["text"].as_str().unwrap().contains("*Ana Lima*"), "{body}");
        assert_eq!(
            body["blocks"][1],
            json!({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Accept"}, "style": "primary",
                "url": n.accept_url, "action_id": "accept_lead", "value": n.lead_id.to_string(),
            }]})
        );
        assert_eq!(body["text"], body["blocks"][0]["text"]["text"]);
    }

    #[tokio::test]
    async fn incoming_webhook_posts_text_and_blocks_to_the_url() {
        let server = Loopback::start(vec![Reply::text(200, "ok")]).await;
        let sent = channel("http://unused.invalid", None)
            .send(&notice(), &format!("{}/services/T0/B0/abc", server.base))
            .await
            .unwrap();
        assert_eq!(sent, Sent::default());
        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/services/T0/B0/abc"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), None);
        assert!(r.json().get("channel").is_none());
        assert_accept_button(&r.json());
    }

    #[tokio::test]
    async fn chat_post_message_sends_the_bot_token_and_the_channel() {
        let server =
            Loopback::start(vec![Reply::json(200, json!({"ok": true, "channel": "C1", "ts": "1700.01"}))])
                .await;
        let sent = channel(&server.base, Some("xoxb-secret")).send(&notice(), "U123").await.unwrap();
        assert_eq!(sent.provider_id.as_deref(), Some("1700.01"));
        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/chat.postMessage"));
        assert_eq!(r.header("authorization"), Some("Bearer xoxb-secret"));
        assert_eq!(r.json()["channel"], "U123");
        assert_accept_button(&r.json());
    }

    #[tokio::test]
    async fn api_errors_map_by_kind() {
        let cases = [
            (Reply::json(200, json!({"ok": false, "error": "channel_not_found"})), "permanent"),
            (Reply::json(200, json!({"ok": false, "error": "ratelimited"})), "retryable"),
            (Reply::json(200, json!({"ok": false, "error": "internal_error"})), "retryable"),
            (Reply::text(200, "<html>proxy</html>"), "retryable"),
            (Reply::text(400, "invalid_payload"), "permanent"),
            (Reply::text(503, ""), "retryable"),
        ];
        for (reply, outcome) in cases {
            let server = Loopback::start(vec![reply.clone()]).await;
            let err = channel(&server.base, Some("xoxb-1")).send(&notice(), "C1").await.unwrap_err();
            assert_eq!(err.outcome(), outcome, "{reply:?} gave {err:?}");
        }
        let server =
            Loopback::start(vec![Reply::json(200, json!({"ok": false, "error": "not_in_channel"}))]).await;
        let err = channel(&server.base, Some("xoxb-1")).send(&notice(), "C1").await.unwrap_err();
        assert_eq!(err, SendError::Permanent { reason: "slack: not_in_channel".into() });
    }

    #[tokio::test]
    async fn rate_limits_carry_retry_after() {
        let server = Loopback::start(vec![Reply::text(429, "").header("retry-after", "7")]).await;
        let c = channel(&server.base, Some("xoxb-1"));
        let err = c.send(&notice(), "C1").await.unwrap_err();
        assert_eq!(
            err,
            SendError::Retryable { reason: "HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) }
        );
        let err = c.send(&notice(), &format!("{}/services/x", server.base)).await.unwrap_err();
        assert!(
            matches!(err, SendError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
    }

    #[tokio::test]
    async fn webhook_failures_map_like_every_http_channel() {
        for (status, body, outcome) in [
            (410, "channel_is_archived", "permanent"),
            (404, "no_service", "permanent"),
            (500, "", "retryable"),
        ] {
            let server = Loopback::start(vec![Reply::text(status, body)]).await;
            let err = channel("http://unused.invalid", None)
                .send(&notice(), &format!("{}/services/x", server.base))
                .await
                .unwrap_err();
            assert_eq!(err.outcome(), outcome, "{status}: {err:?}");
        }
    }

    #[tokio::test]
    async fn a_channel_id_without_a_bot_token_is_permanent() {
        let err = channel("http://unused.invalid", None).send(&notice(), "C1").await.unwrap_err();
        assert!(
            matches!(err, SendError::Permanent { ref reason } if reason.contains("bot_token")),
            "{err:?}"
        );
    }
}
