//! `speedlead demo`: feeds sample leads through the running pipeline and prints every assignment as
//! it arrives, so a newcomer sees speedlead work with one command.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use speedlead_actors::ports::{Outbound, Publisher};
use speedlead_topics::{Assignment, Contact, DeadLetter, Envelope, Topic};
use uuid::Uuid;

use crate::config::Settings;
use crate::error::Error;
use crate::kafka::publisher::KafkaPublisher;
use crate::kafka::{client, TopicNames};
use crate::sample::{captured, SampleLeads};

pub struct DemoOptions {
    pub leads: usize,
    pub interval: Duration,
    pub seed: u64,
}

/// What a demo run saw.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub sent: usize,
    pub assigned: BTreeMap<Uuid, String>,
    pub dead_lettered: usize,
    pub per_rep: BTreeMap<String, usize>,
    pub capture_to_assign_ms: Vec<f64>,
}

impl DemoReport {
    pub fn lost(&self) -> usize {
        self.sent - self.assigned.len() - self.dead_lettered
    }
}

/// Sends `options.leads` sample leads plus one invalid lead, and waits until each is assigned or
/// dead-lettered (or the wait times out).
pub async fn run(settings: &Settings, brokers: &str, options: DemoOptions) -> Result<DemoReport, Error> {
    let names = TopicNames::new(&settings.kafka.topic_prefix);
    let reader = assigned_reader(settings, brokers, &names, &[Topic::Assignments, Topic::Dlq])?;
    let publisher = KafkaPublisher::new(&client::producer(&settings.kafka, brokers), names.clone())?;
    let source = format!("demo-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut samples = SampleLeads::new(options.seed, source.clone());

    let mut leads = Vec::new();
    for i in 0..options.leads {
        // One lead without any contact shows where bad input goes.
        if i == options.leads / 2 {
            let mut bad = samples.next_lead();
            bad.contact = Contact { name: Some("No Contact Given".into()), ..Default::default() };
            leads.push(bad);
        }
        leads.push(samples.next_lead());
    }
    println!(
        "sending {} leads from source '{source}' ({} ms apart)…",
        leads.len(),
        options.interval.as_millis()
    );

    let mut expected = HashMap::new();
    let mut report = DemoReport { sent: leads.len(), ..DemoReport::default() };
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(30) + options.interval * leads.len() as u32;
    let mut queue = leads.into_iter().enumerate();
    let mut next_send = tokio::time::Instant::now();
    while report.assigned.len() + report.dead_lettered < report.sent {
        tokio::select! {
            _ = tokio::time::sleep_until(next_send), if queue.len() > 0 => {
                if let Some((i, lead)) = queue.next() {
                    // Captured now, as the gateway would stamp it.
                    let (key, envelope) = captured(lead);
                    expected.insert(envelope.correlation_id, (i + 1, envelope.payload.contact.clone()));
                    let payload = serde_json::to_vec(&envelope).expect("envelopes serialize");
                    let message = Outbound { topic: Topic::Inbound, key, payload };
                    publisher.publish(vec![message]).await.map_err(|e| Error::Config(e.to_string()))?;
                }
                next_send += options.interval;
            }
            message = reader.recv() => {
                let message = message?;
                let Some(payload) = message.payload() else { continue };
                if message.topic() == names.name(Topic::Dlq) {
                    let Ok(letter) = serde_json::from_slice::<Envelope<DeadLetter>>(payload) else { continue };
                    if let Some((n, _)) = expected.get(&letter.correlation_id) {
                        report.dead_lettered += 1;
                        println!("  #{n:02}  {:<38} → leads.dlq ({})", "(invalid lead)", letter.payload.detail);
                    }
                    continue;
                }
                let Ok(assignment) = serde_json::from_slice::<Envelope<Assignment>>(payload) else { continue };
                let Some((n, contact)) = expected.get(&assignment.correlation_id) else { continue };
                let a = &assignment.payload;
                // Keyed by capture: a returning person's capture is assigned under their lead's id.
                if report.assigned.insert(assignment.correlation_id, a.rep_id.clone()).is_none() {
                    *report.per_rep.entry(a.rep_id.clone()).or_default() += 1;
                    let hops = &assignment.hops;
                    let ms = match (hops.captured_at, hops.assigned_at) {
                        (Some(c), Some(a)) => (a - c).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                        _ => f64::NAN,
                    };
                    report.capture_to_assign_ms.push(ms);
                    let who = contact.email.clone().or(contact.phone.clone()).unwrap_or_default();
                    let country = contact.country.clone().unwrap_or_default();
                    let owner = format!("{}/{}", a.routing_domain, a.rep_id);
                    let why = &a.reason;
                    println!("  #{n:02}  {who:<34} {country:<3} → {owner:<10} {why:<15} {ms:>6.1} ms after capture");
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    print_summary(&report);
    Ok(report)
}

fn print_summary(report: &DemoReport) {
    let mut ms = report.capture_to_assign_ms.clone();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms.get(((ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    println!(
        "\n{} sent: {} assigned, {} dead-lettered, {} lost; captured→assigned p50 {:.1} ms, p99 {:.1} ms",
        report.sent,
        report.assigned.len(),
        report.dead_lettered,
        report.lost(),
        pct(0.5),
        pct(0.99)
    );
    let reps: Vec<String> = report.per_rep.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!("per rep: {}", reps.join(", "));
}

/// A consumer outside any group reading every partition of `topics` from the beginning.
pub fn assigned_reader(
    settings: &Settings,
    brokers: &str,
    names: &TopicNames,
    topics: &[Topic],
) -> Result<StreamConsumer, Error> {
    let topics: Vec<String> = topics.iter().map(|t| names.name(*t)).collect();
    reader_of(settings, brokers, &topics)
}

/// A consumer assigned every partition of the named topics, from the beginning.
pub fn reader_of(settings: &Settings, brokers: &str, topics: &[String]) -> Result<StreamConsumer, Error> {
    let reader: StreamConsumer = client::reader(&settings.kafka, brokers).create()?;
    let mut list = TopicPartitionList::new();
    for name in topics {
        let metadata = reader.fetch_metadata(Some(name), Duration::from_secs(10))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                list.add_partition_offset(name, p.id(), Offset::Beginning)?;
            }
        }
    }
    reader.assign(&list)?;
    Ok(reader)
}
