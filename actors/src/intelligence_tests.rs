use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use speedlead_topics::{event_type, Contact, Enrichment, LeadEvent, Topic};

use super::*;
use crate::codec::parse_envelope;
use crate::intake::IntakeStage;
use crate::ports::Record;
use crate::stage::Stage;
use crate::store::MemoryStore;
use crate::testkit::{envelope_record, inbound, record, routing};

/// An enricher that knows one company and counts its calls.
#[derive(Default)]
struct KnownCompany {
    calls: AtomicU32,
}

#[async_trait]
impl Enricher for KnownCompany {
    async fn enrich(&self, email: Option<&str>, _hint: Option<&str>) -> Enrichment {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let known = email.is_some_and(|e| e.ends_with("@acme.io"));
        Enrichment {
            employees: known.then_some(450),
            industry: known.then(|| "software".into()),
            seniority: known.then(|| "vp".into()),
            providers: BTreeMap::from([("fake".into(), if known { "fresh" } else { "not_found" }.into())]),
            complete: true,
            ..Default::default()
        }
    }
}

async fn intelligence(store: Arc<MemoryStore>, enricher: Option<Arc<dyn Enricher>>) -> Arc<LeadIntelligence> {
    let model = ModelSnapshot::load(store.clone(), &ModelSettings::default()).await.unwrap();
    Arc::new(LeadIntelligence {
        store,
        routing: routing(),
        enricher,
        scorer: Scorer::new(Default::default()).unwrap(),
        accounts: AccountMatcher::default(),
        model,
        dedupe: DedupeSettings::default(),
        features_ttl: DAY,
    })
}

fn contact(name: &str, email: Option<&str>, phone: Option<&str>, company: Option<&str>) -> Contact {
    Contact {
        name: Some(name.into()),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        company: company.map(Into::into),
        country: Some("US".into()),
        ..Default::default()
    }
}

fn events(out: &[crate::ports::Outbound]) -> Vec<(String, LeadEvent)> {
    out.iter()
        .filter(|o| o.topic == Topic::Events)
        .map(|o| {
            let env = parse_envelope::<LeadEvent>(&record(0, &o.payload)).unwrap();
            (env.event_type, env.payload)
        })
        .collect()
}

fn qualified(out: &[crate::ports::Outbound]) -> QualifiedLead {
    let q = out.iter().find(|o| o.topic == Topic::Qualified).unwrap();
    parse_envelope::<QualifiedLead>(&record(0, &q.payload)).unwrap().payload
}

async fn run(
    stage: &IntakeStage,
    offset: i64,
    event_id: &str,
    contact: Contact,
) -> Vec<crate::ports::Outbound> {
    let rec: Record = envelope_record(offset, event_type::CAPTURED, inbound(event_id, contact));
    stage.process(&rec).await.unwrap()
}

#[tokio::test]
async fn a_returning_person_merges_into_their_lead_and_nothing_is_lost() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store.clone(), None).await);
    let first =
        run(&stage, 1, "e1", contact("Ana Lopez", Some("ana@acme.io"), None, Some("Acme Inc."))).await;
    let first = qualified(&first);
    assert!(first.merge.is_none());

    // Same mailbox (case and whitespace differ), a new phone and a new company name.
    let returning =
        contact("Ana López", Some(" ANA@acme.io"), Some("+1 415 555 2671"), Some("Acme Robotics, Inc."));
    let out = run(&stage, 2, "e2", returning).await;
    let lead = qualified(&out);
    assert_eq!(lead.lead_id, first.lead_id, "merged into the existing lead");
    let merge = lead.merge.as_ref().unwrap();
    assert_eq!(merge.matched_by, "email");
    assert_eq!(merge.merged_lead_id, speedlead_topics::lead_id("web-form", "e2"));
    assert_eq!(lead.contact.name.as_deref(), Some("Ana López"), "newer value wins");
    assert_eq!(lead.contact.phone.as_deref(), Some("+14155552671"));
    assert_eq!(merge.history["name"], ["Ana Lopez"], "older value kept");
    assert_eq!(merge.history["company"], ["Acme Inc."]);
    assert_eq!(merge.captures, ["web-form:e1", "web-form:e2"]);

    let events = events(&out);
    let merged = events.iter().find(|(t, _)| t == event_type::MERGED).expect("lead.merged");
    assert_eq!(
        merged.1,
        LeadEvent::Merged(LeadMerged {
            source_lead_id: speedlead_topics::lead_id("web-form", "e2"),
            target_lead_id: first.lead_id,
            matched_by: "email".into(),
        })
    );
    let LeadEvent::Scored(scored) = &events.iter().find(|(t, _)| t == event_type::SCORED).unwrap().1 else {
        panic!("lead.scored")
    };
    assert_eq!(scored.previous_score, first.score.as_ref().map(|s| s.score));

    // A phone-only capture of the same person merges by phone.
    let by_phone = run(&stage, 3, "e3", contact("A. Lopez", None, Some("(415) 555-2671"), None)).await;
    let by_phone = qualified(&by_phone);
    assert_eq!((by_phone.lead_id, by_phone.merge.unwrap().matched_by.as_str()), (first.lead_id, "phone"));
}

#[tokio::test]
async fn a_redelivered_capture_is_not_a_merge_and_publishes_the_same_ids() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store, None).await);
    let c = contact("Bo", Some("bo@acme.io"), None, None);
    let a = run(&stage, 1, "e1", c.clone()).await;
    let b = run(&stage, 2, "e1", c).await;
    assert!(qualified(&b).merge.is_none());
    assert!(events(&b).iter().all(|(t, _)| t != event_type::MERGED));
    let ids = |out: &[crate::ports::Outbound]| -> Vec<uuid::Uuid> {
        out.iter().map(|o| parse_envelope::<serde_json::Value>(&record(0, &o.payload)).unwrap().id).collect()
    };
    assert_eq!(ids(&a), ids(&b), "downstream dedupes the redelivery by message id");
}

#[tokio::test]
async fn leads_of_one_company_share_an_account_and_free_mail_makes_none() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store, None).await);
    let a =
        qualified(&run(&stage, 1, "e1", contact("Ann", Some("ann@acme.io"), None, Some("ACME, Inc"))).await);
    let b = qualified(&run(&stage, 2, "e2", contact("Ben", Some("ben@acme.io"), None, None)).await);
    let c = qualified(
        &run(&stage, 3, "e3", contact("Cy", Some("cy@gmail.com"), None, Some("The Acme Company"))).await,
    );
    let (a, b, c) = (a.account.unwrap(), b.account.unwrap(), c.account.unwrap());
    assert_eq!(a.matched_by, "new");
    assert_eq!((b.account_id.as_str(), b.matched_by.as_str()), (a.account_id.as_str(), "domain"));
    assert_eq!(c.account_id, a.account_id, "normalized name matches; gmail.com is no company domain");
    assert_eq!(c.domain.as_deref(), Some("acme.io"));
    let none = qualified(&run(&stage, 4, "e4", contact("Di", Some("di@gmail.com"), None, None)).await);
    assert!(none.account.is_none());
}

#[tokio::test]
async fn enrichment_feeds_the_score_and_features_are_kept_for_learning() {
    let store = Arc::new(MemoryStore::new());
    let enricher = Arc::new(KnownCompany::default());
    let stage = IntakeStage::new(routing())
        .with_intelligence(intelligence(store.clone(), Some(enricher.clone())).await);
    let known = qualified(&run(&stage, 1, "e1", contact("Ann", Some("ann@acme.io"), None, None)).await);
    let unknown = qualified(&run(&stage, 2, "e2", contact("Bo", Some("bo@other.io"), None, None)).await);
    assert_eq!(enricher.calls.load(Ordering::SeqCst), 2);
    assert_eq!(known.enrichment.as_ref().unwrap().employees, Some(450));
    let (k, u) = (known.score.unwrap(), unknown.score.unwrap());
    assert!(
        k.contributions.contains_key("fit.company_size") && k.contributions.contains_key("fit.seniority")
    );
    assert!(!u.contributions.contains_key("fit.company_size"));
    assert!(k.score > u.score, "{} vs {}", k.score, u.score);
    let total: f64 = k.contributions.values().sum();
    assert!((total - f64::from(k.rules)).abs() < 0.1, "contributions add up to the rules' score");
    let kept = store.recall(&features_key(&known.lead_id.to_string())).await.unwrap().unwrap();
    let features: Vec<(u32, f32)> = serde_json::from_str(&kept).unwrap();
    assert!(!features.is_empty());
}

#[tokio::test]
async fn a_new_person_of_an_owned_account_goes_to_the_owners_domain_and_stays_there() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store.clone(), None).await);
    let first =
        qualified(&run(&stage, 1, "e1", contact("Ann", Some("ann@acme.io"), None, Some("Acme"))).await);
    let account = first.account.unwrap().account_id;
    // The router made dora (emea) the account's owner.
    store.record_owner(&first.lead_id.to_string(), Some(&account), "dora").await.unwrap();

    let colleague = qualified(&run(&stage, 2, "e2", contact("Ben", Some("ben@acme.io"), None, None)).await);
    assert_eq!(colleague.contact.country.as_deref(), Some("US"));
    assert_eq!(colleague.routing_domain, "emea", "the account's owner works in emea");
    let back = qualified(&run(&stage, 3, "e3", contact("Ben", Some("ben@acme.io"), None, None)).await);
    assert_eq!(back.routing_domain, "emea", "a returning person stays in their lead's domain");
}

#[tokio::test]
async fn a_redelivered_lead_keeps_its_domain_when_its_account_gained_an_owner_elsewhere() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store.clone(), None).await);
    let c = contact("Ann", Some("ann@acme.io"), None, Some("Acme"));
    let first = qualified(&run(&stage, 1, "e1", c.clone()).await);
    assert_eq!(first.routing_domain, "na");
    let account = first.account.unwrap().account_id;
    store.record_owner("someone-else", Some(&account), "dora").await.unwrap();
    let again = qualified(&run(&stage, 2, "e1", c).await);
    assert_eq!(again.routing_domain, "na", "the first domain holds, so the stored decision is found");
}

#[tokio::test]
async fn a_domain_removed_from_the_configuration_gives_way_to_the_territorys() {
    let store = Arc::new(MemoryStore::new());
    let stage = IntakeStage::new(routing()).with_intelligence(intelligence(store.clone(), None).await);
    let lead_id = speedlead_topics::lead_id("web-form", "e1");
    store.remember(&format!("domain:{lead_id}"), "apac-retired", DAY).await.unwrap();
    let lead = qualified(&run(&stage, 1, "e1", contact("Ann", Some("ann@acme.io"), None, None)).await);
    assert_eq!(lead.routing_domain, "na");
    let claim = store.recall(&format!("domain:{lead_id}")).await.unwrap();
    assert_eq!(claim.as_deref(), Some("na"), "the claim follows, so redeliveries agree");
}
