//! The capture gateway served in-process on a loopback port, against the real broker and Redis.

use speedlead::config::Settings;
use speedlead::http::capture::{routes, CaptureState};
use speedlead::providers::signature::sign_standard_webhooks;
use speedlead::providers::{ProviderKind, SourceConfig};

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

pub struct Gateway {
    pub base: String,
    pub client: reqwest::Client,
}

/// Adds the test sources: `website` (signed web form) and `partner` (Standard Webhooks).
pub fn with_sources(mut settings: Settings) -> Settings {
    settings.sources = vec![
        SourceConfig::new("website", ProviderKind::WebForm, vec![SECRET.into()]),
        SourceConfig::new("partner", ProviderKind::StandardWebhooks, vec![SECRET.into()]),
    ];
    settings
}

impl Gateway {
    pub async fn start(settings: &Settings) -> Self {
        let store = speedlead::store::connect(&settings.redis).await.expect("redis");
        let state = CaptureState::new(settings, &settings.kafka.brokers, store).expect("gateway");
        Gateway { base: super::serve_loopback(routes(state)).await, client: reqwest::Client::new() }
    }

    /// POSTs `body` to `/v1/capture/{source}` signed per Standard Webhooks with message id `id`.
    pub async fn post_signed(
        &self,
        source: &str,
        id: &str,
        content_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let now = chrono::Utc::now().timestamp();
        let signature = sign_standard_webhooks(SECRET, id, now, body).unwrap();
        self.client
            .post(format!("{}/v1/capture/{source}", self.base))
            .header("content-type", content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("gateway answers")
    }
}
