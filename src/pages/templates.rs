//! The page templates: HTML + Jinja, embedded from `templates/pages/`, each
//! replaceable by a same-named file in `PAGE_TEMPLATES_DIR`. Every value is
//! HTML-escaped; an undefined variable is an error, so a typo fails a test
//! instead of rendering an empty field.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Expands to `(file name, embedded source)` for `templates/pages/<file>`.
macro_rules! builtin {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/pages/", $file)))),*]
    };
}

/// Every page template with its embedded default.
const BUILTIN: &[(&str, &str)] = builtin!(
    "layout.html",
    "fields.html",
    "message.html",
    "sign_in.html",
    "sign_up.html",
    "confirm_email.html",
    "confirm_new_email.html",
    "enter_code.html",
    "forgot_password.html",
    "reset_password.html",
    "account.html",
    "change_password.html",
    "sessions.html",
);

/// The stylesheet, replaceable like a template (`style.css`).
const STYLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/pages/style.css"
));

/// Why the page templates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PageTemplateError {
    /// The override directory or a file in it could not be read.
    #[error("PAGE_TEMPLATES_DIR: cannot read {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A template does not parse.
    #[error("page template `{name}` has a syntax error: {source}")]
    Syntax {
        /// The file name.
        name: String,
        /// Where and what.
        source: minijinja::Error,
    },
}

/// The compiled page templates and the stylesheet.
#[derive(Debug)]
pub struct PageTemplates {
    env: Environment<'static>,
    style: String,
}

impl PageTemplates {
    /// The built-in templates, each replaced by a same-named file in
    /// `override_dir` when there is one. All are parsed here, so a broken
    /// override stops the start, not a visitor.
    pub fn load(override_dir: Option<&Path>) -> Result<Self, PageTemplateError> {
        if let Some(dir) = override_dir
            && !dir.is_dir()
        {
            return Err(PageTemplateError::Io {
                path: dir.to_path_buf(),
                source: std::io::ErrorKind::NotADirectory.into(),
            });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        for &(name, builtin) in BUILTIN {
            let source = read(override_dir, name)?.unwrap_or_else(|| builtin.to_owned());
            env.add_template_owned(name.to_owned(), source)
                .map_err(|source| PageTemplateError::Syntax {
                    name: name.to_owned(),
                    source,
                })?;
        }
        let style = read(override_dir, "style.css")?.unwrap_or_else(|| STYLE.to_owned());
        Ok(Self { env, style })
    }

    /// Renders `name` with `context`.
    pub fn render(
        &self,
        name: &str,
        context: &serde_json::Value,
    ) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::Value::from_serialize(context))
    }

    /// The stylesheet.
    pub fn style(&self) -> &str {
        &self.style
    }
}

/// The override of `name`, if the directory has one.
fn read(dir: Option<&Path>, name: &str) -> Result<Option<String>, PageTemplateError> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some(source)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PageTemplateError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let mut context = json!({
            "lang": "en", "title": "T", "product_name": "P", "has_logo": false,
            "user": null, "csrf": "c", "notice": null, "error": null,
            "errors": {}, "values": {},
        });
        if let (Some(target), Some(extra)) = (context.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
        context
    }

    #[test]
    fn every_builtin_renders_and_escapes() {
        let templates = PageTemplates::load(None).expect("load");
        let html = templates
            .render(
                "sign_in.html",
                &base(json!({
                    "return_to": "/account",
                    "values": {"email": "<script>x</script>"},
                    "errors": {"email": "bad \"one\""},
                })),
            )
            .expect("render");
        assert!(html.contains("lang=\"en\""));
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("aria-describedby=\"email-error\""));
        assert!(html.contains("<label for=\"password\">"));
    }

    #[test]
    fn a_field_without_a_value_is_left_empty() {
        let templates = PageTemplates::load(None).expect("load");
        let html = templates
            .render(
                "sign_up.html",
                &base(json!({"values": {"email": null, "nickname": "ada"}})),
            )
            .expect("render");
        assert!(!html.contains("None") && !html.contains("none"), "{html}");
        assert!(html.contains("value=\"ada\""));
    }

    #[test]
    fn an_override_replaces_one_template_and_a_broken_one_fails_to_load() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("message.html"), "custom {{ title }}").expect("write");
        let templates = PageTemplates::load(Some(dir.path())).expect("load");
        let html = templates
            .render("message.html", &base(json!({})))
            .expect("render");
        assert_eq!(html, "custom T");
        std::fs::write(dir.path().join("message.html"), "{% if %}").expect("write");
        assert!(matches!(
            PageTemplates::load(Some(dir.path())),
            Err(PageTemplateError::Syntax { .. })
        ));
        assert!(PageTemplates::load(Some(&dir.path().join("missing"))).is_err());
    }
}
