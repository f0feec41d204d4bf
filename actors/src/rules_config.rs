//! The routing configuration as RevOps writes it (the `[routing]` section or the reloadable rules
//! file): domains with their reps and pools, ordered rules, SLAs and the escalation policy. Plain
//! serde types; [`crate::rules::Routing::new`] validates them and compiles the lookups.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Domain for leads no rule and no country claims.
    pub default_domain: String,
    pub domains: Vec<DomainConfig>,
    /// Named territories: each a list of ISO 3166-1 alpha-2 countries (`DE`) or country-state
    /// codes (`US-CA`), matched by rules' `when.regions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, Vec<String>>,
    /// Ordered: the first rule whose `when` matches a lead sends it to its pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    /// SLA defaults; domains, pools and rules may shorten or lengthen them.
    #[serde(default)]
    pub sla: SlaConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes whose leads this domain owns when no rule matches.
    #[serde(default)]
    pub countries: Vec<String>,
    pub reps: Vec<RepConfig>,
    /// Per lead grade (`A`..`D`), the reps of this domain who take its leads of that grade, round
    /// robin (the pool `grade:<grade>`). Kept from before pools existed; a rule is the general form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grade_pools: BTreeMap<String, Vec<String>>,
    /// Named pools of this domain's reps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolConfig>,
    /// The pool for a lead of this domain no rule sends anywhere; unset: all reps, round robin
    /// (the implicit pool `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pool: Option<String>,
    /// Overrides `routing.sla.default_secs` for this domain's leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_secs: Option<u64>,
    #[serde(default)]
    pub escalation: EscalationConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA time zone of the rep's working hours, holidays and daily cap (`Europe/Berlin`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// When the rep takes leads, in their own time zone; empty: any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub working_hours: Vec<WorkingHours>,
    /// Whole days off, in the rep's time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<NaiveDate>,
    /// Absences, both days included, in the rep's time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_office: Vec<DateRange>,
    /// Cap on leads assigned and not yet closed or reassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open: Option<u32>,
    /// Cap on leads assigned per day (the rep's calendar day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// E.g. `language:es`, `product:payroll`, `enterprise`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Share of a weighted pool's leads, relative to the other reps' weights.
    #[serde(default = "one")]
    pub weight: u32,
    /// Rep (of any domain) a lead escalates to when this rep's pools have nobody left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

fn one() -> u32 {
    1
}

impl RepConfig {
    /// A rep with only an id: always working, no caps, no skills, weight 1.
    pub fn new(id: &str) -> Self {
        RepConfig {
            id: id.into(),
            name: None,
            time_zone: utc(),
            working_hours: Vec::new(),
            holidays: Vec::new(),
            out_of_office: Vec::new(),
            max_open: None,
            max_per_day: None,
            skills: Vec::new(),
            weight: 1,
            manager: None,
        }
    }
}

/// `days = ["mon", "tue"]`, `start = "09:00"`, `end = "17:30"`: the rep works from `start` until
/// just before `end` on those days (an `end` before `start` runs past midnight into the next day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, 24-hour.
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// How a pool picks among its eligible reps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each rep in list order, one lead each, skipping the ineligible.
    #[default]
    RoundRobin,
    /// Like round robin, but each rep takes `weight` turns per cycle, interleaved.
    Weighted,
    /// The rep with the fewest open leads; ties go to whoever was assigned longest ago.
    LoadBalanced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Unique within the domain; `all` and `grade:*` are reserved.
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// Reps of the domain, in round-robin order.
    pub reps: Vec<String>,
    /// Skills every rep must have to take a lead of this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Pool of the same domain that takes a lead this pool's reps let pass their SLA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Overrides the domain's SLA for this pool's leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Named in audits (`rule matched`) and in validation errors.
    pub name: String,
    pub domain: String,
    /// A pool of `domain`; unset: the domain's default pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Every condition set must hold; an empty `when` matches every lead.
    #[serde(default)]
    pub when: RuleMatch,
    /// Skills the rep must have for leads this rule matches. `{language}` and `{product}` are
    /// replaced by the lead's (`language:{language}` → `language:es`); a requirement whose
    /// placeholder the lead does not have is dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_skills: Vec<String>,
    /// Overrides the pool's SLA for leads this rule matches (e.g. 60 for hot inbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_secs: Option<u64>,
}

/// Conditions on a lead; lists match any of their values, case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// State / province codes (`CA`, `NY`), read from the lead's `state` or `region` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    /// ZIP / postal code prefixes (`941`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postal_prefixes: Vec<String>,
    /// Names from `routing.regions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_employees: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_employees: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// ISO 639-1 (`es`), read from the lead's `language` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Read from the lead's `product_interest` (or `product`) field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Seconds a rep has to accept a lead before it moves on.
    #[serde(default = "five_minutes")]
    pub default_secs: u64,
    /// Per grade, overriding `default_secs` (e.g. `{ A = 60 }`); a rule's or pool's SLA wins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grades: BTreeMap<String, u64>,
    /// Count only the rep's working hours towards the SLA: a lead assigned at 16:59 to a rep who
    /// stops at 17:00 is due the next working morning, not at 17:04.
    #[serde(default)]
    pub working_hours_only: bool,
}

fn five_minutes() -> u64 {
    300
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig { default_secs: five_minutes(), grades: BTreeMap::new(), working_hours_only: false }
    }
}

/// What happens when a rep lets a lead pass its SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// Set a rep `away` after this many SLA misses in a row (an accepted lead resets the count);
    /// unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away_after_misses: Option<u32>,
    /// Alert when the oldest lead in one of the domain's overflow queues has waited this long.
    #[serde(default = "ten_minutes")]
    pub overflow_alert_secs: u64,
    /// Reassignments before the lead stops moving and waits in overflow for a rep to free up.
    #[serde(default = "five")]
    pub max_attempts: u32,
}

fn ten_minutes() -> u64 {
    600
}

fn five() -> u32 {
    5
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig { away_after_misses: None, overflow_alert_secs: ten_minutes(), max_attempts: five() }
    }
}
