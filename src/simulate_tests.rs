use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::routing_reload::parse;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/simulate");

fn signer() -> AckSigner {
    AckSigner::new(vec![b"simulate".to_vec()])
}

fn id(n: u32) -> Uuid {
    Uuid::from_u128(n as u128)
}

fn envelope(kind: &str, at: &str, payload: Value) -> String {
    json!({
        "id": Uuid::new_v4(), "type": format!("lead.{kind}"), "occurred_at": at, "schema_version": 1,
        "correlation_id": Uuid::nil(), "payload": payload,
    })
    .to_string()
}

fn qualified(n: u32, at: &str, domain: &str, country: &str, language: &str) -> String {
    let lead = json!({
        "kind": "qualified", "lead_id": id(n), "lead_key": format!("k{n}"), "routing_domain": domain,
        "source": "web-form", "event_id": format!("e{n}"), "contact": {"country": country},
        "signals": {"language": language},
    });
    envelope("qualified", at, lead)
}

fn assigned(n: u32, at: &str, domain: &str, rep: &str, attempt: u32) -> String {
    let a = json!({
        "kind": "assigned", "lead_id": id(n), "lead_key": format!("k{n}"), "routing_domain": domain,
        "rep_id": rep, "attempt": attempt, "reason": "round_robin", "pool": "all",
    });
    envelope("assigned", at, a)
}

fn read(lines: &[String]) -> PastEvents {
    read_events(lines.join("\n").as_bytes()).unwrap()
}

fn options(rules: &Path, events: &Path) -> Options {
    Options { rules: rules.to_path_buf(), events: events.to_path_buf() }
}

const TWO_DOMAINS: &str = r#"
default_domain = "na"
[[domains]]
name = "na"
countries = ["US"]
reps = [{ id = "ana" }, { id = "ben" }]
[[domains]]
name = "emea"
countries = ["DE", "ES"]
reps = [{ id = "dora" }]
"#;

#[test]
fn the_first_attempt_one_assignment_pairs_with_the_last_qualified_event_before_it() {
    let past = read(&[
        qualified(1, "2025-03-03T10:00:00Z", "na", "US", "en"),
        qualified(1, "2025-03-03T10:01:00Z", "na", "DE", "en"),
        assigned(1, "2025-03-03T10:01:01Z", "na", "ana", 1),
        assigned(1, "2025-03-03T10:06:01Z", "na", "ben", 2),
        assigned(1, "2025-03-03T10:07:00Z", "na", "cleo", 1),
        qualified(1, "2025-03-03T11:00:00Z", "na", "FR", "en"),
        qualified(2, "2025-03-03T10:02:00Z", "na", "US", "en"),
        assigned(3, "2025-03-03T10:03:00Z", "na", "ben", 1),
    ]);
    assert_eq!((past.lines, past.events, past.skipped.total()), (8, 8, 0));
    let first = past.first.unwrap().to_rfc3339();
    assert_eq!(
        (first.as_str(), past.last.unwrap().to_rfc3339()),
        ("2025-03-03T10:00:00+00:00", "2025-03-03T11:00:00+00:00".into())
    );
    let leads: HashMap<Uuid, &PastLead> = past.leads.iter().map(|(id, l)| (*id, l)).collect();
    let one = leads[&id(1)];
    assert_eq!(one.qualified.as_ref().unwrap().payload.contact.country.as_deref(), Some("DE"));
    assert_eq!(one.qualified.as_ref().unwrap().occurred_at.to_rfc3339(), "2025-03-03T10:01:00+00:00");
    assert_eq!(one.before.as_ref().map(|a| a.rep_id.as_str()), Some("ana"));
    assert!(leads[&id(2)].qualified.is_some() && leads[&id(2)].before.is_none());
    assert!(leads[&id(3)].qualified.is_none() && leads[&id(3)].before.is_some());
}

#[tokio::test]
async fn a_lead_never_assigned_counts_as_queued_before_and_one_without_qualified_is_not_replayed() {
    let past = read(&[
        qualified(2, "2025-03-03T10:02:00Z", "na", "US", "en"),
        assigned(3, "2025-03-03T10:03:00Z", "na", "ben", 1),
    ]);
    let replayed = replay(parse(TWO_DOMAINS).unwrap(), &past, signer()).await.unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!((replayed[0].before.rep(), replayed[0].after.rep()), (QUEUED, "ana"));
    let report = report(&options(Path::new("r.toml"), Path::new("e.jsonl")), &past, &replayed);
    assert_eq!((report.leads_replayed, report.not_replayable), (1, 1));
    let reps: Vec<(&str, usize, usize, i64)> =
        report.reps.iter().map(|c| (c.name.as_str(), c.before, c.after, c.delta)).collect();
    assert_eq!(reps, [("ana", 0, 1, 1), (QUEUED, 1, 0, -1)]);
}

#[test]
fn blank_lines_lines_that_are_not_json_and_other_messages_are_counted_not_fatal() {
    let past = read(&[
        String::new(),
        "% Reached end of topic leads.events [0] at offset 9".into(),
        "{\"truncated\": ".into(),
        "   ".into(),
        json!({"lead_id": "x", "rep_id": "ana"}).to_string(),
        envelope("captured", "2025-03-03T10:00:00Z", json!({"kind": "captured"})),
        qualified(1, "2025-03-03T10:00:00Z", "na", "US", "en"),
    ]);
    assert_eq!(past.lines, 7);
    assert_eq!(past.skipped, Skipped { blank: 2, not_json: 2, not_lead_event: 2 });
    assert_eq!((past.events, past.leads.len()), (1, 1));
    let bytes: &[u8] = b"\xff\xfe not utf-8\n";
    assert_eq!(read_events(bytes).unwrap().skipped.not_json, 1);
}

#[tokio::test]
async fn a_new_rule_moves_a_lead_to_its_pool_and_domain() {
    let spanish_pool =
        "reps = [{ id = \"ana\" }, { id = \"ben\" }]\npools = [{ name = \"spanish\", reps = [\"ben\"] }]\n";
    let rules = TWO_DOMAINS.replace("reps = [{ id = \"ana\" }, { id = \"ben\" }]\n", spanish_pool)
        + "[[rules]]\nname = \"spanish-speakers\"\ndomain = \"na\"\npool = \"spanish\"\nwhen = { languages = [\"es\"] }\n";
    let past = read(&[
        qualified(1, "2025-03-03T10:00:00Z", "emea", "ES", "es"),
        assigned(1, "2025-03-03T10:00:01Z", "emea", "dora", 1),
        qualified(2, "2025-03-03T10:01:00Z", "emea", "DE", "de"),
        assigned(2, "2025-03-03T10:01:01Z", "emea", "dora", 1),
    ]);
    let replayed = replay(parse(&rules).unwrap(), &past, signer()).await.unwrap();
    let moved = &replayed[0];
    assert_eq!(moved.lead_id, id(1));
    let expected = Outcome::Assigned {
        rep: "ben".into(),
        domain: "na".into(),
        pool: "spanish".into(),
        rule: Some("spanish-speakers".into()),
        reason: "round_robin".into(),
    };
    assert_eq!(moved.after, expected);
    assert_eq!(replayed[1].after.rep(), "dora", "the German lead stays");
    let report = report(&options(Path::new("r.toml"), Path::new("e.jsonl")), &past, &replayed);
    let change = Change {
        lead_id: id(1),
        before: "dora".into(),
        after: "ben".into(),
        rule: Some("spanish-speakers".into()),
        reason: "round_robin".into(),
    };
    assert_eq!(report.changes, [change]);
    let pools: Vec<(&str, usize, usize)> =
        report.pools.iter().map(|c| (c.name.as_str(), c.before, c.after)).collect();
    assert_eq!(pools, [("emea/all", 2, 1), ("na/spanish", 0, 1)]);
}

#[tokio::test]
async fn decisions_are_made_at_the_lead_s_time_daily_caps_apply_and_open_caps_do_not_pile_up() {
    let rules = TWO_DOMAINS
        .replace("{ id = \"ana\" }, { id = \"ben\" }", "{ id = \"ana\", max_per_day = 1, max_open = 1 }");
    let past = read(&[
        // Out of order in the file: replayed by qualified time.
        qualified(3, "2025-03-04T09:00:00Z", "na", "US", "en"),
        qualified(1, "2025-03-03T09:00:00Z", "na", "US", "en"),
        qualified(2, "2025-03-03T17:00:00Z", "na", "US", "en"),
    ]);
    let replayed = replay(parse(&rules).unwrap(), &past, signer()).await.unwrap();
    let got: Vec<(Uuid, &str)> = replayed.iter().map(|r| (r.lead_id, r.after.rep())).collect();
    assert_eq!(got, [(id(1), "ana"), (id(2), QUEUED), (id(3), "ana")], "a new day, a new daily cap");
}

#[tokio::test]
async fn an_owner_s_domain_wins_over_the_new_rules() {
    let mut lead: Value =
        serde_json::from_str(&qualified(1, "2025-03-03T10:00:00Z", "na", "US", "en")).unwrap();
    lead["payload"]["account"] = json!({"account_id": "a1", "name": "globex", "matched_by": "domain", "similarity": 1.0, "owner": "dora"});
    let past = read(&[lead.to_string()]);
    let replayed = replay(parse(TWO_DOMAINS).unwrap(), &past, signer()).await.unwrap();
    let Outcome::Assigned { rep, domain, reason, .. } = &replayed[0].after else { panic!("{replayed:?}") };
    assert_eq!((rep.as_str(), domain.as_str(), reason.as_str()), ("dora", "emea", "account_owner"));
}

#[tokio::test]
async fn a_rules_file_with_errors_fails_naming_every_problem() {
    let dir = std::env::temp_dir().join(format!("speedlead-simulate-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    let bad = format!("{TWO_DOMAINS}[[rules]]\nname = \"r\"\ndomain = \"mars\"\n");
    std::fs::write(&rules, bad.replace("default_domain = \"na\"", "default_domain = \"nowhere\"")).unwrap();
    let events = Path::new(FIXTURES).join("events.jsonl");
    let err = run(&options(&rules, &events), signer()).await.unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err.contains(&rules.display().to_string()), "{err}");
    assert!(err.contains("routing.default_domain: 'nowhere'"), "{err}");
    assert!(err.contains("routing.rules[0].domain: 'mars' is not a configured domain"), "{err}");
}

/// Replaying the fixture through the rules it was recorded under gives every recorded assignment
/// back: only the lead that was queued then (nobody in emea was available) finds a rep now.
#[tokio::test]
async fn the_fixture_replayed_through_its_own_rules_reproduces_what_happened() {
    let fixtures = Path::new(FIXTURES);
    let options = options(&fixtures.join("current.toml"), &fixtures.join("events.jsonl"));
    let report = run(&options, signer()).await.unwrap();
    assert_eq!((report.leads_replayed, report.lines, report.skipped.total()), (12, 29, 2));
    let changes: Vec<(&str, &str)> =
        report.changes.iter().map(|c| (c.before.as_str(), c.after.as_str())).collect();
    assert_eq!(changes, [(QUEUED, "dora")]);
    let mut text = Vec::new();
    print(&report, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("12 leads replayed") && text.contains("leads whose rep changed: 1 of 12"),
        "{text}"
    );
    let mut json = Vec::new();
    print_json(&report, &mut json).unwrap();
    let json: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["reps"][0], json!({"name": "ana", "before": 2, "after": 2, "delta": 0}));
}
