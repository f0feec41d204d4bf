//! Calls to a provider's API for leads that arrive as ids only. One place decides what a failure
//! means: a provider that is down, slow, rate-limiting or refusing our token is worth retrying; any
//! other refusal is not.

use serde_json::Value;
use speedlead_actors::ports::FetchError;

use super::SourceConfig;

/// The source's API base URL (or `default_base`) and its access token.
pub fn endpoint<'a>(
    source: &'a SourceConfig,
    api: &str,
    default_base: &'a str,
) -> Result<(&'a str, &'a str), FetchError> {
    let base = source.api_base_url.as_deref().unwrap_or(default_base).trim_end_matches('/');
    let token = source.api_token.as_deref().ok_or_else(|| {
        FetchError::NotFound(format!("source '{}' has no api_token for the {api}", source.name))
    })?;
    Ok((base, token))
}

/// Sends `request` and reads its JSON answer. Transport errors, 5xx and 429 are
/// [`FetchError::Unavailable`]; other non-2xx answers are [`FetchError::NotFound`] for `what`.
pub async fn get_json(request: reqwest::RequestBuilder, api: &str, what: &str) -> Result<Value, FetchError> {
    let response = request.send().await.map_err(|e| FetchError::Unavailable(format!("{api}: {e}")))?;
    let status = response.status();
    // An expired or revoked token (401/403) is fixed by an operator, not by the lead: retry (and
    // dead-letter only after the retries) instead of dropping every lead at once.
    if status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 429) {
        return Err(FetchError::Unavailable(format!("{api} answered {status}")));
    }
    if !status.is_success() {
        return Err(FetchError::NotFound(format!("{api} answered {status} for {what}")));
    }
    response.json().await.map_err(|e| FetchError::Unavailable(format!("{api} body: {e}")))
}

#[cfg(test)]
mod tests {
    /// Provider and enrichment APIs are https: without a TLS backend reqwest refuses the scheme
    /// before connecting (a builder error), so every real fetch would fail.
    #[tokio::test]
    async fn https_urls_reach_the_connect_step() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = reqwest::Client::new().get(format!("https://{closed}/")).send().await.unwrap_err();
        assert!(err.is_connect() && !err.is_builder(), "{err:?}");
    }
}
