//! Google Ads lead form webhooks. Google sends no signature header: the advertiser-chosen
//! `google_key` arrives in the body and must equal one configured secret (constant time). Like any
//! static token it does not protect the rest of the body and cannot refuse replays.
//!
//! The event id is `lead_id`. `user_column_data` columns map by `column_id`: `FULL_NAME` (or
//! `FIRST_NAME` + `LAST_NAME`), `EMAIL`/`WORK_EMAIL`, `PHONE_NUMBER`/`WORK_PHONE`, `COMPANY_NAME`,
//! `JOB_TITLE`, `COUNTRY`; `POSTAL_CODE`, `CITY` and `REGION` have no contact field and go into
//! attribution (`postal_code`, `city`, `region`), as do `campaign_id`, `adgroup_id`, `creative_id`,
//! `form_id`, `asset_id`, `gcl_id` (as `gclid`) and `is_test` (`"true"` for test leads). Other
//! columns (custom questions) stay in `lead.raw` only.

use std::collections::BTreeMap;

use serde_json::Value;
use speedlead_topics::{Contact, InboundLead};

use super::fields::{json_body, text};
use super::signature::any_matches;
use super::{CapturedLead, FieldError, Provider, RawRequest, Rejection, SourceConfig};

pub struct GoogleAds;

/// Top-level ids copied into attribution, and the attribution key for each.
const IDS: &[(&str, &str)] = &[
    ("campaign_id", "campaign_id"),
    ("adgroup_id", "adgroup_id"),
    ("creative_id", "creative_id"),
    ("form_id", "form_id"),
    ("asset_id", "asset_id"),
    ("gcl_id", "gclid"),
];

impl Provider for GoogleAds {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let body: Option<Value> = serde_json::from_slice(request.body).ok();
        let key = body
            .as_ref()
            .and_then(|b| b.get("google_key"))
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or(Rejection::Unauthorized("missing_signature"))?;
        let expected = source.secrets.iter().map(|s| s.as_bytes().to_vec());
        if any_matches(expected, &[key.as_bytes()]) {
            Ok(())
        } else {
            Err(Rejection::Unauthorized("bad_signature"))
        }
    }

    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let payload = json_body(request)?;
        let Some(root) = payload.as_object() else {
            return Err(Rejection::invalid("$", "must be a JSON object"));
        };
        let mut errors = Vec::new();
        let event_id = text(root.get("lead_id"), "lead_id", &mut errors);
        if event_id.is_none() && errors.is_empty() {
            errors.push(FieldError::new("lead_id", "required"));
        }
        let mut attribution = BTreeMap::new();
        for (field, key) in IDS {
            if let Some(id) = text(root.get(*field), field, &mut errors) {
                attribution.insert(key.to_string(), id);
            }
        }
        match root.get("is_test") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                attribution.insert("is_test".into(), "true".into());
            }
            Some(_) => errors.push(FieldError::new("is_test", "must be a boolean")),
        }
        let columns = match root.get("user_column_data") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(columns)) => columns.as_slice(),
            Some(_) => {
                errors.push(FieldError::new("user_column_data", "must be an array"));
                &[][..]
            }
        };
        let mut found: BTreeMap<&'static str, String> = BTreeMap::new();
        for (i, column) in columns.iter().enumerate() {
            let path = format!("user_column_data[{i}]");
            let Some(column) = column.as_object() else {
                errors.push(FieldError::new(path, "must be an object"));
                continue;
            };
            let Some(column_id) = column.get("column_id").and_then(Value::as_str) else {
                errors.push(FieldError::new(format!("{path}.column_id"), "must be a string"));
                continue;
            };
            let Some(value) = text(column.get("string_value"), &format!("{path}.string_value"), &mut errors)
            else {
                continue;
            };
            let slot = match column_id {
                "FULL_NAME" => "name",
                "FIRST_NAME" => "first",
                "LAST_NAME" => "last",
                "EMAIL" | "WORK_EMAIL" => "email",
                "PHONE_NUMBER" | "WORK_PHONE" => "phone",
                "COMPANY_NAME" => "company",
                "JOB_TITLE" => "title",
                "COUNTRY" => "country",
                "POSTAL_CODE" => "postal_code",
                "CITY" => "city",
                "REGION" => "region",
                _ => continue,
            };
            found.entry(slot).or_insert(value);
        }
        let event_id = match event_id {
            Some(id) if errors.is_empty() => id,
            _ => return Err(Rejection::Invalid(errors)),
        };
        for key in ["postal_code", "city", "region"] {
            if let Some(value) = found.remove(key) {
                attribution.insert(key.into(), value);
            }
        }
        let (first, last) = (found.remove("first"), found.remove("last"));
        let name = found.remove("name").or_else(|| match (first, last) {
            (None, None) => None,
            (f, l) => Some([f, l].into_iter().flatten().collect::<Vec<_>>().join(" ")),
        });
        let contact = Contact {
            name,
            email: found.remove("email"),
            phone: found.remove("phone"),
            company: found.remove("company"),
            title: found.remove("title"),
            country: found.remove("country"),
        };
        // `google_key` is a credential: it must not travel on to Kafka with the payload.
        let mut payload = payload;
        if let Some(body) = payload.as_object_mut() {
            body.remove("google_key");
        }
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact,
            attribution,
            raw: Some(payload),
            fetch: None,
            consent: Default::default(),
            signals: Default::default(),
        };
        Ok(vec![CapturedLead { event_id, lead }])
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use chrono::Utc;

    use super::super::ProviderKind;
    use super::*;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/google_ads_lead_form.json"
    ));
    /// The fixture's `google_key`.
    const KEY: &str = "secret-key";

    fn body() -> &'static [u8] {
        FIXTURE.trim_end_matches('\n').as_bytes()
    }

    fn source() -> SourceConfig {
        let secrets = vec!["previous-key".into(), KEY.into()];
        SourceConfig::new("google-lead-forms", ProviderKind::GoogleAds, secrets)
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest { method: "POST", uri: "/v1/capture/google-lead-forms", headers, body, now: Utc::now() }
    }

    #[test]
    fn fixture_verifies_and_parses() {
        let h = headers();
        assert_eq!(GoogleAds.verify(&source(), &request(&h, body())), Ok(()));
        let leads = GoogleAds.parse(&source(), &request(&h, body())).unwrap();
        let lead = &leads[0].lead;
        assert_eq!(
            (leads[0].event_id.as_str(), lead.event_id.as_str()),
            ("TeSter-123-ABC", "TeSter-123-ABC")
        );
        assert_eq!(lead.source, "google-lead-forms");
        assert_eq!(lead.contact.name.as_deref(), Some("Jane Doe"));
        assert_eq!(lead.contact.email.as_deref(), Some("jane@example.com"));
        assert_eq!(lead.contact.phone.as_deref(), Some("+16505550123"));
        let a = &lead.attribution;
        assert_eq!((a["is_test"].as_str(), a["gclid"].as_str()), ("true", "gclid-test"));
        assert_eq!((a["campaign_id"].as_str(), a["adgroup_id"].as_str()), ("50000000000", "20000000000"));
        assert_eq!((a["creative_id"].as_str(), a["form_id"].as_str()), ("30000000000", "40000000000"));
        let mut expected = serde_json::from_slice::<Value>(body()).unwrap();
        expected.as_object_mut().unwrap().remove("google_key");
        assert_eq!(lead.raw.as_ref(), Some(&expected), "payload kept verbatim, less the key");
    }

    #[test]
    fn wrong_or_missing_keys_are_refused() {
        let h = headers();
        let tampered = FIXTURE.trim_end_matches('\n').replacen("secret-key", "secret-kez", 1);
        let r = GoogleAds.verify(&source(), &request(&h, tampered.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("bad_signature")));
        let keyless = FIXTURE.trim_end_matches('\n').replacen(r#""google_key":"secret-key","#, "", 1);
        let r = GoogleAds.verify(&source(), &request(&h, keyless.as_bytes()));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
        let r = GoogleAds.verify(&source(), &request(&h, b"not json"));
        assert_eq!(r, Err(Rejection::Unauthorized("missing_signature")));
    }

    #[test]
    fn new_provider_kinds_are_snake_case_and_registered() {
        let kinds =
            [ProviderKind::Typeform, ProviderKind::Hubspot, ProviderKind::Intercom, ProviderKind::Drift];
        let names: Vec<_> = kinds
            .iter()
            .chain([&ProviderKind::GoogleAds])
            .map(|k| serde_json::to_value(k).unwrap())
            .collect();
        assert_eq!(names, ["typeform", "hubspot", "intercom", "drift", "google_ads"]);
        let h = headers();
        let r = super::super::provider(ProviderKind::GoogleAds).verify(&source(), &request(&h, body()));
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn columns_map_by_id() {
        let body = br#"{"lead_id":"L2","google_key":"secret-key","is_test":false,"user_column_data":[
            {"column_id":"FIRST_NAME","string_value":"Ana"},{"column_id":"LAST_NAME","string_value":"Lopez"},
            {"column_id":"WORK_EMAIL","string_value":"ana@acme.io"},{"column_id":"COMPANY_NAME","string_value":"Acme"},
            {"column_id":"JOB_TITLE","string_value":"CTO"},{"column_id":"COUNTRY","string_value":"ES"},
            {"column_id":"POSTAL_CODE","string_value":"28001"},{"column_id":"what_is_your_budget","string_value":"5k"}]}"#;
        let lead = &GoogleAds.parse(&source(), &request(&headers(), body)).unwrap()[0].lead;
        let c = &lead.contact;
        assert_eq!((c.name.as_deref(), c.email.as_deref()), (Some("Ana Lopez"), Some("ana@acme.io")));
        assert_eq!(
            (c.company.as_deref(), c.title.as_deref(), c.country.as_deref()),
            (Some("Acme"), Some("CTO"), Some("ES"))
        );
        assert_eq!(c.phone, None);
        assert_eq!(lead.attribution.get("postal_code").map(String::as_str), Some("28001"));
        assert!(!lead.attribution.contains_key("is_test"));
    }

    #[test]
    fn invalid_payloads_name_every_field() {
        let body = FIXTURE
            .replace(r#""lead_id":"TeSter-123-ABC","#, "")
            .replace(r#""is_test":true"#, r#""is_test":"yes""#)
            .replace(r#""string_value":"jane@example.com""#, r#""string_value":{"v":1}"#);
        let Err(Rejection::Invalid(fields)) =
            GoogleAds.parse(&source(), &request(&headers(), body.as_bytes()))
        else {
            panic!("expected Invalid")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["lead_id", "is_test", "user_column_data[1].string_value"]);
        let mut form = HeaderMap::new();
        form.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        let r = GoogleAds.parse(&source(), &request(&form, body.as_bytes()));
        assert_eq!(r, Err(Rejection::UnsupportedMediaType("application/x-www-form-urlencoded".into())));
    }
}
