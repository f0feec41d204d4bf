//! The rep's side of `speedlead bench --rep-side`: a Slack stand-in on loopback that every rep is
//! notified on, and one live dashboard event stream per rep, each noting when each lead arrived,
//! so the bench can report capture → Slack request received and capture → SSE event received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use uuid::Uuid;

use crate::config::Settings;
use crate::dashboard::feed::RepFeed;
use crate::error::Error;
use crate::notify::settings::{RepChannels, Step};
use crate::notify::ChannelKind;

/// When each lead reached the rep, per path.
#[derive(Default)]
pub struct Arrivals {
    pub slack: DashMap<Uuid, Instant>,
    pub sse: DashMap<Uuid, Instant>,
}

/// Serves a Slack incoming webhook on loopback and notifies every configured rep on it, Slack only.
pub async fn notify_on_loopback_slack(settings: &mut Settings, arrivals: Arc<Arrivals>) -> Result<(), Error> {
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(arrivals): axum::extract::State<Arc<Arrivals>>,
                 body: axum::body::Bytes| async move {
                    let now = Instant::now();
                    // The Accept button carries the lead id as its value.
                    let lead = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| {
                        let blocks = v["blocks"].as_array()?.clone();
                        let actions = blocks.iter().find(|b| b["type"] == "actions")?.clone();
                        actions["elements"][0]["value"].as_str()?.parse::<Uuid>().ok()
                    });
                    if let Some(lead) = lead {
                        arrivals.slack.entry(lead).or_insert(now);
                    }
                    "ok"
                },
            ),
        )
        .with_state(arrivals);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    settings.notify.channels.slack =
        Some(serde_json::from_value(serde_json::json!({})).map_err(|e| Error::Config(e.to_string()))?);
    settings.notify.reps = rep_ids(settings)
        .into_iter()
        .map(|id| RepChannels {
            id,
            slack: Some(url.clone()),
            plan: Some(vec![Step { channel: ChannelKind::Slack, after_secs: 0 }]),
            ..RepChannels::default()
        })
        .collect();
    Ok(())
}

/// Serves the dashboard routes on loopback and keeps one event stream open per rep (over HTTP, as
/// a browser would), noting each `lead.assigned`. Returns once every stream said `ready`.
pub async fn watch_every_rep(
    settings: &Settings,
    feed: Arc<RepFeed>,
    store: Arc<dyn speedlead_actors::store::Store>,
    routing: crate::routing_reload::RoutingHandle,
    arrivals: Arc<Arrivals>,
) -> Result<(), Error> {
    let state = crate::http::dashboard::DashboardState::new(settings, store, routing, feed);
    let reps = rep_ids(settings);
    let exp = chrono::Utc::now().timestamp() + 3600;
    let tokens: Vec<String> =
        reps.iter().map(|rep| crate::dashboard::rep_token::issue(&state.signer, rep, exp)).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, crate::http::dashboard::routes(state)).await });
    let client = reqwest::Client::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(reps.len().max(1));
    for (rep, token) in reps.iter().zip(tokens) {
        let url = format!("{base}/v1/reps/{rep}/events");
        let (client, arrivals, ready) = (client.clone(), arrivals.clone(), ready_tx.clone());
        tokio::spawn(async move {
            let Ok(mut response) = client.get(url).bearer_auth(token).send().await else { return };
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                let now = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if block.contains("event: ready") {
                        let _ = ready.send(()).await;
                    }
                    if !block.contains("event: lead.assigned") {
                        continue;
                    }
                    let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default();
                    let lead = serde_json::from_str::<serde_json::Value>(data.trim()).ok();
                    if let Some(lead) = lead.and_then(|v| v["lead_id"].as_str()?.parse::<Uuid>().ok()) {
                        arrivals.sse.entry(lead).or_insert(now);
                    }
                }
            }
        });
    }
    drop(ready_tx);
    for _ in &reps {
        if tokio::time::timeout(Duration::from_secs(10), ready_rx.recv()).await.ok().flatten().is_none() {
            return Err(Error::Config("a rep's event stream did not open".into()));
        }
    }
    Ok(())
}

fn rep_ids(settings: &Settings) -> Vec<String> {
    settings.routing.domains.iter().flat_map(|d| d.reps.iter().map(|r| r.id.clone())).collect()
}
