//! The rep's dashboard in a real headless Chromium, end to end on the real broker and Redis: the
//! rep opens their magic link (token → HttpOnly cookie → redirect), the page goes live on its
//! event stream, a lead published to `leads.inbound` runs through the pipeline and appears on the
//! page with an Accept button, a click acknowledges it (the page shows "Accepted", the route is
//! acked in Redis and `lead.acknowledged` is on `leads.events`). Rep isolation of the same routes
//! (another rep's token, no token) is tests/dashboard.rs's.
#![cfg(feature = "integration")]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::{Element, Page};
use common::*;
use futures::StreamExt;
use rdkafka::message::Message;
use speedlead::demo::assigned_reader;
use speedlead::http::dashboard::DashboardState;
use speedlead::http::reps::RepsState;
use speedlead::http::status::SourceHealth;
use speedlead_topics::{Envelope, LeadEvent, Topic};
use uuid::Uuid;

/// Chromium's profile directory, removed when the test ends (also on failure).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls for `selector` every 50 ms; on timeout fails with what the page shows.
async fn wait_for(page: &Page, selector: &str, timeout: Duration) -> Element {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(element) = page.find_element(selector).await {
            return element;
        }
        if Instant::now() >= deadline {
            let body = page.content().await.unwrap_or_default();
            panic!("no `{selector}` on the page after {timeout:?}; the page:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new person in Germany (routed in emea), with a name to look for on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_accepts_a_live_lead_in_a_real_browser() {
    let mut settings = isolated_settings();
    // Only Dora takes emea leads, so the lead lands on her dashboard.
    let emea = settings.routing.domains.iter_mut().find(|d| d.name == "emea").expect("emea domain");
    emea.reps.retain(|r| r.id == "dora");
    create_test_topics(&settings).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    settings.acks.public_base_url = base.clone();
    let pipeline = start_pipeline(&settings, Default::default()).await;
    pipeline.wait_ready(Duration::from_secs(60)).await.unwrap();

    // The HTTP routes the page uses, merged as `serve` does.
    let (acks, store) = ack_routes(&settings).await;
    let dashboard = DashboardState::new(&settings, store.clone(), pipeline.routing(), pipeline.feed());
    let link = dashboard.magic_link("dora", Duration::from_secs(3600));
    let app = acks
        .merge(speedlead::http::reps::routes(RepsState::new(&settings, store.clone(), pipeline.routing())))
        .merge(speedlead::http::dashboard::routes(dashboard))
        .merge(speedlead::http::status::routes(SourceHealth::new(Vec::<String>::new()), pipeline.enricher()));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let profile =
        TempDir(std::env::temp_dir().join(format!("speedlead-chromium-{}", Uuid::new_v4().simple())));
    std::fs::create_dir_all(&profile.0).unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable("/usr/bin/chromium")
        .no_sandbox()
        .user_data_dir(&profile.0)
        .args(["disable-gpu", "disable-component-update"]) // the defaults add the rest
        .build()
        .expect("browser config");
    let (mut browser, mut handler) = Browser::launch(config).await.expect("chromium launches");
    // Errors here are CDP events the crate does not know; the connection goes on.
    let cdp = tokio::spawn(async move { while handler.next().await.is_some() {} });

    // The magic link: the token becomes a cookie, the redirect drops it from the address bar.
    let page = browser.new_page(link.as_str()).await.expect("page opens");
    wait_for(&page, "#live[data-live=\"yes\"]", Duration::from_secs(10)).await;
    let url = page.url().await.unwrap().unwrap_or_default();
    assert_eq!(url, format!("{base}/v1/reps/dora/dashboard"), "the token left the address bar");

    let name = format!("Browser Person {}", &Uuid::new_v4().simple().to_string()[..6]);
    let mut leads = LeadPublisher::new(&settings);
    let published = Instant::now();
    leads.send(german_lead_named(&format!("browser-{}", Uuid::new_v4().simple()), "evt-1", &name)).await;
    let lead_id = leads.sent[0].lead_id.to_string();
    let button = wait_for(&page, "button[data-accept]", Duration::from_secs(30)).await;
    eprintln!("publish → Accept button on the page: {:?}", published.elapsed());
    assert_eq!(button.attribute("data-accept").await.unwrap().as_deref(), Some(lead_id.as_str()));
    let item = wait_for(&page, &format!("li[data-lead-id=\"{lead_id}\"]"), Duration::from_secs(5)).await;
    let text = item.inner_text().await.unwrap().unwrap_or_default();
    assert!(text.contains(&name), "the lead's card shows its name: {text:?}");

    // A refresh may replace the list (and the button) between finding and clicking: find again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = click_accept(&page).await {
        assert!(Instant::now() < deadline, "could not click Accept: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted = wait_for(&page, "[data-state=\"accepted\"]", Duration::from_secs(10)).await;
    assert_eq!(accepted.inner_text().await.unwrap().as_deref(), Some("Accepted"));
    assert!(page.find_element("button[data-accept]").await.is_err(), "no Accept button left");

    // The acknowledgement is real: the route is acked in Redis and announced on leads.events.
    let route = store.route("emea", &lead_id).await.unwrap().expect("route in redis");
    assert_eq!(route.rep_id, "dora");
    assert!(route.acked, "the route is acknowledged in redis");
    let reader = assigned_reader(&settings, &settings.kafka.brokers, &names(&settings), &[Topic::Events])
        .expect("reader");
    let acknowledged = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let message = reader.recv().await.expect("read from broker");
            let event: Envelope<LeadEvent> =
                serde_json::from_slice(message.payload().unwrap_or_default()).expect("event parses");
            if matches!(&event.payload, LeadEvent::Acknowledged(a) if a.lead_id.to_string() == lead_id) {
                return;
            }
        }
    })
    .await;
    assert!(acknowledged.is_ok(), "lead.acknowledged on leads.events");

    browser.close().await.expect("browser closes");
    browser.wait().await.expect("chromium exits");
    cdp.abort();
    drop(profile);
    pipeline.shutdown().await;
}

/// Clicks the Accept button as it is now (done once the lead shows as accepted).
async fn click_accept(page: &Page) -> chromiumoxide::Result<()> {
    if page.find_element("[data-state=\"accepted\"]").await.is_ok() {
        return Ok(());
    }
    page.find_element("button[data-accept]").await?.click().await.map(|_| ())
}
