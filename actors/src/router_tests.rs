use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use speedlead_topics::{
    event_type, AccountMatch, Assignment, Contact, LeadEvent, Merge, QualifiedLead, Score, Topic,
};

use super::*;
use crate::codec::parse_envelope;
use crate::intake::qualify;
use crate::rules::Routing;
use crate::store::{AccountRecord, MemoryStore};
use crate::testkit::{envelope_record, inbound, record, routing};

const TTL: Duration = Duration::from_secs(3600);

fn qualified(event_id: &str, country: &str) -> QualifiedLead {
    let contact = Contact {
        email: Some(format!("{event_id}@example.com")),
        country: Some(country.into()),
        ..Default::default()
    };
    qualify(&inbound(event_id, contact), &routing()).unwrap()
}

fn router() -> (RouterStage, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (RouterStage::new(routing(), store.clone(), Duration::from_secs(3600)), store)
}

fn assignment_of(out: &[Outbound]) -> Assignment {
    let a = out.iter().find(|o| o.topic == Topic::Assignments).unwrap();
    parse_envelope::<Assignment>(&record(0, &a.payload)).unwrap().payload
}

#[tokio::test]
async fn assigns_round_robin_within_the_domain_and_publishes_both_topics() {
    let (stage, _) = router();
    let mut per_rep: HashMap<String, u32> = HashMap::new();
    for i in 0..9 {
        let out = stage
            .process(&envelope_record(i, event_type::QUALIFIED, qualified(&format!("l{i}"), "US")))
            .await
            .unwrap();
        assert_eq!(out.len(), 2);
        let a = assignment_of(&out);
        assert_eq!((a.routing_domain.as_str(), a.attempt, a.reason.as_str()), ("na", 1, "round_robin"));
        let event = out.iter().find(|o| o.topic == Topic::Events).unwrap();
        assert_eq!(event.key, a.lead_id.to_string());
        assert!(
            matches!(parse_envelope::<LeadEvent>(&record(0, &event.payload)).unwrap().payload, LeadEvent::Assigned(ref e) if *e == a)
        );
        *per_rep.entry(a.rep_id).or_default() += 1;
    }
    assert_eq!(per_rep, HashMap::from([("ana".into(), 3), ("ben".into(), 3), ("cy".into(), 3)]));
}

#[tokio::test]
async fn redelivered_lead_gets_the_same_rep_and_message_ids() {
    let (stage, store) = router();
    let lead = qualified("dup", "DE");
    let first = stage.process(&envelope_record(1, event_type::QUALIFIED, lead.clone())).await.unwrap();
    let again = stage.process(&envelope_record(2, event_type::QUALIFIED, lead)).await.unwrap();
    assert_eq!(assignment_of(&first), assignment_of(&again));
    let ids = |out: &[Outbound]| {
        out.iter()
            .map(|o| parse_envelope::<serde_json::Value>(&record(0, &o.payload)).unwrap().id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(store.round_robin_turns("emea").await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_domain_is_invalid() {
    let (stage, _) = router();
    let mut lead = qualified("x", "US");
    lead.routing_domain = "apac".into();
    let err = stage.process(&envelope_record(1, event_type::QUALIFIED, lead)).await.unwrap_err();
    assert_eq!(err, StageError::Invalid("payload.routing_domain: 'apac' is not a configured domain".into()));
}

async fn route(stage: &RouterStage, lead: &QualifiedLead) -> Assignment {
    assignment_of(&stage.process(&envelope_record(1, event_type::QUALIFIED, lead.clone())).await.unwrap())
}

fn who(a: &Assignment) -> (&str, &str) {
    (a.rep_id.as_str(), a.reason.as_str())
}

/// A later capture of `first`'s person, merged into their lead, whose owner intake read as `owner`.
fn returning(first: &QualifiedLead, event_id: &str, owner: Option<&str>) -> QualifiedLead {
    let mut lead = qualified(event_id, "US");
    lead.merge = Some(Merge {
        merged_lead_id: lead.lead_id,
        into_lead_id: first.lead_id,
        matched_by: "email".into(),
        owner: owner.map(Into::into),
        ..Default::default()
    });
    lead.lead_id = first.lead_id;
    lead
}

fn at_account(mut lead: QualifiedLead, account_id: &str, owner: Option<&str>) -> QualifiedLead {
    lead.account = Some(AccountMatch {
        account_id: account_id.into(),
        name: "acme".into(),
        domain: None,
        matched_by: "name".into(),
        similarity: 1.0,
        owner: owner.map(Into::into),
    });
    lead
}

/// Stores the lead's person as dedupe would, findable by the lead's email.
async fn save_person(store: &MemoryStore, lead: &QualifiedLead) {
    let email = lead.contact.email.clone().unwrap();
    store.save_person(&lead.lead_id.to_string(), "{}", &[email], &[], TTL).await.unwrap();
}

async fn person_owner(store: &MemoryStore, lead: &QualifiedLead) -> Option<String> {
    store.find_person(lead.contact.email.as_deref(), None).await.unwrap().unwrap().owner
}

async fn save_account(store: &MemoryStore, account_id: &str) {
    let account =
        AccountRecord { account_id: account_id.into(), name: "acme".into(), domain: None, owner: None };
    store.save_account(&account, "acm", TTL).await.unwrap();
}

async fn account_owner(store: &MemoryStore) -> Option<String> {
    store.find_accounts(None, "acm", TTL).await.unwrap()[0].owner.clone()
}

#[tokio::test]
async fn returning_person_goes_to_the_rep_who_owns_their_lead_not_a_second_rep() {
    let (stage, store) = router();
    let first = qualified("first", "US");
    save_person(&store, &first).await;
    assert_eq!(who(&route(&stage, &first).await), ("ana", "round_robin"));
    assert_eq!(person_owner(&store, &first).await.as_deref(), Some("ana"), "owner recorded");

    let again = returning(&first, "again", Some("ana"));
    let a = route(&stage, &again).await;
    assert_eq!((who(&a), a.lead_id), (("ana", "existing_owner"), first.lead_id));
    assert_eq!(store.round_robin_turns("na").await.unwrap(), 1, "no turn taken for an owned lead");

    // The decision expired but the person kept their owner: still theirs, still no turn.
    let mut owned = qualified("owned", "US");
    save_person(&store, &owned).await;
    owned = returning(&owned, "owned-again", Some("cy"));
    assert_eq!(who(&route(&stage, &owned).await), ("cy", "existing_owner"));
    assert_eq!(store.assignment("na", &owned.lead_id.to_string()).await.unwrap().as_deref(), Some("cy"));
    assert_eq!(store.round_robin_turns("na").await.unwrap(), 1);
}

#[tokio::test]
async fn account_owner_gets_the_accounts_next_lead() {
    let (stage, store) = router();
    save_account(&store, "acct-acme").await;
    let first = at_account(qualified("ana-at-acme", "US"), "acct-acme", None);
    save_person(&store, &first).await;
    assert_eq!(who(&route(&stage, &first).await), ("ana", "round_robin"));
    assert_eq!(account_owner(&store).await.as_deref(), Some("ana"), "first rep owns the account");
    assert_eq!(person_owner(&store, &first).await.as_deref(), Some("ana"));

    let colleague = at_account(qualified("bo-at-acme", "US"), "acct-acme", Some("ana"));
    save_person(&store, &colleague).await;
    assert_eq!(who(&route(&stage, &colleague).await), ("ana", "account_owner"));
    assert_eq!(person_owner(&store, &colleague).await.as_deref(), Some("ana"));
    assert_eq!(store.round_robin_turns("na").await.unwrap(), 1);

    // The person's own rep comes before the account's, and does not take the account over.
    let other = qualified("cid", "US");
    let cid = at_account(returning(&other, "cid-at-acme", Some("ben")), "acct-acme", Some("ana"));
    assert_eq!(who(&route(&stage, &cid).await), ("ben", "existing_owner"));
    assert_eq!(account_owner(&store).await.as_deref(), Some("ana"));
}

#[tokio::test]
async fn owner_removed_from_the_domain_loses_the_lead_to_round_robin_for_good() {
    let (stage, store) = router();
    let first = qualified("orphan", "US");
    save_person(&store, &first).await;
    let lead_id = first.lead_id.to_string();
    // Decided, and owned, by a rep since removed from the configuration.
    store.assign_to("na", &lead_id, "gone", TTL).await.unwrap();
    store.set_person_owner(&lead_id, "gone").await.unwrap();

    let again = returning(&first, "orphan-again", Some("gone"));
    let a = route(&stage, &again).await;
    assert_eq!(who(&a), ("ana", "owner_unavailable"));
    assert_eq!(
        store.assignment("na", &format!("{lead_id}/after:gone")).await.unwrap().as_deref(),
        Some("ana")
    );
    assert_eq!(person_owner(&store, &first).await.as_deref(), Some("ana"), "new owner recorded");
    for _ in 0..2 {
        assert_eq!(route(&stage, &again).await, a, "redelivery gets the same new rep");
    }
    assert_eq!(store.round_robin_turns("na").await.unwrap(), 1);

    // Owners that are not eligible and no decision stored: a turn, named for the missing owner.
    let merged = returning(&qualified("p2", "US"), "p2-again", Some("gone"));
    assert_eq!(who(&route(&stage, &merged).await), ("ben", "owner_unavailable"));
    let at_orphaned_account = at_account(qualified("p3", "US"), "acct-x", Some("gone"));
    assert_eq!(who(&route(&stage, &at_orphaned_account).await), ("cy", "owner_unavailable"));

    // The replacement removed as well: the chain goes one link further.
    let chained = qualified("chained", "US");
    let id = chained.lead_id.to_string();
    store.assign_to("na", &id, "gone", TTL).await.unwrap();
    store.assign_to("na", &format!("{id}/after:gone"), "left", TTL).await.unwrap();
    assert_eq!(who(&route(&stage, &chained).await), ("ana", "owner_unavailable"));
    let key = format!("{id}/after:gone/after:left");
    assert_eq!(store.assignment("na", &key).await.unwrap().as_deref(), Some("ana"));
}

#[tokio::test]
async fn a_retry_records_the_owner_a_failed_attempt_left_unrecorded() {
    let (stage, store) = router();
    let lead = at_account(qualified("retried", "US"), "acct-acme", None);
    save_person(&store, &lead).await;
    save_account(&store, "acct-acme").await;
    // The first attempt stored its decision, then failed before recording the owner.
    store
        .assign_round_robin("na", &lead.lead_id.to_string(), routing().reps("na").unwrap(), TTL)
        .await
        .unwrap();
    assert_eq!(who(&route(&stage, &lead).await), ("ana", "round_robin"));
    assert_eq!(person_owner(&store, &lead).await.as_deref(), Some("ana"));
    assert_eq!(account_owner(&store).await.as_deref(), Some("ana"));
}

/// The test routing with a pool for A-leads in `na`: ben and cy (not ana) take them.
fn pooled_router() -> (RouterStage, Arc<MemoryStore>) {
    let mut config = routing().config().clone();
    config.domains[0].grade_pools.insert("A".into(), vec!["ben".into(), "cy".into()]);
    let store = Arc::new(MemoryStore::new());
    (RouterStage::new(Arc::new(Routing::new(config).unwrap()), store.clone(), TTL), store)
}

fn graded(mut lead: QualifiedLead, grade: &str) -> QualifiedLead {
    lead.score = Some(Score {
        score: 50,
        grade: grade.into(),
        rules: 50,
        model_probability: None,
        model_outcomes: 0,
        contributions: Default::default(),
    });
    lead
}

/// Turns taken by `na`'s own rotation and by its A pool.
async fn turns(store: &MemoryStore) -> (u64, u64) {
    let pool = store.round_robin_turns_in("na", Some("grade:A")).await.unwrap();
    (store.round_robin_turns("na").await.unwrap(), pool)
}

#[tokio::test]
async fn graded_leads_rotate_in_their_grade_pool_and_others_among_all_reps() {
    let (stage, store) = pooled_router();
    let mut got = Vec::new();
    for (i, grade) in ["A", "B", "A", "C", "A", "D", "A"].into_iter().enumerate() {
        let a = route(&stage, &graded(qualified(&format!("g{i}"), "US"), grade)).await;
        got.push((grade, a.rep_id, a.reason));
    }
    let unscored = route(&stage, &qualified("unscored", "US")).await;
    got.push(("-", unscored.rep_id, unscored.reason));
    let want = [
        ("A", "ben", "grade_pool"),
        ("B", "ana", "round_robin"),
        ("A", "cy", "grade_pool"),
        ("C", "ben", "round_robin"),
        ("A", "ben", "grade_pool"),
        ("D", "cy", "round_robin"),
        ("A", "cy", "grade_pool"),
        ("-", "ana", "round_robin"),
    ];
    let want: Vec<_> = want.into_iter().map(|(g, rep, why)| (g, rep.to_string(), why.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(turns(&store).await, (4, 4), "the pool and the domain rotate independently");

    // A domain without pools sends its A-leads round robin to all its reps.
    let emea = route(&stage, &graded(qualified("hot-de", "DE"), "A")).await;
    assert_eq!(who(&emea), ("dora", "round_robin"));
}

#[tokio::test]
async fn a_redelivery_after_the_grade_changed_keeps_the_first_rep() {
    let (stage, store) = pooled_router();
    route(&stage, &graded(qualified("warm-up", "US"), "B")).await; // ana; the next plain turn is ben's
    let hot = graded(qualified("cooled", "US"), "A");
    let first = stage.process(&envelope_record(1, event_type::QUALIFIED, hot.clone())).await.unwrap();
    assert_eq!(who(&assignment_of(&first)), ("ben", "grade_pool"));
    // Intake rescored the lead (the learned model moved) and the router sees it again as a B.
    let cooled = graded(hot, "B");
    let again = stage.process(&envelope_record(2, event_type::QUALIFIED, cooled.clone())).await.unwrap();
    assert_eq!(assignment_of(&again).rep_id, "ben", "same rep, no second owner");
    let ids = |out: &[Outbound]| {
        out.iter()
            .map(|o| parse_envelope::<serde_json::Value>(&record(0, &o.payload)).unwrap().id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again), "downstream sees a duplicate");
    assert_eq!(turns(&store).await, (1, 1), "no turn taken for the redelivery");

    // The other way round: decided among all reps, then redelivered as an A-lead, it keeps its rep
    // even though that rep is not in the A pool.
    let warm = graded(qualified("warmed", "US"), "C");
    assert_eq!(who(&route(&stage, &warm).await), ("ben", "round_robin"));
    assert_eq!(route(&stage, &graded(warm.clone(), "A")).await.rep_id, "ben");
    let id = warm.lead_id.to_string();
    assert_eq!(store.assignment("na", &id).await.unwrap().as_deref(), Some("ben"));
    assert_eq!(turns(&store).await, (2, 1));
}

#[tokio::test]
async fn owners_come_before_the_grade_pool() {
    let (stage, store) = pooled_router();
    let first = qualified("owned-hot", "US");
    save_person(&store, &first).await;
    assert_eq!(who(&route(&stage, &first).await), ("ana", "round_robin"));

    // The person returns as an A-lead: ana (not in the A pool) keeps them.
    let again = graded(returning(&first, "owned-hot-again", Some("ana")), "A");
    assert_eq!(who(&route(&stage, &again).await), ("ana", "existing_owner"));
    // A colleague at ana's account, graded A, goes to ana too.
    let colleague = graded(at_account(qualified("colleague", "US"), "acct-acme", Some("ana")), "A");
    assert_eq!(who(&route(&stage, &colleague).await), ("ana", "account_owner"));
    assert_eq!(turns(&store).await, (1, 0), "no pool turn for an owned lead");

    // An A-lead whose owner left the domain takes the A pool's turn, named for the pool.
    let orphan = graded(returning(&qualified("orphan", "US"), "orphan-again", Some("gone")), "A");
    assert_eq!(who(&route(&stage, &orphan).await), ("ben", "grade_pool"));
    assert_eq!(turns(&store).await, (1, 1));
}
