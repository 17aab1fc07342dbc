//! The real binary as a process: a CLI command against a [`TestApp`]'s
//! database and SMTP sink, or a [`Server`] whose output is captured line by
//! line and which speaks raw HTTP/1.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::app::{DATA_ENCRYPTION_KEY, JWT_SECRET, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_user-management");

/// A command for the binary with a clean environment (no inherited settings).
pub fn binary(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// A free port on loopback (nobody listens on it once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The standard output of a finished command.
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The standard error of a finished command.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The binary with `app`'s database, JWT secret and SMTP sink.
fn against(app: &TestApp, dir: &Path) -> Command {
    let mut cmd = binary(dir);
    cmd.env("DATABASE_URL", &app.config.database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY)
        .env("SMTP_URL", app.smtp.url());
    cmd
}

/// Runs the binary's subcommand `args` against `app`'s database and SMTP
/// sink; panics with its output unless it succeeds; returns stdout.
pub fn cli(app: &TestApp, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let output = against(app, dir.path())
        .args(args)
        .output()
        .expect("run the binary");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr_of(&output)
    );
    stdout_of(&output)
}

/// As [`cli`], with `stdin` written to the subcommand's standard input; it
/// returns the whole output whatever the exit status, for the caller to check.
pub fn cli_with_stdin(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = against(app, dir.path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    if let Some(mut input) = child.stdin.take() {
        // A command that exits without reading its input closes the pipe;
        // its exit status then tells the story.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait for the binary")
}

/// Runs a subcommand that must fail; returns (stdout, stderr).
pub fn cli_failing(app: &TestApp, args: &[&str]) -> (String, String) {
    let output = cli_with_stdin(app, args, "");
    assert!(
        !output.status.success(),
        "{args:?} should fail; stdout: {}",
        stdout_of(&output)
    );
    (stdout_of(&output), stderr_of(&output))
}

/// The real binary serving on a port of loopback (SQLite in its directory
/// unless told otherwise), its stdout and stderr captured line by line;
/// killed when dropped.
pub struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// The port it listens on.
    pub port: u16,
    dir: PathBuf,
    _owned_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the binary with `env` and `args` in a new temp dir on a free
    /// port; returns once it printed its start-up banner.
    pub fn start(env: &[(&str, &str)], args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("dir");
        let mut server = Server::start_in(dir.path(), free_port(), env, args);
        server._owned_dir = Some(dir);
        server
    }

    /// As [`Server::start`], in `dir` (kept by the caller) on `port`.
    pub fn start_in(dir: &Path, port: u16, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = binary(dir)
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        let readers = streams
            .into_iter()
            .map(|stream| {
                let lines = Arc::clone(&lines);
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        lines.lock().expect("log lines").push(line);
                    }
                })
            })
            .collect();
        let server = Server {
            child,
            lines,
            readers,
            port,
            dir: dir.to_owned(),
            _owned_dir: None,
        };
        server.wait_for_line("the start-up banner", |l| l.contains("listening on"));
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory it runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every line it wrote so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lines").clone()
    }

    /// Everything it wrote so far, as one text.
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// The first output line matching `wanted`, waiting up to thirty seconds.
    pub fn wait_for_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| wanted(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {what} in the output:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM");
    }

    /// The exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The exit status, waiting at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL) and returns everything it wrote.
    pub fn kill(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.lines()
    }

    /// A connection to it, with a read timeout.
    pub fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(stream)
    }

    /// A one-shot HTTP/1.1 GET; returns (status, head, body).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut stream = self.connect().expect("connect");
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read the response");
        parse_response(&raw)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, head, body) of a raw HTTP/1.1 response.
pub fn parse_response(raw: &str) -> (u16, String, String) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    (status, head.to_owned(), body.to_owned())
}

/// The value of header `name` in a response head.
pub fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}

/// Bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary in `dir` with `env` (nothing inherited) and `stdin` closed.
pub fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    binary(dir)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the binary")
}

/// The permission bits of `path`.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The word after `marker` in `line`.
pub fn word_after<'a>(line: &'a str, marker: &str) -> &'a str {
    let (_, rest) = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {line}"));
    rest.split_whitespace().next().expect("a word")
}

/// The first `.txt` mail in `outbox` containing `marker`, waiting ten seconds.
pub fn mail_in(outbox: &Path, marker: &str) -> (PathBuf, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir(outbox).ok().and_then(|entries| {
            entries.filter_map(Result::ok).find_map(|e| {
                let path = e.path();
                let body = std::fs::read_to_string(&path).ok()?;
                (path.extension()? == "txt" && body.contains(marker)).then_some((path, body))
            })
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no mail with {marker} in {}",
            outbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
