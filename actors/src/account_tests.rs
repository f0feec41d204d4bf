use std::sync::Arc;

use super::*;
use crate::store::MemoryStore;

const DAY: Duration = Duration::from_secs(86_400);

fn record(name: &str, domain: Option<&str>) -> AccountRecord {
    AccountRecord {
        account_id: account_id_for(domain, name),
        name: name.into(),
        domain: domain.map(Into::into),
        owner: None,
    }
}

fn query(name: &str, domain: Option<&str>) -> AccountQuery {
    AccountQuery { name: name.into(), domain: domain.map(Into::into) }
}

#[test]
fn company_names_lose_case_punctuation_legal_forms_and_a_leading_the() {
    for variant in
        ["Acme Inc.", "ACME, Inc", "The Acme Company", "acme corp.", "Acme Corp., Inc.", "ACME LLC"]
    {
        assert_eq!(normalize_company_name(variant), "acme", "{variant}");
    }
    assert_eq!(normalize_company_name("Globex GmbH & Co. KG"), "globex");
    assert_eq!(normalize_company_name("Procter & Gamble Co."), "procter gamble");
    assert_eq!(normalize_company_name("Procter and Gamble"), "procter gamble");
    assert_eq!(normalize_company_name("Nordisk A/S"), "nordisk");
    assert_eq!(normalize_company_name("Banco Exemplo S.A."), "banco exemplo");
    assert_eq!(normalize_company_name("Wayne Logistics Pty Ltd"), "wayne logistics");
    assert_eq!(normalize_company_name("McDonald's"), "mcdonalds");
    assert_eq!(normalize_company_name("The Company"), "company", "one word always stays");
    assert_eq!(normalize_company_name("  "), "");
}

#[test]
fn free_mail_is_never_a_company_domain() {
    for free in
        ["gmail.com", "yahoo.com", "yahoo.co.uk", "hotmail.fr", "outlook.com", "icloud.com", "aol.com"]
    {
        assert!(is_free_mail_domain(free), "{free}");
    }
    for free in ["proton.me", "gmx.de", "gmx.net", "web.de", "mail.ru", "qq.com", "GMAIL.COM"] {
        assert!(is_free_mail_domain(free), "{free}");
    }
    for corporate in ["acme.com", "yahooligans.com", "outlook-partners.com", "hotmail.acme.com", "webde.io"] {
        assert!(!is_free_mail_domain(corporate), "{corporate}");
    }
    assert_eq!(company_domain("Ana@ACME.com").as_deref(), Some("acme.com"));
    assert_eq!(company_domain("ana@gmail.com"), None);
    assert_eq!(company_domain("ana"), None);
}

#[test]
fn every_domain_dedupe_folds_is_free_mail() {
    for domain in crate::dedupe::folded_mail_domains() {
        assert!(is_free_mail_domain(domain), "{domain} folds addresses but counts as a company domain");
    }
}

#[test]
fn a_query_needs_a_name_or_a_corporate_domain() {
    assert_eq!(AccountQuery::of(Some("Acme Inc."), Some("ana@gmail.com")), Some(query("acme", None)));
    assert_eq!(
        AccountQuery::of(None, Some("ana@acme-robotics.com")),
        Some(query("acme robotics", Some("acme-robotics.com")))
    );
    assert_eq!(AccountQuery::of(None, Some("ana@gmail.com")), None);
    assert_eq!(AccountQuery::of(Some(" "), None), None);
    assert_eq!(name_block("acme robotics"), "acm");
    assert_eq!(name_block("3m"), "3m");
}

#[test]
fn account_ids_are_stable_and_prefer_the_domain() {
    assert_eq!(account_id_for(Some("acme.com"), "acme"), account_id_for(Some("acme.com"), "other"));
    assert_ne!(account_id_for(None, "acme"), account_id_for(Some("acme.com"), "acme"));
}

#[test]
fn domain_beats_name_beats_fuzzy_name() {
    let matcher = AccountMatcher::default();
    let by_domain = record("acme holdings", Some("acme.com"));
    let by_name = record("acme", None);
    let candidates = [by_name.clone(), by_domain.clone()];
    let d = matcher.decide(&query("acme", Some("acme.com")), &candidates);
    assert_eq!(
        (d.matched.account_id.as_str(), d.matched.matched_by.as_str()),
        (by_domain.account_id.as_str(), "domain")
    );
    assert_eq!(d.save, None);

    let d = matcher.decide(&query("acme", None), &candidates);
    assert_eq!(
        (d.matched.account_id.as_str(), d.matched.matched_by.as_str()),
        (by_name.account_id.as_str(), "name")
    );
    assert_eq!(d.matched.similarity, 1.0);

    let d = matcher.decide(&query("acmee", None), std::slice::from_ref(&by_name));
    assert_eq!(d.matched.matched_by, "fuzzy_name");
    assert!(d.matched.similarity >= DEFAULT_FUZZY_THRESHOLD && d.matched.similarity < 1.0);
}

#[test]
fn similar_but_different_companies_are_not_matched() {
    let matcher = AccountMatcher::default();
    let candidates = [record("acme robotics", None), record("acme", None)];
    let d = matcher.decide(&query("acme labs", None), &candidates);
    assert_eq!(d.matched.matched_by, "new", "{:?}", d.matched);
    assert_eq!(d.save.unwrap().name, "acme labs");
}

#[test]
fn a_name_match_is_refused_when_the_domains_disagree() {
    let matcher = AccountMatcher::default();
    let d = matcher.decide(&query("acme", Some("acme.co.uk")), &[record("acme", Some("acme.com"))]);
    assert_eq!(d.matched.matched_by, "new");
    assert_eq!(d.matched.domain.as_deref(), Some("acme.co.uk"));
}

#[test]
fn a_name_matched_account_learns_the_domain() {
    let matcher = AccountMatcher::default();
    let known = AccountRecord { owner: Some("rep-3".into()), ..record("acme", None) };
    let d = matcher.decide(&query("acme", Some("acme.com")), std::slice::from_ref(&known));
    assert_eq!(d.matched.owner.as_deref(), Some("rep-3"), "the owner travels with the match");
    assert_eq!(d.save, Some(AccountRecord { domain: Some("acme.com".into()), ..known }));
}

#[test]
fn names_are_compared_word_by_word() {
    assert_eq!(name_similarity("acme robotics", "acme robotics"), 1.0);
    assert!(name_similarity("prestige software", "prestige networks") < 0.8, "one word differs entirely");
    assert!(strsim::jaro_winkler("prestige software", "prestige networks") > DEFAULT_FUZZY_THRESHOLD, "why");
    assert!(name_similarity("monrch software", "monarch software") > 0.95, "a typo");
    assert!(name_similarity("acme", "acme labs") < 0.8, "a word only one name has");
    assert_eq!(name_similarity("acme labs", "acme"), name_similarity("acme", "acme labs"), "symmetric");
    assert_eq!(name_similarity("", "acme"), 0.0);
}

#[test]
fn the_threshold_is_configurable_and_ties_do_not_depend_on_order() {
    let loose = AccountMatcher::new(0.85);
    let (a, b) = (record("acme robotics", None), record("acme roboticz", None));
    let q = query("acme robotic", None);
    let forward = loose.decide(&q, &[a.clone(), b.clone()]);
    let backward = loose.decide(&q, &[b, a]);
    assert_eq!(forward.matched.account_id, backward.matched.account_id);
    assert_eq!(AccountMatcher::new(1.0).decide(&q, &[]).matched.matched_by, "new");
}

#[tokio::test]
async fn leads_of_one_company_share_an_account_through_the_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let matcher = AccountMatcher::default();
    let first = match_account(&*store, &matcher, Some("The Acme Company"), Some("ana@gmail.com"), DAY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.matched_by.as_str(), first.name.as_str()), ("new", "acme"));
    let second = match_account(&*store, &matcher, Some("ACME, Inc"), Some("ben@acme.com"), DAY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.account_id.as_str(), second.matched_by.as_str()), (first.account_id.as_str(), "name"));
    assert!(store.set_account_owner(&first.account_id, "rep-9").await.unwrap());
    let third = match_account(&*store, &matcher, None, Some("cleo@acme.com"), DAY).await.unwrap().unwrap();
    assert_eq!((third.account_id, third.matched_by.as_str()), (first.account_id, "domain"));
    assert_eq!(third.owner.as_deref(), Some("rep-9"));
    assert_eq!(match_account(&*store, &matcher, None, Some("dan@gmail.com"), DAY).await.unwrap(), None);
}
