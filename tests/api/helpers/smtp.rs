//! A real SMTP server for the black-box tests: the service under test sends
//! mail to it over TCP exactly as it would to a production relay, and the
//! tests inspect what arrived.
//!
//! The sink speaks plain (no TLS, no AUTH) ESMTP on `127.0.0.1`, accepts every
//! sender and recipient, and keeps each message in memory. Tests can also
//! simulate trouble: [`SmtpSink::stop`] is a real outage (listener closed and
//! open sessions cut), and [`SmtpSink::fail_next`] makes the next messages
//! fail with a temporary `451` error.
//!
//! [`SmtpSink`] is a cheap handle (`Clone`, all clones share one server); the
//! server shuts down when the last handle is dropped.

// Not every test uses every part of the sink (the envelope sender, its
// port), and unused items in an integration test module would otherwise
// fail `clippy -D warnings`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders, PartType};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};

/// How long [`SmtpSink::restart`] keeps trying to bind the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle to a running SMTP sink. Clones share the same server and mailbox.
#[derive(Clone)]
pub struct SmtpSink {
    inner: Arc<Inner>,
}

/// A message as received: envelope sender and recipients plus the message
/// data exactly as transmitted (after undoing dot-stuffing).
#[derive(Clone, Debug)]
pub struct Captured {
    /// `MAIL FROM` address, without angle brackets (empty for `<>`).
    pub from: String,
    /// `RCPT TO` addresses, without angle brackets, in order.
    pub to: Vec<String>,
    /// Headers and body with CRLF line endings, lossily decoded as UTF-8.
    pub raw: String,
}

struct Inner {
    port: u16,
    shared: Arc<Shared>,
    /// `None` while stopped. An async mutex because `stop`/`restart` hold it
    /// across awaits, so concurrent calls cannot interleave.
    server: Mutex<Option<Server>>,
}

/// State the connection tasks need; kept apart from [`Inner`] so that those
/// tasks do not keep the server handles alive.
struct Shared {
    /// All captured messages; a watch channel so `wait_for` can sleep until
    /// the count changes instead of polling.
    messages: watch::Sender<Vec<Captured>>,
    fail_next: AtomicUsize,
}

/// A listening server: the accept loop plus one task per open session.
struct Server {
    accept: JoinHandle<()>,
    sessions: Arc<StdMutex<JoinSet<()>>>,
}

impl SmtpSink {
    /// Starts a sink listening on `127.0.0.1` on a free port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("SMTP sink: bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("SMTP sink: local address")
            .port();
        let shared = Arc::new(Shared {
            messages: watch::Sender::new(Vec::new()),
            fail_next: AtomicUsize::new(0),
        });
        let server = Server::spawn(listener, Arc::clone(&shared));
        SmtpSink {
            inner: Arc::new(Inner {
                port,
                shared,
                server: Mutex::new(Some(server)),
            }),
        }
    }

    /// The TCP port; it stays the same across [`stop`](Self::stop) and
    /// [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// SMTP URL for the service configuration, without TLS.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.inner.port)
    }

    /// Simulates an outage: stops listening and cuts every open session.
    /// Returns once the sockets are closed. Captured messages are kept.
    pub async fn stop(&self) {
        let mut server = self.inner.server.lock().await;
        if let Some(server) = server.take() {
            server.shutdown().await;
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop) (a no-op if
    /// running). Retries the bind for a few seconds, then panics.
    pub async fn restart(&self) {
        let mut server = self.inner.server.lock().await;
        if server.is_some() {
            return;
        }
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.inner.port)).await {
                Ok(listener) => break listener,
                // The old sockets may linger briefly after an abort.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!(
                    "SMTP sink: cannot listen on 127.0.0.1:{} again within {REBIND_TIMEOUT:?}: {err}",
                    self.inner.port
                ),
            }
        };
        *server = Some(Server::spawn(listener, Arc::clone(&self.inner.shared)));
    }

    /// Every message captured so far, in arrival order.
    pub fn messages(&self) -> Vec<Captured> {
        self.inner.shared.messages.borrow().clone()
    }

    /// Waits until at least `n` messages have been captured and returns all
    /// of them. Panics after `timeout`, saying how many arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Captured> {
        let mut receiver = self.inner.shared.messages.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            receiver
                .wait_for(|messages| messages.len() >= n)
                .await
                .map(|messages| messages.clone())
        })
        .await;
        match waited {
            Ok(messages) => messages.expect("SMTP sink: the sink owns the sender"),
            Err(_) => {
                let arrived = self.messages();
                let subjects: Vec<String> = arrived.iter().map(Captured::subject_or_raw).collect();
                panic!(
                    "SMTP sink: timed out after {timeout:?} waiting for {n} message(s); {} arrived: {subjects:?}",
                    arrived.len()
                );
            }
        }
    }

    /// Answers the end of the next `n` messages' data with
    /// `451 4.3.0` (temporary failure); such messages are not captured.
    pub fn fail_next(&self, n: usize) {
        self.inner.shared.fail_next.store(n, Ordering::SeqCst);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last handle gone: don't leave a listener running for the rest of
        // the test binary. Aborting is enough here; nobody waits for it.
        if let Some(server) = self.server.get_mut().take() {
            server.accept.abort();
            lock(&server.sessions).abort_all();
        }
    }
}

impl Server {
    fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Server {
        let sessions = Arc::new(StdMutex::new(JoinSet::new()));
        let accept = tokio::spawn(accept_loop(listener, shared, Arc::clone(&sessions)));
        Server { accept, sessions }
    }

    /// Closes the listener, then aborts every session and waits until their
    /// sockets are dropped, so the outage is in effect when this returns.
    async fn shutdown(self) {
        self.accept.abort();
        // Resolves once the task (and with it the listener) is gone. The
        // result is a cancellation error by design.
        let _ = self.accept.await;
        let mut sessions = std::mem::take(&mut *lock(&self.sessions));
        sessions.shutdown().await;
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make every later test fail too.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    sessions: Arc<StdMutex<JoinSet<()>>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let mut sessions = lock(&sessions);
                // Forget sessions that already ended so the set stays small.
                while sessions.try_join_next().is_some() {}
                sessions.spawn(session(stream, Arc::clone(&shared)));
            }
            // Transient accept errors (e.g. too many open files) must not
            // take the sink down; back off briefly and keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One SMTP session. I/O errors simply end it, like a real server would.
async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let _ = serve(stream, &shared).await;
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

impl Envelope {
    /// `MAIL FROM:`; returns the reply.
    fn mail(&mut self, arg: &str) -> &'static str {
        match strip_prefix_ignore_case(arg, "FROM:") {
            _ if self.from.is_some() => "503 5.5.1 Nested MAIL command\r\n",
            Some(path) => {
                self.from = Some(parse_path(path));
                "250 2.1.0 OK\r\n"
            }
            None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
        }
    }

    /// `RCPT TO:`; returns the reply.
    fn rcpt(&mut self, arg: &str) -> &'static str {
        match strip_prefix_ignore_case(arg, "TO:") {
            _ if self.from.is_none() => "503 5.5.1 Need MAIL before RCPT\r\n",
            Some(path) => {
                self.to.push(parse_path(path));
                "250 2.1.5 OK\r\n"
            }
            None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n",
        }
    }
}

/// Keeps the message `data` of `envelope` (unless a failure is due);
/// returns the reply to the end of `DATA`.
fn deliver(shared: &Shared, envelope: Envelope, data: &[u8]) -> &'static str {
    if take_failure(&shared.fail_next) {
        return "451 4.3.0 Temporary failure (injected by the test)\r\n";
    }
    let message = Captured {
        from: envelope.from.unwrap_or_default(),
        to: envelope.to,
        raw: String::from_utf8_lossy(data).into_owned(),
    };
    // Stored before the 250 goes out, so a test that saw the send succeed
    // also sees the message.
    shared
        .messages
        .send_modify(|messages| messages.push(message));
    "250 2.0.0 OK: queued\r\n"
}

/// One SMTP session on `stream`, until QUIT or the client goes.
async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer
        .write_all(b"220 127.0.0.1 ESMTP test sink ready\r\n")
        .await?;

    let mut envelope = Envelope::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply: &str = match verb.to_ascii_uppercase().as_str() {
            // Deliberately no STARTTLS and no AUTH: clients must work with a
            // plain relay.
            "EHLO" => {
                envelope = Envelope::default();
                "250-127.0.0.1 greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            }
            "HELO" => {
                envelope = Envelope::default();
                "250 127.0.0.1\r\n"
            }
            "MAIL" => envelope.mail(arg),
            "RCPT" => envelope.rcpt(arg),
            "DATA" if envelope.to.is_empty() => "503 5.5.1 Need RCPT before DATA\r\n",
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut reader).await? else {
                    // Connection closed mid-message: nothing was delivered.
                    return Ok(());
                };
                deliver(shared, std::mem::take(&mut envelope), &data)
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not implemented\r\n",
        };
        writer.write_all(reply.as_bytes()).await?;
    }
}

/// Reads message data up to the lone `.` line, undoing dot-stuffing.
/// `None` if the client disconnects first.
async fn read_data<R>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>>
where
    R: AsyncBufReadExt + Unpin,
{
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

/// Consumes one injected failure, if any are left.
fn take_failure(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `<user@example.com> SIZE=123` → `user@example.com` (parameters ignored).
fn parse_path(arg: &str) -> String {
    let arg = arg.trim_start();
    match arg.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or_default().to_owned(),
        None => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

impl Captured {
    /// The decoded `Subject` header. Panics if there is none.
    pub fn subject(&self) -> String {
        self.parse()
            .subject()
            .unwrap_or_else(|| panic!("captured message has no Subject:\n{}", self.raw))
            .to_owned()
    }

    /// The decoded `text/plain` part (transfer encoding undone, line endings
    /// normalised to `\n`). Panics if the message has no such part.
    pub fn text(&self) -> String {
        self.body("plain")
    }

    /// The decoded `text/html` part (transfer encoding undone, line endings
    /// normalised to `\n`). Panics if the message has no such part.
    pub fn html(&self) -> String {
        self.body("html")
    }

    /// The first top-level header called `name` (case-insensitive), as
    /// transmitted: unfolded and trimmed, but not RFC 2047-decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parse();
        message
            .headers_raw()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| unfold(value))
    }

    fn parse(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(self.raw.as_bytes())
            .unwrap_or_else(|| panic!("captured message is not parseable:\n{}", self.raw))
    }

    /// First non-multipart part of type `text/<subtype>`.
    fn body(&self, subtype: &str) -> String {
        let message = self.parse();
        let content = message.parts.iter().find_map(|part| {
            // A part without Content-Type is text/plain by definition.
            let matches = match part.content_type() {
                Some(_) => part.is_content_type("text", subtype),
                None => subtype == "plain",
            };
            match &part.body {
                PartType::Text(text) | PartType::Html(text) if matches => Some(text.to_string()),
                _ => None,
            }
        });
        match content {
            Some(text) => text.replace("\r\n", "\n"),
            None => panic!("captured message has no text/{subtype} part:\n{}", self.raw),
        }
    }

    /// For diagnostics: the subject if it parses, else the start of the data.
    fn subject_or_raw(&self) -> String {
        MessageParser::default()
            .parse(self.raw.as_bytes())
            .and_then(|message| message.subject().map(str::to_owned))
            .unwrap_or_else(|| self.raw.chars().take(80).collect())
    }
}

/// Undoes header folding (CRLF followed by whitespace) and trims.
fn unfold(value: &str) -> String {
    value
        .split("\r\n")
        .flat_map(|line| line.split('\n'))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
