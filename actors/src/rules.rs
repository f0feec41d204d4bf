//! Static routing configuration: which routing domain (team) a lead belongs to and which reps a
//! domain has. The routing issue replaces the country rule with ordered rules and pools; the seam
//! (`domain_for` in intake, `reps` in the router) stays.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use speedlead_topics::Contact;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Domain for leads no domain claims by country.
    pub default_domain: String,
    pub domains: Vec<DomainConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes whose leads this domain owns.
    #[serde(default)]
    pub countries: Vec<String>,
    pub reps: Vec<RepConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A compiled, validated routing configuration.
#[derive(Debug, Clone)]
pub struct Routing {
    config: RoutingConfig,
    by_country: HashMap<String, usize>,
    rep_ids: Vec<Vec<String>>,
}

impl Routing {
    /// Validates the configuration, naming every problem found.
    pub fn new(config: RoutingConfig) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        let mut reps_seen = HashSet::new();
        let mut by_country = HashMap::new();
        for (i, d) in config.domains.iter().enumerate() {
            if d.name.trim().is_empty() {
                problems.push(format!("routing.domains[{i}].name: must not be empty"));
            }
            if !names.insert(d.name.as_str()) {
                problems.push(format!("routing.domains[{i}].name: duplicate domain '{}'", d.name));
            }
            if d.reps.is_empty() {
                problems.push(format!("routing.domains[{i}].reps: domain '{}' has no reps", d.name));
            }
            for (j, r) in d.reps.iter().enumerate() {
                if !reps_seen.insert(r.id.as_str()) {
                    problems.push(format!("routing.domains[{i}].reps[{j}].id: rep '{}' is in more than one place; a rep belongs to exactly one domain", r.id));
                }
            }
            for c in &d.countries {
                let code = c.to_ascii_uppercase();
                if code.len() != 2 || !code.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    problems.push(format!(
                        "routing.domains[{i}].countries: '{c}' is not an ISO 3166-1 alpha-2 code"
                    ));
                } else if let Some(prev) = by_country.insert(code, i) {
                    problems.push(format!(
                        "routing.domains[{i}].countries: '{c}' is already owned by domain '{}'",
                        config.domains[prev].name
                    ));
                }
            }
        }
        if !names.contains(config.default_domain.as_str()) {
            problems.push(format!(
                "routing.default_domain: '{}' is not a configured domain",
                config.default_domain
            ));
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let rep_ids = config.domains.iter().map(|d| d.reps.iter().map(|r| r.id.clone()).collect()).collect();
        Ok(Routing { config, by_country, rep_ids })
    }

    /// The routing domain that owns a lead with this (normalized) contact.
    pub fn domain_for(&self, contact: &Contact) -> &str {
        contact
            .country
            .as_deref()
            .and_then(|c| self.by_country.get(&c.to_ascii_uppercase()))
            .map(|&i| self.config.domains[i].name.as_str())
            .unwrap_or(&self.config.default_domain)
    }

    /// Rep ids of a domain in round-robin order, or `None` for an unknown domain.
    pub fn reps(&self, domain: &str) -> Option<&[String]> {
        let i = self.config.domains.iter().position(|d| d.name == domain)?;
        Some(&self.rep_ids[i])
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> RoutingConfig {
        serde_json::from_value(serde_json::json!({
            "default_domain": "na",
            "domains": [
                {"name": "na", "countries": ["US", "CA"], "reps": [{"id": "ana"}, {"id": "ben"}]},
                {"name": "emea", "countries": ["de", "FR"], "reps": [{"id": "chloe"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn routes_by_country_case_insensitively_with_default() {
        let r = Routing::new(sample()).unwrap();
        let contact = |c: Option<&str>| Contact { country: c.map(Into::into), ..Default::default() };
        assert_eq!(r.domain_for(&contact(Some("DE"))), "emea");
        assert_eq!(r.domain_for(&contact(Some("ca"))), "na");
        assert_eq!(r.domain_for(&contact(Some("JP"))), "na");
        assert_eq!(r.domain_for(&contact(None)), "na");
        assert_eq!(r.reps("emea").unwrap(), ["chloe".to_string()]);
        assert!(r.reps("apac").is_none());
    }

    #[test]
    fn rejects_bad_config_naming_each_field() {
        let mut c = sample();
        c.default_domain = "apac".into();
        c.domains[1].countries.push("US".into());
        c.domains[1].reps.push(RepConfig { id: "ana".into(), name: None });
        c.domains.push(DomainConfig {
            name: "empty".into(),
            countries: vec!["Germany".into()],
            reps: vec![],
        });
        let err = Routing::new(c).unwrap_err();
        for needle in [
            "routing.default_domain: 'apac'",
            "'US' is already owned by domain 'na'",
            "rep 'ana' is in more than one place",
            "domains[2].reps: domain 'empty' has no reps",
            "'Germany' is not an ISO 3166-1 alpha-2 code",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
    }
}
