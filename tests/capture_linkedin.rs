//! LinkedIn Lead Sync end to end on the real broker and Redis, with the Marketing API played by a
//! loopback server: the endpoint validation challenge, a signed ids-only notification accepted at the
//! gateway, the form response and its form read in intake (the form once per version), and the lead
//! assigned with the answers mapped onto the contact; a `DELETED` action writes nothing.
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
use serde_json::Value;
use speedlead::providers::signature::hmac_sha256;
use speedlead::providers::{ProviderKind, SourceConfig};

const NOTIFICATION: &str = include_str!("fixtures/providers/linkedin_lead_notification.json");
const RESPONSE: &str = include_str!("fixtures/providers/linkedin_lead_form_response.json");
const FORM: &str = include_str!("fixtures/providers/linkedin_lead_form.json");
const WAIT: Duration = Duration::from_secs(30);

/// What the fake Marketing API saw: (path, LinkedIn-Version, X-Restli-Protocol-Version, Authorization).
type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

fn record(seen: &Seen, path: String, headers: &HeaderMap) {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    seen.lock().unwrap().push((
        path,
        h("linkedin-version"),
        h("x-restli-protocol-version"),
        h("authorization"),
    ));
}

/// Knows form responses `1a2b3c-4` and `1a2b3c-5` (both of form 1, version 1) and form 1; answers
/// responses without the form, so intake has to read it.
async fn marketing_api(seen: Seen) -> String {
    let responses = {
        let seen = seen.clone();
        move |Path(id): Path<String>, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                record(&seen, format!("/leadFormResponses/{id}"), &headers);
                let mut body: Value = serde_json::from_str(RESPONSE).unwrap();
                match id.as_str() {
                    "1a2b3c-4" => Ok(Json(body)),
                    "1a2b3c-5" => {
                        body["id"] = id.into();
                        body["formResponse"]["answers"][2]["answerDetails"]["textQuestionAnswer"]["answer"] =
                            "second.lead@example.com".into();
                        Ok(Json(body))
                    }
                    _ => Err(StatusCode::NOT_FOUND),
                }
            }
        }
    };
    let forms = move |Path(id): Path<String>, headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            record(&seen, format!("/leadForms/{id}"), &headers);
            if id == "1" {
                Ok(Json(serde_json::from_str::<Value>(FORM).unwrap()))
            } else {
                Err(StatusCode::NOT_FOUND)
            }
        }
    };
    let app = Router::new()
        .route("/rest/leadFormResponses/{id}", get(responses))
        .route("/rest/leadForms/{id}", get(forms));
    format!("{}/rest", serve_loopback(app).await)
}

async fn post_linkedin(gateway: &Gateway, body: &str, secret: &[u8]) -> reqwest::Response {
    let signature = hex::encode(hmac_sha256(secret, &[body.as_bytes()]));
    gateway
        .client
        .post(format!("{}/v1/capture/linkedin", gateway.base))
        .header("content-type", "application/json")
        .header("x-li-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkedin_leads_are_verified_fetched_mapped_and_assigned() {
    let seen = Seen::default();
    let api = marketing_api(seen.clone()).await;
    let mut settings = isolated_settings();
    let mut source = SourceConfig::new("linkedin", ProviderKind::LinkedIn, vec!["client-secret".into()]);
    source.api_base_url = Some(api);
    source.api_token = Some("li-token".into());
    source.api_version = Some("202511".into());
    settings.sources = vec![source];
    create_test_topics(&settings).await;
    let gateway = Gateway::start(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    let mut reader = OutputReader::new(&settings);

    // Endpoint validation.
    let url = format!("{}/v1/capture/linkedin", gateway.base);
    let challenge = gateway.client.get(&url).query(&[("challengeCode", "c0ffee")]).send().await.unwrap();
    assert_eq!(challenge.status(), 200);
    let answer: Value = challenge.json().await.unwrap();
    assert_eq!(answer["challengeCode"], "c0ffee");
    assert_eq!(answer["challengeResponse"], hex::encode(hmac_sha256(b"client-secret", &[b"c0ffee"])));
    assert_eq!(gateway.client.get(&url).send().await.unwrap().status(), 403, "no challenge, no answer");

    // Tampered is refused; the real notification, a second response of the same form, and one the
    // API does not know are accepted; a deletion writes nothing.
    let body = NOTIFICATION.trim_end();
    assert_eq!(post_linkedin(&gateway, body, b"guessed-secret").await.status(), 401);
    assert_eq!(post_linkedin(&gateway, body, b"client-secret").await.status(), 202);
    let second = body.replace("1a2b3c-4", "1a2b3c-5");
    assert_eq!(post_linkedin(&gateway, &second, b"client-secret").await.status(), 202);
    let unknown = body.replace("1a2b3c-4", "404");
    assert_eq!(post_linkedin(&gateway, &unknown, b"client-secret").await.status(), 202);
    let deleted = body.replace("1a2b3c-4", "1a2b3c-6").replace("\"CREATED\"", "\"DELETED\"");
    let deleted = post_linkedin(&gateway, &deleted, b"client-secret").await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.json::<Value>().await.unwrap()["leads"], serde_json::json!([]));

    reader.read_until(WAIT, |o| o.assignments.len() >= 2 && !o.dead_letters.is_empty()).await;
    pipeline.shutdown().await;

    let observed = &reader.observed;
    let mut keys: Vec<&str> = observed.assignments.iter().map(|a| a.lead_key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["kevin.johnson@example.com", "second.lead@example.com"],
        "fetched emails key the leads"
    );
    // Both responses carry the same phone, so dedupe merges them into one lead: the id of
    // whichever response intake saw first (they are keyed differently, so either can win).
    let ids = ["1a2b3c-4", "1a2b3c-5"]
        .map(|id| speedlead_topics::lead_id("linkedin", &format!("urn:li:leadGenFormResponse:{id}")));
    assert!(observed.assignments.iter().all(|a| ids.contains(&a.lead_id)), "{:?}", observed.assignments);
    assert_eq!(observed.dead_letters.len(), 1, "{:?}", observed.dead_letters);
    let letter = &observed.dead_letters[0];
    assert!(letter.detail.contains("LinkedIn API answered 404"), "{}", letter.detail);

    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|(_, version, restli, auth)| version == "202511"
            && restli == "2.0.0"
            && auth == "Bearer li-token"),
        "{seen:?}"
    );
    let form_reads = seen.iter().filter(|(path, ..)| path == "/leadForms/1").count();
    assert_eq!(form_reads, 1, "a versioned form is read once: {seen:?}");
}
