//! `/v1/reps/{rep}`: a rep's live routing state, and the switch reps (or their tools) flip to take
//! leads or not. The router skips reps who are `away` or `offline`, so this is how a rep stops
//! leads from waiting on them during a break, and how they come back after repeated SLA misses set
//! them `away`.
//!
//! The domain is looked up in the routing configuration: the store keys rep state by domain, and a
//! rep the configuration does not know must not get state nobody would read. With
//! `http.admin_token` set, both routes want `Authorization: Bearer <token>`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};
use speedlead_actors::routing_store::{RepState, RepStatus};
use speedlead_actors::rules::Routing;
use speedlead_actors::store::Store;

use crate::config::Settings;
use crate::routing_reload::RoutingHandle;

pub struct RepsState {
    pub store: Arc<dyn Store>,
    pub routing: RoutingHandle,
    /// `None`: no authentication (the API is reachable only where `http.listen` is).
    pub admin_token: Option<String>,
    pub retry_after: Duration,
    /// Verifies reps' dashboard tokens.
    pub signer: speedlead_actors::ack_token::AckSigner,
}

impl RepsState {
    pub fn new(settings: &Settings, store: Arc<dyn Store>, routing: RoutingHandle) -> Arc<Self> {
        Arc::new(RepsState {
            store,
            routing,
            admin_token: settings.http.admin_token.clone().filter(|t| !t.is_empty()),
            retry_after: Duration::from_secs(settings.capture.retry_after_secs),
            signer: settings.acks.signer(),
        })
    }
}

pub fn routes(state: Arc<RepsState>) -> Router {
    Router::new()
        .route("/v1/reps/{rep}", get(show))
        .route("/v1/reps/{rep}/status", put(set_status))
        .with_state(state)
}

async fn show(State(state): State<Arc<RepsState>>, Path(rep): Path<String>, headers: HeaderMap) -> Response {
    let domain = match authorized_domain(&state, &rep, &headers) {
        Ok(domain) => domain,
        Err(refusal) => return refusal.into_response(),
    };
    match state.store.rep_state(&domain, &rep).await {
        Ok(rep_state) => {
            (StatusCode::OK, Json(view(&state.routing.load(), &rep, &domain, &rep_state))).into_response()
        }
        Err(e) => unavailable(&state, &e),
    }
}

async fn set_status(
    State(state): State<Arc<RepsState>>,
    Path(rep): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let domain = match authorized_domain(&state, &rep, &headers) {
        Ok(domain) => domain,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(status) = parse_status(&body) else {
        let body = json!({
            "error": "the body must be {\"status\": \"available\" | \"away\" | \"offline\"}",
            "field": "status",
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    };
    match state.store.set_rep_status(&domain, &rep, status).await {
        Ok(rep_state) => {
            metrics::counter!("speedlead_rep_status_changes_total", "status" => status.as_str()).increment(1);
            tracing::info!(rep_id = rep, domain, status = status.as_str(), "rep status changed");
            (StatusCode::OK, Json(view(&state.routing.load(), &rep, &domain, &rep_state))).into_response()
        }
        Err(e) => unavailable(&state, &e),
    }
}

/// Why a request never reached the store.
enum Refusal {
    Unauthorized,
    UnknownRep(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized => {
                let body = json!({ "error": "a valid bearer token is required", "field": "authorization" });
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response()
            }
            Refusal::UnknownRep(rep) => {
                let body = json!({ "error": format!("no rep '{rep}' in the routing configuration"), "field": "rep" });
                (StatusCode::NOT_FOUND, Json(body)).into_response()
            }
        }
    }
}

/// Checks the bearer token (if one is configured; the rep's own dashboard token also does, so a
/// rep can switch themselves away), then finds the rep's domain.
fn authorized_domain(state: &RepsState, rep: &str, headers: &HeaderMap) -> Result<String, Refusal> {
    if let Some(expected) = &state.admin_token {
        let admin = super::bearer_is(expected, headers);
        let own =
            || super::dashboard::authenticated_rep(&state.signer, headers).is_some_and(|who| who == rep);
        if !admin && !own() {
            return Err(Refusal::Unauthorized);
        }
    }
    let routing = state.routing.load();
    let domain = routing.domain_of_rep(rep).ok_or_else(|| Refusal::UnknownRep(rep.to_string()))?;
    Ok(domain.to_string())
}

fn parse_status(body: &[u8]) -> Option<RepStatus> {
    let value: Value = serde_json::from_slice(body).ok()?;
    RepStatus::parse(value.get("status")?.as_str()?)
}

/// `today` counts only the rep-local day it was recorded on: a count from yesterday reads 0.
fn view(routing: &Routing, rep: &str, domain: &str, state: &RepState) -> Value {
    let now = Utc::now();
    let day = routing.rep(rep).map_or_else(|| now.format("%Y-%m-%d").to_string(), |p| p.local_day(now));
    json!({
        "rep_id": rep,
        "domain": domain,
        "status": state.status.as_str(),
        "open": state.open,
        "today": state.today_on(&day),
        "misses": state.misses,
    })
}

fn unavailable(state: &RepsState, error: &speedlead_actors::store::StoreError) -> Response {
    tracing::warn!(%error, "rep API: store unavailable");
    let headers = [(header::RETRY_AFTER, state.retry_after.as_secs().max(1).to_string())];
    let body = json!({ "error": "the store is unavailable; try again shortly" });
    (StatusCode::SERVICE_UNAVAILABLE, headers, Json(body)).into_response()
}

#[cfg(test)]
#[path = "reps_tests.rs"]
mod tests;
