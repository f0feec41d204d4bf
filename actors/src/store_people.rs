//! The in-memory half of the dedupe state: people (records indexed by email key and phone) and the
//! accounts they work for (records indexed by domain and name block). [`super::MemoryStore`] holds
//! one [`Directory`] and delegates the people and account operations of [`super::Store`] to it.
//!
//! It mirrors the Redis layout in `src/store/redis.rs`, expiry included, so both pass the same
//! contract: a record and its index entries expire together, an index entry whose record is gone
//! finds nothing, and owners are kept beside the records.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{AccountRecord, Expiring, StoredPerson};

#[derive(Debug, Default)]
pub(super) struct Directory {
    /// Lead id → person.
    people: DashMap<String, Entry<String>>,
    /// `email\u{1f}<key>` / `phone\u{1f}<e164>` → lead id.
    person_index: DashMap<String, Expiring>,
    /// Account id → account (its `owner` is the stored owner).
    accounts: DashMap<String, Entry<AccountRecord>>,
    /// Domain → account id.
    account_domains: DashMap<String, Expiring>,
    /// Name block → account ids. Members whose account expired are skipped when read.
    account_blocks: DashMap<String, BTreeSet<String>>,
    /// Makes `create_person`'s check-then-write atomic against other creations.
    creating: std::sync::Mutex<()>,
}

/// A record with the owner kept beside it.
#[derive(Debug)]
struct Entry<T> {
    record: T,
    owner: Option<String>,
    expires: Instant,
}

fn email_index(key: &str) -> String {
    format!("email\u{1f}{key}")
}

fn phone_index(phone: &str) -> String {
    format!("phone\u{1f}{phone}")
}

fn live(value: &Expiring, now: Instant) -> Option<String> {
    (value.expires > now).then(|| value.value.clone())
}

impl Directory {
    pub(super) fn find_person(&self, email_key: Option<&str>, phone: Option<&str>) -> Option<StoredPerson> {
        let now = Instant::now();
        let indexes = email_key.map(email_index).into_iter().chain(phone.map(phone_index));
        indexes.filter_map(|index| self.person_index.get(&index).and_then(|id| live(&id, now))).find_map(
            |lead_id| {
                let person = self.people.get(&lead_id)?;
                (person.expires > now)
                    .then(|| StoredPerson { record: person.record.clone(), owner: person.owner.clone() })
            },
        )
    }

    pub(super) fn create_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) -> bool {
        let _creating = self.creating.lock().expect("create lock");
        let now = Instant::now();
        let mut indexes =
            email_keys.iter().map(|k| email_index(k)).chain(phones.iter().map(|p| phone_index(p)));
        let taken = indexes.any(|index| {
            self.person_index.get(&index).and_then(|id| live(&id, now)).is_some_and(|id| id != lead_id)
        });
        if !taken {
            self.save_person(lead_id, record, email_keys, phones, ttl);
        }
        !taken
    }

    pub(super) fn save_person(
        &self,
        lead_id: &str,
        record: &str,
        email_keys: &[String],
        phones: &[String],
        ttl: Duration,
    ) {
        let now = Instant::now();
        let expires = now + ttl;
        // The record first, then its index entries: a reader that finds an entry finds the record.
        self.people
            .entry(lead_id.to_string())
            .and_modify(|person| {
                if person.expires <= now {
                    person.owner = None;
                }
                person.record = record.to_string();
                person.expires = expires;
            })
            .or_insert_with(|| Entry { record: record.to_string(), owner: None, expires });
        let indexes = email_keys.iter().map(|k| email_index(k)).chain(phones.iter().map(|p| phone_index(p)));
        for index in indexes {
            self.person_index.insert(index, Expiring { value: lead_id.to_string(), expires });
        }
    }

    pub(super) fn set_person_owner(&self, lead_id: &str, owner: &str) -> bool {
        set_owner(&self.people, lead_id, owner)
    }

    pub(super) fn find_accounts(
        &self,
        domain: Option<&str>,
        name_block: &str,
        ttl: Duration,
    ) -> Vec<AccountRecord> {
        let now = Instant::now();
        let by_domain = domain.and_then(|d| {
            let mut index = self.account_domains.get_mut(d)?;
            (index.expires > now).then(|| {
                index.expires = now + ttl;
                index.value.clone()
            })
        });
        let in_block = self.account_blocks.get(name_block).map(|ids| ids.clone()).unwrap_or_default();
        let mut seen = BTreeSet::new();
        by_domain
            .into_iter()
            .chain(in_block)
            .filter(|id| seen.insert(id.clone()))
            .filter_map(|id| {
                let mut account = self.accounts.get_mut(&id)?;
                (account.expires > now).then(|| {
                    account.expires = now + ttl;
                    AccountRecord { owner: account.owner.clone(), ..account.record.clone() }
                })
            })
            .collect()
    }

    pub(super) fn save_account(&self, account: &AccountRecord, name_block: &str, ttl: Duration) {
        let now = Instant::now();
        let expires = now + ttl;
        let record = AccountRecord { owner: None, ..account.clone() };
        self.accounts
            .entry(account.account_id.clone())
            .and_modify(|stored| {
                if stored.expires <= now {
                    stored.owner = None;
                }
                stored.record = record.clone();
                stored.expires = expires;
            })
            .or_insert_with(|| Entry { record: record.clone(), owner: None, expires });
        self.account_blocks.entry(name_block.to_string()).or_default().insert(account.account_id.clone());
        if let Some(domain) = &account.domain {
            let claim = Expiring { value: account.account_id.clone(), expires };
            self.account_domains
                .entry(domain.clone())
                .and_modify(|held| {
                    if held.expires <= now || held.value == account.account_id {
                        *held = Expiring { value: account.account_id.clone(), expires };
                    }
                })
                .or_insert(claim);
        }
    }

    pub(super) fn set_account_owner(&self, account_id: &str, owner: &str) -> bool {
        set_owner(&self.accounts, account_id, owner)
    }

    /// See [`super::Store::record_owner`]: the person's owner is set, the account's only if it has
    /// none.
    pub(super) fn record_owner(&self, lead_id: &str, account_id: Option<&str>, rep_id: &str) {
        set_owner(&self.people, lead_id, rep_id);
        if let Some(account_id) = account_id {
            if let Some(mut account) = self.accounts.get_mut(account_id) {
                if account.expires > Instant::now() && account.owner.is_none() {
                    account.owner = Some(rep_id.to_string());
                }
            }
        }
    }
}

fn set_owner<T>(records: &DashMap<String, Entry<T>>, id: &str, owner: &str) -> bool {
    match records.get_mut(id) {
        Some(mut stored) if stored.expires > Instant::now() => {
            stored.owner = Some(owner.to_string());
            true
        }
        _ => false,
    }
}
