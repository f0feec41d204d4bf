//! `POST /v1/capture/{source}`: the capture gateway's HTTP face.
//!
//! Order matters and is the contract: size limit (413) → signature on the raw bytes (401) →
//! provider payload (415/422) → contact (422) → idempotent, acknowledged write (2xx, or 503 with
//! `Retry-After` so the provider retries). A refused request writes nothing and is counted in
//! `speedlead_capture_rejected_total{source,reason}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use speedlead_actors::ports::Publisher;
use speedlead_actors::store::Store;

use crate::capture::{accept, check_contact, CapturePolicy, Unavailable};
use crate::config::Settings;
use crate::error::Error;
use crate::kafka::publisher::KafkaPublisher;
use crate::kafka::{client, TopicNames};
use crate::providers::{provider, ProviderKind, RawRequest, Rejection, SourceConfig};

pub struct CaptureState {
    pub sources: HashMap<String, SourceConfig>,
    pub store: Arc<dyn Store>,
    pub publisher: Arc<dyn Publisher>,
    pub policy: CapturePolicy,
    pub max_body_bytes: usize,
    pub retry_after: Duration,
    /// Last lead and signature failures per source, for `/v1/status`.
    pub health: Arc<super::status::SourceHealth>,
}

impl CaptureState {
    /// The gateway for `settings`' sources, writing through its own producer whose delivery timeout
    /// is the capture publish timeout, so a provider waiting on us gets a 503 quickly (see
    /// [`client::capture_producer`]).
    pub fn new(settings: &Settings, brokers: &str, store: Arc<dyn Store>) -> Result<Arc<Self>, Error> {
        let names = TopicNames::new(&settings.kafka.topic_prefix);
        let config = client::capture_producer(&settings.kafka, brokers, settings.capture.publish_timeout_ms);
        let publisher = KafkaPublisher::new(&config, names)?;
        Ok(Arc::new(CaptureState {
            sources: settings.sources.iter().map(|s| (s.name.clone(), s.clone())).collect(),
            store,
            publisher: Arc::new(publisher),
            policy: settings.capture.policy(),
            max_body_bytes: settings.capture.max_body_bytes,
            retry_after: Duration::from_secs(settings.capture.retry_after_secs),
            health: super::status::SourceHealth::new(settings.sources.iter().map(|s| s.name.clone())),
        }))
    }
}

pub fn routes(state: Arc<CaptureState>) -> Router {
    Router::new().route("/v1/capture/{source}", post(capture).get(handshake)).with_state(state)
}

/// `GET /v1/capture/{source}`: a provider's subscription handshake (Meta's `hub.challenge` echoed as
/// text, LinkedIn's `challengeCode` answered with a signed JSON body).
async fn handshake(
    State(state): State<Arc<CaptureState>>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(source) = state.sources.get(&name) else {
        return refuse("unknown", StatusCode::NOT_FOUND, "unknown_source", json!({ "source": name }));
    };
    let answer = match source.kind {
        ProviderKind::Meta => {
            crate::providers::meta::handshake(source, &query).map(|c| (StatusCode::OK, c).into_response())
        }
        ProviderKind::LinkedIn => crate::providers::linkedin::handshake(source, &query)
            .map(|body| (StatusCode::OK, Json(body)).into_response()),
        _ => None,
    };
    answer.unwrap_or_else(|| refuse(&source.name, StatusCode::FORBIDDEN, "bad_handshake", json!({})))
}

async fn capture(
    State(state): State<Arc<CaptureState>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(source) = state.sources.get(&name) else {
        // The label stays fixed: a caller must not be able to mint metric series.
        return refuse("unknown", StatusCode::NOT_FOUND, "unknown_source", json!({ "source": name }));
    };
    let label = source.name.clone();
    metrics::counter!("speedlead_capture_received_total", "source" => label.clone()).increment(1);
    let Ok(bytes) = to_bytes(body, state.max_body_bytes).await else {
        let detail = json!({ "limit_bytes": state.max_body_bytes });
        return refuse(&label, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail);
    };
    let request = RawRequest {
        method: method.as_str(),
        uri: uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path()),
        headers: &headers,
        body: &bytes,
        now: Utc::now(),
    };
    let adapter = provider(source.kind);
    let leads = match adapter.verify(source, &request).and_then(|()| adapter.parse(source, &request)) {
        Ok(leads) => leads,
        Err(rejection) => {
            if matches!(rejection, Rejection::Unauthorized(_)) {
                state.health.signature_failed(&label, request.now.timestamp_millis());
            }
            return refuse_with(&label, rejection);
        }
    };
    if let Err(fields) = check_contact(&leads, &state.policy) {
        let detail = json!({ "message": "a lead needs a usable email or phone", "fields": fields });
        return refuse(&label, StatusCode::UNPROCESSABLE_ENTITY, "no_contact", detail);
    }

    let mut accepted = Vec::with_capacity(leads.len());
    for lead in leads {
        match accept(lead, &state.store, &state.publisher, &state.policy).await {
            Ok(a) => {
                let outcome = if a.duplicate { "duplicate" } else { "new" };
                metrics::counter!("speedlead_capture_accepted_total", "source" => label.clone(), "outcome" => outcome)
                    .increment(1);
                accepted.push(a);
            }
            Err(e) => return unavailable(&label, &e, state.retry_after),
        }
    }
    metrics::histogram!("speedlead_capture_seconds", "source" => label.clone())
        .record(started.elapsed().as_secs_f64());
    state.health.lead_arrived(&label, Utc::now().timestamp_millis());
    let status = if accepted.iter().all(|a| a.duplicate) { StatusCode::OK } else { StatusCode::ACCEPTED };
    (status, Json(json!({ "leads": accepted }))).into_response()
}

fn refuse_with(source: &str, rejection: Rejection) -> Response {
    match rejection {
        Rejection::Unauthorized(reason) => {
            metrics::counter!("speedlead_capture_rejected_total", "source" => source.to_string(), "reason" => reason)
                .increment(1);
            let body = json!({ "error": "unauthorized", "reason": reason });
            (StatusCode::UNAUTHORIZED, Json(body)).into_response()
        }
        Rejection::UnsupportedMediaType(content_type) => {
            let detail = json!({ "content_type": content_type });
            refuse(source, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail)
        }
        Rejection::Invalid(fields) => {
            let detail = json!({ "message": "the payload is not valid for this source", "fields": fields });
            refuse(source, StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload", detail)
        }
    }
}

/// A 4xx with `{"error": reason, …detail}`, counted by reason.
fn refuse(source: &str, status: StatusCode, reason: &'static str, detail: serde_json::Value) -> Response {
    metrics::counter!("speedlead_capture_rejected_total", "source" => source.to_string(), "reason" => reason)
        .increment(1);
    let mut body = json!({ "error": reason });
    if let (Some(body), serde_json::Value::Object(detail)) = (body.as_object_mut(), detail) {
        body.extend(detail);
    }
    (status, Json(body)).into_response()
}

fn unavailable(source: &str, error: &Unavailable, retry_after: Duration) -> Response {
    tracing::warn!(source, %error, "capture unavailable; the provider will retry");
    metrics::counter!("speedlead_capture_rejected_total", "source" => source.to_string(), "reason" => "unavailable")
        .increment(1);
    let body = json!({ "error": "unavailable", "message": error.to_string() });
    let headers = [(header::RETRY_AFTER, retry_after.as_secs().max(1).to_string())];
    (StatusCode::SERVICE_UNAVAILABLE, headers, Json(body)).into_response()
}
