//! In-process cost of accepting one webhook: signature check on the raw bytes, provider parsing,
//! contact validation and normalization into the `leads.inbound` envelope (everything but the
//! network and the broker write). `cargo bench --bench capture`.

use axum::http::HeaderMap;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use speedlead::capture::{check_contact, envelope_for, CapturePolicy};
use speedlead::providers::signature::sign_standard_webhooks;
use speedlead::providers::{provider, ProviderKind, RawRequest, SourceConfig};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn web_form(c: &mut Criterion) {
    let body = br#"{"first_name":"Ana","last_name":"Lopez","email":"Ana.Lopez@Acme-Robotics.com","phone":"(415) 555-2671","company":"Acme Robotics","country":"US","title":"VP Sales","utm_source":"google","utm_campaign":"spring-launch","submission_id":"f-8812"}"#;
    let now = Utc::now().timestamp();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".parse().unwrap());
    headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
    let signature = sign_standard_webhooks(SECRET, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body).unwrap();
    headers.insert("webhook-signature", signature.parse().unwrap());
    let source = SourceConfig::new("website", ProviderKind::WebForm, vec![SECRET.into()]);
    let policy = CapturePolicy {
        require_contact: true,
        idempotency_ttl: std::time::Duration::from_secs(60),
        pending_ttl: std::time::Duration::from_secs(30),
        duplicate_wait: std::time::Duration::from_secs(5),
    };
    let adapter = provider(ProviderKind::WebForm);
    c.bench_function("web_form verify+parse+normalize", |b| {
        b.iter(|| {
            let request = RawRequest {
                method: "POST",
                uri: "/v1/capture/website",
                headers: &headers,
                body,
                now: Utc::now(),
            };
            adapter.verify(&source, &request).unwrap();
            let leads = adapter.parse(&source, &request).unwrap();
            check_contact(&leads, &policy).unwrap();
            let (key, envelope) = envelope_for(leads.into_iter().next().unwrap().lead);
            std::hint::black_box((key, serde_json::to_vec(&envelope).unwrap()))
        })
    });
}

criterion_group!(benches, web_form);
criterion_main!(benches);
