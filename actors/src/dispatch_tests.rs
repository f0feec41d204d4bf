//! The escalation chain, driven by calling the dispatcher as the timer would, on a hand-driven clock.

use std::time::Duration;

use speedlead_topics::{Assignment, LeadEvent};

use crate::escalation::Escalate;
use crate::routing_store::{RepStatus, RoutingStore};
use crate::routing_testkit::{assignment, config, lead, Desk};
use crate::rules::RoutingConfig;

const SLA: Duration = Duration::from_secs(300);

/// Routes one lead and returns its first assignment.
async fn first(desk: &Desk, name: &str) -> Assignment {
    assignment(&desk.route(&lead(name, "na", None)).await).unwrap()
}

/// Lets the SLA of the lead's current attempt pass and fires its deadline.
async fn miss(desk: &Desk, lead_id: &str) -> Option<i64> {
    desk.advance(SLA + Duration::from_secs(1));
    let due = desk.store.route("na", lead_id).await.unwrap().unwrap().due_ms;
    desk.dispatcher.deadline_due("na", lead_id, due).await.unwrap()
}

fn escalations(desk: &Desk) -> Vec<(String, String, u32)> {
    desk.published_events()
        .into_iter()
        .filter_map(|e| match e {
            LeadEvent::Escalated(e) => Some((e.missed_rep_id, e.step, e.missed_attempt)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_early_or_acknowledged_deadline_moves_nothing() {
    let desk = Desk::new(config());
    let a = first(&desk, "early").await;
    let lead_id = a.lead_id.to_string();
    let due = desk.store.route("na", &lead_id).await.unwrap().unwrap().due_ms;
    let next = desk.dispatcher.deadline_due("na", &lead_id, due - 1000).await.unwrap();
    assert_eq!(next, Some(due), "not due yet: re-armed, not escalated");

    desk.store.acknowledge("na", &lead_id, &a.rep_id, 1).await.unwrap();
    assert_eq!(miss(&desk, &lead_id).await, None);
    assert!(desk.published_assignments().is_empty());
    assert_eq!(desk.store.deadlines("na", None, 10).await.unwrap(), []);
}

#[tokio::test]
async fn a_missed_lead_goes_to_the_next_rep_of_its_pool_with_a_fresh_sla() {
    let desk = Desk::new(config());
    let a = first(&desk, "missed").await;
    let lead_id = a.lead_id.to_string();
    let next_due = miss(&desk, &lead_id).await.expect("the new attempt has a deadline");

    let moved = desk.published_assignments();
    assert_eq!(moved.len(), 1);
    let b = &moved[0];
    assert_eq!((b.attempt, b.reason.as_str(), b.pool.as_str()), (2, "escalated_next_in_pool", "sales"));
    assert_ne!(b.rep_id, a.rep_id, "not back to the rep who missed it");
    assert_eq!(next_due, desk.now_ms() + SLA.as_millis() as i64);
    assert_eq!(escalations(&desk), [(a.rep_id.clone(), "escalated_next_in_pool".into(), 1)]);
    assert!(b
        .audit
        .as_ref()
        .unwrap()
        .candidates
        .iter()
        .any(|c| c.rep_id == a.rep_id && c.verdict == "already_tried"));

    let missed = desk.store.rep_state("na", &a.rep_id).await.unwrap();
    assert_eq!((missed.misses, missed.open), (1, 0), "the miss is counted and the slot freed");
    // The missed rep's link is refused now; the new rep's works.
    let late = desk.store.acknowledge("na", &lead_id, &a.rep_id, 1).await.unwrap();
    assert!(matches!(late, crate::routing_store::AckOutcome::Reassigned(ref r) if r.rep_id == b.rep_id));
    // A second firing of the old deadline (another instance, a stale queue) changes nothing.
    let again =
        desk.dispatcher.deadline_due("na", &lead_id, next_due - SLA.as_millis() as i64).await.unwrap();
    assert_eq!(again, Some(next_due));
    assert_eq!(desk.published_assignments().len(), 1);
}

#[tokio::test]
async fn the_chain_runs_pool_then_backup_then_manager_then_overflow() {
    let mut c: RoutingConfig = config();
    c.domains[0].escalation.max_attempts = 10;
    let desk = Desk::new(c);
    let a = first(&desk, "chain").await;
    let lead_id = a.lead_id.to_string();
    for _ in 0..5 {
        let _ = miss(&desk, &lead_id).await;
    }
    let reps: Vec<_> = std::iter::once(a.clone())
        .chain(desk.published_assignments())
        .map(|a| (a.rep_id, a.reason))
        .collect();
    // ana/ben/cy in turn, then dan (the backup pool); the lead never goes back to a rep who had it.
    let sales: Vec<_> = reps[..3].iter().map(|(r, _)| r.as_str()).collect();
    let mut sorted = sales.clone();
    sorted.sort();
    assert_eq!(sorted, ["ana", "ben", "cy"], "{reps:?}");
    assert_eq!(reps[3], ("dan".into(), "escalated_backup_pool".into()), "{reps:?}");
    // dan has no manager and everyone in sales and bench had it: overflow. The lead stays with dan.
    let steps: Vec<_> = escalations(&desk).into_iter().map(|(_, step, _)| step).collect();
    assert_eq!(steps.last().map(String::as_str), Some("overflow"), "{steps:?}");
    assert_eq!(desk.store.route("na", &lead_id).await.unwrap().unwrap().rep_id, "dan");
    assert_eq!(desk.store.overflow_len("na", "bench").await.unwrap(), 1, "queued where it last was");
    assert_eq!(desk.store.deadlines("na", None, 10).await.unwrap(), [], "no deadline while it waits");
}

#[tokio::test]
async fn the_manager_takes_what_the_pool_and_backup_cannot() {
    let mut c = config();
    c.domains[0].pools[0].reps = vec!["cy".into()];
    c.domains[0].pools[0].backup = None;
    let desk = Desk::new(c);
    let a = first(&desk, "manager").await;
    assert_eq!(a.rep_id, "cy");
    miss(&desk, &a.lead_id.to_string()).await.unwrap();
    let moved = desk.published_assignments();
    assert_eq!((moved[0].rep_id.as_str(), moved[0].reason.as_str()), ("max", "escalated_manager"));
}

#[tokio::test]
async fn repeated_misses_set_a_rep_away_when_configured() {
    let mut c = config();
    c.domains[0].escalation.away_after_misses = Some(1);
    let desk = Desk::new(c);
    let a = first(&desk, "sleepy").await;
    miss(&desk, &a.lead_id.to_string()).await.unwrap();
    assert_eq!(desk.store.rep_state("na", &a.rep_id).await.unwrap().status, RepStatus::Away);
    for i in 0..4 {
        assert_ne!(first(&desk, &format!("after{i}")).await.rep_id, a.rep_id, "an away rep gets no leads");
    }
}

#[tokio::test]
async fn after_max_attempts_the_lead_waits_in_overflow() {
    let mut c = config();
    c.domains[0].escalation.max_attempts = 1;
    let desk = Desk::new(c);
    let a = first(&desk, "capped").await;
    assert_eq!(miss(&desk, &a.lead_id.to_string()).await, None);
    assert!(desk.published_assignments().is_empty());
    assert_eq!(escalations(&desk), [(a.rep_id.clone(), "overflow".into(), 1)]);
    assert_eq!(desk.store.rep_state("na", &a.rep_id).await.unwrap().misses, 1, "the miss still counts");
}

#[tokio::test]
async fn a_deadline_fired_twice_parks_a_lead_and_counts_its_miss_once() {
    let mut c = config();
    c.domains[0].escalation.max_attempts = 1;
    let desk = Desk::new(c);
    let a = first(&desk, "twice").await;
    let lead_id = a.lead_id.to_string();
    let due = desk.store.route("na", &lead_id).await.unwrap().unwrap().due_ms;
    desk.advance(SLA + Duration::from_secs(1));
    // Two processes' timers, one after the other, on the same deadline.
    assert_eq!(desk.dispatcher.deadline_due("na", &lead_id, due).await.unwrap(), None);
    assert_eq!(desk.dispatcher.deadline_due("na", &lead_id, due).await.unwrap(), None);
    assert_eq!(desk.store.rep_state("na", &a.rep_id).await.unwrap().misses, 1);
    assert_eq!(escalations(&desk).len(), 1, "one lead.escalated");
    assert!(desk.store.route("na", &lead_id).await.unwrap().unwrap().parked);
}

#[tokio::test]
async fn a_queued_lead_placed_by_its_redelivery_leaves_the_queue_and_keeps_its_rep() {
    let desk = Desk::new(config());
    for rep in ["ana", "ben", "cy"] {
        desk.store.set_rep_status("na", rep, RepStatus::Offline).await.unwrap();
    }
    let waiting = lead("redelivered", "na", None);
    assert!(assignment(&desk.route(&waiting).await).is_none(), "queued");
    desk.store.set_rep_status("na", "ana", RepStatus::Available).await.unwrap();
    desk.store.set_rep_status("na", "ben", RepStatus::Available).await.unwrap();
    let a = assignment(&desk.route(&waiting).await).expect("the redelivery places it");
    desk.dispatcher.offer_overflow("na").await.unwrap();
    assert!(desk.published_assignments().is_empty(), "nobody takes it from {}", a.rep_id);
    assert_eq!(desk.store.overflow_len("na", "sales").await.unwrap(), 0);
    assert_eq!(desk.store.route("na", &a.lead_id.to_string()).await.unwrap().unwrap().rep_id, a.rep_id);
}

#[tokio::test]
async fn a_closed_lead_stops_firing() {
    let desk = Desk::new(config());
    let a = first(&desk, "closed").await;
    let lead_id = a.lead_id.to_string();
    desk.store.release("na", &lead_id).await.unwrap();
    assert_eq!(miss(&desk, &lead_id).await, None, "nothing left to do: not re-armed");
    assert!(desk.published_assignments().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reassignment_the_broker_refused_is_published_once_it_is_back() {
    let desk = Desk::new(config());
    let a = first(&desk, "outage").await;
    desk.publisher.fail_next(4);
    miss(&desk, &a.lead_id.to_string()).await.expect("committed, with a new deadline");
    assert!(desk.published_assignments().is_empty(), "the broker is down");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let moved = desk.published_assignments();
    assert_eq!(moved.len(), 1, "published in the background once the broker answered");
    assert_eq!(moved[0].attempt, 2);
}

#[tokio::test]
async fn an_escalation_keeps_the_configured_sla_when_only_working_hours_count() {
    let mut c = config();
    c.sla.working_hours_only = true;
    for rep in &mut c.domains[0].reps {
        rep.working_hours = vec![crate::rules_config::WorkingHours {
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            start: "09:00".into(),
            end: "17:00".into(),
        }];
    }
    let desk = Desk::new(c);
    desk.advance(Duration::from_secs(4 * 3600 + 58 * 60)); // Wednesday 16:58 UTC
    let a = first(&desk, "evening").await;
    let record = desk.store.route("na", &a.lead_id.to_string()).await.unwrap().unwrap();
    assert_eq!(record.sla_ms, SLA.as_millis() as u64);
    let lead_id = a.lead_id.to_string();
    desk.advance(Duration::from_millis((record.due_ms - desk.now_ms()) as u64 + 1000));
    let next = desk.dispatcher.deadline_due("na", &lead_id, record.due_ms).await.unwrap();
    // Missed at 09:03 Thursday; the next rep gets five working minutes, not sixteen hours.
    let moved = desk.store.route("na", &a.lead_id.to_string()).await.unwrap().unwrap();
    assert_eq!(moved.sla_ms, SLA.as_millis() as u64);
    assert!(next.unwrap() - desk.now_ms() <= SLA.as_millis() as i64 + 60_000, "{next:?}");
}
