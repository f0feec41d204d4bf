use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use speedlead_actors::ports::PublishError;
use speedlead_actors::routing_store::{Caps, RouteCommit, RouteRecord, RoutingStore};
use speedlead_actors::store::MemoryStore;
use uuid::Uuid;

use super::*;

/// Records what was published; `down` makes every publish fail like an unreachable broker.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<Outbound>>,
    down: AtomicBool,
}

impl Recorder {
    fn sent_to(&self, topic: Topic) -> Vec<Outbound> {
        self.sent.lock().unwrap().iter().filter(|m| m.topic == topic).cloned().collect()
    }
}

#[async_trait]
impl Publisher for Recorder {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), speedlead_actors::ports::PublishError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PublishError::retriable("broker down (test)"));
        }
        self.sent.lock().unwrap().extend(messages);
        Ok(())
    }
}

struct Fixture {
    base: String,
    client: reqwest::Client,
    store: Arc<MemoryStore>,
    broker: Arc<Recorder>,
    state: Arc<AcksState>,
}

impl Fixture {
    /// The ack routes on a loopback port, over an in-memory store and a recording broker.
    async fn start() -> Self {
        let store = Arc::new(MemoryStore::new());
        let broker = Arc::new(Recorder::default());
        let state = AcksState::new(&crate::config::Settings::defaults(), store.clone(), broker.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = routes(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fixture { base, client: reqwest::Client::new(), store, broker, state }
    }

    /// Assigns `attempt` of `lead` to `rep` in emea; `replaces` makes it an escalation.
    async fn assign(&self, lead: Uuid, rep: &str, attempt: u32, replaces: Option<u32>) {
        let now_ms = Utc::now().timestamp_millis();
        let record = RouteRecord {
            sla_ms: 0,
            parked: false,
            released: false,
            lead_key: "ana@acme.io".into(),
            rep_id: rep.into(),
            attempt,
            pool: "all".into(),
            rule: None,
            reason: if replaces.is_some() { "sla_escalation" } else { "round_robin" }.into(),
            assigned_ms: now_ms,
            due_ms: now_ms + 300_000,
            acked: false,
            required_skills: vec![],
            tried: vec![],
            summary: None,
        };
        let commit = RouteCommit {
            domain: "emea".into(),
            lead_id: lead.to_string(),
            record,
            rep_day: Utc::now().format("%Y-%m-%d").to_string(),
            caps: Caps::default(),
            cursor: None,
            replaces,
            miss: None,
            from_overflow: None,
        };
        let committed = self.store.commit_route(&commit, Duration::from_secs(3600)).await.unwrap();
        assert!(matches!(committed, speedlead_actors::routing_store::Committed::Fresh(_)), "{committed:?}");
    }

    /// A token for `attempt` of `lead` to `rep`, expiring `expires_in` seconds from now.
    fn token(&self, lead: Uuid, rep: &str, attempt: u32, expires_in: i64) -> String {
        let expires_at = Utc::now().timestamp() + expires_in;
        self.state.signer.sign(&AckClaims {
            lead_id: lead,
            domain: "emea".into(),
            rep_id: rep.into(),
            attempt,
            expires_at,
        })
    }

    async fn get(&self, token: &str) -> reqwest::Response {
        self.client.get(format!("{}/v1/acks/{token}", self.base)).send().await.unwrap()
    }

    async fn post(&self, token: &str, accept: &str) -> reqwest::Response {
        let url = format!("{}/v1/acks/{token}", self.base);
        self.client.post(url).header("accept", accept).send().await.unwrap()
    }

    async fn acked(&self, lead: Uuid) -> bool {
        self.store.route("emea", &lead.to_string()).await.unwrap().is_some_and(|r| r.acked)
    }
}

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn assert_private(response: &reqwest::Response) {
    let h = response.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-robots-tag"], "noindex");
}

#[tokio::test]
async fn get_shows_the_lead_and_a_form_and_never_acknowledges() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let token = f.token(lead, "dora", 1, 3600);
    for _ in 0..3 {
        let response = f.get(&token).await;
        assert_eq!(response.status(), 200);
        assert_private(&response);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = response.text().await.unwrap();
        for needle in [&lead.to_string(), "dora", "<dd>1</dd>", "<form method=\"post\">", "Accept lead"] {
            assert!(page.contains(needle), "{needle:?} missing from {page}");
        }
    }
    assert!(!f.acked(lead).await, "a link preview must not accept the lead");
    assert!(f.broker.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn post_accepts_and_publishes_the_ack_keyed_by_domain() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let response = f.post(&f.token(lead, "dora", 1, 3600), "application/json").await;
    assert_eq!(response.status(), 200);
    assert_private(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "accepted", "lead_id": lead.to_string(), "rep_id": "dora", "attempt": 1 })
    );
    assert!(f.acked(lead).await);

    let acks = f.broker.sent_to(Topic::Acks);
    assert_eq!((acks.len(), acks[0].key.as_str()), (1, "emea"));
    let envelope: Envelope<Ack> = serde_json::from_slice(&acks[0].payload).unwrap();
    assert_eq!(envelope.event_type, event_type::ACKNOWLEDGED);
    assert_eq!(envelope.id, derived_id(&["ack", &lead.to_string(), "1"]));
    assert_eq!(envelope.correlation_id, lead);
    assert!(envelope.hops.acknowledged_at.is_some());
    let expected = Ack { lead_id: lead, routing_domain: "emea".into(), rep_id: "dora".into(), attempt: 1 };
    assert_eq!(envelope.payload, expected);
}

#[tokio::test]
async fn a_double_click_is_already_accepted_and_the_same_message() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let token = f.token(lead, "dora", 1, 3600);
    assert_eq!(f.post(&token, "*/*").await.status(), 200);
    let again = f.post(&token, "*/*").await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["attempt"].as_u64()), (Some("already_accepted"), Some(1)));
    let ids: Vec<Uuid> = (f.broker.sent_to(Topic::Acks).iter())
        .map(|m| serde_json::from_slice::<Envelope<Ack>>(&m.payload).unwrap().id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "consumers drop the repeat by its id");
}

#[tokio::test]
async fn an_ack_after_reassignment_is_refused_without_naming_the_new_rep() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    f.assign(lead, "emil", 2, Some(1)).await;
    let response = f.post(&f.token(lead, "dora", 1, 3600), "application/json").await;
    assert_eq!(response.status(), 409);
    let text = response.text().await.unwrap();
    assert!(!text.contains("emil"), "the other rep stays private: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({ "error": REASSIGNED, "field": "token", "current_attempt": 2 }));
    assert!(!f.acked(lead).await, "emil's attempt stays open");
    assert!(f.broker.sent_to(Topic::Acks).is_empty());

    let events = f.broker.sent_to(Topic::Events);
    assert_eq!((events.len(), events[0].key.clone()), (1, lead.to_string()));
    let envelope: Envelope<LeadEvent> = serde_json::from_slice(&events[0].payload).unwrap();
    assert_eq!(envelope.event_type, event_type::ACK_REFUSED);
    let LeadEvent::AckRefused(refused) = envelope.payload else { panic!("{:?}", envelope.payload) };
    assert_eq!((refused.ack.rep_id.as_str(), refused.ack.attempt), ("dora", 1));
    assert_eq!((refused.current_rep_id.as_str(), refused.current_attempt), ("emil", 2));

    let page = f.post(&f.token(lead, "dora", 1, 3600), BROWSER).await;
    assert_eq!(page.status(), 409);
    assert!(page.text().await.unwrap().contains("no longer yours to accept"));
}

#[tokio::test]
async fn tampered_and_expired_tokens_are_refused_naming_the_token() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let good = f.token(lead, "dora", 1, 3600);
    let (payload, _) = good.split_once('.').unwrap();
    let forged = format!("{payload}.{}", "A".repeat(43));
    let expired = f.token(lead, "dora", 1, -1);
    for (token, status) in [(forged.as_str(), 401), ("garbage", 401), (expired.as_str(), 410)] {
        let response = f.post(token, "application/json").await;
        assert_eq!(response.status(), status, "{token}");
        assert_private(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "token");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("link")), "{body}");

        let page = f.get(token).await;
        assert_eq!(page.status(), status);
        assert_private(&page);
        let page = page.text().await.unwrap();
        assert!(page.contains("<html") && !page.contains("<form"), "{page}");
    }
    assert!(!f.acked(lead).await);
    assert!(f.broker.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_lead_is_404_naming_the_token() {
    let f = Fixture::start().await;
    let response = f.post(&f.token(Uuid::new_v4(), "dora", 1, 3600), "application/json").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "token");
}

#[tokio::test]
async fn a_broker_outage_after_the_store_write_is_503_and_the_retry_publishes() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let token = f.token(lead, "dora", 1, 3600);
    f.broker.down.store(true, Ordering::SeqCst);
    let response = f.post(&token, "application/json").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(f.acked(lead).await, "the store write stays");

    f.broker.down.store(false, Ordering::SeqCst);
    let retry: Value = f.post(&token, "application/json").await.json().await.unwrap();
    assert_eq!(retry["status"], "already_accepted");
    assert_eq!(f.broker.sent_to(Topic::Acks).len(), 1);
}

#[tokio::test]
async fn a_browser_form_post_gets_a_page() {
    let f = Fixture::start().await;
    let lead = Uuid::new_v4();
    f.assign(lead, "dora", 1, None).await;
    let response = f.post(&f.token(lead, "dora", 1, 3600), BROWSER).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("Lead accepted") && page.contains(&lead.to_string()), "{page}");
}

/// Drives the handler directly on this thread, so the thread-local recorder sees its counter.
#[tokio::test(flavor = "current_thread")]
async fn every_outcome_is_counted_under_its_result() {
    let f = Fixture::start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (lead, moved) = (Uuid::new_v4(), Uuid::new_v4());
    f.assign(lead, "dora", 1, None).await;
    f.assign(moved, "dora", 1, None).await;
    f.assign(moved, "emil", 2, Some(1)).await;
    let tokens = [
        f.token(lead, "dora", 1, 3600),
        f.token(lead, "dora", 1, 3600),
        f.token(moved, "dora", 1, 3600),
        f.token(Uuid::new_v4(), "dora", 1, 3600),
        "not-a-token".to_string(),
        f.token(lead, "dora", 1, -10),
    ];
    for token in tokens {
        accept(State(f.state.clone()), Path(token), HeaderMap::new()).await;
    }
    let mut counted: Vec<(String, u64)> = (snapshotter.snapshot().into_vec().into_iter())
        .filter(|(key, ..)| key.key().name() == "speedlead_acks_total")
        .map(|(key, _, _, value)| {
            let result = key.key().labels().find(|l| l.key() == "result").unwrap().value().to_string();
            let DebugValue::Counter(n) = value else { panic!("{value:?}") };
            (result, n)
        })
        .collect();
    counted.sort();
    let expected = ["accepted", "already_accepted", "expired", "invalid", "refused", "unknown"]
        .map(|r| (r.to_string(), 1));
    assert_eq!(counted, expected);
}

#[test]
fn html_is_preferred_only_when_ranked_above_json() {
    let accept = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        prefers_html(&headers)
    };
    assert!(accept(BROWSER));
    assert!(accept("text/html"));
    assert!(!accept("*/*"));
    assert!(!accept("application/json"));
    assert!(!accept("application/json, text/html;q=0.5"));
    assert!(accept("application/json;q=0.4, text/html"));
    assert!(!prefers_html(&HeaderMap::new()));
}

#[test]
fn pages_escape_what_they_show() {
    let page = page("<t>", "a & b", "");
    assert!(page.contains("&lt;t&gt;") && page.contains("a &amp; b") && !page.contains("<t>"));
}
