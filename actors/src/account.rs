//! Account matching: which company a lead works for, so leads of one company reach the rep who
//! owns it.
//!
//! Unlike people, companies are matched fuzzily, because the same company arrives as "Acme Inc.",
//! "ACME, Inc" and "The Acme Company". Evidence is tried strongest first: the corporate email domain
//! (exact), then the normalized name (exact), then the normalized name by similarity
//! ([`name_similarity`]) above a threshold. A name match is refused when both sides have different
//! corporate domains: two domains are better evidence of two companies than a similar name is of one.
//!
//! The store is asked once per lead ([`Store::find_accounts`]) for the account holding the domain
//! plus the accounts in the name's block ([`name_block`]), so fuzzy matching compares against a
//! handful of candidates, never the whole account book.

use std::time::Duration;

use speedlead_topics::{derived_id, AccountMatch};

use crate::store::{AccountRecord, Store, StoreError};

/// The [`name_similarity`] from which two normalized names are the same company. High on purpose: a
/// wrong account routes a lead to a stranger's rep, while a missed one only costs a new account.
pub const DEFAULT_FUZZY_THRESHOLD: f64 = 0.92;

/// Trailing words that say what legal form a company has, not which company it is.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "ug",
    "ev",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "pty",
    "plc",
    "oy",
    "ab",
    "as",
    "aps",
    "asa",
    "kk",
    "pte",
    "pvt",
    "private",
    "se",
    "sl",
    "sro",
    "zoo",
];

/// Free-mail domains: an address there says nothing about the employer. Exact domains.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "live.com",
    "live.co.uk",
    "live.fr",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "aol.de",
    "aim.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "fastmail.com",
    "fastmail.fm",
    "hey.com",
    "mail.com",
    "email.com",
    "zoho.com",
    "web.de",
    "t-online.de",
    "freenet.de",
    "mail.ru",
    "inbox.ru",
    "list.ru",
    "bk.ru",
    "yandex.ru",
    "yandex.com",
    "ya.ru",
    "rambler.ru",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "hanmail.net",
    "daum.net",
    "rediffmail.com",
    "libero.it",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "btinternet.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "cox.net",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
];

/// Free-mail brands present under many country domains (`yahoo.co.uk`, `gmx.net`, `hotmail.fr`):
/// free mail when the brand is followed only by a public suffix.
const FREE_MAIL_BRANDS: &[&str] = &["yahoo", "ymail", "rocketmail", "hotmail", "outlook", "gmx"];

/// Lowercase, punctuation-free company name without a leading "The", "&"/"and", or trailing legal
/// forms: "The ACME Corp., Inc." → "acme", "Procter & Gamble Co." → "procter gamble".
///
/// Dots, apostrophes and slashes are dropped without a space so that "S.A.", "A/S" and "McDonald's"
/// stay one word; other punctuation separates words. At least one word is always kept.
pub fn normalize_company_name(raw: &str) -> String {
    let spaced: String = raw
        .to_lowercase()
        .replace('&', " and ")
        .chars()
        .filter(|c| !matches!(c, '.' | '\'' | '’' | '/'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = spaced.split_whitespace().filter(|w| *w != "and").collect();
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// Whether `domain` is a free-mail provider's (see [`FREE_MAIL_DOMAINS`], [`FREE_MAIL_BRANDS`]).
pub fn is_free_mail_domain(domain: &str) -> bool {
    let domain = domain.trim().to_lowercase();
    if FREE_MAIL_DOMAINS.contains(&domain.as_str()) {
        return true;
    }
    // A brand followed only by short labels ("com", "co.uk", "de"): a country domain of the brand,
    // not a company's domain that happens to start with the word.
    domain.split_once('.').is_some_and(|(brand, suffix)| {
        FREE_MAIL_BRANDS.contains(&brand) && suffix.split('.').all(|label| (2..=3).contains(&label.len()))
    })
}

/// The employer's domain an email address reveals: its domain unless that is free mail.
pub fn company_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.to_lowercase();
    (domain.contains('.') && !is_free_mail_domain(&domain)).then_some(domain)
}

/// How alike two normalized company names are, 0–1: each word's Jaro-Winkler similarity to its
/// closest word in the other name, averaged, taken in both directions, the lower of the two.
///
/// Not Jaro-Winkler of the whole names: that scores "prestige software" / "prestige networks" at
/// 0.926, because a long shared first word and Jaro-Winkler's bonus for a shared prefix outweigh a
/// second word that differs entirely, and the dedupe evaluation (`speedlead::eval::dedupe`) measured
/// such pairs as most of its wrong joins. Per word, every word must find its match (a typo still
/// scores ~0.95), and a word only one name has ("acme" / "acme labs") pulls the score down.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    fn closest_words(from: &str, to: &str) -> f64 {
        let targets: Vec<&str> = to.split_whitespace().collect();
        let scores: Vec<f64> = from
            .split_whitespace()
            .map(|word| targets.iter().map(|t| strsim::jaro_winkler(word, t)).fold(0.0, f64::max))
            .collect();
        if scores.is_empty() {
            0.0
        } else {
            scores.iter().sum::<f64>() / scores.len() as f64
        }
    }
    if a == b {
        return 1.0;
    }
    closest_words(a, b).min(closest_words(b, a))
}

/// A stable account id, derived from the first domain or normalized name seen, so that two
/// instances creating the same account at once create the same one.
pub fn account_id_for(domain: Option<&str>, normalized_name: &str) -> String {
    match domain {
        Some(domain) => derived_id(&["account", "domain", domain]),
        None => derived_id(&["account", "name", normalized_name]),
    }
    .to_string()
}

/// The candidate block of a normalized name: its first three letters or digits. Jaro-Winkler
/// weighs the start of a name most, so names above the threshold almost always share it.
pub fn name_block(normalized_name: &str) -> String {
    normalized_name.chars().filter(|c| c.is_alphanumeric()).take(3).collect()
}

/// What a lead says about its company: normalized name and corporate domain, at least one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountQuery {
    pub name: String,
    pub domain: Option<String>,
}

impl AccountQuery {
    /// The query for a lead's company name and email; `None` when neither identifies a company
    /// (no name and a free-mail or missing address). Without a name, the domain's first label
    /// stands in for it ("acme-robotics.com" → "acme robotics").
    pub fn of(company: Option<&str>, email: Option<&str>) -> Option<Self> {
        let domain = email.and_then(company_domain);
        let name = company.map(normalize_company_name).filter(|n| !n.is_empty()).or_else(|| {
            let label = domain.as_deref()?.split('.').next()?;
            Some(normalize_company_name(label)).filter(|n| !n.is_empty())
        })?;
        Some(AccountQuery { name, domain })
    }

    pub fn block(&self) -> String {
        name_block(&self.name)
    }
}

/// The account a lead belongs to, and the account record to store when that changed: a new
/// account, or an existing one that learned its domain.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountDecision {
    pub matched: AccountMatch,
    pub save: Option<AccountRecord>,
}

/// Picks a lead's account among candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountMatcher {
    /// [`name_similarity`] from which normalized names match; see [`DEFAULT_FUZZY_THRESHOLD`].
    pub threshold: f64,
}

impl Default for AccountMatcher {
    fn default() -> Self {
        AccountMatcher { threshold: DEFAULT_FUZZY_THRESHOLD }
    }
}

impl AccountMatcher {
    pub fn new(threshold: f64) -> Self {
        AccountMatcher { threshold }
    }

    /// The best account for `query` among `candidates`: domain exact, else normalized name exact,
    /// else the most similar name at or above the threshold (ties to the smallest account id, so the
    /// order candidates come in does not matter), else a new account.
    pub fn decide(&self, query: &AccountQuery, candidates: &[AccountRecord]) -> AccountDecision {
        if let Some(domain) = &query.domain {
            if let Some(hit) = candidates.iter().find(|c| c.domain.as_ref() == Some(domain)) {
                return AccountDecision { matched: matched(hit, "domain", 1.0), save: None };
            }
        }
        let compatible = candidates.iter().filter(|c| match (&c.domain, &query.domain) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        });
        let best = compatible
            .map(|c| (name_similarity(&query.name, &c.name), c))
            .filter(|(similarity, _)| *similarity >= self.threshold)
            .max_by(|(a, x), (b, y)| a.total_cmp(b).then_with(|| y.account_id.cmp(&x.account_id)));
        match best {
            Some((similarity, hit)) => {
                let how = if hit.name == query.name { "name" } else { "fuzzy_name" };
                let learned_domain = hit.domain.is_none() && query.domain.is_some();
                let save =
                    learned_domain.then(|| AccountRecord { domain: query.domain.clone(), ..hit.clone() });
                AccountDecision { matched: matched(hit, how, similarity), save }
            }
            None => {
                let created = AccountRecord {
                    account_id: account_id_for(query.domain.as_deref(), &query.name),
                    name: query.name.clone(),
                    domain: query.domain.clone(),
                    owner: None,
                };
                AccountDecision { matched: matched(&created, "new", 0.0), save: Some(created) }
            }
        }
    }
}

fn matched(account: &AccountRecord, how: &str, similarity: f64) -> AccountMatch {
    AccountMatch {
        account_id: account.account_id.clone(),
        name: account.name.clone(),
        domain: account.domain.clone(),
        matched_by: how.to_string(),
        similarity,
        owner: account.owner.clone(),
    }
}

/// Finds (one round trip) or creates the account of a lead with this company name and email, and
/// stores it when it is new or learned its domain (one more). `None` when nothing identifies one.
pub async fn match_account(
    store: &dyn Store,
    matcher: &AccountMatcher,
    company: Option<&str>,
    email: Option<&str>,
    ttl: Duration,
) -> Result<Option<AccountMatch>, StoreError> {
    let Some(query) = AccountQuery::of(company, email) else {
        return Ok(None);
    };
    let block = query.block();
    let candidates = store.find_accounts(query.domain.as_deref(), &block, ttl).await?;
    let decision = matcher.decide(&query, &candidates);
    if let Some(record) = &decision.save {
        store.save_account(record, &block, ttl).await?;
    }
    Ok(Some(decision.matched))
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
