//! GoHighLevel `OpportunityCreate` end to end on the real broker and Redis, with the GoHighLevel API
//! played by a loopback server: the RSA-signed event is accepted at the gateway, intake reads the
//! opportunity's contact from the API (bearer token, `Version` header), and the lead is assigned.
#![cfg(feature = "integration")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use common::gateway::Gateway;
use common::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::json;
use speedlead::providers::{ProviderKind, SourceConfig};

const OPPORTUNITY: &str = include_str!("fixtures/providers/gohighlevel_opportunity_create.json");
const PRIVATE: &str = include_str!("fixtures/providers/gohighlevel_test_private_key.pem");
const PUBLIC: &str = include_str!("fixtures/providers/gohighlevel_test_public_key.pem");

/// The contacts API: knows the fixture's contact, records (authorization, version) per request.
async fn contacts_api(seen: Arc<Mutex<Vec<(String, String)>>>) -> String {
    let app = Router::new().route(
        "/contacts/{id}",
        get(move |Path(id): Path<String>, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                seen.lock().unwrap().push((header("authorization"), header("version")));
                if id == "cJAWDskpkJHbRbhAT7bs" {
                    Ok(Json(json!({"contact": {"id": id, "firstName": "Lena", "lastName": "Berg", "email": "lena@berg.se", "country": "SE"}})))
                } else {
                    Err(StatusCode::NOT_FOUND)
                }
            }
        }),
    );
    serve_loopback(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunity_contacts_are_fetched_and_assigned() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut settings = isolated_settings();
    let mut source = SourceConfig::new("ghl", ProviderKind::GoHighLevel, vec![PUBLIC.into()]);
    source.api_base_url = Some(contacts_api(seen.clone()).await);
    source.api_token = Some("location-token".into());
    settings.sources = vec![source];
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);

    let body = OPPORTUNITY.trim_end();
    let key =
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(PRIVATE).unwrap());
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(body.as_bytes()).to_bytes());
    let response = gateway
        .client
        .post(format!("{}/v1/capture/ghl", gateway.base))
        .header("content-type", "application/json")
        .header("x-wh-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    reader.read_until(Duration::from_secs(30), |o| !o.assignments.is_empty()).await;
    pipeline.shutdown().await;
    let assignment = &reader.observed.assignments[0];
    assert_eq!(assignment.lead_id, speedlead_topics::lead_id("ghl", "wWhVuzqpRuOA1ZVWi4FC"));
    assert_eq!((assignment.lead_key.as_str(), assignment.routing_domain.as_str()), ("lena@berg.se", "emea"));
    assert_eq!(*seen.lock().unwrap(), [("Bearer location-token".to_string(), "2021-07-28".to_string())]);
}
