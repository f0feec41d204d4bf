//! `speedlead bench-routing`: the routing decision and the SLA escalation timers, measured in-process
//! at the scale (1,000 reps in 50 domains, 100,000 pending deadlines). No Kafka: the router
//! stage is called directly and publishes to a counting no-op publisher.
//!
//! Per run: (1) the latency of `RouterStage::process` for generated qualified leads on the in-memory
//! store, with the bare `roster` + `commit_route` round trip as the baseline (and, with `--redis`, the
//! same against Redis with `PING` as the baseline); (2) process RSS with 100,000 routes committed and
//! the escalation timers armed, and each escalation's lateness behind its deadline.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use hdrhistogram::Histogram;
use serde_json::json;
use speedlead_actors::ack_token::AckSigner;
use speedlead_actors::dispatch::{DispatchSettings, Dispatcher};
use speedlead_actors::escalation::{wall_clock, Escalate, EscalationTimers, TimerSettings};
use speedlead_actors::ports::{Outbound, PublishError, Publisher, Record};
use speedlead_actors::router::RouterStage;
use speedlead_actors::routing_store::{Caps, RouteCommit, RouteRecord, RoutingStore};
use speedlead_actors::rules::{self, SharedRouting};
use speedlead_actors::stage::{Stage, StageError};
use speedlead_actors::store::{MemoryStore, Store};
use speedlead_topics::{QualifiedLead, Topic};
use uuid::Uuid;

use crate::config::RedisSettings;
use crate::error::Error;

#[path = "bench_routing_world.rs"]
mod world;
pub use world::routing_config;
use world::{countries, lead, record};

#[derive(Debug, Clone)]
pub struct RoutingBenchOptions {
    pub domains: usize,
    pub reps_per_domain: usize,
    pub leads: usize,
    pub deadlines: usize,
    pub runs: usize,
    pub seed: u64,
    /// The first deadline is due this long after arming starts; the rest spread over `window`.
    pub due_after: Duration,
    pub window: Duration,
    /// Also measure decisions against this Redis (a fresh namespace under it).
    pub redis: Option<RedisSettings>,
}

impl Default for RoutingBenchOptions {
    fn default() -> Self {
        RoutingBenchOptions {
            domains: 50,
            reps_per_domain: 20,
            leads: 20_000,
            deadlines: 100_000,
            runs: 3,
            seed: 42,
            due_after: Duration::from_secs(5),
            window: Duration::from_secs(20),
            redis: None,
        }
    }
}

/// One run's figures, in print order.
pub type Figures = Vec<(String, f64)>;

/// Counts what the dispatcher publishes and drops it.
#[derive(Default)]
pub struct CountingPublisher {
    pub messages: AtomicU64,
}

#[async_trait]
impl Publisher for CountingPublisher {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        self.messages.fetch_add(messages.len() as u64, Relaxed);
        Ok(())
    }
}

fn dispatcher(
    routing: &SharedRouting,
    store: Arc<dyn Store>,
    publisher: Arc<CountingPublisher>,
) -> Arc<Dispatcher> {
    let signer = AckSigner::new(vec![b"bench-secret-bench-secret".to_vec()]);
    let week = Duration::from_secs(7 * 86_400);
    let settings = DispatchSettings { decision_ttl: week, token_ttl: week };
    Arc::new(Dispatcher::new(routing.clone(), store, publisher, signer, settings))
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().max(1) as u64
}

/// `name p50/p95/p99/max`, from nanoseconds to `unit` (1e3: µs, 1e6: ms).
fn quantiles(figures: &mut Figures, name: &str, h: &Histogram<u64>, unit: f64, label: &str) {
    for (q, tag) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        figures.push((format!("{name} {tag} ({label})"), h.value_at_quantile(q) as f64 / unit));
    }
    figures.push((format!("{name} max ({label})"), h.max() as f64 / unit));
}

/// A `PING` round trip before each decision, as the Redis run's baseline.
type Pinger<'a> = Option<(&'a mut redis::aio::MultiplexedConnection, &'a mut Histogram<u64>)>;

/// Times `RouterStage::process` for each record: the histogram and [assigned, queued, failed,
/// decisions/s over the time spent deciding].
async fn decide_all(
    stage: &RouterStage,
    records: &[Record],
    mut ping: Pinger<'_>,
) -> (Histogram<u64>, [f64; 4]) {
    let (mut h, mut outcome, mut busy) = (histogram(), [0.0; 4], Duration::ZERO);
    for record in records {
        if let Some((connection, pings)) = ping.as_mut() {
            let t = Instant::now();
            if redis::cmd("PING").query_async::<String>(&mut **connection).await.is_ok() {
                pings.record(nanos(t.elapsed())).ok();
            }
        }
        let t = Instant::now();
        let result = stage.process(record).await;
        let took = t.elapsed();
        busy += took;
        h.record(nanos(took)).ok();
        match result {
            Ok(out) if out.iter().any(|m| m.topic == Topic::Assignments) => outcome[0] += 1.0,
            Ok(_) => outcome[1] += 1.0,
            Err(_) => outcome[2] += 1.0,
        }
    }
    outcome[3] = records.len() as f64 / busy.as_secs_f64().max(1e-9);
    (h, outcome)
}

/// The decision figures of one store, against its baseline.
fn report(
    figures: &mut Figures,
    store: &str,
    decisions: &Histogram<u64>,
    base: (&str, &Histogram<u64>),
    outcome: [f64; 4],
) {
    quantiles(figures, &format!("{store}: decision"), decisions, 1e3, "µs");
    quantiles(figures, &format!("{store}: {}", base.0), base.1, 1e3, "µs");
    let ratio = decisions.value_at_quantile(0.5) as f64 / base.1.value_at_quantile(0.5).max(1) as f64;
    figures.push((format!("{store}: decision / baseline p50 (x)"), ratio));
    figures.push((format!("{store}: decisions/s (one at a time)"), outcome[3].round()));
    figures.push((format!("{store}: leads assigned"), outcome[0]));
    figures.push((format!("{store}: leads queued (nobody eligible)"), outcome[1]));
    figures.push((format!("{store}: decisions failed"), outcome[2]));
}

fn leads(o: &RoutingBenchOptions, seed: u64) -> Vec<QualifiedLead> {
    let (codes, mut rng) = (countries(), fastrand::Rng::with_seed(seed));
    (0..o.leads).map(|_| lead(&mut rng, o.domains, o.reps_per_domain, &codes)).collect()
}

/// Decision latency on the in-memory store, and its bare store round trip.
async fn latency(o: &RoutingBenchOptions, routing: &SharedRouting, seed: u64, figures: &mut Figures) {
    let leads = leads(o, seed);
    let records: Vec<Record> = leads.iter().enumerate().map(|(i, l)| record(i, l)).collect();
    let stage = RouterStage::new(dispatcher(routing, Arc::new(MemoryStore::new()), Default::default()));
    let (decisions, outcome) = decide_all(&stage, &records, None).await;
    // Baseline: the same leads' roster read and route commit, prebuilt, with no decision between.
    let (store, routes, now) = (MemoryStore::new(), routing.load_full(), Utc::now());
    let inputs: Vec<(&[String], RouteCommit)> = (leads.iter().enumerate())
        .map(|(i, l)| {
            let pool = routes.route(l).expect("configured domain").pool;
            let rep = &pool.reps[i % pool.reps.len()];
            (pool.reps.as_slice(), commit(&l.routing_domain, &pool.name, &l.lead_id.to_string(), rep, &now))
        })
        .collect();
    let mut baseline = histogram();
    for (reps, c) in &inputs {
        let t = Instant::now();
        let roster = store.roster(&c.domain, &c.record.pool, &c.lead_id, reps).await;
        let committed = store.commit_route(c, Duration::from_secs(3600)).await;
        baseline.record(nanos(t.elapsed())).ok();
        assert!(roster.is_ok() && committed.is_ok());
    }
    report(figures, "memory", &decisions, ("baseline roster+commit", &baseline), outcome);
}

/// The same decisions against Redis in a fresh namespace, a `PING` before each as the baseline.
async fn latency_redis(
    o: &RoutingBenchOptions,
    redis: &RedisSettings,
    routing: &SharedRouting,
    seed: u64,
    figures: &mut Figures,
) -> Result<(), Error> {
    let namespace =
        format!("{}:bench-routing-{}", redis.namespace, &Uuid::new_v4().simple().to_string()[..8]);
    let settings = RedisSettings { url: redis.url.clone(), namespace: namespace.clone() };
    let stage =
        RouterStage::new(dispatcher(routing, crate::store::connect(&settings).await?, Default::default()));
    let mut ping = redis::Client::open(redis.url.as_str())?.get_multiplexed_async_connection().await?;
    let records: Vec<Record> =
        (leads(o, seed ^ 0x5ed15).iter().enumerate()).map(|(i, l)| record(i, l)).collect();
    let mut pings = histogram();
    let (decisions, outcome) = decide_all(&stage, &records, Some((&mut ping, &mut pings))).await;
    report(figures, "redis", &decisions, ("baseline PING", &pings), outcome);
    // Leave nothing behind: the namespace is this run's alone.
    let (pattern, mut cursor) = (format!("{namespace}:*"), 0u64);
    loop {
        let scan = redis::cmd("SCAN").arg(cursor).arg(&["MATCH", &pattern, "COUNT", "1000"]).clone();
        let (next, keys): (u64, Vec<String>) = scan.query_async(&mut ping).await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK").arg(&keys).query_async::<()>(&mut ping).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(())
}

/// A first assignment of `lead_id` to `rep`, due in 5 minutes, without caps or cursor.
fn commit(domain: &str, pool: &str, lead_id: &str, rep: &str, now: &chrono::DateTime<Utc>) -> RouteCommit {
    let now_ms = now.timestamp_millis();
    let record = json!({"lead_key": format!("{lead_id}@example.com"), "rep_id": rep, "attempt": 1, "pool": pool,
        "reason": "round_robin", "assigned_ms": now_ms, "due_ms": now_ms + 300_000, "acked": false});
    let (domain, lead_id) = (domain.to_string(), lead_id.to_string());
    let record: RouteRecord = serde_json::from_value(record).expect("a route record");
    let rep_day = now.format("%Y-%m-%d").to_string();
    let caps = Caps::default();
    RouteCommit {
        domain,
        lead_id,
        record,
        rep_day,
        caps,
        cursor: None,
        replaces: None,
        miss: None,
        from_overflow: None,
    }
}

/// Wraps the dispatcher as the timers' escalator: records each escalation's lateness behind its
/// deadline when it starts and when it is done, and which of the armed leads fired.
pub struct LatenessProbe {
    inner: Arc<Dispatcher>,
    started: Mutex<Histogram<u64>>,
    finished: Mutex<Histogram<u64>>,
    seen: Vec<AtomicU64>,
    pub distinct: AtomicUsize,
    pub calls: AtomicUsize,
    pub failures: AtomicUsize,
}

/// Bench lead ids carry their index in the low 32 bits.
const ID_TAG: u128 = 0xbe7c_0000_0000_0000_0000_0000_0000_0000;

fn late_ns(due_ms: i64) -> u64 {
    (Utc::now().timestamp_micros() - due_ms * 1000).max(0) as u64 * 1000
}

#[async_trait]
impl Escalate for LatenessProbe {
    async fn deadline_due(
        &self,
        domain: &str,
        lead_id: &str,
        due_ms: i64,
    ) -> Result<Option<i64>, StageError> {
        self.started.lock().expect("lock").record(late_ns(due_ms)).ok();
        let result = self.inner.deadline_due(domain, lead_id, due_ms).await;
        self.finished.lock().expect("lock").record(late_ns(due_ms)).ok();
        self.calls.fetch_add(1, Relaxed);
        if result.is_err() {
            self.failures.fetch_add(1, Relaxed);
        }
        let index = lead_id.parse::<Uuid>().ok().map(|u| (u.as_u128() & 0xffff_ffff) as usize);
        if let Some(bits) = index.and_then(|i| self.seen.get(i / 64).map(|b| (b, 1u64 << (i % 64)))) {
            if bits.0.fetch_or(bits.1, Relaxed) & bits.1 == 0 {
                self.distinct.fetch_add(1, Relaxed);
            }
        }
        result
    }

    async fn offer_overflow(&self, domain: &str) -> Result<(), StageError> {
        self.inner.offer_overflow(domain).await
    }
}

/// Kilobytes of a `/proc/self/status` line (`VmRSS`, `VmHWM`); 0 where there is no procfs.
fn proc_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// Memory with `deadlines` routes and their timers armed, and how late the escalations fire.
async fn escalations(
    o: &RoutingBenchOptions,
    routing: &SharedRouting,
    figures: &mut Figures,
) -> Result<(), Error> {
    // Runs start in a fresh process with this phase; resetting VmHWM to the current RSS (Linux ≥
    // 4.0, ignored elsewhere) keeps the peak this phase's when it is run otherwise (tests).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = proc_kb("VmRSS");
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let publisher = Arc::new(CountingPublisher::default());
    let dispatcher = dispatcher(routing, store.clone(), publisher.clone());
    let compiled = routing.load_full();
    let domains: Vec<_> = compiled.domains().collect();
    let t0 = Utc::now();
    let (first_due, window) =
        (t0.timestamp_millis() + o.due_after.as_millis() as i64, o.window.as_millis() as i64);
    let mut rng = fastrand::Rng::with_seed(o.seed);
    let started = Instant::now();
    for i in 0..o.deadlines {
        let domain = domains[i % domains.len()];
        let pool = &domain.pools[(i / domains.len()) % 3];
        let rep = &pool.reps[(i / domains.len() / 3) % pool.reps.len()];
        let lead_id = Uuid::from_u128(ID_TAG | i as u128).to_string();
        let mut c = commit(&domain.name, &pool.name, &lead_id, rep, &t0);
        // A 5-minute SLA assigned just under 5 minutes ago: escalated leads' next deadlines fall
        // after the measurement, as they would in steady state.
        c.record.due_ms = first_due + if window > 0 { rng.i64(0..window) } else { 0 };
        c.record.assigned_ms = c.record.due_ms - 300_000;
        store.commit_route(&c, Duration::from_secs(7 * 86_400)).await?;
    }
    let (committed_in, rss_committed) = (started.elapsed(), proc_kb("VmRSS"));
    let probe = Arc::new(LatenessProbe {
        inner: dispatcher.clone(),
        started: Mutex::new(histogram()),
        finished: Mutex::new(histogram()),
        seen: (0..o.deadlines.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        distinct: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
    });
    let names: Vec<String> = domains.iter().map(|d| d.name.clone()).collect();
    let escalator: Arc<dyn Escalate> = probe.clone();
    let timers =
        EscalationTimers::start(names.clone(), store, escalator, TimerSettings::default(), wall_clock())
            .await
            .map_err(|e| Error::Actor(e.to_string()))?;
    let timers = Arc::new(timers);
    dispatcher.report_deadlines_to(timers.clone());
    // A timer answers `pending` once it has loaded its domain's deadlines from the store.
    let (mut armed, give_up) = (None, Instant::now() + Duration::from_secs(60));
    while armed.is_none() && Instant::now() < give_up {
        let mut counts = Vec::new();
        for name in &names {
            counts.extend(timers.pending(name).await);
        }
        armed = (counts.len() == names.len()).then(|| counts.iter().sum::<usize>());
        if armed.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let armed_in = started.elapsed();
    let rss_loaded = proc_kb("VmRSS");
    let last_due = Duration::from_millis((first_due + window - Utc::now().timestamp_millis()).max(0) as u64);
    let give_up = Instant::now() + last_due + Duration::from_secs(30);
    while probe.distinct.load(Relaxed) < o.deadlines && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    timers.stop().await;
    let rss_peak = proc_kb("VmHWM");
    figures.push(("deadlines: committed in (s)".into(), committed_in.as_secs_f64()));
    figures.push(("deadlines: armed in timers".into(), armed.unwrap_or(0) as f64));
    figures.push(("deadlines: timers loaded after (s)".into(), armed_in.as_secs_f64()));
    figures.push(("rss: before (MB)".into(), mb(rss_before)));
    figures.push(("rss: routes committed (MB)".into(), mb(rss_committed)));
    figures.push(("rss: routes + timers loaded (MB)".into(), mb(rss_loaded)));
    figures.push(("rss: added by routes + timers (MB)".into(), mb(rss_loaded.saturating_sub(rss_before))));
    figures.push(("rss: peak during escalations (MB)".into(), mb(rss_peak)));
    quantiles(figures, "escalation: fired late", &probe.started.lock().expect("lock"), 1e6, "ms");
    quantiles(figures, "escalation: done late", &probe.finished.lock().expect("lock"), 1e6, "ms");
    figures.push(("escalation: deadlines fired".into(), probe.distinct.load(Relaxed) as f64));
    figures.push(("escalation: calls (incl. re-armed)".into(), probe.calls.load(Relaxed) as f64));
    figures.push(("escalation: failed".into(), probe.failures.load(Relaxed) as f64));
    figures.push(("escalation: messages published".into(), publisher.messages.load(Relaxed) as f64));
    Ok(())
}

/// One run: memory and escalations, then decision latency (memory, then Redis if configured).
pub async fn run_once(o: &RoutingBenchOptions, run: usize) -> Result<Figures, Error> {
    let routing = rules::shared(
        speedlead_actors::rules::Routing::new(routing_config(o.domains, o.reps_per_domain))
            .map_err(Error::Config)?,
    );
    let mut figures = Figures::new();
    let seed = o.seed.wrapping_add(run as u64);
    // Memory first, so the first run's RSS is a fresh process's.
    escalations(o, &routing, &mut figures).await?;
    latency(o, &routing, seed, &mut figures).await;
    if let Some(redis) = &o.redis {
        latency_redis(o, redis, &routing, seed, &mut figures).await?;
    }
    Ok(figures)
}

/// Per figure, the median over runs (the lower middle one for an even count, as scripts/bench.sh).
pub fn medians(runs: &[Figures]) -> Figures {
    let Some(first) = runs.first() else { return Figures::new() };
    (first.iter().enumerate())
        .map(|(k, (name, _))| {
            let mut values: Vec<f64> = runs.iter().filter_map(|r| r.get(k).map(|f| f.1)).collect();
            values.sort_by(f64::total_cmp);
            (name.clone(), values[(values.len() - 1) / 2])
        })
        .collect()
}

fn value(figures: &Figures, name: &str) -> f64 {
    figures.iter().find(|(n, _)| n == name).map_or(f64::NAN, |f| f.1)
}

/// The three targets against the medians: (target, measured, met).
pub fn targets(median: &Figures) -> Vec<(String, f64, bool)> {
    let rows = [
        ("decision p50 <= 100 µs (memory)", "memory: decision p50 (µs)", 100.0),
        ("peak RSS <= 150 MB, deadlines armed", "rss: peak during escalations (MB)", 150.0),
        ("every escalation fires <= 1 s late (max)", "escalation: fired late max (ms)", 1000.0),
    ];
    rows.iter().map(|(t, f, limit)| (t.to_string(), value(median, f), value(median, f) <= *limit)).collect()
}

/// One run in a fresh process of this binary (`bench-routing --in-process`), so that every run's
/// RSS starts from a clean heap rather than from what earlier runs left to the allocator.
async fn run_child(o: &RoutingBenchOptions, run: usize) -> Result<Figures, Error> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    if let Some(redis) = &o.redis {
        command.args(["--redis", &redis.url]).env("SPEEDLEAD_REDIS__NAMESPACE", &redis.namespace);
    }
    let (leads, deadlines, seed) = (o.leads.to_string(), o.deadlines.to_string(), o.seed + run as u64);
    command.args(["bench-routing", "--in-process", "--leads", &leads, "--deadlines", &deadlines]);
    let output =
        command.args(["--seed", &seed.to_string()]).stderr(std::process::Stdio::inherit()).output().await?;
    let failed = |why: String| Error::Actor(format!("bench-routing run {}: {why}", run + 1));
    if !output.status.success() {
        return Err(failed(output.status.to_string()));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(e.to_string()))
}

/// Runs `o.runs` times, each in a fresh process, and prints each run, the medians and the targets
/// (as a table, or JSON). `in_process`: one run here, its figures printed for the parent to read.
pub async fn run(o: RoutingBenchOptions, json: bool, in_process: bool) -> Result<(), Error> {
    if in_process {
        let figures = run_once(&o, 0).await?;
        println!("{}", serde_json::to_string(&figures).expect("figures serialize"));
        return Ok(());
    }
    let store = if o.redis.is_some() { "in-process MemoryStore and Redis" } else { "in-process MemoryStore" };
    eprintln!(
        "speedlead bench-routing: {} domains x {} reps, {} leads, {} deadlines due {:?}+{:?}, {} runs, {store}",
        o.domains, o.reps_per_domain, o.leads, o.deadlines, o.due_after, o.window, o.runs
    );
    let mut runs = Vec::new();
    for run in 0..o.runs.max(1) {
        eprintln!("run {} of {}…", run + 1, o.runs.max(1));
        runs.push(run_child(&o, run).await?);
    }
    let median = medians(&runs);
    let targets = targets(&median);
    if json {
        let object = |f: &Figures| {
            serde_json::Value::Object(f.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect())
        };
        let out = serde_json::json!({
            "domains": o.domains, "reps": o.domains * o.reps_per_domain, "leads": o.leads, "deadlines": o.deadlines,
            "runs": runs.iter().map(object).collect::<Vec<_>>(), "median": object(&median),
            "targets": targets.iter().map(|(t, v, met)| serde_json::json!({"target": t, "measured": v, "met": met})).collect::<Vec<_>>(),
        });
        println!("{out:#}");
        return Ok(());
    }
    print!("{:<44}", "figure");
    (1..=runs.len()).for_each(|r| print!(" {:>10}", format!("run {r}")));
    println!(" {:>10}", "median");
    for (k, (name, m)) in median.iter().enumerate() {
        print!("{name:<44}");
        runs.iter().for_each(|r| print!(" {:>10.2}", r[k].1));
        println!(" {m:>10.2}");
    }
    for (target, measured, met) in targets {
        println!("target {target}: {measured:.2} {}", if met { "met" } else { "NOT met" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tiny_run_decides_and_fires_every_deadline() {
        let o = RoutingBenchOptions {
            domains: 2,
            reps_per_domain: 10,
            leads: 50,
            deadlines: 100,
            runs: 1,
            due_after: Duration::ZERO,
            window: Duration::ZERO,
            ..Default::default()
        };
        let figures = run_once(&o, 0).await.expect("bench runs");
        assert_eq!(value(&figures, "memory: decisions failed"), 0.0);
        let decided = value(&figures, "memory: leads assigned")
            + value(&figures, "memory: leads queued (nobody eligible)");
        assert_eq!(decided, 50.0);
        assert!(value(&figures, "memory: leads assigned") > 0.0, "{figures:?}");
        assert_eq!(value(&figures, "escalation: deadlines fired"), 100.0, "{figures:?}");
        assert_eq!(value(&figures, "escalation: failed"), 0.0);
        assert!(value(&figures, "rss: routes + timers loaded (MB)") > 0.0);
        assert_eq!(medians(std::slice::from_ref(&figures)), figures);
        assert_eq!(targets(&figures).len(), 3);
    }
}
