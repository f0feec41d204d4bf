use std::sync::Arc;

use chrono::TimeZone;
use speedlead_topics::Contact;

use super::*;
use crate::store::MemoryStore;

const DAY: Duration = Duration::from_secs(86_400);

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, minute, 0).unwrap()
}

fn contact(email: Option<&str>, phone: Option<&str>, company: Option<&str>, title: Option<&str>) -> Contact {
    Contact {
        name: Some("Ana Lopez".into()),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        company: company.map(Into::into),
        title: title.map(Into::into),
        country: Some("ES".into()),
    }
}

fn capture<'a>(event_id: &'a str, contact: &'a Contact, minute: u32) -> Capture<'a> {
    Capture { source: "web-form", event_id, contact, routing_domain: "emea", at: at(minute) }
}

#[test]
fn gmail_ignores_dots_and_tags_and_its_alias_domain() {
    for variant in ["ana.lopez@gmail.com", " Ana.Lopez+Promo@GMAIL.com ", "a.n.a.lopez@googlemail.com"] {
        assert_eq!(match_email_key(variant), "analopez@gmail.com", "{variant}");
    }
}

#[test]
fn tags_are_stripped_only_where_the_provider_delivers_them_to_one_mailbox() {
    assert_eq!(match_email_key("ana+news@outlook.com"), "ana@outlook.com");
    assert_eq!(match_email_key("ana.lopez+x@icloud.com"), "ana.lopez@icloud.com", "dots matter on icloud");
    assert_eq!(match_email_key("ana+x@proton.me"), "ana@proton.me");
    assert_eq!(match_email_key("ana+x@fastmail.com"), "ana@fastmail.com");
    assert_eq!(match_email_key("ana-shopping@yahoo.co.uk"), "ana@yahoo.co.uk", "yahoo tags with '-'");
    assert_eq!(match_email_key("ana+x@yahoo.com"), "ana+x@yahoo.com", "yahoo has no '+' tags");
    assert_eq!(match_email_key("ana@hotmail.com"), "ana@hotmail.com");
    assert_ne!(match_email_key("ana@hotmail.com"), match_email_key("ana@outlook.com"), "different mailboxes");
}

#[test]
fn corporate_addresses_are_only_trimmed_and_lowercased() {
    assert_eq!(match_email_key(" Ana.Lopez+Sales@Acme.COM "), "ana.lopez+sales@acme.com");
    assert_eq!(match_email_key("+x@gmail.com"), "+x@gmail.com", "nothing left to fold: kept whole");
    assert_eq!(match_email_key("not-an-email"), "not-an-email");
}

#[test]
fn a_new_person_keeps_what_the_capture_said() {
    let c = contact(Some("ana@acme.com"), Some("+34912345678"), Some("Acme"), Some(" "));
    let (record, merge) = apply_capture(None, &capture("e1", &c, 0));
    assert!(merge.is_none());
    assert_eq!(record.lead_id, speedlead_topics::lead_id("web-form", "e1"));
    assert_eq!(
        (record.emails.as_slice(), record.phones.as_slice()),
        (&["ana@acme.com".to_string()][..], &["+34912345678".to_string()][..])
    );
    assert_eq!(record.captures, ["web-form:e1"]);
    assert_eq!(record.contact.title, None, "blank values are not values");
    assert_eq!(record.routing_domain, "emea");
}

#[test]
fn newer_values_win_and_replaced_ones_go_to_history_newest_first() {
    let first = contact(Some("ana@acme.com"), None, Some("Acme"), Some("Engineer"));
    let second = contact(Some("Ana.Lopez@gmail.com"), Some("+34912345678"), Some("Globex"), None);
    let third = contact(None, Some("+34912345678"), Some("Initech"), Some("CTO"));
    let (record, _) = apply_capture(None, &capture("e1", &first, 0));
    let (record, _) = merge(record, &capture("e2", &second, 1));
    let (record, merge) = merge(record, &capture("e3", &third, 2));

    assert_eq!(merge.matched_by, "phone");
    assert_eq!(record.contact.company.as_deref(), Some("Initech"));
    assert_eq!(record.contact.title.as_deref(), Some("CTO"));
    assert_eq!(record.contact.email.as_deref(), Some("Ana.Lopez@gmail.com"), "an absent value never wins");
    assert_eq!(record.history["company"], ["Globex", "Acme"]);
    assert_eq!(record.history["title"], ["Engineer"]);
    assert!(!record.history.contains_key("name"), "unchanged fields have no history");
    assert_eq!(merge.emails, ["ana@acme.com", "Ana.Lopez@gmail.com"]);
    assert_eq!(merge.phones, ["+34912345678"]);
    assert_eq!(merge.captures, ["web-form:e1", "web-form:e2", "web-form:e3"]);
    assert_eq!(merge.history, record.history);
    assert_eq!(merge.into_lead_id, speedlead_topics::lead_id("web-form", "e1"));
    assert_eq!(merge.merged_lead_id, speedlead_topics::lead_id("web-form", "e3"));
    assert_eq!(record.updated_at, at(2));
}

#[test]
fn a_merge_names_what_this_capture_changed_and_a_redelivery_changes_nothing() {
    let first = contact(Some("ana@acme.com"), None, Some("Acme"), Some("Engineer"));
    let second = contact(Some("ana@acme.com"), Some("+34912345678"), Some("Globex"), Some("Engineer"));
    let (record, _) = apply_capture(None, &capture("e1", &first, 0));
    let (record, merged) = merge(record, &capture("e2", &second, 1));
    let change =
        |old: Option<&str>, new: &str| FieldChange { old: old.map(str::to_string), new: new.to_string() };
    let expected = [("company", change(Some("Acme"), "Globex")), ("phone", change(None, "+34912345678"))];
    assert_eq!(merged.changes, expected.into_iter().map(|(f, c)| (f.to_string(), c)).collect());
    let (_, again) = merge(record, &capture("e2", &second, 1));
    assert!(again.changes.is_empty(), "a redelivered capture changes nothing");
}

#[test]
fn history_never_holds_the_current_value_or_a_value_twice() {
    let a = contact(Some("ana@acme.com"), None, Some("Acme"), None);
    let b = contact(Some("ana@acme.com"), None, Some("Globex"), None);
    let (record, _) = apply_capture(None, &capture("e1", &a, 0));
    let (record, _) = merge(record, &capture("e2", &b, 1));
    let (record, _) = merge(record, &capture("e3", &a, 2));
    let (record, m) = merge(record, &capture("e4", &b, 3));
    assert_eq!(record.contact.company.as_deref(), Some("Globex"));
    assert_eq!(record.history["company"], ["Acme"]);
    assert_eq!(m.matched_by, "email");
}

#[test]
fn a_redelivered_capture_changes_nothing() {
    let old = contact(Some("ana@acme.com"), None, Some("Acme"), None);
    let new = contact(Some("ana@acme.com"), None, Some("Globex"), None);
    let (record, _) = apply_capture(None, &capture("e1", &old, 0));
    let (record, _) = merge(record, &capture("e2", &new, 1));
    let (again, merge) = apply_capture(Some(record.clone()), &capture("e1", &old, 5));
    assert_eq!(again, record, "the first capture redelivered late does not roll the company back");
    assert!(merge.is_none(), "the lead's own first capture is not a merge");
    let (again, merge) = apply_capture(Some(record.clone()), &capture("e2", &new, 6));
    assert_eq!(again, record);
    assert_eq!(merge.unwrap().captures.len(), 2);
}

#[test]
fn a_plus_variant_of_a_gmail_address_merges_by_email() {
    let a = contact(Some("ana.lopez@gmail.com"), None, None, None);
    let b = contact(Some("analopez+webinar@gmail.com"), None, None, None);
    let (record, _) = apply_capture(None, &capture("e1", &a, 0));
    let (record, merge) = apply_capture(Some(record), &capture("e2", &b, 1));
    assert_eq!(merge.unwrap().matched_by, "email");
    assert_eq!(record.emails.len(), 2, "both addresses as given");
    assert_eq!(record.email_keys(), ["analopez@gmail.com"], "one mailbox");
}

#[test]
fn a_record_survives_the_json_round_trip_and_takes_the_stored_owner() {
    let c = contact(Some("ana@acme.com"), Some("+34912345678"), Some("Acme"), None);
    let (mut record, _) = apply_capture(None, &capture("e1", &c, 0));
    record.owner = Some("stale-owner".into());
    record.score = Some(71);
    let json = record.to_json();
    assert!(!json.contains("stale-owner"), "the owner is stored beside the record: {json}");
    let stored = StoredPerson { record: json, owner: Some("rep-7".into()) };
    let read = PersonRecord::from_stored(&stored).unwrap();
    assert_eq!(read, PersonRecord { owner: Some("rep-7".into()), ..record });
    let corrupt = StoredPerson { record: "{".into(), owner: None };
    assert!(matches!(PersonRecord::from_stored(&corrupt), Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn a_returning_person_is_found_through_the_store_by_email_before_phone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ana = contact(Some("ana@acme.com"), Some("+34912345678"), Some("Acme"), None);
    let ben = contact(Some("ben@globex.com"), Some("+34911111111"), Some("Globex"), None);
    for (event, c) in [("e1", &ana), ("e2", &ben)] {
        let cap = capture(event, c, 0);
        let (record, _) = apply_capture(find_returning(&*store, &cap).await.unwrap(), &cap);
        save(&*store, &record, DAY).await.unwrap();
    }
    // Ana's email with Ben's phone: the email decides.
    let mixed = contact(Some("ANA@acme.com"), Some("+34911111111"), None, None);
    let cap = capture("e3", &mixed, 1);
    let found = find_returning(&*store, &cap).await.unwrap().unwrap();
    assert_eq!(found.lead_id, speedlead_topics::lead_id("web-form", "e1"));
    let (record, merge) = apply_capture(Some(found), &cap);
    assert_eq!(merge.unwrap().matched_by, "email");
    save(&*store, &record, DAY).await.unwrap();
    let phone_only = Contact { phone: Some("+34911111111".into()), ..Default::default() };
    let by_phone = capture("e4", &phone_only, 2);
    let found = find_returning(&*store, &by_phone).await.unwrap().unwrap();
    assert_eq!(found.lead_id, record.lead_id, "the phone now points at the person who gave it last");
}

#[tokio::test]
async fn a_person_created_meanwhile_on_another_partition_is_a_conflict_and_the_retry_merges() {
    let store = MemoryStore::new();
    // Two captures of one mailbox with different Kafka keys reach two partitions at once; both
    // looked the person up before either saved.
    let dotted = contact(Some("ana.lopez@gmail.com"), None, None, None);
    let plain = contact(Some("analopez@gmail.com"), Some("+14155552671"), None, None);
    let (a, b) = (capture("e1", &dotted, 1), capture("e2", &plain, 2));
    save(&store, &apply_capture(None, &a).0, Duration::from_secs(60)).await.unwrap();
    let lost = save(&store, &apply_capture(None, &b).0, Duration::from_secs(60)).await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    assert_eq!(store.find_person(None, Some("+14155552671")).await.unwrap(), None, "the loser wrote nothing");

    // The retry finds the winner and merges into it.
    let existing = find_returning(&store, &b).await.unwrap();
    let (record, merge) = apply_capture(existing, &b);
    assert_eq!(record.lead_id, a.own_lead_id());
    assert_eq!(merge.unwrap().matched_by, "email");
    save(&store, &record, Duration::from_secs(60)).await.unwrap();
}

#[test]
fn a_person_who_returns_thousands_of_times_keeps_a_bounded_record() {
    let phone = "+14155552671";
    let first = contact(Some("p0@acme.io"), Some(phone), None, None);
    let mut record = PersonRecord::new(&capture("e0", &first, 0));
    for i in 1..300 {
        let (email, title) = (format!("p{i}@acme.io"), format!("title {i}"));
        let c = contact(Some(&email), Some(phone), None, Some(&title));
        record = merge(record, &capture(&format!("e{i}"), &c, i % 60)).0;
    }
    assert_eq!((record.emails.len(), record.captures.len()), (20, 100));
    assert_eq!(record.emails.last().map(String::as_str), Some("p299@acme.io"), "the newest are kept");
    assert_eq!(record.history["title"].len(), 20);
    assert_eq!(record.history["title"][0], "title 298", "newest first");
}
