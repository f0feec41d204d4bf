use speedlead_actors::routing_store::{Caps, RouteCommit, RouteRecord, RoutingStore};
use speedlead_actors::store::MemoryStore;

use super::*;

struct Fixture {
    base: String,
    client: reqwest::Client,
    store: Arc<MemoryStore>,
    routing: Arc<Routing>,
}

impl Fixture {
    /// The rep routes on a loopback port over the default routing configuration (emea: dora, emil).
    async fn start(admin_token: Option<&str>) -> Self {
        let mut settings = Settings::defaults();
        settings.http.admin_token = admin_token.map(Into::into);
        let store = Arc::new(MemoryStore::new());
        let routing = Arc::new(settings.routing().unwrap());
        let handle = RoutingHandle::new(settings.routing().unwrap());
        let state = RepsState::new(&settings, store.clone(), handle);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, routes(state)).await });
        Fixture { base, client: reqwest::Client::new(), store, routing }
    }

    async fn get(&self, rep: &str) -> reqwest::Response {
        self.client.get(format!("{}/v1/reps/{rep}", self.base)).send().await.unwrap()
    }

    async fn put(&self, rep: &str, body: &str) -> reqwest::Response {
        let url = format!("{}/v1/reps/{rep}/status", self.base);
        let request = self.client.put(url).header("content-type", "application/json");
        request.body(body.to_string()).send().await.unwrap()
    }
}

#[tokio::test]
async fn get_shows_the_reps_live_state() {
    let f = Fixture::start(None).await;
    let now = Utc::now();
    let commit = RouteCommit {
        domain: "emea".into(),
        lead_id: "lead-1".into(),
        record: RouteRecord {
            sla_ms: 0,
            parked: false,
            released: false,
            lead_key: "ana@acme.io".into(),
            rep_id: "dora".into(),
            attempt: 1,
            pool: "all".into(),
            rule: None,
            reason: "round_robin".into(),
            assigned_ms: now.timestamp_millis(),
            due_ms: now.timestamp_millis() + 300_000,
            acked: false,
            required_skills: vec![],
            tried: vec![],
            summary: None,
        },
        rep_day: f.routing.rep("dora").unwrap().local_day(now),
        caps: Caps::default(),
        cursor: None,
        replaces: None,
        miss: None,
        from_overflow: None,
    };
    f.store.commit_route(&commit, Duration::from_secs(3600)).await.unwrap();

    let response = f.get("dora").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let expected = json!({ "rep_id": "dora", "domain": "emea", "status": "available", "open": 1, "today": 1, "misses": 0 });
    assert_eq!(body, expected);
    let emil: Value = f.get("emil").await.json().await.unwrap();
    assert_eq!((emil["status"].as_str(), emil["open"].as_u64()), (Some("available"), Some(0)));
}

#[tokio::test]
async fn put_sets_the_status_and_get_reads_it_back() {
    let f = Fixture::start(None).await;
    for status in ["away", "offline", "available"] {
        let response = f.put("ana", &format!("{{\"status\":\"{status}\"}}")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["rep_id"].as_str(), body["domain"].as_str()), (Some("ana"), Some("na")));
        assert_eq!(body["status"], status);
        let read: Value = f.get("ana").await.json().await.unwrap();
        assert_eq!(read["status"], status);
    }
    assert_eq!(f.store.rep_state("na", "ana").await.unwrap().status, RepStatus::Available);
}

#[tokio::test]
async fn a_bad_status_is_422_naming_status() {
    let f = Fixture::start(None).await;
    for body in ["not json", "{}", r#"{"status":"sleeping"}"#, r#"{"status":1}"#, r#"["away"]"#] {
        let response = f.put("ana", body).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], "status", "{body}");
    }
    assert_eq!(f.store.rep_state("na", "ana").await.unwrap().status, RepStatus::Available);
}

#[tokio::test]
async fn an_unknown_rep_is_404_naming_rep() {
    let f = Fixture::start(None).await;
    for response in [f.get("zed").await, f.put("zed", r#"{"status":"away"}"#).await] {
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "rep");
    }
}

#[tokio::test]
async fn an_admin_token_is_required_once_configured() {
    let f = Fixture::start(Some("s3cret-admin-token")).await;
    let url = format!("{}/v1/reps/ana", f.base);
    assert_eq!(f.get("ana").await.status(), 401);
    let wrong = f.client.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let right = f.client.get(&url).bearer_auth("s3cret-admin-token").send().await.unwrap();
    assert_eq!(right.status(), 200);
    let put = f.client.put(format!("{url}/status")).bearer_auth("s3cret-admin-token");
    let put = put.body(r#"{"status":"away"}"#).send().await.unwrap();
    assert_eq!(put.status(), 200);
}
