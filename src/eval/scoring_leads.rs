//! Generated B2B leads with a known chance to convert, for evaluating lead scoring.
//!
//! Each lead has latent traits (true company, true seniority, interest, what they really asked in
//! the chat) from which its observable fields are drawn: enrichment is missing for one lead in
//! five, page views and time on site are noisy readings of interest. The ground truth is a
//! logistic function of the latent traits that deliberately disagrees with the default rules where
//! real funnels do: industry and company size interact (mid-market finance buys, enterprise
//! finance stalls in procurement, small manufacturers do not buy), a founder of a ten-person
//! startup is a buyer while an enterprise CEO filling in a form is not, a pricing page beats a demo
//! request, "quote" and "buy" in a chat are strong but "demo" is weak, job seekers and students
//! write in chats too, and social-ads leads and personal mailboxes convert poorly. A per-lead noise
//! term stands for everything no scorer can see.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use speedlead_topics::{lead_id, Enrichment, QualifiedLead};

const INDUSTRIES: Weighted = &[
    ("Software", 22),
    ("Internet", 8),
    ("Financial Services", 12),
    ("Healthcare", 10),
    ("Manufacturing", 12),
    ("Logistics", 4),
    ("Retail", 10),
    ("Media", 6),
    ("Education", 8),
    ("Government", 4),
    ("Non-Profit", 4),
];
/// Employee bands (low, high) and how often each occurs.
const SIZES: &[((u32, u32), u32)] = &[
    ((2, 10), 15),
    ((11, 50), 25),
    ((51, 200), 25),
    ((201, 1000), 18),
    ((1001, 5000), 10),
    ((5001, 60000), 7),
];
const TITLES: &[(&str, &[&str], u32)] = &[
    ("c_level", &["CEO", "Founder", "CTO", "Chief Marketing Officer"], 10),
    ("vp", &["VP Sales", "Head of Growth", "Vice President Marketing"], 12),
    ("director", &["Director of IT", "Sales Director", "Director, Operations"], 15),
    ("manager", &["Marketing Manager", "Team Lead", "Office Manager"], 28),
    ("individual", &["Software Engineer", "Analyst", "Student", "Consultant"], 35),
];
const COUNTRIES: Weighted = &[
    ("US", 35),
    ("GB", 10),
    ("DE", 10),
    ("CA", 6),
    ("FR", 6),
    ("NL", 4),
    ("AU", 5),
    ("IN", 8),
    ("BR", 6),
    ("JP", 4),
    ("ES", 6),
];
/// Values and how often each occurs.
type Weighted = &'static [(&'static str, u32)];
/// Source, how often it occurs, and the form types it delivers (`""`: no form, a chat).
const SOURCES: &[(&str, u32, Weighted)] = &[
    ("website-demo-form", 30, &[("demo_request", 35), ("pricing", 15), ("contact", 25), ("newsletter", 25)]),
    ("google-ads", 20, &[("contact", 40), ("demo_request", 30), ("content_download", 30)]),
    ("meta-ads", 15, &[("newsletter", 40), ("content_download", 40), ("contact", 20)]),
    ("intercom-chat", 12, &[("", 1)]),
    ("partner-referral", 6, &[("contact", 60), ("demo_request", 40)]),
    ("hubspot", 10, &[("contact", 40), ("content_download", 30), ("newsletter", 30)]),
    ("webinar-event", 7, &[("webinar", 1)]),
];
/// What a chat is really about, how often, and how it reads.
const CHATS: &[(&str, u32, &[&str])] = &[
    ("quote", 10, &["Can you send a quote for 40 seats?", "We need a quote before Friday"]),
    ("buy", 8, &["We're looking to buy this quarter, who do I talk to?", "How do we purchase annual plans?"]),
    ("pricing", 16, &["How does your pricing work?", "What is the price per user?"]),
    ("demo", 14, &["Could I see a demo?", "Can we book a demo for the team?"]),
    ("integration", 10, &["Do you integrate with Salesforce?", "Is there an API?"]),
    ("support", 12, &["I can't log in to my account", "Password reset is not working"]),
    ("job", 8, &["Are you hiring? I'd love to apply", "Any open job positions in sales?"]),
    ("student", 7, &["I'm a student writing a thesis, is there free access?", "Student discount?"]),
    ("browsing", 15, &["Just looking around, thanks", "hi"]),
];

/// A generated lead, its true conversion probability, and whether it converted.
#[derive(Debug, Clone)]
pub struct LabelledLead {
    pub lead: QualifiedLead,
    pub probability: f64,
    pub converted: bool,
}

/// Leads from a seed: the same seed gives the same leads and outcomes.
pub struct LeadGenerator {
    rng: fastrand::Rng,
    now: DateTime<Utc>,
    next: u64,
    template: QualifiedLead,
}

impl LeadGenerator {
    /// `now` is when the leads are scored; their activity lies up to a few days before it.
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        let template = serde_json::from_value(json!({
            "lead_id": lead_id("eval", "0"),
            "lead_key": "eval:0",
            "routing_domain": "na",
            "source": "eval",
            "event_id": "0",
            "contact": {},
        }))
        .expect("the template is a valid lead");
        LeadGenerator { rng: fastrand::Rng::with_seed(seed), now, next: 0, template }
    }

    pub fn next_lead(&mut self) -> LabelledLead {
        self.next += 1;
        let rng = &mut self.rng;
        let industry = pick(rng, INDUSTRIES, |i| i.1).0;
        let (low, high) = pick(rng, SIZES, |s| s.1).0;
        // Log-uniform within the band: as many 20- as 40-person companies in 11–50.
        let employees = (f64::from(low) * (f64::from(high) / f64::from(low)).powf(rng.f64())).round() as u32;
        let (seniority, titles, _) = *pick(rng, TITLES, |t| t.2);
        let title = titles[rng.usize(..titles.len())];
        let country = pick(rng, COUNTRIES, |c| c.1).0;
        let (source, _, forms) = *pick(rng, SOURCES, |s| s.1);
        let form = pick(rng, forms, |f| f.1).0;
        let chats = source == "intercom-chat" || rng.f64() < 0.15;
        let chat = chats.then(|| pick(rng, CHATS, |c| c.1));
        let interest = normal(rng);
        let pages = (1.2 + 0.7 * interest + 0.5 * normal(rng)).exp().round();
        let time_on_site = (pages.max(1.0) * 45.0 * (0.6 * normal(rng)).exp()).round();
        let personal_email = rng.f64() < if seniority == "individual" { 0.3 } else { 0.1 };
        let age_hours = -12.0 * (1.0 - rng.f64()).ln();

        let logit = -2.7
            + industry_by_size(industry, employees)
            + match seniority {
                "c_level" if employees <= 50 => 1.0,
                "c_level" => -0.4,
                "vp" => 0.5,
                "director" => 0.6,
                "manager" => 0.1,
                _ => -0.6,
            }
            + form_effect(form)
            + chat.map_or(0.0, |c| chat_effect(c.0))
            + 0.6 * interest
            + source_effect(source)
            + country_effect(country)
            + if personal_email { -0.8 } else { 0.0 }
            - 0.015 * age_hours
            + 0.4 * normal(rng);
        let probability = 1.0 / (1.0 + (-logit).exp());
        let converted = rng.f64() < probability;

        let mut lead = self.template.clone();
        let event_id = format!("evt-{}", self.next);
        let name = format!("lead{}", self.next);
        let domain = if personal_email { "gmail.com".to_string() } else { format!("{}.example", name) };
        lead.lead_id = lead_id(source, &event_id);
        lead.lead_key = format!("{name}@{domain}");
        lead.source = source.to_string();
        lead.event_id = event_id;
        lead.contact.email = Some(lead.lead_key.clone());
        lead.contact.phone = (rng.f64() < 0.7).then(|| format!("+1415555{:04}", self.next % 10_000));
        lead.contact.title = Some(title.to_string());
        lead.contact.country = Some(country.to_string());
        // One lead in five goes unenriched: firmographics then come only from what the person typed.
        if rng.f64() < 0.8 {
            lead.enrichment = Some(Enrichment {
                employees: Some(employees),
                industry: Some(industry.to_string()),
                country: Some(country.to_string()),
                seniority: Some(seniority.to_string()),
                complete: true,
                ..Default::default()
            });
        }
        let mut signals = BTreeMap::new();
        signals.insert("pages_viewed".to_string(), json!(pages));
        signals.insert("time_on_site_secs".to_string(), Value::String(time_on_site.to_string()));
        if !form.is_empty() {
            signals.insert("form_type".to_string(), json!(form));
        }
        if let Some((_, _, lines)) = chat {
            signals.insert("chat_transcript".to_string(), json!(lines[rng.usize(..lines.len())]));
        }
        let activity = self.now - Duration::seconds((age_hours * 3600.0) as i64);
        signals.insert("captured_at".to_string(), json!(activity.to_rfc3339()));
        lead.signals = signals;
        LabelledLead { lead, probability, converted }
    }
}

/// Size sweet spots differ by industry; see the module documentation.
fn industry_by_size(industry: &str, employees: u32) -> f64 {
    let band = SIZES.iter().position(|((_, high), _)| employees <= *high).unwrap_or(SIZES.len() - 1);
    let by_band: [f64; 6] = match industry {
        "Software" | "Internet" => [-0.4, 0.0, 0.5, 0.9, 1.0, 0.6],
        "Financial Services" | "Healthcare" => [-0.6, -0.2, 0.7, 0.5, -0.3, -0.9],
        "Manufacturing" | "Logistics" => [-1.0, -0.4, 0.1, 0.6, 0.9, 0.9],
        "Retail" | "Media" => [0.3, 0.3, 0.1, -0.1, -0.3, -0.5],
        _ => [-1.0, -0.9, -0.8, -0.6, -0.8, -1.0],
    };
    by_band[band]
}

fn form_effect(form: &str) -> f64 {
    match form {
        "pricing" => 1.2,
        "demo_request" => 0.8,
        "contact" => 0.2,
        "webinar" => -0.3,
        "content_download" => -0.5,
        "newsletter" => -1.2,
        _ => 0.0,
    }
}

fn chat_effect(intent: &str) -> f64 {
    match intent {
        "quote" => 1.6,
        "buy" => 1.4,
        "integration" => 0.4,
        "pricing" | "demo" => 0.3,
        "browsing" => -0.4,
        "support" => -0.8,
        "student" => -2.0,
        "job" => -2.5,
        _ => 0.0,
    }
}

fn source_effect(source: &str) -> f64 {
    match source {
        "partner-referral" => 0.9,
        "website-demo-form" => 0.2,
        "intercom-chat" => 0.1,
        "webinar-event" => -0.2,
        "meta-ads" => -0.6,
        _ => 0.0,
    }
}

fn country_effect(country: &str) -> f64 {
    match country {
        "DE" => 0.3,
        "US" | "GB" | "NL" => 0.2,
        "CA" => 0.1,
        "BR" => -0.4,
        "IN" => -0.5,
        _ => 0.0,
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.u32(..total);
    for item in items {
        let w = weight(item);
        if roll < w {
            return item;
        }
        roll -= w;
    }
    unreachable!("roll < total")
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = 1.0 - rng.f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}
