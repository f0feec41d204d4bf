//! `speedlead simulate`: replays past leads through a changed rule set and reports how their
//! assignments would differ, per rep and per pool, without touching live state (no Kafka, no Redis).
//!
//! Input is a dump of `leads.events` (JSON lines, one envelope each, as `kcat` or
//! `kafka-console-consumer` print them). Per lead, its first `assigned` event with attempt 1 is what
//! really happened ("before"), and the last `qualified` event before it is the lead the router saw;
//! a lead never assigned counts as `(queued)` before. Blank lines, lines that are not JSON and JSON
//! that is not a lead event are counted and reported, never fatal.
//!
//! The replay runs the real router stage on an in-memory store, lead by lead in the order they were
//! qualified, with the decision clock set to each lead's `qualified` time: working hours, holidays,
//! out-of-office and daily caps (per rep-local day) apply as they would have then. The lead's
//! routing domain is decided afresh by the new rules (a rule of another domain may claim it), except
//! that the domain of a rep who already owns the person or the account wins, as in intake.
//!
//! What a replay cannot know: nothing is acknowledged or closed in it, so each lead is released
//! right after its decision and open-lead caps (`max_open`) never bind (otherwise they would only
//! ever fill up); every rep counts as available (statuses are live state); escalations are not
//! replayed, so only first assignments are compared.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use speedlead_actors::ack_token::AckSigner;
use speedlead_actors::dispatch::{DispatchSettings, Dispatcher};
use speedlead_actors::ports::{Outbound, PublishError, Publisher, Record};
use speedlead_actors::router::RouterStage;
use speedlead_actors::routing_store::RoutingStore;
use speedlead_actors::rules::{shared, Routing};
use speedlead_actors::stage::Stage;
use speedlead_actors::store::MemoryStore;
use speedlead_topics::{Assignment, Envelope, LeadEvent, QualifiedLead, Topic};
use uuid::Uuid;

use crate::routing_reload::load_file;
use crate::Error;

/// The "rep" of a lead nobody took: it waited in an overflow queue (or was never assigned).
pub const QUEUED: &str = "(queued)";
/// How many changed leads the text report lists.
pub const SHOWN_CHANGES: usize = 20;

#[derive(Debug, Clone)]
pub struct Options {
    /// The routing rules to replay through (the reloadable rules file's format).
    pub rules: PathBuf,
    /// `leads.events` as JSON lines.
    pub events: PathBuf,
}

/// Lines of the events file that were not lead events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub blank: usize,
    pub not_json: usize,
    /// JSON, but not an envelope of a lead event (another topic's message, a newer schema).
    pub not_lead_event: usize,
}

impl Skipped {
    pub fn total(&self) -> usize {
        self.blank + self.not_json + self.not_lead_event
    }
}

/// One lead as the events tell it.
#[derive(Debug, Clone, Default)]
pub struct PastLead {
    /// The last `qualified` event before the first assignment (the last one, if never assigned).
    pub qualified: Option<Envelope<QualifiedLead>>,
    /// The first `assigned` event with attempt 1.
    pub before: Option<Assignment>,
}

/// The events file, read and paired per lead.
#[derive(Debug, Clone, Default)]
pub struct PastEvents {
    pub lines: usize,
    pub events: usize,
    pub skipped: Skipped,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Per lead id, in order of first appearance.
    pub leads: Vec<(Uuid, PastLead)>,
}

/// Where a lead went (or would go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Assigned { rep: String, domain: String, pool: String, rule: Option<String>, reason: String },
    Queued { rule: Option<String> },
}

impl Outcome {
    pub fn rep(&self) -> &str {
        match self {
            Outcome::Assigned { rep, .. } => rep,
            Outcome::Queued { .. } => QUEUED,
        }
    }

    /// `domain/pool` of an assignment.
    fn pool(&self) -> Option<String> {
        match self {
            Outcome::Assigned { domain, pool, .. } => Some(format!("{domain}/{pool}")),
            Outcome::Queued { .. } => None,
        }
    }

    fn of(a: &Assignment) -> Self {
        let audit_pool = a.audit.as_ref().map(|audit| audit.pool.as_str()).filter(|p| !p.is_empty());
        let pool = if a.pool.is_empty() { audit_pool.unwrap_or("?") } else { &a.pool };
        Outcome::Assigned {
            rep: a.rep_id.clone(),
            domain: a.routing_domain.clone(),
            pool: pool.to_string(),
            rule: a.audit.as_ref().and_then(|audit| audit.rule.clone()),
            reason: a.reason.clone(),
        }
    }
}

/// One lead replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub lead_id: Uuid,
    pub before: Outcome,
    pub after: Outcome,
}

/// One row of a before/after table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub before: usize,
    pub after: usize,
    pub delta: i64,
}

/// A lead whose rep would change; `rule` and `reason` are the new decision's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub lead_id: Uuid,
    pub before: String,
    pub after: String,
    pub rule: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rules_file: String,
    pub events_file: String,
    pub lines: usize,
    pub events: usize,
    pub skipped: Skipped,
    pub leads_replayed: usize,
    /// Leads assigned without a `qualified` event before: nothing to replay, left out of the counts.
    pub not_replayable: usize,
    pub first_event: Option<DateTime<Utc>>,
    pub last_event: Option<DateTime<Utc>>,
    /// By rep id, then `(queued)`.
    pub reps: Vec<Count>,
    /// Assignments by `domain/pool`.
    pub pools: Vec<Count>,
    /// Every lead whose rep changed, in replay order.
    pub changes: Vec<Change>,
}

/// Loads the rules (every problem named), reads the events, replays them and reports.
pub async fn run(options: &Options, signer: AckSigner) -> Result<Report, Error> {
    let routing = load_file(&options.rules).map_err(Error::Config)?;
    let file = std::fs::File::open(&options.events)
        .map_err(|e| Error::Config(format!("events file {}: cannot read: {e}", options.events.display())))?;
    let past = read_events(std::io::BufReader::new(file))?;
    let replayed = replay(routing, &past, signer).await?;
    Ok(report(options, &past, &replayed))
}

/// Reads `leads.events` JSON lines and pairs each lead's first assignment with what the router saw.
pub fn read_events(mut input: impl BufRead) -> std::io::Result<PastEvents> {
    let mut past = PastEvents::default();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    let mut line = Vec::new();
    while input.read_until(b'\n', &mut line)? > 0 {
        past.lines += 1;
        let text = line.trim_ascii();
        let parsed = serde_json::from_slice::<serde_json::Value>(text)
            .map(|v| serde_json::from_value::<Envelope<LeadEvent>>(v).ok());
        match parsed {
            _ if text.is_empty() => past.skipped.blank += 1,
            Err(_) => past.skipped.not_json += 1,
            Ok(None) => past.skipped.not_lead_event += 1,
            Ok(Some(envelope)) => take(&mut past, &mut index, envelope),
        }
        line.clear();
    }
    Ok(past)
}

fn take(past: &mut PastEvents, index: &mut HashMap<Uuid, usize>, envelope: Envelope<LeadEvent>) {
    past.events += 1;
    let at = envelope.occurred_at;
    past.first = Some(past.first.map_or(at, |t| t.min(at)));
    past.last = Some(past.last.map_or(at, |t| t.max(at)));
    let lead_id = match &envelope.payload {
        LeadEvent::Qualified(lead) => lead.lead_id,
        LeadEvent::Assigned(a) if a.attempt == 1 => a.lead_id,
        _ => return,
    };
    let k = *index.entry(lead_id).or_insert_with(|| {
        past.leads.push((lead_id, PastLead::default()));
        past.leads.len() - 1
    });
    let lead = &mut past.leads[k].1;
    if lead.before.is_some() {
        return;
    }
    let Envelope { id, event_type, occurred_at, schema_version, correlation_id, hops, payload } = envelope;
    match payload {
        LeadEvent::Qualified(q) => {
            let payload = *q;
            lead.qualified =
                Some(Envelope { id, event_type, occurred_at, schema_version, correlation_id, hops, payload })
        }
        LeadEvent::Assigned(a) => lead.before = Some(*a),
        _ => {}
    }
}

/// Nothing is published on the first-assignment path (the router returns its messages).
struct NoPublisher;

#[async_trait]
impl Publisher for NoPublisher {
    async fn publish(&self, _messages: Vec<Outbound>) -> Result<(), PublishError> {
        Ok(())
    }
}

/// Replays every lead that has a `qualified` event through `routing`, in `qualified` time order.
pub async fn replay(routing: Routing, past: &PastEvents, signer: AckSigner) -> Result<Vec<Replayed>, Error> {
    let store = Arc::new(MemoryStore::new());
    let now = Arc::new(AtomicI64::new(0));
    let clock = now.clone();
    let settings = DispatchSettings {
        decision_ttl: Duration::from_secs(86_400 * 30),
        token_ttl: Duration::from_secs(86_400),
    };
    let routing = shared(routing);
    let dispatcher = Dispatcher::new(routing.clone(), store.clone(), Arc::new(NoPublisher), signer, settings)
        .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    let router = RouterStage::new(Arc::new(dispatcher));
    let routing = routing.load_full();

    let mut leads: Vec<(&Envelope<QualifiedLead>, &PastLead)> =
        past.leads.iter().filter_map(|(_, lead)| Some((lead.qualified.as_ref()?, lead))).collect();
    leads.sort_by_key(|(q, _)| q.occurred_at);
    let mut replayed = Vec::with_capacity(leads.len());
    for (offset, (qualified, lead)) in leads.into_iter().enumerate() {
        let mut envelope = qualified.clone();
        envelope.payload.routing_domain = domain_for(&routing, &envelope.payload);
        now.store(envelope.occurred_at.timestamp_millis(), Ordering::SeqCst);
        let record = Record {
            topic: "leads.qualified".into(),
            partition: 0,
            offset: offset as i64,
            key: Some(envelope.payload.lead_key.clone().into_bytes()),
            payload: Some(serde_json::to_vec(&envelope).expect("envelopes serialize")),
            timestamp_ms: Some(envelope.occurred_at.timestamp_millis()),
            headers: Vec::new(),
        };
        let lead_id = envelope.payload.lead_id;
        let messages = (router.process(&record).await)
            .map_err(|e| Error::Actor(format!("replaying lead {lead_id}: {e}")))?;
        let after = outcome(&messages).ok_or_else(|| {
            Error::Actor(format!("replaying lead {lead_id}: the router neither assigned nor queued it"))
        })?;
        if let Outcome::Assigned { domain, .. } = &after {
            store.release(domain, &lead_id.to_string()).await?;
        }
        let before = lead.before.as_ref().map_or(Outcome::Queued { rule: None }, Outcome::of);
        replayed.push(Replayed { lead_id, before, after });
    }
    Ok(replayed)
}

/// The lead's domain under `routing`: that of a rep who owns the person or the account, else the
/// first matching rule's, else by country.
fn domain_for(routing: &Routing, lead: &QualifiedLead) -> String {
    let merge_owner = lead.merge.as_ref().and_then(|m| m.owner.as_deref());
    let account_owner = lead.account.as_ref().and_then(|a| a.owner.as_deref());
    let owned = [merge_owner, account_owner].into_iter().flatten().find_map(|rep| routing.domain_of_rep(rep));
    owned.unwrap_or_else(|| routing.domain_for_lead(lead)).to_string()
}

/// The decision in the router's messages: an assignment, or `lead.queued` (overflow).
fn outcome(messages: &[Outbound]) -> Option<Outcome> {
    for m in messages {
        match m.topic {
            Topic::Assignments => {
                let envelope: Envelope<Assignment> = serde_json::from_slice(&m.payload).ok()?;
                return Some(Outcome::of(&envelope.payload));
            }
            Topic::Events => {
                if let Ok(Envelope { payload: LeadEvent::Queued(q), .. }) = serde_json::from_slice(&m.payload)
                {
                    return Some(Outcome::Queued { rule: q.audit.rule.clone() });
                }
            }
            _ => {}
        }
    }
    None
}

/// Counts per rep and pool, and the leads whose rep changed.
pub fn report(options: &Options, past: &PastEvents, replayed: &[Replayed]) -> Report {
    let mut reps: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut pools: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut changes = Vec::new();
    for r in replayed {
        reps.entry(r.before.rep().to_string()).or_default().0 += 1;
        reps.entry(r.after.rep().to_string()).or_default().1 += 1;
        if let Some(pool) = r.before.pool() {
            pools.entry(pool).or_default().0 += 1;
        }
        if let Some(pool) = r.after.pool() {
            pools.entry(pool).or_default().1 += 1;
        }
        if r.before.rep() != r.after.rep() {
            let (rule, reason) = match &r.after {
                Outcome::Assigned { rule, reason, .. } => (rule.clone(), reason.clone()),
                Outcome::Queued { rule } => (rule.clone(), "queued".to_string()),
            };
            let (before, after) = (r.before.rep().to_string(), r.after.rep().to_string());
            changes.push(Change { lead_id: r.lead_id, before, after, rule, reason });
        }
    }
    // `(queued)` last, whatever the rep ids.
    let queued = reps.remove(QUEUED).unwrap_or_default();
    let mut reps = rows(reps);
    reps.extend(rows([(QUEUED.to_string(), queued)].into()));
    let not_replayable =
        past.leads.iter().filter(|(_, l)| l.qualified.is_none() && l.before.is_some()).count();
    Report {
        rules_file: options.rules.display().to_string(),
        events_file: options.events.display().to_string(),
        lines: past.lines,
        events: past.events,
        skipped: past.skipped,
        leads_replayed: replayed.len(),
        not_replayable,
        first_event: past.first,
        last_event: past.last,
        reps,
        pools: rows(pools),
        changes,
    }
}

fn rows(counts: BTreeMap<String, (usize, usize)>) -> Vec<Count> {
    (counts.into_iter())
        .map(|(name, (before, after))| Count { name, before, after, delta: after as i64 - before as i64 })
        .collect()
}

/// The report as text: header, per rep, per pool, then the first [`SHOWN_CHANGES`] changed leads.
pub fn print(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let r = report;
    writeln!(out, "speedlead simulate: {} leads replayed through {}", r.leads_replayed, r.rules_file)?;
    let span = match (r.first_event, r.last_event) {
        (Some(first), Some(last)) => {
            let f = "%Y-%m-%d %H:%M:%S UTC";
            format!("from {} to {} ({})", first.format(f), last.format(f), humane(last - first))
        }
        _ => "none".to_string(),
    };
    writeln!(out, "events: {} ({} lines, {} lead events) {span}", r.events_file, r.lines, r.events)?;
    let s = r.skipped;
    writeln!(
        out,
        "skipped lines: {} ({} blank, {} not JSON, {} not a lead event)",
        s.total(),
        s.blank,
        s.not_json,
        s.not_lead_event
    )?;
    if r.not_replayable > 0 {
        writeln!(out, "not replayed: {} assigned leads without a qualified event", r.not_replayable)?;
    }
    writeln!(out, "replay: in memory, at each lead's qualified time (working hours and daily caps apply);")?;
    writeln!(out, "  each lead is released after its decision, so open-lead caps never bind; every rep")?;
    writeln!(out, "  counts as available; only first assignments are compared (no escalations)")?;
    table(out, "rep", &r.reps)?;
    table(out, "pool", &r.pools)?;
    writeln!(out)?;
    writeln!(out, "leads whose rep changed: {} of {}", r.changes.len(), r.leads_replayed)?;
    for c in r.changes.iter().take(SHOWN_CHANGES) {
        let rule = c.rule.as_deref().unwrap_or("no rule");
        writeln!(out, "  {}: {} → {} ({rule}, {})", c.lead_id, c.before, c.after, c.reason)?;
    }
    if r.changes.len() > SHOWN_CHANGES {
        writeln!(out, "  … and {} more (--json lists them all)", r.changes.len() - SHOWN_CHANGES)?;
    }
    Ok(())
}

fn table(out: &mut impl Write, what: &str, rows: &[Count]) -> std::io::Result<()> {
    let width = rows.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).max(what.len());
    writeln!(out)?;
    writeln!(out, "{what:<width$}  {:>6}  {:>6}  {:>6}", "before", "after", "delta")?;
    for c in rows {
        let delta = if c.delta == 0 { "0".to_string() } else { format!("{:+}", c.delta) };
        writeln!(out, "{:<width$}  {:>6}  {:>6}  {delta:>6}", c.name, c.before, c.after)?;
    }
    Ok(())
}

fn humane(span: chrono::TimeDelta) -> String {
    let mins = span.num_minutes();
    match mins {
        _ if mins < 1 => format!("{} s", span.num_seconds()),
        _ if mins < 60 => format!("{mins} min"),
        _ if mins < 48 * 60 => format!("{} h {} min", mins / 60, mins % 60),
        _ => format!("{} days {} h", mins / 1440, mins % 1440 / 60),
    }
}

/// The report as pretty JSON.
pub fn print_json(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
