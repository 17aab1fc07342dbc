//! Email templates: Markdown + Jinja sources rendered into a plain-text part
//! and an HTML part.
//!
//! Every message template lives in `templates/email/<name>.md` and is embedded
//! into the binary at compile time, so the service works without any files on
//! disk. An operator can replace any of them (including the shared `header.md`
//! and `footer.md`) by putting a same-named file into an override directory.
//!
//! # File format
//!
//! ```text
//! Subject: Reset your {{ product_name }} password
//!
//! Hi {{ nickname }},
//!
//! [Reset your password]({{ link }})
//! ```
//!
//! The first line is the subject (itself a template), then a blank line, then
//! the Markdown body. `header.md` and `footer.md` have no subject line; they are
//! Markdown wrapped around every body and get the same variables.
//!
//! # Escaping
//!
//! Each source is compiled twice:
//!
//! * The **text** variant renders variables verbatim; the result (Markdown
//!   source, which reads fine as plain text) is the `text/plain` part.
//! * The **HTML** variant escapes every variable *before* the Markdown is
//!   converted: HTML-significant characters become entities and all other
//!   ASCII punctuation is backslash-escaped. pulldown-cmark turns both back
//!   into the literal characters, so a value always ends up as plain text
//!   inside the generated HTML. That rules out injected tags (`<script>`) as
//!   well as injected Markdown (`[click me](https://evil.example)`), while a
//!   URL used as a link destination (`[Verify]({{ link }})`) still resolves to
//!   exactly the original URL.
//!
//! Undefined variables are errors ([`UndefinedBehavior::Strict`]) so that a
//! typo in a template fails loudly in tests instead of silently rendering an
//! empty string into a customer's inbox.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use minijinja::{AutoEscape, Environment, HtmlEscape, UndefinedBehavior, Value};
use pulldown_cmark::{Event, Options, Parser};

/// Value of the `product_name` variable available in every template.
const PRODUCT_NAME: &str = "User Management";

/// Name of the shared Markdown prepended to every message body.
const HEADER: &str = "header";
/// Name of the shared Markdown appended to every message body.
const FOOTER: &str = "footer";

/// Expands to `(name, embedded source)` for `templates/email/<name>.md`.
macro_rules! builtin {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/email/",
                $name,
                ".md"
            )),
        )
    };
}

/// The message templates, each named once: a constant for the code that
/// queues it, the list [`Templates::render`] accepts, and the embedded
/// default of `templates/email/<name>.md`.
macro_rules! messages {
    ($($(#[$doc:meta])* $constant:ident = $name:literal,)*) => {
        $($(#[$doc])* pub const $constant: &str = $name;)*

        /// The names of the built-in messages, i.e. what [`Templates::render`] accepts.
        const MESSAGE_NAMES: &[&str] = &[$($name),*];

        /// Every template file known to the service, with its embedded default.
        const BUILTIN: &[(&str, &str)] = &[builtin!("header"), builtin!("footer"), $(builtin!($name)),*];
    };
}

messages! {
    /// The email verification link.
    VERIFY_EMAIL = "verify_email",
    /// The password reset link.
    PASSWORD_RESET = "password_reset",
    /// The account was locked.
    ACCOUNT_LOCKED = "account_locked",
    /// The role changed.
    ROLE_CHANGED = "role_changed",
    /// Professional status changed.
    PROFESSIONAL_STATUS = "professional_status",
    /// To the old address: the account's address changed.
    EMAIL_CHANGED = "email_changed",
    /// To the new address: the link that confirms a change of address.
    CONFIRM_EMAIL_CHANGE = "confirm_email_change",
    /// A suspended account asked for a reset: no link, this notice instead.
    ACCOUNT_SUSPENDED = "account_suspended",
    /// An operator's test message.
    TEST = "test",
}

/// Suffix of the compiled subject template (rendered without escaping).
const SUBJECT_SUFFIX: &str = ".subject";
/// Suffix of the compiled plain-text body template (rendered without escaping).
const TEXT_SUFFIX: &str = ".txt";
/// Suffix of the compiled HTML body template (variables escaped, see module docs).
const HTML_SUFFIX: &str = ".html";

/// A rendered message, ready to be turned into a MIME message with
/// [`build_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Single-line subject (CR/LF already removed).
    pub subject: String,
    /// The `text/plain` part: the rendered Markdown source.
    pub text: String,
    /// The `text/html` part: a complete HTML document.
    pub html: String,
}

/// Errors from loading or rendering email templates, or building a message.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// [`Templates::render`] was asked for a message that does not exist.
    #[error("unknown email template `{0}`")]
    UnknownTemplate(String),
    /// A template file does not follow the `Subject: ...` + blank line format.
    #[error("email template `{name}` is malformed: {reason}")]
    BadFile {
        /// Template name (file name without `.md`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The override directory or a file in it could not be read.
    #[error("cannot read email template override `{}`: {source}", path.display())]
    Io {
        /// The directory or file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A template has a Jinja syntax error (detected at load time).
    #[error("email template `{name}` has a syntax error: {source}")]
    Syntax {
        /// Template name (file name without `.md`).
        name: String,
        /// The minijinja error, including the location.
        #[source]
        source: minijinja::Error,
    },
    /// Rendering failed, e.g. because a variable is undefined.
    #[error("failed to render email template `{name}`: {source}")]
    Render {
        /// The compiled template that failed (e.g. `verify_email.html`).
        name: String,
        /// The minijinja error, including the location.
        #[source]
        source: minijinja::Error,
    },
    /// The variables passed to [`Templates::render`] are not a JSON object.
    #[error("email template variables must be a JSON object, got {0}")]
    InvalidVars(&'static str),
    /// A sender or recipient address could not be parsed.
    #[error("invalid email address `{address}`: {source}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why lettre rejected it.
        #[source]
        source: lettre::address::AddressError,
    },
    /// lettre refused to build the MIME message.
    #[error("failed to build email message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The compiled set of email templates.
///
/// Cheap to share behind an `Arc`; rendering takes `&self`.
#[derive(Clone, Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Built-in templates (embedded from `templates/email/`), each replaced by
    /// a same-named `*.md` file in `override_dir` when one exists there.
    ///
    /// All templates are parsed here, so a broken override fails at startup
    /// rather than when the first email is sent. A missing `override_dir` is
    /// an error too: it is almost certainly a configuration mistake.
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        if let Some(dir) = override_dir {
            let meta = std::fs::metadata(dir).map_err(|source| TemplateError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(TemplateError::Io {
                    path: dir.to_path_buf(),
                    source: std::io::ErrorKind::NotADirectory.into(),
                });
            }
        }

        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(HTML_SUFFIX) {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // The stock HTML escaping only covers HTML; values also have to be
        // neutralised for the Markdown pass that runs afterwards.
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
                let escaped = escape_for_markdown_html(&value.to_string());
                out.write_str(&escaped).map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });

        for &(name, builtin) in BUILTIN {
            let source = match override_dir {
                Some(dir) => read_override(dir, name)?.unwrap_or_else(|| builtin.to_owned()),
                None => builtin.to_owned(),
            };
            // Accept files saved with Windows line endings.
            let source = source.replace("\r\n", "\n");
            let is_message = name != HEADER && name != FOOTER;
            let body = if is_message {
                let (subject, body) = split_subject(name, &source)?;
                add(&mut env, name, SUBJECT_SUFFIX, subject.to_owned())?;
                body.to_owned()
            } else {
                source
            };
            add(&mut env, name, TEXT_SUFFIX, body.clone())?;
            add(&mut env, name, HTML_SUFFIX, body)?;
        }
        Ok(Templates { env })
    }

    /// Renders template `name` with `vars` (a JSON object, or `null` for no
    /// variables) plus the shared header and footer.
    ///
    /// `product_name` is always defined; a same-named key in `vars` wins.
    pub fn render(
        &self,
        name: &str,
        vars: &serde_json::Value,
    ) -> Result<RenderedEmail, TemplateError> {
        if !MESSAGE_NAMES.contains(&name) {
            return Err(TemplateError::UnknownTemplate(name.to_owned()));
        }
        let ctx = context(vars)?;

        let subject = clean_subject(&self.render_one(name, SUBJECT_SUFFIX, &ctx)?);
        let text = self.render_document(name, TEXT_SUFFIX, &ctx)?;
        let html_markdown = self.render_document(name, HTML_SUFFIX, &ctx)?;
        let html = html_document(&subject, &html_markdown);
        Ok(RenderedEmail {
            subject,
            text,
            html,
        })
    }

    /// The built-in message names accepted by [`Templates::render`] (the
    /// shared header and footer are not messages and are not listed).
    pub fn names() -> &'static [&'static str] {
        MESSAGE_NAMES
    }

    /// Header, body and footer of one variant, separated by blank lines so
    /// that each stays its own Markdown block.
    fn render_document(
        &self,
        name: &str,
        suffix: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        let header = self.render_one(HEADER, suffix, ctx)?;
        let body = self.render_one(name, suffix, ctx)?;
        let footer = self.render_one(FOOTER, suffix, ctx)?;
        Ok(format!(
            "{}\n\n{}\n\n{}\n",
            header.trim(),
            body.trim(),
            footer.trim()
        ))
    }

    fn render_one(&self, name: &str, suffix: &str, ctx: &Value) -> Result<String, TemplateError> {
        let full = format!("{name}{suffix}");
        self.env
            .get_template(&full)
            .and_then(|template| template.render(ctx))
            .map_err(|source| TemplateError::Render { name: full, source })
    }
}

/// A multipart/alternative message (text/plain then text/html, UTF-8).
///
/// The subject is stripped of CR/LF again here, because a [`RenderedEmail`]
/// can be constructed by hand.
pub fn build_message(
    from: &str,
    to: &str,
    email: &RenderedEmail,
) -> Result<Message, TemplateError> {
    let from = parse_mailbox(from)?;
    let to = parse_mailbox(to)?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(clean_subject(&email.subject))
        // Relays are supposed to add one, but not all do and spam filters
        // penalise messages without it.
        .message_id(None)
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))?;
    Ok(message)
}

fn parse_mailbox(address: &str) -> Result<Mailbox, TemplateError> {
    address
        .parse()
        .map_err(|source| TemplateError::InvalidAddress {
            address: address.to_owned(),
            source,
        })
}

/// Reads `<dir>/<name>.md`; `Ok(None)` when there is no such file.
fn read_override(dir: &Path, name: &str) -> Result<Option<String>, TemplateError> {
    let path = dir.join(format!("{name}.md"));
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some(source)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TemplateError::Io { path, source }),
    }
}

/// Splits a message file into its subject template and body template.
fn split_subject<'a>(name: &str, source: &'a str) -> Result<(&'a str, &'a str), TemplateError> {
    let bad = |reason: &str| TemplateError::BadFile {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    // Editors on some platforms prepend a byte-order mark.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let (first, rest) = source
        .split_once('\n')
        .ok_or_else(|| bad("expected a `Subject:` line, a blank line and a body"))?;
    let subject = first
        .strip_prefix("Subject:")
        .ok_or_else(|| bad("the first line must start with `Subject:`"))?
        .trim();
    if subject.is_empty() {
        return Err(bad("the subject is empty"));
    }
    let (blank, body) = rest.split_once('\n').unwrap_or((rest, ""));
    if !blank.trim().is_empty() {
        return Err(bad("the `Subject:` line must be followed by a blank line"));
    }
    Ok((subject, body))
}

/// Compiles `source` as `<name><suffix>`; the suffix selects the escaping.
fn add(
    env: &mut Environment<'static>,
    name: &str,
    suffix: &str,
    source: String,
) -> Result<(), TemplateError> {
    env.add_template_owned(format!("{name}{suffix}"), source)
        .map_err(|source| TemplateError::Syntax {
            name: name.to_owned(),
            source,
        })
}

/// Builds the render context: `product_name` plus the caller's variables.
fn context(vars: &serde_json::Value) -> Result<Value, TemplateError> {
    let mut map = serde_json::Map::new();
    map.insert("product_name".to_owned(), PRODUCT_NAME.into());
    match vars {
        serde_json::Value::Object(vars) => map.extend(vars.clone()),
        serde_json::Value::Null => {}
        serde_json::Value::Bool(_) => return Err(TemplateError::InvalidVars("a boolean")),
        serde_json::Value::Number(_) => return Err(TemplateError::InvalidVars("a number")),
        serde_json::Value::String(_) => return Err(TemplateError::InvalidVars("a string")),
        serde_json::Value::Array(_) => return Err(TemplateError::InvalidVars("an array")),
    }
    Ok(Value::from_serialize(&map))
}

/// Collapses a rendered subject onto one line. A CR or LF in a header value
/// would let a variable inject extra headers (e.g. `Bcc:`), so every line
/// break becomes a single space.
fn clean_subject(subject: &str) -> String {
    subject
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes a variable for the HTML variant so that, after Markdown
/// conversion, it is literal text: HTML-significant characters become
/// entities (which CommonMark decodes everywhere, link destinations included)
/// and every other ASCII punctuation character gets a backslash escape, which
/// CommonMark also accepts everywhere and which disarms emphasis, links,
/// headings, lists and code.
fn escape_for_markdown_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 4);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Converts the (already escaped) Markdown to a complete HTML document.
fn html_document(subject: &str, markdown: &str) -> String {
    // The text part shows line breaks as written, so the HTML part does too
    // (e.g. a "Thanks,\nThe team" sign-off) instead of joining the lines.
    let events = Parser::new_ext(markdown, Options::empty()).map(|event| match event {
        Event::SoftBreak => Event::HardBreak,
        other => other,
    });
    let mut body = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut body, events);

    let mut html = String::with_capacity(body.len() + 512);
    // Writing into a String cannot fail.
    let _ = write!(
        html,
        "<!doctype html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n\
         </head>\n\
         <body style=\"font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; \
         font-size: 16px; line-height: 1.5; color: #222222; max-width: 600px; margin: 0 auto; padding: 16px;\">\n\
         {}\
         </body>\n\
         </html>\n",
        HtmlEscape(subject),
        body
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEADER_TEXT: &str = "# User Management";
    const HEADER_HTML: &str = "<h1>User Management</h1>";
    const FOOTER_SNIPPET: &str = "This is an automated message";

    /// Sample variables matching what the service passes for each message.
    fn sample_vars(name: &str) -> serde_json::Value {
        match name {
            "verify_email" | "password_reset" => json!({
                "nickname": "Alice",
                "link": "https://example.com/action?token=abc123&user=42",
                "code": "ABCD-EFGH",
                "code_page": "https://example.com/confirm-email",
                "expires_in": "24 hours",
            }),
            "confirm_email_change" => json!({
                "nickname": "Alice",
                "link": "https://example.com/action?token=abc123&user=42",
                "expires_in": "24 hours",
            }),
            "account_locked" => json!({
                "nickname": "Alice",
                "until": "2030-01-01 12:00 UTC",
                "reset_link": "https://example.com/reset?token=abc123&user=42",
            }),
            "role_changed" => json!({
                "nickname": "Alice",
                "old_role": "user",
                "new_role": "admin",
            }),
            "professional_status" => json!({ "nickname": "Alice", "is_professional": true }),
            "email_changed" => json!({
                "nickname": "Alice",
                "new_email": "a…@example.org",
                "by_staff": true,
            }),
            "account_suspended" => json!({ "nickname": "Alice" }),
            "test" => json!({ "sent_at": "2030-01-01T12:00:00Z" }),
            other => panic!("no sample variables for `{other}`"),
        }
    }

    fn builtin() -> Templates {
        Templates::load(None).expect("built-in templates load")
    }

    #[test]
    fn types_can_be_shared_across_tasks() {
        // The worker keeps `Templates` in shared state and errors cross
        // task boundaries (and go into `anyhow`).
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Templates>();
        assert_send_sync::<TemplateError>();
        assert_send_sync::<RenderedEmail>();
    }

    #[test]
    fn every_message_has_an_embedded_template() {
        for name in Templates::names() {
            assert!(
                BUILTIN.iter().any(|(builtin, _)| builtin == name),
                "{name} has no built-in template"
            );
        }
    }

    #[test]
    fn every_builtin_renders_with_header_and_footer() {
        let templates = builtin();
        for name in Templates::names() {
            let email = templates
                .render(name, &sample_vars(name))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(!email.subject.is_empty(), "{name}: empty subject");
            assert!(!email.subject.contains("{{"), "{name}: {}", email.subject);
            assert!(
                email.text.starts_with(HEADER_TEXT),
                "{name}: {}",
                email.text
            );
            assert!(
                email.text.contains(FOOTER_SNIPPET),
                "{name}: {}",
                email.text
            );
            assert!(email.html.starts_with("<!doctype html>"), "{name}");
            assert!(email.html.contains("<meta charset=\"utf-8\">"), "{name}");
            assert!(email.html.contains(HEADER_HTML), "{name}: {}", email.html);
            assert!(
                email.html.contains(FOOTER_SNIPPET),
                "{name}: {}",
                email.html
            );
            assert!(!email.html.contains("{{"), "{name}: {}", email.html);
        }
    }

    #[test]
    fn links_appear_in_text_and_as_working_html_links() {
        let templates = builtin();
        for (name, key) in [
            ("verify_email", "link"),
            ("password_reset", "link"),
            ("confirm_email_change", "link"),
            ("account_locked", "reset_link"),
        ] {
            let vars = sample_vars(name);
            let link = vars[key].as_str().expect("sample link is a string");
            let email = templates.render(name, &vars).expect("renders");
            // Both as the Markdown link and on its own line.
            assert!(
                email.text.contains(&format!("]({link})")),
                "{name}: {}",
                email.text
            );
            assert!(
                email.text.contains(&format!("\n{link}\n")),
                "{name}: {}",
                email.text
            );
            let escaped = link.replace('&', "&amp;");
            assert!(
                email.html.contains(&format!("<a href=\"{escaped}\">")),
                "{name}: {}",
                email.html
            );
            // The raw URL is shown as text as well.
            assert!(
                email.html.contains(&format!(">{escaped}<")),
                "{name}: {}",
                email.html
            );
        }
    }

    #[test]
    fn link_mails_show_their_code_and_where_to_type_it() {
        let templates = builtin();
        for name in ["verify_email", "password_reset"] {
            let email = templates.render(name, &sample_vars(name)).expect("renders");
            let page = sample_vars(name)["code_page"]
                .as_str()
                .expect("page")
                .to_owned();
            assert!(
                email.text.contains("**ABCD-EFGH**"),
                "{name}: {}",
                email.text
            );
            assert!(email.text.contains(&page), "{name}: {}", email.text);
            assert!(
                email.html.contains("<strong>ABCD-EFGH</strong>"),
                "{name}: {}",
                email.html
            );
            assert!(email.html.contains(&page), "{name}: {}", email.html);
        }
    }

    #[test]
    fn urls_with_markdown_punctuation_survive_the_html_escaping() {
        let link = "https://example.com/a_b/c-d.e?x=1&y=*2*&z=%2F(3)#frag~";
        let email = builtin()
            .render(
                "verify_email",
                &json!({
                    "nickname": "A",
                    "link": link,
                    "code": "ABCD-EFGH",
                    "code_page": "https://example.com/confirm-email",
                    "expires_in": "1 hour",
                }),
            )
            .expect("renders");
        assert!(
            email.html.contains(
                "href=\"https://example.com/a_b/c-d.e?x=1&amp;y=*2*&amp;z=%2F(3)#frag~\""
            ),
            "{}",
            email.html
        );
        assert!(email.text.contains(link));
    }

    #[test]
    fn hostile_nickname_is_escaped_in_html_only() {
        let templates = builtin();
        for nickname in [
            "<script>alert(1)</script>",
            "<b>x</b>",
            "[click me](https://evil.example)",
            "**bold** _it_ `code`",
            "# heading",
            "&amp; &lt;b&gt;",
        ] {
            let email = templates
                .render(
                    "password_reset",
                    &json!({
                        "nickname": nickname,
                        "link": "https://example.com/r",
                        "code": "ABCD-EFGH",
                        "code_page": "https://example.com/reset-password",
                        "expires_in": "1 hour",
                    }),
                )
                .expect("renders");
            assert!(
                email.text.contains(&format!("Hi {nickname},")),
                "{}",
                email.text
            );

            let html = &email.html;
            for forbidden in [
                "<script",
                "<b>",
                "evil.example\"",
                "<strong>bold",
                "<em>it",
                "<code>",
                "<h1># heading",
                "<h1>heading",
            ] {
                assert!(
                    !html.contains(forbidden),
                    "{nickname:?} produced {forbidden:?}: {html}"
                );
            }
            // The nickname reads exactly as typed once the HTML is decoded.
            let expected = nickname
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(
                html.contains(&format!("Hi {expected},")),
                "{nickname:?}: {html}"
            );
        }
    }

    #[test]
    fn account_locked_covers_both_lock_kinds() {
        let templates = builtin();
        let vars = |until: serde_json::Value| json!({ "nickname": "A", "until": until, "reset_link": "https://example.com/r" });
        let timed = templates
            .render("account_locked", &vars(json!("2030-01-01 12:00 UTC")))
            .expect("renders");
        assert!(timed.text.contains("2030-01-01 12:00 UTC"));
        let indefinite = templates
            .render("account_locked", &vars(serde_json::Value::Null))
            .expect("renders");
        assert!(
            indefinite.text.contains("administrator"),
            "{}",
            indefinite.text
        );
        assert!(!indefinite.text.contains("none"), "{}", indefinite.text);
    }

    #[test]
    fn email_changed_names_who_changed_it() {
        let templates = builtin();
        let vars = |by_staff: bool| json!({ "nickname": "A", "new_email": "n…@example.org", "by_staff": by_staff });
        let staff = templates
            .render("email_changed", &vars(true))
            .expect("renders");
        let owner = templates
            .render("email_changed", &vars(false))
            .expect("renders");
        assert!(
            staff.text.contains("An administrator changed"),
            "{}",
            staff.text
        );
        assert!(owner.text.contains("You changed"), "{}", owner.text);
        assert!(owner.text.contains("n…@example.org"), "{}", owner.text);
    }

    #[test]
    fn professional_status_covers_both_directions() {
        let templates = builtin();
        let on = templates
            .render(
                "professional_status",
                &json!({ "nickname": "A", "is_professional": true }),
            )
            .expect("renders");
        let off = templates
            .render(
                "professional_status",
                &json!({ "nickname": "A", "is_professional": false }),
            )
            .expect("renders");
        assert!(
            on.text.contains("now has professional status"),
            "{}",
            on.text
        );
        assert!(
            off.text.contains("no longer has professional status"),
            "{}",
            off.text
        );
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let err = builtin()
            .render(
                "verify_email",
                &json!({ "link": "https://x", "expires_in": "1 hour" }),
            )
            .expect_err("nickname is missing");
        assert!(matches!(err, TemplateError::Render { .. }), "{err}");
    }

    #[test]
    fn unknown_template_and_bad_vars_are_errors() {
        let templates = builtin();
        assert!(matches!(
            templates.render("nope", &json!({})),
            Err(TemplateError::UnknownTemplate(_))
        ));
        // The shared fragments are not messages on their own.
        assert!(matches!(
            templates.render("header", &json!({})),
            Err(TemplateError::UnknownTemplate(_))
        ));
        assert!(matches!(
            templates.render("test", &json!(["sent_at"])),
            Err(TemplateError::InvalidVars(_))
        ));
    }

    #[test]
    fn subject_line_breaks_are_removed() {
        let email = builtin()
            .render(
                "role_changed",
                &json!({ "nickname": "A", "old_role": "user", "new_role": "admin\r\nBcc: victim@example.com\n" }),
            )
            .expect("renders");
        assert!(!email.subject.contains(['\r', '\n']), "{:?}", email.subject);
        assert_eq!(
            email.subject,
            "Your User Management role is now admin Bcc: victim@example.com"
        );
    }

    #[test]
    fn override_dir_replaces_only_the_given_templates() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("test.md"),
            "Subject: Custom {{ product_name }} test\r\n\r\nCustom body sent {{ sent_at }}.\r\n",
        )
        .expect("write override");
        std::fs::write(dir.path().join("footer.md"), "Custom footer.").expect("write override");
        std::fs::write(
            dir.path().join("account_suspended.md"),
            "Subject: Suspended at {{ product_name }}\n\nAsk the help desk, {{ nickname }}.\n",
        )
        .expect("write override");

        let templates = Templates::load(Some(dir.path())).expect("loads");
        let email = templates
            .render("test", &sample_vars("test"))
            .expect("renders");
        assert_eq!(email.subject, "Custom User Management test");
        assert!(
            email
                .text
                .contains("Custom body sent 2030-01-01T12:00:00Z."),
            "{}",
            email.text
        );
        assert!(email.text.ends_with("Custom footer.\n"), "{}", email.text);
        assert!(!email.text.contains(FOOTER_SNIPPET));
        assert!(email.html.contains("Custom footer."));
        let suspended = templates
            .render("account_suspended", &sample_vars("account_suspended"))
            .expect("renders");
        assert_eq!(suspended.subject, "Suspended at User Management");
        assert!(suspended.text.contains("Ask the help desk, Alice."));

        // Templates without an override keep the built-in text.
        let changed = templates
            .render("email_changed", &sample_vars("email_changed"))
            .expect("renders");
        assert!(changed.text.contains("An administrator changed"));
        let other = templates
            .render("verify_email", &sample_vars("verify_email"))
            .expect("renders");
        assert!(other.text.starts_with(HEADER_TEXT));
        assert!(other.text.contains("Custom footer."));
    }

    #[test]
    fn broken_overrides_fail_at_load() {
        let load_with = |content: &str| {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::write(dir.path().join("verify_email.md"), content).expect("write override");
            Templates::load(Some(dir.path()))
        };
        assert!(matches!(
            load_with("No subject here\n\nBody"),
            Err(TemplateError::BadFile { .. })
        ));
        assert!(matches!(
            load_with("Subject: x\nBody right away"),
            Err(TemplateError::BadFile { .. })
        ));
        assert!(matches!(
            load_with("Subject: x\n\n{% if %}"),
            Err(TemplateError::Syntax { .. })
        ));

        // A typo in a variable name is only detectable when rendering.
        let templates = load_with("Subject: x\n\nHi {{ nicknam }}").expect("syntax is fine");
        assert!(matches!(
            templates.render("verify_email", &sample_vars("verify_email")),
            Err(TemplateError::Render { .. })
        ));

        let missing = std::env::temp_dir().join("user-management-no-such-template-dir");
        assert!(matches!(
            Templates::load(Some(&missing)),
            Err(TemplateError::Io { .. })
        ));
    }

    #[test]
    fn build_message_is_multipart_alternative() {
        let email = builtin()
            .render("verify_email", &sample_vars("verify_email"))
            .expect("renders");
        let message = build_message(
            "User Management <noreply@example.com>",
            "alice@example.org",
            &email,
        )
        .expect("builds");
        let raw = String::from_utf8(message.formatted()).expect("formatted message is UTF-8");
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        let text_at = raw
            .find("Content-Type: text/plain; charset=utf-8")
            .expect("text part");
        let html_at = raw
            .find("Content-Type: text/html; charset=utf-8")
            .expect("html part");
        assert!(text_at < html_at, "text/plain must come first");
        assert!(
            raw.contains("From: \"User Management\" <noreply@example.com>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("To: alice@example.org\r\n"), "{raw}");
        assert!(
            raw.contains("Subject: Verify your email address for User Management\r\n"),
            "{raw}"
        );
        assert_eq!(message.envelope().to().len(), 1);
    }

    #[test]
    fn build_message_rejects_bad_addresses_and_line_breaks() {
        let email = RenderedEmail {
            subject: "Hi\r\nBcc: victim@example.com".to_owned(),
            text: "t".to_owned(),
            html: "<p>h</p>".to_owned(),
        };
        assert!(matches!(
            build_message("not an address", "a@example.com", &email),
            Err(TemplateError::InvalidAddress { .. })
        ));
        let message = build_message("a@example.com", "b@example.com", &email).expect("builds");
        let raw = String::from_utf8(message.formatted()).expect("UTF-8");
        assert!(
            raw.contains("Subject: Hi Bcc: victim@example.com\r\n"),
            "{raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }
}
