//! A page as a handler returns it: a template, a title, the values it
//! shows, and the headers every page carries (its CSP, `no-store`,
//! `no-referrer`, the form cookie when it is new).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{AppError, FieldError};
use crate::state::AppState;

/// Who a page is rendered for: the token its forms carry, the signed-in
/// user shown in its header, the cookies the visit sets.
pub trait Viewer {
    /// The form token.
    fn form_token(&self, state: &AppState) -> String;
    /// `{email, nickname}` of the signed-in user, if any.
    fn user(&self) -> Option<Value>;
    /// Adds the visit's cookies to `response`.
    fn add_cookies(&self, state: &AppState, response: &mut Response);
}

/// A page to render.
#[derive(Debug)]
pub struct View {
    template: &'static str,
    title: String,
    status: StatusCode,
    context: Map<String, Value>,
}

impl View {
    /// `template` under `title`, answered 200.
    pub fn new(template: &'static str, title: impl Into<String>) -> Self {
        let mut context = Map::new();
        for key in ["notice", "error"] {
            context.insert(key.into(), Value::Null);
        }
        for key in ["errors", "values"] {
            context.insert(key.into(), Value::Object(Map::new()));
        }
        Self {
            template,
            title: title.into(),
            status: StatusCode::OK,
            context,
        }
    }

    /// A page of plain paragraphs and an optional link button.
    pub fn message(
        title: impl Into<String>,
        paragraphs: &[&str],
        link: Option<(&str, &str)>,
    ) -> Self {
        Self::new("message.html", title)
            .with("paragraphs", paragraphs)
            .with(
                "link",
                link.map(|(href, text)| json!({"href": href, "text": text})),
            )
    }

    /// Answered with `status`.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets the template variable `key`.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.context.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// A sentence above the content (`role="status"`).
    pub fn notice(self, notice: impl Into<String>) -> Self {
        self.with("notice", notice.into())
    }

    /// An error above the content (`role="alert"`).
    pub fn error(self, error: impl Into<String>) -> Self {
        self.with("error", error.into())
    }

    /// The values the form's inputs show (never passwords: the templates leave those empty).
    pub fn values(self, values: impl Serialize) -> Self {
        self.with("values", values)
    }

    /// Field errors, each shown next to its input; one not shown by any
    /// input of the page still appears, above the form.
    pub fn field_errors(self, errors: &[FieldError]) -> Self {
        let by_field: Map<String, Value> = errors
            .iter()
            .map(|e| (e.field.clone(), Value::String(e.message.clone())))
            .collect();
        let summary = "Some fields need another look.";
        self.with("errors", by_field)
            .error(summary)
            .status(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The page for a failed action: field errors beside their inputs, any
    /// other failure as the sentence the API would answer.
    pub fn failed(self, err: AppError) -> Self {
        match err {
            AppError::Validation(errors) => self.field_errors(&errors),
            other => {
                let status = other.status();
                if status.is_server_error() {
                    tracing::error!(error = %other, "a page action failed");
                }
                self.error(public_sentence(&other)).status(status)
            }
        }
    }

    /// The HTML answer for `viewer`.
    pub fn render(self, state: &AppState, viewer: &impl Viewer) -> Response {
        let mut response = self.render_with(state, viewer.form_token(state), viewer.user());
        viewer.add_cookies(state, &mut response);
        response
    }

    /// The HTML answer for a request that has no visitor (a refused form).
    pub fn render_bare(self, state: &AppState) -> Response {
        self.render_with(state, String::new(), None)
    }

    fn render_with(mut self, state: &AppState, csrf: String, user: Option<Value>) -> Response {
        let site = &state.site;
        self.context
            .insert("title".into(), Value::String(self.title));
        self.context.insert(
            "product_name".into(),
            Value::String(site.product_name.clone()),
        );
        self.context
            .insert("lang".into(), Value::String("en".into()));
        self.context
            .insert("has_logo".into(), Value::Bool(site.logo.is_some()));
        self.context.insert("csrf".into(), Value::String(csrf));
        self.context
            .insert("user".into(), user.unwrap_or(Value::Null));
        let html = match site
            .templates
            .render(self.template, &Value::Object(self.context))
        {
            Ok(html) => html,
            Err(err) => {
                tracing::error!(error = %err, template = self.template, "a page template failed");
                return page_headers(
                    state,
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The page could not be shown.",
                    )
                        .into_response(),
                );
            }
        };
        page_headers(
            state,
            (self.status, axum::response::Html(html)).into_response(),
        )
    }
}

/// The headers of every page answer, redirects included.
pub fn page_headers(state: &AppState, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, state.site.csp.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A 303 to `location` (after a form, or to the right page).
pub fn see_other(state: &AppState, location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    page_headers(state, response)
}

/// What a page says about a failure: the API's sentence for client errors,
/// a fixed one for server errors (their cause is logged, never shown).
fn public_sentence(err: &AppError) -> String {
    match err {
        AppError::RateLimited(wait) => {
            format!("Too many attempts from your network; try again in {wait} seconds.")
        }
        AppError::Unavailable(_) => {
            "The service is briefly unavailable; nothing was changed. Please try again.".into()
        }
        AppError::Internal(_) => "Something went wrong on our side; nothing was changed.".into(),
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => format!(
                    "{}{}.",
                    first.to_uppercase(),
                    chars.as_str().trim_end_matches('.')
                ),
                None => text,
            }
        }
    }
}
