//! HubSpot `contact.creation` end to end on the real broker and Redis, with the CRM API played by a
//! loopback server: the signed ids-only batch is accepted at the gateway, intake reads each contact
//! from the CRM, and the lead is assigned; a contact the CRM does not know is dead-lettered.
#![cfg(feature = "integration")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::gateway::Gateway;
use common::*;
use serde_json::json;
use speedlead::providers::signature::sha256;
use speedlead::providers::{ProviderKind, SourceConfig};

const WAIT: Duration = Duration::from_secs(30);

/// The CRM API: knows contact 123, records the bearer token of every request.
async fn crm_api(tokens: Arc<Mutex<Vec<String>>>) -> String {
    let app = Router::new().route(
        "/crm/v3/objects/contacts/{id}",
        get(move |Path(id): Path<String>, headers: HeaderMap| {
            let tokens = tokens.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                tokens.lock().unwrap().push(auth.to_string());
                if id == "123" {
                    Ok(Json(json!({"id": "123", "properties": {
                        "email": "jane@example.com", "firstname": "Jane", "lastname": "Doe", "country": "US"
                    }})))
                } else {
                    Err((
                        StatusCode::NOT_FOUND,
                        Json(json!({"status": "error", "message": "resource not found"})),
                    ))
                }
            }
        }),
    );
    serve_loopback(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_creation_events_are_fetched_from_the_crm_and_assigned() {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let mut settings = isolated_settings();
    let mut source = SourceConfig::new("hubspot", ProviderKind::Hubspot, vec!["hs-secret".into()]);
    source.api_base_url = Some(crm_api(tokens.clone()).await);
    source.api_token = Some("private-app-token".into());
    settings.sources = vec![source];
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);

    let batch = json!([
        {"eventId": 1, "subscriptionType": "contact.creation", "portalId": 62515, "objectId": 123},
        {"eventId": 2, "subscriptionType": "contact.creation", "portalId": 62515, "objectId": 404}
    ])
    .to_string();
    // Legacy v1 signature: hex SHA-256 of secret + body.
    let signature = hex::encode(sha256(&[b"hs-secret", batch.as_bytes()]));
    let response = gateway
        .client
        .post(format!("{}/v1/capture/hubspot", gateway.base))
        .header("content-type", "application/json")
        .header("x-hubspot-signature-version", "v1")
        .header("x-hubspot-signature", signature)
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    reader.read_until(WAIT, |o| !o.assignments.is_empty() && !o.dead_letters.is_empty()).await;
    pipeline.shutdown().await;
    let observed = &reader.observed;
    assert_eq!(observed.assignments.len(), 1, "{:?}", observed.assignments);
    assert_eq!(observed.assignments[0].lead_id, speedlead_topics::lead_id("hubspot", "1"));
    assert_eq!(observed.assignments[0].lead_key, "jane@example.com");
    assert_eq!(observed.assignments[0].routing_domain, "na");
    assert_eq!(observed.dead_letters.len(), 1);
    assert!(
        observed.dead_letters[0].detail.contains("HubSpot API answered 404"),
        "{}",
        observed.dead_letters[0].detail
    );
    assert!(tokens.lock().unwrap().iter().all(|t| t == "Bearer private-app-token"));
}
