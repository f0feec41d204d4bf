//! Payload types of the lead topics: what marketing systems publish and what each stage emits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Event types carried in [`crate::Envelope::event_type`].
pub mod event_type {
    pub const CAPTURED: &str = "lead.captured";
    pub const QUALIFIED: &str = "lead.qualified";
    pub const ASSIGNED: &str = "lead.assigned";
    pub const ACKNOWLEDGED: &str = "lead.acknowledged";
    pub const OUTCOME: &str = "lead.outcome";
    pub const DEAD_LETTERED: &str = "lead.dead_lettered";
    pub const MERGED: &str = "lead.merged";
    pub const SCORED: &str = "lead.scored";
    pub const ESCALATED: &str = "lead.escalated";
    pub const QUEUED: &str = "lead.queued";
    pub const ACK_REFUSED: &str = "lead.ack_refused";
}

/// Contact details as a source delivered them. Intake normalizes them (email case, phone to E.164).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Any common notation; E.164 (`+4930123456`) is best. Without a country prefix the lead's
    /// `country` decides how it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Value of `leads.inbound`: one lead from one source, as captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InboundLead {
    /// Configured source name, e.g. `website-demo-form`, `meta-ads`.
    pub source: String,
    /// The provider's id for this delivery; (source, event_id) is the idempotency key.
    pub event_id: String,
    #[serde(default)]
    pub contact: Contact,
    /// UTM / campaign attribution (`utm_source`, `utm_campaign`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribution: BTreeMap<String, String>,
    /// The provider payload verbatim, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
    /// Set by providers that notify with ids only (e.g. Meta Lead Ads): intake fetches the lead's
    /// fields from the provider's API before qualifying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchRef>,
    /// Consent the person gave, by purpose (`email_marketing`, `sms`, `terms`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, bool>,
    /// Behaviour signals for scoring (`pages_viewed`, `time_on_site_secs`, `form_type`,
    /// `chat_transcript`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, serde_json::Value>,
}

impl InboundLead {
    /// A lead with just its source, event id and contact (no attribution, consent, signals or
    /// provider payload): what tests and the samples start from.
    pub fn new(source: impl Into<String>, event_id: impl Into<String>, contact: Contact) -> Self {
        InboundLead {
            source: source.into(),
            event_id: event_id.into(),
            contact,
            attribution: BTreeMap::new(),
            raw: None,
            fetch: None,
            consent: BTreeMap::new(),
            signals: BTreeMap::new(),
        }
    }
}

/// Where to fetch a lead that arrived as ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchRef {
    /// Provider whose API holds the lead, e.g. `meta`.
    pub provider: String,
    /// The provider's id of the lead, e.g. Meta's `leadgen_id`.
    pub id: String,
}

/// Value of `leads.qualified`: a validated, normalized lead with its routing domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QualifiedLead {
    /// Stable id of the lead (the journey id), derived from source + event id when first captured.
    pub lead_id: Uuid,
    /// See [`lead_key`]: lowercased email, else E.164 phone, else `source:event_id`.
    pub lead_key: String,
    /// The team whose router owns this lead.
    pub routing_domain: String,
    pub source: String,
    pub event_id: String,
    /// Normalized contact: email lowercased and trimmed, phone in E.164.
    pub contact: Contact,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribution: BTreeMap<String, String>,
    /// Carried from the inbound lead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, bool>,
    /// Carried from the inbound lead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, serde_json::Value>,
    /// Fields that were present but unusable and so left out of `contact` (the inbound message keeps
    /// the original), e.g. `contact.email: 'ana@' has no valid domain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Set when this capture is a returning person: `lead_id` is then the existing lead's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// The account (company) the lead belongs to, and its owner when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountMatch>,
    /// What enrichment providers added (absent when none is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Enrichment>,
    /// Score 0–100, grade and per-feature contributions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
}

/// How a returning person's capture was merged into their existing lead. No value is lost: newer
/// non-empty values win in `contact`, the values they replaced are kept in `history`, and
/// multi-valued fields (emails, phones, sources) are unions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Merge {
    /// The lead id this capture would have had on its own (source + event id).
    pub merged_lead_id: Uuid,
    /// The existing lead it was merged into (equal to the qualified lead's `lead_id`).
    pub into_lead_id: Uuid,
    /// `email` or `phone`: what identified the person.
    pub matched_by: String,
    /// Every email and phone the person has used, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    /// Every `source:event_id` merged into the lead, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<String>,
    /// Values a newer capture replaced, per contact field (`company`, `title`, …), newest first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<String, Vec<String>>,
    /// What this capture changed, per contact field (`email`, `phone`, `name`, `company`, …):
    /// empty when it only repeated what the lead had (or was a redelivery).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, FieldChange>,
    /// The rep who owned the existing lead, if it was assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// One contact field's value before and after a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// `None` when the field was empty.
    pub old: Option<String>,
    pub new: String,
}

/// The account a lead was matched to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountMatch {
    /// Stable account id (derived from the first domain or normalized name seen).
    pub account_id: String,
    /// Normalized company name, e.g. `acme` for "The ACME Corp., Inc.".
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `domain`, `name` (exact normalized name) or `fuzzy_name`; `new` when the account was created.
    pub matched_by: String,
    /// Name similarity of a fuzzy match (Jaro-Winkler, 0–1); 1 for exact matches.
    pub similarity: f64,
    /// The rep who owns the account, when one does: routing sends the lead to them first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What enrichment added, and how each provider fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Enrichment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Employee count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// ISO 3166-1 alpha-2 of the company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `c_level`, `vp`, `director`, `manager`, `individual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniority: Option<String>,
    /// Per provider: `fresh`, `cached`, `not_found`, `timeout`, `failed`, `circuit_open`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, String>,
    /// False when a provider could not answer within the budget: the lead went on unenriched by it.
    pub complete: bool,
}

/// A lead's score: rules (fit + behaviour) blended with the learned model once it has learned enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Score {
    /// 0–100.
    pub score: u8,
    /// `A` (hottest) to `D`.
    pub grade: String,
    /// The rules' score alone, 0–100.
    pub rules: u8,
    /// The learned model's conversion probability, once it has seen enough outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_probability: Option<f64>,
    /// How many outcomes the model had learned from when it scored.
    #[serde(default)]
    pub model_outcomes: u64,
    /// Points per feature (`fit.company_size`, `behaviour.pages_viewed`, …); they add up to `rules`.
    pub contributions: BTreeMap<String, f64>,
}

/// Value of a `lead.merged` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadMerged {
    /// The capture's own lead id, merged away.
    pub source_lead_id: Uuid,
    /// The existing lead it merged into.
    pub target_lead_id: Uuid,
    pub matched_by: String,
}

/// Value of a `lead.scored` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadScored {
    pub lead_id: Uuid,
    pub score: Score,
    /// The lead's score before this capture (a returning person), if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_score: Option<u8>,
}

/// Value of `leads.assignments`: who owns a lead now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    pub lead_id: Uuid,
    pub lead_key: String,
    pub routing_domain: String,
    pub rep_id: String,
    /// 1 for the first assignment, +1 for each reassignment down the escalation chain.
    pub attempt: u32,
    /// Why this rep, e.g. `round_robin`.
    pub reason: String,
    /// The pool the rep was chosen from (`all` when the domain has no pools).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pool: String,
    /// When the rep must have accepted the lead, else it moves on down the escalation chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Signed token for the rep's accept link (`/v1/acks/{token}`), bound to lead, rep and attempt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ack_token: String,
    /// Why this rep and not another: rule, pool, every candidate and why each was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<RoutingAudit>,
    /// Who the lead is, so a notifier or dashboard can tell the rep without another lookup
    /// (escalations carry the summary of the first assignment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadSummary>,
}

/// What a rep needs to see of a lead to decide to call: who, which company, how hot, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// `A` (hottest) to `D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(default)]
    pub source: String,
    /// When the gateway (or the publishing system) captured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
}

impl LeadSummary {
    /// The summary of a qualified lead, captured at `captured_at`.
    pub fn of(lead: &QualifiedLead, captured_at: Option<DateTime<Utc>>) -> Self {
        let c = &lead.contact;
        LeadSummary {
            name: c.name.clone(),
            company: c.company.clone(),
            title: c.title.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            country: c.country.clone(),
            score: lead.score.as_ref().map(|s| s.score),
            grade: lead.score.as_ref().map(|s| s.grade.clone()),
            source: lead.source.clone(),
            captured_at,
        }
    }
}

/// The reasoning behind one routing decision, so "why did this lead go to Dana?" is answered by
/// the event alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoutingAudit {
    /// The routing rule that matched, if any (else the domain's default pool took the lead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub pool: String,
    /// `round_robin`, `weighted` or `load_balanced`.
    pub strategy: String,
    /// Skills the lead required of its rep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_skills: Vec<String>,
    /// Every rep considered, in the order considered.
    pub candidates: Vec<CandidateVerdict>,
}

/// One rep considered for a lead: `chosen`, `eligible` (not their turn), or why they were skipped
/// (`away`, `offline`, `off_hours`, `holiday`, `out_of_office`, `at_open_cap`, `at_daily_cap`,
/// `missing_skill:<skill>`, `already_tried`, `unknown_rep`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CandidateVerdict {
    pub rep_id: String,
    pub verdict: String,
}

/// Value of a `lead.escalated` event: the rep let the SLA pass, the lead moved on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Escalation {
    pub lead_id: Uuid,
    pub routing_domain: String,
    /// The rep who missed the SLA, and their attempt.
    pub missed_rep_id: String,
    pub missed_attempt: u32,
    pub due_at: DateTime<Utc>,
    /// Where the lead went: `next_in_pool`, `backup_pool`, `manager` or `overflow`.
    pub step: String,
    /// The new assignment; absent when the lead went to overflow (it stays with the missed rep,
    /// who can still accept it, until someone frees up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
}

/// Value of a `lead.queued` event: nobody in the pool could take the lead; it waits in the pool's
/// overflow queue and is offered as soon as a rep frees up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadQueued {
    pub lead_id: Uuid,
    pub routing_domain: String,
    pub pool: String,
    pub audit: RoutingAudit,
}

/// Value of a `lead.ack_refused` event: a rep pressed Accept on an attempt that was no longer
/// theirs (the lead had moved on after its SLA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AckRefused {
    pub ack: Ack,
    pub current_rep_id: String,
    pub current_attempt: u32,
}

/// Value of `leads.acks`: a rep accepted a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    pub lead_id: Uuid,
    pub routing_domain: String,
    pub rep_id: String,
    pub attempt: u32,
}

/// Value of `leads.outcomes`: what finally became of a lead, for the scoring model to learn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub lead_id: Uuid,
    pub converted: bool,
    /// Deal value in the account currency, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Value of `leads.events`: the lifecycle of a lead, for CRM writers, webhooks and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeadEvent {
    Qualified(Box<QualifiedLead>),
    Merged(LeadMerged),
    Scored(Box<LeadScored>),
    Assigned(Box<Assignment>),
    Acknowledged(Ack),
    Escalated(Box<Escalation>),
    Queued(Box<LeadQueued>),
    AckRefused(AckRefused),
}

/// Value of `leads.dlq`: a message a stage gave up on, with everything needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Stage that gave up, e.g. `intake`.
    pub stage: String,
    pub source_topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Machine-readable reason class, e.g. `invalid`, `retries_exhausted`.
    pub reason: String,
    /// Human-readable explanation naming the bad field where there is one.
    pub detail: String,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
    /// The original message value, base64 (standard alphabet), byte for byte.
    pub original_base64: String,
}

/// The lead id (journey id) of a (source, provider event id): a UUIDv5, so a re-sent event is the
/// same lead wherever it is computed (gateway, intake, publishers).
pub fn lead_id(source: &str, event_id: &str) -> uuid::Uuid {
    crate::derived_id(&["lead", source, event_id])
}

/// The partition key of a lead on `leads.inbound`: lowercased email, else E.164 phone, else
/// `source:event_id`. The same person always lands on the same partition, so one intake actor sees
/// all of their events in order. Callers pass already-normalized email and phone.
pub fn lead_key(email: Option<&str>, phone_e164: Option<&str>, source: &str, event_id: &str) -> String {
    match (email.map(str::trim).filter(|e| !e.is_empty()), phone_e164.filter(|p| !p.is_empty())) {
        (Some(email), _) => email.to_lowercase(),
        (None, Some(phone)) => phone.to_string(),
        (None, None) => format!("{source}:{event_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_key_prefers_email_then_phone_then_source_event() {
        assert_eq!(lead_key(Some(" Ann@Example.COM "), Some("+4930123"), "s", "1"), "ann@example.com");
        assert_eq!(lead_key(None, Some("+4930123"), "s", "1"), "+4930123");
        assert_eq!(lead_key(Some(""), None, "form", "e-9"), "form:e-9");
    }

    #[test]
    fn lead_event_is_tagged_by_kind() {
        let ev = LeadEvent::Acknowledged(Ack {
            lead_id: Uuid::nil(),
            routing_domain: "emea".into(),
            rep_id: "r1".into(),
            attempt: 1,
        });
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["kind"], "acknowledged");
        assert_eq!(serde_json::from_value::<LeadEvent>(v).unwrap(), ev);
    }
}
