//! One delivery attempt: the signed POST and what its answer means.
//!
//! Signed per Standard Webhooks: `webhook-id` is the event's id (the same on every retry, so the
//! receiver drops repeats), `webhook-timestamp` is this attempt's time, and `webhook-signature`
//! carries one `v1,<base64>` per secret of the subscription (rotation). Any 2xx is delivered; 410
//! Gone means "stop sending here"; everything else (other statuses, timeouts, refused connections,
//! a refused address) is a failure the schedule retries.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use super::guard::{check_url, GuardedResolver};
use super::settings::Subscription;
use super::store::Delivery;
use crate::error::Error;
use crate::notify::channels::http;
use crate::notify::channels::webhook::signature_header;
use crate::notify::SendError;

/// How much of a failing receiver's answer is kept with the delivery (for the dead letter).
const BODY_EXCERPT_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum Attempted {
    Delivered {
        status: u16,
    },
    /// 410: the receiver asks to be left alone; the subscription is disabled.
    Gone,
    Failed(Failure),
}

/// What a failed attempt left behind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The answer's status; `None` when there was no answer (timeout, refused, guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The start of the answer's body, or why there was no answer.
    pub detail: String,
    /// The receiver's `Retry-After`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// The client for every attempt: the guard's resolver, no redirects (a redirect could lead to an
/// address the guard never saw as a literal), no proxy from the environment (a proxy resolves the
/// target itself, past the guard), the configured timeout.
pub fn client(timeout: Duration, allow_private: bool) -> Result<reqwest::Client, Error> {
    http::builder(timeout)
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .map_err(|e| Error::Config(format!("webhooks HTTP client: {e}")))
}

/// Sends the delivery's event to `subscription` once.
pub async fn attempt(
    client: &reqwest::Client,
    subscription: &Subscription,
    delivery: &Delivery,
    allow_private: bool,
) -> Attempted {
    let url = match check_url(&subscription.url, allow_private) {
        Ok(url) => url,
        Err(detail) => return Attempted::Failed(Failure { status: None, detail, retry_after_secs: None }),
    };
    let timestamp = Utc::now().timestamp();
    let (id, body) = (&delivery.event_id, delivery.body.as_bytes());
    let request = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature_header(&subscription.secrets, id, timestamp, body))
        .body(delivery.body.clone());
    match http::execute(request).await {
        Ok(answer) if answer.status.is_success() => Attempted::Delivered { status: answer.status.as_u16() },
        Ok(answer) if answer.status == StatusCode::GONE => Attempted::Gone,
        Ok(answer) => Attempted::Failed(Failure {
            status: Some(answer.status.as_u16()),
            detail: answer.body.chars().take(BODY_EXCERPT_CHARS).collect(),
            retry_after_secs: answer.retry_after.map(|d| d.as_secs()),
        }),
        Err(
            SendError::Retryable { reason, .. }
            | SendError::Permanent { reason }
            | SendError::OptedOut { reason },
        ) => Attempted::Failed(Failure { status: None, detail: reason, retry_after_secs: None }),
    }
}
