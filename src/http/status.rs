//! `GET /v1/status`: upstream health, so "no leads for 20 minutes" can be told apart from "our
//! pipeline is broken". Per configured source: when its last lead arrived, and its share of
//! signature failures over the last ten minutes (a provider whose secret rotated without us, or
//! somebody probing the endpoint); a source is `degraded` when most of its recent deliveries failed
//! their signature check.
//!
//! Also each enrichment provider's circuit breaker (`closed`, `open`, `half_open`): an open one
//! means leads go on unenriched.
//!
//! Counted by this instance's capture gateway: behind a load balancer every instance sees a share
//! of the traffic, which keeps the rate meaningful, while "last lead" is this instance's last.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use dashmap::DashMap;
use serde_json::json;

use crate::enrich::HttpEnricher;

/// The window is two halves of this length: the current one and the one before.
const HALF_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Fewer failures than this never make a source degraded (one bad request is not an outage).
const MIN_FAILURES: u64 = 5;

#[derive(Default)]
struct Counts {
    /// Which half-window `accepted` and `failed` count (its start / HALF_WINDOW_MS).
    bucket: AtomicI64,
    accepted: [AtomicU64; 2],
    failed: [AtomicU64; 2],
    last_lead_ms: AtomicI64,
}

/// Capture outcomes per source.
#[derive(Default)]
pub struct SourceHealth {
    sources: DashMap<String, Counts>,
}

impl SourceHealth {
    pub fn new(names: impl IntoIterator<Item = String>) -> Arc<Self> {
        let health = SourceHealth::default();
        for name in names {
            health.sources.insert(name, Counts::default());
        }
        Arc::new(health)
    }

    pub fn lead_arrived(&self, source: &str, now_ms: i64) {
        self.count(source, now_ms, false);
    }

    pub fn signature_failed(&self, source: &str, now_ms: i64) {
        self.count(source, now_ms, true);
    }

    /// Only configured sources are counted, so a caller cannot grow the map.
    fn count(&self, source: &str, now_ms: i64, failed: bool) {
        let Some(counts) = self.sources.get(source) else { return };
        let bucket = now_ms / HALF_WINDOW_MS;
        let seen = counts.bucket.load(Ordering::Acquire);
        if bucket != seen
            && counts.bucket.compare_exchange(seen, bucket, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            // Slide: the current half becomes the previous one (or both clear after a long gap).
            let (a, f) = if bucket == seen + 1 {
                (counts.accepted[1].swap(0, Ordering::AcqRel), counts.failed[1].swap(0, Ordering::AcqRel))
            } else {
                counts.accepted[1].store(0, Ordering::Release);
                counts.failed[1].store(0, Ordering::Release);
                (0, 0)
            };
            counts.accepted[0].store(a, Ordering::Release);
            counts.failed[0].store(f, Ordering::Release);
        }
        if failed {
            counts.failed[1].fetch_add(1, Ordering::AcqRel);
        } else {
            counts.accepted[1].fetch_add(1, Ordering::AcqRel);
            counts.last_lead_ms.fetch_max(now_ms, Ordering::AcqRel);
        }
    }

    /// Each source's state at `now_ms`, by name.
    pub fn report(&self, now_ms: i64) -> Vec<serde_json::Value> {
        let mut out: Vec<_> = self
            .sources
            .iter()
            .map(|entry| {
                let c = entry.value();
                let current = c.bucket.load(Ordering::Acquire) == now_ms / HALF_WINDOW_MS;
                let recent = c.bucket.load(Ordering::Acquire) + 1 >= now_ms / HALF_WINDOW_MS;
                let sum = |pair: &[AtomicU64; 2]| match (current, recent) {
                    (true, _) => pair[0].load(Ordering::Acquire) + pair[1].load(Ordering::Acquire),
                    (false, true) => pair[1].load(Ordering::Acquire),
                    _ => 0,
                };
                let (accepted, failed) = (sum(&c.accepted), sum(&c.failed));
                let rate =
                    if accepted + failed == 0 { 0.0 } else { failed as f64 / (accepted + failed) as f64 };
                let degraded = failed >= MIN_FAILURES && rate >= 0.5;
                let last = c.last_lead_ms.load(Ordering::Acquire);
                let last_lead_at = (last > 0).then(|| Utc.timestamp_millis_opt(last).single()).flatten();
                json!({
                    "name": entry.key(),
                    "last_lead_at": last_lead_at.map(|t| t.to_rfc3339()),
                    "quiet_for_secs": (last > 0).then(|| (now_ms - last).max(0) / 1000),
                    "deliveries_10m": accepted + failed,
                    "signature_failure_rate_10m": rate,
                    "degraded": degraded,
                    "reason": if degraded { "signature_failures" } else { "" },
                })
            })
            .collect();
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        out
    }
}

/// `enricher`: the enrichment providers, whose circuit breakers are reported too.
pub fn routes(health: Arc<SourceHealth>, enricher: Option<Arc<HttpEnricher>>) -> Router {
    Router::new().route("/v1/status", get(status)).with_state((health, enricher))
}

type StatusState = (Arc<SourceHealth>, Option<Arc<HttpEnricher>>);

async fn status(State((health, enricher)): State<StatusState>) -> Response {
    let sources = health.report(Utc::now().timestamp_millis());
    let breakers = enricher.map(|e| e.breakers()).unwrap_or_default();
    let providers: Vec<_> =
        breakers.iter().map(|(name, state)| json!({ "name": name, "breaker": state })).collect();
    let degraded = sources.iter().any(|s| s["degraded"] == true);
    let body = json!({ "degraded": degraded, "sources": sources, "enrichment_providers": providers });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    #[test]
    fn mostly_failing_signatures_degrade_a_source_and_leads_set_its_last_arrival() {
        let health = SourceHealth::new(["forms".to_string(), "meta".to_string()]);
        health.lead_arrived("forms", T);
        for i in 0..6 {
            health.signature_failed("meta", T + i);
        }
        health.lead_arrived("meta", T + 10);
        health.signature_failed("nobody-configured", T);
        let report = health.report(T + 60_000);
        assert_eq!(report.len(), 2, "unknown sources are not counted");
        assert_eq!(
            (report[0]["name"].as_str(), report[0]["degraded"].as_bool()),
            (Some("forms"), Some(false))
        );
        assert_eq!(report[0]["quiet_for_secs"], 60);
        assert_eq!(report[1]["degraded"], true);
        assert!((report[1]["signature_failure_rate_10m"].as_f64().unwrap() - 6.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn failures_age_out_of_the_window() {
        let health = SourceHealth::new(["meta".to_string()]);
        for i in 0..6 {
            health.signature_failed("meta", T + i);
        }
        assert_eq!(health.report(T + HALF_WINDOW_MS)[0]["degraded"], true, "still within ten minutes");
        assert_eq!(health.report(T + 3 * HALF_WINDOW_MS)[0]["degraded"], false, "aged out");
        health.lead_arrived("meta", T + 3 * HALF_WINDOW_MS);
        assert_eq!(health.report(T + 3 * HALF_WINDOW_MS)[0]["deliveries_10m"], 1);
    }
}
