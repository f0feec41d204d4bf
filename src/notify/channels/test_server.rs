//! A stand-in for a provider's HTTP API in the channels' unit tests: a real axum server on a
//! loopback port that records every request (method, path with query, headers, body) and answers
//! from a script, so a test asserts exactly what speedlead put on the wire.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use uuid::Uuid;

use crate::notify::templates::{TemplateSettings, Templates};
use crate::notify::Notice;

/// The notice every channel test sends: the templates' full sample (a hot lead with every field),
/// with its own id, lead id, attempt and accept link.
pub fn notice() -> Notice {
    Notice {
        id: "n-7f3a:1".into(),
        lead_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        attempt: 1,
        accept_url: "https://speedlead.example/v1/acks/tok.en-123".into(),
        ..crate::notify::templates::samples::full()
    }
}

/// The default templates.
pub fn templates() -> Arc<Templates> {
    Arc::new(Templates::new(&TemplateSettings::default()).expect("default templates load"))
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The form-urlencoded fields, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).expect("a form body")
    }

    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Self {
        Reply { status, headers: vec![], body: body.into(), delay: Duration::ZERO }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::text(status, &body.to_string()).header("content-type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answers only after `delay` (to test timeouts).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// The running server. Replies are used in order; the last one repeats.
pub struct Loopback {
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Loopback {
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "script at least one reply");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let (recorded, script) = (recorded.clone(), script.clone());
            async move { answer(request, &recorded, &script).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Loopback { base, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The only request received (fails the test otherwise).
    pub fn single(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected one request, got {all:?}");
        all.into_iter().next().unwrap()
    }
}

async fn answer(
    request: Request<Body>,
    recorded: &Mutex<Vec<Recorded>>,
    script: &Mutex<VecDeque<Reply>>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default().to_vec();
    let path = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path,
        headers: parts.headers,
        body,
    });
    let reply = {
        let mut script = script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0].clone()
        }
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}
