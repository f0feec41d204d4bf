//! The webhooks admin API, behind `Authorization: Bearer <http.admin_token>` (refused outright when
//! no token is configured: this API can resend data to anyone subscribed):
//!
//! - `GET  /v1/admin/webhooks`: the subscriptions (`source`: `config` or `api`), each with
//!   `disabled` (why) or null;
//! - `POST /v1/admin/webhooks` `{id?, url, events?, secrets?, ordered_by_lead?}`: subscribes (201; a secret is made
//!   up and shown once when none is given; 400 naming the field; 409 for a taken id);
//! - `DELETE /v1/admin/webhooks/{id}`: unsubscribes one made through this API;
//! - `POST /v1/admin/webhooks/{id}/enable`: enables a disabled endpoint and forgets its failures;
//! - `GET  /v1/admin/webhooks/{id}/dead-letters?from=&to=&limit=`: dead letters, oldest first;
//! - `POST /v1/admin/webhooks/{id}/dead-letters/{delivery}/replay`: sends one again;
//! - `POST /v1/admin/webhooks/{id}/dead-letters/replay?from=&to=`: sends a time range again.
//!
//! Times are RFC 3339 or milliseconds since the epoch. A replay starts the whole retry schedule
//! afresh; replaying to a disabled endpoint needs `enable` first (else it is dead-lettered again).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::notify::channels::Secret;
use crate::webhooks::deliverer::WebhookDeliverer;
use crate::webhooks::settings::Subscription;
use crate::webhooks::store::{DeadDelivery, WebhookStore};
use crate::webhooks::subscriptions::{Refused, SubscriptionBook};

/// Most dead letters one call lists or replays.
const MAX_BATCH: usize = 1_000;

pub struct WebhooksAdmin {
    pub admin_token: Option<String>,
    pub subscriptions: Arc<SubscriptionBook>,
    pub store: Arc<dyn WebhookStore>,
    /// Woken after a replay so the deliverer does not wait for its next poll.
    pub deliverer: Arc<WebhookDeliverer>,
}

pub fn routes(state: Arc<WebhooksAdmin>) -> Router {
    Router::new()
        .route("/v1/admin/webhooks", get(list).post(subscribe))
        .route("/v1/admin/webhooks/{id}", axum::routing::delete(unsubscribe))
        .route("/v1/admin/webhooks/{id}/enable", post(enable))
        .route("/v1/admin/webhooks/{id}/dead-letters", get(dead_letters))
        .route("/v1/admin/webhooks/{id}/dead-letters/replay", post(replay_range))
        .route("/v1/admin/webhooks/{id}/dead-letters/{delivery}/replay", post(replay_one))
        .with_state(state)
}

/// A refused or failed admin call, as `{error, field}` with its status.
struct Problem(StatusCode, String, &'static str);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let Problem(status, error, field) = self;
        let body = Json(json!({ "error": error, "field": field }));
        if status == StatusCode::UNAUTHORIZED {
            return (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}

impl From<speedlead_actors::store::StoreError> for Problem {
    fn from(e: speedlead_actors::store::StoreError) -> Self {
        Problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), "store")
    }
}

impl WebhooksAdmin {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), Problem> {
        match &self.admin_token {
            None => Err(Problem(
                StatusCode::FORBIDDEN,
                "the webhooks admin API is off until http.admin_token is set".into(),
                "http.admin_token",
            )),
            Some(token) if super::bearer_is(token, headers) => Ok(()),
            Some(_) => Err(Problem(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required".into(),
                "authorization",
            )),
        }
    }

    fn subscription(&self, id: &str) -> Result<Subscription, Problem> {
        self.subscriptions
            .get(id)
            .ok_or_else(|| Problem(StatusCode::NOT_FOUND, format!("no subscription '{id}'"), "id"))
    }

    fn wake(&self) {
        self.deliverer.wake();
    }
}

async fn list(State(admin): State<Arc<WebhooksAdmin>>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    admin.authorize(&headers)?;
    let current = admin.subscriptions.current();
    let mut out = Vec::with_capacity(current.len());
    for s in current.iter() {
        let disabled = admin.store.disabled(&s.id).await?;
        let source = if admin.subscriptions.is_configured(&s.id) { "config" } else { "api" };
        out.push(
            json!({ "id": s.id, "url": s.url, "events": s.events, "source": source, "disabled": disabled }),
        );
    }
    Ok(Json(json!({ "subscriptions": out })))
}

/// The body of `POST /v1/admin/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    #[serde(default)]
    id: String,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    ordered_by_lead: bool,
}

async fn subscribe(
    State(admin): State<Arc<WebhooksAdmin>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    admin.authorize(&headers)?;
    let asked: NewSubscription = serde_json::from_slice(&body).map_err(|e| {
        // serde names the field for a missing or unknown one; the body is what is wrong otherwise.
        let field = ["url", "id", "events", "secrets", "ordered_by_lead"]
            .into_iter()
            .find(|f| e.to_string().contains(f))
            .unwrap_or("body");
        Problem(StatusCode::BAD_REQUEST, e.to_string(), field)
    })?;
    let subscription = Subscription {
        id: asked.id,
        url: asked.url,
        events: asked.events,
        secrets: asked.secrets.into_iter().map(Secret::new).collect(),
        ordered_by_lead: asked.ordered_by_lead,
    };
    let stored = admin.subscriptions.add(subscription).await.map_err(|refused| match refused {
        Refused::Invalid(field, problem) => Problem(StatusCode::BAD_REQUEST, problem, field_name(&field)),
        Refused::Taken(id) => Problem(StatusCode::CONFLICT, format!("subscription '{id}' exists"), "id"),
        Refused::Store(e) => e.into(),
    })?;
    tracing::info!(subscription = %stored.id, "webhook subscription added");
    let secrets: Vec<&str> = stored.secrets.iter().map(Secret::expose).collect();
    let body = json!({ "id": stored.id, "url": stored.url, "events": stored.events, "secrets": secrets });
    Ok((StatusCode::CREATED, Json(body)))
}

/// The static name of a subscription field, for the `{error, field}` body.
fn field_name(field: &str) -> &'static str {
    ["id", "url", "events", "secrets"].into_iter().find(|f| field.starts_with(f)).unwrap_or("body")
}

async fn unsubscribe(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    admin.authorize(&headers)?;
    if admin.subscriptions.is_configured(&id) {
        let why = format!("subscription '{id}' is in the config file; remove it there");
        return Err(Problem(StatusCode::CONFLICT, why, "id"));
    }
    if !admin.subscriptions.remove(&id).await? {
        return Err(Problem(StatusCode::NOT_FOUND, format!("no subscription '{id}'"), "id"));
    }
    tracing::info!(subscription = %id, "webhook subscription removed");
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    admin.authorize(&headers)?;
    admin.subscription(&id)?;
    admin.store.set_disabled(&id, None).await?;
    tracing::info!(subscription = %id, "webhook endpoint enabled");
    Ok(StatusCode::NO_CONTENT)
}

/// `from` / `to` (RFC 3339 or epoch ms; default: all) and `limit`.
#[derive(Debug, Default, Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

impl Range {
    fn bounds(&self) -> Result<(i64, i64, usize), Problem> {
        let at = |value: &Option<String>, field: &'static str, default: i64| match value.as_deref() {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .or_else(|| DateTime::parse_from_rfc3339(v).ok().map(|t| t.timestamp_millis()))
                .ok_or_else(|| {
                    Problem(StatusCode::BAD_REQUEST, format!("'{v}' is not RFC 3339 or epoch ms"), field)
                }),
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_BATCH {
            return Err(Problem(StatusCode::BAD_REQUEST, format!("limit must be 1..={MAX_BATCH}"), "limit"));
        }
        Ok((at(&self.from, "from", 0)?, at(&self.to, "to", i64::MAX)?, limit))
    }
}

fn view(dead: &DeadDelivery) -> Value {
    let d = &dead.delivery;
    let failure = d.last_failure.as_ref();
    json!({
        "delivery_id": d.id,
        "event_id": d.event_id,
        "type": d.event_type,
        "lead_id": d.lead_id,
        "reason": dead.reason,
        "dead_at": DateTime::<Utc>::from_timestamp_millis(dead.dead_ms),
        "attempts": d.attempts,
        "last_status": failure.and_then(|f| f.status),
        "last_response": failure.map(|f| f.detail.as_str()),
        "request_body": serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
    })
}

async fn dead_letters(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path(id): Path<String>,
    Query(range): Query<Range>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    admin.authorize(&headers)?;
    admin.subscription(&id)?;
    let (from, to, limit) = range.bounds()?;
    let letters = admin.store.dead_letters(&id, from, to, limit).await?;
    Ok(Json(json!({ "dead_letters": letters.iter().map(view).collect::<Vec<_>>() })))
}

async fn replay_one(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path((id, delivery)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), Problem> {
    admin.authorize(&headers)?;
    admin.subscription(&id)?;
    let dead =
        admin.store.dead_letter(&id, &delivery).await?.ok_or_else(|| {
            Problem(StatusCode::NOT_FOUND, format!("no dead letter '{delivery}'"), "delivery")
        })?;
    let replayed = u64::from(admin.store.replay(&dead, Utc::now().timestamp_millis()).await?);
    admin.wake();
    metrics::counter!("speedlead_webhook_replays_total").increment(replayed);
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": replayed }))))
}

async fn replay_range(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path(id): Path<String>,
    Query(range): Query<Range>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), Problem> {
    admin.authorize(&headers)?;
    admin.subscription(&id)?;
    let (from, to, _) = range.bounds()?;
    let letters = admin.store.dead_letters(&id, from, to, MAX_BATCH).await?;
    let now = Utc::now().timestamp_millis();
    // Counted one by one: a replay racing this one may have taken some already.
    let mut replayed = 0u64;
    for dead in &letters {
        replayed += u64::from(admin.store.replay(dead, now).await?);
    }
    admin.wake();
    metrics::counter!("speedlead_webhook_replays_total").increment(replayed);
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": replayed }))))
}
