//! A small WebDriver wrapper: a chromedriver of its own and a headless
//! Chromium with a fresh profile per [`Session`] (at most two at once, the
//! machine has two cores), waits on conditions, and after every step a
//! screenshot and the checks every page must pass (console, title, `lang`,
//! labels).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::{Backend, TestApp, in_ci, path_of};

/// Browser sessions at once across the test binary.
static SESSIONS: Semaphore = Semaphore::const_new(2);

/// How long a page, a wait or chromedriver's start may take on a loaded
/// two-core machine before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Chromium's flags: headless, no sandbox (CI runs as root), nothing that
/// reaches the network or the GPU on its own.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,900",
];

/// `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// chromedriver and the browser (Debian's Chromium, else a Google Chrome
/// such as hosted CI runners have), when both are installed.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let browser = on_path("chromium").or_else(|| on_path("google-chrome"))?;
    Some((on_path("chromedriver")?, browser))
}

/// Where screenshots go: `ci-artifacts/screenshots` in the target directory
/// (`CARGO_TARGET_DIR`, else the project's `target/`).
pub fn screenshot_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest.join("target"), |dir| manifest.join(dir));
    target.join("ci-artifacts").join("screenshots")
}

/// Removes the screenshots of an earlier run of the scenario `name`.
fn forget_screenshots(name: &str) {
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(screenshot_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A chromedriver process on a port of its own; dropping it ends its
/// browsers (`/shutdown`) and then the process.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(binary: &Path) -> Self {
        let port = crate::helpers::binary::free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port };
        let deadline = Instant::now() + PATIENCE;
        while !driver.request("GET", "/status").contains("\"ready\":true") {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// A blocking request to chromedriver (usable in `Drop`); the answer's
    /// text, empty when there was none.
    fn request(&self, method: &str, path: &str) -> String {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let mut answer = String::new();
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_string(&mut answer);
        }
        answer
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.request("GET", "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's log endpoint: the browser's console since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// One browser on one app. Fields drop in order: the client, then
/// chromedriver (taking Chromium with it), then the profile and the
/// scratch files, then the permit.
pub struct Session {
    client: Client,
    base: String,
    name: String,
    step: u32,
    _driver: Driver,
    _profile: tempfile::TempDir,
    files: tempfile::TempDir,
    _permit: SemaphorePermit<'static>,
}

/// The checks of every page, run in the page: its title, its `lang`, and
/// the inputs that have neither a `<label for>` nor an `aria-label`.
const PAGE_CHECKS: &str = r#"
const unlabelled = [...document.querySelectorAll('input, textarea, select')]
  .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
  .filter(e => !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
    && !(e.id && document.querySelector(`label[for="${CSS.escape(e.id)}"]`)))
  .map(e => e.name || e.outerHTML);
return { title: document.title, lang: document.documentElement.lang, unlabelled };
"#;

impl Session {
    /// A browser for `scenario` on `app`; `None` (with a message) when
    /// chromedriver or Chromium is missing, except under `CI=true`, where
    /// that fails the test.
    pub async fn start(app: &TestApp, scenario: &str) -> Option<Self> {
        let Some((chromedriver, chromium)) = tools() else {
            assert!(
                !in_ci(),
                "CI=true but chromedriver or chromium is not on PATH: \
                 install them with `apt-get install chromium chromium-driver` (.ci/services.sh ensure_chromium)"
            );
            eprintln!(
                "browser tests skipped: install chromium and chromium-driver (Debian) to run them"
            );
            return None;
        };
        let permit = SESSIONS.acquire().await.expect("session slots");
        let driver = tokio::task::block_in_place(|| Driver::start(&chromedriver));
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().cloned().expect("an object"))
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));
        let timeouts = TimeoutConfiguration::new(Some(PATIENCE), Some(PATIENCE), None);
        client.update_timeouts(timeouts).await.expect("timeouts");
        let backend = match app.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let name = format!("{scenario}-{backend}");
        forget_screenshots(&name);
        Some(Self {
            client,
            base: app.address.clone(),
            name,
            step: 0,
            _driver: driver,
            _profile: profile,
            files: tempfile::tempdir().expect("scratch dir"),
            _permit: permit,
        })
    }

    /// Ends the browser session (dropping it does too, less politely).
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    /// Opens `path` on the app.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.expect("navigate");
    }

    /// Opens a link from a mail, on the app's real address.
    pub async fn open_link(&self, link: &str) {
        self.goto(&path_of(link)).await;
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The current URL's origin (`scheme://host:port`).
    pub async fn origin(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        url.origin().ascii_serialization()
    }

    /// The app's origin.
    pub fn app_origin(&self) -> &str {
        &self.base
    }

    /// A directory that lives as long as the session (for files to upload).
    pub fn scratch(&self) -> &Path {
        self.files.path()
    }

    /// Types `value` into the input with id `id`, replacing what it held.
    pub async fn fill(&self, id: &str, value: &str) {
        let input = self.find(&format!("#{id}")).await;
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// Chooses `file` in the file input with id `id`.
    pub async fn choose_file(&self, id: &str, file: &Path) {
        let input = self.find(&format!("#{id}")).await;
        input
            .send_keys(&file.display().to_string())
            .await
            .expect("choose a file");
    }

    /// Presses the button whose text is `label` and waits for the page
    /// it leads to.
    pub async fn press(&self, label: &str) {
        self.navigate_by(&format!("//button[normalize-space()='{label}']"))
            .await;
    }

    /// Follows the link whose text is `text` and waits for its page.
    pub async fn follow(&self, text: &str) {
        self.navigate_by(&format!("//a[normalize-space()='{text}']"))
            .await;
    }

    /// Clicks the element at `xpath`, then waits until another document
    /// has loaded (the mark set on this one is gone).
    async fn navigate_by(&self, xpath: &str) {
        let element = match self.client.find(Locator::XPath(xpath)).await {
            Ok(element) => element,
            Err(e) => panic!("no {xpath} on {}: {e}", self.path().await),
        };
        self.script("window.umLeft = true; return null").await;
        element.click().await.expect("click");
        if !self
            .poll("return !window.umLeft && document.readyState === 'complete'")
            .await
        {
            let invalid = self
                .script("return [...document.querySelectorAll(':invalid')].map(e => e.name || e.tagName)")
                .await;
            panic!(
                "no page came after {xpath} on {} (fields the browser holds invalid: {invalid})",
                self.path().await
            );
        }
    }

    /// Makes the window `width` × `height` CSS pixels (a phone: 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }

    /// Types `keys` on the keyboard, into whatever has the focus (a
    /// character of `fantoccini::key::Key` for Tab, Enter, …).
    pub async fn keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client.perform_actions(actions).await.expect("keys");
    }

    /// Presses Tab until the element with id `id` has the focus (at most
    /// `tabs` times); panics if the keyboard cannot reach it.
    pub async fn tab_to(&self, id: &str, tabs: usize) {
        let tab = char::from(fantoccini::key::Key::Tab).to_string();
        for _ in 0..tabs {
            self.keys(&tab).await;
            if self.script("return document.activeElement?.id ?? ''").await == json!(id) {
                return;
            }
        }
        panic!(
            "{tabs} presses of Tab never reached #{id} on {}",
            self.path().await
        );
    }

    /// The current value of the input with id `id`.
    pub async fn value(&self, id: &str) -> String {
        self.find(&format!("#{id}"))
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Waits until `script` returns `true` in the page.
    pub async fn wait_until(&self, script: &str, what: &str) {
        if !self.poll(script).await {
            panic!("waited in vain for {what} on {}", self.path().await);
        }
    }

    /// Whether `script` returns `true` in the page within [`PATIENCE`].
    async fn poll(&self, script: &str) -> bool {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // A navigation in progress can fail a script: try again.
            if let Ok(Value::Bool(true)) = self.client.execute(script, Vec::new()).await {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element matching `css`.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("script")
    }

    /// The text of the page's `main`.
    pub async fn main_text(&self) -> String {
        self.find("main").await.text().await.expect("text")
    }

    /// Waits until the page's heading is `heading`.
    pub async fn wait_for_heading(&self, heading: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let shown = self.script("return document.querySelector('h1')?.textContent ?? ''");
            let shown = shown.await;
            if shown.as_str() == Some(heading) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited for the page {heading:?}; {} shows {shown} and says: {}",
                self.path().await,
                self.main_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the page `heading`, then takes the step's screenshot and
    /// checks the page: no console error or policy violation, a title, a
    /// language, every input labelled.
    pub async fn step(&mut self, name: &str, heading: &str) {
        self.wait_for_heading(heading).await;
        self.step += 1;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.client.screenshot().await.expect("screenshot");
        let file = dir.join(format!("{}-{:02}-{name}.png", self.name, self.step));
        std::fs::write(&file, png).expect("write screenshot");
        self.check_page(name).await;
    }

    async fn check_page(&self, step: &str) {
        let found = self.script(PAGE_CHECKS).await;
        let title = found["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "{step}: the page has no title");
        assert!(
            !found["lang"].as_str().unwrap_or_default().is_empty(),
            "{step}: <html> has no lang"
        );
        assert_eq!(
            found["unlabelled"],
            json!([]),
            "{step}: inputs without a label"
        );
        let problems = self.console_problems().await;
        assert!(
            problems.is_empty(),
            "{step}: the console shows {problems:#?}"
        );
    }

    /// Console entries since the last read that point at a fault: a policy
    /// violation, a script error, a stylesheet or image that failed to
    /// load. (A page answered with an error status is logged too; that is
    /// the page's own answer, checked by its heading.)
    pub async fn console_problems(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver's log endpoint");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| is_problem(entry))
            .map(|entry| format!("{} {}", entry["source"], entry["message"]))
            .collect()
    }
}

impl Session {
    /// Waits until the console shows a problem and returns what it shows.
    pub async fn wait_for_console_problem(&self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let problems = self.console_problems().await;
            if !problems.is_empty() {
                return problems;
            }
            assert!(
                Instant::now() < deadline,
                "the console showed no problem on {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether a console entry points at a fault of the page.
fn is_problem(entry: &Value) -> bool {
    let message = entry["message"].as_str().unwrap_or_default();
    match entry["source"].as_str().unwrap_or_default() {
        "security" | "javascript" | "console-api" => true,
        "network" => message.contains("/assets/") || message.contains("/pictures/"),
        _ => entry["level"] == "SEVERE",
    }
}
