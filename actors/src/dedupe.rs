//! Person dedupe: recognising a returning person by email or phone and merging their new capture
//! into the lead they already have, without losing any value either capture carried.
//!
//! Matching is deterministic, never fuzzy: a person is the same person when a normalized email
//! ([`match_email_key`]) or an E.164 phone is the same. Names are not used — two "John Smith"s are
//! common, and merging two people's leads hands one person's history to another's rep, which is
//! worse than missing a duplicate.
//!
//! The flow: [`find_returning`] (one store round trip) → [`apply_capture`] (pure) → [`save`]
//! (one round trip). Intake sees all captures of one email in order (the lead key partitions by
//! email), so a read-merge-save cannot race with itself for a person identified by email.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use speedlead_topics::{Contact, FieldChange, Merge, QualifiedLead};
use uuid::Uuid;

use crate::store::{Store, StoreError, StoredPerson};

/// How a mail provider folds address variants into one mailbox.
struct MailboxRule {
    domains: &'static [&'static str],
    /// The domain all of `domains` deliver to as one mailbox, when they are aliases of each other.
    same_mailbox_as: Option<&'static str>,
    /// Dots in the local part are ignored (`a.na@` = `ana@`).
    ignores_dots: bool,
    /// Everything from this character on in the local part is a tag (`ana+news@` = `ana@`).
    tag_separator: char,
}

/// Providers whose address variants are documented to reach one mailbox. Only these are folded:
/// anywhere else (corporate domains above all) `ana+x@` and `a.na@` may be different people.
/// Yahoo's `-` is its disposable-address separator; Yahoo ids cannot contain `-` themselves.
const MAILBOX_RULES: &[MailboxRule] = &[
    MailboxRule {
        domains: &["gmail.com", "googlemail.com"],
        same_mailbox_as: Some("gmail.com"),
        ignores_dots: true,
        tag_separator: '+',
    },
    MailboxRule {
        domains: &[
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.co.uk",
            "hotmail.fr",
            "hotmail.de",
            "hotmail.it",
            "hotmail.es",
            "outlook.de",
            "outlook.fr",
            "live.co.uk",
            "live.fr",
        ],
        same_mailbox_as: None,
        ignores_dots: false,
        tag_separator: '+',
    },
    MailboxRule {
        domains: &["icloud.com", "me.com", "mac.com"],
        same_mailbox_as: None,
        ignores_dots: false,
        tag_separator: '+',
    },
    MailboxRule {
        domains: &["fastmail.com", "fastmail.fm"],
        same_mailbox_as: None,
        ignores_dots: false,
        tag_separator: '+',
    },
    MailboxRule {
        domains: &["proton.me", "protonmail.com", "protonmail.ch", "pm.me"],
        same_mailbox_as: None,
        ignores_dots: false,
        tag_separator: '+',
    },
    MailboxRule {
        domains: &[
            "yahoo.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.de",
            "yahoo.es",
            "yahoo.it",
            "yahoo.ca",
            "yahoo.com.au",
            "yahoo.co.in",
            "ymail.com",
            "rocketmail.com",
        ],
        same_mailbox_as: None,
        ignores_dots: false,
        tag_separator: '-',
    },
];

/// Every domain whose addresses [`match_email_key`] folds (for consistency checks elsewhere: each
/// must also count as free mail).
pub fn folded_mail_domains() -> impl Iterator<Item = &'static str> {
    MAILBOX_RULES.iter().flat_map(|rule| rule.domains.iter().copied())
}

/// The canonical mailbox an email address delivers to, used as the matching key (the lead keeps the
/// address as given): lowercased and trimmed, and on the providers of [`MAILBOX_RULES`] with the
/// tag and (Gmail) dots removed. `Ana.Lopez+Promo@GoogleMail.com` → `analopez@gmail.com`.
pub fn match_email_key(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let Some(rule) = MAILBOX_RULES.iter().find(|rule| rule.domains.contains(&domain)) else {
        return email;
    };
    let untagged = local.split(rule.tag_separator).next().unwrap_or(local);
    let mailbox: String =
        if rule.ignores_dots { untagged.chars().filter(|&c| c != '.').collect() } else { untagged.into() };
    if mailbox.is_empty() {
        // `+tag@gmail.com` is no mailbox we can fold; keep it distinct rather than empty.
        return email;
    }
    format!("{mailbox}@{}", rule.same_mailbox_as.unwrap_or(domain))
}

/// A person as dedupe stores them: the lead every capture of theirs merges into, and everything
/// those captures said. Stored as JSON; the store indexes it by every email key and phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The lead all of this person's captures merge into: the id of their first capture.
    pub lead_id: Uuid,
    /// Current contact values: the newest non-empty value of each field.
    pub contact: Contact,
    /// Every email address used, as given (normalized), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Every phone used (E.164), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    /// Every `source:event_id` merged into the lead, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<String>,
    /// Values newer captures replaced, per contact field, newest first, never the current value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<String, Vec<String>>,
    /// The routing domain of the first capture: the lead stays with the team that owns it.
    pub routing_domain: String,
    /// The rep who owns the lead. Kept beside the record in the store ([`StoredPerson::owner`]) so
    /// a merge can never write back a stale owner; hence not part of the JSON.
    #[serde(skip)]
    pub owner: Option<String>,
    /// The lead's last score, for `previous_score` when the person returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// One capture of a person, as dedupe needs it (a [`QualifiedLead`] before merging).
#[derive(Debug, Clone, Copy)]
pub struct Capture<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    /// Normalized: email lowercased and trimmed, phone in E.164.
    pub contact: &'a Contact,
    pub routing_domain: &'a str,
    pub at: DateTime<Utc>,
}

impl<'a> Capture<'a> {
    /// The capture of a qualified lead that has not been merged yet.
    pub fn of(lead: &'a QualifiedLead, at: DateTime<Utc>) -> Self {
        Capture {
            source: &lead.source,
            event_id: &lead.event_id,
            contact: &lead.contact,
            routing_domain: &lead.routing_domain,
            at,
        }
    }

    /// The lead id this capture has on its own.
    pub fn own_lead_id(&self) -> Uuid {
        speedlead_topics::lead_id(self.source, self.event_id)
    }

    /// `source:event_id`, as listed in [`PersonRecord::captures`].
    pub fn reference(&self) -> String {
        format!("{}:{}", self.source, self.event_id)
    }

    pub fn email_key(&self) -> Option<String> {
        non_empty(&self.contact.email).map(match_email_key)
    }

    pub fn phone(&self) -> Option<&str> {
        non_empty(&self.contact.phone)
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// How many emails, phones and past values per field a person keeps, and how many captures. A
/// bot or a shared switchboard number can return thousands of times; an unbounded record would
/// slow every lookup and eventually exceed the broker's message size.
const MAX_VALUES: usize = 20;
const MAX_CAPTURES: usize = 100;

/// Drops the oldest values (at the front) beyond `max`.
fn keep_newest(values: &mut Vec<String>, max: usize) {
    let excess = values.len().saturating_sub(max);
    values.drain(..excess);
}

/// Contact fields whose replaced values go to `history`. Email and phone are not among them: every
/// value they ever had is in `emails` / `phones` already.
const HISTORY_FIELDS: [&str; 4] = ["name", "company", "title", "country"];
const CONTACT_FIELDS: [&str; 6] = ["name", "email", "phone", "company", "title", "country"];

fn field_mut<'c>(contact: &'c mut Contact, field: &str) -> &'c mut Option<String> {
    match field {
        "name" => &mut contact.name,
        "email" => &mut contact.email,
        "phone" => &mut contact.phone,
        "company" => &mut contact.company,
        "title" => &mut contact.title,
        "country" => &mut contact.country,
        other => unreachable!("no contact field {other}"),
    }
}

/// The contact with every value trimmed and empty values dropped: an empty value never wins.
fn cleaned(contact: &Contact) -> Contact {
    let mut cleaned = contact.clone();
    for field in CONTACT_FIELDS {
        let value = field_mut(&mut cleaned, field);
        *value = non_empty(value).map(str::to_string);
    }
    cleaned
}

fn push_unique(values: &mut Vec<String>, value: Option<&str>) {
    if let Some(value) = value {
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
        }
    }
}

impl PersonRecord {
    /// The record of a person seen for the first time.
    pub fn new(capture: &Capture) -> Self {
        let contact = cleaned(capture.contact);
        PersonRecord {
            lead_id: capture.own_lead_id(),
            emails: contact.email.iter().cloned().collect(),
            phones: contact.phone.iter().cloned().collect(),
            contact,
            captures: vec![capture.reference()],
            history: BTreeMap::new(),
            routing_domain: capture.routing_domain.to_string(),
            owner: None,
            score: None,
            account_id: None,
            updated_at: capture.at,
        }
    }

    /// Reads a record the store returned; the owner stored beside it is the authoritative one.
    pub fn from_stored(stored: &StoredPerson) -> Result<Self, StoreError> {
        let mut record: PersonRecord = serde_json::from_str(&stored.record)
            .map_err(|e| StoreError::Corrupt(format!("person record: {e}")))?;
        record.owner = stored.owner.clone();
        Ok(record)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a person record always serializes")
    }

    /// The keys the store indexes this person under: one per distinct mailbox.
    pub fn email_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for email in &self.emails {
            push_unique(&mut keys, Some(&match_email_key(email)));
        }
        keys
    }

    /// What identified `capture` as this person: `email` if it shares a mailbox, else `phone`.
    fn matched_by(&self, capture: &Capture) -> &'static str {
        match capture.email_key() {
            Some(key) if self.email_keys().contains(&key) => "email",
            _ => "phone",
        }
    }
}

/// Merges a returning person's capture into their record. Pure. The rules:
/// - each contact field takes the capture's value when it is non-empty and different; the value it
///   replaces goes to the front of `history[field]` (name, company, title, country);
/// - emails, phones and captures are unions in order of first appearance (oldest first);
/// - lead id, routing domain, owner, score and account stay the record's;
/// - a capture already in `captures` (a redelivery) changes nothing, so an old capture redelivered
///   after newer ones cannot roll values back.
///
/// `matched_by` is `email` when the capture's mailbox is one of the record's, else `phone`.
pub fn merge(existing: PersonRecord, capture: &Capture) -> (PersonRecord, Merge) {
    let matched_by = existing.matched_by(capture);
    let mut record = existing;
    let reference = capture.reference();
    let mut changes = BTreeMap::new();
    if !record.captures.contains(&reference) {
        let mut incoming_contact = cleaned(capture.contact);
        push_unique(&mut record.emails, incoming_contact.email.as_deref());
        push_unique(&mut record.phones, incoming_contact.phone.as_deref());
        for field in CONTACT_FIELDS {
            let Some(incoming) = field_mut(&mut incoming_contact, field).take() else {
                continue;
            };
            let current = field_mut(&mut record.contact, field);
            if current.as_deref() == Some(incoming.as_str()) {
                continue;
            }
            let replaced = current.replace(incoming.clone());
            changes.insert(field.to_string(), FieldChange { old: replaced.clone(), new: incoming.clone() });
            if HISTORY_FIELDS.contains(&field) {
                let history = record.history.entry(field.to_string()).or_default();
                history.retain(|v| *v != incoming && Some(v) != replaced.as_ref());
                if let Some(replaced) = replaced {
                    history.insert(0, replaced);
                }
                if history.is_empty() {
                    record.history.remove(field);
                }
            }
        }
        record.captures.push(reference);
        record.updated_at = record.updated_at.max(capture.at);
        keep_newest(&mut record.emails, MAX_VALUES);
        keep_newest(&mut record.phones, MAX_VALUES);
        keep_newest(&mut record.captures, MAX_CAPTURES);
        for values in record.history.values_mut() {
            values.truncate(MAX_VALUES); // newest first
        }
    }
    let merge = Merge {
        merged_lead_id: capture.own_lead_id(),
        into_lead_id: record.lead_id,
        matched_by: matched_by.to_string(),
        emails: record.emails.clone(),
        phones: record.phones.clone(),
        captures: record.captures.clone(),
        history: record.history.clone(),
        changes,
        owner: record.owner.clone(),
    };
    (record, merge)
}

/// The record after `capture`, and the [`Merge`] when it joined an existing lead: `None` for a new
/// person, and for a redelivery of the capture that created the lead (that is not a merge).
pub fn apply_capture(existing: Option<PersonRecord>, capture: &Capture) -> (PersonRecord, Option<Merge>) {
    match existing {
        None => (PersonRecord::new(capture), None),
        Some(existing) if existing.lead_id == capture.own_lead_id() => (merge(existing, capture).0, None),
        Some(existing) => {
            let (record, merge) = merge(existing, capture);
            (record, Some(merge))
        }
    }
}

/// The stored record of the person `capture` is from, if they were seen before. One round trip.
pub async fn find_returning(
    store: &dyn Store,
    capture: &Capture<'_>,
) -> Result<Option<PersonRecord>, StoreError> {
    let email_key = capture.email_key();
    match store.find_person(email_key.as_deref(), capture.phone()).await? {
        Some(stored) => PersonRecord::from_stored(&stored).map(Some),
        None => Ok(None),
    }
}

/// Stores `record`, indexed under all its email keys and phones, for `ttl`. One round trip. A
/// person's first capture only creates them if no other partition created them meanwhile
/// ([`Store::create_person`]); otherwise [`StoreError::Conflict`], and the retry merges.
pub async fn save(store: &dyn Store, record: &PersonRecord, ttl: Duration) -> Result<(), StoreError> {
    let lead_id = record.lead_id.to_string();
    let (json, email_keys) = (record.to_json(), record.email_keys());
    if record.captures.len() > 1 {
        return store.save_person(&lead_id, &json, &email_keys, &record.phones, ttl).await;
    }
    match store.create_person(&lead_id, &json, &email_keys, &record.phones, ttl).await? {
        true => Ok(()),
        false => Err(StoreError::Conflict(format!(
            "person of lead {lead_id} was created by another capture at the same time"
        ))),
    }
}

#[cfg(test)]
#[path = "dedupe_tests.rs"]
mod tests;
