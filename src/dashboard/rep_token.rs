//! Rep tokens: what a rep's magic link carries, and their dashboard cookie afterwards. Signed with
//! the accept links' secrets ([`AckSigner`]), bound to one rep and an expiry, so the dashboard needs
//! no login and no session store, and a rep's token opens only that rep's leads.

use serde::{Deserialize, Serialize};
use speedlead_actors::ack_token::{AckSigner, TokenError};

/// Claims of a dashboard token. Its fields differ from an accept link's, and unknown fields are
/// refused, so neither kind of token passes for the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepClaims {
    /// Always `dashboard`.
    pub purpose: String,
    pub rep: String,
    /// Unix seconds.
    pub exp: i64,
}

const PURPOSE: &str = "dashboard";

/// A token that lets `rep` open their dashboard until `exp` (unix seconds).
pub fn issue(signer: &AckSigner, rep: &str, exp: i64) -> String {
    signer.sign_claims(&RepClaims { purpose: PURPOSE.into(), rep: rep.into(), exp })
}

/// The rep a token was issued to, if it verifies and has not expired.
pub fn verify(signer: &AckSigner, token: &str, now_secs: i64) -> Result<String, TokenError> {
    let claims = signer.verify_claims(token, now_secs, |c: &RepClaims| c.exp)?;
    if claims.purpose != PURPOSE {
        return Err(TokenError::Malformed);
    }
    Ok(claims.rep)
}

#[cfg(test)]
mod tests {
    use speedlead_actors::ack_token::AckClaims;
    use uuid::Uuid;

    use super::*;

    fn signer() -> AckSigner {
        AckSigner::new(vec![b"a-secret-of-sixteen+".to_vec()])
    }

    #[test]
    fn a_token_opens_its_reps_dashboard_until_it_expires() {
        let token = issue(&signer(), "ana", 2_000);
        assert_eq!(verify(&signer(), &token, 1_999).unwrap(), "ana");
        assert_eq!(verify(&signer(), &token, 2_000), Err(TokenError::Expired { expired_at: 2_000 }));
        let other = AckSigner::new(vec![b"another-secret-16+++".to_vec()]);
        assert_eq!(verify(&other, &token, 1_000), Err(TokenError::BadSignature));
    }

    #[test]
    fn accept_links_and_rep_tokens_never_pass_for_each_other() {
        let ack = signer().sign(&AckClaims {
            lead_id: Uuid::nil(),
            domain: "na".into(),
            rep_id: "ana".into(),
            attempt: 1,
            expires_at: 2_000,
        });
        assert_eq!(verify(&signer(), &ack, 1_000), Err(TokenError::Malformed));
        let dash = issue(&signer(), "ana", 2_000);
        assert_eq!(signer().verify(&dash, 1_000), Err(TokenError::Malformed));
    }
}
