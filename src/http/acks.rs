//! `/v1/acks/{token}`: the accept link a rep gets with each assignment.
//!
//! `GET` only shows the lead and an "Accept lead" button; only the `POST` that button sends
//! acknowledges. Chat and mail clients fetch links to preview them, and a preview must never accept
//! a lead on the rep's behalf. The token is the only credential (see
//! [`speedlead_actors::ack_token`]), so every answer is `no-store`, `noindex` and sends no referrer.
//!
//! The store decides (atomically, racing the SLA escalation timer): the rep's attempt is still
//! current → accepted and `leads.acks` gets the [`Ack`]; the lead moved on → 409 and a
//! `lead.ack_refused` event. Browsers (form posts preferring `text/html`) get a page, everything
//! else JSON, with the same status codes. Every outcome is counted in
//! `speedlead_acks_total{result}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};
use speedlead_actors::ack_token::{AckClaims, AckSigner, TokenError};
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_actors::routing_store::AckOutcome;
use speedlead_actors::store::Store;
use speedlead_topics::{derived_id, event_type, Ack, AckRefused, Envelope, LeadEvent, Topic};

use crate::config::Settings;

pub struct AcksState {
    pub signer: AckSigner,
    pub store: Arc<dyn Store>,
    pub publisher: Arc<dyn Publisher>,
    /// What a 503 tells the client to wait before retrying.
    pub retry_after: Duration,
}

impl AcksState {
    /// Shares the capture gateway's publisher: both answer a person waiting on the HTTP request,
    /// so both want its short delivery timeout (and its non-idempotent producer, see
    /// [`crate::kafka::client::capture_producer`]; acks are de-duplicated by their derived id).
    pub fn new(settings: &Settings, store: Arc<dyn Store>, publisher: Arc<dyn Publisher>) -> Arc<Self> {
        Arc::new(AcksState {
            signer: settings.acks.signer(),
            store,
            publisher,
            retry_after: Duration::from_secs(settings.capture.retry_after_secs),
        })
    }
}

pub fn routes(state: Arc<AcksState>) -> Router {
    Router::new().route("/v1/acks/{token}", get(show).post(accept)).with_state(state)
}

const REASSIGNED: &str = "this lead was reassigned after its SLA passed; it is no longer yours to accept";

/// `GET`: the lead and the button, or why the link no longer works. Never touches the store.
async fn show(State(state): State<Arc<AcksState>>, Path(token): Path<String>) -> Response {
    let claims = match state.signer.verify(&token, Utc::now().timestamp()) {
        Ok(claims) => claims,
        Err(e) => {
            let (status, _) = token_refusal(&e);
            return private(status, Html(page(token_title(&e), &token_message(&e), ""))).into_response();
        }
    };
    let body = format!(
        "{}<form method=\"post\"><button type=\"submit\">Accept lead</button></form>",
        details(&claims)
    );
    private(StatusCode::OK, Html(page("Accept this lead?", "", &body))).into_response()
}

/// `POST`: the rep accepts.
async fn accept(
    State(state): State<Arc<AcksState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let answer = decide(&state, &token).await;
    metrics::counter!("speedlead_acks_total", "result" => answer.result).increment(1);
    let mut response = if prefers_html(&headers) {
        let html = page(answer.title, &answer.message, &answer.details);
        private(answer.status, Html(html)).into_response()
    } else {
        private(answer.status, Json(answer.body)).into_response()
    };
    if answer.status == StatusCode::SERVICE_UNAVAILABLE {
        let secs = state.retry_after.as_secs().max(1).to_string();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_str(&secs).expect("digits"));
    }
    response
}

/// One POST's outcome, rendered as JSON or HTML by the caller.
struct Answer {
    status: StatusCode,
    /// The `speedlead_acks_total` label.
    result: &'static str,
    body: Value,
    title: &'static str,
    message: String,
    details: String,
}

async fn decide(state: &AcksState, token: &str) -> Answer {
    let claims = match state.signer.verify(token, Utc::now().timestamp()) {
        Ok(claims) => claims,
        Err(e) => {
            let (status, result) = token_refusal(&e);
            let message = token_message(&e);
            let body = json!({ "error": message, "field": "token" });
            return Answer { status, result, body, title: token_title(&e), message, details: String::new() };
        }
    };
    let lead_id = claims.lead_id.to_string();
    let outcome =
        match state.store.acknowledge(&claims.domain, &lead_id, &claims.rep_id, claims.attempt).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(lead_id, rep_id = claims.rep_id, error = %e, "ack: store unavailable");
                return unavailable(&claims);
            }
        };
    let done = |status: &str| json!({ "status": status, "lead_id": lead_id, "rep_id": claims.rep_id, "attempt": claims.attempt });
    match outcome {
        AckOutcome::Accepted(_) | AckOutcome::AlreadyAccepted(_) => {
            let first = matches!(outcome, AckOutcome::Accepted(_));
            if let AckOutcome::Accepted(route) = &outcome {
                speedlead_actors::acks::record_acceptance(&claims.domain, route, chrono::Utc::now());
            }
            // Published on the repeat too: the first POST may have failed between the store write
            // and the broker's ack, and the derived id makes the repeat a duplicate consumers drop.
            if let Err(e) = state.publisher.publish(vec![ack_message(&claims)]).await {
                tracing::warn!(lead_id, error = %e.message, "ack stored but not published; a retry republishes");
                return unavailable(&claims);
            }
            let (result, title, message) = if first {
                ("accepted", "Lead accepted", "The lead is yours. Reach out now.")
            } else {
                ("already_accepted", "Already accepted", "You accepted this lead before; it is yours.")
            };
            Answer {
                status: StatusCode::OK,
                result,
                body: done(result),
                title,
                message: message.into(),
                details: details(&claims),
            }
        }
        AckOutcome::Reassigned(current) => {
            // The refusal is final whatever happens to the audit event, so a failed publish is only
            // logged: the rep's answer must not turn into "try again".
            if let Err(e) = state.publisher.publish(vec![refusal_message(&claims, &current)]).await {
                tracing::warn!(lead_id, error = %e.message, "ack refused but the event was not published");
            }
            // The current rep's id stays out of the answer: the link's holder is not entitled to it.
            let body = json!({ "error": REASSIGNED, "field": "token", "current_attempt": current.attempt });
            Answer {
                status: StatusCode::CONFLICT,
                result: "refused",
                body,
                title: "No longer yours",
                message: capitalized(REASSIGNED),
                details: details(&claims),
            }
        }
        AckOutcome::Unknown => {
            let message = "no lead is assigned under this link (it was never routed here, or it expired)";
            Answer {
                status: StatusCode::NOT_FOUND,
                result: "unknown",
                body: json!({ "error": message, "field": "token" }),
                title: "Lead not found",
                message: capitalized(message),
                details: details(&claims),
            }
        }
    }
}

fn unavailable(claims: &AckClaims) -> Answer {
    let message = "the lead could not be accepted right now; please try again in a moment";
    Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        result: "unavailable",
        body: json!({ "error": message }),
        title: "Try again",
        message: capitalized(message),
        details: details(claims),
    }
}

/// 401 for a link that was never valid, 410 for one that was and ran out.
fn token_refusal(e: &TokenError) -> (StatusCode, &'static str) {
    match e {
        TokenError::Expired { .. } => (StatusCode::GONE, "expired"),
        TokenError::Malformed | TokenError::BadSignature => (StatusCode::UNAUTHORIZED, "invalid"),
    }
}

fn token_title(e: &TokenError) -> &'static str {
    match e {
        TokenError::Expired { .. } => "Link expired",
        TokenError::Malformed | TokenError::BadSignature => "Link not valid",
    }
}

fn token_message(e: &TokenError) -> String {
    match e {
        TokenError::Expired { expired_at } => {
            let at = chrono::DateTime::from_timestamp(*expired_at, 0).unwrap_or_default();
            format!("this accept link expired at {}", at.format("%Y-%m-%d %H:%M UTC"))
        }
        TokenError::Malformed => "this accept link is malformed (was it cut short?)".into(),
        TokenError::BadSignature => "this accept link is not valid".into(),
    }
}

/// The `leads.acks` message; its id depends on (lead, attempt) only, so every repeat of an
/// accepted attempt is the same message.
pub fn ack_message(claims: &AckClaims) -> Outbound {
    let lead_id = claims.lead_id.to_string();
    let id = derived_id(&["ack", &lead_id, &claims.attempt.to_string()]);
    let mut envelope = Envelope::with_id(id, event_type::ACKNOWLEDGED, claims.lead_id, ack_of(claims));
    envelope.hops.acknowledged_at = Some(Utc::now());
    let payload = serde_json::to_vec(&envelope).expect("envelopes serialize");
    Outbound { topic: Topic::Acks, key: claims.domain.clone(), payload }
}

fn refusal_message(claims: &AckClaims, current: &speedlead_actors::routing_store::RouteRecord) -> Outbound {
    let lead_id = claims.lead_id.to_string();
    let id = derived_id(&["event", event_type::ACK_REFUSED, &lead_id, &claims.attempt.to_string()]);
    let event = LeadEvent::AckRefused(AckRefused {
        ack: ack_of(claims),
        current_rep_id: current.rep_id.clone(),
        current_attempt: current.attempt,
    });
    let envelope = Envelope::with_id(id, event_type::ACK_REFUSED, claims.lead_id, event);
    let payload = serde_json::to_vec(&envelope).expect("envelopes serialize");
    Outbound { topic: Topic::Events, key: lead_id, payload }
}

fn ack_of(claims: &AckClaims) -> Ack {
    Ack {
        lead_id: claims.lead_id,
        routing_domain: claims.domain.clone(),
        rep_id: claims.rep_id.clone(),
        attempt: claims.attempt,
    }
}

/// Whether the client ranks HTML above JSON: a browser's form post does (`text/html,…,*/*;q=0.8`),
/// curl's and fetch's `*/*` does not, so API clients get JSON unless they ask otherwise.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for value in headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()) {
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            match media.as_str() {
                "text/html" | "application/xhtml+xml" => html = html.max(q),
                "application/json" => json = json.max(q),
                _ => {}
            }
        }
    }
    html > json
}

/// Nothing here may be cached, indexed or leak the token through a `Referer`.
fn private(status: StatusCode, body: impl IntoResponse) -> impl IntoResponse {
    let headers = [
        (header::CACHE_CONTROL, "no-store"),
        (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (status, headers, body)
}

fn details(claims: &AckClaims) -> String {
    format!(
        "<dl><dt>Lead</dt><dd><code>{}</code></dd><dt>Rep</dt><dd>{}</dd><dt>Team</dt><dd>{}</dd>\
         <dt>Attempt</dt><dd>{}</dd></dl>",
        claims.lead_id,
        escape(&claims.rep_id),
        escape(&claims.domain),
        claims.attempt
    )
}

/// A complete small page; `message` is text, `body` is already-escaped HTML.
fn page(title: &str, message: &str, body: &str) -> String {
    let message = if message.is_empty() { String::new() } else { format!("<p>{}</p>", escape(message)) };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title} · speedlead</title><style>{STYLE}</style>\
         </head><body><main><h1>{title}</h1>{message}{body}</main></body></html>",
        title = escape(title),
    )
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 1px 4px rgba(0,0,0,.12)}h1{font-size:1.4rem;margin:0 0 1rem}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#5b6475}dd{margin:0}\
button{font:inherit;font-weight:600;padding:.75rem 1.5rem;border:0;border-radius:8px;\
background:#1f6feb;color:#fff;cursor:pointer;width:100%}button:hover{background:#1858c4}";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default() + "."
}

#[cfg(test)]
#[path = "acks_tests.rs"]
mod tests;
