//! `POST /v1/notify/sms/inbound`: Twilio's webhook for replies to our texts. A rep who answers
//! STOP (or UNSUBSCRIBE, CANCEL, …) is never texted again until they answer START; the hub checks
//! this list before every SMS step. Twilio enforces STOP on its side too (error 21610), which the
//! hub also records, so the list is right even if this webhook is not configured.
//!
//! Requests are authenticated with `X-Twilio-Signature` over the public URL Twilio called (from
//! `acks.public_base_url`) and the form parameters; a bad signature is 403.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use speedlead_actors::store::Store;

use crate::notify::channels::sms::{opt_out_keyword, verify_twilio_signature};
use crate::notify::hub::{opt_out_key, OPT_OUT_TTL};

pub const PATH: &str = "/v1/notify/sms/inbound";

pub struct SmsInboundState {
    pub store: Arc<dyn Store>,
    pub auth_token: String,
    /// The URL Twilio calls, as it signs it.
    pub url: String,
}

/// The route, when SMS is configured.
pub fn routes(settings: &crate::config::Settings, store: Arc<dyn Store>) -> Router {
    let Some(sms) = settings.notify.channels.sms.as_ref().filter(|s| s.enabled) else { return Router::new() };
    let url = format!("{}{PATH}", settings.acks.public_base_url.trim_end_matches('/'));
    let state = Arc::new(SmsInboundState { store, auth_token: sms.auth_token.expose().to_string(), url });
    Router::new().route(PATH, post(inbound)).with_state(state)
}

async fn inbound(State(state): State<Arc<SmsInboundState>>, headers: HeaderMap, body: Bytes) -> Response {
    let params: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(params) => params,
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &format!("form body: {e}"), "body"),
    };
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify_twilio_signature(&state.auth_token, &state.url, &params, signature) {
        metrics::counter!("speedlead_sms_inbound_total", "result" => "bad_signature").increment(1);
        return refuse(StatusCode::FORBIDDEN, "X-Twilio-Signature does not match", "x-twilio-signature");
    }
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(from) = field("From").filter(|f| !f.is_empty()) else {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "From is missing", "From");
    };
    let key = opt_out_key(from);
    let result = match opt_out_keyword(field("Body").unwrap_or("")) {
        Some(true) => state.store.remember(&key, "1", OPT_OUT_TTL).await.map(|_| "opted_out"),
        Some(false) => state.store.forget(&key).await.map(|_| "opted_in"),
        None => Ok("ignored"),
    };
    match result {
        Ok(result) => {
            metrics::counter!("speedlead_sms_inbound_total", "result" => result).increment(1);
            // An empty TwiML answer: Twilio sends its own STOP/START confirmations.
            let twiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], twiml).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "sms inbound: store unavailable");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; Twilio will retry", "store")
        }
    }
}

fn refuse(status: StatusCode, error: &str, field: &str) -> Response {
    (status, Json(json!({ "error": error, "field": field }))).into_response()
}
