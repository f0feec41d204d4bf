//! SMS through Twilio's Messages API, plus the two pieces of Twilio's inbound side the hub needs to
//! run an opt-out list: checking `X-Twilio-Signature`, and reading STOP / START keywords.
//!
//! Quiet hours and the opt-out list itself are the hub's: this channel sends when asked, and
//! reports Twilio's 21610 ("the recipient replied STOP") as [`SendError::OptedOut`] so the hub
//! learns of an opt-out it missed.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::CONTENT_TYPE;
use reqwest::Url;
use serde::Deserialize;

use super::http::{self, Answer};
use super::{require, Secret, SmsSettings, CONFIG_PATH};
use crate::notify::templates::{self, Templates};
use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};
use crate::providers::signature::{ct_eq, hmac_sha1};

/// Twilio refuses longer bodies (error 21617). Only a custom template can grow this long; cutting
/// it still tells the rep, where a refusal would tell them nothing.
const MAX_BODY_CHARS: usize = 1600;

/// "Attempt to send to unsubscribed recipient".
const TWILIO_OPTED_OUT: u32 = 21610;

pub struct SmsChannel {
    http: reqwest::Client,
    messages: Url,
    account_sid: String,
    auth_token: Secret,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    status_callback: Option<String>,
    templates: Arc<Templates>,
}

impl SmsChannel {
    pub fn new(
        settings: &SmsSettings,
        http: reqwest::Client,
        templates: Arc<Templates>,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        require(&mut problems, "sms.account_sid", &settings.account_sid);
        require(&mut problems, "sms.auth_token", settings.auth_token.expose());
        let sender =
            |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let (from, messaging_service_sid) = (sender(&settings.from), sender(&settings.messaging_service_sid));
        if from.is_none() && messaging_service_sid.is_none() {
            problems.push(format!("{CONFIG_PATH}.sms: set `from` or `messaging_service_sid`"));
        }
        let status_callback = sender(&settings.status_callback);
        if let Some(url) = &status_callback {
            if let Err(p) = http::base_url(&format!("{CONFIG_PATH}.sms.status_callback"), url) {
                problems.push(p);
            }
        }
        match http::base_url(&format!("{CONFIG_PATH}.sms.api_base"), &settings.api_base) {
            Ok(base) if problems.is_empty() => Ok(SmsChannel {
                http,
                messages: http::endpoint(
                    &base,
                    &["2010-04-01", "Accounts", settings.account_sid.trim(), "Messages.json"],
                ),
                account_sid: settings.account_sid.trim().to_string(),
                auth_token: settings.auth_token.clone(),
                from,
                messaging_service_sid,
                status_callback,
                templates,
            }),
            Ok(_) => Err(problems),
            Err(p) => Err([problems, vec![p]].concat()),
        }
    }

    /// The form Twilio takes, in its field names.
    fn form(&self, to: &str, body: String) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", to.to_string())];
        if let Some(from) = &self.from {
            form.push(("From", from.clone()));
        }
        if let Some(sid) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", sid.clone()));
        }
        form.push(("Body", body));
        if let Some(url) = &self.status_callback {
            form.push(("StatusCallback", url.clone()));
        }
        form
    }
}

/// Twilio's answers: `{sid, …}` on 201, `{code, message, more_info, status}` on errors.
#[derive(Deserialize)]
struct TwilioAnswer {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

fn outcome(answer: &Answer) -> Result<Sent, SendError> {
    let parsed: Option<TwilioAnswer> = serde_json::from_str(&answer.body).ok();
    if answer.status.is_success() {
        return Ok(Sent { provider_id: parsed.and_then(|p| p.sid) });
    }
    let Some(TwilioAnswer { code: Some(code), message, .. }) = parsed else {
        return answer.check().map(|()| Sent::default());
    };
    let detail = format!("Twilio {code}: {}", message.unwrap_or_default());
    if code == TWILIO_OPTED_OUT {
        return Err(SendError::OptedOut { reason: detail });
    }
    http::classify(answer.status, answer.retry_after, &detail).map(|()| Sent::default())
}

/// At most `max` characters (Twilio counts characters, not bytes).
fn clip(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text,
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
        let to = to.trim();
        if !to.starts_with('+') || to.len() < 8 {
            return Err(SendError::Permanent { reason: format!("'{to}' is not an E.164 phone number") });
        }
        let body = self
            .templates
            .render(templates::SMS, notice)
            .map_err(|reason| SendError::Permanent { reason })?;
        let form = serde_urlencoded::to_string(self.form(to, clip(body, MAX_BODY_CHARS)))
            .map_err(|e| SendError::Permanent { reason: format!("form: {e}") })?;
        let request = self
            .http
            .post(self.messages.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        outcome(&http::execute(request).await?)
    }
}

/// Checks `X-Twilio-Signature` on a request Twilio sent us (an inbound SMS, a status callback):
/// base64 HMAC-SHA1, keyed with the auth token, over the full URL Twilio called (scheme, host,
/// path and query, exactly as configured at Twilio) followed by each POST parameter's name and
/// value, sorted by name. Compared in constant time.
pub fn verify_twilio_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature_b64: &str,
) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in sorted {
        parts.push(name.as_bytes());
        parts.push(value.as_bytes());
    }
    ct_eq(&hmac_sha1(auth_token.as_bytes(), &parts), &given)
}

/// What an inbound SMS asks of us: `Some(true)` to opt out (Twilio's STOP words), `Some(false)`
/// to opt back in (START words), `None` for anything else. The whole message must be the keyword
/// (trimmed, any case), as Twilio itself matches them: "stop by at 3" is not an opt-out.
pub fn opt_out_keyword(body: &str) -> Option<bool> {
    const OUT: [&str; 8] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
    const IN: [&str; 3] = ["START", "UNSTOP", "YES"];
    let word = body.trim().to_ascii_uppercase();
    if OUT.contains(&word.as_str()) {
        Some(true)
    } else if IN.contains(&word.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::test_server::{notice, templates, Loopback, Reply};
    use super::*;

    fn settings(base: &str) -> SmsSettings {
        SmsSettings {
            enabled: true,
            account_sid: "AC0123".into(),
            auth_token: Secret::new("s3cret"),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            status_callback: Some("https://hooks.example.com/twilio/status".into()),
            api_base: base.into(),
        }
    }

    fn channel(settings: &SmsSettings) -> SmsChannel {
        SmsChannel::new(settings, http::client(Duration::from_secs(5)).unwrap(), templates()).unwrap()
    }

    fn error(status: u16, code: u32, message: &str) -> Reply {
        let more_info = format!("https://www.twilio.com/docs/errors/{code}");
        Reply::json(
            status,
            json!({"code": code, "message": message, "more_info": more_info, "status": status}),
        )
    }

    #[tokio::test]
    async fn posts_the_form_twilio_expects_with_basic_auth() {
        let server = Loopback::start(vec![Reply::json(
            201,
            json!({"sid": "SM1234", "status": "queued", "to": "+4915112345678", "error_code": null}),
        )])
        .await;
        let sent = channel(&settings(&server.base)).send(&notice(), " +4915112345678 ").await.unwrap();
        assert_eq!(sent.provider_id.as_deref(), Some("SM1234"));
        let r = server.single();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/2010-04-01/Accounts/AC0123/Messages.json")
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("AC0123:s3cret");
        assert_eq!(r.header("authorization"), Some(format!("Basic {basic}").as_str()));
        assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
        let names: Vec<String> = r.form().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["To", "From", "Body", "StatusCallback"]);
        assert_eq!(r.form_field("To").as_deref(), Some("+4915112345678"));
        assert_eq!(r.form_field("From").as_deref(), Some("+15005550006"));
        assert_eq!(
            r.form_field("StatusCallback").as_deref(),
            Some("https://hooks.example.com/twilio/status")
        );
        let body = r.form_field("Body").unwrap();
        assert!(
            body.starts_with("HOT lead: Ana Lima (Acme GmbH)") && body.ends_with(&notice().accept_url),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_messaging_service_replaces_from() {
        let server = Loopback::start(vec![Reply::json(201, json!({"sid": "SM1"}))]).await;
        let s = SmsSettings {
            from: None,
            messaging_service_sid: Some("MG9".into()),
            status_callback: None,
            ..settings(&server.base)
        };
        channel(&s).send(&notice(), "+4915112345678").await.unwrap();
        let r = server.single();
        assert_eq!(r.form_field("MessagingServiceSid").as_deref(), Some("MG9"));
        assert_eq!((r.form_field("From"), r.form_field("StatusCallback")), (None, None));
    }

    #[tokio::test]
    async fn errors_map_by_twilio_code_and_status() {
        let cases = [
            (
                error(400, 21610, "Attempt to send to unsubscribed recipient"),
                SendError::OptedOut {
                    reason: "Twilio 21610: Attempt to send to unsubscribed recipient".into(),
                },
            ),
            (
                error(400, 21211, "Invalid 'To' Phone Number"),
                SendError::Permanent { reason: "HTTP 400: Twilio 21211: Invalid 'To' Phone Number".into() },
            ),
            (
                error(429, 20429, "Too Many Requests").header("retry-after", "7"),
                SendError::Retryable {
                    reason: "HTTP 429: Twilio 20429: Too Many Requests".into(),
                    retry_after: Some(Duration::from_secs(7)),
                },
            ),
            (
                Reply::text(503, "upstream down"),
                SendError::Retryable { reason: "HTTP 503: upstream down".into(), retry_after: None },
            ),
            (Reply::text(401, ""), SendError::Permanent { reason: "HTTP 401".into() }),
        ];
        for (reply, expected) in cases {
            let server = Loopback::start(vec![reply]).await;
            let err = channel(&settings(&server.base)).send(&notice(), "+4915112345678").await.unwrap_err();
            assert_eq!(err, expected);
        }
    }

    #[tokio::test]
    async fn a_non_e164_address_is_refused_without_a_request() {
        let server = Loopback::start(vec![Reply::json(201, json!({"sid": "SM1"}))]).await;
        let err = channel(&settings(&server.base)).send(&notice(), "0151 123").await.unwrap_err();
        assert_eq!(err.outcome(), "permanent");
        assert!(server.requests().is_empty());
    }

    #[test]
    fn long_bodies_are_cut_at_a_character_boundary() {
        assert_eq!(clip("äöü".repeat(1000), MAX_BODY_CHARS).chars().count(), MAX_BODY_CHARS);
        assert_eq!(clip("short".into(), MAX_BODY_CHARS), "short");
    }

    /// The worked example of Twilio's "Webhooks security" guide.
    #[test]
    fn twilio_signature_matches_the_published_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        // Out of order on purpose: the signature sorts them.
        let params: Vec<(String, String)> = [
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(verify_twilio_signature("12345", url, &params, signature));
        assert!(!verify_twilio_signature("12346", url, &params, signature));
        assert!(!verify_twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            signature
        ));
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify_twilio_signature("12345", url, &tampered, signature));
        assert!(!verify_twilio_signature("12345", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
        assert!(!verify_twilio_signature("12345", url, &params, "not base64!"));
        assert!(!verify_twilio_signature("12345", url, &params, ""));
    }

    #[test]
    fn opt_out_keywords() {
        for word in
            ["STOP", "stop", " Stop\n", "STOPALL", "unsubscribe", "CANCEL", "end", "QUIT", "OptOut", "REVOKE"]
        {
            assert_eq!(opt_out_keyword(word), Some(true), "{word:?}");
        }
        for word in ["START", "unstop", " yes "] {
            assert_eq!(opt_out_keyword(word), Some(false), "{word:?}");
        }
        for body in ["", "stop by at 3", "STOP!", "no", "Thanks, calling now"] {
            assert_eq!(opt_out_keyword(body), None, "{body:?}");
        }
    }
}
