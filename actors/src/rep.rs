//! A rep as routing sees them: the compiled profile from configuration (time zone, working hours,
//! holidays and absences, caps, skills, weight, manager) and the availability checks on it. The
//! rep's live state (status, open leads, today's count) is [`crate::routing_store::RepState`].
//!
//! All calendar checks convert the instant to the rep's wall clock with `chrono-tz` and compare
//! there, so a shift of 09:00–17:00 stays 09:00–17:00 across daylight-saving changes. Only UTC →
//! local conversions are made, which are always unique; the SLA walk never converts a local time
//! back, it steps to the next local boundary under the current offset and finds any offset change
//! on the way (see [`RepProfile::sla_due`]).

use std::time::Duration;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::routing_store::Caps;
use crate::rules_config::RepConfig;

/// Why a rep cannot take a lead at a given moment by their calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffDuty {
    OffHours,
    Holiday,
    OutOfOffice,
}

#[derive(Debug, Clone)]
pub struct RepProfile {
    pub id: String,
    pub name: Option<String>,
    pub domain: String,
    pub skills: Vec<String>,
    pub weight: u32,
    pub manager: Option<String>,
    pub caps: Caps,
    tz: Tz,
    /// Empty: always working.
    hours: Vec<Shift>,
    /// Every second-of-day at which some shift starts or ends, ascending, ending with 86 400
    /// (midnight, where the date and so holidays and absences change). The SLA walk steps from
    /// cut to cut: the duty status is constant between two of them.
    cuts: Vec<u32>,
    /// Sorted, for a binary search per check.
    holidays: Vec<NaiveDate>,
    /// `(from, to)`, both included.
    absences: Vec<(NaiveDate, NaiveDate)>,
}

/// One working-hours entry in local seconds of the day it starts on; `end` beyond 86 400 is the
/// part of an overnight shift that runs into the next day.
#[derive(Debug, Clone, Copy)]
struct Shift {
    /// Bit `n` set: the shift starts on weekday `n` (Monday 0).
    days: u8,
    start: u32,
    end: u32,
}

const DAY: u32 = 86_400;

/// How far [`RepProfile::sla_due`] looks for working time before it gives up on the calendar.
const SLA_HORIZON_DAYS: i64 = 366;

/// Weights are relative shares, so this is ample precision; the bound keeps the weighted
/// pool's per-decision cycle (as long as the pool's weights added up) small.
pub const MAX_WEIGHT: u32 = 1000;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl RepProfile {
    /// Compiles and validates one rep; errors are full messages prefixed with `field` (e.g.
    /// `routing.domains[0].reps[1].time_zone: 'Mars/Base' is not an IANA time zone`). Every
    /// problem is reported at once so a config can be fixed in one round.
    pub fn compile(domain: &str, config: &RepConfig, field: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let tz = match config.time_zone.parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                errors.push(format!("{field}.time_zone: '{}' is not an IANA time zone", config.time_zone));
                Tz::UTC
            }
        };

        let mut hours = Vec::with_capacity(config.working_hours.len());
        for (i, wh) in config.working_hours.iter().enumerate() {
            let at = format!("{field}.working_hours[{i}]");
            let mut days = 0u8;
            if wh.days.is_empty() {
                errors.push(format!("{at}.days: must name at least one day (mon..sun)"));
            }
            for (j, day) in wh.days.iter().enumerate() {
                match DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(day.trim())) {
                    Some(n) => days |= 1 << n,
                    None => errors.push(format!("{at}.days[{j}]: '{day}' is not a day (mon..sun)")),
                }
            }
            let start = match parse_hhmm(&wh.start) {
                Some(s) if s < DAY => Some(s),
                Some(_) => {
                    errors.push(format!("{at}.start: '24:00' is only allowed as an end"));
                    None
                }
                None => {
                    errors.push(format!("{at}.start: '{}' is not HH:MM", wh.start));
                    None
                }
            };
            let end = parse_hhmm(&wh.end);
            if end.is_none() {
                errors.push(format!("{at}.end: '{}' is not HH:MM", wh.end));
            }
            if let (Some(start), Some(end)) = (start, end) {
                if start == end {
                    errors.push(format!("{at}.end: must differ from start '{}'", wh.start));
                } else {
                    // An end at or before the start is on the next day.
                    let end = if end < start { end + DAY } else { end };
                    hours.push(Shift { days, start, end });
                }
            }
        }

        for (i, range) in config.out_of_office.iter().enumerate() {
            if range.from > range.to {
                errors.push(format!(
                    "{field}.out_of_office[{i}]: from {} is after to {}",
                    range.from, range.to
                ));
            }
        }
        if config.weight < 1 {
            errors.push(format!("{field}.weight: must be at least 1"));
        } else if config.weight > MAX_WEIGHT {
            errors.push(format!("{field}.weight: must be at most {MAX_WEIGHT}"));
        }
        for (name, cap) in [("max_open", config.max_open), ("max_per_day", config.max_per_day)] {
            if cap == Some(0) {
                errors.push(format!(
                    "{field}.{name}: 0 would never take a lead; set the rep's status to away instead"
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut cuts: Vec<u32> = hours.iter().flat_map(|s| [s.start, s.end % DAY]).collect();
        cuts.push(DAY);
        cuts.sort_unstable();
        cuts.dedup();
        let mut holidays = config.holidays.clone();
        holidays.sort_unstable();
        holidays.dedup();
        Ok(RepProfile {
            id: config.id.clone(),
            name: config.name.clone(),
            domain: domain.to_string(),
            skills: config.skills.clone(),
            weight: config.weight,
            manager: config.manager.clone(),
            caps: Caps { max_open: config.max_open, max_per_day: config.max_per_day },
            tz,
            hours,
            cuts,
            holidays,
            absences: config.out_of_office.iter().map(|r| (r.from, r.to)).collect(),
        })
    }

    /// The rep's IANA time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The rep-local calendar day of `at`, `YYYY-MM-DD` (the day their daily cap counts).
    pub fn local_day(&self, at: DateTime<Utc>) -> String {
        LocalDay::new(self.local(at).date()).as_str().to_string()
    }

    /// Whether `day` (`YYYY-MM-DD`) is the rep-local day of `at`, without allocating: the daily
    /// cap is checked for every candidate of every lead.
    pub fn is_local_day(&self, at: DateTime<Utc>, day: &str) -> bool {
        LocalDay::new(self.local(at).date()).as_str() == day
    }

    /// Whether the rep works at `at` by their calendar (hours, holidays, absences). Absences win
    /// over holidays, which win over hours. A holiday is judged by the local date of `at` alone:
    /// the after-midnight part of an overnight shift that started on a holiday is worked, and the
    /// after-midnight part of one running into a holiday is not.
    pub fn on_duty(&self, at: DateTime<Utc>) -> Result<(), OffDuty> {
        self.duty_at(self.local(at))
    }

    /// When an SLA of `sla` started at `from` runs out: plain wall-clock time, or with
    /// `working_hours_only` counting only the time the rep is on duty (so a lead assigned a
    /// minute before closing is due the next working morning). A rep with no working time in the
    /// next 366 days falls back to wall-clock time rather than an unbounded deadline.
    pub fn sla_due(&self, from: DateTime<Utc>, sla: Duration, working_hours_only: bool) -> DateTime<Utc> {
        let plain = TimeDelta::from_std(sla)
            .ok()
            .and_then(|d| from.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if !working_hours_only || sla.is_zero() {
            return plain;
        }
        let Ok(mut remaining) = TimeDelta::from_std(sla) else { return plain };
        let Some(horizon) = from.checked_add_signed(TimeDelta::days(SLA_HORIZON_DAYS)) else {
            return plain;
        };
        let mut t = from;
        while t < horizon {
            let Some(next) = self.next_change(t) else { return plain };
            if self.on_duty(t).is_ok() {
                let span = next - t;
                if span >= remaining {
                    return t + remaining;
                }
                remaining -= span;
            }
            t = next;
        }
        plain
    }

    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.tz).naive_local()
    }

    fn duty_at(&self, local: NaiveDateTime) -> Result<(), OffDuty> {
        let date = local.date();
        if self.absences.iter().any(|&(from, to)| from <= date && date <= to) {
            return Err(OffDuty::OutOfOffice);
        }
        if self.holidays.binary_search(&date).is_ok() {
            return Err(OffDuty::Holiday);
        }
        if self.hours.is_empty() {
            return Ok(());
        }
        let secs = local.num_seconds_from_midnight();
        let today = 1u8 << date.weekday().num_days_from_monday();
        let yesterday = 1u8 << date.weekday().pred().num_days_from_monday();
        let working = self.hours.iter().any(|s| {
            (s.days & today != 0 && s.start <= secs && secs < s.end)
                || (s.days & yesterday != 0 && s.end > DAY && secs + DAY < s.end)
        });
        if working {
            Ok(())
        } else {
            Err(OffDuty::OffHours)
        }
    }

    /// The next instant after `t` at which the duty status may change: the next cut of the local
    /// day, or — if the UTC offset changes before it — the moment of the change, where the wall
    /// clock jumps. Until then the wall clock runs evenly below the cut, so the status holds.
    fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.local(t);
        let secs = local.num_seconds_from_midnight();
        let cut = *self.cuts.iter().find(|&&c| c > secs)?;
        let offset = self.offset_secs(t);
        let naive = local.date().and_time(NaiveTime::MIN) + TimeDelta::seconds(i64::from(cut));
        let candidate = naive.and_utc().checked_sub_signed(TimeDelta::seconds(offset))?;
        if self.offset_secs(candidate) == offset {
            return Some(candidate);
        }
        // An offset change in (t, candidate]: find its first second by bisection (a day at most,
        // so ~17 steps). Offsets change on whole seconds.
        let (mut lo, mut hi) = (t, candidate);
        while hi - lo > TimeDelta::seconds(1) {
            let mid = lo + (hi - lo) / 2;
            if self.offset_secs(mid) == offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let whole = hi.with_nanosecond(0).unwrap_or(hi);
        Some(if whole > t && self.offset_secs(whole) != offset { whole } else { hi })
    }

    fn offset_secs(&self, at: DateTime<Utc>) -> i64 {
        i64::from(self.tz.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc())
    }
}

/// `HH:MM`, 24-hour, as seconds of the day; `24:00` is 86 400 (the caller decides where that is
/// allowed).
fn parse_hhmm(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    match (h, m) {
        (24, 0) => Some(DAY),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// A date as `YYYY-MM-DD` on the stack.
struct LocalDay([u8; 10]);

impl LocalDay {
    fn new(date: NaiveDate) -> Self {
        let mut b = *b"0000-00-00";
        let y = date.year().clamp(0, 9999) as u32;
        for (i, d) in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10].into_iter().enumerate() {
            b[i] = b'0' + d as u8;
        }
        b[5] = b'0' + (date.month() / 10) as u8;
        b[6] = b'0' + (date.month() % 10) as u8;
        b[8] = b'0' + (date.day() / 10) as u8;
        b[9] = b'0' + (date.day() % 10) as u8;
        LocalDay(b)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "rep_tests.rs"]
mod tests;
