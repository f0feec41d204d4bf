//! The HTTP surface: `/metrics` for Prometheus, `/healthz` (the process runs), `/readyz` (every
//! stage consumer joined its group), the capture gateway ([`capture`]), the reps' accept links
//! ([`acks`]) and the rep status API ([`reps`]). Each feature is its own router with its own state,
//! merged in `serve`, so tests can serve one alone.

pub mod acks;
pub mod capture;
pub mod dashboard;
pub mod reps;
pub mod sms_inbound;
pub mod status;
pub mod webhooks_admin;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: PrometheusHandle,
    pub ready: Arc<AtomicBool>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// Whether the request carries `Authorization: Bearer <expected>` (compared in constant time).
pub fn bearer_is(expected: &str, headers: &axum::http::HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

async fn metrics(State(state): State<HttpState>) -> String {
    state.metrics.render()
}

async fn ready(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}
