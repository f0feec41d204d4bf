//! The routing part of the store contract ([`crate::routing_store::RoutingStore`]): a lead has one
//! current route, caps and the rotation cursor are checked in the same step that writes, stale
//! escalations and acks are refused, deadlines fire in order, and concurrent decisions over one
//! pool stay exactly fair.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{reps, unique, TTL};
use crate::routing_store::{
    AckOutcome, Caps, Committed, CursorMove, Miss, Park, RepState, RepStatus, RouteCommit, RouteRecord,
};
use crate::store::{Store, StoreError};

const POOL: &str = "inbound";
const DAY: &str = "2026-05-04";

pub(super) async fn run_all(store: Arc<dyn Store>) {
    first_assignment_stores_and_counts(&*store).await;
    redelivery_returns_the_existing_route(&*store).await;
    stale_cursor_is_contended(&*store).await;
    caps_are_contended_until_the_next_day(&*store).await;
    escalation_moves_the_lead_and_counts_the_miss(&*store).await;
    stale_escalation_finds_the_current_route(&*store).await;
    acknowledge_outcomes(&*store).await;
    deadlines_are_ordered_limited_and_droppable(&*store).await;
    release_is_idempotent(&*store).await;
    park_queues_a_missed_lead_once(&*store).await;
    overflow_keeps_order_and_first_queued_time(&*store).await;
    rep_status_is_set_and_available_resets_misses(&*store).await;
    route_expires_after_its_ttl(&*store).await;
    concurrent_decisions_share_one_pool_fairly(store.clone()).await;
    rep_leads_follow_their_routes(&*store).await;
}

fn record(rep: &str, attempt: u32, due_ms: i64) -> RouteRecord {
    RouteRecord {
        sla_ms: 300_000,
        parked: false,
        released: false,
        lead_key: "lead-key".into(),
        rep_id: rep.into(),
        attempt,
        pool: POOL.into(),
        rule: Some("rule-é \"quoted\"".into()),
        reason: if attempt == 1 { "round_robin" } else { "sla_escalation" }.into(),
        assigned_ms: 1_777_777_777_000 + i64::from(attempt),
        due_ms,
        acked: false,
        required_skills: vec!["language:es".into()],
        tried: (attempt > 1).then(|| "rep-1".to_string()).into_iter().collect(),
        summary: Some(speedlead_topics::LeadSummary {
            name: Some("Zoë \"Q\" O'Hara".into()),
            company: Some("Acme".into()),
            score: Some(87),
            grade: Some("A".into()),
            source: "web".into(),
            ..Default::default()
        }),
    }
}

/// A first assignment of `lead` to `record`'s rep, without cursor or caps.
fn first(domain: &str, lead: &str, record: RouteRecord) -> RouteCommit {
    RouteCommit {
        domain: domain.into(),
        lead_id: lead.into(),
        record,
        rep_day: DAY.into(),
        caps: Caps::default(),
        cursor: None,
        replaces: None,
        miss: None,
        from_overflow: None,
    }
}

/// Escalates `lead` from `replaces` to `record`, counting a miss against `missed`.
fn escalate(domain: &str, lead: &str, record: RouteRecord, replaces: u32, missed: &str) -> RouteCommit {
    RouteCommit {
        replaces: Some(replaces),
        miss: Some(Miss { rep_id: missed.into(), away_after: Some(2) }),
        ..first(domain, lead, record)
    }
}

fn cursor(expected: u64) -> Option<CursorMove> {
    Some(CursorMove { pool: POOL.into(), expected, next: expected + 1 })
}

async fn commit(store: &dyn Store, commit: RouteCommit) -> Committed {
    store.commit_route(&commit, TTL).await.unwrap()
}

async fn open_today_misses(store: &dyn Store, domain: &str, rep: &str) -> (u32, u32, u32) {
    let state = store.rep_state(domain, rep).await.unwrap();
    (state.open, state.today_on(DAY), state.misses)
}

async fn first_assignment_stores_and_counts(store: &dyn Store) {
    let check = "first_assignment_stores_and_counts";
    let domain = unique("dom");
    let rec = record("rep-2", 1, 5_000);
    let got = commit(store, RouteCommit { cursor: cursor(0), ..first(&domain, "lead", rec.clone()) }).await;
    assert_eq!(got, Committed::Fresh(rec.clone()), "{check}");
    assert_eq!(store.route(&domain, "lead").await.unwrap(), Some(rec.clone()), "{check}: route");
    let want = RepState {
        status: RepStatus::Available,
        open: 1,
        day: DAY.into(),
        today: 1,
        misses: 0,
        last_assigned_ms: rec.assigned_ms,
    };
    let roster = store.roster(&domain, POOL, "lead", &reps(3)).await.unwrap();
    assert_eq!(roster.route, Some(rec), "{check}: roster route");
    assert_eq!(roster.cursor, 1, "{check}: cursor moved");
    assert_eq!(roster.states, [RepState::default(), want, RepState::default()], "{check}: states in order");
    let deadlines = store.deadlines(&domain, None, 10).await.unwrap();
    assert_eq!(deadlines, [("lead".to_string(), 5_000)], "{check}: deadline armed");
    let other = store.roster(&domain, "other-pool", "none", &[]).await.unwrap();
    assert_eq!((other.route, other.cursor, other.states.len()), (None, 0, 0), "{check}: unknown pool");
}

async fn redelivery_returns_the_existing_route(store: &dyn Store) {
    let check = "redelivery_returns_the_existing_route";
    let domain = unique("dom");
    let rec = record("rep-1", 1, 0);
    commit(store, RouteCommit { cursor: cursor(0), ..first(&domain, "lead", rec.clone()) }).await;
    let again = RouteCommit { cursor: cursor(1), ..first(&domain, "lead", record("rep-2", 1, 9)) };
    assert_eq!(commit(store, again).await, Committed::Existing(rec), "{check}");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await, (1, 1, 0), "{check}: rep-1 counted once");
    assert_eq!(open_today_misses(store, &domain, "rep-2").await, (0, 0, 0), "{check}: rep-2 untouched");
    assert_eq!(store.roster(&domain, POOL, "lead", &[]).await.unwrap().cursor, 1, "{check}: cursor kept");
    assert!(store.deadlines(&domain, None, 10).await.unwrap().is_empty(), "{check}: due 0 arms nothing");
}

async fn stale_cursor_is_contended(store: &dyn Store) {
    let check = "stale_cursor_is_contended";
    let domain = unique("dom");
    let stale = RouteCommit { cursor: cursor(3), ..first(&domain, "lead", record("rep-1", 1, 100)) };
    assert_eq!(commit(store, stale).await, Committed::Contended, "{check}: missing cursor is 0");
    assert_eq!(store.route(&domain, "lead").await.unwrap(), None, "{check}: nothing written");
    assert_eq!(store.rep_state(&domain, "rep-1").await.unwrap(), RepState::default(), "{check}");
    assert!(store.deadlines(&domain, None, 10).await.unwrap().is_empty(), "{check}: no deadline");
    let fresh = RouteCommit { cursor: cursor(0), ..first(&domain, "lead", record("rep-1", 1, 100)) };
    assert!(matches!(commit(store, fresh).await, Committed::Fresh(_)), "{check}: current cursor");
    let behind = RouteCommit { cursor: cursor(0), ..first(&domain, "next", record("rep-2", 1, 100)) };
    assert_eq!(commit(store, behind).await, Committed::Contended, "{check}: moved since read");
}

async fn caps_are_contended_until_the_next_day(store: &dyn Store) {
    let check = "caps_are_contended_until_the_next_day";
    let domain = unique("dom");
    let capped = |lead: &str, day: &str, caps: Caps| RouteCommit {
        rep_day: day.into(),
        caps,
        ..first(&domain, lead, record("rep-1", 1, 0))
    };
    let open_cap = Caps { max_open: Some(1), max_per_day: None };
    assert!(matches!(commit(store, capped("a", DAY, open_cap)).await, Committed::Fresh(_)), "{check}");
    assert_eq!(commit(store, capped("b", DAY, open_cap)).await, Committed::Contended, "{check}: open cap");
    assert_eq!(store.route(&domain, "b").await.unwrap(), None, "{check}: nothing written at a cap");
    store.release(&domain, "a").await.unwrap();
    let day_cap = Caps { max_open: Some(1), max_per_day: Some(2) };
    assert!(matches!(commit(store, capped("b", DAY, day_cap)).await, Committed::Fresh(_)), "{check}");
    store.release(&domain, "b").await.unwrap();
    assert_eq!(commit(store, capped("c", DAY, day_cap)).await, Committed::Contended, "{check}: day cap");
    let next_day = capped("c", "2026-05-05", day_cap);
    assert!(matches!(commit(store, next_day).await, Committed::Fresh(_)), "{check}: next day resets");
    let state = store.rep_state(&domain, "rep-1").await.unwrap();
    assert_eq!((state.day.as_str(), state.today, state.open), ("2026-05-05", 1, 1), "{check}: {state:?}");
}

async fn escalation_moves_the_lead_and_counts_the_miss(store: &dyn Store) {
    let check = "escalation_moves_the_lead_and_counts_the_miss";
    let domain = unique("dom");
    commit(store, first(&domain, "a", record("rep-1", 1, 100))).await;
    commit(store, first(&domain, "b", record("rep-1", 1, 150))).await;
    let second = record("rep-2", 2, 200);
    let got = commit(store, escalate(&domain, "a", second.clone(), 1, "rep-1")).await;
    assert_eq!(got, Committed::Fresh(second.clone()), "{check}");
    assert_eq!(store.route(&domain, "a").await.unwrap(), Some(second), "{check}: current route");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await, (1, 2, 1), "{check}: released, missed");
    assert_eq!(open_today_misses(store, &domain, "rep-2").await, (1, 1, 0), "{check}: new rep counted");
    let want = [("b".to_string(), 150), ("a".to_string(), 200)];
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), want, "{check}: deadline re-armed");
    assert_eq!(store.rep_state(&domain, "rep-1").await.unwrap().status, RepStatus::Available, "{check}");

    // The second miss reaches `away_after`; an escalation without a deadline disarms the lead's.
    commit(store, escalate(&domain, "b", record("rep-3", 2, 0), 1, "rep-1")).await;
    let rep1 = store.rep_state(&domain, "rep-1").await.unwrap();
    assert_eq!((rep1.status, rep1.open, rep1.misses), (RepStatus::Away, 0, 2), "{check}: away at the limit");
    let want = [("a".to_string(), 200)];
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), want, "{check}: due 0 disarms");
}

async fn stale_escalation_finds_the_current_route(store: &dyn Store) {
    let check = "stale_escalation_finds_the_current_route";
    let domain = unique("dom");
    commit(store, first(&domain, "lead", record("rep-1", 1, 100))).await;
    let second = record("rep-2", 2, 200);
    commit(store, escalate(&domain, "lead", second.clone(), 1, "rep-1")).await;
    let late = commit(store, escalate(&domain, "lead", record("rep-3", 2, 300), 1, "rep-1")).await;
    assert_eq!(late, Committed::Existing(second.clone()), "{check}: attempt 1 was replaced");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await, (0, 1, 1), "{check}: one miss only");
    assert_eq!(open_today_misses(store, &domain, "rep-3").await, (0, 0, 0), "{check}: rep-3 untouched");

    store.acknowledge(&domain, "lead", "rep-2", 2).await.unwrap();
    let acked = RouteRecord { acked: true, ..second };
    let late = commit(store, escalate(&domain, "lead", record("rep-3", 3, 300), 2, "rep-2")).await;
    assert_eq!(late, Committed::Existing(acked), "{check}: acknowledged attempt stays");
    assert_eq!(open_today_misses(store, &domain, "rep-2").await, (1, 1, 0), "{check}: rep-2 keeps it");

    commit(store, first(&domain, "closed", record("rep-1", 1, 100))).await;
    store.release(&domain, "closed").await.unwrap();
    let late = commit(store, escalate(&domain, "closed", record("rep-3", 2, 300), 1, "rep-1")).await;
    assert!(matches!(late, Committed::Existing(r) if r.rep_id == "rep-1"), "{check}: released stays");

    let none = escalate(&domain, "none", record("rep-3", 2, 300), 1, "rep-1");
    let none = store.commit_route(&none, TTL).await;
    assert!(matches!(none, Err(StoreError::Conflict(_))), "{check}: nothing to replace");
    assert_eq!(store.route(&domain, "none").await.unwrap(), None, "{check}: nothing written");
}

async fn acknowledge_outcomes(store: &dyn Store) {
    let check = "acknowledge_outcomes";
    let domain = unique("dom");
    commit(store, first(&domain, "lead", record("rep-1", 1, 100))).await;
    let second = record("rep-2", 2, 200);
    commit(store, escalate(&domain, "lead", second.clone(), 1, "rep-1")).await;
    commit(store, first(&domain, "other", record("rep-2", 1, 300))).await;
    commit(store, escalate(&domain, "other", record("rep-3", 2, 400), 1, "rep-2")).await;
    assert_eq!(open_today_misses(store, &domain, "rep-2").await, (1, 2, 1), "{check}: rep-2 missed once");

    let ack = |rep: &'static str, attempt| store.acknowledge(&domain, "lead", rep, attempt);
    assert_eq!(
        ack("rep-1", 1).await.unwrap(),
        AckOutcome::Reassigned(second.clone()),
        "{check}: old attempt"
    );
    assert_eq!(ack("rep-3", 2).await.unwrap(), AckOutcome::Reassigned(second.clone()), "{check}: other rep");
    assert_eq!(ack("rep-2", 3).await.unwrap(), AckOutcome::Unknown, "{check}: attempt not made yet");
    let acked = RouteRecord { acked: true, ..second };
    assert_eq!(ack("rep-2", 2).await.unwrap(), AckOutcome::Accepted(acked.clone()), "{check}: accepted");
    assert_eq!(ack("rep-2", 2).await.unwrap(), AckOutcome::AlreadyAccepted(acked.clone()), "{check}: again");
    assert_eq!(ack("rep-1", 1).await.unwrap(), AckOutcome::Reassigned(acked.clone()), "{check}: still old");
    assert_eq!(store.route(&domain, "lead").await.unwrap(), Some(acked), "{check}: stored acknowledged");
    assert_eq!(open_today_misses(store, &domain, "rep-2").await.2, 0, "{check}: misses reset");
    let want = [("other".to_string(), 400)];
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), want, "{check}: deadline cancelled");
    let unknown = store.acknowledge(&domain, "never", "rep-1", 1).await.unwrap();
    assert_eq!(unknown, AckOutcome::Unknown, "{check}: unknown lead");
}

async fn deadlines_are_ordered_limited_and_droppable(store: &dyn Store) {
    let check = "deadlines_are_ordered_limited_and_droppable";
    let domain = unique("dom");
    for (lead, due) in [("c", 300), ("a", 100), ("b", 200), ("none", 0), ("a2", 100)] {
        commit(store, first(&domain, lead, record("rep-1", 1, due))).await;
    }
    let due = |list: &[(&str, i64)]| list.iter().map(|&(l, d)| (l.to_string(), d)).collect::<Vec<_>>();
    let all = due(&[("a", 100), ("a2", 100), ("b", 200), ("c", 300)]);
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), all, "{check}: earliest first");
    assert_eq!(store.deadlines(&domain, None, 2).await.unwrap(), all[..2], "{check}: limit");
    assert_eq!(store.deadlines(&domain, None, usize::MAX).await.unwrap(), all, "{check}: no limit");
    assert_eq!(store.deadlines(&domain, Some(200), 10).await.unwrap(), all[..3], "{check}: until inclusive");
    assert!(store.deadlines(&domain, Some(99), 10).await.unwrap().is_empty(), "{check}: none due yet");
    assert!(store.deadlines(&domain, None, 0).await.unwrap().is_empty(), "{check}: limit 0");
    assert!(store.drop_deadline(&domain, "b").await.unwrap(), "{check}: dropped");
    assert!(!store.drop_deadline(&domain, "b").await.unwrap(), "{check}: dropped already");
    assert!(!store.drop_deadline(&domain, "none").await.unwrap(), "{check}: never armed");
    let left = due(&[("a", 100), ("a2", 100), ("c", 300)]);
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), left, "{check}: after drop");
    assert!(store.deadlines(&unique("dom"), None, 10).await.unwrap().is_empty(), "{check}: per domain");
}

async fn release_is_idempotent(store: &dyn Store) {
    let check = "release_is_idempotent";
    let domain = unique("dom");
    let rec = record("rep-1", 1, 100);
    commit(store, first(&domain, "lead", rec.clone())).await;
    commit(store, first(&domain, "kept", record("rep-1", 1, 200))).await;
    assert_eq!(store.release(&domain, "lead").await.unwrap().as_deref(), Some("rep-1"), "{check}");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await, (1, 2, 0), "{check}: open released");
    let want = [("kept".to_string(), 200)];
    assert_eq!(store.deadlines(&domain, None, 10).await.unwrap(), want, "{check}: deadline dropped");
    assert_eq!(store.release(&domain, "lead").await.unwrap(), None, "{check}: second release");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await.0, 1, "{check}: released once");
    let released = RouteRecord { released: true, ..rec };
    assert_eq!(
        store.route(&domain, "lead").await.unwrap(),
        Some(released),
        "{check}: record stays, released"
    );
    assert_eq!(store.release(&domain, "never").await.unwrap(), None, "{check}: unknown lead");
}

async fn park_queues_a_missed_lead_once(store: &dyn Store) {
    let check = "park_queues_a_missed_lead_once";
    let domain = unique("dom");
    commit(store, first(&domain, "lead", record("rep-1", 1, 100))).await;
    let park = Park {
        domain: domain.clone(),
        lead_id: "lead".into(),
        attempt: 1,
        pool: POOL.into(),
        lead: "{}".into(),
        queued_ms: 500,
        miss: Some(Miss { rep_id: "rep-1".into(), away_after: None }),
    };
    assert!(
        !store.park(&Park { attempt: 2, ..park.clone() }).await.unwrap(),
        "{check}: not the current attempt"
    );
    assert!(store.park(&park).await.unwrap(), "{check}: parked");
    assert!(!store.park(&park).await.unwrap(), "{check}: parked once");
    assert_eq!(open_today_misses(store, &domain, "rep-1").await, (1, 1, 1), "{check}: one miss, still open");
    assert!(store.deadlines(&domain, None, 10).await.unwrap().is_empty(), "{check}: deadline dropped");
    assert_eq!(store.overflow_len(&domain, POOL).await.unwrap(), 1, "{check}: queued");
    let parked = store.route(&domain, "lead").await.unwrap().unwrap();
    assert!(parked.parked && !parked.acked, "{check}: still the rep's, parked");
    // Leaving overflow: a commit replacing the parked attempt clears the flag.
    let taken = RouteCommit {
        from_overflow: Some(POOL.into()),
        ..escalate(&domain, "lead", record("rep-2", 2, 900), 1, "rep-1")
    };
    assert!(matches!(commit(store, taken).await, Committed::Fresh(_)), "{check}: placed from overflow");
    let placed = store.route(&domain, "lead").await.unwrap().unwrap();
    assert!(!placed.parked && placed.rep_id == "rep-2", "{check}: {placed:?}");
    assert_eq!(store.overflow_len(&domain, POOL).await.unwrap(), 0, "{check}: left the queue");
    // An accepted lead is never parked.
    commit(store, first(&domain, "acked", record("rep-1", 1, 100))).await;
    store.acknowledge(&domain, "acked", "rep-1", 1).await.unwrap();
    let acked = Park { lead_id: "acked".into(), ..park };
    assert!(!store.park(&acked).await.unwrap(), "{check}: accepted");
}

async fn overflow_keeps_order_and_first_queued_time(store: &dyn Store) {
    let check = "overflow_keeps_order_and_first_queued_time";
    let domain = unique("dom");
    let lead = |id: &str| format!(r#"{{"lead_id":"{id}","note":"ünïcode"}}"#);
    for (id, at) in [("b", 200), ("a", 100), ("c", 300)] {
        let queued = store.enqueue_overflow(&domain, POOL, id, &lead(id), at).await.unwrap();
        assert!(queued, "{check}: {id} newly queued");
    }
    let again = store.enqueue_overflow(&domain, POOL, "b", "{}", 50).await.unwrap();
    assert!(!again, "{check}: queued already");
    assert_eq!(store.overflow_len(&domain, POOL).await.unwrap(), 3, "{check}: len");
    let queued = store.overflow(&domain, POOL, 2).await.unwrap();
    let got: Vec<_> = queued.iter().map(|q| (q.lead_id.as_str(), q.lead.clone(), q.queued_ms)).collect();
    assert_eq!(got, [("a", lead("a"), 100), ("b", lead("b"), 200)], "{check}: oldest first, first time kept");
    assert!(store.overflow(&domain, POOL, 0).await.unwrap().is_empty(), "{check}: limit 0");
    assert_eq!(store.overflow_len(&domain, "other").await.unwrap(), 0, "{check}: per pool");
    assert!(store.overflow(&domain, "other", 10).await.unwrap().is_empty(), "{check}: per pool");

    let taken =
        RouteCommit { from_overflow: Some(POOL.into()), ..first(&domain, "a", record("rep-1", 1, 0)) };
    assert!(matches!(commit(store, taken).await, Committed::Fresh(_)), "{check}: routed from overflow");
    assert_eq!(store.overflow_len(&domain, POOL).await.unwrap(), 2, "{check}: left the queue");
    let ids: Vec<_> =
        store.overflow(&domain, POOL, 10).await.unwrap().into_iter().map(|q| q.lead_id).collect();
    assert_eq!(ids, ["b", "c"], "{check}: the rest wait");
    assert!(store.enqueue_overflow(&domain, POOL, "a", &lead("a"), 400).await.unwrap(), "{check}: requeue");
    assert!(store.remove_overflow(&domain, POOL, "b").await.unwrap(), "{check}: removed");
    assert!(!store.remove_overflow(&domain, POOL, "b").await.unwrap(), "{check}: removed once");
    let ids: Vec<_> =
        store.overflow(&domain, POOL, 10).await.unwrap().into_iter().map(|q| q.lead_id).collect();
    assert_eq!(ids, ["c", "a"], "{check}: removal keeps the others' order");
}

async fn rep_status_is_set_and_available_resets_misses(store: &dyn Store) {
    let check = "rep_status_is_set_and_available_resets_misses";
    let domain = unique("dom");
    assert_eq!(store.rep_state(&domain, "rep-1").await.unwrap(), RepState::default(), "{check}: unseen");
    commit(store, first(&domain, "lead", record("rep-1", 1, 100))).await;
    commit(store, escalate(&domain, "lead", record("rep-2", 2, 200), 1, "rep-1")).await;
    let offline = store.set_rep_status(&domain, "rep-1", RepStatus::Offline).await.unwrap();
    assert_eq!((offline.status, offline.misses, offline.today), (RepStatus::Offline, 1, 1), "{check}");
    assert_eq!(store.rep_state(&domain, "rep-1").await.unwrap(), offline, "{check}: stored");
    let available = store.set_rep_status(&domain, "rep-1", RepStatus::Available).await.unwrap();
    assert_eq!((available.status, available.misses), (RepStatus::Available, 0), "{check}: misses reset");
    assert_eq!(available.last_assigned_ms, offline.last_assigned_ms, "{check}: the rest kept");
    let missed = store.record_miss(&domain, "rep-1", Some(2)).await.unwrap();
    assert_eq!((missed.status, missed.misses), (RepStatus::Available, 1), "{check}: one miss");
    let missed = store.record_miss(&domain, "rep-1", Some(2)).await.unwrap();
    assert_eq!((missed.status, missed.misses), (RepStatus::Away, 2), "{check}: away at the limit");
    assert_eq!(store.record_miss(&domain, "rep-1", None).await.unwrap().misses, 3, "{check}: no limit");
    let away = store.set_rep_status(&domain, "rep-9", RepStatus::Away).await.unwrap();
    assert_eq!(away, RepState { status: RepStatus::Away, ..RepState::default() }, "{check}: new rep");
}

async fn route_expires_after_its_ttl(store: &dyn Store) {
    let check = "route_expires_after_its_ttl";
    let domain = unique("dom");
    let short = Duration::from_millis(50);
    store.commit_route(&first(&domain, "lead", record("rep-1", 1, 100)), short).await.unwrap();
    assert!(store.route(&domain, "lead").await.unwrap().is_some(), "{check}: stored");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.route(&domain, "lead").await.unwrap(), None, "{check}: expired");
    assert_eq!(store.roster(&domain, POOL, "lead", &[]).await.unwrap().route, None, "{check}: roster");
    let ack = store.acknowledge(&domain, "lead", "rep-1", 1).await.unwrap();
    assert_eq!(ack, AckOutcome::Unknown, "{check}: ack after expiry");
    assert_eq!(store.release(&domain, "lead").await.unwrap(), None, "{check}: release after expiry");
    let again = commit(store, first(&domain, "lead", record("rep-2", 1, 100))).await;
    assert!(matches!(again, Committed::Fresh(r) if r.rep_id == "rep-2"), "{check}: assignable again");
}

/// 8 tasks × 25 decisions over one pool of 5 reps, each reading the roster, taking the rep at the
/// cursor and committing the cursor's move, again on `Contended`: exactly fair, one route a lead.
async fn concurrent_decisions_share_one_pool_fairly(store: Arc<dyn Store>) {
    let check = "concurrent_decisions_share_one_pool_fairly";
    let domain = unique("dom");
    let pool = reps(5);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let (store, domain, pool) = (store.clone(), domain.clone(), pool.clone());
            tokio::spawn(async move {
                let mut decided = Vec::new();
                for i in 0..25 {
                    let lead = format!("t{task}-l{i}");
                    loop {
                        let roster = store.roster(&domain, POOL, &lead, &pool).await.unwrap();
                        assert!(roster.route.is_none(), "{check}: {lead} routed twice");
                        let rep = &pool[(roster.cursor % pool.len() as u64) as usize];
                        // Lets the other tasks in between read and commit, even on one thread.
                        tokio::task::yield_now().await;
                        let attempt = RouteCommit {
                            cursor: cursor(roster.cursor),
                            ..first(&domain, &lead, record(rep, 1, 0))
                        };
                        match store.commit_route(&attempt, TTL).await.unwrap() {
                            Committed::Fresh(r) => {
                                decided.push((lead, r.rep_id));
                                break;
                            }
                            Committed::Contended => continue,
                            Committed::Existing(r) => panic!("{check}: {lead} already routed to {r:?}"),
                        }
                    }
                }
                decided
            })
        })
        .collect();
    let mut per_rep: HashMap<String, u32> = HashMap::new();
    let mut leads = 0;
    for task in tasks {
        for (lead, rep) in task.await.unwrap() {
            let stored = store.route(&domain, &lead).await.unwrap().map(|r| r.rep_id);
            assert_eq!(stored.as_ref(), Some(&rep), "{check}: {lead}'s one route");
            *per_rep.entry(rep).or_default() += 1;
            leads += 1;
        }
    }
    assert_eq!(leads, 200, "{check}: every decision made once");
    assert_eq!(store.roster(&domain, POOL, "x", &[]).await.unwrap().cursor, 200, "{check}: cursor");
    for rep in &pool {
        assert_eq!(per_rep.get(rep), Some(&40), "{check}: {per_rep:?}");
        assert_eq!(open_today_misses(&*store, &domain, rep).await, (40, 40, 0), "{check}: {rep} counted");
    }
}

/// A rep's list holds exactly the leads whose current attempt is theirs and not closed, newest
/// first, with the lead's summary; an escalation moves the lead from one list to the other.
async fn rep_leads_follow_their_routes(store: &dyn Store) {
    let check = "rep_leads_follow_their_routes";
    let domain = unique("dom");
    let at =
        |rep: &str, attempt: u32, assigned_ms: i64| RouteRecord { assigned_ms, ..record(rep, attempt, 100) };
    commit(store, first(&domain, "old", at("rep-1", 1, 1_777_777_777_100))).await;
    commit(store, first(&domain, "new", at("rep-1", 1, 1_777_777_777_200))).await;
    commit(store, first(&domain, "other", at("rep-2", 1, 1_777_777_777_300))).await;
    let ids = |leads: Vec<(String, RouteRecord)>| leads.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    let held = store.rep_leads(&domain, "rep-1", 10).await.unwrap();
    assert_eq!(
        held[0].1.summary.as_ref().and_then(|s| s.name.as_deref()),
        Some("Zoë \"Q\" O'Hara"),
        "{check}"
    );
    assert_eq!(ids(held), ["new", "old"], "{check}: newest first, only rep-1's");
    assert_eq!(ids(store.rep_leads(&domain, "rep-1", 1).await.unwrap()), ["new"], "{check}: limit");

    commit(store, escalate(&domain, "old", at("rep-2", 2, 1_777_777_777_400), 1, "rep-1")).await;
    assert_eq!(ids(store.rep_leads(&domain, "rep-1", 10).await.unwrap()), ["new"], "{check}: escalated away");
    assert_eq!(
        ids(store.rep_leads(&domain, "rep-2", 10).await.unwrap()),
        ["old", "other"],
        "{check}: escalated to"
    );

    store.acknowledge(&domain, "new", "rep-1", 1).await.unwrap();
    let held = store.rep_leads(&domain, "rep-1", 10).await.unwrap();
    assert!(held[0].1.acked, "{check}: an accepted lead stays, marked accepted");
    store.release(&domain, "new").await.unwrap();
    assert!(store.rep_leads(&domain, "rep-1", 10).await.unwrap().is_empty(), "{check}: closed leads leave");
    assert!(store.rep_leads(&domain, "nobody", 10).await.unwrap().is_empty(), "{check}: unknown rep");
}
