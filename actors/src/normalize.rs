//! Normalization of contact fields, so the same person looks the same whatever source they came from.

use phonenumber::Mode;

/// Lowercases and trims an email and checks it is plausibly deliverable (one `@`, a non-empty local
/// part, a dotted domain, no whitespace). Syntax only: deliverability is enrichment's job.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let Some((local, domain)) = email.split_once('@') else {
        return Err(format!("'{raw}' has no '@'"));
    };
    if local.is_empty() || domain.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(format!("'{raw}' is not a valid address"));
    }
    let labels: Vec<_> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err(format!("'{raw}' has no valid domain"));
    }
    Ok(email)
}

/// Parses a phone number in any common notation into E.164 (`+4930901820`). Numbers without a `+`
/// prefix are read as national numbers of `country` (ISO alpha-2), when given.
pub fn normalize_phone(raw: &str, country: Option<&str>) -> Result<String, String> {
    let region = country.and_then(|c| c.to_ascii_uppercase().parse::<phonenumber::country::Id>().ok());
    let number =
        phonenumber::parse(region, raw.trim()).map_err(|e| format!("'{raw}' is not a phone number ({e})"))?;
    if !phonenumber::is_valid(&number) {
        return Err(format!(
            "'{raw}' is not a valid phone number{}",
            if region.is_none() { " (no country to read it in)" } else { "" }
        ));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(normalize_email("  Ana.Lopez@Example.COM ").unwrap(), "ana.lopez@example.com");
        for bad in
            ["ana", "@example.com", "ana@", "ana@example", "a b@example.com", "a@b@c.com", "ana@example..com"]
        {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(normalize_phone("+1 (415) 555-2671", None).unwrap(), "+14155552671");
        assert_eq!(normalize_phone("030 901820", Some("de")).unwrap(), "+4930901820");
        assert!(normalize_phone("030 901820", None).is_err());
        assert!(normalize_phone("12", Some("US")).is_err());
        assert!(normalize_phone("call me", Some("US")).is_err());
    }
}
