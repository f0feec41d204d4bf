//! Signed ack tokens: the link a rep gets in a notification carries everything needed to accept the
//! lead (lead, domain, rep, attempt, expiry), so the accept endpoint needs no session or login and
//! no lookup before it can refuse a forged or stale link.
//!
//! Format: `base64url(compact JSON claims) "." base64url(HMAC-SHA256(secret, first part))`, both
//! unpadded, so the token is one URL path segment. Several secrets may verify (rotation: add the new
//! one first, keep the old ones until every link signed with them has expired); the first signs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What an ack token vouches for: `rep_id` may accept `attempt` of `lead_id` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckClaims {
    pub lead_id: Uuid,
    /// The routing domain, so the store lookup needs no routing configuration (which may have
    /// changed since the link was sent).
    pub domain: String,
    pub rep_id: String,
    pub attempt: u32,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the ack token is malformed")]
    Malformed,
    #[error("the ack token's signature does not match")]
    BadSignature,
    #[error("the ack token expired at {expired_at} (unix seconds)")]
    Expired { expired_at: i64 },
}

/// Signs with the first secret and verifies with any of them.
#[derive(Clone)]
pub struct AckSigner {
    secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for AckSigner {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSigner").field("secrets", &self.secrets.len()).finish()
    }
}

impl AckSigner {
    /// Panics without a secret: configuration validation guarantees at least one, and a signer that
    /// cannot sign is a wiring bug, not a runtime condition.
    pub fn new(secrets: Vec<Vec<u8>>) -> Self {
        assert!(!secrets.is_empty(), "an AckSigner needs at least one secret");
        AckSigner { secrets }
    }

    /// Deterministic: the same claims always give the same token, so republishing an assignment
    /// (a redelivery) sends the same link.
    pub fn sign(&self, claims: &AckClaims) -> String {
        self.sign_claims(claims)
    }

    /// Signs any claims the same way (the dashboard's rep tokens). Claim types must refuse each
    /// other's JSON (`deny_unknown_fields` and distinct required fields), so a token signed for one
    /// purpose never verifies for another.
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialize");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = mac(&self.secrets[0], payload.as_bytes()).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The claims of a token signed by one of the secrets and not expired at `now_secs`. The
    /// signature is checked before the claims are parsed, so unauthenticated bytes never reach the
    /// JSON parser.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<AckClaims, TokenError> {
        self.verify_claims(token, now_secs, |c: &AckClaims| c.expires_at)
    }

    /// Verifies a token of any claim type whose expiry (unix seconds) `expires_at` reads.
    pub fn verify_claims<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        now_secs: i64,
        expires_at: impl Fn(&T) -> i64,
    ) -> Result<T, TokenError> {
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.is_empty() || signature.contains('.') {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let signed = self
            .secrets
            .iter()
            .any(|secret| mac(secret, payload.as_bytes()).verify_slice(&signature).is_ok());
        if !signed {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let claims: T = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        let expired_at = expires_at(&claims);
        if now_secs >= expired_at {
            return Err(TokenError::Expired { expired_at });
        }
        Ok(claims)
    }
}

fn mac(secret: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn claims() -> AckClaims {
        AckClaims {
            lead_id: Uuid::from_u128(0x1234),
            domain: "emea".into(),
            rep_id: "dora".into(),
            attempt: 2,
            expires_at: NOW + 3600,
        }
    }

    fn signer(secret: &str) -> AckSigner {
        AckSigner::new(vec![secret.as_bytes().to_vec()])
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims_and_is_deterministic() {
        let s = signer("a-secret-of-sixteen+");
        let token = s.sign(&claims());
        assert_eq!(s.verify(&token, NOW).unwrap(), claims());
        assert_eq!(token, s.sign(&claims()));
        assert!(
            token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
            "{token} is one URL path segment"
        );
    }

    #[test]
    fn a_tampered_payload_or_signature_is_a_bad_signature() {
        let s = signer("a-secret-of-sixteen+");
        let token = s.sign(&claims());
        let (_, signature) = token.split_once('.').unwrap();
        let forged = AckClaims { rep_id: "emil".into(), ..claims() };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(s.verify(&format!("{forged_payload}.{signature}"), NOW), Err(TokenError::BadSignature));

        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2; // not the final char, whose low bits may be padding
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.verify(&String::from_utf8(bytes).unwrap(), NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn another_secret_does_not_verify_but_a_rotated_one_does() {
        let old = signer("the-old-secret-0123");
        let token = old.sign(&claims());
        assert_eq!(signer("another-secret-0123").verify(&token, NOW), Err(TokenError::BadSignature));

        let rotated = AckSigner::new(vec![b"the-new-secret-0123".to_vec(), b"the-old-secret-0123".to_vec()]);
        assert_eq!(rotated.verify(&token, NOW).unwrap(), claims());
        let fresh = rotated.sign(&claims());
        assert_ne!(fresh, token, "the first secret signs");
        assert_eq!(signer("the-new-secret-0123").verify(&fresh, NOW).unwrap(), claims());
    }

    #[test]
    fn a_token_expires_at_its_expiry() {
        let s = signer("a-secret-of-sixteen+");
        let token = s.sign(&claims());
        assert!(s.verify(&token, NOW + 3599).is_ok());
        assert_eq!(s.verify(&token, NOW + 3600), Err(TokenError::Expired { expired_at: NOW + 3600 }));
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let s = signer("a-secret-of-sixteen+");
        let sign_raw = |payload: &str| {
            let tag = mac(b"a-secret-of-sixteen+", payload.as_bytes()).finalize().into_bytes();
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
        };
        let not_json = URL_SAFE_NO_PAD.encode(b"not json");
        let wrong_shape = URL_SAFE_NO_PAD.encode(br#"{"lead_id":"x","domain":"emea"}"#);
        for token in [
            "".to_string(),
            "no-dot-here".to_string(),
            ".".to_string(),
            "a.b.c".to_string(),
            "payload.!!not-base64!!".to_string(),
            "é.ü".to_string(),
            sign_raw("!!not-base64!!"),
            sign_raw(&not_json),
            sign_raw(&wrong_shape),
        ] {
            assert_eq!(s.verify(&token, NOW), Err(TokenError::Malformed), "{token:?}");
        }
        // Well-formed base64 but an unsigned payload is a forgery, not a typo.
        assert_eq!(s.verify(&format!("{not_json}.AAAA"), NOW), Err(TokenError::BadSignature));
    }
}
