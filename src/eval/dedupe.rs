//! How well does dedupe match? Runs the real person and account matching, through a real
//! [`Store`], over a labelled stream ([`data`]) in order, as intake would, and counts every match
//! decision against the truth.
//!
//! Counting is pairwise on decisions: a record either joins an existing lead/account or starts a
//! new one. Joining one started by the same true person/account is a true positive, joining another
//! a false positive; starting a new one when the truth was already seen is a false negative (a
//! wrong join is also one). The lead/account is judged by the record that started it, so one wrong
//! join is counted once, not again for every later record that joins the polluted lead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use hdrhistogram::Histogram;
use speedlead_actors::account::{AccountMatcher, AccountQuery};
use speedlead_actors::dedupe::{apply_capture, find_returning, save, Capture};
use speedlead_actors::normalize::normalize_email;
use speedlead_actors::store::Store;
use speedlead_topics::Contact;
use uuid::Uuid;

#[path = "dedupe_data.rs"]
pub mod data;

/// Long enough that nothing expires during a run.
const TTL: Duration = Duration::from_secs(86_400);

/// Outcomes of match decisions against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// New leads/accounts for truths not seen before: correct, but not matches.
    pub true_negatives: u64,
}

impl Confusion {
    /// Of the joins made, the share that were right (1 when none was made).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// Of the joins that should have been made, the share that were (1 when none was due).
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Counts one decision: `joined` names the truth of the lead/account joined, `None` for a new
    /// one; `seen` says whether the record's truth had appeared before.
    fn count<T: PartialEq>(&mut self, truth: &T, joined: Option<&T>, seen: bool) {
        match joined {
            Some(joined) if joined == truth => self.true_positives += 1,
            Some(_) => {
                self.false_positives += 1;
                self.false_negatives += u64::from(seen);
            }
            None if seen => self.false_negatives += 1,
            None => self.true_negatives += 1,
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Percentiles of one kind of store lookup, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1_000.0;
        Latency {
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DedupeReport {
    pub seed: u64,
    pub records: usize,
    pub people: usize,
    /// True accounts the records belong to.
    pub accounts: usize,
    pub person: Confusion,
    pub account: Confusion,
    /// Per duplicate variant (`LabelledRecord::contact_kind`): (joined the right lead, due a join).
    pub person_recall_by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// Per company-name variant: (joined the right account, due a join).
    pub account_recall_by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// Records for which neither a company name nor a corporate domain was given: no decision.
    pub without_account: usize,
    /// `Store::find_person`, one per record.
    pub person_lookup: Latency,
    /// `Store::find_accounts`, one per record with a company.
    pub account_lookup: Latency,
}

/// Generates the data set for `people` people from `seed` and runs it through `store`, which must
/// hold no dedupe state yet (a fresh `MemoryStore`, or a Redis namespace of its own).
///
/// Panics when the store fails: an evaluation with holes in it would measure nothing.
pub async fn evaluate(store: Arc<dyn Store>, seed: u64, people: usize) -> DedupeReport {
    let records = data::generate(seed, people);
    let matcher = AccountMatcher::default();
    let new_histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let (mut person_lookups, mut account_lookups) = (new_histogram(), new_histogram());
    let mut report = DedupeReport {
        seed,
        records: records.len(),
        people,
        accounts: records.iter().map(|r| r.account).collect::<HashSet<_>>().len(),
        person: Confusion::default(),
        account: Confusion::default(),
        person_recall_by_kind: BTreeMap::new(),
        account_recall_by_kind: BTreeMap::new(),
        without_account: 0,
        person_lookup: Latency::default(),
        account_lookup: Latency::default(),
    };
    // Who started each lead / account, and which truths have been seen.
    let mut lead_started_by: HashMap<Uuid, usize> = HashMap::new();
    let mut account_started_by: HashMap<String, usize> = HashMap::new();
    let (mut people_seen, mut accounts_seen) = (HashSet::new(), HashSet::new());
    let start = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();

    for (i, labelled) in records.iter().enumerate() {
        let contact = normalized(&labelled.contact);
        let capture = Capture {
            source: labelled.source,
            event_id: &labelled.event_id,
            contact: &contact,
            routing_domain: "eval",
            at: start + chrono::Duration::seconds(i as i64),
        };

        let timer = Instant::now();
        let existing = find_returning(&*store, &capture).await.expect("find_person");
        record_elapsed(&mut person_lookups, timer);
        let (mut person, merge) = apply_capture(existing, &capture);
        let joined = merge.as_ref().map(|m| lead_started_by[&m.into_lead_id]);
        let seen = !people_seen.insert(labelled.person);
        report.person.count(&labelled.person, joined.as_ref(), seen);
        if seen {
            let kind = report.person_recall_by_kind.entry(labelled.contact_kind).or_default();
            *kind = (kind.0 + u64::from(joined == Some(labelled.person)), kind.1 + 1);
        }
        lead_started_by.entry(person.lead_id).or_insert(labelled.person);

        match AccountQuery::of(contact.company.as_deref(), contact.email.as_deref()) {
            None => report.without_account += 1,
            Some(query) => {
                let block = query.block();
                let timer = Instant::now();
                let candidates =
                    store.find_accounts(query.domain.as_deref(), &block, TTL).await.expect("find_accounts");
                record_elapsed(&mut account_lookups, timer);
                let decision = matcher.decide(&query, &candidates);
                if let Some(account) = &decision.save {
                    store.save_account(account, &block, TTL).await.expect("save_account");
                }
                let account_id = decision.matched.account_id;
                let joined = (decision.matched.matched_by != "new").then(|| account_started_by[&account_id]);
                let seen = !accounts_seen.insert(labelled.account);
                report.account.count(&labelled.account, joined.as_ref(), seen);
                if seen {
                    let kind = report.account_recall_by_kind.entry(labelled.company_kind).or_default();
                    *kind = (kind.0 + u64::from(joined == Some(labelled.account)), kind.1 + 1);
                }
                account_started_by.entry(account_id.clone()).or_insert(labelled.account);
                person.account_id = Some(account_id);
            }
        }
        save(&*store, &person, TTL).await.expect("save_person");
    }
    report.person_lookup = Latency::of(&person_lookups);
    report.account_lookup = Latency::of(&account_lookups);
    report
}

/// The contact as intake hands it on: email normalized (dropped when unusable), phone as given
/// (the generator writes E.164 already).
fn normalized(contact: &Contact) -> Contact {
    Contact { email: contact.email.as_deref().and_then(|e| normalize_email(e).ok()), ..contact.clone() }
}

fn record_elapsed(histogram: &mut Histogram<u64>, since: Instant) {
    histogram.saturating_record(since.elapsed().as_nanos().clamp(1, u64::MAX as u128) as u64);
}

fn recall_by_kind(f: &mut fmt::Formatter<'_>, kinds: &BTreeMap<&'static str, (u64, u64)>) -> fmt::Result {
    let parts: Vec<String> = kinds.iter().map(|(kind, (hit, due))| format!("{kind} {hit}/{due}")).collect();
    writeln!(f, "    recall by variant: {}", parts.join(", "))
}

impl fmt::Display for DedupeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dedupe evaluation (seed {}): {} records of {} people at {} accounts",
            self.seed, self.records, self.people, self.accounts
        )?;
        for (what, c) in [("person", &self.person), ("account", &self.account)] {
            writeln!(
                f,
                "  {what:<7}  precision {:.4}  recall {:.4}  (tp {}, fp {}, fn {}, new {})",
                c.precision(),
                c.recall(),
                c.true_positives,
                c.false_positives,
                c.false_negatives,
                c.true_negatives
            )?;
            recall_by_kind(
                f,
                if what == "person" { &self.person_recall_by_kind } else { &self.account_recall_by_kind },
            )?;
        }
        writeln!(f, "  records without a company: {}", self.without_account)?;
        for (what, l) in [("find_person", &self.person_lookup), ("find_accounts", &self.account_lookup)] {
            writeln!(
                f,
                "  {what:<13}  p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs",
                l.p50_us, l.p99_us, l.max_us
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "dedupe_tests.rs"]
mod tests;
