//! The channels a rep can be told on, one file each, and their settings (`[notify.channels]`).
//!
//! A channel turns a [`Notice`](super::Notice) into one provider request and the provider's answer
//! into `Sent` or a [`SendError`](super::SendError) kind; retries, fallbacks, rate limits, quiet
//! hours and opt-out lists are the hub's. [`build`] makes every configured, enabled channel, and
//! refuses settings that could only fail later (a missing token, a bad sender address), naming
//! every problem at once.
//!
//! Credentials are [`Secret`]s: they deserialize from config like strings, but `Debug` (and so
//! every settings dump in a log) shows `<redacted>`.

pub mod dialer;
pub mod email;
pub mod http;
pub mod slack;
pub mod sms;
pub mod webhook;

#[cfg(any(test, feature = "integration"))]
pub mod smtp_listener;
#[cfg(test)]
mod test_server;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::templates::Templates;
use super::Channel;
use crate::error::Error;

/// Where these settings sit in the config, for error messages.
pub const CONFIG_PATH: &str = "notify.channels";

/// `[notify.channels]`: one optional table per channel; a channel without its table (or with
/// `enabled = false`) is not built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Whole-request timeout of the HTTP channels (Slack, SMS, webhook, dialer). A rep who gets
    /// the lead a minute late is barely better than not at all, so this is short.
    #[serde(default = "defaults::http_timeout_ms")]
    pub http_timeout_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialer: Option<DialerSettings>,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            http_timeout_ms: defaults::http_timeout_ms(),
            slack: None,
            sms: None,
            email: None,
            webhook: None,
            dialer: None,
        }
    }
}

/// A credential from config; `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<redacted>" })
    }
}

/// `[notify.channels.slack]`. A rep's Slack address is either an incoming-webhook URL (posted to
/// as is, no token needed) or a channel / user id (posted with `chat.postMessage`, which needs
/// `bot_token`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    /// `xoxb-…`, with the `chat:write` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    #[serde(default = "defaults::slack_api_base")]
    pub api_base: String,
}

/// `[notify.channels.sms]`: Twilio's Messages API. A rep's address is an E.164 number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    /// `AC…`.
    pub account_sid: String,
    pub auth_token: Secret,
    /// The sending number (E.164) or alphanumeric sender id; or use `messaging_service_sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `MG…`: Twilio picks the sender from the service's pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// Where Twilio reports delivery (`StatusCallback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    #[serde(default = "defaults::twilio_api_base")]
    pub api_base: String,
}

/// `[notify.channels.email]`: SMTP submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    pub host: String,
    /// Defaults by `tls`: 25 (`none`), 587 (`starttls`), 465 (`tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The sender, `leads@example.com` or `Speedlead <leads@example.com>`.
    pub from: String,
    /// Per SMTP command and for the connection.
    #[serde(default = "defaults::smtp_timeout_ms")]
    pub timeout_ms: u64,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or a test server.
    None,
    /// Plain connect, then STARTTLS, which must succeed (no silent downgrade).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// `[notify.channels.webhook]`: a signed POST (Standard Webhooks) to the rep's URL, e.g. a push
/// gateway or the rep's own automation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    /// `whsec_<base64>`; each signs, so receivers can rotate: add the new one, move receivers
    /// over, then drop the old one.
    pub secrets: Vec<Secret>,
}

/// `[notify.channels.dialer]`, `provider = "aircall"` or `"dialpad"`: starts a call from the
/// rep's dialer to the lead. A rep's address is their user id at the dialer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
pub enum DialerSettings {
    Aircall(AircallSettings),
    Dialpad(DialpadSettings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AircallSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    pub api_id: String,
    pub api_token: Secret,
    /// The Aircall number the call is placed from.
    pub number_id: u64,
    #[serde(default = "defaults::aircall_api_base")]
    pub api_base: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialpadSettings {
    #[serde(default = "defaults::enabled")]
    pub enabled: bool,
    pub api_key: Secret,
    /// The number the lead sees (else the rep's primary number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id: Option<String>,
    #[serde(default = "defaults::dialpad_api_base")]
    pub api_base: String,
}

impl DialerSettings {
    pub fn enabled(&self) -> bool {
        match self {
            DialerSettings::Aircall(s) => s.enabled,
            DialerSettings::Dialpad(s) => s.enabled,
        }
    }
}

mod defaults {
    pub fn enabled() -> bool {
        true
    }
    pub fn http_timeout_ms() -> u64 {
        5_000
    }
    pub fn smtp_timeout_ms() -> u64 {
        10_000
    }
    pub fn slack_api_base() -> String {
        "https://slack.com/api".into()
    }
    pub fn twilio_api_base() -> String {
        "https://api.twilio.com".into()
    }
    pub fn aircall_api_base() -> String {
        "https://api.aircall.io".into()
    }
    pub fn dialpad_api_base() -> String {
        "https://dialpad.com".into()
    }
}

/// Every configured and enabled channel, sharing one HTTP client. Refuses the settings, naming
/// every problem, when any channel could not work.
pub fn build(settings: &ChannelSettings, templates: Arc<Templates>) -> Result<Vec<Arc<dyn Channel>>, Error> {
    if settings.http_timeout_ms == 0 {
        return Err(Error::Config(format!("{CONFIG_PATH}.http_timeout_ms: must be above 0")));
    }
    let http = http::client(Duration::from_millis(settings.http_timeout_ms))?;
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut add = |built: Result<Arc<dyn Channel>, Vec<String>>| match built {
        Ok(channel) => channels.push(channel),
        Err(mut p) => problems.append(&mut p),
    };
    if let Some(s) = settings.slack.as_ref().filter(|s| s.enabled) {
        add(slack::SlackChannel::new(s, http.clone(), templates.clone()).map(|c| Arc::new(c) as _));
    }
    if let Some(s) = settings.sms.as_ref().filter(|s| s.enabled) {
        add(sms::SmsChannel::new(s, http.clone(), templates.clone()).map(|c| Arc::new(c) as _));
    }
    if let Some(s) = settings.email.as_ref().filter(|s| s.enabled) {
        add(email::EmailChannel::new(s, templates.clone()).map(|c| Arc::new(c) as _));
    }
    if let Some(s) = settings.webhook.as_ref().filter(|s| s.enabled) {
        add(webhook::WebhookChannel::new(s, http.clone(), templates.clone()).map(|c| Arc::new(c) as _));
    }
    if let Some(s) = settings.dialer.as_ref().filter(|s| s.enabled()) {
        add(dialer::DialerChannel::new(s, http.clone()).map(|c| Arc::new(c) as _));
    }
    if problems.is_empty() {
        Ok(channels)
    } else {
        Err(Error::Config(problems.join("; ")))
    }
}

/// Pushes `"{CONFIG_PATH}.{key}: must be set"` when `value` is blank.
pub(crate) fn require(problems: &mut Vec<String>, key: &str, value: &str) {
    if value.trim().is_empty() {
        problems.push(format!("{CONFIG_PATH}.{key}: must be set"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::templates::TemplateSettings;
    use crate::notify::ChannelKind;

    fn parse(toml: &str) -> Result<ChannelSettings, String> {
        figment::Figment::from(figment::providers::Serialized::defaults(ChannelSettings::default()))
            .merge(<figment::providers::Toml as figment::providers::Format>::string(toml))
            .extract()
            .map_err(|e| e.to_string())
    }

    fn templates() -> Arc<Templates> {
        Arc::new(Templates::new(&TemplateSettings::default()).unwrap())
    }

    const ALL: &str = r#"
        http_timeout_ms = 3000
        [slack]
        bot_token = "xoxb-1"
        [sms]
        account_sid = "AC1"
        auth_token = "tok"
        messaging_service_sid = "MG1"
        [email]
        host = "smtp.example.com"
        from = "Speedlead <leads@example.com>"
        [webhook]
        secrets = ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]
        [dialer]
        provider = "aircall"
        api_id = "id"
        api_token = "tok"
        number_id = 42
    "#;

    #[tokio::test]
    async fn every_configured_channel_is_built_and_absent_or_disabled_ones_are_not() {
        let settings = parse(ALL).unwrap();
        assert_eq!(settings.http_timeout_ms, 3000);
        let kinds: Vec<ChannelKind> =
            build(&settings, templates()).unwrap().iter().map(|c| c.kind()).collect();
        assert_eq!(kinds, ChannelKind::ALL.to_vec());

        let settings =
            parse("[sms]\nenabled = false\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+1\"")
                .unwrap();
        assert!(build(&settings, templates()).unwrap().is_empty());
        assert!(build(&ChannelSettings::default(), templates()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn every_problem_is_named_at_once() {
        let settings = parse(
            r#"
            [sms]
            account_sid = ""
            auth_token = "t"
            [email]
            host = "h"
            from = "not an address"
            username = "u"
            [webhook]
            secrets = ["whsec_!!!"]
            [dialer]
            provider = "dialpad"
            api_key = ""
            api_base = "nope"
            "#,
        )
        .unwrap();
        let Err(Error::Config(message)) = build(&settings, templates()) else { panic!("accepted") };
        for expected in [
            "notify.channels.sms.account_sid: must be set",
            "notify.channels.sms: set `from` or `messaging_service_sid`",
            "notify.channels.email.from: 'not an address' is not an email address",
            "notify.channels.email: set both `username` and `password`, or neither",
            "notify.channels.webhook.secrets[0]: not a whsec_<base64> secret",
            "notify.channels.dialer.api_key: must be set",
            "notify.channels.dialer.api_base: 'nope' is not an http(s) URL",
        ] {
            assert!(message.contains(expected), "missing '{expected}' in: {message}");
        }
    }

    #[test]
    fn unknown_keys_and_providers_are_refused() {
        assert!(parse("[slack]\nbot_tokn = \"x\"").unwrap_err().contains("bot_tokn"));
        assert!(parse("[dialer]\nprovider = \"ringcentral\"").unwrap_err().contains("ringcentral"));
        let aircall = "provider = \"aircall\"\napi_id = \"i\"\napi_token = \"t\"\nnumber_id = 1";
        let err = parse(&format!("[dialer]\n{aircall}\napi_key = \"k\"")).unwrap_err();
        assert!(err.contains("api_key"), "{err}");
        let s = parse("[dialer]\nprovider = \"dialpad\"\napi_key = \"k\"").unwrap();
        assert!(
            matches!(s.dialer, Some(DialerSettings::Dialpad(ref d)) if d.api_base == "https://dialpad.com")
        );
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let settings = parse(ALL).unwrap();
        let debug = format!("{settings:?}");
        for secret in ["xoxb-1", "\"tok\"", "C2FVsBQIhrscChlQIMV"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("<redacted>") && debug.contains("AC1"), "{debug}");
    }
}
