//! Layered configuration: built-in defaults (`config/default.toml`) → config file → `SPEEDLEAD_*`
//! environment → command-line flags. Later layers win key by key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use speedlead_actors::ack_token::AckSigner;
use speedlead_actors::intelligence::{DedupeSettings, ModelSettings};
use speedlead_actors::partition::RetryPolicy;
use speedlead_actors::rules::{Routing, RoutingConfig};
use speedlead_actors::scoring::ScoringConfig;

use crate::capture::CapturePolicy;
use crate::enrich::EnrichmentSettings;
use crate::error::Error;
use crate::providers::SourceConfig;
use crate::routing_reload::{load_file, RoutingHandle};

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    pub capture: CaptureSettings,
    pub kafka: KafkaSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub pipeline: PipelineSettings,
    pub routing: RoutingConfig,
    /// Routing from its own file instead of `routing`, reloaded while running.
    #[serde(default)]
    pub routing_rules: RoutingRulesSettings,
    /// Enrichment providers, cache TTLs and the time budget; no providers by default.
    #[serde(default)]
    pub enrichment: EnrichmentSettings,
    /// How long people and accounts are remembered for dedupe, and the fuzzy name threshold.
    #[serde(default)]
    pub dedupe: DedupeSettings,
    /// Scoring rules, grade cut-offs, and how the learned model is blended in and learns.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// Where the learned model lives and how often intake re-reads it.
    #[serde(default)]
    pub scoring_model: ModelSettings,
    /// Signing and lifetime of the accept links reps get.
    pub acks: AcksSettings,
    /// How reps are told about their leads: channels, per-rep plans, templates, limits.
    #[serde(default)]
    pub notify: crate::notify::settings::NotifySettings,
    /// Outbound webhooks: subscriptions to lead events, retries, the SSRF guard.
    #[serde(default)]
    pub webhooks: crate::webhooks::settings::WebhooksSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSettings {
    pub max_body_bytes: usize,
    pub require_contact: bool,
    pub idempotency_ttl_secs: u64,
    pub pending_ttl_secs: u64,
    pub duplicate_wait_ms: u64,
    pub publish_timeout_ms: u32,
    pub retry_after_secs: u64,
}

impl CaptureSettings {
    pub fn policy(&self) -> CapturePolicy {
        CapturePolicy {
            require_contact: self.require_contact,
            idempotency_ttl: Duration::from_secs(self.idempotency_ttl_secs),
            pending_ttl: Duration::from_secs(self.pending_ttl_secs),
            duplicate_wait: Duration::from_millis(self.duplicate_wait_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topic_prefix: String,
    pub group_prefix: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub fetch_wait_max_ms: u32,
    /// `fetch.wait.max.ms` of the stages off the path to the rep (learner, notify).
    pub relaxed_fetch_wait_max_ms: u32,
    pub session_timeout_ms: u32,
    pub delivery_timeout_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: String,
    /// When set, the rep API (`/v1/reps/...`) wants `Authorization: Bearer <admin_token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub decision_ttl_secs: u64,
    pub max_in_flight_per_partition: usize,
    pub drain_timeout_ms: u64,
}

/// Routing kept in a file of its own, so RevOps can change rules without a restart or a change
/// to the deployment's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingRulesSettings {
    /// TOML with the keys of `[routing]` at top level; unset: `[routing]`, fixed for the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// How often the file is checked for changes.
    pub reload_interval_ms: u64,
}

impl Default for RoutingRulesSettings {
    fn default() -> Self {
        RoutingRulesSettings { file: None, reload_interval_ms: 1000 }
    }
}

impl RoutingRulesSettings {
    pub fn reload_interval(&self) -> Duration {
        Duration::from_millis(self.reload_interval_ms)
    }
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisOverrides>,
}

#[derive(Debug, Default, Serialize)]
pub struct KafkaOverrides {
    pub brokers: String,
}

#[derive(Debug, Default, Serialize)]
pub struct RedisOverrides {
    pub url: String,
}

impl Settings {
    /// Loads the layers and validates the result, naming every bad key.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Error> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Error::Config(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("SPEEDLEAD_").split("__").ignore(&["config"]))
            .merge(Serialized::defaults(overrides));
        let settings: Settings = figment.extract().map_err(|e| Error::Config(e.to_string()))?;
        settings.routing()?;
        settings.check_routing_rules()?;
        settings.check_sources()?;
        settings.enrichment.check()?;
        settings.scoring.validate().map_err(|e| Error::Config(format!("scoring: {e}")))?;
        if !(0.0..=1.0).contains(&settings.dedupe.fuzzy_threshold) {
            return Err(Error::Config("dedupe.fuzzy_threshold: must be between 0 and 1".into()));
        }
        settings.acks.check()?;
        settings.webhooks.validate().map_err(|problems| Error::Config(problems.join("; ")))?;
        // Routes must outlive every redelivery and escalation chain (a route that expires early
        // frees a lead for a second rep), and fit in Redis's millisecond expiry.
        if !(3_600..=10 * 365 * 86_400).contains(&settings.pipeline.decision_ttl_secs) {
            return Err(Error::Config(
                "pipeline.decision_ttl_secs: must be between 3600 (an hour) and 315360000 (ten years)".into(),
            ));
        }
        Ok(settings)
    }

    /// The built-in defaults alone, for tests and the embedded demo.
    pub fn defaults() -> Self {
        Figment::from(Toml::string(DEFAULTS)).extract().expect("built-in defaults are valid")
    }

    pub fn routing(&self) -> Result<Routing, Error> {
        Routing::new(self.routing.clone()).map_err(Error::Config)
    }

    /// The routing to start with, shared and reloadable: the rules file when one is set (so a
    /// restart routes as the watcher last did), else `[routing]`.
    pub fn routing_handle(&self) -> Result<RoutingHandle, Error> {
        let routing = match &self.routing_rules.file {
            Some(file) => load_file(file).map_err(Error::Config)?,
            None => self.routing()?,
        };
        Ok(RoutingHandle::new(routing))
    }

    /// A rules file must be valid at startup: unlike a reload, there is no previous routing to
    /// fall back on.
    fn check_routing_rules(&self) -> Result<(), Error> {
        if self.routing_rules.reload_interval_ms == 0 {
            return Err(Error::Config("routing_rules.reload_interval_ms: must be at least 1".into()));
        }
        if self.routing_rules.file.is_some() {
            self.routing_handle()?;
        }
        Ok(())
    }

    /// Source names are unique URL path segments, and every source can verify what it receives.
    pub fn check_sources(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!("sources[{i}].name: '{}' must be letters, digits, '-' or '_'", s.name));
            }
            if !seen.insert(s.name.as_str()) {
                problems.push(format!("sources[{i}].name: duplicate source '{}'", s.name));
            }
            if s.secrets.is_empty() && !s.allow_unsigned {
                problems
                    .push(format!("sources[{i}].secrets: source '{}' has no secret to verify with", s.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }

    pub fn embedded_kafka(&self) -> bool {
        self.kafka.brokers.trim().is_empty()
    }

    pub fn embedded_store(&self) -> bool {
        self.redis.url.trim().is_empty()
    }
}

impl PipelineSettings {
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
        }
    }
}

/// Ack links: `{public_base_url}/v1/acks/{token}`, the token signed with `secrets[0]` and verified
/// with any of them (list the new secret first while rotating, keep the old ones until
/// `token_ttl_secs` has passed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcksSettings {
    /// A single string is taken as a one-secret list, so `SPEEDLEAD_ACKS__SECRETS=<secret>` works
    /// as well as `SPEEDLEAD_ACKS__SECRETS='["new", "old"]'`.
    #[serde(deserialize_with = "one_or_many")]
    pub secrets: Vec<String>,
    pub token_ttl_secs: u64,
    pub public_base_url: String,
}

/// Short HMAC keys are guessable offline from any one link a rep forwards.
const MIN_ACK_SECRET_BYTES: usize = 16;

/// The public secret `config/default.toml` ships so speedlead runs out of the box; `serve` warns
/// while it is in use, since anyone can forge accept links with it.
pub const DEVELOPMENT_ACK_SECRET: &str = "speedlead-development-ack-secret-not-for-production";

impl AcksSettings {
    pub fn check(&self) -> Result<(), Error> {
        if self.secrets.is_empty() {
            return Err(Error::Config(
                "acks.secrets: at least one secret is needed to sign ack links".into(),
            ));
        }
        let short: Vec<String> = (self.secrets.iter().enumerate())
            .filter(|(_, s)| s.len() < MIN_ACK_SECRET_BYTES)
            .map(|(i, _)| format!("acks.secrets[{i}]: must be at least {MIN_ACK_SECRET_BYTES} bytes"))
            .collect();
        if !short.is_empty() {
            return Err(Error::Config(short.join("; ")));
        }
        if !(self.public_base_url.starts_with("http://") || self.public_base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "acks.public_base_url: '{}' must start with http:// or https://",
                self.public_base_url
            )));
        }
        if self.token_ttl_secs == 0 {
            return Err(Error::Config("acks.token_ttl_secs: must be more than 0".into()));
        }
        Ok(())
    }

    pub fn signer(&self) -> AckSigner {
        AckSigner::new(self.secrets.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    /// The accept link a notification carries.
    pub fn link(&self, token: &str) -> String {
        format!("{}/v1/acks/{token}", self.public_base_url.trim_end_matches('/'))
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    pub fn uses_development_secret(&self) -> bool {
        self.secrets.iter().any(|s| s == DEVELOPMENT_ACK_SECRET)
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
// figment::Jail's closures return figment's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_route() {
        let s = Settings::defaults();
        assert!(s.embedded_kafka() && s.embedded_store());
        assert_eq!(s.routing().unwrap().reps("emea").unwrap().len(), 2);
    }

    #[test]
    fn file_then_env_then_flags_win_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "speedlead.toml",
                "[kafka]\nbrokers = \"file:9092\"\ntopic_prefix = \"t.\"\n[redis]\nurl = \"redis://file\"\n",
            )?;
            jail.set_env("SPEEDLEAD_KAFKA__BROKERS", "env:9092");
            let s = Settings::load(Some(Path::new("speedlead.toml")), &Overrides::default()).unwrap();
            assert_eq!((s.kafka.brokers.as_str(), s.kafka.topic_prefix.as_str()), ("env:9092", "t."));
            assert_eq!(s.redis.url, "redis://file");
            let flags =
                Overrides { kafka: Some(KafkaOverrides { brokers: "flag:9092".into() }), redis: None };
            let s = Settings::load(Some(Path::new("speedlead.toml")), &flags).unwrap();
            assert_eq!(s.kafka.brokers, "flag:9092");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[kafka]\nbrokrs = \"x\"\n")?;
            let err =
                Settings::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("brokrs"), "{err}");
            jail.create_file(
                "bad-sources.toml",
                "[[sources]]\nname = \"web site\"\nkind = \"web_form\"\n[[sources]]\nname = \"x\"\nkind = \"fax\"\n",
            )?;
            let err = Settings::load(Some(Path::new("bad-sources.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("fax"), "{err}");
            jail.create_file("unsigned.toml", "[[sources]]\nname = \"web site\"\nkind = \"web_form\"\n")?;
            let err = Settings::load(Some(Path::new("unsigned.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("sources[0].name: 'web site'") && err.contains("no secret to verify with"),
                "{err}"
            );
            jail.create_file("bad-routing.toml", "[routing]\ndefault_domain = \"mars\"\n")?;
            let err = Settings::load(Some(Path::new("bad-routing.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("routing.default_domain: 'mars'"), "{err}");
            assert!(Settings::load(Some(Path::new("missing.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn enrichment_providers_load_from_a_file_and_bad_ones_are_named() {
        assert!(Settings::defaults().enrichment.providers.is_empty());
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "enrich.toml",
                "[enrichment]\nbudget_ms = 200\n[[enrichment.providers]]\nname = \"apollo\"\n\
                 kind = \"person\"\nurl = \"http://127.0.0.1:9/v1/people/match?email={email}\"\n\
                 auth = \"header:X-Api-Key\"\nformat = \"apollo\"\n",
            )?;
            let s = Settings::load(Some(Path::new("enrich.toml")), &Overrides::default()).unwrap();
            assert_eq!((s.enrichment.budget_ms, s.enrichment.cache_ttl_secs), (200, 86400));
            assert_eq!(s.enrichment.providers[0].timeout_ms, 250);
            jail.create_file(
                "bad-enrich.toml",
                "[[enrichment.providers]]\nname = \"apollo\"\nkind = \"company\"\nurl = \"http://h/?email={email}\"\n",
            )?;
            let err = Settings::load(Some(Path::new("bad-enrich.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("enrichment.providers[0].url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn grade_pools_load_from_a_file_and_bad_ones_are_named() {
        assert!(Settings::defaults().routing.domains.iter().all(|d| d.grade_pools.is_empty()));
        let file_with = |pools: &str| {
            format!(
                "[routing]\ndefault_domain = \"emea\"\n[[routing.domains]]\nname = \"na\"\n\
                 reps = [{{ id = \"ana\" }}]\n[[routing.domains]]\nname = \"emea\"\n\
                 countries = [\"DE\"]\nreps = [{{ id = \"dora\" }}, {{ id = \"emil\" }}]\n\
                 grade_pools = {pools}\n"
            )
        };
        figment::Jail::expect_with(|jail| {
            jail.create_file("pools.toml", &file_with(r#"{ A = ["dora"] }"#))?;
            let s = Settings::load(Some(Path::new("pools.toml")), &Overrides::default()).unwrap();
            let routing = s.routing().unwrap();
            let emea = routing.domain("emea").unwrap();
            assert_eq!(emea.pool("grade:A").unwrap().reps, ["dora".to_string()]);
            assert!(emea.pool("grade:B").is_none(), "B-leads go to the default pool");
            assert_eq!(emea.default_pool().reps.len(), 2);
            jail.create_file("bad-pools.toml", &file_with(r#"{ A = ["zed"], B = [], a = ["dora"] }"#))?;
            let err = Settings::load(Some(Path::new("bad-pools.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            for needle in [
                "routing.domains[1].grade_pools.A[0]: 'zed' is not a rep of domain 'emea'",
                "routing.domains[1].grade_pools.B: pool is empty",
                "routing.domains[1].grade_pools.a: 'a' is not a grade; grades are A, B, C, D",
            ] {
                assert!(err.contains(needle), "missing {needle:?} in {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_decision_ttl_that_routes_could_outlive_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SPEEDLEAD_PIPELINE__DECISION_TTL_SECS", "0");
            let err = Settings::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("pipeline.decision_ttl_secs: must be between 3600"), "{err}");
            jail.set_env("SPEEDLEAD_PIPELINE__DECISION_TTL_SECS", "86400");
            assert!(Settings::load(None, &Overrides::default()).is_ok());
            Ok(())
        });
    }

    #[test]
    fn acks_secrets_load_from_file_or_env_and_bad_ones_are_named() {
        let defaults = Settings::defaults();
        assert!(defaults.acks.uses_development_secret() && defaults.acks.check().is_ok());
        assert_eq!(defaults.acks.token_ttl_secs, 604800);
        assert_eq!(defaults.acks.link("t.s"), "http://127.0.0.1:8080/v1/acks/t.s");
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "acks.toml",
                "[acks]\nsecrets = [\"new-secret-0123456789\", \"old-secret-0123456789\"]\n\
                 public_base_url = \"https://leads.example.com/\"\n",
            )?;
            let s = Settings::load(Some(Path::new("acks.toml")), &Overrides::default()).unwrap();
            assert_eq!(s.acks.secrets.len(), 2);
            assert!(!s.acks.uses_development_secret());
            assert_eq!(s.acks.link("abc"), "https://leads.example.com/v1/acks/abc");
            let claims = speedlead_actors::ack_token::AckClaims {
                lead_id: uuid::Uuid::nil(),
                domain: "na".into(),
                rep_id: "ana".into(),
                attempt: 1,
                expires_at: i64::MAX,
            };
            let old = AcksSettings { secrets: vec!["old-secret-0123456789".into()], ..s.acks.clone() };
            assert_eq!(s.acks.signer().verify(&old.signer().sign(&claims), 0).unwrap(), claims);

            for (file, needle) in [
                ("[acks]\nsecrets = []\n", "acks.secrets: at least one secret"),
                (
                    "[acks]\nsecrets = [\"long-enough-0123456789\", \"short\"]\n",
                    "acks.secrets[1]: must be at least 16 bytes",
                ),
                ("[acks]\npublic_base_url = \"leads.example.com\"\n", "acks.public_base_url"),
                ("[acks]\nsecret = [\"x\"]\n", "`secret`"),
            ] {
                jail.create_file("bad-acks.toml", file)?;
                let err = Settings::load(Some(Path::new("bad-acks.toml")), &Overrides::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(needle), "missing {needle:?} in {err}");
            }

            jail.set_env("SPEEDLEAD_ACKS__SECRETS", "env-secret-0123456789");
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.acks.secrets, ["env-secret-0123456789"]);
            jail.set_env("SPEEDLEAD_ACKS__SECRETS", "[\"env-new-0123456789ab\", \"env-old-0123456789ab\"]");
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.acks.secrets, ["env-new-0123456789ab", "env-old-0123456789ab"]);
            Ok(())
        });
    }
}
