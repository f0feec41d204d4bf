use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::rules_config::{DateRange, RepConfig, WorkingHours};

/// Monday 2024-01-08 10:00 UTC.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 8, 10, 0, 0).unwrap()
}

fn compile(config: RepConfig) -> RepProfile {
    RepProfile::compile("emea", &config, "rep").unwrap()
}

fn plain(id: &str) -> RepProfile {
    compile(RepConfig::new(id))
}

fn weighted(id: &str, weight: u32) -> RepProfile {
    compile(RepConfig { weight, ..RepConfig::new(id) })
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

fn pool(strategy: Strategy, reps: &[&str]) -> Pool {
    Pool { name: "p".into(), strategy, reps: strings(reps), skills: Vec::new(), backup: None, sla_secs: None }
}

/// A pool, its reps' profiles and the store's view of them, deciding leads one after another as
/// the router would: the returned cursor is stored and the chosen rep's counts go up.
struct Sim {
    pool: Pool,
    profiles: HashMap<String, RepProfile>,
    roster: Roster,
    clock_ms: i64,
}

impl Sim {
    fn new(strategy: Strategy, profiles: Vec<RepProfile>) -> Self {
        let ids: Vec<&str> = profiles.iter().map(|p| p.id.as_str()).collect();
        let pool = pool(strategy, &ids);
        let roster = Roster { route: None, cursor: 0, states: vec![RepState::default(); ids.len()] };
        let profiles = profiles.into_iter().map(|p| (p.id.clone(), p)).collect();
        Sim { pool, profiles, roster, clock_ms: 1 }
    }

    fn decide(&mut self) -> Choice {
        let choice = choose(&self.pool, |id| self.profiles.get(id), &self.roster, &[], &[], now());
        assert!(choice.cursor >= self.roster.cursor, "the cursor only grows");
        self.roster.cursor = choice.cursor;
        if let Some(rep) = &choice.rep {
            let i = self.pool.reps.iter().position(|r| r == rep).unwrap();
            let state = &mut self.roster.states[i];
            state.open += 1;
            state.today += 1;
            state.day = self.profiles[rep].local_day(now());
            state.last_assigned_ms = self.clock_ms;
            self.clock_ms += 1;
        }
        choice
    }

    /// The reps chosen for `leads` leads, in order.
    fn run(&mut self, leads: usize) -> Vec<String> {
        (0..leads).map(|_| self.decide().rep.expect("someone is eligible")).collect()
    }

    fn set_status(&mut self, rep: &str, status: RepStatus) {
        let i = self.pool.reps.iter().position(|r| r == rep).unwrap();
        self.roster.states[i].status = status;
    }
}

fn counts(picks: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for p in picks {
        *counts.entry(p.as_str()).or_default() += 1;
    }
    counts
}

fn verdicts(choice: &Choice) -> Vec<(&str, &str)> {
    choice.candidates.iter().map(|c| (c.rep_id.as_str(), c.verdict.as_str())).collect()
}

#[test]
fn verdict_texts() {
    let cases = [
        (Skip::Away, "away"),
        (Skip::Offline, "offline"),
        (Skip::OffHours, "off_hours"),
        (Skip::Holiday, "holiday"),
        (Skip::OutOfOffice, "out_of_office"),
        (Skip::AtOpenCap, "at_open_cap"),
        (Skip::AtDailyCap, "at_daily_cap"),
        (Skip::MissingSkill("language:es".into()), "missing_skill:language:es"),
        (Skip::AlreadyTried, "already_tried"),
        (Skip::UnknownRep, "unknown_rep"),
    ];
    for (skip, text) in cases {
        assert_eq!(skip.verdict(), text);
    }
}

#[test]
fn eligibility_checks_in_order() {
    let nine_to_five = WorkingHours { days: strings(&["mon"]), start: "11:00".into(), end: "17:00".into() };
    let config = RepConfig {
        working_hours: vec![nine_to_five],
        max_open: Some(2),
        max_per_day: Some(3),
        skills: strings(&["language:es"]),
        ..RepConfig::new("ana")
    };
    let p = compile(config);
    let ana = Some(&p);
    let away = RepState {
        status: RepStatus::Away,
        open: 9,
        today: 9,
        day: "2024-01-08".into(),
        ..RepState::default()
    };
    let tried = strings(&["ana"]);
    let es = strings(&["language:es"]);
    let de = strings(&["language:es", "language:de", "language:fr"]);

    assert_eq!(eligibility(None, &away, &de, &tried, now()), Err(Skip::UnknownRep));
    assert_eq!(eligibility(ana, &away, &de, &tried, now()), Err(Skip::AlreadyTried));
    assert_eq!(eligibility(ana, &away, &de, &[], now()), Err(Skip::Away));
    let offline = RepState { status: RepStatus::Offline, ..away.clone() };
    assert_eq!(eligibility(ana, &offline, &de, &[], now()), Err(Skip::Offline));
    let busy = RepState { status: RepStatus::Available, ..away.clone() };
    assert_eq!(eligibility(ana, &busy, &de, &[], now()), Err(Skip::OffHours));
    let at_noon = now() + chrono::TimeDelta::hours(2);
    assert_eq!(eligibility(ana, &busy, &de, &[], at_noon), Err(Skip::AtOpenCap));
    let one_open = RepState { open: 1, ..busy.clone() };
    assert_eq!(eligibility(ana, &one_open, &de, &[], at_noon), Err(Skip::AtDailyCap));
    // Yesterday's count does not count today.
    let yesterday = RepState { day: "2024-01-07".into(), ..one_open.clone() };
    assert_eq!(
        eligibility(ana, &yesterday, &de, &[], at_noon),
        Err(Skip::MissingSkill("language:de".into()))
    );
    assert_eq!(eligibility(ana, &yesterday, &es, &[], at_noon), Ok(()));
    assert_eq!(eligibility(ana, &RepState::default(), &[], &[], at_noon), Ok(()));
}

#[test]
fn eligibility_calendar_verdicts() {
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    let holiday = compile(RepConfig { holidays: vec![day(8)], ..RepConfig::new("h") });
    let absent = compile(RepConfig {
        out_of_office: vec![DateRange { from: day(1), to: day(8) }],
        ..RepConfig::new("o")
    });
    let state = RepState::default();
    assert_eq!(eligibility(Some(&holiday), &state, &[], &[], now()), Err(Skip::Holiday));
    assert_eq!(eligibility(Some(&absent), &state, &[], &[], now()), Err(Skip::OutOfOffice));
}

#[test]
fn skills_match_exactly() {
    let p = compile(RepConfig { skills: strings(&["language:es"]), ..RepConfig::new("ana") });
    let state = RepState::default();
    let upper = strings(&["Language:ES"]);
    assert_eq!(
        eligibility(Some(&p), &state, &upper, &[], now()),
        Err(Skip::MissingSkill("Language:ES".into()))
    );
}

#[test]
fn round_robin_gives_each_rep_its_share() {
    for (n, m) in [(3, 10), (4, 4), (5, 23), (1, 7), (7, 100)] {
        let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let mut sim = Sim::new(Strategy::RoundRobin, ids.iter().map(|id| plain(id)).collect());
        let picks = sim.run(m);
        let counts = counts(&picks);
        for id in &ids {
            let got = counts.get(id.as_str()).copied().unwrap_or(0);
            assert!(got == m / n || got == m.div_ceil(n), "{id}: {got} of {m} leads among {n}");
        }
        // In list order, one each.
        for (k, pick) in picks.iter().enumerate() {
            assert_eq!(pick, &ids[k % n]);
        }
        assert_eq!(sim.roster.cursor, m as u64);
    }
}

#[test]
fn round_robin_starts_at_the_cursor_and_wraps() {
    let p = pool(Strategy::RoundRobin, &["a", "b", "c"]);
    let profiles: HashMap<String, RepProfile> =
        ["a", "b", "c"].iter().map(|id| (id.to_string(), plain(id))).collect();
    let mut states = vec![RepState::default(); 3];
    states[2].status = RepStatus::Away;
    let roster = Roster { route: None, cursor: 5, states };
    // 5 % 3 = 2: c is away, so a after wrapping, two steps on.
    let choice = choose(&p, |id| profiles.get(id), &roster, &[], &[], now());
    assert_eq!(choice.rep.as_deref(), Some("a"));
    assert_eq!(choice.cursor, 7);
    assert_eq!(verdicts(&choice), vec![("a", "chosen"), ("b", "eligible"), ("c", "away")]);
}

#[test]
fn round_robin_skips_an_away_rep_and_stays_fair_among_the_rest() {
    let mut sim = Sim::new(Strategy::RoundRobin, ["a", "b", "c", "d"].iter().map(|id| plain(id)).collect());
    sim.set_status("b", RepStatus::Away);
    for m in 1..=30u32 {
        let choice = sim.decide();
        assert_eq!(choice.candidates[1].verdict, "away");
        assert_eq!(choice.candidates.len(), 4);
        let states = &sim.roster.states;
        let (lo, hi) = (m / 3, m.div_ceil(3));
        for i in [0, 2, 3] {
            let got = states[i].open;
            assert!(got == lo || got == hi, "after {m} leads rep {i} has {got}");
        }
        assert_eq!(states[1].open, 0);
    }
}

#[test]
fn nobody_eligible_keeps_the_cursor() {
    for strategy in [Strategy::RoundRobin, Strategy::Weighted, Strategy::LoadBalanced] {
        let mut sim = Sim::new(strategy, vec![plain("a"), plain("b")]);
        sim.roster.cursor = 41;
        sim.set_status("a", RepStatus::Away);
        sim.set_status("b", RepStatus::Offline);
        let choice = sim.decide();
        assert_eq!(choice.rep, None);
        assert_eq!(choice.cursor, 41);
        assert_eq!(verdicts(&choice), vec![("a", "away"), ("b", "offline")]);
    }
}

#[test]
fn an_empty_pool_chooses_nobody() {
    for strategy in [Strategy::RoundRobin, Strategy::Weighted, Strategy::LoadBalanced] {
        let roster = Roster { cursor: 3, ..Roster::default() };
        let choice = choose(&pool(strategy, &[]), |_| None, &roster, &[], &[], now());
        assert_eq!(choice, Choice { rep: None, cursor: 3, candidates: vec![] });
    }
}

#[test]
fn missing_states_are_reps_never_seen() {
    let p = pool(Strategy::LoadBalanced, &["a", "b"]);
    let profiles: HashMap<String, RepProfile> =
        ["a", "b"].iter().map(|id| (id.to_string(), plain(id))).collect();
    let roster = Roster { states: vec![RepState { open: 1, ..RepState::default() }], ..Roster::default() };
    let choice = choose(&p, |id| profiles.get(id), &roster, &[], &[], now());
    assert_eq!(choice.rep.as_deref(), Some("b"));
}

#[test]
fn weighted_shares_are_exact_over_whole_cycles() {
    let mut sim = Sim::new(Strategy::Weighted, vec![weighted("a", 3), weighted("b", 1)]);
    for cycle in 1..=100 {
        let picks = sim.run(4);
        let counts = counts(&picks);
        assert_eq!((counts["a"], counts["b"]), (3, 1), "cycle {cycle}: {picks:?}");
    }
    let a = sim.roster.states[0].open;
    let b = sim.roster.states[1].open;
    assert_eq!((a, b), (300, 100));
    assert_eq!(sim.roster.cursor, 400);
}

#[test]
fn weighted_follows_the_nginx_sequence() {
    let mut sim = Sim::new(Strategy::Weighted, vec![weighted("a", 5), weighted("b", 1), weighted("c", 1)]);
    let expected = strings(&["a", "a", "b", "a", "c", "a", "a"]);
    assert_eq!(sim.run(7), expected);
    assert_eq!(sim.run(7), expected);
}

#[test]
fn weighted_interleaves_turns() {
    let weights = [4, 2, 1, 3];
    let ids = ["a", "b", "c", "d"];
    let mut sim =
        Sim::new(Strategy::Weighted, ids.iter().zip(weights).map(|(id, w)| weighted(id, w)).collect());
    // Two whole cycles, so a run across the wrap counts too.
    let picks = sim.run(20);
    let mut run = 1;
    for k in 1..picks.len() {
        run = if picks[k] == picks[k - 1] { run + 1 } else { 1 };
        let w = weights[ids.iter().position(|id| *id == picks[k]).unwrap()];
        assert!(run <= w as usize, "{} has {run} turns in a row: {picks:?}", picks[k]);
    }
    let counts = counts(&picks);
    for (id, w) in ids.iter().zip(weights) {
        assert_eq!(counts[id], 2 * w as usize);
    }
}

#[test]
fn weighted_common_divisor_gives_the_same_sequence() {
    let mut small = Sim::new(Strategy::Weighted, vec![weighted("a", 3), weighted("b", 1)]);
    let mut large = Sim::new(Strategy::Weighted, vec![weighted("a", 300), weighted("b", 100)]);
    assert_eq!(small.run(12), large.run(12));
}

#[test]
fn weighted_passes_over_unknown_and_ineligible_reps() {
    let mut sim = Sim::new(Strategy::Weighted, vec![weighted("a", 2), weighted("b", 1), weighted("c", 1)]);
    sim.profiles.remove("c");
    let choice = sim.decide();
    assert_eq!(verdicts(&choice), vec![("a", "chosen"), ("b", "eligible"), ("c", "unknown_rep")]);
    let picks = sim.run(8);
    let counts = counts(&picks);
    assert_eq!((counts["a"], counts["b"]), (5, 3));
    // b away: its turns go to a, and the cursor still moves past them.
    sim.set_status("b", RepStatus::Away);
    let before = sim.roster.cursor;
    let picks = sim.run(6);
    assert!(picks.iter().all(|p| p == "a"));
    assert_eq!(sim.roster.cursor - before, 9);
}

#[test]
fn load_balanced_picks_the_fewest_open() {
    let p = pool(Strategy::LoadBalanced, &["a", "b", "c", "d"]);
    let profiles: HashMap<String, RepProfile> =
        ["a", "b", "c", "d"].iter().map(|id| (id.to_string(), plain(id))).collect();
    let state = |open, last| RepState { open, last_assigned_ms: last, ..RepState::default() };
    let pick = |states: Vec<RepState>| {
        let roster = Roster { cursor: 10, states, ..Roster::default() };
        let choice = choose(&p, |id| profiles.get(id), &roster, &[], &[], now());
        assert_eq!(choice.cursor, 11);
        choice.rep.unwrap()
    };
    assert_eq!(pick(vec![state(3, 1), state(1, 5), state(2, 0), state(1, 9)]), "b");
    // Tie on open: assigned longest ago wins.
    assert_eq!(pick(vec![state(3, 1), state(1, 5), state(2, 0), state(1, 2)]), "d");
    // Tie on both: pool order.
    assert_eq!(pick(vec![state(1, 5), state(1, 5), state(1, 5), state(1, 5)]), "a");
    // The least loaded is away: next least loaded.
    let mut states = vec![state(3, 1), state(0, 5), state(2, 0), state(1, 9)];
    states[1].status = RepStatus::Away;
    assert_eq!(pick(states), "d");
}

#[test]
fn load_balanced_evens_out_load() {
    let mut sim = Sim::new(Strategy::LoadBalanced, vec![plain("a"), plain("b"), plain("c")]);
    sim.roster.states[0].open = 4;
    let picks = sim.run(8);
    // b and c catch up with a first, then all take turns.
    assert!(picks[..8].iter().all(|p| p != "a"));
    let opens: Vec<u32> = sim.roster.states.iter().map(|s| s.open).collect();
    assert_eq!(opens, vec![4, 4, 4]);
    assert_eq!(sim.run(3), strings(&["a", "b", "c"]));
}

#[test]
fn the_audit_lists_every_rep_with_its_verdict() {
    let day = NaiveDate::from_ymd_opt(2024, 1, 8).unwrap();
    let reps = vec![
        compile(RepConfig { skills: strings(&["enterprise"]), ..RepConfig::new("no_lang") }),
        compile(RepConfig { skills: strings(&["language:es"]), ..RepConfig::new("no_pool_skill") }),
        compile(RepConfig { max_open: Some(1), ..skilled("capped") }),
        compile(RepConfig { max_per_day: Some(2), ..skilled("daily") }),
        compile(RepConfig {
            working_hours: vec![WorkingHours {
                days: strings(&["sat"]),
                start: "09:00".into(),
                end: "17:00".into(),
            }],
            ..skilled("weekend")
        }),
        compile(RepConfig { holidays: vec![day], ..skilled("holiday") }),
        compile(RepConfig { out_of_office: vec![DateRange { from: day, to: day }], ..skilled("ooo") }),
        compile(skilled("tried")),
        compile(skilled("away")),
        compile(skilled("offline")),
        compile(skilled("good")),
        compile(skilled("also_good")),
    ];
    let mut sim = Sim::new(Strategy::RoundRobin, reps);
    sim.pool.reps.insert(5, "ghost".into());
    sim.roster.states.insert(5, RepState::default());
    sim.pool.skills = strings(&["enterprise"]);
    sim.roster.states[2].open = 1;
    sim.roster.states[3] = RepState { today: 2, day: "2024-01-08".into(), ..RepState::default() };
    sim.roster.states[9].status = RepStatus::Away;
    sim.roster.states[10].status = RepStatus::Offline;
    let required = strings(&["language:es"]);
    let exclude = strings(&["tried"]);
    let choice = choose(&sim.pool, |id| sim.profiles.get(id), &sim.roster, &required, &exclude, now());
    assert_eq!(choice.rep.as_deref(), Some("good"));
    assert_eq!(choice.cursor, 12);
    assert_eq!(
        verdicts(&choice),
        vec![
            ("no_lang", "missing_skill:language:es"),
            ("no_pool_skill", "missing_skill:enterprise"),
            ("capped", "at_open_cap"),
            ("daily", "at_daily_cap"),
            ("weekend", "off_hours"),
            ("ghost", "unknown_rep"),
            ("holiday", "holiday"),
            ("ooo", "out_of_office"),
            ("tried", "already_tried"),
            ("away", "away"),
            ("offline", "offline"),
            ("good", "chosen"),
            ("also_good", "eligible"),
        ]
    );
}

fn skilled(id: &str) -> RepConfig {
    RepConfig { skills: strings(&["enterprise", "language:es"]), ..RepConfig::new(id) }
}
