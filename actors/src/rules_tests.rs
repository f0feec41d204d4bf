use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use speedlead_topics::{Contact, QualifiedLead};

use super::*;
use crate::rule_match::{LeadFacts, Matcher};

pub(crate) fn sample() -> RoutingConfig {
    serde_json::from_value(json!({
        "default_domain": "na",
        "domains": [
            {"name": "na", "countries": ["US", "CA"], "reps": [{"id": "ana"}, {"id": "ben"}]},
            {"name": "emea", "countries": ["de", "FR"], "reps": [{"id": "chloe"}]}
        ]
    }))
    .unwrap()
}

/// `sample()` with `patch`'s top-level keys replaced (e.g. `rules`, `regions`, `sla`).
fn config(patch: Value) -> RoutingConfig {
    let mut c = serde_json::to_value(sample()).unwrap();
    c.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
    serde_json::from_value(c).unwrap()
}

/// A lead of domain `na` from `web-form` with `patch`'s top-level keys replaced.
fn lead(patch: Value) -> QualifiedLead {
    let mut v = json!({
        "lead_id": uuid::Uuid::nil(), "lead_key": "k", "routing_domain": "na",
        "source": "web-form", "event_id": "e1", "contact": {}
    });
    v.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn score(score: u8, grade: &str) -> Value {
    json!({"score": score, "grade": grade, "rules": score, "contributions": {}})
}

fn err_of(c: RoutingConfig) -> String {
    Routing::new(c).unwrap_err()
}

fn assert_all(err: &str, needles: &[&str]) {
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
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
    assert_eq!((r.domain_of_rep("chloe"), r.domain_of_rep("zed")), (Some("emea"), None));
    assert_eq!(r.rep("ben").map(|p| p.domain.as_str()), Some("na"));
    assert_eq!(r.domains().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["na", "emea"]);
}

#[test]
fn rejects_bad_config_naming_each_field() {
    let mut c = sample();
    c.default_domain = "apac".into();
    c.domains[1].countries.push("US".into());
    c.domains[1].reps.push(RepConfig::new("ana"));
    c.domains.push(
        serde_json::from_value(json!({"name": "empty", "countries": ["Germany"], "reps": []})).unwrap(),
    );
    assert_all(
        &err_of(c),
        &[
            "routing.default_domain: 'apac'",
            "'US' is already owned by domain 'na'",
            "rep 'ana' is in more than one place",
            "domains[2].reps: domain 'empty' has no reps",
            "'Germany' is not an ISO 3166-1 alpha-2 code",
        ],
    );
}

fn with_pools(pools: Value) -> RoutingConfig {
    let mut c = sample();
    c.domains[1].reps.push(RepConfig::new("dora"));
    c.domains[1].grade_pools = serde_json::from_value(pools).unwrap();
    c
}

#[test]
fn grade_pools_take_the_leads_of_their_grade() {
    let r = Routing::new(with_pools(json!({"A": ["dora"], "C": ["chloe", "dora"]}))).unwrap();
    let emea = r.domain("emea").unwrap();
    let (a, c) = (emea.pool("grade:A").unwrap(), emea.pool("grade:C").unwrap());
    assert_eq!((a.strategy, a.reps.as_slice()), (Strategy::RoundRobin, &["dora".to_string()][..]));
    assert_eq!(c.reps, ["chloe", "dora"]);
    assert!(a.skills.is_empty() && a.backup.is_none() && a.sla_secs.is_none());
    assert!(emea.pool("grade:B").is_none() && r.domain("na").unwrap().pool("grade:A").is_none());
    let pool_of = |domain: &str, grade: Option<&str>| {
        let scored = |g| json!({"routing_domain": domain, "score": score(50, g)});
        let l = lead(grade.map_or(json!({"routing_domain": domain}), scored));
        r.route(&l).map(|route| (route.pool.name.clone(), route.pool.reps.clone(), route.rule))
    };
    let dora = vec!["dora".to_string()];
    let all = vec!["chloe".to_string(), "dora".to_string()];
    assert_eq!(pool_of("emea", Some("A")), Some(("grade:A".into(), dora, None)));
    assert_eq!(pool_of("emea", Some("C")).unwrap().0, "grade:C");
    assert_eq!(pool_of("emea", Some("B")), Some(("all".into(), all.clone(), None)), "no pool: default");
    assert_eq!(pool_of("emea", Some("a")).unwrap().0, "all", "grades are exact");
    assert_eq!(pool_of("emea", None), Some(("all".into(), all, None)), "unscored: default");
    assert_eq!(pool_of("na", Some("A")).unwrap().0, "all", "pools are per domain");
    assert_eq!(pool_of("apac", Some("A")), None, "unknown domain");
}

#[test]
fn grade_pools_default_to_none_and_load_from_toml_like_config() {
    let c: RoutingConfig = serde_json::from_value(json!({
        "default_domain": "emea",
        "domains": [{"name": "emea", "reps": [{"id": "dora"}], "grade_pools": {"A": ["dora"]}}]
    }))
    .unwrap();
    assert_eq!(c.domains[0].grade_pools["A"], ["dora"]);
    assert!(sample().domains[0].grade_pools.is_empty());
    let json = serde_json::to_string(&sample()).unwrap();
    assert!(!json.contains("grade_pools") && !json.contains("rules") && !json.contains("regions"), "{json}");
}

#[test]
fn rejects_bad_grade_pools_naming_each_key() {
    let err = err_of(with_pools(json!({
        "A": ["zed", "dora", "dora", "ana"], "B": [], "E": ["dora"], "hot": ["chloe"]
    })));
    assert_all(
        &err,
        &[
            "routing.domains[1].grade_pools.A[0]: 'zed' is not a rep of domain 'emea'",
            "routing.domains[1].grade_pools.A[2]: 'dora' is listed twice",
            "routing.domains[1].grade_pools.A[3]: 'ana' is not a rep of domain 'emea'",
            "routing.domains[1].grade_pools.B: pool is empty; list at least one rep of domain 'emea'",
            "routing.domains[1].grade_pools.E: 'E' is not a grade; grades are A, B, C, D",
            "routing.domains[1].grade_pools.hot: 'hot' is not a grade",
        ],
    );
    assert!(!err.contains("A[1]"), "{err}");
}

#[test]
fn every_domain_has_the_implicit_pool_all_as_its_default() {
    let r = Routing::new(with_pools(json!({"B": ["dora"]}))).unwrap();
    let emea = r.domain("emea").unwrap();
    let names: Vec<_> = emea.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["grade:B", "all"]);
    let all = emea.pool("all").unwrap();
    assert_eq!((all.strategy, all.reps.as_slice()), (Strategy::RoundRobin, &emea.reps[..]));
    assert!(all.skills.is_empty() && all.backup.is_none());
    assert_eq!(emea.default_pool().name, "all");
    let route = r.route(&lead(json!({"routing_domain": "emea"}))).unwrap();
    assert_eq!((route.domain.name.as_str(), route.pool.name.as_str(), route.rule), ("emea", "all", None));
    assert_eq!(route.sla, Duration::from_secs(300));
    assert!(route.required_skills.is_empty());
    assert!(r.route(&lead(json!({"routing_domain": "mars"}))).is_none());
}

fn pooled() -> RoutingConfig {
    let mut c = config(json!({
        "rules": [
            {"name": "hot-inbound", "domain": "na", "pool": "hot", "when": {"grades": ["A"]}, "sla_secs": 60},
            {"name": "spanish", "domain": "na", "when": {"languages": ["es"]},
             "required_skills": ["language:{language}", "product:{product}", "enterprise"]},
            {"name": "germany", "domain": "emea", "when": {"countries": ["DE"]}}
        ]
    }));
    c.domains[0].reps.push(RepConfig::new("cy"));
    c.domains[0].pools = serde_json::from_value(json!([
        {"name": "hot", "reps": ["cy", "ana"], "strategy": "load_balanced", "skills": ["closer"], "backup": "team"},
        {"name": "team", "reps": ["ana", "ben"], "strategy": "weighted", "sla_secs": 120}
    ]))
    .unwrap();
    c.domains[0].grade_pools = serde_json::from_value(json!({"B": ["ben"]})).unwrap();
    c
}

#[test]
fn the_first_matching_rule_of_the_lead_s_domain_picks_the_pool() {
    let r = Routing::new(pooled()).unwrap();
    let hot = lead(json!({"score": score(90, "A"), "attribution": {"language": "es"}}));
    let route = r.route(&hot).unwrap();
    assert_eq!((route.rule, route.pool.name.as_str()), (Some("hot-inbound"), "hot"));
    assert_eq!(route.pool.skills, ["closer"], "pool skills stay with the pool");
    assert!(route.required_skills.is_empty(), "the first match wins, not the union");
    let spanish = lead(json!({"score": score(70, "B"), "attribution": {"language": "ES"}}));
    let route = r.route(&spanish).unwrap();
    assert_eq!((route.rule, route.pool.name.as_str()), (Some("spanish"), "all"), "no pool: the default");
    let german = lead(json!({"contact": {"country": "DE"}}));
    assert_eq!(r.route(&german).unwrap().rule, None, "rules of other domains are not considered");
}

#[test]
fn unmatched_leads_take_their_grade_pool_else_the_default_pool() {
    let mut c = pooled();
    let r = Routing::new(c.clone()).unwrap();
    let pool_of = |r: &Routing, grade: Option<&str>| {
        let l = lead(grade.map_or(json!({}), |g| json!({"score": score(50, g)})));
        r.route(&l).unwrap().pool.name.clone()
    };
    assert_eq!(pool_of(&r, Some("B")), "grade:B");
    assert_eq!(pool_of(&r, Some("C")), "all");
    assert_eq!(pool_of(&r, None), "all");
    c.domains[0].default_pool = Some("team".into());
    let r = Routing::new(c).unwrap();
    assert_eq!((pool_of(&r, Some("C")), pool_of(&r, Some("B"))), ("team".into(), "grade:B".into()));
    let na = r.domain("na").unwrap();
    let of = |rep| na.pools_of(rep).map(|p| p.name.as_str()).collect::<Vec<_>>();
    assert_eq!(
        (of("ana"), of("ben"), of("cy")),
        (vec!["hot", "team", "all"], vec!["team", "grade:B", "all"], vec!["hot", "all"])
    );
}

#[test]
fn rule_placeholders_take_the_lead_s_values_and_drop_when_missing() {
    let r = Routing::new(pooled()).unwrap();
    let l = lead(json!({"attribution": {"language": "ES"}, "signals": {"product_interest": "Payroll"}}));
    assert_eq!(r.route(&l).unwrap().required_skills, ["language:es", "product:payroll", "enterprise"]);
    let l = lead(json!({"signals": {"language": "es"}}));
    assert_eq!(r.route(&l).unwrap().required_skills, ["language:es", "enterprise"], "no product: dropped");
}

#[test]
fn sla_precedence_is_rule_pool_grade_domain_default() {
    let mut c = pooled();
    c.rules[0].when =
        RuleMatch { grades: vec!["A".into()], sources: vec!["chat".into()], ..Default::default() };
    c.domains[0].pools[0].sla_secs = Some(90);
    c.domains[0].sla_secs = Some(240);
    c.sla = serde_json::from_value(json!({"default_secs": 600, "grades": {"A": 180, "C": 200}})).unwrap();
    let r = Routing::new(c).unwrap();
    let sla = |patch: Value| r.route(&lead(patch)).unwrap().sla.as_secs();
    assert_eq!(sla(json!({"source": "chat", "score": score(95, "A")})), 60, "rule");
    assert_eq!(
        sla(json!({"routing_domain": "na", "score": score(95, "A")})),
        180,
        "grade (no rule, grade:A absent)"
    );
    assert_eq!(sla(json!({"score": score(60, "B")})), 240, "domain (grade:B has none)");
    assert_eq!(sla(json!({"score": score(45, "C")})), 200, "grade");
    assert_eq!(sla(json!({"routing_domain": "emea"})), 600, "routing default");
    let mut c = pooled();
    c.domains[0].default_pool = Some("team".into());
    c.sla.grades.insert("C".into(), 200);
    let r = Routing::new(c).unwrap();
    assert_eq!(
        r.route(&lead(json!({"score": score(45, "C")}))).unwrap().sla.as_secs(),
        120,
        "pool over grade"
    );
    let d = r.domain("na").unwrap();
    assert_eq!((d.sla.as_secs(), d.working_hours_only, d.escalation.max_attempts), (300, false, 5));
}

#[test]
fn domain_for_lead_takes_the_first_matching_rule_else_the_country() {
    let r = Routing::new(pooled()).unwrap();
    assert_eq!(r.domain_for_lead(&lead(json!({"contact": {"country": "de"}}))), "emea");
    let hot_german = lead(json!({"contact": {"country": "DE"}, "score": score(90, "A")}));
    assert_eq!(r.domain_for_lead(&hot_german), "na", "hot-inbound comes before germany");
    let mut c = pooled();
    c.rules.clear();
    let r = Routing::new(c).unwrap();
    let enriched = lead(json!({"enrichment": {"country": "fr", "complete": true}}));
    assert_eq!(r.domain_for_lead(&enriched), "emea", "the company's country when the contact has none");
    let both = lead(json!({"contact": {"country": "US"}, "enrichment": {"country": "FR", "complete": true}}));
    assert_eq!(r.domain_for_lead(&both), "na");
    assert_eq!(r.domain_for_lead(&lead(json!({"contact": {"country": "JP"}}))), "na");
}

fn matches(when: Value, regions: Value, l: &QualifiedLead) -> bool {
    let (mut problems, regions) = (Vec::new(), serde_json::from_value(regions).unwrap());
    let m = Matcher::compile(&serde_json::from_value(when).unwrap(), &regions, "when", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    m.matches(&LeadFacts::of(l))
}

#[test]
fn each_condition_matches_case_insensitively_and_needs_its_fact() {
    let full = lead(json!({
        "source": "Chat", "contact": {"country": "us"},
        "attribution": {"state": "ca", "zip": "94107", "language": "ES"},
        "signals": {"state": "NY", "product": "Payroll", "postal_code": 94107},
        "enrichment": {"industry": "Software", "employees": 250, "complete": true},
        "score": score(82, "A")
    }));
    let bare = lead(json!({}));
    let cases = [
        (json!({"countries": ["CA", "US"]}), json!({"countries": ["MX"]})),
        (json!({"states": ["CA"]}), json!({"states": ["NY"]})),
        (json!({"postal_prefixes": ["941"]}), json!({"postal_prefixes": ["100"]})),
        (json!({"industries": ["software"]}), json!({"industries": ["retail"]})),
        (json!({"min_employees": 250, "max_employees": 250}), json!({"min_employees": 251})),
        (json!({"min_score": 80, "max_score": 82}), json!({"max_score": 81})),
        (json!({"grades": ["a", "B"]}), json!({"grades": ["C"]})),
        (json!({"sources": ["chat"]}), json!({"sources": ["web-form"]})),
        (json!({"languages": ["es"]}), json!({"languages": ["de"]})),
        (json!({"products": ["PAYROLL"]}), json!({"products": ["crm"]})),
    ];
    for (yes, no) in cases {
        assert!(matches(yes.clone(), json!({}), &full), "{yes} should match");
        assert!(!matches(no.clone(), json!({}), &full), "{no} should not match");
        if yes.get("sources").is_none() {
            assert!(!matches(yes.clone(), json!({}), &bare), "{yes} needs its fact");
        }
    }
    assert!(matches(json!({}), json!({}), &bare), "an empty when matches every lead");
    let all = json!({"countries": ["US"], "grades": ["A"], "languages": ["es"], "min_employees": 100});
    assert!(matches(all.clone(), json!({}), &full));
    assert!(
        !matches(json!({"countries": ["US"], "grades": ["B"]}), json!({}), &full),
        "every condition holds"
    );
}

#[test]
fn facts_prefer_attribution_then_signals_and_ignore_blanks() {
    let l = lead(json!({
        "attribution": {"state": " ", "region": "bc", "postal_code": "SW1A 1AA"},
        "signals": {"state": 5, "language": "pt", "product_interest": "", "product": "crm"}
    }));
    let f = LeadFacts::of(&l);
    assert_eq!(
        (f.state, f.postal_code, f.language, f.product),
        (Some("bc"), Some("SW1A 1AA"), Some("pt"), Some("crm"))
    );
    assert_eq!((f.country, f.industry, f.employees, f.score, f.grade), (None, None, None, None, None));
    assert!(matches(json!({"postal_prefixes": ["sw1a1", "E1"]}), json!({}), &l), "spaces and case ignored");
    assert!(!matches(json!({"postal_prefixes": ["SW1A 1AAB"]}), json!({}), &l), "longer than the code");
}

#[test]
fn regions_match_countries_and_country_subdivisions() {
    let regions = json!({"west": ["US-CA", "us-wa", "CA-BC"], "dach": ["DE", "AT", "CH"]});
    let at = |country: &str, state: Value| {
        lead(json!({"contact": {"country": country}, "signals": {"state": state}}))
    };
    let west = json!({"regions": ["west"]});
    assert!(matches(west.clone(), regions.clone(), &at("US", json!("ca"))));
    assert!(matches(west.clone(), regions.clone(), &at("us", json!("WA"))));
    assert!(!matches(west.clone(), regions.clone(), &at("US", json!("NY"))));
    assert!(!matches(west.clone(), regions.clone(), &at("US", json!(null))), "a state is needed");
    assert!(!matches(west.clone(), regions.clone(), &at("MX", json!("CA"))));
    let either = json!({"regions": ["west", "dach"]});
    assert!(matches(either.clone(), regions.clone(), &at("CH", json!(null))));
    assert!(matches(either.clone(), regions.clone(), &at("CA", json!("bc"))));
    assert!(!matches(either, regions.clone(), &lead(json!({}))));
    let r = Routing::new(config(json!({
        "regions": regions,
        "rules": [{"name": "dach", "domain": "emea", "when": {"regions": ["dach"]}}]
    })))
    .unwrap();
    assert_eq!(r.domain_for_lead(&at("AT", json!(null))), "emea");
}

#[test]
fn rejects_bad_pools_reps_and_slas_naming_each_field() {
    let mut c = pooled();
    c.domains[0].pools = serde_json::from_value(json!([
        {"name": "all", "reps": ["ana"]},
        {"name": "grade:X", "reps": ["ana"]},
        {"name": "hot", "reps": ["ana", "ana", "chloe"], "backup": "hot", "sla_secs": 0},
        {"name": "hot", "reps": [], "backup": "cold"},
        {"name": "", "reps": ["ben"]}
    ]))
    .unwrap();
    c.domains[0].default_pool = Some("warm".into());
    c.domains[0].sla_secs = Some(0);
    c.domains[0].escalation.max_attempts = 0;
    c.domains[0].reps[0].manager = Some("ana".into());
    c.domains[0].reps[1].manager = Some("zed".into());
    c.domains[0].reps[1].time_zone = "Mars/Base".into();
    c.domains[1].reps[0].manager = Some("ana".into());
    c.sla = serde_json::from_value(json!({"default_secs": 0, "grades": {"A": 0, "E": 60}})).unwrap();
    let err = err_of(c);
    assert_all(
        &err,
        &[
            "routing.domains[0].pools[0].name: 'all' is reserved",
            "routing.domains[0].pools[1].name: 'grade:X' is reserved",
            "routing.domains[0].pools[2].reps[1]: 'ana' is listed twice",
            "routing.domains[0].pools[2].reps[2]: 'chloe' is not a rep of domain 'na'",
            "routing.domains[0].pools[2].backup: pool 'hot' cannot be its own backup",
            "routing.domains[0].pools[2].sla_secs: must be at least 1 second",
            "routing.domains[0].pools[3].name: duplicate pool 'hot' in domain 'na'",
            "routing.domains[0].pools[3].reps: pool is empty; list at least one rep of domain 'na'",
            "routing.domains[0].pools[3].backup: 'cold' is not a pool of domain 'na'",
            "routing.domains[0].pools[4].name: must not be empty",
            "routing.domains[0].default_pool: 'warm' is not a pool of domain 'na'",
            "routing.domains[0].sla_secs: must be at least 1 second",
            "routing.domains[0].escalation.max_attempts: must be at least 1",
            "routing.domains[0].reps[0].manager: rep 'ana' cannot be their own manager",
            "routing.domains[0].reps[1].manager: 'zed' is not a configured rep",
            "routing.domains[0].reps[1].time_zone: 'Mars/Base' is not an IANA time zone",
            "routing.sla.default_secs: must be at least 1 second",
            "routing.sla.grades.A: must be at least 1 second",
            "routing.sla.grades.E: 'E' is not a grade; grades are A, B, C, D",
        ],
    );
    assert!(!err.contains("domains[1].reps[0].manager"), "a manager may be in another domain: {err}");
    assert!(!err.contains("pools[0].reps") && !err.contains("rules[0].pool"), "{err}");
}

#[test]
fn accepts_backups_defaults_and_weighted_pools_of_weight_one() {
    let mut c = pooled();
    c.domains[0].pools[1].backup = Some("grade:B".into());
    c.domains[0].default_pool = Some("all".into());
    c.domains[0].reps[0].manager = Some("chloe".into());
    let r = Routing::new(c).unwrap();
    assert_eq!(r.domain("na").unwrap().pool("team").unwrap().strategy, Strategy::Weighted);
    assert_eq!(r.rep("ana").unwrap().manager.as_deref(), Some("chloe"));
}

#[test]
fn rejects_bad_rules_and_regions_naming_each_field() {
    let err = err_of(config(json!({
        "regions": {"west": ["US-CA", "USA", "US-", "U1", "DE-ABCD"], "empty": []},
        "rules": [
            {"name": "", "domain": "mars", "pool": "hot"},
            {"name": "a", "domain": "na", "pool": "hot", "sla_secs": 0,
             "when": {"min_employees": 500, "max_employees": 100, "min_score": 90, "max_score": 80,
                      "grades": ["A", "e"], "regions": ["west", "east"], "countries": ["USA", "us"]},
             "required_skills": ["language:{lang}", "{product", "", "product:{product}"]},
            {"name": "a", "domain": "emea", "when": {"max_score": 101}}
        ]
    })));
    assert_all(
        &err,
        &[
            "routing.regions.west[1]: 'USA' is neither a country",
            "routing.regions.west[2]: 'US-' is neither",
            "routing.regions.west[3]: 'U1' is neither",
            "routing.regions.west[4]: 'DE-ABCD' is neither",
            "routing.regions.empty: region 'empty' is empty",
            "routing.rules[0].name: must not be empty",
            "routing.rules[0].domain: 'mars' is not a configured domain",
            "routing.rules[1].pool: 'hot' is not a pool of domain 'na'",
            "routing.rules[1].sla_secs: must be at least 1 second",
            "routing.rules[1].when.min_employees: 500 is more than max_employees 100",
            "routing.rules[1].when.min_score: 90 is more than max_score 80",
            "routing.rules[1].when.grades: 'e' is not a grade",
            "routing.rules[1].when.regions: 'east' is not a region of routing.regions",
            "routing.rules[1].when.countries: 'USA' is not an ISO 3166-1 alpha-2 code",
            "routing.rules[1].required_skills[0]: 'language:{lang}' has a placeholder other than {language} and {product}",
            "routing.rules[1].required_skills[1]: '{product' has a placeholder",
            "routing.rules[1].required_skills[2]: must not be empty",
            "routing.rules[2].name: duplicate rule 'a'",
            "routing.rules[2].when.max_score: 101 is more than 100",
        ],
    );
    for quiet in ["west[0]", "rules[0].pool", "'A' is not", "'us'", "required_skills[3]"] {
        assert!(!err.contains(quiet), "{quiet:?} is fine: {err}");
    }
}

#[test]
fn routing_is_shared_not_copied() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Routing>();
    let r = std::sync::Arc::new(Routing::new(pooled()).unwrap());
    assert_eq!(r.config().rules.len(), 3);
    assert_eq!(BTreeMap::<String, u64>::new(), r.config().sla.grades);
}
