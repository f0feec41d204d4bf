//! The compiled routing configuration: which domain (team) a lead belongs to, and within it which
//! pool of reps takes it, under which rule, with which SLA and skill requirements.
//!
//! Everything a routing decision needs is resolved here once, at [`Routing::new`] (and again on
//! every reload of the rules file), so a decision is lookups only: indices instead of names, rules
//! compiled to case-folded matchers, SLAs and pools resolved per domain. A configuration that is
//! wrong in any way is refused whole, naming every problem, so a bad reload never half-applies.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use speedlead_topics::{Contact, QualifiedLead};

use crate::pool::Pool;
use crate::rep::RepProfile;
use crate::rule_match::{check_regions, is_alpha2, LeadFacts, Matcher, SkillTemplate};
pub use crate::rules_config::*;

/// The grades a lead can have (`Score::grade`), hottest first: the keys `grade_pools` and
/// `sla.grades` accept.
pub const GRADES: [&str; 4] = ["A", "B", "C", "D"];

/// The names of the grades' pools, in [`GRADES`] order. Their names are their store keys (rotation
/// cursors), so they must stay stable across releases.
const POOL_NAMES: [&str; 4] = ["grade:A", "grade:B", "grade:C", "grade:D"];

/// The routing configuration as every stage holds it: swapped whole when the rules file is reloaded,
/// read without locks (a decision loads it once and sees one consistent version).
pub type SharedRouting = std::sync::Arc<arc_swap::ArcSwap<Routing>>;

/// Shares `routing` for the stages (and a reload watcher).
pub fn shared(routing: Routing) -> SharedRouting {
    std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(routing))
}

/// The implicit pool of every domain: all its reps, round robin. Reserved, like `grade:*`, so an
/// explicit pool can never take over an existing rotation's store keys.
pub const ALL_POOL: &str = "all";

/// A compiled, validated routing configuration.
#[derive(Debug, Clone)]
pub struct Routing {
    config: RoutingConfig,
    domains: Vec<Domain>,
    by_country: HashMap<String, usize>,
    /// Rep id → (domain, position among the domain's reps).
    rep_index: HashMap<String, (usize, usize)>,
    rules: Vec<Rule>,
    /// `routing.sla.grades`, in [`GRADES`] order.
    grade_sla: [Option<u64>; 4],
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    domain: usize,
    /// `None`: the domain's default pool.
    pool: Option<usize>,
    when: Matcher,
    required_skills: Vec<SkillTemplate>,
    sla_secs: Option<u64>,
}

/// A compiled routing domain.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    /// Rep ids in configured order.
    pub reps: Vec<String>,
    /// Explicit pools in configured order, then the grade pools (`grade:A`…), then `all`.
    pub pools: Vec<Pool>,
    /// The domain's `sla_secs`, else `routing.sla.default_secs`.
    pub sla: Duration,
    pub escalation: EscalationConfig,
    /// `routing.sla.working_hours_only`.
    pub working_hours_only: bool,
    /// Aligned with `reps`.
    profiles: Vec<RepProfile>,
    default_pool: usize,
    grade_pools: [Option<usize>; 4],
}

/// Where one lead goes: the pool that picks its rep and what the rep must have and do.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    pub domain: &'a Domain,
    pub pool: &'a Pool,
    /// The rule that matched, for the audit; `None` when the lead fell through to a grade pool or
    /// the default pool.
    pub rule: Option<&'a str>,
    /// The rule's requirements for this lead (the pool's own skills are added when choosing).
    pub required_skills: Vec<String>,
    pub sla: Duration,
}

impl Routing {
    /// Validates the configuration, naming every problem found (joined with `; `).
    pub fn new(config: RoutingConfig) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        let mut by_country = HashMap::new();
        let mut rep_index = HashMap::new();
        let mut domains = Vec::with_capacity(config.domains.len());
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
                if rep_index.contains_key(&r.id) {
                    problems.push(format!("routing.domains[{i}].reps[{j}].id: rep '{}' is in more than one place; a rep belongs to exactly one domain", r.id));
                } else {
                    rep_index.insert(r.id.clone(), (i, j));
                }
            }
            for c in &d.countries {
                let code = c.to_ascii_uppercase();
                if !is_alpha2(&code) {
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
            domains.push(compile_domain(i, d, &config.sla, &mut problems));
        }
        check_managers(&config, &rep_index, &mut problems);
        if !names.contains(config.default_domain.as_str()) {
            problems.push(format!(
                "routing.default_domain: '{}' is not a configured domain",
                config.default_domain
            ));
        }
        let grade_sla = check_sla(&config.sla, &mut problems);
        check_regions(&config.regions, &mut problems);
        let rules = compile_rules(&config, &domains, &mut problems);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Routing { config, domains, by_country, rep_index, rules, grade_sla })
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    fn domain_index(&self, domain: &str) -> Option<usize> {
        self.domains.iter().position(|d| d.name == domain)
    }

    /// The routing domain that owns a lead with this (normalized) contact, by country alone.
    pub fn domain_for(&self, contact: &Contact) -> &str {
        self.domain_for_country(contact.country.as_deref())
    }

    /// The domain of the first rule (of any domain) that matches the lead, else by country (the
    /// contact's, else the enriched company's), else the default domain.
    pub fn domain_for_lead(&self, lead: &QualifiedLead) -> &str {
        let facts = LeadFacts::of(lead);
        match self.rules.iter().find(|r| r.when.matches(&facts)) {
            Some(rule) => &self.domains[rule.domain].name,
            None => self.domain_for_country(facts.country),
        }
    }

    fn domain_for_country(&self, country: Option<&str>) -> &str {
        let code = country.map(str::trim).filter(|c| is_alpha2(c)).map(|c| c.as_bytes());
        let code = code.map(|b| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
        code.as_ref()
            .and_then(|b| self.by_country.get(std::str::from_utf8(b).ok()?))
            .map(|&i| self.domains[i].name.as_str())
            .unwrap_or(&self.config.default_domain)
    }

    /// The domain a rep works in (a rep is in exactly one).
    pub fn domain_of_rep(&self, rep: &str) -> Option<&str> {
        self.rep_index.get(rep).map(|&(d, _)| self.domains[d].name.as_str())
    }

    /// Rep ids of a domain in configured order, or `None` for an unknown domain.
    pub fn reps(&self, domain: &str) -> Option<&[String]> {
        self.domain(domain).map(|d| d.reps.as_slice())
    }

    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name == name)
    }

    pub fn domains(&self) -> impl Iterator<Item = &Domain> {
        self.domains.iter()
    }

    /// A rep's compiled profile, whichever domain they are in.
    pub fn rep(&self, id: &str) -> Option<&RepProfile> {
        self.rep_index.get(id).map(|&(d, j)| &self.domains[d].profiles[j])
    }

    /// Where a lead of its `routing_domain` goes: the first of the domain's rules that matches it,
    /// else its grade's pool, else the domain's default pool. `None` for an unknown domain.
    pub fn route(&self, lead: &QualifiedLead) -> Option<Route<'_>> {
        let d = self.domain_index(&lead.routing_domain)?;
        let domain = &self.domains[d];
        let facts = LeadFacts::of(lead);
        let rule = self.rules.iter().find(|r| r.domain == d && r.when.matches(&facts));
        let grade = facts.grade.and_then(|g| GRADES.iter().position(|&x| x == g));
        let pool = match rule {
            Some(rule) => rule.pool.unwrap_or(domain.default_pool),
            None => grade.and_then(|k| domain.grade_pools[k]).unwrap_or(domain.default_pool),
        };
        let pool = &domain.pools[pool];
        let mut required_skills: Vec<String> = Vec::new();
        for skill in rule.iter().flat_map(|r| &r.required_skills).filter_map(|t| t.render(&facts)) {
            if !required_skills.contains(&skill) {
                required_skills.push(skill);
            }
        }
        let secs =
            rule.and_then(|r| r.sla_secs).or(pool.sla_secs).or_else(|| grade.and_then(|k| self.grade_sla[k]));
        Some(Route {
            domain,
            pool,
            rule: rule.map(|r| r.name.as_str()),
            required_skills,
            sla: secs.map(Duration::from_secs).unwrap_or(domain.sla),
        })
    }
}

impl Domain {
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    pub fn default_pool(&self) -> &Pool {
        &self.pools[self.default_pool]
    }

    /// The pools listing `rep`, explicit first, then grade pools, then `all`: the order a rep's
    /// pools are reported and escalated through.
    pub fn pools_of<'a>(&'a self, rep: &'a str) -> impl Iterator<Item = &'a Pool> {
        self.pools.iter().filter(move |p| p.reps.iter().any(|r| r == rep))
    }
}

fn compile_domain(i: usize, d: &DomainConfig, sla: &SlaConfig, problems: &mut Vec<String>) -> Domain {
    let field = format!("routing.domains[{i}]");
    let mut profiles = Vec::with_capacity(d.reps.len());
    for (j, r) in d.reps.iter().enumerate() {
        match RepProfile::compile(&d.name, r, &format!("{field}.reps[{j}]")) {
            Ok(p) => profiles.push(p),
            Err(e) => problems.extend(e),
        }
    }
    let reps: Vec<String> = d.reps.iter().map(|r| r.id.clone()).collect();
    let mut pools = Vec::with_capacity(d.pools.len() + d.grade_pools.len() + 1);
    let mut seen = HashSet::new();
    for (k, p) in d.pools.iter().enumerate() {
        let pf = format!("{field}.pools[{k}]");
        if p.name.trim().is_empty() {
            problems.push(format!("{pf}.name: must not be empty"));
        } else if p.name == ALL_POOL || p.name.starts_with("grade:") {
            problems.push(format!(
                "{pf}.name: '{}' is reserved ('{ALL_POOL}' and 'grade:<grade>' are the implicit pools)",
                p.name
            ));
        } else if !seen.insert(p.name.as_str()) {
            problems.push(format!("{pf}.name: duplicate pool '{}' in domain '{}'", p.name, d.name));
        }
        check_members(&format!("{pf}.reps"), d, &p.reps, problems);
        check_secs(&format!("{pf}.sla_secs"), p.sla_secs, problems);
        pools.push(Pool {
            name: p.name.clone(),
            strategy: p.strategy,
            reps: p.reps.clone(),
            skills: p.skills.clone(),
            backup: p.backup.clone(),
            sla_secs: p.sla_secs,
        });
    }
    let mut grade_pools = [None; 4];
    for (k, grade) in GRADES.iter().enumerate() {
        if let Some(members) = d.grade_pools.get(*grade) {
            grade_pools[k] = Some(pools.len());
            pools.push(round_robin(POOL_NAMES[k], members.clone()));
        }
    }
    pools.push(round_robin(ALL_POOL, reps.clone()));
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    for (k, p) in d.pools.iter().enumerate() {
        match &p.backup {
            Some(b) if *b == p.name => {
                problems.push(format!("{field}.pools[{k}].backup: pool '{b}' cannot be its own backup"))
            }
            Some(b) if !names.contains(&b.as_str()) => problems
                .push(format!("{field}.pools[{k}].backup: '{b}' is not a pool of domain '{}'", d.name)),
            _ => {}
        }
    }
    let default_pool = match &d.default_pool {
        Some(name) => names.iter().position(|n| n == name).unwrap_or_else(|| {
            problems.push(format!("{field}.default_pool: '{name}' is not a pool of domain '{}'", d.name));
            0
        }),
        None => pools.len() - 1,
    };
    check_secs(&format!("{field}.sla_secs"), d.sla_secs, problems);
    if d.escalation.max_attempts == 0 {
        problems.push(format!("{field}.escalation.max_attempts: must be at least 1"));
    }
    Domain {
        name: d.name.clone(),
        reps,
        pools,
        sla: Duration::from_secs(d.sla_secs.unwrap_or(sla.default_secs)),
        escalation: d.escalation.clone(),
        working_hours_only: sla.working_hours_only,
        profiles,
        default_pool,
        grade_pools,
    }
}

fn round_robin(name: &str, reps: Vec<String>) -> Pool {
    Pool {
        name: name.into(),
        strategy: Strategy::RoundRobin,
        reps,
        skills: Vec::new(),
        backup: None,
        sla_secs: None,
    }
}

/// `grade_pools` keys are grades, and each pool is a non-empty list of distinct reps of the domain.
fn check_grade_pools(i: usize, d: &DomainConfig, problems: &mut Vec<String>) {
    for (grade, pool) in &d.grade_pools {
        let key = format!("routing.domains[{i}].grade_pools.{grade}");
        if !GRADES.contains(&grade.as_str()) {
            problems.push(format!("{key}: '{grade}' is not a grade; grades are {}", GRADES.join(", ")));
        }
        check_members(&key, d, pool, problems);
    }
}

/// A pool's members are a non-empty list of distinct reps of its domain: a rep of another domain
/// would be routed leads their domain's SLA and escalation do not cover.
fn check_members(key: &str, d: &DomainConfig, pool: &[String], problems: &mut Vec<String>) {
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

/// A zero SLA would escalate every lead the moment it is assigned.
fn check_secs(key: &str, secs: Option<u64>, problems: &mut Vec<String>) {
    if secs == Some(0) {
        problems.push(format!("{key}: must be at least 1 second"));
    }
}

/// Escalation ends at a manager, so a manager must be someone leads can actually reach.
fn check_managers(
    config: &RoutingConfig,
    rep_index: &HashMap<String, (usize, usize)>,
    problems: &mut Vec<String>,
) {
    for (i, d) in config.domains.iter().enumerate() {
        for (j, r) in d.reps.iter().enumerate() {
            let field = format!("routing.domains[{i}].reps[{j}].manager");
            match &r.manager {
                Some(m) if *m == r.id => {
                    problems.push(format!("{field}: rep '{m}' cannot be their own manager"))
                }
                Some(m) if !rep_index.contains_key(m) => {
                    problems.push(format!("{field}: '{m}' is not a configured rep"))
                }
                _ => {}
            }
        }
    }
}

/// Checks `routing.sla` and returns its per-grade SLAs in [`GRADES`] order.
fn check_sla(sla: &SlaConfig, problems: &mut Vec<String>) -> [Option<u64>; 4] {
    check_secs("routing.sla.default_secs", Some(sla.default_secs), problems);
    let mut by_grade = [None; 4];
    for (grade, &secs) in &sla.grades {
        let key = format!("routing.sla.grades.{grade}");
        match GRADES.iter().position(|g| g == grade) {
            Some(k) => by_grade[k] = Some(secs),
            None => {
                problems.push(format!("{key}: '{grade}' is not a grade; grades are {}", GRADES.join(", ")))
            }
        }
        check_secs(&key, Some(secs), problems);
    }
    by_grade
}

fn compile_rules(config: &RoutingConfig, domains: &[Domain], problems: &mut Vec<String>) -> Vec<Rule> {
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(config.rules.len());
    for (k, r) in config.rules.iter().enumerate() {
        let field = format!("routing.rules[{k}]");
        if r.name.trim().is_empty() {
            problems.push(format!("{field}.name: must not be empty"));
        } else if !names.insert(r.name.as_str()) {
            problems.push(format!("{field}.name: duplicate rule '{}'", r.name));
        }
        let domain = domains.iter().position(|d| d.name == r.domain);
        if domain.is_none() {
            problems.push(format!("{field}.domain: '{}' is not a configured domain", r.domain));
        }
        let pool = match (domain, &r.pool) {
            (Some(d), Some(name)) => {
                let pool = domains[d].pools.iter().position(|p| p.name == *name);
                if pool.is_none() {
                    problems.push(format!("{field}.pool: '{name}' is not a pool of domain '{}'", r.domain));
                }
                pool
            }
            _ => None,
        };
        let when = Matcher::compile(&r.when, &config.regions, &format!("{field}.when"), problems);
        let required_skills = (r.required_skills.iter().enumerate())
            .map(|(j, s)| SkillTemplate::compile(s, &format!("{field}.required_skills[{j}]"), problems))
            .collect();
        check_secs(&format!("{field}.sla_secs"), r.sla_secs, problems);
        rules.push(Rule {
            name: r.name.clone(),
            domain: domain.unwrap_or(0),
            pool,
            when,
            required_skills,
            sla_secs: r.sla_secs,
        });
    }
    rules
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
