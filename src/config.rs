//! Typed configuration from the environment (and `.env`), checked at start-up.
//!
//! Every setting is both a command-line flag and an environment variable, so
//! `user-management --help` documents them all. Defaults are the embedded
//! profile: SQLite and local files under `data/`, mail to `data/outbox/`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// The shortest JWT secret accepted outside the embedded default.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The service configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Database: `sqlite://path` (embedded default) or `postgres://user:pw@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/users.db")]
    pub database_url: String,

    /// Object storage for profile pictures: `file://dir` or `s3://bucket`.
    #[arg(long, env = "STORAGE_URL", default_value = "file://data/objects")]
    pub storage_url: String,

    /// S3 endpoint, e.g. `http://minio:9000` (path-style addressing).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// S3 access key id.
    #[arg(long, env = "S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<SecretString>,

    /// SMTP server, `smtp://user:pw@host:587?tls=starttls` (`tls=none|starttls|tls`).
    /// Unset: mail is written to `data/outbox/` and noted in the log.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender address of every email.
    #[arg(long, env = "MAIL_FROM", default_value = "no-reply@localhost")]
    pub mail_from: String,

    /// Directory whose `*.md` files replace the built-in email templates of the same name.
    #[arg(long, env = "EMAIL_TEMPLATES_DIR")]
    pub email_templates_dir: Option<PathBuf>,

    /// The product's name on the pages.
    #[arg(long, env = "PRODUCT_NAME", default_value = "User Management")]
    pub product_name: String,

    /// The pages' accent colour, `#rgb` or `#rrggbb`.
    #[arg(long, env = "ACCENT_COLOR", default_value = "#2557a7", value_parser = parse_colour)]
    pub accent_color: String,

    /// A logo for the pages' header (`.png`, `.svg`, `.webp` or `.jpg`).
    #[arg(long, env = "LOGO_FILE")]
    pub logo_file: Option<PathBuf>,

    /// Directory whose files replace the built-in page templates (`*.html`,
    /// `style.css`) of the same name.
    #[arg(long, env = "PAGE_TEMPLATES_DIR")]
    pub page_templates_dir: Option<PathBuf>,

    /// Origins (`https://app.example.com`, comma-separated) a `return_to`
    /// may lead to after signing in; paths on this service always may.
    #[arg(long, env = "RETURN_TO_ORIGINS", value_delimiter = ',')]
    pub return_to_origins: Vec<String>,

    /// Delivery attempts before a message is given up (kept as failed).
    #[arg(long, env = "MAIL_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub mail_max_attempts: i32,

    /// Reset (or suspension notice), verification, lock and address
    /// confirmation mails one address receives per hour at most (0: no
    /// limit); beyond it nothing is sent, created or retired.
    #[arg(long, env = "MAIL_RECIPIENT_LIMIT", default_value_t = 3)]
    pub mail_recipient_limit: u32,

    /// Delay before the first retry; each further retry waits twice as long (capped at 1h).
    #[arg(long, env = "MAIL_RETRY_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub mail_retry_delay: Duration,

    /// Address to listen on: an IP address or a host name (`localhost`).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,

    /// The URL clients reach this service at; used in emails, links and as
    /// the token issuer. Unset: `http://localhost:PORT` (or `http://HOST:PORT`
    /// for a specific non-loopback HOST), with the port actually bound.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// The link of the verification mail, as a URL template: `{token}`
    /// (required) and `{user_id}` are filled in, percent-encoded, e.g.
    /// `https://app.example.com/verify?uid={user_id}&t={token}`. Unset: this
    /// service's own link, `PUBLIC_BASE_URL/verify-email/{user_id}/{token}`.
    #[arg(long, env = "VERIFY_LINK_TEMPLATE")]
    pub verify_link_template: Option<String>,

    /// The link of the password reset mail, as a URL template like
    /// `VERIFY_LINK_TEMPLATE`. Unset: `PUBLIC_BASE_URL/password/reset?token={token}`.
    #[arg(long, env = "RESET_LINK_TEMPLATE")]
    pub reset_link_template: Option<String>,

    /// HMAC secret for access tokens, at least 32 bytes. Generated and kept in
    /// the data directory on the embedded default; required otherwise.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// Key that encrypts secrets at rest: 32 random bytes as base64 or hex.
    /// Generated and kept in the data directory on the embedded default;
    /// required otherwise.
    #[arg(long, env = "DATA_ENCRYPTION_KEY", hide_env_values = true)]
    pub data_encryption_key: Option<SecretString>,

    /// Earlier `DATA_ENCRYPTION_KEY` values, comma-separated: after a
    /// rotation they still open what they sealed; nothing new is sealed with them.
    #[arg(long, env = "DATA_ENCRYPTION_KEY_PREVIOUS", hide_env_values = true)]
    pub data_encryption_key_previous: Option<SecretString>,

    /// Preview: `on` opens the `/me/mfa/…` enrolment routes (404 while
    /// `off`). Sign-in does not ask for the second factor yet.
    #[arg(long, env = "MFA_ENROLMENT", default_value = "off", value_parser = parse_switch)]
    pub mfa_enrolment: bool,

    /// Lifetime of an access token.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of a refresh token (sliding: each rotation renews it).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "14d", value_parser = parse_duration)]
    pub refresh_token_ttl: Duration,

    /// Lifetime of an email verification link (and of the link confirming
    /// a new address).
    #[arg(long, env = "EMAIL_VERIFICATION_TTL", default_value = "24h", value_parser = parse_duration)]
    pub email_verification_ttl: Duration,

    /// Lifetime of a password reset link.
    #[arg(long, env = "PASSWORD_RESET_TTL", default_value = "1h", value_parser = parse_duration)]
    pub password_reset_ttl: Duration,

    /// Consecutive failed logins that lock an account.
    #[arg(long, env = "MAX_LOGIN_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_login_attempts: u32,

    /// How long a lock lasts; `0` keeps it until staff unlock it or the password is reset.
    #[arg(long, env = "LOCKOUT_DURATION", default_value = "15m", value_parser = parse_duration)]
    pub lockout_duration: Duration,

    /// Failed-login counts kept for addresses without an account (each
    /// locks like an account would); past it the oldest are forgotten.
    #[arg(long, env = "UNKNOWN_LOGIN_ROWS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub unknown_login_rows: u64,

    /// Requests per minute per client address on the authentication endpoints (0 disables).
    #[arg(long, env = "AUTH_RATE_LIMIT", default_value_t = 30)]
    pub auth_rate_limit: u32,

    /// Leading bits of an IPv6 client address that make one rate-limit
    /// client (32 to 128; 64: one budget per /64, as a host usually holds a whole /64).
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = 64, value_parser = clap::value_parser!(u8).range(32..=128))]
    pub rate_limit_ipv6_prefix: u8,

    /// Comma-separated addresses or CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` is believed; none by default (the socket peer is the client).
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Largest accepted profile picture upload, in bytes.
    #[arg(long, env = "AVATAR_MAX_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub avatar_max_bytes: usize,

    /// Memory, in MiB, that the picture decodes in progress may hold
    /// together (at least 32). Each upload's share is computed from its
    /// header; an image needing more than the whole budget is refused (422).
    #[arg(long, env = "PICTURE_DECODE_BUDGET_MIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..))]
    pub picture_decode_budget_mib: u32,

    /// How long an upload waits for its share of the decode budget (then 503).
    #[arg(long, env = "PICTURE_DECODE_WAIT", default_value = "10s", value_parser = parse_duration)]
    pub picture_decode_wait: Duration,

    /// Picture uploads per user per hour (0 disables).
    #[arg(long, env = "PICTURE_UPLOAD_LIMIT", default_value_t = 20)]
    pub picture_upload_limit: u32,

    /// Email of an administrator created at start if absent.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of that administrator.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,

    /// Comma-separated origins allowed by CORS; none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Longest time a request may take, body upload included (then 408).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Longest time to send a request's header (slow clients are cut off);
    /// also the longest a kept-alive connection may wait idle for its next request.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Most client connections open at once; past it new ones wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// On SIGTERM/Ctrl-C, how long in-flight requests may take to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Where the embedded default keeps its files (database, objects, outbox, secret).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// `PUBLIC_BASE_URL` when it is unset, derived from HOST and the port
    /// (see [`Config::resolve_base_url`]).
    #[arg(skip)]
    derived_base_url: String,
}

/// Errors that stop the service from starting, each naming the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is missing or has an unusable value.
    #[error("{variable}: {message}")]
    Invalid {
        /// The environment variable to set or fix.
        variable: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The data directory could not be created.
    #[error("DATA_DIR: cannot create {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The generated JWT secret could not be read or written.
    #[error("JWT_SECRET: cannot keep a generated secret at {path}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The generated data encryption key could not be read or written.
    #[error("DATA_ENCRYPTION_KEY: cannot keep a generated key at {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn parse_switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" | "" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 30s, 15m, 24h, 14d)"))
}

/// Each `RETURN_TO_ORIGINS` entry is an http(s) origin, nothing more.
fn check_return_to_origins(origins: &[String]) -> Result<(), ConfigError> {
    for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        match url::Url::parse(origin) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.path() == "/" => {}
            _ => {
                return Err(invalid(
                    "RETURN_TO_ORIGINS",
                    format!("{origin} is not an origin like https://app.example.com"),
                ));
            }
        }
    }
    Ok(())
}

/// The placeholders a link template may hold.
const LINK_PLACEHOLDERS: [&str; 2] = ["{token}", "{user_id}"];

/// A link template is an absolute http(s) URL holding `{token}`, and no
/// placeholder but `{token}` and `{user_id}`.
fn check_link_template(variable: &'static str, template: Option<&str>) -> Result<(), ConfigError> {
    let Some(template) = template.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let example = "like https://app.example.com/verify?uid={user_id}&t={token}";
    if !template.contains("{token}") {
        return Err(invalid(
            variable,
            format!("must contain {{token}}, {example}"),
        ));
    }
    let mut rest = LINK_PLACEHOLDERS
        .iter()
        .fold(template.to_owned(), |t, p| t.replace(p, "x"));
    if let Some(start) = rest.find('{') {
        let unknown: String = rest.split_off(start).chars().take(20).collect();
        return Err(invalid(
            variable,
            format!("{unknown:?}…: the only placeholders are {{token}} and {{user_id}}"),
        ));
    }
    match url::Url::parse(&rest) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        _ => Err(invalid(
            variable,
            format!("{template} is not an absolute http(s) URL, {example}"),
        )),
    }
}

/// `template` with `{user_id}` and `{token}` filled in, percent-encoded.
fn fill_link(template: &str, user_id: &str, token: &str) -> String {
    template
        .trim()
        .replace("{user_id}", &percent_encode(user_id))
        .replace("{token}", &percent_encode(token))
}

/// Every byte but the unreserved characters of RFC 3986 as `%XX`, so a
/// value stays one path segment or query value wherever it is placed.
pub fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn parse_colour(value: &str) -> Result<String, String> {
    let value = value.trim();
    let hex = value.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_owned())
    } else {
        Err("must be a colour like #2557a7 or #25a".into())
    }
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        message: message.into(),
    }
}

impl Config {
    /// The configuration from the process environment and `.env`, with
    /// defaults for everything else (no command-line flags).
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        use clap::Parser;
        Only::try_parse_from(["user-management"]).map(|only| only.config.resolved())
    }

    /// The configuration with its derived values filled in for the
    /// configured port (call after parsing).
    pub fn resolved(mut self) -> Self {
        self.resolve_base_url(self.port);
        self
    }

    /// Derives the base URL used when `PUBLIC_BASE_URL` is unset from HOST
    /// and `port`, the port actually bound (which differs with `PORT=0`).
    pub fn resolve_base_url(&mut self, port: u16) {
        self.derived_base_url = listen_url(&self.host, port);
    }

    /// True on the embedded default (SQLite), where development conveniences apply.
    pub fn is_embedded(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Checks the values clap cannot check alone. Call once at start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.is_embedded() || self.database_url.starts_with("postgres")) {
            return Err(invalid(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        }
        check_host(&self.host)?;
        self.check_urls()?;
        if self.access_token_ttl < Duration::from_secs(1) {
            return Err(invalid("ACCESS_TOKEN_TTL", "must be at least 1s"));
        }
        if self.request_timeout < Duration::from_millis(100) {
            return Err(invalid("REQUEST_TIMEOUT", "must be at least 100ms"));
        }
        if self.header_read_timeout < Duration::from_millis(100) {
            return Err(invalid("HEADER_READ_TIMEOUT", "must be at least 100ms"));
        }
        if self.max_connections == 0 {
            return Err(invalid("MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.refresh_token_ttl < self.access_token_ttl {
            return Err(invalid(
                "REFRESH_TOKEN_TTL",
                "must not be shorter than ACCESS_TOKEN_TTL",
            ));
        }
        if let Some(secret) = self.configured_jwt_secret()
            && secret.expose_secret().len() < MIN_JWT_SECRET_BYTES
        {
            return Err(invalid(
                "JWT_SECRET",
                format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
            ));
        }
        if self.configured_jwt_secret().is_none() && !self.is_embedded() {
            return Err(invalid(
                "JWT_SECRET",
                format!(
                    "must be set (at least {MIN_JWT_SECRET_BYTES} random bytes) when DATABASE_URL is not SQLite; \
                     generate one with `openssl rand -base64 48`"
                ),
            ));
        }
        self.check_data_encryption_keys()?;
        if let Err(e) = crate::http::client::TrustedProxies::parse(&self.trusted_proxies) {
            return Err(invalid("TRUSTED_PROXIES", e));
        }
        if self.admin_email.is_some() != self.admin_password.is_some() {
            return Err(invalid(
                "ADMIN_PASSWORD",
                "ADMIN_EMAIL and ADMIN_PASSWORD must be set together",
            ));
        }
        Ok(())
    }

    /// The URLs: the public base URL, the `return_to` origins and the link templates.
    fn check_urls(&self) -> Result<(), ConfigError> {
        if let Some(base) = &self.public_base_url {
            let base = url::Url::parse(base)
                .map_err(|e| invalid("PUBLIC_BASE_URL", format!("not a URL: {e}")))?;
            if !matches!(base.scheme(), "http" | "https") {
                return Err(invalid("PUBLIC_BASE_URL", "must be an http(s) URL"));
            }
        }
        check_return_to_origins(&self.return_to_origins)?;
        check_link_template("VERIFY_LINK_TEMPLATE", self.verify_link_template.as_deref())?;
        check_link_template("RESET_LINK_TEMPLATE", self.reset_link_template.as_deref())
    }

    /// `PUBLIC_BASE_URL` without a trailing slash; when it is unset, the
    /// URL derived from HOST and the bound port.
    pub fn base_url(&self) -> &str {
        match &self.public_base_url {
            Some(base) => base.trim_end_matches('/'),
            None => &self.derived_base_url,
        }
    }

    /// The link of a verification mail: `VERIFY_LINK_TEMPLATE` filled in, or
    /// this service's own link.
    pub fn verify_link(&self, user_id: &str, token: &str) -> String {
        match configured(self.verify_link_template.as_deref()) {
            Some(template) => fill_link(template, user_id, token),
            None => format!(
                "{}/verify-email/{}/{}",
                self.base_url(),
                percent_encode(user_id),
                percent_encode(token)
            ),
        }
    }

    /// The link of a password reset mail: `RESET_LINK_TEMPLATE` filled in,
    /// or this service's own link.
    pub fn reset_link(&self, user_id: &str, token: &str) -> String {
        match configured(self.reset_link_template.as_deref()) {
            Some(template) => fill_link(template, user_id, token),
            None => format!(
                "{}/password/reset?token={}",
                self.base_url(),
                percent_encode(token)
            ),
        }
    }

    /// Creates the data directory (only its owner may enter it) if it is missing.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        create_private_dir(&self.data_dir).map_err(|source| ConfigError::DataDir {
            path: self.data_dir.clone(),
            source,
        })
    }

    /// `JWT_SECRET` if set to something: an empty value (as a compose file
    /// passes an unset variable) counts as unset.
    fn configured_jwt_secret(&self) -> Option<&SecretString> {
        self.jwt_secret
            .as_ref()
            .filter(|secret| !secret.expose_secret().is_empty())
    }

    /// `DATA_ENCRYPTION_KEY` is required outside the embedded default, and it
    /// and each `DATA_ENCRYPTION_KEY_PREVIOUS` entry must be a 32-byte key.
    fn check_data_encryption_keys(&self) -> Result<(), ConfigError> {
        match configured_secret(self.data_encryption_key.as_ref()) {
            Some(key) => {
                crate::crypto::parse_key(key.expose_secret())
                    .map_err(|e| invalid("DATA_ENCRYPTION_KEY", key_message(&e)))?;
            }
            None if !self.is_embedded() => {
                return Err(invalid(
                    "DATA_ENCRYPTION_KEY",
                    "must be set (32 random bytes as base64 or hex) when DATABASE_URL is not SQLite; \
                     generate one with `openssl rand -base64 32`",
                ));
            }
            None => {}
        }
        self.previous_data_encryption_keys().map(|_| ())
    }

    /// The keys of `DATA_ENCRYPTION_KEY_PREVIOUS`, in order.
    fn previous_data_encryption_keys(&self) -> Result<Vec<crate::crypto::KeyBytes>, ConfigError> {
        let Some(list) = configured_secret(self.data_encryption_key_previous.as_ref()) else {
            return Ok(Vec::new());
        };
        list.expose_secret()
            .split(',')
            .filter(|entry| !entry.trim().is_empty())
            .enumerate()
            .map(|(i, entry)| {
                crate::crypto::parse_key(entry).map_err(|e| {
                    invalid(
                        "DATA_ENCRYPTION_KEY_PREVIOUS",
                        format!("entry {}: {}", i + 1, key_message(&e)),
                    )
                })
            })
            .collect()
    }

    /// The data encryption keys: the configured one (or, on the embedded
    /// default, one generated once and kept in `DATA_DIR/data_encryption_key`)
    /// and the previous ones.
    pub fn data_encryption_keys(&self) -> Result<crate::crypto::DataKeys, ConfigError> {
        let current = match configured_secret(self.data_encryption_key.as_ref()) {
            Some(key) => crate::crypto::parse_key(key.expose_secret())
                .map_err(|e| invalid("DATA_ENCRYPTION_KEY", key_message(&e)))?,
            None if !self.is_embedded() => {
                return Err(invalid("DATA_ENCRYPTION_KEY", "must be set"));
            }
            None => {
                let path = self.data_dir.join("data_encryption_key");
                load_or_generate_key(&path)?
            }
        };
        let previous = self.previous_data_encryption_keys()?;
        Ok(crate::crypto::DataKeys::new(&current, &previous))
    }

    /// The JWT secret: the configured one or, on the embedded default, one
    /// generated once and kept in `DATA_DIR/jwt_secret`.
    pub fn jwt_secret(&self) -> Result<SecretString, ConfigError> {
        if let Some(secret) = self.configured_jwt_secret() {
            return Ok(secret.clone());
        }
        if !self.is_embedded() {
            return Err(invalid("JWT_SECRET", "must be set"));
        }
        let path = self.data_dir.join("jwt_secret");
        load_or_generate_secret(&path).map_err(|source| ConfigError::SecretFile { path, source })
    }
}

/// A secret setting unless it is empty (as a compose file passes an unset variable).
fn configured_secret(value: Option<&SecretString>) -> Option<&SecretString> {
    value.filter(|v| !v.expose_secret().trim().is_empty())
}

fn key_message(problem: &str) -> String {
    format!("{problem}; give 32 random bytes as base64 or hex (`openssl rand -base64 32`)")
}

/// The key kept at `path`, or a new one written there. A file that holds
/// something else stops the start rather than being replaced: what the old
/// key sealed would no longer open.
fn load_or_generate_key(path: &Path) -> Result<crate::crypto::KeyBytes, ConfigError> {
    let file_error = |source| ConfigError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return crate::crypto::parse_key(&text).map_err(|e| {
                invalid(
                    "DATA_ENCRYPTION_KEY",
                    format!("the key kept at {} {e}", path.display()),
                )
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(e)),
    }
    if let Some(parent) = path.parent() {
        create_private_dir(parent).map_err(file_error)?;
    }
    let key = crate::crypto::generate_key_base64();
    write_private(path, &key).map_err(file_error)?;
    tracing::warn!(
        path = %path.display(),
        "DATA_ENCRYPTION_KEY is not set: generated one and kept it in the data directory (set DATA_ENCRYPTION_KEY in production)"
    );
    crate::crypto::parse_key(&key).map_err(|e| invalid("DATA_ENCRYPTION_KEY", e))
}

/// A setting's value unless it is empty (as a compose file passes an unset variable).
fn configured(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// `http://localhost:PORT` for a loopback or unspecified HOST (and for
/// `localhost`), else `http://HOST:PORT`.
pub fn listen_url(host: &str, port: u16) -> String {
    let host = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".to_owned(),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    };
    format!("http://{host}:{port}")
}

/// HOST must be an IP address or a host name.
fn check_host(host: &str) -> Result<(), ConfigError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name_like = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    match url::Host::parse(host) {
        Ok(url::Host::Domain(_)) if name_like => Ok(()),
        _ => Err(invalid(
            "HOST",
            format!("{host:?} is neither an IP address nor a host name"),
        )),
    }
}

/// Creates `dir` and its missing parents, each only for its owner (0700 on unix).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn load_or_generate_secret(path: &Path) -> std::io::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(secret) if secret.trim().len() >= MIN_JWT_SECRET_BYTES => {
            return Ok(SecretString::from(secret.trim().to_owned()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let secret = crate::auth::tokens::random_token_string(48);
    write_private(path, &secret)?;
    tracing::warn!(
        path = %path.display(),
        "JWT_SECRET is not set: generated one and kept it in the data directory (set JWT_SECRET in production)"
    );
    Ok(SecretString::from(secret))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        use clap::Parser;
        let mut args = vec!["um".to_owned()];
        for (flag, value) in vars {
            args.push(format!("--{flag}={value}"));
        }
        Only::try_parse_from(args).map(|only| only.config.resolved())
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        parse(vars).expect("parses")
    }

    #[test]
    fn the_ipv6_prefix_is_64_unless_set_within_32_to_128() {
        assert_eq!(config(&[]).rate_limit_ipv6_prefix, 64);
        for bits in [32, 48, 56, 128] {
            let c = config(&[("rate-limit-ipv6-prefix", &bits.to_string())]);
            assert_eq!(c.rate_limit_ipv6_prefix, bits);
        }
        for bad in ["31", "129", "0", "-1", "/64", "wide"] {
            let err = parse(&[("rate-limit-ipv6-prefix", bad)])
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"))
                .to_string();
            assert!(err.contains("RATE_LIMIT_IPV6_PREFIX"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_accept_human_forms_and_zero() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn embedded_default_needs_no_secret() {
        let c = config(&[]);
        assert!(c.is_embedded());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn postgres_without_secret_names_the_variable() {
        let c = config(&[("database-url", "postgres://u@h/db")]);
        let err = c.validate().expect_err("refused").to_string();
        assert!(err.starts_with("JWT_SECRET"), "{err}");
    }

    #[test]
    fn an_empty_secret_counts_as_unset() {
        let c = config(&[("database-url", "postgres://u@h/db"), ("jwt-secret", "")]);
        let err = c.validate().expect_err("refused").to_string();
        assert!(err.contains("must be set"), "{err}");
        let embedded = config(&[("jwt-secret", ""), ("data-dir", "/nonexistent/um-test")]);
        assert!(
            embedded.validate().is_ok(),
            "the embedded default generates one"
        );
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn postgres_without_a_data_encryption_key_names_the_variable() {
        let pg = [
            ("database-url", "postgres://u@h/db"),
            ("jwt-secret", "test-secret-test-secret-test-secret-0123"),
        ];
        let err = config(&pg).validate().expect_err("refused").to_string();
        assert!(err.starts_with("DATA_ENCRYPTION_KEY"), "{err}");
        assert!(err.contains("must be set"), "{err}");
        let empty = [pg[0], pg[1], ("data-encryption-key", " ")];
        let err = config(&empty).validate().expect_err("refused").to_string();
        assert!(
            err.contains("must be set"),
            "an empty key counts as unset: {err}"
        );
        let set = [pg[0], pg[1], ("data-encryption-key", KEY)];
        assert!(config(&set).validate().is_ok());
        let embedded = config(&[
            ("data-encryption-key", ""),
            ("data-dir", "/nonexistent/um-test"),
        ]);
        assert!(
            embedded.validate().is_ok(),
            "the embedded default generates one"
        );
    }

    #[test]
    fn a_data_encryption_key_of_another_length_or_form_is_refused() {
        let hex_key = "00".repeat(32);
        for good in [KEY, hex_key.as_str()] {
            let c = config(&[
                ("data-encryption-key", good),
                ("data-encryption-key-previous", &format!("{hex_key}, {KEY}")),
            ]);
            assert!(c.validate().is_ok(), "{good}");
        }
        for (bad, says) in [
            ("c2hvcnQ=", "must be 32 bytes"),
            ("not a key", "neither base64 nor hex"),
        ] {
            let err = config(&[("data-encryption-key", bad)])
                .validate()
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("DATA_ENCRYPTION_KEY:"), "{bad}: {err}");
            assert!(
                err.contains(says) && err.contains("openssl rand"),
                "{bad}: {err}"
            );
            assert!(!err.contains(bad), "the value is not echoed: {err}");
            let err = config(&[("data-encryption-key-previous", &format!("{KEY},{bad}"))])
                .validate()
                .expect_err(bad)
                .to_string();
            assert!(
                err.starts_with("DATA_ENCRYPTION_KEY_PREVIOUS: entry 2"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_embedded_default_keeps_one_generated_key_and_never_replaces_it() {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        let c = config(&[("data-dir", data.to_str().expect("utf-8"))]);
        let sealed = c
            .data_encryption_keys()
            .expect("generated")
            .seal(b"c", b"secret");
        let kept = std::fs::read_to_string(data.join("data_encryption_key")).expect("kept");
        assert!(crate::crypto::parse_key(&kept).is_ok(), "{kept}");
        let again = c.data_encryption_keys().expect("loaded");
        assert_eq!(
            again.open(b"c", &sealed),
            Ok(b"secret".to_vec()),
            "the same key"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join("data_encryption_key"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        std::fs::write(data.join("data_encryption_key"), "damaged").expect("write");
        let err = c.data_encryption_keys().expect_err("refused").to_string();
        assert!(err.starts_with("DATA_ENCRYPTION_KEY"), "{err}");
        let still = std::fs::read_to_string(data.join("data_encryption_key")).expect("file");
        assert_eq!(still, "damaged", "a damaged key file is not replaced");

        let pg = config(&[("database-url", "postgres://u@h/db")]);
        assert!(
            pg.data_encryption_keys().is_err(),
            "no generated key outside SQLite"
        );
    }

    #[test]
    fn short_secret_is_refused() {
        let c = config(&[
            ("database-url", "postgres://u@h/db"),
            ("jwt-secret", "short"),
        ]);
        let err = c.validate().expect_err("refused").to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn link_templates_are_absolute_http_urls_with_a_token() {
        let example = "https://app.example.com/verify?uid={user_id}&t={token}";
        for good in [
            example,
            "http://h/r/{token}",
            " https://h/{token}/{user_id} ",
            "",
        ] {
            let c = config(&[
                ("verify-link-template", good),
                ("reset-link-template", good),
            ]);
            assert!(c.validate().is_ok(), "{good:?}");
        }
        for (bad, says) in [
            (
                "https://app.example.com/verify?uid={user_id}",
                "must contain {token}",
            ),
            ("/verify?t={token}", "absolute http(s) URL"),
            ("app.example.com/{token}", "absolute http(s) URL"),
            ("ftp://app.example.com/{token}", "absolute http(s) URL"),
            ("https://h/{token}?u={userid}", "the only placeholders"),
            ("https://h/{token}{", "the only placeholders"),
        ] {
            for (flag, variable) in [
                ("verify-link-template", "VERIFY_LINK_TEMPLATE"),
                ("reset-link-template", "RESET_LINK_TEMPLATE"),
            ] {
                let err = config(&[(flag, bad)])
                    .validate()
                    .expect_err(bad)
                    .to_string();
                assert!(err.starts_with(variable), "{bad}: {err}");
                assert!(err.contains(says), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn links_fill_their_template_percent_encoded_or_are_the_services_own() {
        let c = config(&[("public-base-url", "https://id.example.com/")]);
        assert_eq!(
            c.verify_link("42", "umv_a-b_c"),
            "https://id.example.com/verify-email/42/umv_a-b_c"
        );
        assert_eq!(
            c.reset_link("42", "umr_x"),
            "https://id.example.com/password/reset?token=umr_x"
        );
        let c = config(&[
            (
                "verify-link-template",
                "https://app.example.com/v?uid={user_id}&t={token}",
            ),
            (
                "reset-link-template",
                "https://app.example.com/r/{token}#{user_id}",
            ),
        ]);
        assert_eq!(
            c.verify_link("a b", "t&u=1/2?"),
            "https://app.example.com/v?uid=a%20b&t=t%26u%3D1%2F2%3F"
        );
        assert_eq!(
            c.reset_link("{token}", "ü"),
            "https://app.example.com/r/%C3%BC#%7Btoken%7D"
        );
    }

    #[test]
    fn the_base_url_follows_host_and_port_unless_set() {
        assert_eq!(config(&[]).base_url(), "http://localhost:8000");
        assert_eq!(
            config(&[("port", "18080")]).base_url(),
            "http://localhost:18080"
        );
        assert_eq!(
            config(&[("host", "0.0.0.0"), ("port", "9")]).base_url(),
            "http://localhost:9"
        );
        assert_eq!(
            config(&[("host", "10.1.2.3")]).base_url(),
            "http://10.1.2.3:8000"
        );
        assert_eq!(
            config(&[("host", "fd00::1")]).base_url(),
            "http://[fd00::1]:8000"
        );
        assert_eq!(
            config(&[("host", "Users.Example.com")]).base_url(),
            "http://users.example.com:8000"
        );
        let mut c = config(&[("port", "0")]);
        c.resolve_base_url(41234);
        assert_eq!(c.base_url(), "http://localhost:41234", "the bound port");
        let c = config(&[
            ("public-base-url", "https://id.example.com/"),
            ("port", "1"),
        ]);
        assert_eq!(c.base_url(), "https://id.example.com");
    }

    #[test]
    fn host_names_and_addresses_are_accepted_and_junk_is_refused() {
        for good in ["localhost", "127.0.0.1", "::", "::1", "svc-1.internal"] {
            assert!(config(&[("host", good)]).validate().is_ok(), "{good}");
        }
        for bad in ["", "exa mple", "http://x", "host:80", "[::1]"] {
            let err = config(&[("host", bad)])
                .validate()
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("HOST:"), "{bad}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_is_created_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("a/b");
        let mut c = config(&[]);
        c.data_dir = dir.clone();
        c.prepare_data_dir().expect("created");
        for path in [root.path().join("a"), dir] {
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{}", path.display());
        }
    }

    #[test]
    fn unknown_database_scheme_is_refused() {
        let c = config(&[("database-url", "mysql://h/db")]);
        let err = c.validate().expect_err("refused").to_string();
        assert!(err.starts_with("DATABASE_URL"), "{err}");
    }
}
