//! Realistic sample leads for the demo, the benchmark and tests, generated from a seed so a run can
//! be repeated exactly.

use speedlead_topics::{derived_id, event_type, lead_key, Contact, Envelope, InboundLead};
use uuid::Uuid;

const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Mia",
    "Noah", "Olga", "Priya",
];
const LAST: &[&str] = &[
    "Lopez", "Carter", "Park", "Silva", "Weber", "Haddad", "Kim", "Tanaka", "Moreau", "Berg", "Adeyemi",
    "Walsh", "Rossi", "Novak", "Ivanova", "Shah",
];
const COMPANIES: &[(&str, &str)] = &[
    ("Acme Robotics", "acme-robotics.com"),
    ("Northwind Traders", "northwind.io"),
    ("Globex GmbH", "globex.de"),
    ("Initech", "initech.com"),
    ("Umbrella Health", "umbrella-health.co.uk"),
    ("Soylent Foods", "soylent.fr"),
    ("Tyrell Systems", "tyrell.jp"),
    ("Wayne Logistics", "waynelogistics.com.au"),
];
/// Country, and a national phone number pattern valid there (`#` = random digit).
const COUNTRIES: &[(&str, &str)] = &[
    ("US", "(415) 555-2###"),
    ("CA", "(604) 555-0###"),
    ("DE", "030 9018##"),
    ("GB", "020 7946 0###"),
    ("FR", "01 23 45 67 ##"),
    ("JP", "03-1234-56##"),
    ("AU", "02 9876 54##"),
    ("ES", "912 345 6##"),
];
const CAMPAIGNS: &[&str] = &["spring-launch", "webinar-q3", "retargeting", "brand"];

/// Generates leads from a seed; the same seed gives the same leads.
pub struct SampleLeads {
    rng: fastrand::Rng,
    source: String,
    next: u64,
}

impl SampleLeads {
    pub fn new(seed: u64, source: impl Into<String>) -> Self {
        SampleLeads { rng: fastrand::Rng::with_seed(seed), source: source.into(), next: 0 }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The next lead: mostly email + phone, some email only, some phone only.
    pub fn next_lead(&mut self) -> InboundLead {
        self.next += 1;
        let rng = &mut self.rng;
        let (first, last) = (FIRST[rng.usize(..FIRST.len())], LAST[rng.usize(..LAST.len())]);
        let (company, domain) = COMPANIES[rng.usize(..COMPANIES.len())];
        let (country, pattern) = COUNTRIES[rng.usize(..COUNTRIES.len())];
        let roll = rng.u8(..10);
        let email = (roll < 9)
            .then(|| format!("{}.{}{}@{domain}", first.to_lowercase(), last.to_lowercase(), self.next));
        let phone =
            (roll >= 2).then(|| pattern.chars().map(|c| if c == '#' { rng.digit(10) } else { c }).collect());
        let mut attribution = std::collections::BTreeMap::new();
        attribution.insert("utm_campaign".to_string(), CAMPAIGNS[rng.usize(..CAMPAIGNS.len())].to_string());
        InboundLead {
            source: self.source.clone(),
            event_id: format!("evt-{}", self.next),
            contact: Contact {
                name: Some(format!("{first} {last}")),
                email,
                phone,
                company: Some(company.to_string()),
                title: Some(["VP Sales", "Head of Ops", "CTO", "Office Manager"][rng.usize(..4)].to_string()),
                country: Some(country.to_string()),
            },
            attribution,
            raw: None,
            fetch: None,
            consent: Default::default(),
            signals: Default::default(),
        }
    }
}

/// A captured lead as a marketing system would publish it: envelope, and the `leads.inbound` key.
pub fn captured(lead: InboundLead) -> (String, Envelope<InboundLead>) {
    let contact = &lead.contact;
    let email = contact.email.as_deref().map(str::to_lowercase);
    let phone = contact
        .phone
        .as_deref()
        .and_then(|p| speedlead_actors::normalize::normalize_phone(p, contact.country.as_deref()).ok());
    let key = lead_key(email.as_deref(), phone.as_deref(), &lead.source, &lead.event_id);
    let id = lead_id(&lead.source, &lead.event_id);
    let mut envelope = Envelope::with_id(Uuid::new_v4(), event_type::CAPTURED, id, lead);
    envelope.hops.captured_at = Some(envelope.occurred_at);
    (key, envelope)
}

/// The lead id intake derives for a (source, event id).
pub fn lead_id(source: &str, event_id: &str) -> Uuid {
    derived_id(&["lead", source, event_id])
}

#[cfg(test)]
mod tests {
    use super::*;
    use speedlead_actors::intake::qualify;

    #[test]
    fn samples_are_repeatable_and_all_qualify() {
        let routing = crate::config::Settings::defaults().routing().unwrap();
        let (mut a, mut b) = (SampleLeads::new(7, "demo"), SampleLeads::new(7, "demo"));
        for _ in 0..500 {
            let lead = a.next_lead();
            assert_eq!(lead, b.next_lead());
            let q = qualify(&lead, &routing).unwrap_or_else(|e| panic!("{lead:?}: {e}"));
            assert!(q.warnings.is_empty(), "{:?}", q.warnings);
            assert_eq!(captured(lead).0, q.lead_key);
        }
    }
}
