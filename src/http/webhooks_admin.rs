//! The webhooks admin API, behind `Authorization: Bearer <http.admin_token>` (refused outright when
//! no token is configured: this API can resend data to anyone subscribed):
//!
//! - `GET  /v1/admin/webhooks`: the subscriptions, each with `disabled` (why) or null;
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

use crate::webhooks::deliverer::WebhookDeliverer;
use crate::webhooks::queue::{DeadDelivery, DeliveryQueue};
use crate::webhooks::settings::Subscription;

/// Most dead letters one call lists or replays.
const MAX_BATCH: usize = 1_000;

pub struct WebhooksAdmin {
    pub admin_token: Option<String>,
    pub subscriptions: Vec<Subscription>,
    pub queue: Arc<dyn DeliveryQueue>,
    /// Woken after a replay so the deliverer does not wait for its next poll.
    pub deliverer: Option<Arc<WebhookDeliverer>>,
}

pub fn routes(state: Arc<WebhooksAdmin>) -> Router {
    Router::new()
        .route("/v1/admin/webhooks", get(list))
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

    fn subscription(&self, id: &str) -> Result<&Subscription, Problem> {
        self.subscriptions
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Problem(StatusCode::NOT_FOUND, format!("no subscription '{id}'"), "id"))
    }

    fn wake(&self) {
        if let Some(deliverer) = &self.deliverer {
            deliverer.wake();
        }
    }
}

async fn list(State(admin): State<Arc<WebhooksAdmin>>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    admin.authorize(&headers)?;
    let mut out = Vec::with_capacity(admin.subscriptions.len());
    for s in &admin.subscriptions {
        let disabled = admin.queue.disabled(&s.id).await?;
        out.push(json!({ "id": s.id, "url": s.url, "events": s.events, "disabled": disabled }));
    }
    Ok(Json(json!({ "subscriptions": out })))
}

async fn enable(
    State(admin): State<Arc<WebhooksAdmin>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    admin.authorize(&headers)?;
    admin.subscription(&id)?;
    admin.queue.set_disabled(&id, None).await?;
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
    let letters = admin.queue.dead_letters(&id, from, to, limit).await?;
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
        admin.queue.dead_letter(&id, &delivery).await?.ok_or_else(|| {
            Problem(StatusCode::NOT_FOUND, format!("no dead letter '{delivery}'"), "delivery")
        })?;
    admin.queue.replay(&dead, Utc::now().timestamp_millis()).await?;
    admin.wake();
    metrics::counter!("speedlead_webhook_replays_total").increment(1);
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": 1 }))))
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
    let letters = admin.queue.dead_letters(&id, from, to, MAX_BATCH).await?;
    let now = Utc::now().timestamp_millis();
    for dead in &letters {
        admin.queue.replay(dead, now).await?;
    }
    admin.wake();
    metrics::counter!("speedlead_webhook_replays_total").increment(letters.len() as u64);
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": letters.len() }))))
}
