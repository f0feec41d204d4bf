//! Email over SMTP submission (lettre, pooled connections): a multipart/alternative message with
//! the `email_text` and `email_html` templates, so every client shows something sensible.
//!
//! The `Message-ID` is derived from the notice id (UUIDv5), and the notice id itself travels in
//! `X-Speedlead-Notice`: a retry of the same notice is recognisably the same message, to mail
//! servers that deduplicate and to people reading headers.
//!
//! SMTP says itself what a failure means: 4xx replies are transient (retry), 5xx permanent (a
//! bad mailbox, a refused sender, failed authentication). No reply at all — a refused
//! connection, a timeout, a TLS failure — is retried.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use super::{require, EmailSettings, TlsMode, CONFIG_PATH};
use crate::notify::templates::{self, Templates};
use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};

const NOTICE_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Speedlead-Notice");

/// Namespace of the `Message-ID`s derived from notice ids.
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5eed_1ead_0e3a_4c1d_9a7e_6d2b_51c0_e3a1);

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Arc<Templates>,
}

impl EmailChannel {
    /// Builds the pooled transport; call it inside the tokio runtime (the pool keeps a task).
    pub fn new(settings: &EmailSettings, templates: Arc<Templates>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        require(&mut problems, "email.host", &settings.host);
        let from = settings.from.trim().parse::<Mailbox>().map_err(|_| {
            problems.push(format!("{CONFIG_PATH}.email.from: '{}' is not an email address", settings.from))
        });
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                Some(Credentials::new(user.clone(), password.expose().to_string()))
            }
            (None, None) => None,
            _ => {
                problems.push(format!("{CONFIG_PATH}.email: set both `username` and `password`, or neither"));
                None
            }
        };
        if settings.timeout_ms == 0 {
            problems.push(format!("{CONFIG_PATH}.email.timeout_ms: must be above 0"));
        }
        let host = settings.host.trim();
        let builder = match settings.tls {
            TlsMode::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)),
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        }
        .map_err(|e| problems.push(format!("{CONFIG_PATH}.email: TLS for '{host}': {e}")));
        let (Ok(builder), Ok(from), true) = (builder, from, problems.is_empty()) else {
            return Err(problems);
        };
        let default_port = match settings.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        };
        let mut builder = builder
            .port(settings.port.unwrap_or(default_port))
            .timeout(Some(Duration::from_millis(settings.timeout_ms)));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(EmailChannel { transport: builder.build(), from, templates })
    }

    fn message(&self, notice: &Notice, to: Mailbox) -> Result<Message, SendError> {
        let render =
            |name| self.templates.render(name, notice).map_err(|reason| SendError::Permanent { reason });
        // A subject is one line, whatever the template produced.
        let subject = render(templates::EMAIL_SUBJECT)?.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = render(templates::EMAIL_TEXT)?;
        let html = render(templates::EMAIL_HTML)?;
        let message_id = Uuid::new_v5(&MESSAGE_ID_NAMESPACE, notice.id.as_bytes());
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@{}>", self.from.email.domain())))
            .raw_header(HeaderValue::new(NOTICE_HEADER, notice.id.clone()))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Permanent { reason: format!("message: {e}") })
    }
}

/// The server's queue id from its `250` answer ("2.0.0 Ok: queued as 4Bx9…"), when it says.
fn queue_id(response: &lettre::transport::smtp::response::Response) -> Option<String> {
    response.message().find_map(|line| {
        let (_, after) = line.split_once("queued as ")?;
        after.split_whitespace().next().map(str::to_string)
    })
}

/// 4xx and no answer at all → retry; 5xx and a message lettre cannot send → permanent.
fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    let reason = format!("smtp: {e}");
    if e.is_permanent() || e.is_client() {
        SendError::Permanent { reason }
    } else {
        SendError::Retryable { reason, retry_after: None }
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
        let to: Mailbox = to.trim().parse().map_err(|_| SendError::Permanent {
            reason: format!("'{}' is not an email address", to.trim()),
        })?;
        let message = self.message(notice, to)?;
        let response = self.transport.send(message).await.map_err(smtp_error)?;
        Ok(Sent { provider_id: queue_id(&response) })
    }
}

#[cfg(test)]
mod tests {
    use super::super::smtp_listener::SmtpListener;
    use super::super::test_server::{notice, templates};
    use super::super::Secret;
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn settings(port: u16) -> EmailSettings {
        EmailSettings {
            enabled: true,
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "Speedlead <leads@speedlead.test>".into(),
            timeout_ms: 5_000,
        }
    }

    fn channel(port: u16) -> EmailChannel {
        EmailChannel::new(&settings(port), templates()).unwrap()
    }

    #[tokio::test]
    async fn delivers_text_and_html_with_the_accept_link() {
        let mut server = SmtpListener::start().await.unwrap();
        let n = notice();
        channel(server.port()).send(&n, "Dana Scully <dana@example.com>").await.unwrap();
        let mail = server.next(WAIT).await.expect("a message");
        assert_eq!(mail.from, "leads@speedlead.test");
        assert_eq!(mail.to, ["dana@example.com"]);
        assert_eq!(mail.header("Subject").as_deref(), Some("[HOT] New lead: Ana Lima (Acme GmbH)"));
        assert_eq!(mail.header("From").as_deref(), Some("Speedlead <leads@speedlead.test>"));
        assert_eq!(mail.header("X-Speedlead-Notice").as_deref(), Some(n.id.as_str()));
        let message_id = mail.header("Message-ID").unwrap();
        assert!(message_id.starts_with('<') && message_id.ends_with("@speedlead.test>"), "{message_id}");
        assert!(mail.header("Content-Type").unwrap().starts_with("multipart/alternative"));

        let text = mail.part("text/plain").expect("a text part");
        assert!(text.contains("Ana Lima") && text.contains("Acme GmbH"), "{text}");
        assert!(text.contains(&format!("Accept it: {}", n.accept_url)), "{text}");
        let html = mail.part("text/html").expect("an HTML part");
        assert!(html.contains("<strong>Ana Lima</strong>"), "{html}");
        let escaped_link = n.accept_url.replace('/', "&#x2f;");
        assert!(html.contains(&format!("<a href=\"{escaped_link}\"")), "{html}");
        assert!(server.try_next().is_none());
    }

    #[tokio::test]
    async fn a_retry_of_the_same_notice_is_the_same_message() {
        let mut server = SmtpListener::start().await.unwrap();
        let c = channel(server.port());
        c.send(&notice(), "dana@example.com").await.unwrap();
        c.send(&notice(), "dana@example.com").await.unwrap();
        let mut other = notice();
        other.id = "n-other:1".into();
        c.send(&other, "dana@example.com").await.unwrap();
        let ids: Vec<String> = [
            server.next(WAIT).await.unwrap(),
            server.next(WAIT).await.unwrap(),
            server.next(WAIT).await.unwrap(),
        ]
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
    }

    #[tokio::test]
    async fn a_451_is_retryable_and_the_retry_arrives() {
        let mut server = SmtpListener::start_failing(1).await.unwrap();
        let c = channel(server.port());
        let err = c.send(&notice(), "dana@example.com").await.unwrap_err();
        assert!(
            matches!(err, SendError::Retryable { ref reason, retry_after: None } if reason.contains("451")),
            "{err:?}"
        );
        assert_eq!(server.refusals_left(), 0);
        assert!(server.try_next().is_none());
        c.send(&notice(), "dana@example.com").await.unwrap();
        assert!(server.next(WAIT).await.is_some());
    }

    #[tokio::test]
    async fn an_unknown_mailbox_is_permanent() {
        let server = SmtpListener::start().await.unwrap();
        let err = channel(server.port()).send(&notice(), "nobody@example.com").await.unwrap_err();
        assert!(matches!(err, SendError::Permanent { ref reason } if reason.contains("550")), "{err:?}");
    }

    #[tokio::test]
    async fn no_server_is_retryable_and_a_bad_address_is_permanent() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = channel(closed).send(&notice(), "dana@example.com").await.unwrap_err();
        assert_eq!(err.outcome(), "retryable", "{err:?}");
        let err = channel(closed).send(&notice(), "dana at example").await.unwrap_err();
        assert_eq!(err, SendError::Permanent { reason: "'dana at example' is not an email address".into() });
    }

    #[tokio::test]
    async fn settings_are_checked_and_the_password_stays_secret() {
        let mut s = settings(25);
        s.from = "nope".into();
        s.username = Some("u".into());
        let problems = EmailChannel::new(&s, templates()).err().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        s.from = "leads@speedlead.test".into();
        s.password = Some(Secret::new("hunter2"));
        s.tls = TlsMode::Starttls;
        assert!(EmailChannel::new(&s, templates()).is_ok());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
