//! Lead enrichment from HTTP providers (Clearbit-, Apollo-like APIs), behind the
//! [`Enricher`] port so intake never sees HTTP.
//!
//! Speed-to-lead comes first: every configured provider is asked in parallel, each within its own
//! timeout, and the whole call returns within `budget_ms` whatever the providers do. A provider
//! that is slow, failing or switched off by its circuit breaker leaves the lead unenriched by it,
//! and says so (`Enrichment::providers[name]`, `complete = false`). Answers, "not found" included,
//! are cached in the store, so a known person costs no HTTP call.

pub mod breaker;
pub mod cache;
pub mod lookup;
pub mod mapping;
pub mod provider;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use speedlead_actors::ports::Enricher;
use speedlead_actors::store::SharedStore;
use speedlead_topics::Enrichment;
use tokio::time::{timeout_at, Instant};

use crate::error::Error;
use cache::AnswerCache;
use mapping::Profile;
use provider::{Answer, CallOutcome, Provider};

/// `[enrichment]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentSettings {
    #[serde(default = "defaults::budget_ms")]
    pub budget_ms: u64,
    #[serde(default = "defaults::cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    #[serde(default = "defaults::negative_cache_ttl_secs")]
    pub negative_cache_ttl_secs: u64,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// One `[[enrichment.providers]]` table.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Unique; used in cache keys, metric labels and `Enrichment::providers`.
    pub name: String,
    pub kind: LookupKind,
    /// Request URL with `{email}` (person) or `{domain}` (company) where the lookup goes.
    pub url: String,
    /// Empty: no credentials are sent.
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "defaults::failure_threshold")]
    pub failure_threshold: u32,
    #[serde(default = "defaults::open_secs")]
    pub open_secs: u64,
    #[serde(default)]
    pub format: ResponseFormat,
    /// Per-field JSON path overrides of the format's preset.
    #[serde(default)]
    pub fields: FieldPaths,
}

/// What a provider is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    /// By the lead's email.
    Person,
    /// By the company's domain (never a free-mail domain).
    Company,
}

impl LookupKind {
    pub fn placeholder(self) -> &'static str {
        match self {
            LookupKind::Person => "{email}",
            LookupKind::Company => "{domain}",
        }
    }
}

/// How the API key is sent: `bearer` (`Authorization: Bearer <key>`, Clearbit), `header:<name>`
/// (Apollo's `header:X-Api-Key`), or `query:<param>` (`query:api_key`). One string in config,
/// because that is how the vendors' docs state it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Auth {
    #[default]
    Bearer,
    Header(String),
    Query(String),
}

impl TryFrom<String> for Auth {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.split_once(':') {
            None if value == "bearer" => Ok(Auth::Bearer),
            Some(("header", name)) if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
                Ok(Auth::Header(name.to_string()))
            }
            Some(("query", param)) if !param.is_empty() => Ok(Auth::Query(param.to_string())),
            _ => Err(format!("auth '{value}' is not bearer, header:<name> or query:<param>")),
        }
    }
}

impl From<Auth> for String {
    fn from(auth: Auth) -> String {
        match auth {
            Auth::Bearer => "bearer".into(),
            Auth::Header(name) => format!("header:{name}"),
            Auth::Query(param) => format!("query:{param}"),
        }
    }
}

/// The shape of a provider's answer; see [`mapping`] for the paths each preset reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Clearbit,
    Apollo,
    /// Top-level keys named like [`Enrichment`]'s fields: for in-house providers.
    #[default]
    Flat,
}

/// A JSON path (`data.org.name`; numbers index arrays) per field, replacing the preset's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldPaths {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniority: Option<String>,
}

mod defaults {
    pub fn budget_ms() -> u64 {
        300
    }
    pub fn cache_ttl_secs() -> u64 {
        86_400
    }
    pub fn negative_cache_ttl_secs() -> u64 {
        3_600
    }
    pub fn timeout_ms() -> u64 {
        250
    }
    pub fn failure_threshold() -> u32 {
        5
    }
    pub fn open_secs() -> u64 {
        30
    }
}

impl Default for EnrichmentSettings {
    fn default() -> Self {
        EnrichmentSettings {
            budget_ms: defaults::budget_ms(),
            cache_ttl_secs: defaults::cache_ttl_secs(),
            negative_cache_ttl_secs: defaults::negative_cache_ttl_secs(),
            providers: Vec::new(),
        }
    }
}

impl ProviderConfig {
    /// A provider with the default auth, timeout, breaker and `flat` format.
    pub fn new(name: impl Into<String>, kind: LookupKind, url: impl Into<String>) -> Self {
        ProviderConfig {
            name: name.into(),
            kind,
            url: url.into(),
            api_key: String::new(),
            auth: Auth::default(),
            timeout_ms: defaults::timeout_ms(),
            failure_threshold: defaults::failure_threshold(),
            open_secs: defaults::open_secs(),
            format: ResponseFormat::default(),
            fields: FieldPaths::default(),
        }
    }
}

/// Written by hand so the API key never reaches a log line.
impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("api_key", &if self.api_key.is_empty() { "" } else { "<redacted>" })
            .field("auth", &self.auth)
            .field("timeout_ms", &self.timeout_ms)
            .field("failure_threshold", &self.failure_threshold)
            .field("open_secs", &self.open_secs)
            .field("format", &self.format)
            .field("fields", &self.fields)
            .finish()
    }
}

impl EnrichmentSettings {
    /// Names every problem: provider names usable as labels and unique, URLs with their placeholder.
    pub fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.budget_ms == 0 {
            problems.push("enrichment.budget_ms: must be above 0".to_string());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("enrichment.providers[{i}]");
            if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!("{at}.name: '{}' must be letters, digits, '-' or '_'", p.name));
            }
            if !seen.insert(p.name.as_str()) {
                problems.push(format!("{at}.name: duplicate provider '{}'", p.name));
            }
            let placeholder = p.kind.placeholder();
            if !p.url.contains(placeholder) {
                problems.push(format!("{at}.url: a {:?} provider's url needs {placeholder}", p.kind));
            } else if reqwest::Url::parse(&provider::url_for(&p.url, p.kind, "x")).is_err() {
                problems.push(format!("{at}.url: '{}' is not a URL", p.url));
            }
            if p.timeout_ms == 0 {
                problems.push(format!("{at}.timeout_ms: must be above 0"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }
}

/// The [`Enricher`] on HTTP providers, with answers cached in a [`speedlead_actors::store::Store`].
pub struct HttpEnricher {
    providers: Vec<Provider>,
    cache: AnswerCache,
    client: reqwest::Client,
    budget: Duration,
}

/// How one provider fared for one lead. The label is what `Enrichment::providers` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Fresh,
    Cached,
    NotFound,
    CachedNotFound,
    /// Nothing to look up: no email for a person provider, no company domain for a company one.
    Skipped,
    Timeout,
    Failed,
    CircuitOpen,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Cached => "cached",
            Status::NotFound | Status::CachedNotFound => "not_found",
            Status::Skipped => "skipped",
            Status::Timeout => "timeout",
            Status::Failed => "failed",
            Status::CircuitOpen => "circuit_open",
        }
    }

    /// The metric outcome: like the label, but a cached "not found" is told apart so cache hit
    /// rates can be read off the counter.
    fn outcome(self) -> &'static str {
        match self {
            Status::CachedNotFound => "cached_not_found",
            other => other.label(),
        }
    }

    /// The lead went on without what this provider might have known.
    fn incomplete(self) -> bool {
        matches!(self, Status::Timeout | Status::Failed | Status::CircuitOpen)
    }
}

impl HttpEnricher {
    pub fn new(settings: &EnrichmentSettings, store: SharedStore) -> Result<Self, Error> {
        settings.check()?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Config(format!("enrichment HTTP client: {e}")))?;
        Ok(HttpEnricher {
            providers: settings.providers.iter().map(Provider::new).collect(),
            cache: AnswerCache::new(
                store,
                Duration::from_secs(settings.cache_ttl_secs),
                Duration::from_secs(settings.negative_cache_ttl_secs),
            ),
            client,
            budget: Duration::from_millis(settings.budget_ms),
        })
    }

    /// No provider is configured: callers may leave `QualifiedLead::enrichment` absent.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Each provider's circuit breaker as of now: `closed`, `open` or `half_open`.
    pub fn breakers(&self) -> Vec<(String, &'static str)> {
        let now = tokio::time::Instant::now();
        let label = |s| match s {
            breaker::BreakerState::Closed => "closed",
            breaker::BreakerState::Open => "open",
            breaker::BreakerState::HalfOpen => "half_open",
        };
        self.providers.iter().map(|p| (p.name.clone(), label(p.breaker.state(now)))).collect()
    }

    /// One provider's part, never past `deadline`. The breaker hears of every call it permitted:
    /// timeouts count as failures whether the provider's own timeout or the overall budget cut it,
    /// since either way it did not answer in the time a lead can wait.
    async fn ask(&self, p: &Provider, lookup: Option<&str>, deadline: Instant) -> (Status, Option<Profile>) {
        let Some(lookup) = lookup else { return (Status::Skipped, None) };
        match timeout_at(deadline, self.cache.get(&p.name, lookup)).await {
            Ok(Some(Answer::Found(profile))) => return (Status::Cached, Some(profile)),
            Ok(Some(Answer::NotFound)) => return (Status::CachedNotFound, None),
            Ok(None) => {}
            Err(_) => return (Status::Timeout, None),
        }
        let started = Instant::now();
        let Some(permit) = p.breaker.try_acquire(started) else { return (Status::CircuitOpen, None) };
        let outcome = timeout_at(deadline.min(started + p.timeout), p.call(&self.client, lookup)).await;
        let now = Instant::now();
        metrics::histogram!("speedlead_enrichment_seconds", "provider" => p.name.clone())
            .record(now.duration_since(started).as_secs_f64());
        let answer = match outcome {
            Err(_) => {
                permit.failed(now);
                tracing::debug!(provider = %p.name, "enrichment provider timed out");
                return (Status::Timeout, None);
            }
            Ok(CallOutcome::Failed(reason)) => {
                permit.failed(now);
                tracing::warn!(provider = %p.name, %reason, "enrichment provider failed");
                return (Status::Failed, None);
            }
            Ok(CallOutcome::Queued) => {
                permit.succeeded(now);
                return (Status::NotFound, None);
            }
            Ok(CallOutcome::Answered(answer)) => {
                permit.succeeded(now);
                answer
            }
        };
        // The answer is in hand: a cache write the budget cuts short is dropped, not waited for.
        let _ = timeout_at(deadline, self.cache.put(&p.name, lookup, &answer)).await;
        match answer {
            Answer::Found(profile) => (Status::Fresh, Some(profile)),
            Answer::NotFound => (Status::NotFound, None),
        }
    }
}

#[async_trait]
impl Enricher for HttpEnricher {
    async fn enrich(&self, email: Option<&str>, company_domain_hint: Option<&str>) -> Enrichment {
        let deadline = Instant::now() + self.budget;
        let email = email.and_then(lookup::email);
        let domain = lookup::company_domain(email.as_deref(), company_domain_hint);
        let asks = self.providers.iter().map(|p| {
            let lookup = match p.kind {
                LookupKind::Person => email.as_deref(),
                LookupKind::Company => domain.as_deref(),
            };
            self.ask(p, lookup, deadline)
        });
        let results = futures::future::join_all(asks).await;

        let mut enrichment = Enrichment { complete: true, ..Enrichment::default() };
        for (p, (status, profile)) in self.providers.iter().zip(results) {
            metrics::counter!("speedlead_enrichment_requests_total", "provider" => p.name.clone(), "outcome" => status.outcome())
                .increment(1);
            enrichment.providers.insert(p.name.clone(), status.label().to_string());
            enrichment.complete &= !status.incomplete();
            if let Some(profile) = profile {
                merge(&mut enrichment, profile);
            }
        }
        enrichment
    }
}

/// Fills the fields `enrichment` still lacks: the first provider in config order to know a field
/// wins it, so providers are listed from most to least trusted.
fn merge(enrichment: &mut Enrichment, profile: Profile) {
    let e = enrichment;
    e.company_name = e.company_name.take().or(profile.company_name);
    e.domain = e.domain.take().or(profile.domain);
    e.employees = e.employees.or(profile.employees);
    e.industry = e.industry.take().or(profile.industry);
    e.country = e.country.take().or(profile.country);
    e.title = e.title.take().or(profile.title);
    e.seniority = e.seniority.take().or(profile.seniority);
}

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};
    use figment::Figment;

    use super::*;

    fn parse(toml: &str) -> Result<EnrichmentSettings, String> {
        Figment::from(Toml::string(toml)).extract::<EnrichmentSettings>().map_err(|e| e.to_string())
    }

    #[test]
    fn providers_parse_with_defaults() {
        let s = parse(
            r#"
            [[providers]]
            name = "clearbit"
            kind = "person"
            url = "https://person.clearbit.com/v2/people/find?email={email}"
            api_key = "sk_x"
            format = "clearbit"
            [[providers]]
            name = "apollo"
            kind = "company"
            url = "https://api.apollo.io/v1/organizations/enrich?domain={domain}"
            auth = "header:X-Api-Key"
            fields = { employees = "organization.headcount" }
            "#,
        )
        .unwrap();
        assert_eq!((s.budget_ms, s.cache_ttl_secs, s.negative_cache_ttl_secs), (300, 86_400, 3_600));
        let (clearbit, apollo) = (&s.providers[0], &s.providers[1]);
        assert_eq!((clearbit.auth.clone(), clearbit.timeout_ms), (Auth::Bearer, 250));
        assert_eq!((clearbit.failure_threshold, clearbit.open_secs), (5, 30));
        assert_eq!(apollo.auth, Auth::Header("X-Api-Key".into()));
        assert_eq!(
            (apollo.format, apollo.fields.employees.as_deref()),
            (ResponseFormat::Flat, Some("organization.headcount"))
        );
        assert!(s.check().is_ok());
        assert!(!format!("{clearbit:?}").contains("sk_x"), "the key stays out of Debug");
    }

    #[test]
    fn bad_provider_config_is_named() {
        let base = "[[providers]]\nname = \"p\"\nkind = \"person\"\nurl = \"http://h/?e={email}\"\n";
        for (extra, want) in [
            ("auth = \"basic\"", "auth 'basic'"),
            ("auth = \"header:bad header\"", "header:bad header"),
            ("timeout = 3", "timeout"),
            ("format = \"hubspot\"", "hubspot"),
            ("fields = { revenue = \"x\" }", "revenue"),
        ] {
            let err = parse(&format!("{base}{extra}\n")).unwrap_err();
            assert!(err.contains(want), "{extra}: {err}");
        }
        let s = EnrichmentSettings {
            providers: vec![
                ProviderConfig::new("p", LookupKind::Company, "http://h/?email={email}"),
                ProviderConfig::new("p", LookupKind::Person, "http://h/?email={email}"),
                ProviderConfig::new("a b", LookupKind::Person, "{email}"),
            ],
            ..EnrichmentSettings::default()
        };
        let err = s.check().unwrap_err().to_string();
        assert!(err.contains("providers[0].url: a Company provider's url needs {domain}"), "{err}");
        assert!(err.contains("providers[1].name: duplicate provider 'p'"), "{err}");
        assert!(err.contains("providers[2].name: 'a b'") && err.contains("providers[2].url"), "{err}");
    }

    #[test]
    fn merge_takes_the_first_non_empty_value_per_field() {
        let mut e = Enrichment::default();
        merge(&mut e, Profile { title: Some("CEO".into()), ..Profile::default() });
        merge(&mut e, Profile { title: Some("Chief".into()), employees: Some(9), ..Profile::default() });
        assert_eq!((e.title.as_deref(), e.employees), (Some("CEO"), Some(9)));
    }
}
