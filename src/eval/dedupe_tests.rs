use std::collections::{HashMap, HashSet};

use speedlead_actors::store::MemoryStore;

use super::*;

#[test]
fn the_data_set_is_seeded_and_holds_every_variant() {
    assert_eq!(data::generate(7, 300), data::generate(7, 300), "same seed, same records");
    assert_ne!(data::generate(7, 300), data::generate(8, 300));
    let records = data::generate(7, 1000);
    let kinds: HashSet<_> = records.iter().map(|r| r.contact_kind).collect();
    for kind in ["original", "same_email", "email_case", "gmail_variant", "plus_tag", "no_email"] {
        assert!(kinds.contains(kind), "no {kind} records");
    }
    for kind in ["other_email", "email_typo"] {
        assert!(kinds.contains(kind), "no {kind} records");
    }
    let company_kinds: HashSet<_> = records.iter().map(|r| r.company_kind).collect();
    assert_eq!(company_kinds.len(), 7, "{company_kinds:?}");
    assert_eq!(records.iter().filter(|r| r.contact_kind == "original").count(), 1000, "one original each");
    assert!(records.iter().all(|r| r.contact.email.is_some() || r.contact.phone.is_some()));
}

#[test]
fn the_data_set_holds_hard_negatives() {
    let records = data::generate(7, 2000);
    // Distinct companies sharing a brand word ("Acme Robotics" / "Acme Labs").
    let mut brands: HashMap<String, HashSet<usize>> = HashMap::new();
    for r in records.iter().filter(|r| r.company_kind == "canonical") {
        let brand = r.contact.company.as_deref().unwrap().split(' ').next().unwrap().to_string();
        brands.entry(brand).or_default().insert(r.account);
    }
    assert!(brands.values().any(|accounts| accounts.len() > 1), "no brand shared by two companies");
    // Different people giving the same phone (an office switchboard).
    let mut phones: HashMap<&str, HashSet<usize>> = HashMap::new();
    for r in &records {
        if let Some(phone) = &r.contact.phone {
            phones.entry(phone).or_default().insert(r.person);
        }
    }
    assert!(phones.values().any(|people| people.len() > 1), "no shared phone");
}

#[test]
fn decisions_are_counted_pairwise_against_who_started_the_lead() {
    let mut c = Confusion::default();
    c.count(&1, None, false); // first record of 1: a correct new lead
    c.count(&1, Some(&1), true); // joined 1's lead
    c.count(&2, Some(&1), false); // 2 wrongly joined 1's lead
    c.count(&1, None, true); // 1 missed
    c.count(&2, Some(&1), true); // 2 wrongly joined again: a false join and a missed one
    assert_eq!(c, Confusion { true_positives: 1, false_positives: 2, false_negatives: 2, true_negatives: 1 });
    assert_eq!((c.precision(), c.recall()), (1.0 / 3.0, 1.0 / 3.0));
    assert_eq!(Confusion::default().precision(), 1.0, "no joins, nothing wrong");
}

/// What this asserts, on seed 7 with 2,000 people (≈3,800 records):
/// - precision ≥ 0.95 for people and accounts: the product requirement (a wrong join hands one
///   person's lead, or one company's, to another's rep). People measure 0.993–0.999 over seeds 1–8;
///   the wrong joins are colleagues giving the same office switchboard, which matching by phone
///   cannot tell apart.
/// - account precision ≥ 0.99: guards the per-word name similarity. Whole-name Jaro-Winkler
///   measured 0.981 here ("prestige software" joined "prestige networks"); per word, 0.9997–1.0.
/// - person recall ≥ 0.74 and account recall ≥ 0.95: a few points under the lowest of seeds 1–8
///   (0.768 and 0.985), to catch regressions rather than noise. Person recall is capped by design:
///   a typo'd or new address without a phone, and a tag on a domain we do not fold (corporate
///   `ana+news@acme.com`), cannot be matched safely, and the first record seen of a person may be
///   such a variant, so their later ordinary records miss it too.
#[tokio::test]
async fn matching_on_memory_is_precise_and_recalls_most_duplicates() {
    let report = evaluate(Arc::new(MemoryStore::new()), 7, 2000).await;
    println!("{report}");
    assert!(report.person.precision() >= 0.95, "{report}");
    assert!(report.account.precision() >= 0.99, "{report}");
    assert!(report.person.recall() >= 0.74, "{report}");
    assert!(report.account.recall() >= 0.95, "{report}");
}
