use chrono::{Duration, TimeZone};
use serde_json::json;
use speedlead_topics::Enrichment;

use super::*;
use crate::model::LearningConfig;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

/// A lead as intake emits it, built from JSON so fields added to the type later keep their
/// defaults here.
fn lead(source: &str, title: &str, country: &str, signals: serde_json::Value) -> QualifiedLead {
    serde_json::from_value(json!({
        "lead_id": "6f2c1d0e-1111-4222-8333-944455556666",
        "lead_key": "ana@acme.io",
        "routing_domain": "na",
        "source": source,
        "event_id": "e-1",
        "contact": {"email": "ana@acme.io", "title": title, "country": country},
        "signals": signals,
    }))
    .unwrap()
}

fn enriched(mut lead: QualifiedLead, employees: u32, industry: &str, seniority: &str) -> QualifiedLead {
    lead.enrichment = Some(Enrichment {
        employees: Some(employees),
        industry: Some(industry.into()),
        seniority: Some(seniority.into()),
        complete: true,
        ..Default::default()
    });
    lead
}

fn hot_lead() -> QualifiedLead {
    let signals = json!({"pages_viewed": 7, "time_on_site_secs": "240", "form_type": "demo_request"});
    enriched(lead("website-demo-form", "VP Sales", "US", signals), 500, "Computer Software", "vp")
}

fn rules() -> ScoringRules {
    ScoringRules::default()
}

#[test]
fn defaults_are_valid_and_an_empty_config_means_the_defaults() {
    ScoringConfig::default().validate().unwrap();
    let parsed: ScoringConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(parsed, ScoringConfig::default());
    let partial: ScoringConfig =
        serde_json::from_value(json!({"rules": {"grades": {"a": 90}}, "blend": {"min_outcomes": 50}}))
            .unwrap();
    assert_eq!(partial.rules.grades, GradeCutoffs { a: 90, b: 60, c: 40 });
    assert_eq!(partial.blend.min_outcomes, 50);
    assert_eq!(partial.rules.fit, FitRules::default(), "untouched sections keep their defaults");
}

#[test]
fn unknown_keys_are_refused_so_typos_do_not_silently_fall_back() {
    let err =
        serde_json::from_value::<ScoringConfig>(json!({"rules": {"fit": {"industy": {}}}})).unwrap_err();
    assert!(err.to_string().contains("industy"), "{err}");
    let err = serde_json::from_value::<ScoringConfig>(json!({"blend": {"max": 1}})).unwrap_err();
    assert!(err.to_string().contains("max"), "{err}");
}

#[test]
fn validation_names_every_problem() {
    let mut c = ScoringConfig::default();
    c.rules.fit.company_size[2].min = 5.0;
    c.rules.fit.country.insert("Germany".into(), 3.0);
    c.rules.fit.seniority.insert("intern".into(), 1.0);
    c.rules.fit.industry.insert("Financial Services".into(), 3.0);
    c.rules.behaviour.form_type.insert("pricing".into(), f64::NAN);
    c.rules.behaviour.chat_intent.keywords.insert("talk to sales".into(), 3.0);
    c.rules.behaviour.recency.half_life_hours = 0.0;
    c.rules.grades = GradeCutoffs { a: 50, b: 60, c: 40 };
    c.blend.max_weight = 1.5;
    c.learning = LearningConfig { learning_rate: 0.0, ..Default::default() };
    let err = Scorer::new(c).unwrap_err();
    for needle in [
        "scoring.rules.fit.company_size[2].min: 5 must be above the previous band's 11",
        "scoring.rules.fit.country: key 'Germany' is not an upper-case ISO 3166-1 alpha-2 code",
        "scoring.rules.fit.seniority: key 'intern' is not a seniority level",
        "scoring.rules.fit.industry: key 'Financial Services' must be lower-case snake_case ('financial_services')",
        "scoring.rules.behaviour.form_type.pricing: NaN is not a number of points",
        "key 'talk to sales' must be one lower-case word",
        "scoring.rules.behaviour.recency.half_life_hours: 0 must be a positive number",
        "scoring.rules.grades: cut-offs must rise",
        "scoring.blend.max_weight: 1.5 is not between 0 and 1",
        "scoring.learning.learning_rate: 0 must be a positive number",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
}

#[test]
fn a_hot_lead_grades_a_and_its_contributions_add_up() {
    let (score, contributions) = score_rules(&hot_lead(), &rules(), now());
    let expected = [
        ("fit.company_size", 18.0),
        ("fit.industry", 12.0),
        ("fit.country", 8.0),
        ("fit.seniority", 12.0),
        ("behaviour.source", 8.0),
        ("behaviour.pages_viewed", 7.0),
        ("behaviour.time_on_site", 5.0),
        ("behaviour.form_type", 15.0),
        ("behaviour.recency", 5.0),
    ];
    assert_eq!(contributions, expected.iter().map(|(k, v)| (k.to_string(), *v)).collect());
    assert_eq!(score, 90);
    assert_eq!(grade(score), "A");
}

#[test]
fn a_sum_above_100_is_capped_and_the_cap_is_a_contribution() {
    let mut lead = hot_lead();
    lead.source = "partner-referral".into();
    lead.signals.insert("pages_viewed".into(), json!(14));
    lead.signals.insert("time_on_site_secs".into(), json!(900));
    lead.signals.insert("chat_transcript".into(), json!("Could you send a quote? We want to buy 40 seats"));
    let (score, contributions) = score_rules(&lead, &rules(), now());
    assert_eq!(score, 100);
    assert_eq!(contributions["behaviour.chat_intent"], 12.0, "keywords add up to max_points");
    assert!(contributions[CAP] < 0.0);
    assert_eq!(contributions.values().sum::<f64>(), 100.0);
}

#[test]
fn a_cold_lead_grades_d_and_missing_data_contributes_nothing() {
    let lead = lead("meta-ads", "Student", "BR", json!({"form_type": "newsletter"}));
    let (score, contributions) = score_rules(&lead, &rules(), now());
    assert!(!contributions.contains_key("fit.company_size") && !contributions.contains_key("fit.industry"));
    assert_eq!(contributions["fit.seniority"], 2.0, "seniority from the contact's title");
    assert_eq!(contributions["fit.country"], 2.0, "countries not listed score `other`");
    assert_eq!(score, 13);
    assert_eq!(grade(score), "D");
}

#[test]
fn seniority_is_derived_from_titles_most_senior_first() {
    for (title, level) in [
        ("Chief Revenue Officer", "c_level"),
        ("CTO", "c_level"),
        ("Co-Founder & CEO", "c_level"),
        ("President", "c_level"),
        ("Senior Vice President, Sales", "vp"),
        ("VP Engineering", "vp"),
        ("Head of Ops", "vp"),
        ("Managing Director", "director"),
        ("Director of IT", "director"),
        ("Office Manager", "manager"),
        ("Team Lead", "manager"),
        ("Software Engineer", "individual"),
    ] {
        assert_eq!(seniority_from_title(title), Some(level), "{title}");
    }
    assert_eq!(seniority_from_title("  "), None);
}

#[test]
fn text_tables_match_the_most_specific_key_by_words() {
    let mut lead = hot_lead();
    lead.enrichment.as_mut().unwrap().industry = Some("Diversified Financial Services".into());
    lead.source = "Google Ads".into();
    lead.signals.insert("form_type".into(), json!("Request a Demo"));
    let (_, c) = score_rules(&lead, &rules(), now());
    assert_eq!(c["fit.industry"], 10.0);
    assert_eq!(c["behaviour.source"], 5.0);
    assert_eq!(c["behaviour.form_type"], 15.0);
    lead.enrichment.as_mut().unwrap().industry = Some("Mining".into());
    lead.source = "trade-show".into();
    lead.signals.insert("form_type".into(), json!("callback"));
    let (_, c) = score_rules(&lead, &rules(), now());
    assert_eq!(
        (c["fit.industry"], c["behaviour.source"], c["behaviour.form_type"]),
        (4.0, 4.0, 2.0),
        "other"
    );
}

#[test]
fn recency_halves_every_half_life_and_reads_rfc3339_or_epoch() {
    let mut lead = hot_lead();
    lead.signals.insert("captured_at".into(), json!((now() - Duration::hours(24)).to_rfc3339()));
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.recency"], 2.5);
    let two_days_ago = (now() - Duration::hours(48)).timestamp_millis();
    lead.signals.insert("last_activity_at".into(), json!(two_days_ago));
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.recency"], 1.25, "last activity wins");
    lead.signals.insert("last_activity_at".into(), json!("yesterday"));
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.recency"], 2.5, "unreadable: next signal");
}

#[test]
fn chat_intent_finds_keywords_at_word_starts_in_chat_and_message() {
    let mut lead =
        lead("intercom", "", "US", json!({"chat_transcript": ["Hi!", {"body": "Any pricing info?"}]}));
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.chat_intent"], 6.0);
    lead.signals.insert("message".into(), json!("We'd like quotes. Also a DEMO."));
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.chat_intent"], 12.0, "6+8+6, capped at 12");
    lead.signals.insert("chat_transcript".into(), json!("Is the API rate-limited?"));
    lead.signals.remove("message");
    assert_eq!(score_rules(&lead, &rules(), now()).1["behaviour.chat_intent"], 0.0);
}

#[test]
fn grade_cut_offs_are_inclusive_lower_bounds() {
    let cutoffs = GradeCutoffs::default();
    let grades: Vec<_> = [100, 80, 79, 60, 59, 40, 39, 0].iter().map(|&s| cutoffs.grade(s)).collect();
    assert_eq!(grades, ["A", "A", "B", "B", "C", "C", "D", "D"]);
    assert_eq!(GradeCutoffs { a: 90, b: 70, c: 50 }.grade(85), "B");
}

#[test]
fn the_model_joins_the_score_only_after_min_outcomes_then_ramps_up() {
    let scorer = Scorer::new(ScoringConfig::default()).unwrap();
    let lead = hot_lead();
    let mut model = Model { outcomes: 199, positives: 20, ..Default::default() };
    let score = scorer.score(&lead, &model, now());
    assert_eq!((score.score, score.rules, score.model_probability), (90, 90, None));
    assert_eq!((score.grade.as_str(), score.model_outcomes), ("A", 199));

    // A model that finds this lead merely average (p = base rate) pulls the score towards 50.
    model.outcomes = 2000;
    model.positives = 199;
    model.bias = (model.base_rate() / (1.0 - model.base_rate())).ln();
    let score = scorer.score(&lead, &model, now());
    assert!((score.model_probability.unwrap() - model.base_rate()).abs() < 1e-12);
    assert_eq!(score.score, (100.0 * (0.7 * 0.5 + 0.3 * 0.9f64)).round() as u8);
    assert_eq!(score.rules, 90, "the rules' score is kept alongside");

    let blend = BlendConfig::default();
    assert_eq!(
        [blend.weight(0), blend.weight(200), blend.weight(1100), blend.weight(9000)],
        [0.0, 0.0, 0.35, 0.7]
    );
}
