//! A real SMTP server on a loopback port, for tests of the email channel (unit tests here, and
//! integration tests under `tests/` with the `integration` feature).
//!
//! `mailin` is the SMTP state machine (no I/O of its own); this file is the tokio listener around
//! it and a small MIME reader, so a test can assert on the decoded text and HTML parts of what
//! lettre actually put on the wire. [`SmtpListener::start_failing`] answers `451` to DATA for the
//! first messages, as a relay with a transient problem does, to test retries; a
//! recipient `nobody@…` gets `550` (no such mailbox), to test permanent failures.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use mailin::{response, Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One message as the server accepted it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: Vec<u8>,
}

/// One leaf part of a message, its transfer encoding undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// Lowercased, without parameters: `text/plain`.
    pub content_type: String,
    pub body: String,
}

pub struct SmtpListener {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<ReceivedMail>,
    refusals_left: Arc<AtomicUsize>,
    accept_loop: JoinHandle<()>,
}

struct Shared {
    sender: mpsc::UnboundedSender<ReceivedMail>,
    refusals_left: Arc<AtomicUsize>,
}

impl SmtpListener {
    /// Accepts every message.
    pub async fn start() -> io::Result<Self> {
        Self::start_failing(0).await
    }

    /// Answers `451` to DATA for the first `refusals` messages (they are not kept).
    pub async fn start_failing(refusals: usize) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (sender, received) = mpsc::unbounded_channel();
        let refusals_left = Arc::new(AtomicUsize::new(refusals));
        let shared = Arc::new(Shared { sender, refusals_left: refusals_left.clone() });
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, shared).await {
                        tracing::debug!(error = %e, "test SMTP connection ended");
                    }
                });
            }
        });
        Ok(SmtpListener { addr, received, refusals_left, accept_loop })
    }

    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many of the scripted `451`s are still to come.
    pub fn refusals_left(&self) -> usize {
        self.refusals_left.load(Ordering::SeqCst)
    }

    /// The next accepted message, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<ReceivedMail> {
        tokio::time::timeout(within, self.received.recv()).await.ok().flatten()
    }

    /// A message already accepted, without waiting.
    pub fn try_next(&mut self) -> Option<ReceivedMail> {
        self.received.try_recv().ok()
    }
}

impl Drop for SmtpListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// One SMTP connection: lines in, mailin's replies out.
async fn serve(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let peer = stream.peer_addr()?.ip();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let collector = Collector { shared, from: String::new(), to: Vec::new(), data: Vec::new() };
    let mut session = SessionBuilder::new("smtp.test").build(peer, collector);
    write.write_all(&session.greeting().buffer()?).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let reply = session.process(&line);
        match reply.action {
            Action::Reply => write.write_all(&reply.buffer()?).await?,
            Action::Close => {
                write.write_all(&reply.buffer()?).await?;
                return Ok(());
            }
            Action::NoReply => {}
            // STARTTLS is never offered, so a client cannot ask for it.
            Action::UpgradeTls => return Ok(()),
        }
    }
}

/// mailin's callbacks for one connection: collects each message and hands it over at its end.
struct Collector {
    shared: Arc<Shared>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    /// Mailboxes named `nobody@…` do not exist (550), to test permanent failures.
    fn rcpt(&mut self, to: &str) -> Response {
        if to.trim_start_matches('<').starts_with("nobody@") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    /// Refuses with `451` while scripted refusals are left. The refusal answers the DATA command:
    /// mailin keeps a session in its DATA state after a failed end of data, so a refusal there
    /// would leave the connection unable to take the client's next command.
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        let refused = self
            .shared
            .refusals_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return response::INTERNAL_ERROR; // 451
        }
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = ReceivedMail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        let _ = self.shared.sender.send(mail);
        response::OK
    }
}

impl ReceivedMail {
    /// A top-level header, unfolded, with RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_head(&self.data);
        header_in(head, name).map(|v| decode_words(&v))
    }

    /// Every leaf part, decoded; a message that is not multipart is its own single part.
    pub fn parts(&self) -> Vec<MimePart> {
        let mut out = Vec::new();
        collect_parts(&self.data, &mut out);
        out
    }

    /// The first part of `content_type` (e.g. `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        self.parts().into_iter().find(|p| p.content_type == content_type).map(|p| p.body)
    }
}

/// Headers and body of an entity, split at the first empty line.
fn split_head(entity: &[u8]) -> (&str, &[u8]) {
    let at = entity.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match at {
        Some(i) => (&entity[..i], &entity[i + 4..]),
        None => (entity, &[][..]),
    };
    (std::str::from_utf8(head).unwrap_or(""), body)
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match unfolded.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => unfolded.push(line.to_string()),
        }
    }
    unfolded.into_iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The value of `param` in a header such as `multipart/alternative; boundary="x"`.
fn parameter(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(param).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn collect_parts(entity: &[u8], out: &mut Vec<MimePart>) {
    let (head, body) = split_head(entity);
    let content_type = header_in(head, "Content-Type").unwrap_or_else(|| "text/plain".into());
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if let (true, Some(boundary)) = (mime.starts_with("multipart/"), parameter(&content_type, "boundary")) {
        let delimiter = format!("--{boundary}");
        let text = String::from_utf8_lossy(body);
        for chunk in text.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            collect_parts(chunk.trim_start_matches("\r\n").as_bytes(), out);
        }
        return;
    }
    let encoding = header_in(head, "Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "base64" => {
            let compact: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default()
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_vec(),
    };
    let body = String::from_utf8_lossy(&decoded).trim_end_matches("\r\n").to_string();
    out.push(MimePart { content_type: mime, body });
}

/// Undoes quoted-printable: `=XX` bytes and `=\r\n` soft line breaks.
fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'=' {
            if input[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            let hex = input.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Decodes RFC 2047 `=?utf-8?B?…?=` / `=?utf-8?Q?…?=` words (how lettre writes non-ASCII headers).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        let mut fields = word[2..].splitn(3, '?');
        let (Some(_charset), Some(encoding), Some(tail)) = (fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let Some(end) = tail.find("?=") else { break };
        // Whitespace between two encoded words is folding, not text.
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let text = &tail[..end];
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
        } else {
            quoted_printable(text.replace('_', " ").as_bytes())
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &tail[end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multipart_messages_in_any_transfer_encoding() {
        let raw = "Subject: =?utf-8?b?TGVhZDog?= =?utf-8?q?M=C3=BCller?=\r\n\
                   Content-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n\r\n\
                   --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nM=C3=BCller a=3Db lo=\r\nng\r\n\
                   --b1\r\nContent-Type: text/html; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nPHA+aGk8L3A+\r\n--b1--\r\n";
        let mail = ReceivedMail { from: String::new(), to: vec![], data: raw.as_bytes().to_vec() };
        assert_eq!(mail.header("subject").as_deref(), Some("Lead: Müller"));
        assert_eq!(mail.part("text/plain").as_deref(), Some("Müller a=b long"));
        assert_eq!(mail.part("text/html").as_deref(), Some("<p>hi</p>"));
        assert_eq!(mail.parts().len(), 2);
    }
}
