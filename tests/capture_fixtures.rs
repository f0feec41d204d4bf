//! Every provider fixture through the real gateway, broker and Redis: signed as its provider signs,
//! it is accepted and written to `leads.inbound`; with one byte of the signed content changed (for
//! token schemes: of the token), it is refused with 401 and writes nothing.
#![cfg(feature = "integration")]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use rdkafka::message::Message;
use reqwest::header::{HeaderMap, HeaderValue};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use speedlead::demo::assigned_reader;
use speedlead::providers::signature::{hmac_sha1, hmac_sha256};
use speedlead::providers::{ProviderKind, SourceConfig};
use speedlead_topics::{Envelope, InboundLead, Topic};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/providers/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .trim_end()
        .to_string()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn header(h: &mut HeaderMap, name: &'static str, value: String) {
    h.insert(name, HeaderValue::from_str(&value).unwrap());
}

/// One provider delivery: where it goes, its body, and how the provider signs it.
struct Delivery {
    source: &'static str,
    body: String,
    sign: fn(&str, &str) -> HeaderMap,
}

fn sign_typeform(_: &str, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    header(
        &mut h,
        "typeform-signature",
        format!("sha256={}", b64(&hmac_sha256(b"tf-secret", &[body.as_bytes()]))),
    );
    h
}

fn sign_hubspot(url: &str, body: &str) -> HeaderMap {
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    // HubSpot calls (and signs) the public https URL; TLS ends in front of speedlead.
    let url = url.replacen("http://", "https://", 1);
    let signed = format!("POST{url}{body}{ts}");
    let mut h = HeaderMap::new();
    header(&mut h, "x-hubspot-signature-v3", b64(&hmac_sha256(b"hs-secret", &[signed.as_bytes()])));
    header(&mut h, "x-hubspot-request-timestamp", ts);
    h
}

fn sign_intercom(_: &str, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    header(
        &mut h,
        "x-hub-signature",
        format!("sha1={}", hex::encode(hmac_sha1(b"ic-secret", &[body.as_bytes()]))),
    );
    h
}

fn sign_meta(_: &str, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    header(
        &mut h,
        "x-hub-signature-256",
        format!("sha256={}", hex::encode(hmac_sha256(b"meta-secret", &[body.as_bytes()]))),
    );
    h
}

fn sign_linkedin(_: &str, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    header(&mut h, "x-li-signature", hex::encode(hmac_sha256(b"li-secret", &[body.as_bytes()])));
    h
}

fn sign_gohighlevel(_: &str, body: &str) -> HeaderMap {
    let private = fixture("gohighlevel_test_private_key.pem");
    let key =
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(&private).unwrap());
    let mut h = HeaderMap::new();
    header(&mut h, "x-wh-signature", b64(&key.sign(body.as_bytes()).to_bytes()));
    h
}

/// Token schemes carry their secret in the body.
fn unsigned(_: &str, _: &str) -> HeaderMap {
    HeaderMap::new()
}

fn sources() -> Vec<SourceConfig> {
    vec![
        SourceConfig::new("typeform", ProviderKind::Typeform, vec!["tf-secret".into()]),
        SourceConfig::new("hubspot", ProviderKind::Hubspot, vec!["hs-secret".into()]),
        SourceConfig::new("intercom", ProviderKind::Intercom, vec!["ic-secret".into()]),
        SourceConfig::new("drift", ProviderKind::Drift, vec!["verif-token".into()]),
        SourceConfig::new("google", ProviderKind::GoogleAds, vec!["secret-key".into()]),
        SourceConfig::new("meta", ProviderKind::Meta, vec!["meta-secret".into()]),
        SourceConfig::new("linkedin", ProviderKind::LinkedIn, vec!["li-secret".into()]),
        SourceConfig::new("ghl", ProviderKind::GoHighLevel, vec![fixture("gohighlevel_test_public_key.pem")]),
    ]
}

fn deliveries() -> Vec<Delivery> {
    // GoHighLevel refuses deliveries older than 5 minutes: the fixture's timestamp is made current.
    let ghl = fixture("gohighlevel_contact_create.json").replace(
        "2025-11-07T12:46:45.953Z",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    vec![
        Delivery { source: "typeform", body: fixture("typeform_form_response.json"), sign: sign_typeform },
        Delivery { source: "hubspot", body: fixture("hubspot_form_submission.json"), sign: sign_hubspot },
        Delivery { source: "hubspot", body: fixture("hubspot_contact_creation.json"), sign: sign_hubspot },
        Delivery {
            source: "intercom",
            body: fixture("intercom_conversation_created.json"),
            sign: sign_intercom,
        },
        Delivery { source: "drift", body: fixture("drift_contact_identified.json"), sign: unsigned },
        Delivery { source: "google", body: fixture("google_ads_lead_form.json"), sign: unsigned },
        Delivery { source: "meta", body: fixture("meta_leadgen_webhook.json"), sign: sign_meta },
        Delivery {
            source: "linkedin",
            body: fixture("linkedin_lead_notification.json"),
            sign: sign_linkedin,
        },
        Delivery { source: "ghl", body: ghl, sign: sign_gohighlevel },
        Delivery {
            source: "ghl",
            body: fixture("gohighlevel_opportunity_create.json"),
            sign: sign_gohighlevel,
        },
    ]
}

/// The same delivery with one byte of what is verified changed.
fn tampered(d: &Delivery) -> String {
    match d.source {
        "drift" => d.body.replace("verif-token", "verif-tokem"),
        "google" => d.body.replace("secret-key", "secret-kez"),
        _ => {
            let at = ["example.com", "123", "New Deal"]
                .iter()
                .find_map(|needle| d.body.find(needle))
                .expect("a byte to change");
            let mut bytes = d.body.clone().into_bytes();
            bytes[at] ^= 0x01;
            String::from_utf8(bytes).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_accepted_signed_and_refused_tampered() {
    let mut settings = isolated_settings();
    settings.sources = sources();
    create_test_topics(&settings).await;
    let gateway = common::gateway::Gateway::start(&settings).await;
    let mut expected_leads = 0;
    for d in deliveries() {
        let url = format!("{}/v1/capture/{}", gateway.base, d.source);
        let post = |body: String, headers: HeaderMap| {
            gateway
                .client
                .post(&url)
                .header("content-type", "application/json")
                .headers(headers)
                .body(body)
                .send()
        };
        let refused = post(tampered(&d), (d.sign)(&url, &d.body)).await.unwrap();
        assert_eq!(refused.status(), 401, "{}: tampered delivery must be refused", d.source);

        let accepted = post(d.body.clone(), (d.sign)(&url, &d.body)).await.unwrap();
        let status = accepted.status();
        let answer: serde_json::Value = accepted.json().await.unwrap();
        assert_eq!(status, 202, "{}: {answer}", d.source);
        expected_leads += answer["leads"].as_array().unwrap().len();
    }

    let reader =
        assigned_reader(&settings, &settings.kafka.brokers, &names(&settings), &[Topic::Inbound]).unwrap();
    let mut sources = Vec::new();
    while let Ok(message) = tokio::time::timeout(Duration::from_secs(2), reader.recv()).await {
        let envelope: Envelope<InboundLead> =
            serde_json::from_slice(message.unwrap().payload().unwrap()).unwrap();
        sources.push(envelope.payload.source);
    }
    sources.sort();
    assert_eq!(sources.len(), expected_leads, "{sources:?}");
    let mut want: Vec<String> = deliveries().iter().map(|d| d.source.to_string()).collect();
    want.sort();
    want.dedup();
    sources.dedup();
    assert_eq!(sources, want, "one write per accepted delivery, none for the tampered ones");
}
