//! HubSpot `contact.creation` webhook events: they carry only the contact's id (`objectId`), so each
//! becomes a lead to fetch, and intake reads the contact from the CRM API
//! (`GET /crm/v3/objects/contacts/{id}?properties=…`, bearer token). The event id is HubSpot's
//! `eventId`, its idempotency key. Signatures are checked by [`super::hubspot`] as for forms.

use serde_json::Value;
use speedlead_actors::ports::{FetchError, FetchedLead};
use speedlead_topics::{Contact, FetchRef, InboundLead};

use super::api;
use super::{CapturedLead, FieldError, Rejection, SourceConfig};

/// CRM API used when a source sets no `api_base_url`.
pub const HUBSPOT_API: &str = "https://api.hubapi.com";

const PROPERTIES: &str = "email,firstname,lastname,phone,mobilephone,company,jobtitle,country";

/// The leads in a batch of webhook events; events other than `contact.creation` are skipped.
pub fn parse_events(source: &SourceConfig, events: &[Value]) -> Result<Vec<CapturedLead>, Rejection> {
    let mut errors = Vec::new();
    let mut leads = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if event.get("subscriptionType").and_then(Value::as_str) != Some("contact.creation") {
            continue;
        }
        let id = |field: &str| match event.get(field) {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let (Some(event_id), Some(object_id)) = (id("eventId"), id("objectId")) else {
            for field in ["eventId", "objectId"].into_iter().filter(|f| id(f).is_none()) {
                errors.push(FieldError::new(format!("[{i}].{field}"), "required"));
            }
            continue;
        };
        let lead = InboundLead {
            source: source.name.clone(),
            event_id: event_id.clone(),
            contact: Contact::default(),
            attribution: id("portalId").map(|p| ("hubspot_portal_id".to_string(), p)).into_iter().collect(),
            raw: Some(event.clone()),
            fetch: Some(FetchRef { provider: "hubspot".into(), id: object_id }),
            consent: Default::default(),
            signals: Default::default(),
        };
        leads.push(CapturedLead { event_id, lead });
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    if leads.is_empty() {
        return Err(Rejection::invalid("$", "no contact.creation event in the batch"));
    }
    Ok(leads)
}

/// Reads a contact from the HubSpot CRM API.
pub async fn fetch(
    client: &reqwest::Client,
    source: &SourceConfig,
    id: &str,
) -> Result<FetchedLead, FetchError> {
    let (base, token) = api::endpoint(source, "HubSpot API", HUBSPOT_API)?;
    let request = client
        .get(format!("{base}/crm/v3/objects/contacts/{id}"))
        .query(&[("properties", PROPERTIES)])
        .bearer_auth(token);
    Ok(contact_from_crm(api::get_json(request, "HubSpot API", &format!("contact {id}")).await?))
}

/// Maps a CRM contact (`{"id", "properties": {"email", "firstname", …}}`) onto a lead's contact.
pub fn contact_from_crm(body: Value) -> FetchedLead {
    let property = |name: &str| {
        body.get("properties")
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let name: Vec<String> = [property("firstname"), property("lastname")].into_iter().flatten().collect();
    let contact = Contact {
        name: (!name.is_empty()).then(|| name.join(" ")),
        email: property("email"),
        phone: property("phone").or_else(|| property("mobilephone")),
        company: property("company"),
        title: property("jobtitle"),
        country: property("country"),
    };
    FetchedLead { contact, attribution: Default::default(), raw: body }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::ProviderKind;
    use super::*;

    const CREATION: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/providers/hubspot_contact_creation.json"
    ));

    fn source() -> SourceConfig {
        SourceConfig::new("hubspot", ProviderKind::Hubspot, vec!["secret".into()])
    }

    #[test]
    fn contact_creation_events_become_leads_to_fetch() {
        let events: Vec<Value> = serde_json::from_str(CREATION).unwrap();
        let leads = parse_events(&source(), &events).unwrap();
        assert_eq!(leads.len(), 1);
        assert_eq!(leads[0].event_id, "1");
        assert_eq!(leads[0].lead.fetch, Some(FetchRef { provider: "hubspot".into(), id: "123".into() }));
        assert_eq!(leads[0].lead.attribution["hubspot_portal_id"], "62515");
    }

    #[test]
    fn events_without_ids_are_named_and_other_events_skipped() {
        let events = vec![
            json!({"subscriptionType": "contact.creation", "eventId": 7}),
            json!({"subscriptionType": "deal.creation"}),
        ];
        let err = parse_events(&source(), &events).unwrap_err();
        assert_eq!(err, Rejection::invalid("[0].objectId", "required"));
        let err = parse_events(&source(), &[json!({"subscriptionType": "deal.creation", "eventId": 1})])
            .unwrap_err();
        assert_eq!(err, Rejection::invalid("$", "no contact.creation event in the batch"));
    }

    #[test]
    fn crm_contacts_map_onto_the_lead() {
        let fetched = contact_from_crm(json!({"id": "123", "properties": {
            "email": "jane@example.com", "firstname": "Jane", "lastname": "Doe", "mobilephone": "+15555550123",
            "company": "Acme", "jobtitle": "CTO", "country": ""
        }}));
        let c = &fetched.contact;
        assert_eq!((c.name.as_deref(), c.email.as_deref()), (Some("Jane Doe"), Some("jane@example.com")));
        assert_eq!(
            (c.phone.as_deref(), c.company.as_deref(), c.title.as_deref()),
            (Some("+15555550123"), Some("Acme"), Some("CTO"))
        );
        assert_eq!(c.country, None);
    }
}
