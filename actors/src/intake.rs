//! Intake stage: turns a captured lead into a qualified one (validate, normalize, key, route to a
//! domain) and publishes it to `leads.qualified` keyed by routing domain.
//!
//! Later work (dedupe/merge, enrichment, scoring) slots in between `qualify` and the publish.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use speedlead_topics::{
    derived_id, event_type, lead_key, Contact, Envelope, InboundLead, QualifiedLead, Topic,
};

use crate::codec::{parse_envelope, to_json};
use crate::normalize::{normalize_email, normalize_phone};
use crate::ports::{Outbound, Record};
use crate::rules::Routing;
use crate::stage::{Stage, StageError};
use crate::telemetry::observe_segment;

pub struct IntakeStage {
    routing: Arc<Routing>,
}

impl IntakeStage {
    pub fn new(routing: Arc<Routing>) -> Self {
        IntakeStage { routing }
    }
}

#[async_trait]
impl Stage for IntakeStage {
    fn name(&self) -> &'static str {
        "intake"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let inbound = parse_envelope::<InboundLead>(record)?;
        let captured_at = inbound.hops.captured_at.unwrap_or(inbound.occurred_at);
        let lead = qualify(&inbound.payload, &self.routing)?;
        let mut hops = inbound.hops.clone();
        hops.captured_at = Some(captured_at);
        let now = Utc::now();
        hops.qualified_at = Some(now);
        observe_segment("captured_to_qualified", Some(captured_at), now);
        let id = derived_id(&["qualified", &lead.lead_id.to_string()]);
        let key = lead.routing_domain.clone();
        let envelope =
            Envelope::with_id(id, event_type::QUALIFIED, inbound.correlation_id, lead).with_hops(hops);
        Ok(vec![Outbound { topic: Topic::Qualified, key, payload: to_json(&envelope) }])
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
    Ok(QualifiedLead {
        lead_id,
        lead_key: lead_key(
            contact.email.as_deref(),
            contact.phone.as_deref(),
            &inbound.source,
            &inbound.event_id,
        ),
        routing_domain: routing.domain_for(&contact).to_string(),
        source: inbound.source.clone(),
        event_id: inbound.event_id.clone(),
        contact,
        attribution: inbound.attribution.clone(),
        warnings,
    })
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
