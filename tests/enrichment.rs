//! Enrichment against real HTTP: providers are loopback servers that count what they are asked, the
//! cache is the in-memory store (no broker, no Redis, so these run with plain `cargo test`), except
//! the last test, which proves the cache lives in Redis.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::{Json, Router};
use serde_json::{json, Value};
use speedlead::enrich::{Auth, EnrichmentSettings, HttpEnricher, LookupKind, ProviderConfig, ResponseFormat};
use speedlead_actors::ports::Enricher;
use speedlead_actors::store::{MemoryStore, SharedStore};

/// One request a fake provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
}

/// A provider API on a loopback port: records every request, waits `delay_ms`, then answers
/// whatever `reply` says.
struct FakeApi {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    delay_ms: Arc<AtomicU64>,
}

impl FakeApi {
    async fn start(reply: impl Fn(&Seen) -> (StatusCode, Value) + Send + Sync + 'static) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let reply = Arc::new(reply);
        let (log, delay) = (seen.clone(), delay_ms.clone());
        let app = Router::new().fallback(
            move |uri: Uri, Query(query): Query<HashMap<String, String>>, headers: HeaderMap| {
                let (log, delay, reply) = (log.clone(), delay.clone(), reply.clone());
                async move {
                    let request = Seen { path: uri.path().to_string(), query, headers };
                    log.lock().unwrap().push(request.clone());
                    tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
                    let (status, body) = reply(&request);
                    (status, Json(body))
                }
            },
        );
        FakeApi { base: common::serve_loopback(app).await, seen, delay_ms }
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn on(&self, path: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.path == path).cloned().collect()
    }
}

fn provider(name: &str, kind: LookupKind, url: String, format: ResponseFormat) -> ProviderConfig {
    ProviderConfig { format, ..ProviderConfig::new(name, kind, url) }
}

fn enricher(providers: Vec<ProviderConfig>, store: SharedStore) -> HttpEnricher {
    let settings = EnrichmentSettings { providers, ..EnrichmentSettings::default() };
    HttpEnricher::new(&settings, store).expect("valid enrichment settings")
}

fn status(e: &speedlead_topics::Enrichment, provider: &str) -> String {
    e.providers.get(provider).cloned().unwrap_or_default()
}

fn clearbit_combined(_: &Seen) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({
            "person": {"employment": {"title": "Head of Growth", "seniority": "director"}},
            "company": {"name": "Acme", "domain": "acme.io", "metrics": {"employees": 250},
                        "category": {"industry": "Software"}, "geo": {"countryCode": "DE"}}
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_answers_fill_the_enrichment_and_repeats_are_served_from_the_cache() {
    let clearbit = FakeApi::start(clearbit_combined).await;
    let apollo = FakeApi::start(|_| {
        let org = json!({"name": "Acme GmbH", "primary_domain": "acme.io", "estimated_num_employees": 240,
                         "industry": "computer software", "country": "Germany"});
        (StatusCode::OK, json!({ "organization": org }))
    })
    .await;
    let unknown = FakeApi::start(|_| (StatusCode::NOT_FOUND, json!({"error": "not found"}))).await;
    let settings = EnrichmentSettings {
        negative_cache_ttl_secs: 1,
        providers: vec![
            provider(
                "clearbit",
                LookupKind::Person,
                format!("{}/v2/combined/find?email={{email}}", clearbit.base),
                ResponseFormat::Clearbit,
            ),
            provider(
                "apollo",
                LookupKind::Company,
                format!("{}/v1/organizations/enrich?domain={{domain}}", apollo.base),
                ResponseFormat::Apollo,
            ),
            provider(
                "inhouse",
                LookupKind::Person,
                format!("{}/people/{{email}}", unknown.base),
                ResponseFormat::Flat,
            ),
        ],
        ..EnrichmentSettings::default()
    };
    let e = HttpEnricher::new(&settings, Arc::new(MemoryStore::new())).unwrap();

    let first = e.enrich(Some("ana+demo@acme.io"), None).await;
    assert_eq!(first.company_name.as_deref(), Some("Acme"), "the first provider in config order wins");
    assert_eq!((first.domain.as_deref(), first.employees), (Some("acme.io"), Some(250)));
    assert_eq!((first.industry.as_deref(), first.country.as_deref()), (Some("Software"), Some("DE")));
    assert_eq!(
        (first.title.as_deref(), first.seniority.as_deref()),
        (Some("Head of Growth"), Some("director"))
    );
    assert_eq!(
        [status(&first, "clearbit"), status(&first, "apollo"), status(&first, "inhouse")],
        ["fresh", "fresh", "not_found"]
    );
    assert!(first.complete);
    assert_eq!(clearbit.on("/v2/combined/find")[0].query["email"], "ana+demo@acme.io");
    assert_eq!(apollo.on("/v1/organizations/enrich")[0].query["domain"], "acme.io");
    assert_eq!(unknown.on("/people/ana%2Bdemo%40acme.io").len(), 1, "the email is percent-encoded");

    let again = e.enrich(Some(" Ana+Demo@ACME.io "), None).await;
    assert_eq!((clearbit.hits(), apollo.hits(), unknown.hits()), (1, 1, 1), "no HTTP call on a cache hit");
    assert_eq!(
        [status(&again, "clearbit"), status(&again, "apollo"), status(&again, "inhouse")],
        ["cached", "cached", "not_found"]
    );
    let strip = |mut e: speedlead_topics::Enrichment| {
        e.providers.clear();
        e
    };
    assert_eq!(strip(again), strip(first.clone()));

    // "Not found" is cached for negative_cache_ttl_secs only; answers for cache_ttl_secs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = e.enrich(Some("ana+demo@acme.io"), None).await;
    assert_eq!((clearbit.hits(), apollo.hits(), unknown.hits()), (1, 1, 2));
    assert_eq!(status(&later, "clearbit"), "cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_times_out_while_a_fast_one_contributes_within_the_budget() {
    let fast = FakeApi::start(|_| (StatusCode::OK, json!({"company_name": "Acme", "employees": 30}))).await;
    let slow = FakeApi::start(|_| (StatusCode::OK, json!({"title": "too late"}))).await;
    slow.delay_ms.store(3_000, Ordering::SeqCst);
    let mut own_timeout = provider(
        "slow-own",
        LookupKind::Person,
        format!("{}/a?e={{email}}", slow.base),
        ResponseFormat::Flat,
    );
    own_timeout.timeout_ms = 100;
    // Its own timeout is longer than the whole budget: the budget cuts it.
    let mut budget_cut = provider(
        "slow-budget",
        LookupKind::Person,
        format!("{}/b?e={{email}}", slow.base),
        ResponseFormat::Flat,
    );
    budget_cut.timeout_ms = 5_000;
    let e = enricher(
        vec![
            own_timeout,
            budget_cut,
            provider("fast", LookupKind::Person, format!("{}/?e={{email}}", fast.base), ResponseFormat::Flat),
        ],
        Arc::new(MemoryStore::new()),
    );

    let started = Instant::now();
    let got = e.enrich(Some("ana@acme.io"), None).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(290), "the budget-cut provider was waited for: {took:?}");
    assert!(took < Duration::from_millis(300 + 150), "returned within the 300 ms budget: {took:?}");
    assert_eq!(
        [status(&got, "slow-own"), status(&got, "slow-budget"), status(&got, "fast")],
        ["timeout", "timeout", "fresh"]
    );
    assert_eq!((got.company_name.as_deref(), got.employees, got.title), (Some("Acme"), Some(30), None));
    assert!(!got.complete, "a provider that timed out leaves the lead incomplete");
    assert_eq!(slow.hits(), 2, "both slow providers were asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_opens_its_circuit_and_one_trial_after_the_cool_down_closes_it() {
    let healthy = Arc::new(AtomicBool::new(false));
    let up = healthy.clone();
    let api = FakeApi::start(move |_| {
        if up.load(Ordering::SeqCst) {
            (StatusCode::OK, json!({"industry": "Retail"}))
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "boom"}))
        }
    })
    .await;
    let mut flaky =
        provider("flaky", LookupKind::Person, format!("{}/?email={{email}}", api.base), ResponseFormat::Flat);
    flaky.failure_threshold = 3;
    flaky.open_secs = 1;
    let e = enricher(vec![flaky], Arc::new(MemoryStore::new()));
    let ask = |n: u32| {
        let e = &e;
        async move { e.enrich(Some(&format!("lead{n}@acme.io")), None).await }
    };

    assert_eq!(e.breakers(), [("flaky".to_string(), "closed")], "what /v1/status reports");
    for n in 0..3 {
        let got = ask(n).await;
        assert_eq!((status(&got, "flaky"), got.complete), ("failed".into(), false));
    }
    assert_eq!(api.hits(), 3);
    assert_eq!(e.breakers(), [("flaky".to_string(), "open")]);
    for n in 3..6 {
        assert_eq!(status(&ask(n).await, "flaky"), "circuit_open");
    }
    assert_eq!(api.hits(), 3, "an open circuit makes no HTTP request");

    // After the cool-down one trial goes through; it fails, so the circuit opens again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(e.breakers(), [("flaky".to_string(), "half_open")], "the cool-down ended");
    assert_eq!(status(&ask(6).await, "flaky"), "failed");
    assert_eq!(status(&ask(7).await, "flaky"), "circuit_open");
    assert_eq!(api.hits(), 4);

    // The provider recovers. After the next cool-down exactly one of two concurrent leads is the
    // trial; its success closes the circuit for everyone after it.
    healthy.store(true, Ordering::SeqCst);
    api.delay_ms.store(50, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (a, b) = tokio::join!(ask(8), ask(9));
    let mut both = [status(&a, "flaky"), status(&b, "flaky")];
    both.sort();
    assert_eq!(both, ["circuit_open", "fresh"]);
    assert_eq!(api.hits(), 5);
    let closed = ask(10).await;
    assert_eq!(
        (status(&closed, "flaky"), closed.industry.as_deref(), closed.complete),
        ("fresh".into(), Some("Retail"), true)
    );
    assert_eq!(api.hits(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_mail_is_never_looked_up_as_a_company_domain() {
    let api = FakeApi::start(|_| (StatusCode::OK, json!({"company_name": "Someone"}))).await;
    let e = enricher(
        vec![
            provider(
                "people",
                LookupKind::Person,
                format!("{}/person?email={{email}}", api.base),
                ResponseFormat::Flat,
            ),
            provider(
                "companies",
                LookupKind::Company,
                format!("{}/company?domain={{domain}}", api.base),
                ResponseFormat::Flat,
            ),
        ],
        Arc::new(MemoryStore::new()),
    );

    for email in ["ana@gmail.com", "bo@yahoo.co.uk", "cy@outlook.com", "di@proton.me", "ed@gmx.net"] {
        let got = e.enrich(Some(email), None).await;
        assert_eq!(status(&got, "companies"), "skipped", "{email}");
        assert_eq!(status(&got, "people"), "fresh", "{email}");
        assert!(got.complete);
    }
    assert!(api.on("/company").is_empty(), "no free-mail domain was looked up as a company");
    assert_eq!(api.on("/person").len(), 5, "the person behind a free-mail address still is");

    e.enrich(Some("fay@gmail.com"), Some("https://www.Initech.com/about")).await;
    e.enrich(Some("gus@acme.io"), None).await;
    let domains: Vec<String> = api.on("/company").iter().map(|s| s.query["domain"].clone()).collect();
    assert_eq!(domains, ["initech.com", "acme.io"], "the hint first, else the email's own domain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_sent_the_configured_way() {
    let api = FakeApi::start(|_| (StatusCode::OK, json!({"title": "CTO"}))).await;
    let keyed = |name: &str, key: &str, auth: Auth| ProviderConfig {
        api_key: key.into(),
        auth,
        ..provider(
            name,
            LookupKind::Person,
            format!("{}/{name}?email={{email}}", api.base),
            ResponseFormat::Flat,
        )
    };
    let e = enricher(
        vec![
            keyed("bearer", "k-bearer", Auth::Bearer),
            keyed("header", "k-header", Auth::Header("X-Api-Key".into())),
            keyed("query", "k-query", Auth::Query("api_key".into())),
            keyed("keyless", "", Auth::Bearer),
        ],
        Arc::new(MemoryStore::new()),
    );
    let got = e.enrich(Some("ana@acme.io"), None).await;
    assert!(got.providers.values().all(|s| s == "fresh"), "{:?}", got.providers);

    let only = |path: &str| api.on(path).pop().expect("asked once");
    let header = |s: &Seen, name: &str| s.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let bearer = only("/bearer");
    assert_eq!(header(&bearer, "authorization").as_deref(), Some("Bearer k-bearer"));
    assert!(header(&bearer, "x-api-key").is_none() && !bearer.query.contains_key("api_key"));
    let by_header = only("/header");
    assert_eq!(header(&by_header, "x-api-key").as_deref(), Some("k-header"));
    assert!(header(&by_header, "authorization").is_none() && !by_header.query.contains_key("api_key"));
    let by_query = only("/query");
    assert_eq!(
        (by_query.query["api_key"].as_str(), by_query.query["email"].as_str()),
        ("k-query", "ana@acme.io")
    );
    assert!(header(&by_query, "authorization").is_none());
    assert!(header(&only("/keyless"), "authorization").is_none(), "an empty key sends no credentials");
}

/// The cache really is in Redis: a second enricher (a fresh process, as far as it knows) with its
/// own connection answers from the entry the first one wrote.
#[cfg(feature = "integration")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_cross_enricher_instances_through_redis() {
    use speedlead::store::redis::RedisStore;

    let api = FakeApi::start(clearbit_combined).await;
    let namespace = format!("enrich-{}", uuid::Uuid::new_v4().simple());
    let providers = vec![provider(
        "clearbit",
        LookupKind::Person,
        format!("{}/?email={{email}}", api.base),
        ResponseFormat::Clearbit,
    )];
    let connect =
        || async { Arc::new(RedisStore::connect(&common::redis_url(), &namespace).await.expect("redis")) };

    let first = enricher(providers.clone(), connect().await).enrich(Some("ana@acme.io"), None).await;
    assert_eq!((status(&first, "clearbit"), api.hits()), ("fresh".into(), 1));

    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{namespace}:idem:enrich:clearbit:ana@acme.io");
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut redis).await.unwrap();
    assert!((86_000..=86_400).contains(&ttl), "the entry is in Redis with the answer TTL: {ttl}");

    let second = enricher(providers, connect().await).enrich(Some("ana@acme.io"), None).await;
    assert_eq!((status(&second, "clearbit"), api.hits()), ("cached".into(), 1));
    assert_eq!(second.company_name.as_deref(), Some("Acme"));
}
