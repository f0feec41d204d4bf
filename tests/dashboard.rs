//! The rep dashboard's HTTP side on the real broker and Redis: a lead routed to a rep shows up on
//! that rep's event stream (fed through Redis pub/sub) and in their lead list with a working
//! accept link, and accepting it is announced on the same stream; another rep's token is refused
//! on both, and so is no token at all.
#![cfg(feature = "integration")]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use speedlead::http::dashboard::{routes, DashboardState};

use uuid::Uuid;

/// Reads server-sent events off a streaming response: `(event name, data)`.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    fn new(response: reqwest::Response) -> Self {
        EventStream { response, buffer: String::new() }
    }

    /// The next event named `name`, skipping others, within `timeout`.
    async fn next_named(&mut self, name: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |f: &str| {
                    block.lines().find_map(|l| l.strip_prefix(f)).map(str::trim).map(str::to_string)
                };
                if field("event:").as_deref() == Some(name) {
                    return serde_json::from_str(&field("data:").unwrap_or_default()).ok();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn token_of(link: &str) -> String {
    link.split("?t=").nth(1).expect("a magic link carries its token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reps_stream_and_list_show_their_leads_and_only_theirs() {
    let mut settings = isolated_settings();
    // One rep in emea, so the lead's rep is known.
    let emea = settings.routing.domains.iter_mut().find(|d| d.name == "emea").unwrap();
    emea.reps.retain(|r| r.id == "dora");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    settings.acks.public_base_url = base.clone();
    create_test_topics(&settings).await;
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();
    let (acks, store) = ack_routes(&settings).await;
    let dashboard = DashboardState::new(&settings, store, pipeline.routing(), pipeline.feed());
    let (dora, emil) = (token_of(&dashboard.magic_link("dora", Duration::from_secs(600))), {
        token_of(&dashboard.magic_link("emil", Duration::from_secs(600)))
    });
    let app = routes(dashboard).merge(acks);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let request = http.get(format!("{base}{path}"));
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    };

    // Isolation first: nobody but dora reads dora's leads or events.
    for path in ["/v1/reps/dora/leads", "/v1/reps/dora/events"] {
        let other = get(path, Some(&emil)).send().await.unwrap();
        assert_eq!(other.status(), 403, "{path} with emil's token");
        let body: Value = other.json().await.unwrap();
        assert_eq!(body["field"], "authorization");
        assert_eq!(get(path, None).send().await.unwrap().status(), 401, "{path} without a token");
    }

    let response = get("/v1/reps/dora/events", Some(&dora)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut events = EventStream::new(response);
    events.next_named("ready", Duration::from_secs(5)).await.expect("the stream says it is ready");

    let mut leads = LeadPublisher::new(&settings);
    let lead = german_lead_named(&format!("dash-{}", Uuid::new_v4().simple()), "e-1", "Streamed Stella");
    leads.send(lead).await;
    let id = leads.sent[0].lead_id.to_string();
    let assigned = events.next_named("lead.assigned", Duration::from_secs(30)).await.expect("lead.assigned");
    assert_eq!(assigned["lead_id"], id.as_str());
    assert_eq!(assigned["lead"]["name"], "Streamed Stella");
    assert!(assigned["captured_at_ms"].is_i64() && assigned["committed_at_ms"].is_i64(), "{assigned}");

    // The list is the truth the page re-reads: the lead, not yet accepted, with its accept link.
    let list: Value = get("/v1/reps/dora/leads", Some(&dora)).send().await.unwrap().json().await.unwrap();
    let item =
        list["leads"].as_array().unwrap().iter().find(|l| l["lead_id"] == id.as_str()).expect("listed");
    assert_eq!(
        (item["accepted"].as_bool(), item["lead"]["name"].as_str()),
        (Some(false), Some("Streamed Stella"))
    );
    let emils: Value = get("/v1/reps/emil/leads", Some(&emil)).send().await.unwrap().json().await.unwrap();
    assert!(!emils.to_string().contains(&id), "emil's list does not show dora's lead");

    let accept = format!("{base}{}", item["accept_url"].as_str().unwrap());
    let answer = http.post(&accept).header("accept", "application/json").send().await.unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let acked =
        events.next_named("lead.acknowledged", Duration::from_secs(30)).await.expect("lead.acknowledged");
    assert_eq!(acked["lead_id"], id.as_str());
    let list: Value = get("/v1/reps/dora/leads", Some(&dora)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["leads"][0]["accepted"], true);
    pipeline.shutdown().await;
}
