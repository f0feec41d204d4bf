//! The rep's dashboard over HTTP: the magic link, the page, the lead list it re-reads, the live
//! event stream, and time-to-seen telemetry.
//!
//! - `GET /v1/reps/{rep}/dashboard?t=<token>`: the magic link. A valid rep token becomes an
//!   HttpOnly, SameSite=Strict cookie and the browser is sent to the same URL without the token
//!   (so it leaves the address bar and the history). Without `t`, the page, if the cookie is the
//!   rep's.
//! - `GET /v1/reps/{rep}/leads`: the truth: the rep's open leads, newest first, each with its
//!   accept link. The page re-reads it on every event, on focus and every 30 s.
//! - `GET /v1/reps/{rep}/events`: server-sent events from the rep feed (`ready` first, then
//!   `lead.*` events, `resync` when events may have been missed).
//! - `POST /v1/telemetry/seen`: the page says when it received and rendered a lead.
//!
//! Every route but the magic link wants the rep's own token (cookie, or `Authorization: Bearer`):
//! a rep never sees another rep's leads or events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use speedlead_actors::ack_token::AckSigner;
use speedlead_actors::dispatch::ack_claims;
use speedlead_actors::store::Store;
use tokio::sync::broadcast;

use crate::config::Settings;
use crate::dashboard::feed::{RepFeed, RESYNC};
use crate::dashboard::rep_token;
use crate::routing_reload::RoutingHandle;

/// The cookie holding the rep token after the magic link.
pub const COOKIE: &str = "sl_dash";
/// Leads listed at most (a rep with more open leads has a bigger problem than the list).
const MAX_LEADS: usize = 200;
const PAGE: &str = include_str!("dashboard.html");

pub struct DashboardState {
    pub store: Arc<dyn Store>,
    pub routing: RoutingHandle,
    pub feed: Arc<RepFeed>,
    pub signer: AckSigner,
    pub token_ttl: Duration,
    pub public_base_url: String,
    /// Set the cookie `Secure` (the public URL is https).
    pub secure_cookie: bool,
}

impl DashboardState {
    pub fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        routing: RoutingHandle,
        feed: Arc<RepFeed>,
    ) -> Arc<Self> {
        Arc::new(DashboardState {
            store,
            routing,
            feed,
            signer: settings.acks.signer(),
            token_ttl: settings.acks.token_ttl(),
            public_base_url: settings.acks.public_base_url.trim_end_matches('/').to_string(),
            secure_cookie: settings.acks.public_base_url.starts_with("https://"),
        })
    }

    /// A magic link for `rep`, valid for `ttl`.
    pub fn magic_link(&self, rep: &str, ttl: Duration) -> String {
        let exp = Utc::now().timestamp() + ttl.as_secs() as i64;
        let token = rep_token::issue(&self.signer, rep, exp);
        format!("{}/v1/reps/{rep}/dashboard?t={token}", self.public_base_url)
    }
}

pub fn routes(state: Arc<DashboardState>) -> Router {
    Router::new()
        .route("/v1/reps/{rep}/dashboard", get(dashboard))
        .route("/v1/reps/{rep}/leads", get(leads))
        .route("/v1/reps/{rep}/events", get(events))
        .route("/v1/telemetry/seen", post(seen))
        .with_state(state)
}

/// The rep token a request carries: the dashboard cookie, else a bearer token.
pub fn request_token(headers: &HeaderMap) -> Option<&str> {
    let cookie = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    });
    cookie.or_else(|| headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer "))
}

/// The rep the request's token was issued to, if it verifies.
pub fn authenticated_rep(signer: &AckSigner, headers: &HeaderMap) -> Option<String> {
    rep_token::verify(signer, request_token(headers)?, Utc::now().timestamp()).ok()
}

/// Refuses unless the request carries `rep`'s own token; else the rep's domain.
fn authorize(state: &DashboardState, rep: &str, headers: &HeaderMap) -> Result<String, Refusal> {
    match authenticated_rep(&state.signer, headers) {
        Some(who) if who == rep => {}
        Some(_) => {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                "this token belongs to another rep".into(),
                "authorization",
            ))
        }
        None => {
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "open your magic link to sign in".into(),
                "authorization",
            ))
        }
    }
    let routing = state.routing.load();
    match routing.domain_of_rep(rep) {
        Some(domain) => Ok(domain.to_string()),
        None => {
            Err(Refusal(StatusCode::NOT_FOUND, format!("no rep '{rep}' in the routing configuration"), "rep"))
        }
    }
}

/// A refused request: status, what went wrong, and the field (or header) to blame.
struct Refusal(StatusCode, String, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.0, &self.1, self.2)
    }
}

fn refuse(status: StatusCode, error: &str, field: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({ "error": error, "field": field })))
        .into_response()
}

#[derive(Deserialize)]
struct MagicLink {
    t: Option<String>,
}

async fn dashboard(
    State(state): State<Arc<DashboardState>>,
    Path(rep): Path<String>,
    Query(link): Query<MagicLink>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = link.t {
        return match rep_token::verify(&state.signer, &token, Utc::now().timestamp()) {
            Ok(who) if who == rep => {
                let secure = if state.secure_cookie { "; Secure" } else { "" };
                let cookie = format!("{COOKIE}={token}; Path=/v1/; HttpOnly; SameSite=Strict{secure}");
                let to = format!("/v1/reps/{rep}/dashboard");
                ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
            }
            _ => refuse(StatusCode::UNAUTHORIZED, "this link is invalid or expired; ask for a new one", "t"),
        };
    }
    if let Err(refusal) = authorize(&state, &rep, &headers) {
        return refusal.into_response();
    }
    let headers = [(header::CACHE_CONTROL, "no-store"), (header::REFERRER_POLICY, "no-referrer")];
    (headers, Html(PAGE)).into_response()
}

async fn leads(
    State(state): State<Arc<DashboardState>>,
    Path(rep): Path<String>,
    headers: HeaderMap,
) -> Response {
    let domain = match authorize(&state, &rep, &headers) {
        Ok(domain) => domain,
        Err(refusal) => return refusal.into_response(),
    };
    let (held, rep_state) = match tokio::try_join!(
        state.store.rep_leads(&domain, &rep, MAX_LEADS),
        state.store.rep_state(&domain, &rep)
    ) {
        Ok(both) => both,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: store unavailable");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; try again shortly",
                "store",
            );
        }
    };
    let routing = state.routing.load();
    let name = routing.rep(&rep).and_then(|p| p.name.clone());
    let ms = |ms: i64| Utc.timestamp_millis_opt(ms).single().map(|t| t.to_rfc3339());
    let leads: Vec<Value> = held
        .into_iter()
        .map(|(lead_id, route)| {
            let claims = ack_claims(lead_id.parse().unwrap_or_default(), &domain, &route, state.token_ttl);
            json!({
                "lead_id": lead_id,
                "attempt": route.attempt,
                "accepted": route.acked,
                "assigned_at": ms(route.assigned_ms),
                "sla_due_at": (!route.acked && route.due_ms > 0).then(|| ms(route.due_ms)).flatten(),
                "reason": route.reason,
                "pool": route.pool,
                "lead": route.summary,
                "accept_url": format!("/v1/acks/{}", state.signer.sign(&claims)),
            })
        })
        .collect();
    let body = json!({
        "rep": { "id": rep, "name": name, "domain": domain, "status": rep_state.status.as_str() },
        "leads": leads,
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn events(
    State(state): State<Arc<DashboardState>>,
    Path(rep): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authorize(&state, &rep, &headers) {
        return refusal.into_response();
    }
    let receiver = state.feed.subscribe(&rep);
    metrics::gauge!("speedlead_dashboard_streams").increment(1.0);
    let headers =
        [(header::CACHE_CONTROL, "no-store"), (header::HeaderName::from_static("x-accel-buffering"), "no")];
    let sse = Sse::new(event_stream(receiver)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    (headers, sse).into_response()
}

/// Counts the open stream down when the client goes away (the stream is dropped).
struct StreamGauge;

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("speedlead_dashboard_streams").decrement(1.0);
    }
}

/// `ready` first (the page re-reads the list then, so nothing between its last read and the
/// subscription is missed), then each feed event named by its `type`.
fn event_stream(receiver: broadcast::Receiver<Arc<str>>) -> impl Stream<Item = Result<Event, Infallible>> {
    let ready = Event::default().event("ready").data("{}").retry(Duration::from_secs(2));
    let state = (Some(ready), receiver, StreamGauge);
    futures::stream::unfold(state, |(first, mut receiver, gauge)| async move {
        if let Some(ready) = first {
            return Some((Ok(ready), (None, receiver, gauge)));
        }
        let data: Arc<str> = match receiver.recv().await {
            Ok(data) => data,
            // Fell behind: whatever was skipped, the list has it.
            Err(broadcast::error::RecvError::Lagged(_)) => Arc::from(RESYNC),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let kind = serde_json::from_str::<Value>(&data)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "message".into());
        Some((Ok(Event::default().event(kind).data(&*data)), (None, receiver, gauge)))
    })
}

/// What the page reports per rendered lead (ms since the epoch, the page's clock; the server's
/// and the page's clocks are assumed close, and negative spans are dropped).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seen {
    lead_id: String,
    #[serde(default)]
    captured_at_ms: Option<i64>,
    #[serde(default)]
    committed_at_ms: Option<i64>,
    #[serde(default)]
    published_at_ms: Option<i64>,
    received_at_ms: i64,
    rendered_at_ms: i64,
}

async fn seen(
    State(state): State<Arc<DashboardState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if authenticated_rep(&state.signer, &headers).is_none() {
        return refuse(StatusCode::UNAUTHORIZED, "open your magic link to sign in", "authorization");
    }
    let seen: Seen = match serde_json::from_slice(&body) {
        Ok(seen) => seen,
        Err(e) => {
            metrics::counter!("speedlead_telemetry_rejected_total").increment(1);
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, &format!("body: {e}"), field_of(&e.to_string()));
        }
    };
    tracing::debug!(lead_id = seen.lead_id, "lead seen");
    let segments = [
        ("committed_to_published", seen.committed_at_ms, seen.published_at_ms),
        ("published_to_received", seen.published_at_ms, Some(seen.received_at_ms)),
        ("received_to_rendered", Some(seen.received_at_ms), Some(seen.rendered_at_ms)),
        ("captured_to_rendered", seen.captured_at_ms, Some(seen.rendered_at_ms)),
    ];
    for (segment, from, to) in segments {
        if let (Some(from), Some(to)) = (from, to) {
            if to >= from && to - from < 86_400_000 {
                let span = (to - from) as f64 / 1000.0;
                metrics::histogram!("speedlead_lead_segment_seconds", "segment" => segment).record(span);
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The field serde complained about (`missing field `x``, `unknown field `x``), else `body`.
fn field_of(message: &str) -> &str {
    message.split('`').nth(1).unwrap_or("body")
}
