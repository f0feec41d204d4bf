//! Provider adapters: each lead source's signature scheme and payload shape, turned into normalized
//! [`InboundLead`]s. One file per provider; they share the request view, the error shape and the
//! signature helpers in [`signature`].
//!
//! Adapters are pure functions of the raw request, so they are tested on the providers' published
//! payloads and signature test vectors (`tests/fixtures/providers/`) without any server.

pub mod api;
pub mod drift;
mod fields;
pub mod gohighlevel;
pub mod google_ads;
pub mod hubspot;
pub mod hubspot_contacts;
pub mod intercom;
pub mod linkedin;
pub mod meta;
pub mod signature;
pub mod standard_webhooks;
pub mod typeform;
pub mod web_form;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use speedlead_topics::InboundLead;

/// The kinds of lead source speedlead understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any web form posting JSON or `application/x-www-form-urlencoded`, optionally signed with
    /// Standard Webhooks.
    WebForm,
    /// Any sender that signs per Standard Webhooks and posts the normalized lead shape.
    StandardWebhooks,
    /// Typeform `form_response` webhooks (`Typeform-Signature`).
    Typeform,
    /// HubSpot form submissions (`X-HubSpot-Signature-v3`, or legacy v1).
    Hubspot,
    /// Intercom conversation and contact notifications (`X-Hub-Signature`, HMAC-SHA1).
    Intercom,
    /// Drift webhooks (static verification token).
    Drift,
    /// Google Ads lead form webhooks (`google_key` in the body).
    GoogleAds,
    /// Meta Lead Ads (Facebook/Instagram): ids-only notifications, answers fetched from the Graph API.
    Meta,
    /// GoHighLevel `ContactCreate` webhooks, RSA-signed.
    #[serde(rename = "gohighlevel")]
    GoHighLevel,
    /// LinkedIn Lead Sync: ids-only notifications (`X-LI-Signature`), answers fetched from the
    /// Marketing API.
    #[serde(rename = "linkedin")]
    LinkedIn,
}

/// A configured lead source: its name (the `{source}` in `/v1/capture/{source}`), its provider kind,
/// and the secrets it signs with. Several secrets are valid at once, for rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Signing secrets (or verification tokens / keys, per provider); any one that verifies is enough.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Accept unsigned requests. Only for a web form on a page without a server to sign it.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Token the provider echoes in its subscription handshake (Meta's `hub.verify_token`).
    #[serde(default)]
    pub verify_token: Option<String>,
    /// Base URL of the provider's API, for providers that notify with ids only (Meta's Graph API);
    /// tests point it at a loopback server.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Access token for that API.
    #[serde(default)]
    pub api_token: Option<String>,
    /// API version for providers that version by header (LinkedIn's `LinkedIn-Version`, `YYYYMM`).
    #[serde(default)]
    pub api_version: Option<String>,
}

impl SourceConfig {
    /// A source with just a name, kind and secrets; the rest off.
    pub fn new(name: impl Into<String>, kind: ProviderKind, secrets: Vec<String>) -> Self {
        SourceConfig {
            name: name.into(),
            kind,
            secrets,
            allow_unsigned: false,
            verify_token: None,
            api_base_url: None,
            api_token: None,
            api_version: None,
        }
    }
}

/// The raw request an adapter verifies and parses. Verification always runs on these exact bytes.
pub struct RawRequest<'a> {
    pub method: &'a str,
    /// Path and query as received, e.g. `/v1/capture/hubspot?x=1` (HubSpot v3 signs the full URI).
    pub uri: &'a str,
    pub headers: &'a axum::http::HeaderMap,
    pub body: &'a [u8],
    /// Receipt time, for timestamp tolerance.
    pub now: DateTime<Utc>,
}

impl RawRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lowercased (`application/json`).
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }
}

/// One field that is wrong, named by its JSON path in the provider's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// Why a request was refused; the gateway maps each to its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 401: signature or token missing, wrong, or outside the timestamp tolerance. The reason is a
    /// low-cardinality metric label: `missing_signature`, `bad_signature`, `stale_timestamp`.
    Unauthorized(&'static str),
    /// 415: the provider never sends this content type.
    UnsupportedMediaType(String),
    /// 422: the payload is not valid for the provider; every bad field is named.
    Invalid(Vec<FieldError>),
}

impl Rejection {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Rejection::Invalid(vec![FieldError::new(field, message)])
    }
}

/// A lead found in a payload, with the provider's id for it (the idempotency key within the source).
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedLead {
    pub event_id: String,
    pub lead: InboundLead,
}

/// The adapter for a provider kind.
pub fn provider(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::WebForm => &web_form::WebForm,
        ProviderKind::StandardWebhooks => &standard_webhooks::StandardWebhooks,
        ProviderKind::Typeform => &typeform::Typeform,
        ProviderKind::Hubspot => &hubspot::Hubspot,
        ProviderKind::Intercom => &intercom::Intercom,
        ProviderKind::Drift => &drift::Drift,
        ProviderKind::GoogleAds => &google_ads::GoogleAds,
        ProviderKind::Meta => &meta::Meta,
        ProviderKind::GoHighLevel => &gohighlevel::GoHighLevel,
        ProviderKind::LinkedIn => &linkedin::LinkedIn,
    }
}

/// What every provider adapter provides.
pub trait Provider: Send + Sync {
    /// Checks the request is really from the provider, on the raw bytes, in constant time.
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection>;

    /// Turns a verified payload into the leads it carries (some providers batch several events).
    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection>;
}
