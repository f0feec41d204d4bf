//! Intake stage: turns a captured lead into a qualified one (validate, normalize, key, route to a
//! domain; then, with [`LeadIntelligence`], dedupe/merge, account match, enrichment and score) and
//! publishes it to `leads.qualified` keyed by routing domain, with `lead.merged` and `lead.scored`
//! to `leads.events`.
//!
//! A record is either an `InboundLead` envelope, or a provider's raw payload with a `source` header
//! (and optionally `content-type`), which the [`RawLeadParser`] turns into leads with the same
//! adapters the capture gateway uses.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use speedlead_topics::{
    derived_id, event_type, lead_id, lead_key, Contact, Envelope, Hops, InboundLead, LeadEvent,
    QualifiedLead, Topic,
};

use crate::codec::{parse_envelope, to_json};
use crate::intelligence::LeadIntelligence;
use crate::normalize::{normalize_email, normalize_phone};
use crate::ports::{FetchError, LeadFetcher, Outbound, RawLeadParser, Record};
use crate::rules::{Routing, SharedRouting};
use crate::stage::{Stage, StageError};
use crate::telemetry::observe_segment;

pub struct IntakeStage {
    routing: SharedRouting,
    raw: Option<Arc<dyn RawLeadParser>>,
    fetcher: Option<Arc<dyn LeadFetcher>>,
    intelligence: Option<Arc<LeadIntelligence>>,
}

impl IntakeStage {
    pub fn new(routing: SharedRouting) -> Self {
        IntakeStage { routing, raw: None, fetcher: None, intelligence: None }
    }

    /// Dedupe, match accounts, enrich and score every lead before publishing it.
    pub fn with_intelligence(mut self, intelligence: Arc<LeadIntelligence>) -> Self {
        self.intelligence = Some(intelligence);
        self
    }

    /// Fetch leads that arrived as ids only from their provider's API.
    pub fn with_fetcher(mut self, fetcher: Arc<dyn LeadFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Completes an ids-only lead from its provider's API; other leads pass through unchanged. A
    /// provider that is down is a transient failure (retried, then dead-lettered), one that does not
    /// know the lead an invalid record.
    async fn complete(&self, mut lead: InboundLead) -> Result<InboundLead, StageError> {
        let Some(reference) = lead.fetch.take() else { return Ok(lead) };
        let fetcher = self.fetcher.as_ref().ok_or_else(|| {
            StageError::Invalid(format!("payload.fetch: fetching {} leads is not set up", reference.provider))
        })?;
        let fetched = fetcher.fetch(&lead.source, &reference).await.map_err(|e| match e {
            FetchError::NotFound(why) => StageError::Invalid(format!("payload.fetch: {why}")),
            FetchError::Unavailable(why) => {
                StageError::Transient(format!("fetching {} lead: {why}", reference.provider))
            }
        })?;
        let c = &mut lead.contact;
        let f = fetched.contact;
        c.name = c.name.take().or(f.name);
        c.email = c.email.take().or(f.email);
        c.phone = c.phone.take().or(f.phone);
        c.company = c.company.take().or(f.company);
        c.title = c.title.take().or(f.title);
        c.country = c.country.take().or(f.country);
        lead.attribution.extend(fetched.attribution);
        lead.raw = Some(serde_json::json!({ "notification": lead.raw.take(), "fetched": fetched.raw }));
        Ok(lead)
    }

    /// Also accept raw provider payloads (records with a `source` header).
    pub fn with_raw_payloads(mut self, parser: Arc<dyn RawLeadParser>) -> Self {
        self.raw = Some(parser);
        self
    }

    async fn raw_payload(&self, source: &str, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let parser = self.raw.as_ref().ok_or_else(|| {
            StageError::Invalid("headers.source: raw provider payloads are not accepted here".into())
        })?;
        let payload = record.payload.as_deref().unwrap_or_default();
        let leads = parser
            .parse(source, record.header("content-type"), payload)
            .map_err(|e| StageError::Invalid(format!("value (raw payload of source '{source}'): {e}")))?;
        // The broker's timestamp is when the lead was captured.
        let captured_at =
            record.timestamp_ms.and_then(DateTime::<Utc>::from_timestamp_millis).unwrap_or_else(Utc::now);
        let mut out = Vec::with_capacity(leads.len());
        for lead in leads {
            let correlation = lead_id(&lead.source, &lead.event_id);
            let lead = self.complete(lead).await?;
            out.extend(self.qualified(&lead, correlation, Hops::default(), captured_at).await?);
        }
        Ok(out)
    }

    /// The `leads.qualified` message for one lead, after its `lead.merged` and `lead.scored` events.
    async fn qualified(
        &self,
        inbound: &InboundLead,
        correlation_id: uuid::Uuid,
        mut hops: Hops,
        captured_at: DateTime<Utc>,
    ) -> Result<Vec<Outbound>, StageError> {
        let lead = qualify(inbound, &self.routing.load())?;
        let capture_id = lead.lead_id.to_string();
        let mut out = Vec::with_capacity(4);
        let lead = match &self.intelligence {
            None => lead,
            Some(intelligence) => {
                let started = std::time::Instant::now();
                let done = intelligence.apply(lead, captured_at).await?;
                metrics::histogram!("speedlead_intake_intelligence_seconds")
                    .record(started.elapsed().as_secs_f64());
                let lead_id = done.lead.lead_id;
                let event = |kind: &'static str, id: uuid::Uuid, event: LeadEvent| {
                    let envelope = Envelope::with_id(id, kind, correlation_id, event).with_hops(hops.clone());
                    Outbound { topic: Topic::Events, key: lead_id.to_string(), payload: to_json(&envelope) }
                };
                if let Some(merged) = done.merged {
                    let id = derived_id(&["event", event_type::MERGED, &capture_id]);
                    out.push(event(event_type::MERGED, id, LeadEvent::Merged(merged)));
                }
                let id = derived_id(&["event", event_type::SCORED, &capture_id]);
                out.push(event(event_type::SCORED, id, LeadEvent::Scored(Box::new(done.scored))));
                done.lead
            }
        };
        hops.captured_at = Some(captured_at);
        let now = Utc::now();
        hops.qualified_at = Some(now);
        observe_segment("captured_to_qualified", Some(captured_at), now);
        // One message per capture, even when captures merge into one lead.
        let id = derived_id(&["qualified", &capture_id]);
        let key = lead.routing_domain.clone();
        // The lifecycle's "created/updated" event carries the whole lead, so an audit (or
        // `speedlead simulate`) can tell from `leads.events` alone what the router was given.
        let event_id = derived_id(&["event", event_type::QUALIFIED, &capture_id]);
        let lead_event = LeadEvent::Qualified(Box::new(lead.clone()));
        let event = Envelope::with_id(event_id, event_type::QUALIFIED, correlation_id, lead_event)
            .with_hops(hops.clone());
        let events_key = lead.lead_id.to_string();
        let envelope = Envelope::with_id(id, event_type::QUALIFIED, correlation_id, lead).with_hops(hops);
        out.push(Outbound { topic: Topic::Events, key: events_key, payload: to_json(&event) });
        out.push(Outbound { topic: Topic::Qualified, key, payload: to_json(&envelope) });
        Ok(out)
    }
}

#[async_trait]
impl Stage for IntakeStage {
    fn name(&self) -> &'static str {
        "intake"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        if let Some(source) = record.header("source") {
            return self.raw_payload(source, record).await;
        }
        let inbound = parse_envelope::<InboundLead>(record)?;
        let captured_at = inbound.hops.captured_at.unwrap_or(inbound.occurred_at);
        let lead = self.complete(inbound.payload).await?;
        self.qualified(&lead, inbound.correlation_id, inbound.hops, captured_at).await
    }
}

/// Validates and normalizes one inbound lead. A lead needs at least one usable way to reach the
/// person (email or phone); an unusable second one is dropped with a warning rather than losing the
/// lead. Errors name the field.
pub fn qualify(inbound: &InboundLead, routing: &Routing) -> Result<QualifiedLead, StageError> {
    let invalid = |field: &str, why: &str| StageError::Invalid(format!("payload.{field}: {why}"));
    if inbound.source.trim().is_empty() {
        return Err(invalid("source", "must not be empty"));
    }
    if inbound.event_id.trim().is_empty() {
        return Err(invalid("event_id", "must not be empty"));
    }
    let raw = &inbound.contact;
    let country =
        raw.country.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_ascii_uppercase);
    let present =
        |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let email = present(&raw.email).map(|e| normalize_email(&e));
    let phone = present(&raw.phone).map(|p| normalize_phone(&p, country.as_deref()));

    let mut warnings = Vec::new();
    let mut usable = |field: &str, v: Option<Result<String, String>>| match v {
        Some(Ok(v)) => Some(v),
        Some(Err(why)) => {
            warnings.push(format!("contact.{field}: {why}"));
            None
        }
        None => None,
    };
    let (email, phone) = (usable("email", email), usable("phone", phone));
    if email.is_none() && phone.is_none() {
        let why = if warnings.is_empty() {
            "neither email nor phone given".to_string()
        } else {
            warnings.join("; ")
        };
        return Err(invalid("contact", &format!("no usable email or phone: {why}")));
    }

    let contact = Contact {
        name: present(&raw.name),
        email,
        phone,
        company: present(&raw.company),
        title: present(&raw.title),
        country,
    };
    let lead_id = speedlead_topics::lead_id(&inbound.source, &inbound.event_id);
    let mut lead = QualifiedLead {
        lead_id,
        lead_key: lead_key(
            contact.email.as_deref(),
            contact.phone.as_deref(),
            &inbound.source,
            &inbound.event_id,
        ),
        routing_domain: String::new(),
        source: inbound.source.clone(),
        event_id: inbound.event_id.clone(),
        contact,
        attribution: inbound.attribution.clone(),
        consent: inbound.consent.clone(),
        signals: inbound.signals.clone(),
        warnings,
        merge: None,
        account: None,
        enrichment: None,
        score: None,
    };
    // Rules on what intake already knows (country, source, language, …); intelligence decides again
    // once enrichment and score are known.
    lead.routing_domain = routing.domain_for_lead(&lead).to_string();
    Ok(lead)
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
