//! Meta Lead Ads end to end on the real broker and Redis, with the Graph API played by a loopback
//! server: the subscription handshake, a signed ids-only notification accepted at the gateway, the
//! lead's answers fetched in intake, and the lead assigned; a lead Meta does not know is
//! dead-lettered naming the fetch.
#![cfg(feature = "integration")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common::gateway::Gateway;
use common::*;
use serde_json::Value;
use speedlead::providers::signature::hmac_sha256;
use speedlead::providers::{ProviderKind, SourceConfig};

const NOTIFICATION: &str = include_str!("fixtures/providers/meta_leadgen_webhook.json");
const RETRIEVED: &str = include_str!("fixtures/providers/meta_lead_retrieved.json");
const WAIT: Duration = Duration::from_secs(30);

/// The Graph API: knows lead `123123123123`, records every request.
async fn graph_api(requests: Arc<Mutex<Vec<(String, String)>>>) -> String {
    let app = Router::new().route(
        "/{id}",
        get(move |Path(id): Path<String>, Query(q): Query<std::collections::HashMap<String, String>>| {
            let requests = requests.clone();
            async move {
                requests
                    .lock()
                    .unwrap()
                    .push((id.clone(), q.get("access_token").cloned().unwrap_or_default()));
                if id == "123123123123" {
                    Ok(Json(serde_json::from_str::<Value>(RETRIEVED).unwrap()))
                } else {
                    Err((
                        StatusCode::NOT_FOUND,
                        Json(serde_json::json!({"error": {"message": "Unsupported get request"}})),
                    ))
                }
            }
        }),
    );
    serve_loopback(app).await
}

async fn post_meta(gateway: &Gateway, body: &str, secret: &[u8]) -> reqwest::Response {
    let signature = format!("sha256={}", hex::encode(hmac_sha256(secret, &[body.as_bytes()])));
    gateway
        .client
        .post(format!("{}/v1/capture/meta-ads", gateway.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_leads_are_verified_fetched_and_assigned() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let graph = graph_api(requests.clone()).await;
    let mut settings = isolated_settings();
    let mut source = SourceConfig::new("meta-ads", ProviderKind::Meta, vec!["app-secret".into()]);
    source.verify_token = Some("verify-me".into());
    source.api_base_url = Some(graph);
    source.api_token = Some("page-token".into());
    settings.sources = vec![source];
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);

    // Subscription handshake.
    let url = format!("{}/v1/capture/meta-ads", gateway.base);
    let ok = gateway.client.get(&url).query(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", "verify-me"),
        ("hub.challenge", "42"),
    ]);
    let ok = ok.send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text().await.unwrap().as_str()), (200, "42"));
    let wrong = gateway.client.get(&url).query(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", "nope"),
        ("hub.challenge", "42"),
    ]);
    assert_eq!(wrong.send().await.unwrap().status(), 403);

    // A tampered notification is refused; the real one is accepted and its lead fetched.
    let body = NOTIFICATION.trim_end();
    assert_eq!(post_meta(&gateway, body, b"another-secret").await.status(), 401);
    assert_eq!(post_meta(&gateway, body, b"app-secret").await.status(), 202);
    let unknown = body.replace("123123123123", "404404404404");
    assert_eq!(post_meta(&gateway, &unknown, b"app-secret").await.status(), 202);

    reader.read_until(WAIT, |o| !o.assignments.is_empty() && !o.dead_letters.is_empty()).await;
    pipeline.shutdown().await;

    let observed = &reader.observed;
    assert_eq!(observed.assignments.len(), 1, "{:?}", observed.assignments);
    assert_eq!(observed.assignments[0].lead_id, speedlead_topics::lead_id("meta-ads", "123123123123"));
    assert_eq!(observed.assignments[0].lead_key, "jane@example.com", "the fetched email keys the lead");
    assert_eq!(observed.dead_letters.len(), 1);
    let letter = &observed.dead_letters[0];
    assert_eq!((letter.stage.as_str(), letter.reason.as_str()), ("intake", "invalid"));
    assert!(letter.detail.contains("payload.fetch: Graph API answered 404"), "{}", letter.detail);
    let requests = requests.lock().unwrap();
    assert!(requests.iter().all(|(_, token)| token == "page-token"), "{requests:?}");
    assert!(requests.iter().any(|(id, _)| id == "123123123123"));
}
