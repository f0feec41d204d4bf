//! Static routing configuration: which routing domain (team) a lead belongs to, which reps a
//! domain has, and which of them take the domain's leads of a given grade (`grade_pools`). The
//! routing issue replaces the country rule with ordered rules; the seam (`domain_for` in intake,
//! `reps` and `rotation` in the router) stays.

use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// Per lead grade (`A`..`D`, as in `Score::grade`), the reps of this domain who take its leads
    /// of that grade, round robin among themselves (e.g. `{ A = ["dora"] }`: hot leads to Dora).
    /// Grades without a pool go round robin to all of `reps`. Owners still come first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grade_pools: BTreeMap<String, Vec<String>>,
}

/// The grades a lead can have (`Score::grade`), hottest first: the keys `grade_pools` accepts.
pub const GRADES: [&str; 4] = ["A", "B", "C", "D"];

/// The store names of the grades' pools, in [`GRADES`] order: a pool's turn counter is
/// `rr:{<domain>}:grade:<grade>` on Redis, beside the domain's own `rr:{<domain>}`.
const POOL_NAMES: [&str; 4] = ["grade:A", "grade:B", "grade:C", "grade:D"];

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

/// The reps a lead takes its round-robin turn among: the pool of its grade, or the domain's reps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation<'a> {
    /// The rotation's name in the store (its own turn counter), `None` for the domain's own.
    pub pool: Option<&'a str>,
    pub reps: &'a [String],
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
            check_grade_pools(i, d, &mut problems);
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

    fn domain_index(&self, domain: &str) -> Option<usize> {
        self.config.domains.iter().position(|d| d.name == domain)
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
    /// The domain a rep works in (a rep is in exactly one).
    pub fn domain_of_rep(&self, rep: &str) -> Option<&str> {
        let i = self.rep_ids.iter().position(|reps| reps.iter().any(|r| r == rep))?;
        Some(&self.config.domains[i].name)
    }

    pub fn reps(&self, domain: &str) -> Option<&[String]> {
        Some(&self.rep_ids[self.domain_index(domain)?])
    }

    /// Where a lead of `domain` with `grade` (none when unscored) takes a round-robin turn: the
    /// grade's pool (store name `grade:<grade>`) if the domain has one, else all the domain's reps.
    /// `None` for an unknown domain.
    pub fn rotation(&self, domain: &str, grade: Option<&str>) -> Option<Rotation<'_>> {
        let i = self.domain_index(domain)?;
        let pools = &self.config.domains[i].grade_pools;
        let pool = grade.and_then(|g| Some((GRADES.iter().position(|&x| x == g)?, pools.get(g)?)));
        Some(match pool {
            Some((k, reps)) => Rotation { pool: Some(POOL_NAMES[k]), reps },
            None => Rotation { pool: None, reps: &self.rep_ids[i] },
        })
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }
}

/// `grade_pools` keys are grades, and each pool is a non-empty list of distinct reps of the domain.
fn check_grade_pools(i: usize, d: &DomainConfig, problems: &mut Vec<String>) {
    for (grade, pool) in &d.grade_pools {
        let key = format!("routing.domains[{i}].grade_pools.{grade}");
        if !GRADES.contains(&grade.as_str()) {
            problems.push(format!("{key}: '{grade}' is not a grade; grades are {}", GRADES.join(", ")));
        }
        if pool.is_empty() {
            problems.push(format!("{key}: pool is empty; list at least one rep of domain '{}'", d.name));
        }
        let mut seen = HashSet::new();
        for (j, rep) in pool.iter().enumerate() {
            if !d.reps.iter().any(|r| &r.id == rep) {
                problems.push(format!("{key}[{j}]: '{rep}' is not a rep of domain '{}'", d.name));
            } else if !seen.insert(rep.as_str()) {
                problems.push(format!("{key}[{j}]: '{rep}' is listed twice"));
            }
        }
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
            grade_pools: BTreeMap::new(),
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

    fn with_pools(pools: serde_json::Value) -> RoutingConfig {
        let mut c = sample();
        c.domains[1].reps.push(RepConfig { id: "dora".into(), name: None });
        c.domains[1].grade_pools = serde_json::from_value(pools).unwrap();
        c
    }

    #[test]
    fn grade_pools_pick_the_rotation_of_a_graded_lead() {
        let r = Routing::new(with_pools(serde_json::json!({"A": ["dora"], "C": ["chloe", "dora"]}))).unwrap();
        let all = ["chloe".to_string(), "dora".to_string()];
        let dora = ["dora".to_string()];
        assert_eq!(r.rotation("emea", Some("A")), Some(Rotation { pool: Some("grade:A"), reps: &dora }));
        assert_eq!(r.rotation("emea", Some("C")).unwrap().pool, Some("grade:C"));
        assert_eq!(r.rotation("emea", Some("B")), Some(Rotation { pool: None, reps: &all }));
        assert_eq!(
            r.rotation("emea", Some("a")),
            Some(Rotation { pool: None, reps: &all }),
            "grades are exact"
        );
        assert_eq!(r.rotation("emea", None), Some(Rotation { pool: None, reps: &all }));
        assert_eq!(r.rotation("na", Some("A")).unwrap().pool, None, "pools are per domain");
        assert_eq!(r.rotation("apac", Some("A")), None);
    }

    #[test]
    fn grade_pools_default_to_none_and_load_from_toml_like_config() {
        let c: RoutingConfig = serde_json::from_value(serde_json::json!({
            "default_domain": "emea",
            "domains": [{"name": "emea", "reps": [{"id": "dora"}], "grade_pools": {"A": ["dora"]}}]
        }))
        .unwrap();
        assert_eq!(c.domains[0].grade_pools["A"], ["dora"]);
        assert!(sample().domains[0].grade_pools.is_empty());
        assert!(!serde_json::to_string(&sample()).unwrap().contains("grade_pools"));
    }

    #[test]
    fn rejects_bad_grade_pools_naming_each_key() {
        let err = Routing::new(with_pools(serde_json::json!({
            "A": ["zed", "dora", "dora", "ana"],
            "B": [],
            "E": ["dora"],
            "hot": ["chloe"]
        })))
        .unwrap_err();
        for needle in [
            "routing.domains[1].grade_pools.A[0]: 'zed' is not a rep of domain 'emea'",
            "routing.domains[1].grade_pools.A[2]: 'dora' is listed twice",
            "routing.domains[1].grade_pools.A[3]: 'ana' is not a rep of domain 'emea'",
            "routing.domains[1].grade_pools.B: pool is empty; list at least one rep of domain 'emea'",
            "routing.domains[1].grade_pools.E: 'E' is not a grade; grades are A, B, C, D",
            "routing.domains[1].grade_pools.hot: 'hot' is not a grade",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
        assert!(!err.contains("A[1]"), "{err}");
    }
}
