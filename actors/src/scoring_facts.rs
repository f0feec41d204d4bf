//! What scoring reads from a lead, extracted once and normalized, so the rules and the learned
//! model see the same facts and agree on what "industry" or "seniority" of a lead is.
//!
//! Enrichment wins over what the person typed: a provider's employee count and industry are
//! firmographics, a form's title field is free text. Signals arrive as JSON from many providers, so
//! numbers may be numbers or numeric strings (HTML forms send everything as text).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use speedlead_topics::QualifiedLead;

/// Seniority levels, most senior first; the only values [`seniority_from_title`] returns.
pub const SENIORITY_LEVELS: [&str; 5] = ["c_level", "vp", "director", "manager", "individual"];

/// Signals that hold free text a person wrote (chat, form message): where buying intent shows.
const INTENT_SIGNALS: [&str; 2] = ["chat_transcript", "message"];

/// Signals that may carry the time of the lead's last activity, first present wins. Absent, the
/// lead counts as active now: scoring runs at intake, milliseconds after capture.
const ACTIVITY_SIGNALS: [&str; 3] = ["last_activity_at", "captured_at", "created_at"];

/// Mailbox providers: an address there says nothing about the company, and B2B buyers rarely
/// write from one.
const PERSONAL_EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
];

/// What kind of email address the lead left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Work,
    Personal,
    Missing,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Work => "work",
            EmailKind::Personal => "personal",
            EmailKind::Missing => "none",
        }
    }
}

/// The scoring-relevant facts of a lead. Text values are normalized with [`normalize_key`]
/// (industry, source, form type), countries are upper-case.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadFacts {
    pub employees: Option<u32>,
    pub industry: Option<String>,
    pub country: Option<String>,
    /// One of [`SENIORITY_LEVELS`] when derived from a title; an enrichment provider's own value
    /// (normalized) otherwise.
    pub seniority: Option<String>,
    pub source: String,
    pub pages_viewed: Option<f64>,
    pub time_on_site_secs: Option<f64>,
    pub form_type: Option<String>,
    /// Lower-cased words of the chat transcript and form message, in order.
    pub intent_words: Vec<String>,
    pub activity_at: Option<DateTime<Utc>>,
    pub email: EmailKind,
    pub has_phone: bool,
}

impl LeadFacts {
    pub fn of(lead: &QualifiedLead) -> Self {
        let enrichment = lead.enrichment.as_ref();
        let text = |v: Option<&String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let title =
            text(enrichment.and_then(|e| e.title.as_ref())).or_else(|| text(lead.contact.title.as_ref()));
        let seniority = text(enrichment.and_then(|e| e.seniority.as_ref()))
            .map(|s| normalize_key(&s))
            .or_else(|| title.as_deref().and_then(seniority_from_title).map(str::to_string));
        let country = text(enrichment.and_then(|e| e.country.as_ref()))
            .or_else(|| text(lead.contact.country.as_ref()))
            .map(|c| c.to_ascii_uppercase());
        let signal = |key: &str| lead.signals.get(key);
        let intent_words = INTENT_SIGNALS
            .iter()
            .filter_map(|k| signal(k))
            .flat_map(|v| words(&signal_text(v)).collect::<Vec<_>>())
            .collect();
        LeadFacts {
            employees: enrichment.and_then(|e| e.employees),
            industry: text(enrichment.and_then(|e| e.industry.as_ref())).map(|i| normalize_key(&i)),
            country,
            seniority,
            source: normalize_key(&lead.source),
            pages_viewed: signal("pages_viewed").and_then(signal_number),
            time_on_site_secs: signal("time_on_site_secs").and_then(signal_number),
            form_type: signal("form_type")
                .map(signal_text)
                .map(|f| normalize_key(&f))
                .filter(|f| !f.is_empty()),
            intent_words,
            activity_at: ACTIVITY_SIGNALS.iter().find_map(|k| signal(k).and_then(signal_time)),
            email: email_kind(lead.contact.email.as_deref()),
            has_phone: lead.contact.phone.as_deref().is_some_and(|p| !p.trim().is_empty()),
        }
    }
}

/// The seniority a job title implies: "Chief …", CEO/CTO/…, Founder, Owner, President → `c_level`;
/// VP, Vice President, Head of → `vp`; Director → `director`; Manager, Lead → `manager`; anything
/// else → `individual`. `None` for a blank title. Checked most senior first, so "Vice President"
/// is a VP and not a president, and "Managing Director" a director.
pub fn seniority_from_title(title: &str) -> Option<&'static str> {
    let tokens: Vec<String> = words(title).collect();
    if tokens.is_empty() {
        return None;
    }
    let has = |w: &[&str]| tokens.iter().any(|t| w.contains(&t.as_str()));
    let vice = has(&["vice", "vp", "svp", "evp", "avp"]);
    let level = if has(&["chief", "ceo", "cto", "cfo", "coo", "cmo", "cio", "cro", "cpo", "ciso", "cso"])
        || has(&["founder", "cofounder", "owner"])
        || (has(&["president"]) && !vice)
    {
        "c_level"
    } else if vice || has(&["head"]) {
        "vp"
    } else if has(&["director"]) {
        "director"
    } else if has(&["manager", "lead", "supervisor"]) {
        "manager"
    } else {
        "individual"
    };
    Some(level)
}

/// Lower-case snake_case: runs of anything but ASCII letters and digits become one `_`, so
/// "Financial Services", "financial-services" and "FINANCIAL_SERVICES" are one key.
pub fn normalize_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

/// Lower-cased words (letters and digits) of free text.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A signal as text: strings as they are, arrays of strings (or of `{text|body}` objects, as chat
/// tools send transcripts) joined by newlines, numbers and booleans printed.
pub fn signal_text(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => {
                    o.get("text").or_else(|| o.get("body")).map(signal_text).unwrap_or_default()
                }
                other => signal_text(other),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Object(_) => String::new(),
    };
    text.to_lowercase()
}

/// A non-negative finite number, from a JSON number or a numeric string.
pub fn signal_number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// A time from an RFC 3339 string or a Unix timestamp (seconds, or milliseconds when it is too
/// large to be seconds).
pub fn signal_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => {
            let n = n.as_f64()?;
            let millis = if n.abs() < 1e11 { n * 1000.0 } else { n };
            Utc.timestamp_millis_opt(millis as i64).single()
        }
        _ => None,
    }
}

fn email_kind(email: Option<&str>) -> EmailKind {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        None => EmailKind::Missing,
        Some(e) => {
            let domain = e.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            if PERSONAL_EMAIL_DOMAINS.contains(&domain.as_str()) {
                EmailKind::Personal
            } else {
                EmailKind::Work
            }
        }
    }
}
