//! `speedlead bench`: a load generator for the pipeline. Publishes sample leads at a fixed rate and
//! measures, per lead, the time from publish to `leads.qualified` (one stage) and to
//! `leads.assignments` (two stages). A bare produce → consume round trip on an idle topic is measured
//! in the same run, at the same rate, as the baseline the stage figures are read against.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use hdrhistogram::Histogram;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshot, Snapshotter};
use rdkafka::message::Message;
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::{Envelope, Topic};
use uuid::Uuid;

use crate::config::Settings;
use crate::demo::reader_of;
use crate::error::Error;
use crate::kafka::publisher::KafkaPublisher;
use crate::kafka::{client, TopicNames};
use crate::sample::{captured, SampleLeads};

pub struct BenchOptions {
    pub rate: u32,
    pub duration: Duration,
    pub warmup: Duration,
    pub seed: u64,
    /// Send leads as signed webhooks to this capture gateway instead of publishing them to Kafka.
    pub via_http: Option<HttpTarget>,
    /// Enrich leads from a loopback company-lookup API (see [`serve_enrichment_api`]).
    pub enrich: bool,
    /// Where the rep side (loopback Slack, dashboard event streams) notes arrivals, when measured.
    pub rep_side: Option<std::sync::Arc<crate::bench_rep::Arrivals>>,
}

/// A capture gateway source to drive: `POST {base}/v1/capture/{source}` signed with `secret`.
#[derive(Clone)]
pub struct HttpTarget {
    pub base: String,
    pub source: String,
    pub secret: String,
}

/// Latency histograms in microseconds.
pub struct BenchReport {
    /// "inbound" when leads were published to Kafka, "webhook" when posted to the gateway.
    pub entry: &'static str,
    /// Webhook request → 2xx (which the gateway sends after the broker's ack), in HTTP mode.
    pub webhook_ack: Option<Histogram<u64>>,
    /// Webhook requests not answered 2xx.
    pub http_failures: u64,
    pub sent: u64,
    pub assigned: u64,
    pub elapsed: Duration,
    pub broker_round_trip: Histogram<u64>,
    pub to_qualified: Histogram<u64>,
    pub to_assigned: Histogram<u64>,
    /// In-process work of the stages after the warm-up, from the metrics recorder: (row, p50, p95,
    /// p99) in ms.
    pub stage_work: Vec<(String, f64, f64, f64)>,
    /// Entry → the rep's dashboard event stream got `lead.assigned`; entry → Slack got the notice.
    pub to_sse: Option<Histogram<u64>>,
    pub to_slack: Option<Histogram<u64>>,
    /// Measured leads that never reached the rep on each path.
    pub rep_side_missing: (u64, u64),
}

/// Send times (and whether the send is past the warm-up) awaiting each measured arrival. The reader
/// sees the topics in no guaranteed relative order, so each segment keeps its own map.
#[derive(Default)]
struct InFlight {
    to_qualify: DashMap<Uuid, (Instant, bool)>,
    to_assign: DashMap<Uuid, (Instant, bool)>,
    pings: DashMap<u64, (Instant, bool)>,
    /// Every measured lead's send time, kept for the rep side's arrivals.
    sent_at: DashMap<Uuid, Instant>,
}

/// Runs the load against a pipeline already running on `brokers` with `settings`' topics.
pub async fn run(settings: &Settings, brokers: &str, options: BenchOptions) -> Result<BenchReport, Error> {
    let names = TopicNames::new(&settings.kafka.topic_prefix);
    let ping_topic = ping_topic(settings);
    // On tansu every fetch that finds data lists all of the partition's stored batches, so a
    // reader is not free. With the rep side measured (its own two segments are timed where the rep
    // is), the bench does not double the broker's work on the topics the pipeline reads: it leaves
    // `leads.qualified` to the router, counts `leads.assignments` (for loss) at the relaxed fetch
    // wait without timing it, and pings at most 20 times a second (docs/benchmarks.md).
    let light = options.rep_side.is_some();
    let mut topics = vec![ping_topic.clone()];
    if !light {
        topics.extend([names.name(Topic::Qualified), names.name(Topic::Assignments)]);
    }
    let ping_every = if light { u64::from(options.rate / 20).max(1) } else { 1 };
    let reader = reader_of(settings, brokers, &topics)?;
    let counter = match light {
        true => {
            let mut relaxed = settings.clone();
            relaxed.kafka.fetch_wait_max_ms = relaxed.kafka.relaxed_fetch_wait_max_ms;
            Some(reader_of(&relaxed, brokers, &[names.name(Topic::Assignments)])?)
        }
        false => None,
    };
    let publisher = KafkaPublisher::new(&client::producer(&settings.kafka, brokers), names.clone())?;
    let in_flight = InFlight::default();
    let new_histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let (mut round_trip, mut to_qualified, mut to_assigned) =
        (new_histogram(), new_histogram(), new_histogram());

    // Warm the producer connection so the first lead does not pay for it.
    send_ping(&publisher, &ping_topic, "warmup", "warmup".into()).await?;

    let mut samples =
        SampleLeads::new(options.seed, format!("bench-{}", &Uuid::new_v4().simple().to_string()[..8]));
    let interval = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
    let total = (options.duration.as_secs_f64() * f64::from(options.rate)) as u64;
    let warmup_count = (options.warmup.as_secs_f64() * f64::from(options.rate)) as u64;
    let client = reqwest::Client::new();
    let webhook_ack = std::sync::Arc::new(std::sync::Mutex::new(new_histogram()));
    let http_failures = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut assigned, mut last_assigned_at) = (0u64, 0u64, started);
    let qualified_topic = names.name(Topic::Qualified);
    let drain_deadline = |sent_done: Instant| sent_done + Duration::from_secs(10);
    let mut sent_done: Option<Instant> = None;

    loop {
        tokio::select! {
            _ = ticker.tick(), if sent < total => {
                let measured = sent >= warmup_count;
                let lead = samples.next_lead();
                let now = Instant::now();
                if sent % ping_every == 0 {
                    in_flight.pings.insert(sent, (now, measured));
                    let (pinger, topic, seq) = (publisher.clone(), ping_topic.clone(), sent);
                    tokio::spawn(async move {
                        if let Err(e) = send_ping(&pinger, &topic, &format!("ping-{seq}"), seq.to_string()).await {
                            tracing::error!(error = %e, "bench ping failed");
                        }
                    });
                }
                match &options.via_http {
                    Some(target) => {
                        let id = speedlead_topics::lead_id(&target.source, &lead.event_id);
                        if !light { in_flight.to_qualify.insert(id, (now, measured)); }
                        in_flight.to_assign.insert(id, (now, measured));
                        if measured { in_flight.sent_at.insert(id, now); }
                        let (target, client, acks, failures) = (target.clone(), client.clone(), webhook_ack.clone(), http_failures.clone());
                        tokio::spawn(async move {
                            match post_webhook(&client, &target, &lead).await {
                                Ok(()) if measured => { acks.lock().expect("histogram lock").record(micros(now.elapsed())).ok(); }
                                Ok(()) => {}
                                Err(e) => {
                                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    tracing::error!(error = %e, "bench webhook failed");
                                }
                            }
                        });
                    }
                    None => {
                        let (key, envelope) = captured(lead);
                        if !light { in_flight.to_qualify.insert(envelope.correlation_id, (now, measured)); }
                        in_flight.to_assign.insert(envelope.correlation_id, (now, measured));
                        if measured { in_flight.sent_at.insert(envelope.correlation_id, now); }
                        let payload = serde_json::to_vec(&envelope).expect("serializes");
                        let lead = Outbound { topic: Topic::Inbound, key, payload };
                        let publisher = publisher.clone();
                        // Concurrent publishes: a slow ack must not delay the next lead's send time.
                        tokio::spawn(async move {
                            if let Err(e) = publisher.publish(vec![lead]).await {
                                tracing::error!(error = %e, "bench publish failed");
                            }
                        });
                    }
                }
                sent += 1;
                if sent == total {
                    sent_done = Some(Instant::now());
                }
            }
            message = async {
                match &counter {
                    Some(counter) => counter.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let message = message?;
                let Some(payload) = message.payload() else { continue };
                let Ok(envelope) = serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(payload) else { continue };
                if in_flight.to_assign.remove(&envelope.correlation_id).is_some() {
                    assigned += 1;
                    last_assigned_at = Instant::now();
                }
            }
            message = reader.recv() => {
                let message = message?;
                let now = Instant::now();
                let Some(payload) = message.payload() else { continue };
                if message.topic() == ping_topic {
                    let Some(seq) = std::str::from_utf8(payload).ok().and_then(|s| s.parse::<u64>().ok()) else { continue };
                    if let Some((_, (at, true))) = in_flight.pings.remove(&seq) {
                        round_trip.record(micros(now - at)).ok();
                    }
                    continue;
                }
                let Ok(envelope) = serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(payload) else { continue };
                let id = envelope.correlation_id;
                if message.topic() == qualified_topic {
                    if let Some((_, (at, true))) = in_flight.to_qualify.remove(&id) {
                        to_qualified.record(micros(now - at)).ok();
                    }
                } else if let Some((_, (at, measured))) = in_flight.to_assign.remove(&id) {
                    // Only without --rep-side: `counter` reads the assignments then.
                    assigned += 1;
                    last_assigned_at = now;
                    if measured { to_assigned.record(micros(now - at)).ok(); }
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        if let Some(done) = sent_done {
            if assigned == total || Instant::now() > drain_deadline(done) {
                break;
            }
        }
    }
    let webhook_ack = options.via_http.as_ref().map(|_| webhook_ack.lock().expect("histogram lock").clone());
    let (mut to_sse, mut to_slack, mut rep_side_missing) = (None, None, (0, 0));
    if let Some(arrivals) = &options.rep_side {
        // The rep side comes a hop after the assignment: give stragglers a moment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (mut sse, mut slack) = (new_histogram(), new_histogram());
        for entry in in_flight.sent_at.iter() {
            let (id, at) = (entry.key(), *entry.value());
            match arrivals.sse.get(id) {
                Some(got) => drop(sse.record(micros(*got - at))),
                None => rep_side_missing.0 += 1,
            }
            match arrivals.slack.get(id) {
                Some(got) => drop(slack.record(micros(*got - at))),
                None => rep_side_missing.1 += 1,
            }
        }
        (to_sse, to_slack) = (Some(sse), Some(slack));
    }
    Ok(BenchReport {
        entry: if options.via_http.is_some() { "webhook" } else { "inbound" },
        webhook_ack,
        http_failures: http_failures.load(std::sync::atomic::Ordering::Relaxed),
        sent,
        assigned,
        elapsed: last_assigned_at - started,
        broker_round_trip: round_trip,
        to_qualified,
        to_assigned,
        stage_work: Vec::new(),
        to_sse,
        to_slack,
        rep_side_missing,
    })
}

/// The bench's own topic for the baseline pings: no stage consumes it, so a ping measures the bare
/// broker round trip and nothing else.
pub fn ping_topic(settings: &Settings) -> String {
    format!("{}bench.ping", settings.kafka.topic_prefix)
}

async fn send_ping(publisher: &KafkaPublisher, topic: &str, key: &str, payload: String) -> Result<(), Error> {
    let record = rdkafka::producer::FutureRecord::to(topic).key(key).payload(&payload);
    publisher.producer().send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(e, _)| e.into())
}

/// Installs a metrics recorder that keeps every histogram sample, so the bench can report the
/// stages' own work (which no Kafka timestamp shows) next to the end-to-end figures.
pub fn install_stage_work_recorder() -> Result<Snapshotter, Error> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().map_err(|e| Error::Config(format!("metrics recorder: {e}")))?;
    Ok(snapshotter)
}

/// The stage-work rows (p50, p95, p99 in ms) from the samples recorded since the last snapshot.
pub fn stage_work(snapshot: Snapshot) -> Vec<(String, f64, f64, f64)> {
    let rows = [
        ("intake: intelligence (dedupe..score+save)", "speedlead_intake_intelligence_seconds", None),
        ("intake: record processed + published", "speedlead_stage_processing_seconds", Some("intake")),
        ("router: record processed + published", "speedlead_stage_processing_seconds", Some("router")),
    ];
    let samples = snapshot.into_vec();
    rows.iter()
        .filter_map(|(row, name, stage)| {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            for (key, _, _, value) in &samples {
                let key = key.key();
                let stage_matches =
                    stage.is_none_or(|s| key.labels().any(|l| l.key() == "stage" && l.value() == s));
                if let (true, true, DebugValue::Histogram(values)) =
                    (key.name() == *name, stage_matches, value)
                {
                    for v in values {
                        histogram.record((v.into_inner() * 1e6).max(1.0) as u64).ok();
                    }
                }
            }
            let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
            (!histogram.is_empty()).then(|| (row.to_string(), ms(0.5), ms(0.95), ms(0.99)))
        })
        .collect()
}

/// Serves a company-lookup API on loopback that knows every sample company (answering at once, as
/// a warm provider would) and returns it as the bench's enrichment provider.
pub async fn serve_enrichment_api() -> Result<crate::enrich::ProviderConfig, Error> {
    use axum::extract::Query;
    let app = axum::Router::new().route(
        "/companies",
        axum::routing::get(|Query(q): Query<std::collections::BTreeMap<String, String>>| async move {
            let domain = q.get("domain").cloned().unwrap_or_default();
            axum::Json(serde_json::json!({
                "company_name": domain.split('.').next(), "domain": domain, "employees": 250,
                "industry": "software", "country": "US"
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("{base}/companies?domain={{domain}}");
    Ok(crate::enrich::ProviderConfig::new("bench-firmographics", crate::enrich::LookupKind::Company, url))
}

/// Posts one sample lead as a signed web form and waits for the gateway's 2xx.
async fn post_webhook(
    client: &reqwest::Client,
    target: &HttpTarget,
    lead: &speedlead_topics::InboundLead,
) -> Result<(), String> {
    let c = &lead.contact;
    let body = serde_json::to_vec(&serde_json::json!({
        "event_id": lead.event_id, "name": c.name, "email": c.email, "phone": c.phone,
        "company": c.company, "title": c.title, "country": c.country,
        "utm_campaign": lead.attribution.get("utm_campaign"),
    }))
    .expect("serializes");
    let now = chrono::Utc::now().timestamp();
    let message_id = format!("msg_{}", lead.event_id);
    let signature =
        crate::providers::signature::sign_standard_webhooks(&target.secret, &message_id, now, &body)
            .ok_or("bad bench secret")?;
    let response = client
        .post(format!("{}/v1/capture/{}", target.base, target.source))
        .header("content-type", "application/json")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{}: {}", response.status(), response.text().await.unwrap_or_default()))
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().max(1) as u64
}

impl BenchReport {
    pub fn print(&self) {
        let row = |name: &str, h: &Histogram<u64>| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "{name:<34} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                h.len(),
                ms(0.5),
                ms(0.95),
                ms(0.99),
                h.max() as f64 / 1000.0
            );
        };
        println!("{:<34} {:>7} {:>8} {:>8} {:>8} {:>8}", "segment (ms)", "n", "p50", "p95", "p99", "max");
        row("baseline: broker round trip", &self.broker_round_trip);
        if let Some(ack) = &self.webhook_ack {
            row("webhook -> 2xx (after broker ack)", ack);
        }
        let base = self.broker_round_trip.value_at_quantile(0.5).max(1) as f64;
        let mut ratios = Vec::new();
        let staged =
            [("1 stage", "qualified", &self.to_qualified), ("2 stages", "assigned", &self.to_assigned)];
        for (stages, reached, h) in staged {
            // Not timed with --rep-side (see `run`).
            if !h.is_empty() {
                row(&format!("{} -> {reached} ({stages})", self.entry), h);
                ratios.push(format!("{stages} {:.2}x", h.value_at_quantile(0.5) as f64 / base));
            }
        }
        if let (Some(sse), Some(slack)) = (&self.to_sse, &self.to_slack) {
            row(&format!("{} -> rep SSE event received", self.entry), sse);
            row(&format!("{} -> Slack request received", self.entry), slack);
            ratios.push(format!("SSE {:.2}x", sse.value_at_quantile(0.5) as f64 / base));
        }
        println!("ratio to baseline p50: {}", ratios.join(", "));
        if !self.stage_work.is_empty() {
            println!(
                "{:<34} {:>7} {:>8} {:>8} {:>8}",
                "stage work, in-process (ms)", "", "p50", "p95", "p99"
            );
            for (row, p50, p95, p99) in &self.stage_work {
                println!("{row:<42} {p50:>8.2} {p95:>8.2} {p99:>8.2}");
            }
        }
        if self.to_sse.is_some() {
            let (sse, slack) = self.rep_side_missing;
            println!("measured leads that never reached the rep: SSE {sse}, Slack {slack}");
        }
        if self.http_failures > 0 {
            println!("webhooks not answered 2xx: {}", self.http_failures);
        }
        println!(
            "sent {}, assigned {}, lost {}; throughput {:.0} leads/s",
            self.sent,
            self.assigned,
            self.sent - self.assigned,
            self.assigned as f64 / self.elapsed.as_secs_f64().max(1e-9)
        );
    }
}
