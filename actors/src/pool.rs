//! How a pool picks a rep for a lead: who is eligible (status, calendar, caps, skills, not tried
//! before) and, among them, whose turn it is (strict round robin, weighted round robin, or
//! load-balanced). Pure functions over a [`Roster`] read from the store, so a decision is fast,
//! testable without I/O, and replayable by `speedlead simulate`.

use chrono::{DateTime, Utc};
use speedlead_topics::CandidateVerdict;

use crate::rep::{OffDuty, RepProfile};
use crate::routing_store::{RepState, RepStatus, Roster};
use crate::rules_config::Strategy;

/// A compiled pool of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub strategy: Strategy,
    /// Reps of the domain, in configured order.
    pub reps: Vec<String>,
    /// Required of every rep for every lead of the pool.
    pub skills: Vec<String>,
    pub backup: Option<String>,
    pub sla_secs: Option<u64>,
}

/// Why a rep was passed over; [`Skip::verdict`] is its audit text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Away,
    Offline,
    OffHours,
    Holiday,
    OutOfOffice,
    AtOpenCap,
    AtDailyCap,
    MissingSkill(String),
    AlreadyTried,
    UnknownRep,
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `None`: nobody eligible (the lead goes to overflow or further down the chain).
    pub rep: Option<String>,
    /// The pool's cursor after this choice, to store with the decision.
    pub cursor: u64,
    /// Every rep of the pool with its verdict.
    pub candidates: Vec<CandidateVerdict>,
}

/// Whether one rep can take a lead now; the first failure is the verdict. The order puts what
/// says most about the rep first: a rep no longer configured, then one who already had the lead
/// (so an escalation's audit says `already_tried` rather than whatever else is true of them), then
/// status, calendar (`on_duty`), the open cap, the daily cap (on the rep-local day of `now`) and
/// last the first of `required` (the pool's and the lead's skills together) the rep lacks.
pub fn eligibility(
    profile: Option<&RepProfile>,
    state: &RepState,
    required: &[String],
    exclude: &[String],
    now: DateTime<Utc>,
) -> Result<(), Skip> {
    check(profile, state, [required, &[]], exclude, now)
}

/// [`eligibility`] with the required skills in two parts, so [`choose`] need not concatenate the
/// pool's and the lead's per decision.
fn check(
    profile: Option<&RepProfile>,
    state: &RepState,
    required: [&[String]; 2],
    exclude: &[String],
    now: DateTime<Utc>,
) -> Result<(), Skip> {
    let profile = profile.ok_or(Skip::UnknownRep)?;
    if exclude.contains(&profile.id) {
        return Err(Skip::AlreadyTried);
    }
    match state.status {
        RepStatus::Available => {}
        RepStatus::Away => return Err(Skip::Away),
        RepStatus::Offline => return Err(Skip::Offline),
    }
    profile.on_duty(now).map_err(|off| match off {
        OffDuty::OffHours => Skip::OffHours,
        OffDuty::Holiday => Skip::Holiday,
        OffDuty::OutOfOffice => Skip::OutOfOffice,
    })?;
    if profile.caps.max_open.is_some_and(|cap| state.open >= cap) {
        return Err(Skip::AtOpenCap);
    }
    if let Some(cap) = profile.caps.max_per_day {
        // `today` counts only on the rep-local day it was stored for (`RepState::today_on`); the
        // day is compared only when the count could reach the cap. A hand-built cap of 0 (config
        // refuses it) takes nothing, as `today_on(..) >= 0` would say.
        if cap == 0 || (state.today >= cap && profile.is_local_day(now, &state.day)) {
            return Err(Skip::AtDailyCap);
        }
    }
    if let Some(missing) = required.iter().flat_map(|r| r.iter()).find(|s| !profile.skills.contains(s)) {
        return Err(Skip::MissingSkill(missing.clone()));
    }
    Ok(())
}

/// Picks the rep of `pool` for a lead. `roster.states` are aligned with `pool.reps` (a missing
/// state is a rep never seen); `profile(id)` finds a rep's compiled profile; `required` are the
/// lead's required skills on top of the pool's; `exclude` are reps who had the lead before.
///
/// The cursor only ever grows: the store commits a decision only if the cursor is still the one
/// read, so two concurrent decisions on the same pool cannot both take the same turn.
pub fn choose<'a>(
    pool: &Pool,
    profile: impl Fn(&str) -> Option<&'a RepProfile>,
    roster: &Roster,
    required: &[String],
    exclude: &[String],
    now: DateTime<Utc>,
) -> Choice {
    static NEVER_SEEN: RepState = RepState {
        status: RepStatus::Available,
        open: 0,
        day: String::new(),
        today: 0,
        misses: 0,
        last_assigned_ms: 0,
    };
    let n = pool.reps.len();
    let state = |i: usize| roster.states.get(i).unwrap_or(&NEVER_SEEN);
    let profiles: Vec<Option<&RepProfile>> = pool.reps.iter().map(|id| profile(id)).collect();
    let verdicts: Vec<Result<(), Skip>> =
        (0..n).map(|i| check(profiles[i], state(i), [&pool.skills, required], exclude, now)).collect();
    let eligible = |i: usize| verdicts[i].is_ok();

    let cursor = roster.cursor;
    let (picked, next) = match pool.strategy {
        Strategy::RoundRobin => scan(n, cursor, |k| k, eligible),
        Strategy::Weighted => {
            let cycle = weighted_cycle(&profiles);
            scan(cycle.len(), cursor, |k| cycle[k] as usize, eligible)
        }
        Strategy::LoadBalanced => {
            let picked = (0..n).filter(|&i| eligible(i)).min_by_key(|&i| {
                let s = state(i);
                (s.open, s.last_assigned_ms, i)
            });
            (picked, if picked.is_some() { cursor.wrapping_add(1) } else { cursor })
        }
    };

    let candidates = pool
        .reps
        .iter()
        .zip(&verdicts)
        .enumerate()
        .map(|(i, (rep_id, verdict))| CandidateVerdict {
            rep_id: rep_id.clone(),
            verdict: match verdict {
                Ok(()) if picked == Some(i) => "chosen".to_string(),
                Ok(()) => "eligible".to_string(),
                Err(skip) => skip.verdict(),
            },
        })
        .collect();
    Choice { rep: picked.map(|i| pool.reps[i].clone()), cursor: next, candidates }
}

/// The first eligible rep of a cycle of `len` turns (`rep_at(turn)` is the turn's rep index),
/// starting at the cursor's turn and wrapping; the cursor moves on past the turns passed over,
/// so a rep skipped now does not get the next turn to make up for it.
fn scan(
    len: usize,
    cursor: u64,
    rep_at: impl Fn(usize) -> usize,
    eligible: impl Fn(usize) -> bool,
) -> (Option<usize>, u64) {
    if len == 0 {
        return (None, cursor);
    }
    let start = (cursor % len as u64) as usize;
    (0..len)
        .map(|step| (step, rep_at((start + step) % len)))
        .find(|&(_, rep)| eligible(rep))
        .map_or((None, cursor), |(step, rep)| (Some(rep), cursor.wrapping_add(step as u64 + 1)))
}

/// One cycle of smooth weighted round robin (nginx's): each step every rep's current weight grows
/// by its weight, the largest (first in pool order on a tie) takes the turn and gives back the
/// total. Over a cycle each rep gets exactly `weight` turns, spread out rather than in a run, and
/// the cycle depends only on the weights, so a cursor position means the same rep on every
/// instance. Weights are divided by their common divisor first: that yields the same sequence,
/// only shorter. A rep without a profile has no turns.
fn weighted_cycle(profiles: &[Option<&RepProfile>]) -> Vec<u32> {
    let weight = |p: &Option<&RepProfile>| p.map_or(0, |p| u64::from(p.weight));
    let divisor = profiles.iter().map(weight).fold(0, gcd).max(1);
    let weights: Vec<i64> = profiles.iter().map(|p| (weight(p) / divisor) as i64).collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best: Option<usize> = None;
        for i in 0..weights.len() {
            if weights[i] == 0 {
                continue;
            }
            current[i] += weights[i];
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else { break };
        current[best] -= total;
        cycle.push(best as u32);
    }
    cycle
}

impl Skip {
    /// The audit text: `away`, `off_hours`, `missing_skill:language:es`, …
    pub fn verdict(&self) -> String {
        match self {
            Skip::Away => "away".into(),
            Skip::Offline => "offline".into(),
            Skip::OffHours => "off_hours".into(),
            Skip::Holiday => "holiday".into(),
            Skip::OutOfOffice => "out_of_office".into(),
            Skip::AtOpenCap => "at_open_cap".into(),
            Skip::AtDailyCap => "at_daily_cap".into(),
            Skip::MissingSkill(skill) => format!("missing_skill:{skill}"),
            Skip::AlreadyTried => "already_tried".into(),
            Skip::UnknownRep => "unknown_rep".into(),
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
