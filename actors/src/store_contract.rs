//! The contract every [`Store`] implementation must honour, as one suite run against each of them
//! (in-memory in unit tests, Redis in the integration tests), so they cannot drift apart.
//!
//! Keys are random per run, so the suite can run repeatedly against a shared Redis.

use std::slice;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{AccountRecord, Store};

#[path = "store_contract_model.rs"]
mod model;
#[path = "store_contract_routing.rs"]
mod routing;

const TTL: Duration = Duration::from_secs(60);

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn reps(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("rep-{i}")).collect()
}

/// Runs every contract check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn Store>) {
    remember_keeps_the_first_value(&*store).await;
    remember_is_atomic_under_concurrency(store.clone()).await;
    remember_expires_after_its_ttl(&*store).await;
    replace_and_forget_settle_a_claim(&*store).await;
    person_is_found_by_email_key_or_phone(&*store).await;
    email_wins_over_phone(&*store).await;
    newest_save_takes_a_phone_over(&*store).await;
    only_one_of_two_concurrent_creations_wins(store.clone()).await;
    person_owner_survives_saves(&*store).await;
    person_expires_with_its_index(&*store).await;
    accounts_are_found_by_domain_and_name_block(&*store).await;
    first_account_keeps_its_domain(&*store).await;
    account_owner_survives_saves(&*store).await;
    account_expires(&*store).await;
    finding_an_account_keeps_it_alive(&*store).await;
    record_owner_sets_person_and_first_account_owner(&*store).await;
    record_owner_creates_nothing(&*store).await;
    model::run_all(store.clone()).await;
    routing::run_all(store.clone()).await;
}

async fn remember_keeps_the_first_value(store: &dyn Store) {
    let key = unique("idem");
    let first = store.remember(&key, "lead-a", TTL).await.unwrap();
    assert!(first.first, "remember_keeps_the_first_value: first call must win");
    let second = store.remember(&key, "lead-b", TTL).await.unwrap();
    assert!(!second.first, "remember_keeps_the_first_value: second call must not win");
    assert_eq!(second.value, "lead-a", "remember_keeps_the_first_value");
}

async fn remember_is_atomic_under_concurrency(store: Arc<dyn Store>) {
    let key = unique("race");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.remember(&key, &format!("v{i}"), TTL).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    let mut values = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        winners += usize::from(r.first);
        values.push(r.value);
    }
    assert_eq!(winners, 1, "remember_is_atomic_under_concurrency: exactly one caller is first");
    values.dedup();
    assert_eq!(values.len(), 1, "remember_is_atomic_under_concurrency: everyone sees the same value");
}

async fn remember_expires_after_its_ttl(store: &dyn Store) {
    let key = unique("ttl");
    store.remember(&key, "old", Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = store.remember(&key, "new", TTL).await.unwrap();
    assert!(again.first && again.value == "new", "remember_expires_after_its_ttl: got {again:?}");
}

async fn replace_and_forget_settle_a_claim(store: &dyn Store) {
    let key = unique("claim");
    assert_eq!(store.recall(&key).await.unwrap(), None, "replace_and_forget_settle_a_claim: unheld key");
    store.remember(&key, "pending", TTL).await.unwrap();
    assert_eq!(store.recall(&key).await.unwrap().as_deref(), Some("pending"));
    store.replace(&key, "done", TTL).await.unwrap();
    let again = store.remember(&key, "other", TTL).await.unwrap();
    assert_eq!((again.value.as_str(), again.first), ("done", false), "replace_and_forget_settle_a_claim");
    store.forget(&key).await.unwrap();
    assert_eq!(store.recall(&key).await.unwrap(), None, "replace_and_forget_settle_a_claim: forgotten");
    assert!(store.remember(&key, "retry", TTL).await.unwrap().first, "a forgotten key can be claimed again");
}

fn person(lead_id: &str) -> String {
    format!(r#"{{"lead_id":"{lead_id}","note":"ünïcode / \"quoted\""}}"#)
}

async fn person_is_found_by_email_key_or_phone(store: &dyn Store) {
    let (lead, email, phone) = (unique("lead"), unique("ana@example.com"), unique("+4930"));
    assert_eq!(store.find_person(Some(&email), Some(&phone)).await.unwrap(), None, "unknown person");
    assert_eq!(store.find_person(None, None).await.unwrap(), None, "nothing to look up");
    store
        .save_person(&lead, &person(&lead), slice::from_ref(&email), slice::from_ref(&phone), TTL)
        .await
        .unwrap();
    for (e, p) in
        [(Some(email.as_str()), None), (None, Some(phone.as_str())), (Some("other@x.io"), Some(&phone))]
    {
        let found = store.find_person(e, p).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("person_is_found_by_email_key_or_phone: {e:?} {p:?}"));
        assert_eq!(found.record, person(&lead), "person_is_found_by_email_key_or_phone: record verbatim");
        assert_eq!(found.owner, None, "person_is_found_by_email_key_or_phone: no owner yet");
    }
}

async fn email_wins_over_phone(store: &dyn Store) {
    let (a, b) = (unique("lead-a"), unique("lead-b"));
    let (email_a, phone_b) = (unique("a@example.com"), unique("+1415"));
    store.save_person(&a, &person(&a), slice::from_ref(&email_a), &[unique("+1212")], TTL).await.unwrap();
    store
        .save_person(&b, &person(&b), &[unique("b@example.com")], slice::from_ref(&phone_b), TTL)
        .await
        .unwrap();
    let found = store.find_person(Some(&email_a), Some(&phone_b)).await.unwrap().unwrap();
    assert_eq!(found.record, person(&a), "email_wins_over_phone");
    let by_phone = store.find_person(Some(&unique("new@example.com")), Some(&phone_b)).await.unwrap();
    assert_eq!(by_phone.unwrap().record, person(&b), "email_wins_over_phone: unknown email falls back");
}

async fn newest_save_takes_a_phone_over(store: &dyn Store) {
    let (a, b, phone) = (unique("lead-a"), unique("lead-b"), unique("+4420"));
    store.save_person(&a, &person(&a), &[], slice::from_ref(&phone), TTL).await.unwrap();
    store.save_person(&b, &person(&b), &[], slice::from_ref(&phone), TTL).await.unwrap();
    let found = store.find_person(None, Some(&phone)).await.unwrap().unwrap();
    assert_eq!(found.record, person(&b), "newest_save_takes_a_phone_over");
}

async fn only_one_of_two_concurrent_creations_wins(store: Arc<dyn Store>) {
    let (a, b, email, phone) = (unique("lead-a"), unique("lead-b"), unique("ana@gmail.com"), unique("+1650"));
    let create = |lead: String, emails: Vec<String>, phones: Vec<String>| {
        let store = store.clone();
        tokio::spawn(async move { store.create_person(&lead, &person(&lead), &emails, &phones, TTL).await })
    };
    let first = create(a.clone(), vec![email.clone()], vec![]);
    let second = create(b.clone(), vec![email.clone()], vec![phone.clone()]);
    let (first, second) = (first.await.unwrap().unwrap(), second.await.unwrap().unwrap());
    assert!(first ^ second, "only_one_of_two_concurrent_creations_wins: {first} {second}");
    let winner = if first { &a } else { &b };
    let found = store.find_person(Some(&email), None).await.unwrap().unwrap();
    assert_eq!(found.record, person(winner), "only_one_of_two_concurrent_creations_wins: the winner's");
    if first {
        assert_eq!(store.find_person(None, Some(&phone)).await.unwrap(), None, "the loser wrote nothing");
    }
    let again = store.create_person(winner, &person(winner), &[email], &[], TTL).await.unwrap();
    assert!(again, "only_one_of_two_concurrent_creations_wins: a redelivered creation succeeds");
}

async fn person_owner_survives_saves(store: &dyn Store) {
    let (lead, email) = (unique("lead"), unique("owner@example.com"));
    assert!(!store.set_person_owner(&lead, "rep-1").await.unwrap(), "person_owner_survives_saves: unknown");
    store.save_person(&lead, &person(&lead), slice::from_ref(&email), &[], TTL).await.unwrap();
    assert!(store.set_person_owner(&lead, "rep-1").await.unwrap(), "person_owner_survives_saves: set");
    let merged = format!(r#"{{"lead_id":"{lead}","merged":true}}"#);
    store
        .save_person(&lead, &merged, &[email.clone(), unique("second@example.com")], &[], TTL)
        .await
        .unwrap();
    let found = store.find_person(Some(&email), None).await.unwrap().unwrap();
    assert_eq!(
        (found.record, found.owner.as_deref()),
        (merged, Some("rep-1")),
        "person_owner_survives_saves"
    );
}

async fn person_expires_with_its_index(store: &dyn Store) {
    let (lead, email) = (unique("lead"), unique("brief@example.com"));
    store
        .save_person(&lead, &person(&lead), slice::from_ref(&email), &[], Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.find_person(Some(&email), None).await.unwrap(), None, "person_expires_with_its_index");
    assert!(!store.set_person_owner(&lead, "rep-1").await.unwrap(), "person_expires_with_its_index: owner");
}

fn account(name: &str, domain: Option<&str>) -> AccountRecord {
    AccountRecord {
        account_id: unique("acct"),
        name: name.to_string(),
        domain: domain.map(str::to_string),
        owner: None,
    }
}

fn ids(accounts: &[AccountRecord]) -> Vec<&str> {
    let mut ids: Vec<_> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    ids.sort_unstable();
    ids
}

async fn accounts_are_found_by_domain_and_name_block(store: &dyn Store) {
    let (block, other_block, domain) = (unique("acm"), unique("glo"), unique("acme.com"));
    let with_domain = account("acme", Some(&domain));
    let without_domain = account("acme labs", None);
    let elsewhere = account("globex", None);
    store.save_account(&with_domain, &block, TTL).await.unwrap();
    store.save_account(&without_domain, &block, TTL).await.unwrap();
    store.save_account(&elsewhere, &other_block, TTL).await.unwrap();

    let by_block = store.find_accounts(None, &block, TTL).await.unwrap();
    let mut want = vec![with_domain.account_id.as_str(), without_domain.account_id.as_str()];
    want.sort_unstable();
    assert_eq!(ids(&by_block), want, "accounts_are_found_by_domain_and_name_block: block");
    assert!(by_block.contains(&with_domain), "accounts_are_found_by_domain_and_name_block: verbatim");

    let both = store.find_accounts(Some(&domain), &other_block, TTL).await.unwrap();
    assert_eq!(both[0], with_domain, "accounts_are_found_by_domain_and_name_block: domain hit first");
    assert_eq!(both.len(), 2, "accounts_are_found_by_domain_and_name_block: domain + block");
    let once = store.find_accounts(Some(&domain), &block, TTL).await.unwrap();
    assert_eq!(once.len(), 2, "accounts_are_found_by_domain_and_name_block: a domain hit in the block once");
    assert!(store.find_accounts(None, &unique("zzz"), TTL).await.unwrap().is_empty(), "empty block");
}

async fn first_account_keeps_its_domain(store: &dyn Store) {
    let (block, domain) = (unique("ini"), unique("initech.com"));
    let first = account("initech", Some(&domain));
    let second = account("initech", Some(&domain));
    store.save_account(&first, &block, TTL).await.unwrap();
    store.save_account(&second, &block, TTL).await.unwrap();
    let found = store.find_accounts(Some(&domain), &unique("none"), TTL).await.unwrap();
    assert_eq!(ids(&found), [first.account_id.as_str()], "first_account_keeps_its_domain");
}

async fn account_owner_survives_saves(store: &dyn Store) {
    let block = unique("hoo");
    let mut acct = account("hooli", None);
    assert!(!store.set_account_owner(&acct.account_id, "rep-2").await.unwrap(), "unknown account");
    store.save_account(&acct, &block, TTL).await.unwrap();
    assert!(
        store.set_account_owner(&acct.account_id, "rep-2").await.unwrap(),
        "account_owner_survives_saves"
    );
    acct.domain = Some(unique("hooli.xyz"));
    acct.owner = Some("ignored".into());
    store.save_account(&acct, &block, TTL).await.unwrap();
    let found = store.find_accounts(acct.domain.as_deref(), &block, TTL).await.unwrap();
    assert_eq!(found.len(), 1, "account_owner_survives_saves: {found:?}");
    assert_eq!(found[0].domain, acct.domain, "account_owner_survives_saves: domain learned");
    assert_eq!(found[0].owner.as_deref(), Some("rep-2"), "account_owner_survives_saves: owner kept");
}

async fn finding_an_account_keeps_it_alive(store: &dyn Store) {
    let (block, domain) = (unique("frs"), unique("frequent.com"));
    let acct = account("frequent", Some(&domain));
    store.save_account(&acct, &block, Duration::from_millis(300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.find_accounts(Some(&domain), &block, TTL).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let by_domain = store.find_accounts(Some(&domain), &unique("none"), TTL).await.unwrap();
    let by_block = store.find_accounts(None, &block, TTL).await.unwrap();
    assert_eq!((by_domain.len(), by_block.len()), (1, 1), "finding_an_account_keeps_it_alive");
}

async fn account_expires(store: &dyn Store) {
    let (block, domain) = (unique("wnk"), unique("wonka.com"));
    let acct = account("wonka", Some(&domain));
    store.save_account(&acct, &block, Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.find_accounts(Some(&domain), &block, TTL).await.unwrap().is_empty(), "account_expires");
    assert!(!store.set_account_owner(&acct.account_id, "rep-3").await.unwrap(), "account_expires: owner");
}

async fn record_owner_sets_person_and_first_account_owner(store: &dyn Store) {
    let (lead, email, block) = (unique("lead"), unique("owned@example.com"), unique("own"));
    let acct = account("umbrella", None);
    store.save_person(&lead, &person(&lead), slice::from_ref(&email), &[], TTL).await.unwrap();
    store.save_account(&acct, &block, TTL).await.unwrap();
    let owners = || async {
        let person = store.find_person(Some(&email), None).await.unwrap().unwrap();
        let accounts = store.find_accounts(None, &block, TTL).await.unwrap();
        (person.owner, accounts[0].owner.clone())
    };

    store.record_owner(&lead, Some(&acct.account_id), "rep-1").await.unwrap();
    let want = (Some("rep-1".to_string()), Some("rep-1".to_string()));
    assert_eq!(owners().await, want, "record_owner_sets_person_and_first_account_owner: both set");

    store.record_owner(&lead, Some(&acct.account_id), "rep-2").await.unwrap();
    let want = (Some("rep-2".to_string()), Some("rep-1".to_string()));
    assert_eq!(
        owners().await,
        want,
        "record_owner_sets_person_and_first_account_owner: account keeps its first"
    );

    store.record_owner(&lead, None, "rep-3").await.unwrap();
    let want = (Some("rep-3".to_string()), Some("rep-1".to_string()));
    assert_eq!(owners().await, want, "record_owner_sets_person_and_first_account_owner: no account");

    assert!(store.set_account_owner(&acct.account_id, "rep-4").await.unwrap());
    store.record_owner(&lead, Some(&acct.account_id), "rep-5").await.unwrap();
    let want = (Some("rep-5".to_string()), Some("rep-4".to_string()));
    assert_eq!(owners().await, want, "record_owner_sets_person_and_first_account_owner: set owner kept");
}

async fn record_owner_creates_nothing(store: &dyn Store) {
    let (lead, email, block) = (unique("lead"), unique("later@example.com"), unique("ltr"));
    let acct = account("later", None);
    store.record_owner(&lead, Some(&acct.account_id), "rep-1").await.unwrap();
    // Saved afterwards, neither has an owner: record_owner did not create them owner-first.
    store.save_person(&lead, &person(&lead), slice::from_ref(&email), &[], TTL).await.unwrap();
    store.save_account(&acct, &block, TTL).await.unwrap();
    let found = store.find_person(Some(&email), None).await.unwrap().unwrap();
    assert_eq!(found.owner, None, "record_owner_creates_nothing: person");
    let accounts = store.find_accounts(None, &block, TTL).await.unwrap();
    assert_eq!(accounts[0].owner, None, "record_owner_creates_nothing: account");
}
