use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::rules_config::{DateRange, WorkingHours};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn hours(days: &[&str], start: &str, end: &str) -> WorkingHours {
    WorkingHours { days: days.iter().map(|d| d.to_string()).collect(), start: start.into(), end: end.into() }
}

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn config(tz: &str, working_hours: Vec<WorkingHours>) -> RepConfig {
    RepConfig { time_zone: tz.into(), working_hours, ..RepConfig::new("ana") }
}

fn rep(tz: &str, working_hours: Vec<WorkingHours>) -> RepProfile {
    RepProfile::compile("emea", &config(tz, working_hours), "rep").unwrap()
}

fn nine_to_five(tz: &str) -> RepProfile {
    rep(tz, vec![hours(WEEKDAYS, "09:00", "17:00")])
}

fn errors(config: RepConfig) -> Vec<String> {
    RepProfile::compile("emea", &config, "routing.domains[0].reps[1]").unwrap_err()
}

const MIN5: Duration = Duration::from_secs(300);

#[test]
fn compile_fills_the_public_fields() {
    let config = RepConfig {
        name: Some("Ana".into()),
        skills: vec!["language:es".into()],
        weight: 3,
        manager: Some("boss".into()),
        max_open: Some(4),
        max_per_day: Some(20),
        ..RepConfig::new("ana")
    };
    let p = RepProfile::compile("emea", &config, "rep").unwrap();
    assert_eq!(p.id, "ana");
    assert_eq!(p.name.as_deref(), Some("Ana"));
    assert_eq!(p.domain, "emea");
    assert_eq!(p.skills, vec!["language:es".to_string()]);
    assert_eq!(p.weight, 3);
    assert_eq!(p.manager.as_deref(), Some("boss"));
    assert_eq!(p.caps, Caps { max_open: Some(4), max_per_day: Some(20) });
    assert_eq!(p.time_zone(), chrono_tz::UTC);
}

#[test]
fn no_working_hours_is_always_on_duty() {
    let p = rep("Europe/Berlin", vec![]);
    for at in [utc(2024, 3, 30, 3, 0), utc(2024, 3, 31, 1, 30), utc(2024, 12, 25, 23, 59)] {
        assert_eq!(p.on_duty(at), Ok(()));
    }
}

#[test]
fn working_hours_are_half_open_in_local_time() {
    let p = nine_to_five("Europe/Berlin");
    // Monday 2024-01-08, Berlin is UTC+1.
    assert_eq!(p.on_duty(utc(2024, 1, 8, 7, 59)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 1, 8, 8, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 8, 15, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 8, 16, 0)), Err(OffDuty::OffHours));
    // Saturday.
    assert_eq!(p.on_duty(utc(2024, 1, 13, 10, 0)), Err(OffDuty::OffHours));
}

#[test]
fn days_are_case_insensitive_and_several_entries_combine() {
    let p = rep("UTC", vec![hours(&["MON", "Wed"], "09:00", "12:00"), hours(&["mon"], "13:00", "17:00")]);
    assert_eq!(p.on_duty(utc(2024, 1, 8, 10, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 8, 12, 30)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 1, 8, 14, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 10, 10, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 10, 14, 0)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 1, 9, 10, 0)), Err(OffDuty::OffHours));
}

#[test]
fn end_of_24_00_works_until_midnight() {
    let p = rep("UTC", vec![hours(&["mon"], "18:00", "24:00")]);
    assert_eq!(p.on_duty(Utc.with_ymd_and_hms(2024, 1, 8, 23, 59, 59).unwrap()), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 9, 0, 0)), Err(OffDuty::OffHours));
    let midnight_end = rep("UTC", vec![hours(&["mon"], "18:00", "00:00")]);
    assert_eq!(midnight_end.on_duty(utc(2024, 1, 8, 23, 0)), Ok(()));
    assert_eq!(midnight_end.on_duty(utc(2024, 1, 9, 0, 0)), Err(OffDuty::OffHours));
    let whole_day = rep("UTC", vec![hours(&["mon"], "00:00", "24:00")]);
    assert_eq!(whole_day.on_duty(utc(2024, 1, 8, 0, 0)), Ok(()));
    assert_eq!(whole_day.on_duty(utc(2024, 1, 8, 23, 59)), Ok(()));
    assert_eq!(whole_day.on_duty(utc(2024, 1, 9, 0, 0)), Err(OffDuty::OffHours));
}

#[test]
fn overnight_shift_belongs_to_the_day_it_starts() {
    // Friday 2024-01-12 22:00 to Saturday 06:00.
    let p = rep("UTC", vec![hours(&["fri"], "22:00", "06:00")]);
    assert_eq!(p.on_duty(utc(2024, 1, 12, 21, 59)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 1, 12, 22, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 12, 23, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 13, 0, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 13, 5, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 13, 6, 0)), Err(OffDuty::OffHours));
    // Saturday night is not a shift; Friday early morning would be Thursday's.
    assert_eq!(p.on_duty(utc(2024, 1, 13, 23, 0)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 1, 12, 3, 0)), Err(OffDuty::OffHours));
    // Sunday after midnight (Saturday's shift, there is none).
    assert_eq!(p.on_duty(utc(2024, 1, 14, 1, 0)), Err(OffDuty::OffHours));
}

#[test]
fn overnight_shift_across_a_week_boundary() {
    // Sunday 22:00 to Monday 06:00.
    let p = rep("UTC", vec![hours(&["sun"], "22:00", "06:00")]);
    assert_eq!(p.on_duty(utc(2024, 1, 14, 23, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 15, 5, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 1, 15, 23, 0)), Err(OffDuty::OffHours));
}

#[test]
fn holiday_is_a_whole_local_day() {
    let mut c = config("America/New_York", vec![hours(WEEKDAYS, "09:00", "17:00")]);
    c.holidays = vec![date(2024, 7, 4)];
    let p = RepProfile::compile("us", &c, "rep").unwrap();
    // 2024-07-04 10:00 EDT = 14:00 UTC.
    assert_eq!(p.on_duty(utc(2024, 7, 4, 14, 0)), Err(OffDuty::Holiday));
    // Outside hours on the holiday the holiday is still the reason.
    assert_eq!(p.on_duty(utc(2024, 7, 4, 23, 0)), Err(OffDuty::Holiday));
    // 2024-07-05 01:00 UTC is still the 4th in New York.
    assert_eq!(p.on_duty(utc(2024, 7, 5, 1, 0)), Err(OffDuty::Holiday));
    assert_eq!(p.on_duty(utc(2024, 7, 5, 14, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 7, 3, 14, 0)), Ok(()));
}

#[test]
fn overnight_shift_and_holiday_go_by_the_local_date_of_the_instant() {
    let mut c = config("UTC", vec![hours(EVERY_DAY, "22:00", "06:00")]);
    c.holidays = vec![date(2024, 12, 24)];
    let p = RepProfile::compile("emea", &c, "rep").unwrap();
    assert_eq!(p.on_duty(utc(2024, 12, 24, 1, 0)), Err(OffDuty::Holiday));
    assert_eq!(p.on_duty(utc(2024, 12, 24, 23, 0)), Err(OffDuty::Holiday));
    assert_eq!(p.on_duty(utc(2024, 12, 25, 1, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 12, 23, 23, 0)), Ok(()));
}

#[test]
fn out_of_office_includes_both_days_and_wins_over_a_holiday() {
    let mut c = config("Europe/Berlin", vec![hours(WEEKDAYS, "09:00", "17:00")]);
    c.out_of_office = vec![DateRange { from: date(2024, 5, 6), to: date(2024, 5, 8) }];
    c.holidays = vec![date(2024, 5, 7)];
    let p = RepProfile::compile("emea", &c, "rep").unwrap();
    assert_eq!(p.on_duty(utc(2024, 5, 3, 8, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 5, 6, 8, 0)), Err(OffDuty::OutOfOffice));
    assert_eq!(p.on_duty(utc(2024, 5, 7, 8, 0)), Err(OffDuty::OutOfOffice));
    assert_eq!(p.on_duty(utc(2024, 5, 8, 20, 0)), Err(OffDuty::OutOfOffice));
    // Thursday 00:30 Berlin is 22:30 UTC on Wednesday: back, but not in hours yet.
    assert_eq!(p.on_duty(utc(2024, 5, 8, 22, 30)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 5, 9, 8, 0)), Ok(()));
}

#[test]
fn working_hours_follow_the_wall_clock_across_dst_in_berlin() {
    let p = nine_to_five("Europe/Berlin");
    // Friday 2024-03-29, CET (UTC+1): 09:00 local is 08:00 UTC.
    assert_eq!(p.on_duty(utc(2024, 3, 29, 7, 59)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 3, 29, 8, 0)), Ok(()));
    // Clocks go forward on Sunday 2024-03-31; Monday is CEST (UTC+2): 09:00 local is 07:00 UTC.
    assert_eq!(p.on_duty(utc(2024, 4, 1, 6, 59)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 4, 1, 7, 0)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 4, 1, 14, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 4, 1, 15, 0)), Err(OffDuty::OffHours));
}

#[test]
fn sla_in_working_hours_rolls_over_a_dst_weekend() {
    let p = nine_to_five("Europe/Berlin");
    // Friday 16:59 CET: one minute left today, four on Monday from 09:00 CEST (07:00 UTC).
    assert_eq!(p.sla_due(utc(2024, 3, 29, 15, 59), MIN5, true), utc(2024, 4, 1, 7, 4));
    assert_eq!(p.sla_due(utc(2024, 3, 29, 15, 59), MIN5, false), utc(2024, 3, 29, 16, 4));
    // Autumn: Friday 2024-10-25 16:59 CEST, clocks go back on Sunday, Monday 09:04 CET.
    assert_eq!(p.sla_due(utc(2024, 10, 25, 14, 59), MIN5, true), utc(2024, 10, 28, 8, 4));
}

#[test]
fn sla_counts_an_overnight_shift_shortened_and_lengthened_by_dst_in_new_york() {
    let p = rep("America/New_York", vec![hours(EVERY_DAY, "22:00", "06:00")]);
    // Saturday 2024-03-09 22:00 EST (03:00 UTC) to Sunday 06:00 EDT (10:00 UTC): 7 real hours.
    assert_eq!(p.on_duty(utc(2024, 3, 10, 9, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 3, 10, 10, 0)), Err(OffDuty::OffHours));
    let eight_hours = Duration::from_secs(8 * 3600);
    // The eighth hour is the first of Sunday's shift: 22:00-23:00 EDT, 02:00-03:00 UTC Monday.
    assert_eq!(p.sla_due(utc(2024, 3, 10, 3, 0), eight_hours, true), utc(2024, 3, 11, 3, 0));
    // Saturday 2024-11-02 22:00 EDT (02:00 UTC) to Sunday 06:00 EST (11:00 UTC): 9 real hours,
    // 01:00-02:00 happens twice and is worked twice.
    assert_eq!(p.on_duty(utc(2024, 11, 3, 10, 59)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 11, 3, 11, 0)), Err(OffDuty::OffHours));
    let nine_and_a_half = Duration::from_secs(9 * 3600 + 1800);
    // The last half hour is 22:00-22:30 EST on Sunday, 03:00-03:30 UTC Monday.
    assert_eq!(p.sla_due(utc(2024, 11, 3, 2, 0), nine_and_a_half, true), utc(2024, 11, 4, 3, 30));
}

#[test]
fn sla_across_a_shift_that_ends_inside_the_repeated_hour() {
    // Ends at 01:30 local: on the autumn change that wall time comes twice, and so does the end.
    let p = rep("America/New_York", vec![hours(EVERY_DAY, "01:00", "01:30")]);
    // 2024-11-03: 01:00 EDT = 05:00 UTC, 01:00 EST = 06:00 UTC.
    assert_eq!(p.on_duty(utc(2024, 11, 3, 5, 15)), Ok(()));
    assert_eq!(p.on_duty(utc(2024, 11, 3, 5, 45)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 11, 3, 6, 15)), Ok(()));
    let forty_min = Duration::from_secs(40 * 60);
    assert_eq!(p.sla_due(utc(2024, 11, 3, 5, 0), forty_min, true), utc(2024, 11, 3, 6, 10));
}

#[test]
fn sla_across_a_shift_that_starts_inside_the_skipped_hour() {
    // Starts at 02:30 local: on the spring change 02:00-03:00 does not exist, so it starts at 03:00.
    let p = rep("Europe/Berlin", vec![hours(EVERY_DAY, "02:30", "04:00")]);
    // 2024-03-31: 03:00 CEST = 01:00 UTC.
    assert_eq!(p.on_duty(utc(2024, 3, 31, 0, 59)), Err(OffDuty::OffHours));
    assert_eq!(p.on_duty(utc(2024, 3, 31, 1, 0)), Ok(()));
    assert_eq!(p.sla_due(utc(2024, 3, 30, 23, 0), MIN5, true), utc(2024, 3, 31, 1, 5));
}

#[test]
fn sla_inside_a_shift_is_plain_time() {
    let p = nine_to_five("UTC");
    assert_eq!(p.sla_due(utc(2024, 1, 8, 10, 0), MIN5, true), utc(2024, 1, 8, 10, 5));
    // Ends exactly at the end of the shift.
    assert_eq!(p.sla_due(utc(2024, 1, 8, 16, 55), MIN5, true), utc(2024, 1, 8, 17, 0));
}

#[test]
fn sla_of_a_lead_assigned_off_hours_starts_with_the_next_shift() {
    let p = nine_to_five("UTC");
    // Saturday: due Monday 09:05.
    assert_eq!(p.sla_due(utc(2024, 1, 13, 12, 0), MIN5, true), utc(2024, 1, 15, 9, 5));
    // Monday before work.
    assert_eq!(p.sla_due(utc(2024, 1, 15, 3, 0), MIN5, true), utc(2024, 1, 15, 9, 5));
}

#[test]
fn sla_keeps_seconds() {
    let p = nine_to_five("UTC");
    let from = Utc.with_ymd_and_hms(2024, 1, 12, 16, 59, 30).unwrap();
    assert_eq!(p.sla_due(from, Duration::from_secs(90), true), utc(2024, 1, 15, 9, 1));
    let ms = from + TimeDelta::milliseconds(250);
    assert_eq!(p.sla_due(ms, Duration::from_secs(10), true), ms + TimeDelta::seconds(10));
}

#[test]
fn sla_skips_holidays_and_absences() {
    let mut c = config("UTC", vec![hours(WEEKDAYS, "09:00", "17:00")]);
    c.holidays = vec![date(2024, 5, 8)];
    let p = RepProfile::compile("emea", &c, "rep").unwrap();
    // Tuesday 16:59 -> Thursday 09:04 (Wednesday is a holiday).
    assert_eq!(p.sla_due(utc(2024, 5, 7, 16, 59), MIN5, true), utc(2024, 5, 9, 9, 4));

    c.holidays.clear();
    c.out_of_office = vec![DateRange { from: date(2024, 5, 8), to: date(2024, 5, 14) }];
    let p = RepProfile::compile("emea", &c, "rep").unwrap();
    assert_eq!(p.sla_due(utc(2024, 5, 7, 16, 59), MIN5, true), utc(2024, 5, 15, 9, 4));
}

#[test]
fn sla_spanning_several_shifts() {
    let p = nine_to_five("UTC");
    // 20 working hours from Monday 09:00: 8 Mon, 8 Tue, 4 Wed.
    let due = p.sla_due(utc(2024, 1, 8, 9, 0), Duration::from_secs(20 * 3600), true);
    assert_eq!(due, utc(2024, 1, 10, 13, 0));
}

#[test]
fn sla_without_working_hours_is_plain_time() {
    let p = rep("Asia/Tokyo", vec![]);
    let from = utc(2024, 1, 8, 10, 0);
    assert_eq!(p.sla_due(from, Duration::from_secs(3 * 86_400), true), utc(2024, 1, 11, 10, 0));
}

#[test]
fn sla_falls_back_to_plain_time_without_working_time_in_a_year() {
    let mut c = config("UTC", vec![hours(WEEKDAYS, "09:00", "17:00")]);
    c.out_of_office = vec![DateRange { from: date(2024, 1, 1), to: date(2026, 1, 1) }];
    let p = RepProfile::compile("emea", &c, "rep").unwrap();
    let from = utc(2024, 1, 8, 10, 0);
    let started = std::time::Instant::now();
    assert_eq!(p.sla_due(from, MIN5, true), utc(2024, 1, 8, 10, 5));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn sla_zero_is_due_at_once() {
    let p = nine_to_five("UTC");
    let from = utc(2024, 1, 13, 12, 0);
    assert_eq!(p.sla_due(from, Duration::ZERO, true), from);
}

#[test]
fn local_day_is_the_reps_calendar_day() {
    let berlin = rep("Europe/Berlin", vec![]);
    let la = rep("America/Los_Angeles", vec![]);
    let at = utc(2024, 1, 1, 23, 30);
    assert_eq!(berlin.local_day(at), "2024-01-02");
    assert_eq!(la.local_day(at), "2024-01-01");
    assert_eq!(rep("UTC", vec![]).local_day(utc(987, 11, 5, 0, 0)), "0987-11-05");
    assert!(berlin.is_local_day(at, "2024-01-02"));
    assert!(!berlin.is_local_day(at, "2024-01-01"));
}

#[test]
fn invalid_time_zone() {
    let c = RepConfig { time_zone: "Mars/Base".into(), ..RepConfig::new("ana") };
    assert_eq!(errors(c), vec!["routing.domains[0].reps[1].time_zone: 'Mars/Base' is not an IANA time zone"]);
}

#[test]
fn invalid_days() {
    let c = config(
        "UTC",
        vec![hours(&["mon"], "09:00", "17:00"), hours(&["mon", "monday", "xyz"], "09:00", "17:00")],
    );
    assert_eq!(
        errors(c),
        vec![
            "routing.domains[0].reps[1].working_hours[1].days[1]: 'monday' is not a day (mon..sun)",
            "routing.domains[0].reps[1].working_hours[1].days[2]: 'xyz' is not a day (mon..sun)",
        ]
    );
    let c = config("UTC", vec![hours(&[], "09:00", "17:00")]);
    assert_eq!(
        errors(c),
        vec!["routing.domains[0].reps[1].working_hours[0].days: must name at least one day (mon..sun)"]
    );
}

#[test]
fn invalid_times() {
    let c = config(
        "UTC",
        vec![
            hours(&["mon"], "09:00", "17:00"),
            hours(&["mon"], "9am", "17:00"),
            hours(&["mon"], "09:00", "25:00"),
            hours(&["mon"], "9:00", "17:60"),
            hours(&["mon"], "24:00", "08:00"),
            hours(&["mon"], "09:00", "24:01"),
        ],
    );
    assert_eq!(
        errors(c),
        vec![
            "routing.domains[0].reps[1].working_hours[1].start: '9am' is not HH:MM",
            "routing.domains[0].reps[1].working_hours[2].end: '25:00' is not HH:MM",
            "routing.domains[0].reps[1].working_hours[3].start: '9:00' is not HH:MM",
            "routing.domains[0].reps[1].working_hours[3].end: '17:60' is not HH:MM",
            "routing.domains[0].reps[1].working_hours[4].start: '24:00' is only allowed as an end",
            "routing.domains[0].reps[1].working_hours[5].end: '24:01' is not HH:MM",
        ]
    );
}

#[test]
fn start_equal_to_end() {
    let c = config("UTC", vec![hours(&["mon"], "09:00", "09:00"), hours(&["tue"], "00:00", "00:00")]);
    assert_eq!(
        errors(c),
        vec![
            "routing.domains[0].reps[1].working_hours[0].end: must differ from start '09:00'",
            "routing.domains[0].reps[1].working_hours[1].end: must differ from start '00:00'",
        ]
    );
}

#[test]
fn out_of_office_backwards() {
    let c = RepConfig {
        out_of_office: vec![
            DateRange { from: date(2024, 5, 1), to: date(2024, 5, 1) },
            DateRange { from: date(2024, 5, 2), to: date(2024, 5, 1) },
        ],
        ..RepConfig::new("ana")
    };
    assert_eq!(
        errors(c),
        vec!["routing.domains[0].reps[1].out_of_office[1]: from 2024-05-02 is after to 2024-05-01"]
    );
}

#[test]
fn weight_zero() {
    let c = RepConfig { weight: 0, ..RepConfig::new("ana") };
    assert_eq!(errors(c), vec!["routing.domains[0].reps[1].weight: must be at least 1"]);
}

#[test]
fn caps_of_zero() {
    let c = RepConfig { max_open: Some(0), max_per_day: Some(0), ..RepConfig::new("ana") };
    assert_eq!(
        errors(c),
        vec![
            "routing.domains[0].reps[1].max_open: 0 would never take a lead; set the rep's status to away instead",
            "routing.domains[0].reps[1].max_per_day: 0 would never take a lead; set the rep's status to away instead",
        ]
    );
}

#[test]
fn all_problems_are_reported_together() {
    let c = RepConfig {
        time_zone: "Nowhere".into(),
        working_hours: vec![hours(&["funday"], "9", "17:00")],
        out_of_office: vec![DateRange { from: date(2024, 5, 2), to: date(2024, 5, 1) }],
        weight: 0,
        max_open: Some(0),
        ..RepConfig::new("ana")
    };
    let errs = RepProfile::compile("emea", &c, "r").unwrap_err();
    assert_eq!(
        errs,
        vec![
            "r.time_zone: 'Nowhere' is not an IANA time zone",
            "r.working_hours[0].days[0]: 'funday' is not a day (mon..sun)",
            "r.working_hours[0].start: '9' is not HH:MM",
            "r.out_of_office[0]: from 2024-05-02 is after to 2024-05-01",
            "r.weight: must be at least 1",
            "r.max_open: 0 would never take a lead; set the rep's status to away instead",
        ]
    );
}

#[test]
fn weight_too_large() {
    let c = RepConfig { weight: 1001, ..RepConfig::new("ana") };
    assert_eq!(errors(c), vec!["routing.domains[0].reps[1].weight: must be at most 1000"]);
    let c = RepConfig { weight: 1000, ..RepConfig::new("ana") };
    assert!(RepProfile::compile("emea", &c, "rep").is_ok());
}
