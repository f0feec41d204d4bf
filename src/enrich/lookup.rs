//! What to look up: the email for person providers, the company domain for company providers.
//!
//! A free-mail address says nothing about the person's company, and looking `gmail.com` up as a
//! company would enrich the lead as an employee of Google. So the company domain comes from the
//! caller's hint, else from the email, and never from a free-mail domain.

use speedlead_actors::account::is_free_mail_domain;

/// The email trimmed and lowercased, if it has the shape `local@domain.tld`.
pub fn email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && is_domain(domain)).then_some(email)
}

/// The company domain to look up: the hint if it is a usable, non-free-mail domain, else the
/// email's domain if that is not free mail.
pub fn company_domain(email: Option<&str>, hint: Option<&str>) -> Option<String> {
    let usable = |d: String| (is_domain(&d) && !is_free_mail_domain(&d)).then_some(d);
    hint.map(domain)
        .and_then(usable)
        .or_else(|| email.and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_string()).and_then(usable))
}

/// A hint as people write it (`https://www.Acme.io/pricing`, `acme.io:443`) reduced to `acme.io`.
fn domain(raw: &str) -> String {
    let raw = raw.trim().to_lowercase();
    let raw = raw.split_once("://").map_or(raw.as_str(), |(_, rest)| rest);
    let host = raw.split(['/', '?', '#', ':']).next().unwrap_or_default();
    host.strip_prefix("www.").unwrap_or(host).trim_end_matches('.').to_string()
}

fn is_domain(d: &str) -> bool {
    d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(email(" Ana@Acme.IO ").as_deref(), Some("ana@acme.io"));
        assert_eq!(email("ana@"), None);
        assert_eq!(email("@acme.io"), None);
        assert_eq!(email("ana@localhost"), None);
    }

    #[test]
    fn free_mail_is_never_a_company_domain() {
        for free in [
            "gmail.com",
            "yahoo.com",
            "yahoo.co.uk",
            "outlook.com",
            "hotmail.fr",
            "icloud.com",
            "aol.com",
            "proton.me",
            "gmx.de",
            "gmx.net",
        ] {
            assert!(is_free_mail_domain(free), "{free}");
            assert_eq!(company_domain(Some(&format!("ana@{free}")), None), None, "{free}");
        }
        // Company domains that merely start like a family name are companies.
        assert!(!is_free_mail_domain("outlook.acme.com") && !is_free_mail_domain("livenation.com"));
    }

    #[test]
    fn the_hint_wins_unless_it_is_unusable() {
        assert_eq!(
            company_domain(Some("ana@gmail.com"), Some("https://www.Acme.io/pricing")).as_deref(),
            Some("acme.io")
        );
        assert_eq!(
            company_domain(Some("ana@acme.io"), Some("initech.com:443")).as_deref(),
            Some("initech.com")
        );
        assert_eq!(company_domain(Some("ana@acme.io"), Some("gmail.com")).as_deref(), Some("acme.io"));
        assert_eq!(company_domain(Some("ana@acme.io"), Some("not a domain")).as_deref(), Some("acme.io"));
        assert_eq!(company_domain(None, None), None);
    }
}
