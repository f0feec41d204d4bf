use serde_json::json;
use speedlead_topics::Enrichment;

use super::*;

fn lead(industry: &str, employees: u32, form_type: &str, chat: &str) -> QualifiedLead {
    let mut lead: QualifiedLead = serde_json::from_value(json!({
        "lead_id": "6f2c1d0e-1111-4222-8333-944455556666",
        "lead_key": "ana@acme.io",
        "routing_domain": "na",
        "source": "website",
        "event_id": "e-1",
        "contact": {"email": "ana@acme.io", "title": "VP Sales", "country": "US"},
        "signals": {"form_type": form_type, "pages_viewed": 3, "chat_transcript": chat},
    }))
    .unwrap();
    lead.enrichment = Some(Enrichment {
        employees: Some(employees),
        industry: Some(industry.into()),
        complete: true,
        ..Default::default()
    });
    lead
}

#[test]
fn buckets_are_stable_across_releases_and_instances() {
    // Pinned: if this changes, every stored weight silently means something else.
    assert_eq!(bucket("industry", "software"), 0x2_975f);
    assert_eq!(bucket("employees_band", "201-1000"), 0xb516);
    assert!(bucket("seniority", "vp") < 1 << FEATURE_BITS);
}

#[test]
fn features_are_sorted_unique_and_name_what_the_lead_is() {
    let x = features(&lead("Software", 500, "demo_request", "Need a QUOTE, need a quote"));
    assert!(x.windows(2).all(|w| w[0].0 < w[1].0), "sorted by bucket, no duplicates: {x:?}");
    let has = |name: &str, value: &str| x.iter().any(|&(b, _)| b == bucket(name, value));
    assert!(has("industry", "software") && has("employees_band", "201-1000") && has("seniority", "vp"));
    assert!(has("form_type", "demo_request") && has("pages_band", "2-4") && has("time_band", "unknown"));
    assert!(has("industry_x_size", "software|201-1000") && has("seniority_x_form", "vp|demo_request"));
    assert!(has("email", "work") && has("chat", "yes"));
    let words: Vec<f32> = ["a", "need", "quote"]
        .iter()
        .map(|w| x.iter().find(|f| f.0 == bucket("chat_word", w)).unwrap().1)
        .collect();
    assert!(
        words.iter().all(|&v| (v - 1.0 / 3f32.sqrt()).abs() < 1e-6),
        "distinct words, unit norm: {words:?}"
    );
    assert_eq!(features(&lead("Software", 500, "demo_request", "need a quote")), x, "case-insensitive");
}

#[test]
fn learning_separates_converting_from_non_converting_leads() {
    let hot = features(&lead("software", 500, "pricing", "can we get a quote"));
    let cold = features(&lead("education", 8, "newsletter", "are you hiring"));
    let config = LearningConfig::default();
    let mut model = Model::default();
    assert_eq!(model.predict(&hot), 0.5);
    for i in 0..400 {
        let (x, converted) = if i % 2 == 0 { (&hot, i % 10 != 0) } else { (&cold, i % 10 == 1) };
        let step = model.learning_step(x, converted, &config);
        model.apply(&step);
    }
    assert_eq!((model.outcomes, model.positives), (400, 200));
    assert!(model.predict(&hot) > 0.75 && model.predict(&cold) < 0.25, "{model:?}");
    assert!(model.relative_score(model.predict(&hot)) > 0.75);
    assert!((model.relative_score(model.base_rate()) - 0.5).abs() < 1e-12, "an average lead is 0.5");
}

#[test]
fn a_step_is_increments_of_features_bias_and_counters() {
    let x = vec![(7, 1.0), (42, 0.5)];
    let mut model = Model::default();
    model.weights.insert(7, 2.0);
    let config = LearningConfig { learning_rate: 0.5, decay_outcomes: 100.0, l2: 0.01 };
    let step = model.learning_step(&x, false, &config);
    let p = model.predict(&x);
    let buckets: Vec<u32> = step.iter().map(|s| s.0).collect();
    assert_eq!(buckets, [7, 42, BIAS_BUCKET, OUTCOMES_BUCKET, POSITIVES_BUCKET]);
    assert!((step[0].1 - -0.5 * (p + 0.01 * 2.0)).abs() < 1e-12, "gradient plus L2 on the weight");
    assert!((step[1].1 - -0.5 * p * 0.5).abs() < 1e-12);
    assert_eq!((step[3].1, step[4].1), (1.0, 0.0));
    assert!(config.rate_at(300) < config.rate_at(0) && (config.rate_at(300) - 0.25).abs() < 1e-12);
}

#[test]
fn instances_applying_each_others_steps_in_any_order_agree() {
    // Two instances each learn from their own outcomes against their own snapshot, and apply
    // every step (theirs and the other's) as Redis would: increments, in arrival order.
    let config = LearningConfig::default();
    let leads = [
        features(&lead("software", 500, "pricing", "quote")),
        features(&lead("retail", 20, "newsletter", "")),
    ];
    let snapshot = Model::default();
    let steps: Vec<Vec<(u32, f64)>> =
        (0..20).map(|i| snapshot.learning_step(&leads[i % 2], i % 3 == 0, &config)).collect();
    let mut forward = snapshot.clone();
    let mut backward = snapshot.clone();
    steps.iter().for_each(|s| forward.apply(s));
    steps.iter().rev().for_each(|s| backward.apply(s));
    assert_eq!((forward.outcomes, forward.positives), (backward.outcomes, backward.positives));
    assert!((forward.bias - backward.bias).abs() < 1e-12);
    for (bucket, w) in &forward.weights {
        assert!((w - backward.weights[bucket]).abs() < 1e-12);
    }
}

#[test]
fn the_model_round_trips_through_buckets_and_json() {
    let mut model = Model::default();
    let step =
        model.learning_step(&features(&lead("software", 500, "pricing", "")), true, &Default::default());
    model.apply(&step);
    assert_eq!(Model::from_buckets(model.to_buckets()), model);
    let json = serde_json::to_string(&model).unwrap();
    assert_eq!(serde_json::from_str::<Model>(&json).unwrap(), model);
}

#[test]
fn learning_settings_are_validated() {
    let bad = LearningConfig { learning_rate: -1.0, decay_outcomes: f64::INFINITY, l2: 1.0 };
    let problems = bad.problems("scoring.learning").join("; ");
    for needle in ["learning_rate: -1 must be", "decay_outcomes: inf must be", "l2: 1 must be at least 0"] {
        assert!(problems.contains(needle), "missing {needle:?} in {problems}");
    }
    assert!(LearningConfig::default().problems("x").is_empty());
}
