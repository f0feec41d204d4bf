//! LinkedIn Lead Sync: a `LEAD_ACTION` notification carries ids only (the `leadGenFormResponse` URN),
//! so intake reads the answers from the Marketing API (`GET /leadFormResponses/{id}`) and maps them
//! onto the contact through the form's questions, whose `predefinedField` (`FIRST_NAME`, `EMAIL`, …)
//! says what each answer is.
//!
//! Signatures: `X-LI-Signature` is a hex HMAC-SHA256 keyed with the app's client secret. LinkedIn's
//! own page says the value is "the HMACSHA256 hash of the … POST body prefixed by `hmacsha256=`",
//! which public integrations read three ways (the prefix on the header value, the prefix on the
//! signed bytes, or no prefix at all). All three need the secret, so all three are accepted; which one
//! LinkedIn really sends can only be settled by a real signed delivery.
//!
//! Endpoint validation is a `GET ?challengeCode=…`, answered with
//! `{"challengeCode", "challengeResponse": hex HMAC-SHA256(challengeCode, client secret)}`, repeated
//! by LinkedIn every two hours.

use std::collections::BTreeMap;
use std::sync::Arc;

use dashmap::DashMap;
use serde_json::{json, Value};
use speedlead_actors::ports::{FetchError, FetchedLead};
use speedlead_topics::{Contact, FetchRef, InboundLead};
use tokio::sync::OnceCell;

use super::api;
use super::fields::{json_body, required, text};
use super::signature::{any_matches, hmac_sha256};
use super::{CapturedLead, Provider, RawRequest, Rejection, SourceConfig};

pub struct LinkedIn;

/// Marketing API used when a source sets no `api_base_url`.
pub const LINKEDIN_API: &str = "https://api.linkedin.com/rest";
/// `LinkedIn-Version` sent when a source sets no `api_version`. LinkedIn retires versions about a
/// year after release, so sources should pin a current one.
pub const LINKEDIN_VERSION: &str = "202510";

const SIGNATURE_PREFIX: &str = "hmacsha256=";
const RESPONSE_URN: &str = "urn:li:leadGenFormResponse:";
/// Fields of a form response to read; `form:(…)` asks LinkedIn to include the form's questions.
const RESPONSE_FIELDS: &str = "owner,leadType,versionedLeadGenFormUrn,id,submittedAt,testLead,formResponse,\
                               leadMetadata,associatedEntity,form:(hiddenFields,creationLocale,name,id,content)";

impl Provider for LinkedIn {
    fn verify(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<(), Rejection> {
        let header = request.header("x-li-signature").ok_or(Rejection::Unauthorized("missing_signature"))?;
        let header = header.trim();
        let hex_part = header.strip_prefix(SIGNATURE_PREFIX).unwrap_or(header);
        let given = hex::decode(hex_part).map_err(|_| Rejection::Unauthorized("bad_signature"))?;
        let expected = source.secrets.iter().flat_map(|secret| {
            [
                hmac_sha256(secret.as_bytes(), &[request.body]),
                hmac_sha256(secret.as_bytes(), &[SIGNATURE_PREFIX.as_bytes(), request.body]),
            ]
        });
        if any_matches(expected, &[&given]) {
            Ok(())
        } else {
            Err(Rejection::Unauthorized("bad_signature"))
        }
    }

    /// A `CREATED` lead action becomes a lead to fetch. Other actions (`DELETED`, a member asking to
    /// be forgotten) and other notification types carry no lead: they are acknowledged with nothing
    /// written, because refusing them would only make LinkedIn retry and eventually block the endpoint.
    fn parse(&self, source: &SourceConfig, request: &RawRequest<'_>) -> Result<Vec<CapturedLead>, Rejection> {
        let body = json_body(request)?;
        let mut errors = Vec::new();
        let kind = required(body.get("type"), "type", &mut errors);
        let action = text(body.get("leadAction"), "leadAction", &mut errors);
        let response = required(body.get("leadGenFormResponse"), "leadGenFormResponse", &mut errors);
        let (Some(kind), Some(response)) = (kind, response) else { return Err(Rejection::Invalid(errors)) };
        if !errors.is_empty() {
            return Err(Rejection::Invalid(errors));
        }
        if kind != "LEAD_ACTION" || action.as_deref().is_some_and(|a| a != "CREATED") {
            metrics::counter!("speedlead_capture_ignored_total", "source" => source.name.clone(), "reason" => "not_a_new_lead")
                .increment(1);
            return Ok(Vec::new());
        }
        let id = response.strip_prefix(RESPONSE_URN).unwrap_or(&response).to_string();
        if id.is_empty() {
            return Err(Rejection::invalid("leadGenFormResponse", "has no id after the URN prefix"));
        }
        let mut attribution = BTreeMap::new();
        let mut put = |key: &str, value: Option<&Value>| {
            if let Some(v) = value.and_then(Value::as_str).filter(|v| !v.is_empty()) {
                attribution.insert(key.to_string(), v.to_string());
            }
        };
        put("linkedin_form", body.get("leadGenForm"));
        put("linkedin_lead_type", body.get("leadType"));
        put("linkedin_sponsored_account", body.pointer("/owner/sponsoredAccount"));
        put("linkedin_organization", body.pointer("/owner/organization"));
        put("linkedin_creative", body.pointer("/associatedEntity/sponsoredCreative"));
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: response.clone(),
            contact: Contact::default(),
            attribution,
            raw: Some(body),
            fetch: Some(FetchRef { provider: "linkedin".into(), id }),
            consent: Default::default(),
            signals: Default::default(),
        };
        Ok(vec![CapturedLead { event_id: response, lead }])
    }
}

/// Answers LinkedIn's endpoint validation with the source's first (current) secret.
pub fn handshake(source: &SourceConfig, query: &BTreeMap<String, String>) -> Option<Value> {
    let code = query.get("challengeCode").filter(|c| !c.is_empty())?;
    let secret = source.secrets.first()?;
    let response = hex::encode(hmac_sha256(secret.as_bytes(), &[code.as_bytes()]));
    Some(json!({ "challengeCode": code, "challengeResponse": response }))
}

/// Questions of versioned forms already read, by versioned form URN. A versioned form never
/// changes (editing a form makes a new version), so entries never go stale. A failed read leaves
/// its cell empty, so the next lead of that form tries again.
#[derive(Default, Clone)]
pub struct FormCache(Arc<DashMap<String, Arc<OnceCell<Arc<Questions>>>>>);

/// A form's question ids mapped to the predefined field each asks for (`EMAIL`, `FIRST_NAME`, …).
type Questions = BTreeMap<String, String>;

/// Reads a form response, and its form's questions when the response does not carry them.
pub async fn fetch(
    client: &reqwest::Client,
    source: &SourceConfig,
    forms: &FormCache,
    id: &str,
) -> Result<FetchedLead, FetchError> {
    let (base, token) = api::endpoint(source, "LinkedIn API", LINKEDIN_API)?;
    let version = source.api_version.as_deref().unwrap_or(LINKEDIN_VERSION);
    let get = |url: String| {
        client
            .get(url)
            .bearer_auth(token)
            .header("LinkedIn-Version", version)
            .header("X-Restli-Protocol-Version", "2.0.0")
    };
    let request = get(format!("{base}/leadFormResponses/{id}")).query(&[("fields", RESPONSE_FIELDS)]);
    let response = api::get_json(request, "LinkedIn API", &format!("form response {id}")).await?;
    let form_urn = response.get("versionedLeadGenFormUrn").and_then(Value::as_str).unwrap_or_default();
    let questions = match response.pointer("/form/content/questions") {
        Some(questions) => Arc::new(questions_of(questions)),
        None => {
            // One read per form version, also when several partitions miss it at the same time.
            let cell = forms.0.entry(form_urn.to_string()).or_default().clone();
            let load = async {
                let form_id = form_id(form_urn).ok_or_else(|| {
                    FetchError::NotFound(format!("form response {id} names no form ('{form_urn}')"))
                })?;
                let form =
                    api::get_json(get(format!("{base}/leadForms/{form_id}")), "LinkedIn API", "form").await?;
                let questions = questions_of(form.pointer("/content/questions").unwrap_or(&Value::Null));
                if questions.is_empty() {
                    // Not cached: a form without predefined fields would empty every later lead.
                    let why = format!("form {form_id} has no predefined fields");
                    return Err::<Arc<Questions>, _>(FetchError::Unavailable(why));
                }
                Ok(Arc::new(questions))
            };
            cell.get_or_try_init(|| load).await?.clone()
        }
    };
    Ok(lead_from_response(response, &questions))
}

/// `7234246` from `urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246,1)`.
fn form_id(versioned_urn: &str) -> Option<&str> {
    let rest = versioned_urn.split("urn:li:leadGenForm:").nth(1)?;
    let id = rest.split([',', ')']).next()?.trim();
    (!id.is_empty()).then_some(id)
}

fn questions_of(questions: &Value) -> Questions {
    let mut map = Questions::new();
    for q in questions.as_array().map(Vec::as_slice).unwrap_or_default() {
        let id = match q.get("questionId") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => continue,
        };
        if let Some(field) = q.get("predefinedField").and_then(Value::as_str) {
            map.insert(id, field.to_string());
        }
    }
    map
}

/// Maps a form response's answers onto the contact by each question's predefined field; hidden
/// fields (where advertisers put UTM parameters) and the campaign become attribution.
pub fn lead_from_response(response: Value, questions: &Questions) -> FetchedLead {
    let mut answers: BTreeMap<&str, String> = BTreeMap::new();
    let empty = Vec::new();
    let given = response.pointer("/formResponse/answers").and_then(Value::as_array).unwrap_or(&empty);
    for answer in given {
        let id = match answer.get("questionId") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => continue,
        };
        let text = answer.pointer("/answerDetails/textQuestionAnswer/answer").and_then(Value::as_str);
        if let (Some(field), Some(text)) = (questions.get(&id), text.map(str::trim).filter(|t| !t.is_empty()))
        {
            answers.insert(field.as_str(), text.to_string());
        }
    }
    let get = |fields: &[&str]| fields.iter().find_map(|f| answers.get(f).cloned());
    let name: Vec<String> = [get(&["FIRST_NAME"]), get(&["LAST_NAME"])].into_iter().flatten().collect();
    let contact = Contact {
        name: (!name.is_empty()).then(|| name.join(" ")),
        email: get(&["WORK_EMAIL", "EMAIL"]),
        phone: get(&["PHONE_NUMBER", "WORK_PHONE_NUMBER", "MOBILE_PHONE_NUMBER"]),
        company: get(&["COMPANY_NAME"]),
        title: get(&["JOB_TITLE"]),
        // The form's country answer is a name in the member's language; only a code is usable.
        country: get(&["COUNTRY"]).filter(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic())),
    };
    let mut attribution = BTreeMap::new();
    for hidden in response.pointer("/form/hiddenFields").and_then(Value::as_array).unwrap_or(&empty) {
        if let (Some(name), Some(value)) = (hidden["name"].as_str(), hidden["value"].as_str()) {
            let key = if name.starts_with("utm_") { name.to_string() } else { format!("linkedin_{name}") };
            attribution.insert(key, value.to_string());
        }
    }
    if let Some(campaign) =
        response.pointer("/leadMetadata/sponsoredLeadMetadata/campaign").and_then(Value::as_str)
    {
        attribution.insert("linkedin_campaign".into(), campaign.to_string());
    }
    if response.get("testLead").and_then(Value::as_bool) == Some(true) {
        attribution.insert("linkedin_test_lead".into(), "true".into());
    }
    FetchedLead { contact, attribution, raw: response }
}

#[cfg(test)]
#[path = "linkedin_tests.rs"]
mod tests;
