//! What the HTTP channels share: the client, the request URL built from a configured base, and the
//! ONE mapping from a provider's answer to a [`SendError`]. Keeping the mapping in one place means
//! every channel agrees on what "try again" means: a 429, a 408, a 5xx, a timeout or a refused
//! connection is retryable (honouring `Retry-After`); any other refusal is permanent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode, Url};

use crate::error::Error;
use crate::notify::SendError;

/// The most of a provider's answer we read: answers we act on are a few hundred bytes, and a
/// receiver (a rep's own webhook endpoint) must not make us buffer megabytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of an error answer goes into the reason (which ends up in logs and dead letters).
const MAX_REASON_CHARS: usize = 200;

/// The one client every HTTP channel shares (one connection pool, one TLS config). Redirects are
/// not followed: a provider API that redirects a POST is misconfigured, and following it would turn
/// the POST into a GET elsewhere, so a 3xx is reported (permanent) instead.
pub fn client(timeout: Duration) -> Result<reqwest::Client, Error> {
    builder(timeout).build().map_err(|e| Error::Config(format!("notify HTTP client: {e}")))
}

/// What every outbound client starts from (the outbound webhooks add their guard to it): the
/// timeout for connecting and for the whole exchange, no redirects, speedlead's user agent.
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("speedlead/", env!("CARGO_PKG_VERSION")))
}

/// `base` (a configured `api_base`, which may carry a path such as `/api`) with `segments`
/// appended, each percent-encoded: a rep id or account id can never add a path segment or a query.
pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Parses a configured base URL, naming the key when it is not an absolute http(s) URL.
pub fn base_url(key: &str, value: &str) -> Result<Url, String> {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base() => Ok(url),
        _ => Err(format!("{key}: '{value}' is not an http(s) URL")),
    }
}

/// A provider's answer, read (up to [`MAX_BODY_BYTES`]) so the channel can look inside it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Answer {
    /// `Ok` for a 2xx, else the shared mapping with the body as detail.
    pub fn check(&self) -> Result<(), SendError> {
        classify(self.status, self.retry_after, &self.body)
    }
}

/// Sends `request` and reads the answer. Failing to get one is retryable (the provider may be
/// down or slow), except a request that could not even be built (a bad URL in `to`): that one
/// fails the same way every time.
pub async fn execute(request: RequestBuilder) -> Result<Answer, SendError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let retry_after = retry_after(response.headers(), Utc::now());
    let mut body = Vec::new();
    while body.len() < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status is what matters; a body cut off after a success is still a success.
            Err(e) if status.is_success() => {
                tracing::debug!(error = %e.without_url(), "provider answer cut off");
                break;
            }
            Err(e) => return Err(transport_error(e)),
        }
    }
    body.truncate(MAX_BODY_BYTES);
    Ok(Answer { status, retry_after, body: String::from_utf8_lossy(&body).into_owned() })
}

/// The shared status → [`SendError`] mapping. `detail` (the provider's error body or message)
/// is shortened into the reason.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, detail: &str) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let reason = reason(status, detail);
    match status.as_u16() {
        408 | 429 | 500..=599 => Err(SendError::Retryable { reason, retry_after }),
        _ => Err(SendError::Permanent { reason }),
    }
}

/// "HTTP 400: <detail, one line, shortened>".
pub fn reason(status: StatusCode, detail: &str) -> String {
    let detail: String = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    if detail.is_empty() {
        return format!("HTTP {}", status.as_u16());
    }
    let mut short: String = detail.chars().take(MAX_REASON_CHARS).collect();
    if short.len() < detail.len() {
        short.push('…');
    }
    format!("HTTP {}: {short}", status.as_u16())
}

/// A transport failure. The URL is stripped from the message: a Slack incoming-webhook URL is
/// itself a credential, and reasons end up in logs and dead letters.
pub fn transport_error(e: reqwest::Error) -> SendError {
    let e = e.without_url();
    if e.is_builder() {
        return SendError::Permanent { reason: format!("bad request: {e}") };
    }
    let reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("could not connect: {}", source_chain(&e))
    } else {
        source_chain(&e)
    };
    SendError::Retryable { reason, retry_after: None }
}

/// reqwest's own message ("error sending request") says little; its sources say why.
fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `Retry-After` as delta-seconds or an HTTP date (in the past → zero).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    use super::super::test_server::{Loopback, Reply};
    use super::*;

    fn retryable(after: Option<u64>) -> impl Fn(&SendError) -> bool {
        let after = after.map(Duration::from_secs);
        move |e| matches!(e, SendError::Retryable { retry_after, .. } if *retry_after == after)
    }

    #[test]
    fn statuses_map_to_what_the_hub_should_do() {
        assert_eq!(classify(StatusCode::CREATED, None, ""), Ok(()));
        assert_eq!(classify(StatusCode::NO_CONTENT, None, ""), Ok(()));
        let seven = Some(Duration::from_secs(7));
        let e = classify(StatusCode::TOO_MANY_REQUESTS, seven, "slow down").unwrap_err();
        assert!(retryable(Some(7))(&e), "{e:?}");
        assert!(retryable(None)(&classify(StatusCode::SERVICE_UNAVAILABLE, None, "").unwrap_err()));
        assert!(retryable(None)(&classify(StatusCode::REQUEST_TIMEOUT, None, "").unwrap_err()));
        for s in [400, 401, 403, 404, 410, 422, 301] {
            let e = classify(StatusCode::from_u16(s).unwrap(), None, "nope").unwrap_err();
            assert_eq!(e, SendError::Permanent { reason: format!("HTTP {s}: nope") });
        }
    }

    #[test]
    fn reasons_are_one_short_line() {
        let long = format!("line one\n  line two {}", "x".repeat(500));
        let r = reason(StatusCode::BAD_REQUEST, &long);
        assert!(r.starts_with("HTTP 400: line one line two xxx"), "{r}");
        assert!(r.chars().count() < 220 && r.ends_with('…'), "{r}");
        assert_eq!(reason(StatusCode::BAD_GATEWAY, " \n"), "HTTP 502");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(60)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:00:00 GMT"));
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn endpoints_encode_each_segment_under_the_base_path() {
        let base = base_url("k", "https://slack.com/api/").unwrap();
        assert_eq!(endpoint(&base, &["chat.postMessage"]).as_str(), "https://slack.com/api/chat.postMessage");
        let base = base_url("k", "http://127.0.0.1:9").unwrap();
        assert_eq!(
            endpoint(&base, &["v1", "users", "12/../x?y"]).as_str(),
            "http://127.0.0.1:9/v1/users/12%2F..%2Fx%3Fy"
        );
        assert_eq!(
            base_url("notify.x.api_base", "ftp://h").unwrap_err(),
            "notify.x.api_base: 'ftp://h' is not an http(s) URL"
        );
        assert!(base_url("k", "not a url").is_err());
    }

    #[tokio::test]
    async fn timeouts_and_refused_connections_are_retryable_and_name_no_url() {
        let slow = Loopback::start(vec![Reply::text(200, "late").after(Duration::from_millis(500))]).await;
        let http = client(Duration::from_millis(100)).unwrap();
        let e = execute(http.post(format!("{}/services/T0/B0/SECRET", slow.base))).await.unwrap_err();
        assert_eq!(e, SendError::Retryable { reason: "timed out".into(), retry_after: None });

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = execute(http.post(format!("http://{closed}/services/T0/B0/SECRET"))).await.unwrap_err();
        assert!(retryable(None)(&e), "{e:?}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[tokio::test]
    async fn a_redirect_is_reported_not_followed() {
        let server = Loopback::start(vec![Reply::text(302, "").header("location", "/elsewhere")]).await;
        let answer = execute(client(Duration::from_secs(5)).unwrap().post(&server.base)).await.unwrap();
        assert_eq!(answer.check(), Err(SendError::Permanent { reason: "HTTP 302".into() }));
        assert_eq!(server.requests().len(), 1);
    }
}
