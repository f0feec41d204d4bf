//! Signature checks shared by the provider adapters. Every comparison is constant-time (`subtle`),
//! and every check runs on the raw request bytes, before any parsing.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Rejection;

/// Default tolerance between a signed timestamp and receipt, either way.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// True when any of `candidates` equals `expected`, checking every candidate (no early exit that
/// would tell an attacker which secret or signature matched).
pub fn any_matches(expected: impl IntoIterator<Item = Vec<u8>>, candidates: &[&[u8]]) -> bool {
    let mut matched = subtle::Choice::from(0);
    for e in expected {
        for c in candidates {
            if e.len() == c.len() {
                matched |= e.ct_eq(c);
            }
        }
    }
    bool::from(matched)
}

/// Checks a Unix timestamp (seconds) is within `tolerance` of `now`.
pub fn fresh(timestamp_secs: i64, now: DateTime<Utc>, tolerance_secs: i64) -> Result<(), Rejection> {
    if (now.timestamp() - timestamp_secs).abs() > tolerance_secs {
        return Err(Rejection::Unauthorized("stale_timestamp"));
    }
    Ok(())
}

/// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …`):
/// HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64 secret after `whsec_`. Any listed
/// signature matching any configured secret verifies (rotation on both sides).
pub fn verify_standard_webhooks(
    secrets: &[String],
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let (Some(id), Some(timestamp), Some(signatures)) = (id, timestamp, signatures) else {
        return Err(Rejection::Unauthorized("missing_signature"));
    };
    let ts: i64 = timestamp.trim().parse().map_err(|_| Rejection::Unauthorized("bad_signature"))?;
    fresh(ts, now, TIMESTAMP_TOLERANCE_SECS)?;
    let given: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .collect();
    let expected = secrets
        .iter()
        .filter_map(|s| standard_webhooks_key(s))
        .map(|key| hmac_sha256(&key, &[id.as_bytes(), b".", timestamp.trim().as_bytes(), b".", body]));
    let given: Vec<&[u8]> = given.iter().map(Vec::as_slice).collect();
    if any_matches(expected, &given) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized("bad_signature"))
    }
}

/// The signing key of a Standard Webhooks secret (`whsec_<base64>`; a bare base64 string is accepted).
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}

/// Signs like Standard Webhooks, for tests and outbound webhooks: `v1,<base64>`.
pub fn sign_standard_webhooks(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = standard_webhooks_key(secret)?;
    let mac = hmac_sha256(&key, &[id.as_bytes(), b".", timestamp.to_string().as_bytes(), b".", body]);
    Some(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(ts: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(ts, 0).unwrap()
    }

    /// The published Standard Webhooks test vector (tests/fixtures/providers/README.md).
    #[test]
    fn standard_webhooks_test_vector() {
        assert_eq!(sign_standard_webhooks(SECRET, ID, 1649367553, BODY).unwrap(), SIGNATURE);
        let secrets = vec![SECRET.to_string()];
        let verify = |sig: &str, body: &[u8], now| {
            verify_standard_webhooks(&secrets, Some(ID), Some("1649367553"), Some(sig), body, now)
        };
        assert_eq!(verify(SIGNATURE, BODY, at(1649367553)), Ok(()));
        // Several signatures (sender rotating): any match is enough.
        assert_eq!(verify(&format!("v1,AAAA {SIGNATURE}"), BODY, at(1649367553 + 60)), Ok(()));
        assert_eq!(
            verify(SIGNATURE, b"{\"email\":\"x@example.com\"}", at(1649367553)),
            Err(Rejection::Unauthorized("bad_signature"))
        );
        assert_eq!(
            verify(SIGNATURE, BODY, at(1649367553 + 301)),
            Err(Rejection::Unauthorized("stale_timestamp"))
        );
        assert_eq!(
            verify(SIGNATURE, BODY, at(1649367553 - 301)),
            Err(Rejection::Unauthorized("stale_timestamp"))
        );
        let missing =
            verify_standard_webhooks(&secrets, Some(ID), None, Some(SIGNATURE), BODY, at(1649367553));
        assert_eq!(missing, Err(Rejection::Unauthorized("missing_signature")));
    }

    #[test]
    fn a_rotated_secret_list_verifies_with_either_secret() {
        let secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(), SECRET.to_string()];
        let r = verify_standard_webhooks(
            &secrets,
            Some(ID),
            Some("1649367553"),
            Some(SIGNATURE),
            BODY,
            at(1649367553),
        );
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn hubspot_v1_test_vector() {
        let body = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/providers/hubspot_contact_creation.json"
        ))
        .unwrap();
        let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
        let digest = sha256(&[secret.as_bytes(), body.trim_end_matches('\n').as_bytes()]);
        assert_eq!(hex::encode(digest), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de");
    }
}
