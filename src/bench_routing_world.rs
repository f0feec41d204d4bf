//! The generated world of `speedlead bench-routing`: `domains` × `reps` reps with pools, rules,
//! time zones and working hours, and the qualified leads routed through it.

use chrono::{Days, Utc};
use serde_json::json;
use speedlead_actors::ports::Record;
use speedlead_actors::rules_config::RoutingConfig;
use speedlead_topics::{event_type, Envelope, QualifiedLead};
use uuid::Uuid;

const COUNTRIES: &str = "US CA MX BR AR CL CO PE GB IE FR DE NL BE LU CH AT IT ES PT DK SE NO FI IS PL CZ SK HU \
    RO BG GR TR IL AE SA QA EG ZA NG KE MA IN PK BD LK JP KR CN TW HK SG MY TH VN PH ID AU NZ UA LT LV EE SI HR RS BA \
    ME MK AL CY MT GE AM AZ KZ UZ KG MN NP KH LA BN FJ UY PY BO EC VE CR PA GT HN SV NI DO JM TT OM KW BH JO";
/// Reps' zones cycle through these; 07:00–23:00 local in all five covers every UTC hour at least twice.
const ZONES: [&str; 5] =
    ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo", "America/Los_Angeles"];
const ALL_DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LANGUAGES: [&str; 3] = ["es", "de", "fr"];

pub(super) fn countries() -> Vec<&'static str> {
    COUNTRIES.split_whitespace().collect()
}

/// `domains` × `reps` reps; per domain pools `inbound` (round robin, all), `enterprise` (load
/// balanced, the first 8, skill `enterprise`, backup `inbound`) and `partners` (weighted, the rest)
/// and four rules matching country, grade, language and source. Reps work 07:00–23:00 local every
/// day in one of five zones, every tenth office hours; one is out of office, one on holiday today.
pub fn routing_config(domains: usize, reps: usize) -> RoutingConfig {
    let codes = countries();
    assert!(domains * 2 <= codes.len() && reps >= 10, "at most {} domains, 10+ reps", codes.len() / 2);
    let today = Utc::now().date_naive();
    let (ooo_from, ooo_to) = (today - Days::new(2), today + Days::new(30));
    let (mut out, mut rule_list) = (Vec::new(), Vec::new());
    for d in 0..domains {
        let name = format!("d{d:02}");
        let own = [codes[2 * d], codes[2 * d + 1]];
        let id = |j: usize| format!("{name}-r{j:02}");
        let rep = |j: usize| {
            let mut skills = vec!["language:en".to_string()];
            skills.extend((j % 4 != 0).then(|| format!("language:{}", LANGUAGES[j % 4 - 1])));
            skills.extend((j < 8).then(|| "enterprise".to_string()));
            let hours = if j % 10 == 9 {
                (&ALL_DAYS[..5], "09:00", "17:00")
            } else {
                (&ALL_DAYS[..], "07:00", "23:00")
            };
            let mut r = json!({
                "id": id(j), "time_zone": ZONES[(j + d) % ZONES.len()], "skills": skills, "weight": 1 + j % 4,
                "working_hours": [{"days": hours.0, "start": hours.1, "end": hours.2}],
                "max_open": (j % 3 != 0).then_some(400), "max_per_day": (j % 5 == 0).then_some(1000),
                "manager": (j > 0).then(|| id(0)),
                "out_of_office": if j == 7 { json!([{"from": ooo_from, "to": ooo_to}]) } else { json!([]) },
                "holidays": if j == 13 { json!([today]) } else { json!([]) },
            });
            r.as_object_mut().expect("object").retain(|_, v| !v.is_null());
            r
        };
        let ids = |range: std::ops::Range<usize>| range.map(id).collect::<Vec<_>>();
        out.push(json!({
            "name": name, "countries": own, "reps": (0..reps).map(rep).collect::<Vec<_>>(), "default_pool": "inbound",
            "pools": [
                {"name": "inbound", "strategy": "round_robin", "reps": ids(0..reps)},
                {"name": "enterprise", "strategy": "load_balanced", "reps": ids(0..8), "skills": ["enterprise"], "backup": "inbound"},
                {"name": "partners", "strategy": "weighted", "reps": ids(8..reps), "backup": "inbound"},
            ],
        }));
        rule_list.extend([
            json!({"name": format!("{name}/hot"), "domain": name, "pool": "enterprise", "sla_secs": 60,
                   "when": {"countries": own, "grades": ["A"]}}),
            json!({"name": format!("{name}/partners"), "domain": name, "pool": "partners",
                   "when": {"sources": ["partner-referral"]}}),
            json!({"name": format!("{name}/language"), "domain": name, "pool": "inbound",
                   "when": {"countries": own, "languages": LANGUAGES}, "required_skills": ["language:{language}"]}),
            json!({"name": format!("{name}/nurture"), "domain": name, "pool": "partners", "sla_secs": 900,
                   "when": {"grades": ["C", "D"]}}),
        ]);
    }
    let config = json!({"default_domain": "d00", "domains": out, "rules": rule_list});
    serde_json::from_value(config).expect("the bench's routing configuration deserializes")
}

/// A qualified lead of a random domain: mostly its own countries, grades A–D, 15% partner
/// referrals, 25% Spanish/German/French speakers, 5% of an account owned by one of its reps.
pub(super) fn lead(rng: &mut fastrand::Rng, domains: usize, reps: usize, codes: &[&str]) -> QualifiedLead {
    let d = rng.usize(..domains);
    let country =
        if rng.u8(..100) < 85 { codes[2 * d + rng.usize(..2)] } else { codes[rng.usize(..codes.len())] };
    let score = rng.u8(..100);
    let grade = ["D", "C", "B", "A"][usize::from(score / 25)];
    let lead_id = Uuid::from_u64_pair(rng.u64(..), rng.u64(..));
    let source = if rng.u8(..100) < 15 { "partner-referral" } else { "web-form" };
    let language = if rng.u8(..100) < 25 { LANGUAGES[rng.usize(..3)] } else { "en" };
    let account = (rng.u8(..100) < 5).then(|| {
        let owner = format!("d{d:02}-r{:02}", rng.usize(..reps));
        json!({"account_id": format!("acct-{}", rng.u32(..)), "name": "acme", "matched_by": "domain", "similarity": 1.0, "owner": owner})
    });
    let email = format!("lead-{}@example.com", lead_id.simple());
    serde_json::from_value(json!({
        "lead_id": lead_id, "lead_key": email, "routing_domain": format!("d{d:02}"), "source": source,
        "event_id": lead_id, "contact": {"email": email, "country": country}, "attribution": {"language": language},
        "account": account,
        "score": {"score": score, "grade": grade, "rules": score, "contributions": {}},
    }))
    .expect("a qualified lead")
}

pub(super) fn record(offset: usize, lead: &QualifiedLead) -> Record {
    let envelope = Envelope::new(event_type::QUALIFIED, lead.lead_id, lead);
    Record {
        topic: "leads.qualified".into(),
        partition: 0,
        offset: offset as i64,
        key: Some(lead.routing_domain.clone().into_bytes()),
        payload: Some(serde_json::to_vec(&envelope).expect("serializes")),
        timestamp_ms: None,
        headers: Vec::new(),
    }
}
