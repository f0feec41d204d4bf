//! Rule matching: the facts of a lead that rules look at, read once per lead, and the compiled
//! form of a rule's `when` with its validation.
//!
//! Matching runs for every lead, often for several rules, so facts borrow from the lead and
//! conditions are compiled to case-folded values once (at [`crate::rules::Routing::new`]):
//! comparing folds only the lead's side, character by character, and allocates nothing.

use std::collections::BTreeMap;

use speedlead_topics::QualifiedLead;

use crate::rules::GRADES;
use crate::rules_config::RuleMatch;

/// What rules can ask about a lead. Values are trimmed and never empty; their case is as the lead
/// has them (comparisons fold case), so reading them costs no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeadFacts<'a> {
    /// The contact's country, else the enriched company's.
    pub country: Option<&'a str>,
    /// `state`, else `region`, from attribution then signals.
    pub state: Option<&'a str>,
    /// `postal_code`, else `zip`, from attribution then signals.
    pub postal_code: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub employees: Option<u32>,
    pub score: Option<u8>,
    pub grade: Option<&'a str>,
    pub source: Option<&'a str>,
    /// `language`, from attribution then signals.
    pub language: Option<&'a str>,
    /// `product_interest`, else `product`, from attribution then signals.
    pub product: Option<&'a str>,
}

impl<'a> LeadFacts<'a> {
    pub fn of(lead: &'a QualifiedLead) -> Self {
        let field = |keys: &[&str]| keys.iter().find_map(|k| lead_field(lead, k));
        let enrichment = lead.enrichment.as_ref();
        LeadFacts {
            country: present(lead.contact.country.as_deref())
                .or_else(|| present(enrichment.and_then(|e| e.country.as_deref()))),
            state: field(&["state", "region"]),
            postal_code: field(&["postal_code", "zip"]),
            industry: present(enrichment.and_then(|e| e.industry.as_deref())),
            employees: enrichment.and_then(|e| e.employees),
            score: lead.score.as_ref().map(|s| s.score),
            grade: present(lead.score.as_ref().map(|s| s.grade.as_str())),
            source: present(Some(&lead.source)),
            language: field(&["language"]),
            product: field(&["product_interest", "product"]),
        }
    }
}

/// Attribution wins over signals: it is what the form or ad itself said.
fn lead_field<'a>(lead: &'a QualifiedLead, key: &str) -> Option<&'a str> {
    present(lead.attribution.get(key).map(String::as_str))
        .or_else(|| present(lead.signals.get(key).and_then(|v| v.as_str())))
}

fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// A `routing.regions` entry: a country, or one subdivision of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    country: String,
    subdivision: Option<String>,
}

/// A rule's `when`, compiled: list values folded (countries, states, grades and postal prefixes
/// upper case, the rest lower case), regions resolved to their places.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    countries: Vec<String>,
    states: Vec<String>,
    postal_prefixes: Vec<String>,
    /// `None`: no region condition; `Some` of every place of every listed region.
    places: Option<Vec<Place>>,
    industries: Vec<String>,
    employees: (Option<u32>, Option<u32>),
    score: (Option<u8>, Option<u8>),
    grades: Vec<String>,
    sources: Vec<String>,
    languages: Vec<String>,
    products: Vec<String>,
}

impl Matcher {
    /// Compiles `when` (at `field`, e.g. `routing.rules[0].when`), pushing every problem found.
    pub fn compile(
        when: &RuleMatch,
        regions: &BTreeMap<String, Vec<String>>,
        field: &str,
        problems: &mut Vec<String>,
    ) -> Self {
        for c in &when.countries {
            if !is_alpha2(c) {
                problems.push(format!("{field}.countries: '{c}' is not an ISO 3166-1 alpha-2 code"));
            }
        }
        for g in &when.grades {
            if !GRADES.contains(&g.to_ascii_uppercase().as_str()) {
                problems
                    .push(format!("{field}.grades: '{g}' is not a grade; grades are {}", GRADES.join(", ")));
            }
        }
        check_range(field, "employees", when.min_employees, when.max_employees, problems);
        check_range(field, "score", when.min_score, when.max_score, problems);
        for (key, v) in [("min_score", when.min_score), ("max_score", when.max_score)] {
            if v.is_some_and(|v| v > 100) {
                problems
                    .push(format!("{field}.{key}: {} is more than 100, the highest score", v.unwrap_or(0)));
            }
        }
        let mut places = None;
        for name in &when.regions {
            match regions.get(name) {
                Some(entries) => {
                    places.get_or_insert_with(Vec::new).extend(entries.iter().filter_map(|e| place(e)))
                }
                None => {
                    problems.push(format!("{field}.regions: '{name}' is not a region of routing.regions"))
                }
            }
        }
        let upper = |v: &[String]| v.iter().map(|s| s.trim().to_uppercase()).collect::<Vec<_>>();
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_lowercase()).collect::<Vec<_>>();
        Matcher {
            countries: upper(&when.countries),
            states: upper(&when.states),
            postal_prefixes: when.postal_prefixes.iter().map(|p| p.replace(' ', "").to_uppercase()).collect(),
            places,
            industries: lower(&when.industries),
            employees: (when.min_employees, when.max_employees),
            score: (when.min_score, when.max_score),
            grades: upper(&when.grades),
            sources: lower(&when.sources),
            languages: lower(&when.languages),
            products: lower(&when.products),
        }
    }

    /// Whether every condition set holds; a condition on a fact the lead lacks does not.
    pub fn matches(&self, facts: &LeadFacts<'_>) -> bool {
        any_of(&self.countries, facts.country, Case::Upper)
            && any_of(&self.states, facts.state, Case::Upper)
            && (self.postal_prefixes.is_empty()
                || facts
                    .postal_code
                    .is_some_and(|code| self.postal_prefixes.iter().any(|p| postal_starts_with(code, p))))
            && self.places.as_ref().is_none_or(|places| in_places(places, facts))
            && any_of(&self.industries, facts.industry, Case::Lower)
            && within(self.employees, facts.employees)
            && within(self.score, facts.score)
            && any_of(&self.grades, facts.grade, Case::Upper)
            && any_of(&self.sources, facts.source, Case::Lower)
            && any_of(&self.languages, facts.language, Case::Lower)
            && any_of(&self.products, facts.product, Case::Lower)
    }
}

fn check_range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    what: &str,
    min: Option<T>,
    max: Option<T>,
    problems: &mut Vec<String>,
) {
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            problems.push(format!("{field}.min_{what}: {lo} is more than max_{what} {hi}"));
        }
    }
}

#[derive(Clone, Copy)]
enum Case {
    Upper,
    Lower,
}

/// Whether `fact`, folded to `case`, equals `folded` (already folded at compile time).
fn eq_folded(fact: &str, folded: &str, case: Case) -> bool {
    if fact.is_ascii() {
        let fold = |b: &u8| match case {
            Case::Upper => b.to_ascii_uppercase(),
            Case::Lower => b.to_ascii_lowercase(),
        };
        return fact.len() == folded.len() && fact.bytes().map(|b| fold(&b)).eq(folded.bytes());
    }
    match case {
        Case::Upper => fact.chars().flat_map(char::to_uppercase).eq(folded.chars()),
        Case::Lower => fact.chars().flat_map(char::to_lowercase).eq(folded.chars()),
    }
}

/// An empty list is no condition; otherwise the lead must have the fact and it must be listed.
fn any_of(list: &[String], fact: Option<&str>, case: Case) -> bool {
    list.is_empty() || fact.is_some_and(|f| list.iter().any(|v| eq_folded(f, v, case)))
}

fn within<T: PartialOrd + Copy>((min, max): (Option<T>, Option<T>), fact: Option<T>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    fact.is_some_and(|v| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m))
}

/// `SW1A 1AA` starts with `SW1A1`: spaces are formatting, not part of the code.
fn postal_starts_with(code: &str, prefix: &str) -> bool {
    let mut code = code.chars().filter(|c| *c != ' ').flat_map(char::to_uppercase);
    prefix.chars().all(|p| code.next() == Some(p))
}

/// The lead is in a place when its country is the place's and, for a subdivision, its state is.
fn in_places(places: &[Place], facts: &LeadFacts<'_>) -> bool {
    let Some(country) = facts.country else { return false };
    places.iter().any(|p| {
        eq_folded(country, &p.country, Case::Upper)
            && p.subdivision
                .as_deref()
                .is_none_or(|sub| facts.state.is_some_and(|s| eq_folded(s, sub, Case::Upper)))
    })
}

/// `DE` or `US-CA` (ISO 3166-2 subdivisions are 1–3 letters or digits), case-insensitively.
fn place(entry: &str) -> Option<Place> {
    let entry = entry.trim().to_ascii_uppercase();
    let (country, subdivision) = match entry.split_once('-') {
        Some((c, sub)) => (c, Some(sub)),
        None => (entry.as_str(), None),
    };
    let sub_ok = subdivision
        .is_none_or(|s| (1..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    (is_alpha2(country) && sub_ok)
        .then(|| Place { country: country.to_string(), subdivision: subdivision.map(str::to_string) })
}

pub(crate) fn is_alpha2(code: &str) -> bool {
    code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic())
}

/// Validates `routing.regions`: names are not empty, regions list places, places are well formed.
pub fn check_regions(regions: &BTreeMap<String, Vec<String>>, problems: &mut Vec<String>) {
    for (name, entries) in regions {
        let field = format!("routing.regions.{name}");
        if name.trim().is_empty() {
            problems.push(format!("{field}: region name must not be empty"));
        }
        if entries.is_empty() {
            problems.push(format!(
                "{field}: region '{name}' is empty; list countries (DE) or subdivisions (US-CA)"
            ));
        }
        for (j, e) in entries.iter().enumerate() {
            if place(e).is_none() {
                problems.push(format!(
                    "{field}[{j}]: '{e}' is neither a country (ISO 3166-1 alpha-2, e.g. DE) nor a subdivision (e.g. US-CA)"
                ));
            }
        }
    }
}

/// A `required_skills` entry: literal text with `{language}` / `{product}` holes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillTemplate(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Language,
    Product,
}

impl SkillTemplate {
    /// Parses `template`, naming any placeholder other than `{language}` and `{product}`.
    pub fn compile(template: &str, field: &str, problems: &mut Vec<String>) -> Self {
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            let (text, tail) = rest.split_at(open);
            if !text.is_empty() {
                pieces.push(Piece::Text(text.to_string()));
            }
            let (piece, after) = match tail.strip_prefix('{').and_then(|t| t.split_once('}')) {
                Some(("language", after)) => (Piece::Language, after),
                Some(("product", after)) => (Piece::Product, after),
                _ => {
                    problems.push(format!(
                        "{field}: '{template}' has a placeholder other than {{language}} and {{product}}"
                    ));
                    return SkillTemplate(Vec::new());
                }
            };
            pieces.push(piece);
            rest = after;
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        if pieces.is_empty() {
            problems.push(format!("{field}: must not be empty"));
        }
        SkillTemplate(pieces)
    }

    /// The requirement for this lead, the lead's values lower-cased as skills are written
    /// (`language:es`); `None` when the lead lacks a placeholder's value, since asking reps for
    /// an unknown language would turn every rep away.
    pub fn render(&self, facts: &LeadFacts<'_>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Language => out.push_str(&facts.language?.to_lowercase()),
                Piece::Product => out.push_str(&facts.product?.to_lowercase()),
            }
        }
        Some(out)
    }
}
