//! Turning a provider's JSON answer into the fields of [`speedlead_topics::Enrichment`].
//!
//! Each `format` is a preset of dot-separated JSON paths per field, several candidates each, because
//! one vendor answers in different shapes by endpoint (Clearbit's person API puts the employer under
//! `employment`, its company API answers the company at the root, its combined API nests both;
//! Apollo's people match nests the organization under `person`). A provider's `fields` table
//! replaces a preset's candidates for one field with its own path, for APIs none of the presets fit.
//! Values are normalized to the contract: employees as a number, country as ISO alpha-2, seniority
//! as one of `c_level`, `vp`, `director`, `manager`, `individual`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FieldPaths, LookupKind, ResponseFormat};

/// What one provider said about a person or company. Cached as JSON, so it stays small and stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniority: Option<String>,
}

/// The JSON paths tried, in order, for each field of a [`Profile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    company_name: Vec<String>,
    domain: Vec<String>,
    employees: Vec<String>,
    industry: Vec<String>,
    country: Vec<String>,
    title: Vec<String>,
    seniority: Vec<String>,
}

impl Mapping {
    /// The preset of `format` for a provider looked up by `kind`, with `overrides` applied.
    pub fn new(format: ResponseFormat, kind: LookupKind, overrides: &FieldPaths) -> Self {
        let mut m = preset(format, kind);
        let pairs: [(&Option<String>, &mut Vec<String>); 7] = [
            (&overrides.company_name, &mut m.company_name),
            (&overrides.domain, &mut m.domain),
            (&overrides.employees, &mut m.employees),
            (&overrides.industry, &mut m.industry),
            (&overrides.country, &mut m.country),
            (&overrides.title, &mut m.title),
            (&overrides.seniority, &mut m.seniority),
        ];
        for (path, candidates) in pairs {
            if let Some(path) = path {
                *candidates = vec![path.clone()];
            }
        }
        m
    }

    /// Reads the profile out of `answer`; fields the answer lacks (or holds in an unusable form)
    /// stay empty rather than failing the whole answer.
    pub fn apply(&self, answer: &Value) -> Profile {
        Profile {
            company_name: first(answer, &self.company_name, text),
            domain: first(answer, &self.domain, text).map(|d| d.to_ascii_lowercase()),
            employees: first(answer, &self.employees, count),
            industry: first(answer, &self.industry, text),
            country: first(answer, &self.country, text).and_then(|c| country_code(&c)),
            title: first(answer, &self.title, text),
            seniority: first(answer, &self.seniority, text).and_then(|s| seniority(&s)),
        }
    }
}

fn paths(candidates: &[&str]) -> Vec<String> {
    candidates.iter().map(|p| p.to_string()).collect()
}

fn preset(format: ResponseFormat, kind: LookupKind) -> Mapping {
    // A company lookup answers the company itself at the root; a person lookup nests it.
    let root = |field: &'static str| if kind == LookupKind::Company { vec![field] } else { vec![] };
    match format {
        ResponseFormat::Clearbit => Mapping {
            company_name: paths(&[root("name"), vec!["company.name", "employment.name"]].concat()),
            domain: paths(&[root("domain"), vec!["company.domain", "employment.domain"]].concat()),
            employees: paths(&[root("metrics.employees"), vec!["company.metrics.employees"]].concat()),
            industry: paths(&[root("category.industry"), vec!["company.category.industry"]].concat()),
            country: paths(&[root("geo.countryCode"), vec!["company.geo.countryCode"]].concat()),
            title: paths(&["employment.title", "person.employment.title"]),
            seniority: paths(&["employment.seniority", "person.employment.seniority"]),
        },
        ResponseFormat::Apollo => Mapping {
            company_name: paths(&["organization.name", "person.organization.name"]),
            domain: paths(&["organization.primary_domain", "person.organization.primary_domain"]),
            employees: paths(&[
                "organization.estimated_num_employees",
                "person.organization.estimated_num_employees",
            ]),
            industry: paths(&["organization.industry", "person.organization.industry"]),
            country: paths(&["organization.country", "person.organization.country"]),
            title: paths(&["person.title"]),
            seniority: paths(&["person.seniority"]),
        },
        ResponseFormat::Flat => Mapping {
            company_name: paths(&["company_name"]),
            domain: paths(&["domain"]),
            employees: paths(&["employees"]),
            industry: paths(&["industry"]),
            country: paths(&["country"]),
            title: paths(&["title"]),
            seniority: paths(&["seniority"]),
        },
    }
}

fn first<T>(answer: &Value, candidates: &[String], read: fn(&Value) -> Option<T>) -> Option<T> {
    candidates.iter().find_map(|path| at(answer, path).and_then(read))
}

/// The value at a dot-separated path (`company.metrics.employees`); numeric segments index arrays.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, segment| match v {
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(segment),
    })
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn count(v: &Value) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().replace(',', "").parse::<u64>().ok(),
        _ => None,
    }?;
    (n > 0).then(|| n.min(u64::from(u32::MAX)) as u32)
}

/// Seniority in the contract's words. Clearbit says `executive` for its top tier; Apollo says
/// `c_suite`, `owner`, `founder`, `partner`, `vp`, `head`, `director`, `manager`, `senior`, `entry`,
/// `intern`. Anything else is dropped rather than passed on as a value nobody downstream expects.
fn seniority(raw: &str) -> Option<String> {
    let level = match raw.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
        "c_level" | "c_suite" | "executive" | "owner" | "founder" | "partner" => "c_level",
        "vp" | "vice_president" => "vp",
        "director" | "head" => "director",
        "manager" => "manager",
        "individual" | "senior" | "entry" | "intern" | "employee" => "individual",
        _ => return None,
    };
    Some(level.to_string())
}

/// ISO 3166-1 alpha-2 from an alpha-2 code (Clearbit) or a country name (Apollo answers names). Only
/// the common names are known; an unknown one is dropped, since `country` promises a code.
fn country_code(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() == 2 && raw.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(raw.to_ascii_uppercase());
    }
    let code = match raw.to_ascii_lowercase().as_str() {
        "united states" | "united states of america" | "usa" => "US",
        "canada" => "CA",
        "mexico" => "MX",
        "brazil" => "BR",
        "united kingdom" | "great britain" | "england" => "GB",
        "ireland" => "IE",
        "germany" => "DE",
        "france" => "FR",
        "netherlands" | "the netherlands" => "NL",
        "belgium" => "BE",
        "spain" => "ES",
        "portugal" => "PT",
        "italy" => "IT",
        "switzerland" => "CH",
        "austria" => "AT",
        "sweden" => "SE",
        "norway" => "NO",
        "denmark" => "DK",
        "finland" => "FI",
        "poland" => "PL",
        "israel" => "IL",
        "united arab emirates" => "AE",
        "india" => "IN",
        "singapore" => "SG",
        "japan" => "JP",
        "china" => "CN",
        "south korea" | "korea, republic of" => "KR",
        "australia" => "AU",
        "new zealand" => "NZ",
        _ => return None,
    };
    Some(code.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(format: ResponseFormat, kind: LookupKind, answer: Value) -> Profile {
        Mapping::new(format, kind, &FieldPaths::default()).apply(&answer)
    }

    #[test]
    fn clearbit_person_answer() {
        let answer = json!({
            "id": "d54c54ad", "name": {"fullName": "Alex MacCaw"}, "email": "alex@clearbit.com",
            "employment": {"domain": "clearbit.com", "name": "Clearbit", "title": "CEO", "seniority": "executive"},
            "geo": {"countryCode": "US"}
        });
        let p = map(ResponseFormat::Clearbit, LookupKind::Person, answer);
        assert_eq!(p.company_name.as_deref(), Some("Clearbit"));
        assert_eq!(p.domain.as_deref(), Some("clearbit.com"));
        assert_eq!((p.title.as_deref(), p.seniority.as_deref()), (Some("CEO"), Some("c_level")));
        // The person's own geo is not the company's country.
        assert_eq!(p.country, None);
    }

    #[test]
    fn clearbit_combined_and_company_answers() {
        let company = json!({
            "name": "Clearbit", "domain": "Clearbit.com", "metrics": {"employees": 150},
            "category": {"industry": "Internet Software & Services"}, "geo": {"countryCode": "us"}
        });
        let combined =
            json!({"person": {"employment": {"title": "Engineer", "seniority": null}}, "company": company});
        let p = map(ResponseFormat::Clearbit, LookupKind::Person, combined);
        let want = Profile {
            company_name: Some("Clearbit".into()),
            domain: Some("clearbit.com".into()),
            employees: Some(150),
            industry: Some("Internet Software & Services".into()),
            country: Some("US".into()),
            title: Some("Engineer".into()),
            seniority: None,
        };
        assert_eq!(p, want);
        let p = map(ResponseFormat::Clearbit, LookupKind::Company, company);
        assert_eq!(p, Profile { title: None, ..want });
    }

    #[test]
    fn apollo_people_match_and_organization_enrich() {
        let person = json!({"person": {
            "title": "VP Sales", "seniority": "vp",
            "organization": {"name": "Acme", "primary_domain": "acme.io", "estimated_num_employees": 320,
                             "industry": "computer software", "country": "Germany"}
        }});
        let p = map(ResponseFormat::Apollo, LookupKind::Person, person);
        assert_eq!(p.company_name.as_deref(), Some("Acme"));
        assert_eq!((p.employees, p.country.as_deref()), (Some(320), Some("DE")));
        assert_eq!((p.title.as_deref(), p.seniority.as_deref()), (Some("VP Sales"), Some("vp")));
        let org = json!({"organization": {"name": "Acme", "primary_domain": "acme.io",
                                          "estimated_num_employees": "1,200", "country": "Atlantis"}});
        let p = map(ResponseFormat::Apollo, LookupKind::Company, org);
        assert_eq!((p.domain.as_deref(), p.employees), (Some("acme.io"), Some(1200)));
        assert_eq!(p.country, None, "an unknown country name is dropped, not passed on as a code");
    }

    #[test]
    fn flat_answer_and_field_overrides() {
        let p = map(
            ResponseFormat::Flat,
            LookupKind::Person,
            json!({"company_name": "Acme", "employees": 12.0, "seniority": "Director", "title": "  "}),
        );
        assert_eq!(p.company_name.as_deref(), Some("Acme"));
        assert_eq!((p.employees, p.seniority.as_deref(), p.title), (Some(12), Some("director"), None));

        let overrides = FieldPaths {
            company_name: Some("data.orgs.0.label".into()),
            employees: Some("data.headcount".into()),
            ..FieldPaths::default()
        };
        let answer = json!({"data": {"orgs": [{"label": "Initech"}], "headcount": 9000},
                            "company_name": "ignored: overridden"});
        let p = Mapping::new(ResponseFormat::Flat, LookupKind::Person, &overrides).apply(&answer);
        assert_eq!((p.company_name.as_deref(), p.employees), (Some("Initech"), Some(9000)));
    }

    #[test]
    fn unusable_values_stay_empty() {
        let p = map(
            ResponseFormat::Flat,
            LookupKind::Company,
            json!({"employees": -3, "country": "Narnia", "seniority": "wizard", "industry": 7}),
        );
        assert_eq!(p, Profile::default());
    }
}
