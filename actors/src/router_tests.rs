use std::collections::HashMap;
use std::sync::Arc;

use speedlead_topics::{AccountMatch, LeadEvent, Merge, Topic};

use super::*;
use crate::ack_token::AckSigner;
use crate::escalation::Escalate;
use crate::routing_store::{RepStatus, RoutingStore};
use crate::routing_testkit::{assignment, config, events, lead, noon, Desk, SECRET};

fn verdicts(a: &speedlead_topics::Assignment) -> Vec<(String, String)> {
    let audit = a.audit.as_ref().expect("every assignment carries its audit");
    audit.candidates.iter().map(|c| (c.rep_id.clone(), c.verdict.clone())).collect()
}

#[tokio::test]
async fn a_pool_takes_turns_and_every_assignment_explains_itself() {
    let desk = Desk::new(config());
    let mut per_rep: HashMap<String, u32> = HashMap::new();
    for i in 0..9 {
        let out = desk.route(&lead(&format!("l{i}"), "na", None)).await;
        assert_eq!(out.len(), 2, "assignment + lead.assigned");
        let a = assignment(&out).unwrap();
        assert_eq!((a.attempt, a.reason.as_str(), a.pool.as_str()), (1, "round_robin", "sales"));
        assert_eq!(out[0].key, "na", "assignments are keyed by routing domain");
        assert_eq!(out[1].key, a.lead_id.to_string(), "events by lead");
        assert!(matches!(&events(&out)[0], LeadEvent::Assigned(e) if **e == a));
        let audit = a.audit.as_ref().unwrap();
        assert_eq!((audit.rule.as_deref(), audit.strategy.as_str()), (None, "round_robin"));
        assert!(verdicts(&a).contains(&(a.rep_id.clone(), "chosen".into())));
        assert_eq!(verdicts(&a).len(), 3, "every rep of the pool is in the audit");
        // Five minutes by default, and an accept link bound to this lead, rep and attempt.
        assert_eq!(a.sla_due_at, Some(noon() + chrono::Duration::seconds(300)));
        let claims = AckSigner::new(vec![SECRET.to_vec()]).verify(&a.ack_token, noon().timestamp()).unwrap();
        assert_eq!(
            (claims.lead_id, claims.rep_id.as_str(), claims.attempt),
            (a.lead_id, a.rep_id.as_str(), 1)
        );
        *per_rep.entry(a.rep_id).or_default() += 1;
    }
    assert_eq!(per_rep, HashMap::from([("ana".into(), 3), ("ben".into(), 3), ("cy".into(), 3)]));
}

#[tokio::test]
async fn a_redelivered_lead_gets_the_stored_rep_with_the_same_message_ids() {
    let desk = Desk::new(config());
    let ana = lead("ana-lead", "na", None);
    let first = desk.route(&ana).await;
    let again = desk.route(&ana).await;
    assert_eq!(assignment(&first).unwrap().rep_id, assignment(&again).unwrap().rep_id);
    let id = |out: &[Outbound]| {
        out.iter()
            .map(|o| serde_json::from_slice::<serde_json::Value>(&o.payload).unwrap()["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(id(&first), id(&again));
    let next = assignment(&desk.route(&lead("other", "na", None)).await).unwrap();
    assert_ne!(next.rep_id, assignment(&first).unwrap().rep_id, "the redelivery took no turn");
    let state = desk.store.rep_state("na", &assignment(&first).unwrap().rep_id).await.unwrap();
    assert_eq!(state.open, 1, "counted once");
}

#[tokio::test]
async fn an_eligible_owner_keeps_the_lead_and_an_away_owner_hands_it_to_their_pool() {
    let desk = Desk::new(config());
    let mut returning = lead("returning", "na", None);
    returning.merge = Some(Merge { owner: Some("cy".into()), ..Merge::default() });
    let a = assignment(&desk.route(&returning).await).unwrap();
    assert_eq!((a.rep_id.as_str(), a.reason.as_str()), ("cy", "existing_owner"));

    let mut account = lead("colleague", "na", None);
    account.account = Some(AccountMatch {
        account_id: "acme".into(),
        name: "acme".into(),
        domain: None,
        matched_by: "domain".into(),
        similarity: 1.0,
        owner: Some("ben".into()),
    });
    let a = assignment(&desk.route(&account).await).unwrap();
    assert_eq!((a.rep_id.as_str(), a.reason.as_str()), ("ben", "account_owner"));

    desk.store.set_rep_status("na", "cy", RepStatus::Away).await.unwrap();
    let mut orphan = lead("orphan", "na", None);
    orphan.merge = Some(Merge { owner: Some("cy".into()), ..Merge::default() });
    let a = assignment(&desk.route(&orphan).await).unwrap();
    assert_eq!((a.reason.as_str(), a.pool.as_str()), ("owner_unavailable", "sales"));
    assert_ne!(a.rep_id, "cy");
    assert_eq!(verdicts(&a)[0], ("cy".into(), "away".into()), "the audit says why the owner was passed over");
}

#[tokio::test]
async fn a_rule_picks_the_pool_the_skills_and_the_sla() {
    let desk = Desk::new(config());
    let mut spanish = lead("maria", "na", None);
    spanish.signals.insert("language".into(), serde_json::json!("es"));
    let a = assignment(&desk.route(&spanish).await).unwrap();
    assert_eq!((a.rep_id.as_str(), a.pool.as_str()), ("dan", "bench"));
    let audit = a.audit.unwrap();
    assert_eq!(audit.rule.as_deref(), Some("spanish"));
    assert_eq!(audit.required_skills, ["language:es"]);
    assert_eq!(a.sla_due_at, Some(noon() + chrono::Duration::seconds(60)), "the rule's SLA");
}

#[tokio::test]
async fn with_nobody_eligible_the_lead_waits_in_overflow_until_a_rep_frees_up() {
    let desk = Desk::new(config());
    for rep in ["ana", "ben", "cy"] {
        desk.store.set_rep_status("na", rep, RepStatus::Offline).await.unwrap();
    }
    let waiting = lead("waiting", "na", None);
    let out = desk.route(&waiting).await;
    assert!(assignment(&out).is_none());
    let LeadEvent::Queued(queued) = &events(&out)[0] else { panic!("expected lead.queued: {out:?}") };
    assert_eq!(queued.pool, "sales");
    assert!(queued.audit.candidates.iter().all(|c| c.verdict == "offline"));
    assert_eq!(desk.store.overflow_len("na", "sales").await.unwrap(), 1);

    desk.dispatcher.offer_overflow("na").await.unwrap();
    assert!(desk.published_assignments().is_empty(), "still nobody");
    desk.store.set_rep_status("na", "ben", RepStatus::Available).await.unwrap();
    desk.dispatcher.offer_overflow("na").await.unwrap();
    let offered = desk.published_assignments();
    assert_eq!(offered.len(), 1);
    assert_eq!((offered[0].rep_id.as_str(), offered[0].reason.as_str()), ("ben", "overflow"));
    assert_eq!(offered[0].lead_id, waiting.lead_id);
    assert_eq!(desk.store.overflow_len("na", "sales").await.unwrap(), 0);
    // Redelivered after being placed from overflow: the stored decision, not a second queueing.
    assert_eq!(assignment(&desk.route(&waiting).await).unwrap().rep_id, "ben");
}

#[tokio::test]
async fn a_rep_at_their_cap_is_skipped_and_the_audit_says_so() {
    let mut c = config();
    c.domains[0].reps[1].max_open = Some(1);
    let desk = Desk::new(c);
    let mut seen = Vec::new();
    for i in 0..5 {
        seen.push(assignment(&desk.route(&lead(&format!("c{i}"), "na", None)).await).unwrap());
    }
    assert_eq!(seen.iter().filter(|a| a.rep_id == "ben").count(), 1, "ben takes one open lead");
    assert!(verdicts(&seen[4]).contains(&("ben".into(), "at_open_cap".into())), "{:?}", verdicts(&seen[4]));
}

#[tokio::test]
async fn an_unknown_domain_is_invalid_naming_the_field() {
    let desk = Desk::new(config());
    let record = crate::testkit::envelope_record(0, "lead.qualified", lead("x", "mars", None));
    let err = desk.stage.process(&record).await.unwrap_err();
    assert!(
        matches!(&err, StageError::Invalid(why) if why.contains("payload.routing_domain: 'mars'")),
        "{err:?}"
    );
    assert!(desk.publisher.sent_to(Topic::Assignments).is_empty());
}

/// Eight leads at a time race for one pool through one store (as partitions of two instances would
/// during a rebalance): every lead gets exactly one rep, and the rotation stays fair.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_stay_fair_and_never_double_assign() {
    let desk = Arc::new(Desk::new(config()));
    let leads: Vec<_> = (0..90).map(|i| lead(&format!("race{i}"), "na", None)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in leads.chunks(12) {
        let (desk, chunk) = (desk.clone(), chunk.to_vec());
        tasks.spawn(async move {
            let mut got = Vec::new();
            for lead in &chunk {
                got.push(assignment(&desk.route(lead).await).unwrap());
            }
            got
        });
    }
    let mut per_rep: HashMap<String, u32> = HashMap::new();
    let mut per_lead: HashMap<uuid::Uuid, String> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        for a in done.unwrap() {
            assert!(per_lead.insert(a.lead_id, a.rep_id.clone()).is_none());
            *per_rep.entry(a.rep_id).or_default() += 1;
        }
    }
    assert_eq!(per_lead.len(), 90);
    assert_eq!(per_rep, HashMap::from([("ana".into(), 30), ("ben".into(), 30), ("cy".into(), 30)]));
    // Redelivering all of them concurrently changes nobody.
    for lead in &leads {
        assert_eq!(assignment(&desk.route(lead).await).unwrap().rep_id, per_lead[&lead.lead_id]);
    }
}
