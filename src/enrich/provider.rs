//! One enrichment provider: its request (URL template, API key), its breaker, and what its answer
//! means. Timeouts are the caller's business (it bounds every call by the provider's timeout and
//! the overall budget); here an answer is classified as the breaker needs it:
//!
//! - 2xx with data: found. 200 with nothing usable (Apollo answers `{"person": null}`), 204, 404 and
//!   422 (the email or domain is not a valid lookup): not found. The provider is healthy, so these
//!   count as successes, and the "no" is cached.
//! - 202: the provider queued the lookup (Clearbit's asynchronous mode). Healthy, but the answer
//!   may exist later, so it is not cached.
//! - Transport errors, 5xx, 429, 401/403 and every other status, and a body that is not JSON:
//!   failed. These count toward opening the breaker: a provider rate-limiting us or refusing our
//!   key will not get better by being asked once per lead.

use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::breaker::Breaker;
use super::mapping::{Mapping, Profile};
use super::{Auth, LookupKind, ProviderConfig};

/// A provider's answer about one lookup, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Found(Profile),
    NotFound,
}

/// How one call to a provider went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    Answered(Answer),
    /// 202: lookup queued by the provider; nothing to use or cache yet.
    Queued,
    /// The reason, free of the request URL (it can carry the API key and the email).
    Failed(String),
}

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub kind: LookupKind,
    url: String,
    api_key: String,
    auth: Auth,
    pub timeout: Duration,
    mapping: Mapping,
    pub breaker: Breaker,
}

impl Provider {
    /// Assumes `config` passed [`super::EnrichmentSettings::check`].
    pub fn new(config: &ProviderConfig) -> Self {
        Provider {
            name: config.name.clone(),
            kind: config.kind,
            url: config.url.clone(),
            api_key: config.api_key.clone(),
            auth: config.auth.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            mapping: Mapping::new(config.format, config.kind, &config.fields),
            breaker: Breaker::new(config.failure_threshold, Duration::from_secs(config.open_secs)),
        }
    }

    /// The request URL for `lookup` (an email or a domain, per the provider's kind).
    pub fn url_for(&self, lookup: &str) -> String {
        url_for(&self.url, self.kind, lookup)
    }

    /// Asks the provider about `lookup` once.
    pub async fn call(&self, client: &reqwest::Client, lookup: &str) -> CallOutcome {
        let mut request =
            client.get(self.url_for(lookup)).header(reqwest::header::ACCEPT, "application/json");
        if !self.api_key.is_empty() {
            request = match &self.auth {
                Auth::Bearer => request.bearer_auth(&self.api_key),
                Auth::Header(name) => request.header(name.as_str(), &self.api_key),
                Auth::Query(param) => request.query(&[(param.as_str(), self.api_key.as_str())]),
            };
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return CallOutcome::Failed(e.without_url().to_string()),
        };
        match response.status() {
            StatusCode::ACCEPTED => CallOutcome::Queued,
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => {
                CallOutcome::Answered(Answer::NotFound)
            }
            status if status.is_success() => match response.json::<serde_json::Value>().await {
                Ok(body) => {
                    let profile = self.mapping.apply(&body);
                    if profile == Profile::default() {
                        CallOutcome::Answered(Answer::NotFound)
                    } else {
                        CallOutcome::Answered(Answer::Found(profile))
                    }
                }
                Err(e) => CallOutcome::Failed(format!("unreadable answer: {}", e.without_url())),
            },
            status => CallOutcome::Failed(format!("answered {status}")),
        }
    }
}

/// `template` with its placeholder replaced by `lookup`, percent-encoded (an email's `+` would
/// otherwise arrive as a space).
pub fn url_for(template: &str, kind: LookupKind, lookup: &str) -> String {
    template.replace(kind.placeholder(), &percent_encode(lookup))
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_template_encodes_the_lookup() {
        assert_eq!(
            url_for("http://h/v2/people/find?email={email}", LookupKind::Person, "ana+demo@acme.io"),
            "http://h/v2/people/find?email=ana%2Bdemo%40acme.io"
        );
        assert_eq!(
            url_for("http://h/orgs/{domain}/enrich", LookupKind::Company, "acme.io"),
            "http://h/orgs/acme.io/enrich"
        );
    }

    #[test]
    fn answers_cache_as_small_json() {
        let found = Answer::Found(Profile { employees: Some(12), ..Profile::default() });
        assert_eq!(serde_json::to_string(&found).unwrap(), r#"{"found":{"employees":12}}"#);
        assert_eq!(serde_json::to_string(&Answer::NotFound).unwrap(), r#""not_found""#);
        assert_eq!(serde_json::from_str::<Answer>(r#"{"found":{"employees":12}}"#).unwrap(), found);
    }
}
