//! The capture gateway's core, independent of HTTP: validate what a provider adapter produced, and
//! write each lead to `leads.inbound` exactly once per (source, provider event id).
//!
//! Exactly once, even for concurrent duplicates, with an idempotency claim in the store:
//! the first request for an event claims `capture:{source}:{event_id}` as `pending`, publishes with
//! acks=all, then marks it `done`. A duplicate that finds `done` answers with the same lead id and
//! writes nothing; one that finds `pending` waits for the first to finish (or to give up and release
//! the claim, in which case it takes over). Nothing is acknowledged that the broker did not
//! acknowledge first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use chrono::Utc;
use speedlead_actors::normalize::{normalize_email, normalize_phone};
use speedlead_actors::ports::{FetchError, FetchedLead, LeadFetcher, Outbound, Publisher, RawLeadParser};
use speedlead_actors::store::Store;
use speedlead_topics::{derived_id, event_type, lead_id, lead_key, Envelope, FetchRef, InboundLead, Topic};
use uuid::Uuid;

use crate::providers::{
    provider, CapturedLead, FieldError, ProviderKind, RawRequest, Rejection, SourceConfig,
};

const PENDING: &str = "pending";
const DONE: &str = "done";

/// Gateway limits and policies.
#[derive(Debug, Clone)]
pub struct CapturePolicy {
    /// Refuse leads with neither a usable email nor a usable phone.
    pub require_contact: bool,
    /// How long a finished event id is remembered (redeliveries within it write nothing).
    pub idempotency_ttl: Duration,
    /// How long a claim may stay pending before another request may take it over (a crashed holder).
    pub pending_ttl: Duration,
    /// How long a duplicate waits for the first request of its event to finish.
    pub duplicate_wait: Duration,
}

/// What happened to one lead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    pub event_id: String,
    pub lead_id: Uuid,
    /// True when this event was captured before and nothing new was written.
    pub duplicate: bool,
}

/// Why a valid lead could not be accepted now; the provider should retry.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("the broker did not acknowledge the write: {0}")]
    Broker(String),
    #[error("the idempotency store is unavailable: {0}")]
    Store(String),
    #[error("an earlier delivery of this event is still being written")]
    StillPending,
}

/// Checks each lead can reach a person, naming the fields when not. All leads of a payload are
/// checked before any is written, so a payload is accepted or refused as a whole.
pub fn check_contact(leads: &[CapturedLead], policy: &CapturePolicy) -> Result<(), Vec<FieldError>> {
    if !policy.require_contact {
        return Ok(());
    }
    let mut errors = Vec::new();
    for (i, captured) in leads.iter().enumerate() {
        if captured.lead.fetch.is_some() {
            continue; // ids only: intake fetches the contact, and checks it then
        }
        let contact = &captured.lead.contact;
        let email = contact.email.as_deref().filter(|e| !e.trim().is_empty()).map(normalize_email);
        let phone = contact
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| normalize_phone(p, contact.country.as_deref()));
        if matches!(email, Some(Ok(_))) || matches!(phone, Some(Ok(_))) {
            continue;
        }
        let prefix = if leads.len() > 1 { format!("leads[{i}].") } else { String::new() };
        let mut why: Vec<String> = [("email", email), ("phone", phone)]
            .into_iter()
            .filter_map(|(field, result)| result.and_then(|r| r.err()).map(|e| format!("{field} {e}")))
            .collect();
        if why.is_empty() {
            why.push("neither email nor phone given".into());
        }
        errors.push(FieldError::new(
            format!("{prefix}contact"),
            format!("no usable email or phone: {}", why.join("; ")),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The `leads.inbound` message for a captured lead, and its partition key.
pub fn envelope_for(lead: InboundLead) -> (String, Envelope<InboundLead>) {
    let contact = &lead.contact;
    let email = contact.email.as_deref().and_then(|e| normalize_email(e).ok());
    let phone = contact.phone.as_deref().and_then(|p| normalize_phone(p, contact.country.as_deref()).ok());
    let key = lead_key(email.as_deref(), phone.as_deref(), &lead.source, &lead.event_id);
    let id = lead_id(&lead.source, &lead.event_id);
    let message_id = derived_id(&["captured", &lead.source, &lead.event_id]);
    let mut envelope = Envelope::with_id(message_id, event_type::CAPTURED, id, lead);
    envelope.hops.captured_at = Some(Utc::now());
    (key, envelope)
}

/// Parses raw provider payloads that marketing systems publish straight to `leads.inbound` with a
/// `source` header (see the intake stage), with the configured sources' adapters. No signature
/// check: on Kafka the broker's ACLs decide who may publish.
pub struct RawPayloads {
    sources: HashMap<String, SourceConfig>,
}

impl RawPayloads {
    pub fn new(sources: &[SourceConfig]) -> Self {
        RawPayloads { sources: sources.iter().map(|s| (s.name.clone(), s.clone())).collect() }
    }
}

impl RawLeadParser for RawPayloads {
    fn parse(
        &self,
        source: &str,
        content_type: Option<&str>,
        payload: &[u8],
    ) -> Result<Vec<InboundLead>, String> {
        let config = self.sources.get(source).ok_or_else(|| format!("unknown source '{source}'"))?;
        let mut headers = HeaderMap::new();
        let content_type = content_type.unwrap_or("application/json");
        headers.insert(
            CONTENT_TYPE,
            content_type.parse().map_err(|_| format!("bad content-type '{content_type}'"))?,
        );
        let request =
            RawRequest { method: "POST", uri: "", headers: &headers, body: payload, now: Utc::now() };
        match provider(config.kind).parse(config, &request) {
            Ok(leads) => Ok(leads.into_iter().map(|c| c.lead).collect()),
            Err(Rejection::Invalid(fields)) => Err(fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")),
            Err(Rejection::UnsupportedMediaType(ct)) => {
                Err(format!("content-type '{ct}' is not one this source sends"))
            }
            Err(Rejection::Unauthorized(reason)) => Err(reason.to_string()),
        }
    }
}

/// Fetches ids-only leads from their provider's API, per the source's `api_base_url` and `api_token`.
pub struct ProviderApis {
    client: reqwest::Client,
    sources: HashMap<String, SourceConfig>,
    linkedin_forms: crate::providers::linkedin::FormCache,
}

impl ProviderApis {
    pub fn new(sources: &[SourceConfig], timeout: Duration) -> Self {
        let client = reqwest::Client::builder().timeout(timeout).build().expect("HTTP client builds");
        let sources = sources.iter().map(|s| (s.name.clone(), s.clone())).collect();
        ProviderApis { client, sources, linkedin_forms: Default::default() }
    }
}

#[async_trait::async_trait]
impl LeadFetcher for ProviderApis {
    async fn fetch(&self, source: &str, reference: &FetchRef) -> Result<FetchedLead, FetchError> {
        let config = self
            .sources
            .get(source)
            .ok_or_else(|| FetchError::NotFound(format!("unknown source '{source}'")))?;
        match (config.kind, reference.provider.as_str()) {
            (ProviderKind::Meta, "meta") => {
                crate::providers::meta::fetch(&self.client, config, &reference.id).await
            }
            (ProviderKind::GoHighLevel, "gohighlevel") => {
                crate::providers::gohighlevel::fetch(&self.client, config, &reference.id).await
            }
            (ProviderKind::LinkedIn, "linkedin") => {
                let forms = &self.linkedin_forms;
                crate::providers::linkedin::fetch(&self.client, config, forms, &reference.id).await
            }
            (ProviderKind::Hubspot, "hubspot") => {
                crate::providers::hubspot_contacts::fetch(&self.client, config, &reference.id).await
            }
            (kind, provider) => Err(FetchError::NotFound(format!(
                "source '{source}' ({kind:?}) cannot fetch {provider} leads"
            ))),
        }
    }
}

/// Writes one lead unless its event was captured before.
pub async fn accept(
    captured: CapturedLead,
    store: &Arc<dyn Store>,
    publisher: &Arc<dyn Publisher>,
    policy: &CapturePolicy,
) -> Result<Accepted, Unavailable> {
    let CapturedLead { event_id, lead } = captured;
    let lead_id = lead_id(&lead.source, &event_id);
    let claim_key = format!("capture:{}:{event_id}", lead.source);
    let accepted = |duplicate| Accepted { event_id: event_id.clone(), lead_id, duplicate };
    let store_down = |e: speedlead_actors::store::StoreError| Unavailable::Store(e.to_string());
    let deadline = tokio::time::Instant::now() + policy.duplicate_wait;
    loop {
        let claim = store.remember(&claim_key, PENDING, policy.pending_ttl).await.map_err(store_down)?;
        if claim.first {
            let (key, envelope) = envelope_for(lead);
            let payload = serde_json::to_vec(&envelope).expect("envelopes serialize");
            if let Err(e) = publisher.publish(vec![Outbound { topic: Topic::Inbound, key, payload }]).await {
                // Release the claim so the provider's retry can write it.
                let _ = store.forget(&claim_key).await;
                return Err(Unavailable::Broker(e.message));
            }
            store.replace(&claim_key, DONE, policy.idempotency_ttl).await.map_err(store_down)?;
            return Ok(accepted(false));
        }
        if claim.value == DONE {
            return Ok(accepted(true));
        }
        // Another request holds the claim: wait for it to finish or to give up.
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(Unavailable::StillPending);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            match store.recall(&claim_key).await.map_err(store_down)?.as_deref() {
                Some(DONE) => return Ok(accepted(true)),
                Some(_) => continue,
                None => break, // released: try to claim it ourselves
            }
        }
    }
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
