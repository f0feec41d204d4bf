//! Lead intelligence, the part of the intake stage between "valid" and "published": who is this
//! (dedupe and merge into a returning person's lead), which company (account match), what do we
//! know (enrichment) and how hot is it (score). Plain async functions over the [`Store`] and
//! [`Enricher`] ports, so the same code runs on Redis in production and in memory in unit tests.
//!
//! Round trips per lead, in order: find the person (1); match the account (1, +1 when the account
//! is new) while enrichment runs; save the person, the features to learn from later and the lead's
//! routing domain claim, together (1). The model is read from a snapshot that refreshes in the background, never on the lead's path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use speedlead_topics::{LeadMerged, LeadScored, QualifiedLead, Score};

use crate::account::{match_account, AccountMatcher};
use crate::dedupe::{apply_capture, find_returning, save, Capture, PersonRecord};
use crate::model::{features_of, Model};
use crate::ports::Enricher;
use crate::rules::SharedRouting;
use crate::scoring::{LeadFacts, Scorer};
use crate::stage::StageError;
use crate::store::{Store, StoreError};

/// How long people, accounts and the features of scored leads are remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupeSettings {
    /// Merge returning people into their lead. Off only for tests of delivery itself, which send
    /// many captures of one person and follow each capture through the pipeline.
    pub enabled: bool,
    /// A person who returns within this many days merges into their lead.
    pub person_ttl_days: u64,
    pub account_ttl_days: u64,
    /// Company-name similarity from which two names are the same account (0–1).
    pub fuzzy_threshold: f64,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        DedupeSettings { enabled: true, person_ttl_days: 365, account_ttl_days: 730, fuzzy_threshold: 0.92 }
    }
}

/// Where the learned model lives and how fresh intake keeps its copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Name of the model's hash in the store; change it to start learning from scratch.
    pub name: String,
    /// How often intake re-reads the model the learner updates.
    pub refresh_secs: u64,
    /// How long a scored lead's features are kept for its outcome to train on.
    pub features_ttl_days: u64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings { name: "default".into(), refresh_secs: 5, features_ttl_days: 365 }
    }
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The key under which a lead's model features wait for its outcome.
pub fn features_key(lead_id: &str) -> String {
    format!("features:{lead_id}")
}

/// Where the routing domain claimed for a lead is kept (see `remember`): the router's routes and
/// the learner's release of a closed lead are per domain.
pub fn domain_claim_key(lead_id: &str) -> String {
    format!("domain:{lead_id}")
}

/// A copy of the learned model, refreshed from the store in the background so scoring never waits
/// on it. A stale copy is harmless: the model moves slowly and the blend weighs it by outcomes.
pub struct ModelSnapshot {
    store: Arc<dyn Store>,
    name: String,
    refresh_every: Duration,
    current: RwLock<(Arc<Model>, Instant)>,
    refreshing: AtomicBool,
}

impl ModelSnapshot {
    /// Reads the model now (at start, so the first leads are scored with it).
    pub async fn load(store: Arc<dyn Store>, settings: &ModelSettings) -> Result<Arc<Self>, StoreError> {
        let model = Model::from_buckets(store.model_buckets(&settings.name).await?);
        Ok(Arc::new(ModelSnapshot {
            store,
            name: settings.name.clone(),
            refresh_every: Duration::from_secs(settings.refresh_secs),
            current: RwLock::new((Arc::new(model), Instant::now())),
            refreshing: AtomicBool::new(false),
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current copy; starts a background refresh when it is older than the refresh interval.
    pub fn get(self: &Arc<Self>) -> Arc<Model> {
        let (model, read_at) = self.current.read().expect("model lock").clone();
        if read_at.elapsed() >= self.refresh_every && !self.refreshing.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            tokio::spawn(async move {
                match this.store.model_buckets(&this.name).await {
                    Ok(buckets) => this.replace(Model::from_buckets(buckets)),
                    Err(e) => tracing::warn!(error = %e, "model refresh failed; scoring with the last copy"),
                }
                this.refreshing.store(false, Ordering::Release);
            });
        }
        model
    }

    /// Adds a learning step this instance just stored, so its next step builds on it.
    pub fn apply(&self, step: &[(u32, f64)]) {
        let mut current = self.current.write().expect("model lock");
        let mut model = (*current.0).clone();
        model.apply(step);
        current.0 = Arc::new(model);
    }

    fn replace(&self, model: Model) {
        *self.current.write().expect("model lock") = (Arc::new(model), Instant::now());
    }
}

/// The steps, wired to their ports and settings.
pub struct LeadIntelligence {
    pub store: Arc<dyn Store>,
    pub routing: SharedRouting,
    pub enricher: Option<Arc<dyn Enricher>>,
    pub scorer: Scorer,
    pub accounts: AccountMatcher,
    pub model: Arc<ModelSnapshot>,
    pub dedupe: DedupeSettings,
    pub features_ttl: Duration,
}

/// A lead after intelligence, and the lifecycle events it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Qualified {
    pub lead: QualifiedLead,
    pub merged: Option<LeadMerged>,
    pub scored: LeadScored,
}

impl LeadIntelligence {
    /// Dedupes, matches, enriches and scores `lead` (captured at `captured_at`). A store that is
    /// down is a transient failure (the record is retried); a slow enrichment provider is not a
    /// failure at all (the lead goes on unenriched by it).
    pub async fn apply(
        &self,
        mut lead: QualifiedLead,
        captured_at: DateTime<Utc>,
    ) -> Result<Qualified, StageError> {
        let (mut person, previous_score, merged) = self.identify(&mut lead, captured_at).await?;
        self.match_and_enrich(&mut lead).await?;
        let (score, features) = self.score(&mut lead, captured_at);
        // A new person's domain is decided now that enrichment and score are known (rules match on
        // them): a new person of an owned account goes to the owner's domain, whatever the rules
        // say, so one company hears from one rep; else the first matching rule's domain. Saved with
        // the person, so they come back there too.
        if person.captures.len() == 1 {
            let routing = self.routing.load();
            let owner = lead.account.as_ref().and_then(|a| a.owner.as_deref());
            let domain = match owner.and_then(|rep| routing.domain_of_rep(rep)) {
                Some(domain) => domain,
                None => routing.domain_for_lead(&lead),
            };
            lead.routing_domain = domain.to_string();
        }
        person.routing_domain = lead.routing_domain.clone();
        person.score = Some(score.score);
        person.account_id = lead.account.as_ref().map(|a| a.account_id.clone());
        self.remember(&mut person, &mut lead, &features).await?;
        let scored = LeadScored { lead_id: lead.lead_id, score, previous_score };
        Ok(Qualified { lead, merged, scored })
    }

    /// Step 1, who is this: a returning person's capture becomes their lead (id, routing domain,
    /// merged contact). Returns the person's record, their previous score and the merge event.
    async fn identify(
        &self,
        lead: &mut QualifiedLead,
        captured_at: DateTime<Utc>,
    ) -> Result<(PersonRecord, Option<u8>, Option<LeadMerged>), StageError> {
        let capture = Capture::of(lead, captured_at);
        let existing =
            if self.dedupe.enabled { find_returning(self.store.as_ref(), &capture).await? } else { None };
        let previous_score = existing.as_ref().and_then(|p| p.score);
        let (person, merge) = apply_capture(existing, &capture);
        lead.lead_id = person.lead_id;
        // A domain since removed from the configuration no longer routes: the territory's does.
        if self.routing.load().reps(&person.routing_domain).is_some() {
            lead.routing_domain = person.routing_domain.clone();
        }
        lead.contact = person.contact.clone();
        let merged = merge.as_ref().map(|m| {
            metrics::counter!("speedlead_leads_merged_total", "matched_by" => m.matched_by.clone())
                .increment(1);
            LeadMerged {
                source_lead_id: m.merged_lead_id,
                target_lead_id: m.into_lead_id,
                matched_by: m.matched_by.clone(),
            }
        });
        lead.merge = merge;
        Ok((person, previous_score, merged))
    }

    /// Step 2, which company and what do we know: the account match and enrichment, side by side.
    async fn match_and_enrich(&self, lead: &mut QualifiedLead) -> Result<(), StageError> {
        let (company, email) = (lead.contact.company.as_deref(), lead.contact.email.as_deref());
        let account_ttl = DAY * self.dedupe.account_ttl_days as u32;
        let (account, enrichment) = tokio::join!(
            match_account(self.store.as_ref(), &self.accounts, company, email, account_ttl),
            async {
                match &self.enricher {
                    Some(enricher) => Some(enricher.enrich(email, None).await),
                    None => None,
                }
            }
        );
        lead.account = account?;
        lead.enrichment = enrichment;
        Ok(())
    }

    /// Step 3, how hot: the score against the current model copy, and the features it used.
    fn score(&self, lead: &mut QualifiedLead, captured_at: DateTime<Utc>) -> (Score, Vec<(u32, f32)>) {
        // Recency needs the capture time; a provider's own timestamp signal wins.
        lead.signals
            .entry("captured_at".into())
            .or_insert_with(|| serde_json::Value::String(captured_at.to_rfc3339()));
        let facts = LeadFacts::of(lead);
        let features = features_of(&facts);
        let score = self.scorer.score_with_features(&facts, &features, &self.model.get(), Utc::now());
        metrics::counter!("speedlead_leads_scored_total", "grade" => score.grade.clone()).increment(1);
        lead.score = Some(score.clone());
        (score, features)
    }

    /// Step 4: save the person, the features the lead's outcome will teach the model with, and
    /// the lead's routing domain. Decisions are per (domain, lead), so the domain is claimed once
    /// (SET NX): a redelivered lead must reach the same domain even if its account gained an owner
    /// elsewhere in between, or it would get a second rep there. In that rare case the person is
    /// saved again with the claimed domain; otherwise the three writes share one round trip's wait.
    async fn remember(
        &self,
        person: &mut PersonRecord,
        lead: &mut QualifiedLead,
        features: &[(u32, f32)],
    ) -> Result<(), StageError> {
        let features_json = serde_json::to_string(features).expect("features serialize");
        let lead_id = lead.lead_id.to_string();
        let (features_key, domain_key) = (features_key(&lead_id), domain_claim_key(&lead_id));
        let ttl = DAY * self.dedupe.person_ttl_days as u32;
        let (saved, remembered, claimed) = tokio::join!(
            self.save_person(person, ttl),
            self.store.replace(&features_key, &features_json, self.features_ttl),
            self.store.remember(&domain_key, &lead.routing_domain, ttl),
        );
        saved.and(remembered)?;
        let mut claimed = claimed?.value;
        if self.routing.load().reps(&claimed).is_none() {
            // Claimed by a domain since removed from the configuration: this capture's domain holds.
            self.store.replace(&domain_key, &lead.routing_domain, ttl).await?;
            claimed = lead.routing_domain.clone();
        }
        if claimed != lead.routing_domain {
            lead.routing_domain = claimed.clone();
            person.routing_domain = claimed;
            self.save_person(person, ttl).await?;
        }
        Ok(())
    }

    async fn save_person(&self, person: &PersonRecord, ttl: Duration) -> Result<(), StoreError> {
        if self.dedupe.enabled {
            save(self.store.as_ref(), person, ttl).await
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "intelligence_tests.rs"]
mod tests;
