//! Requests to a [`TestApp`], and checks of the shapes every answer of a
//! kind shares: problem+json, RFC 6749 errors, token answers, bearer 401s.

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use super::app::TestApp;

impl TestApp {
    /// A request to `path` (relative to the app).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// POST JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// GET with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// POST a form to the token endpoint.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.request(Method::POST, "/login")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// Password-grant login.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.token_request(&[("username", email), ("password", password)])
            .await
    }

    /// A password-grant login at the instance at `address` (this app or a
    /// sibling).
    pub async fn login_at(&self, address: &str, email: &str, password: &str) -> Response {
        self.client
            .post(format!("{address}/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .expect("request")
    }

    /// Sends the token endpoint the same `form` from `n` concurrent tasks,
    /// the `i`th to the instance at `addresses[i % addresses.len()]`;
    /// returns the statuses.
    pub async fn concurrent_token_requests(
        &self,
        addresses: &[&str],
        n: usize,
        form: &[(&str, &str)],
    ) -> Vec<StatusCode> {
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let url = format!("{}/login", addresses[i % addresses.len()]);
                let (client, form) = (self.client.clone(), form.clone());
                tokio::spawn(async move {
                    let response = client.post(url).form(&form).send().await;
                    response.expect("request").status()
                })
            })
            .collect();
        let mut statuses = Vec::with_capacity(n);
        for task in tasks {
            statuses.push(task.await.expect("task"));
        }
        statuses
    }

    /// `POST /verify-email/resend` for an unknown address (a rate-limited
    /// route with no other effect), with an optional `X-Forwarded-For`.
    pub async fn resend_from(&self, forwarded_for: Option<&str>) -> Response {
        let mut request = self
            .request(Method::POST, "/verify-email/resend")
            .json(&json!({ "email": "nobody@example.com" }));
        if let Some(client) = forwarded_for {
            request = request.header("x-forwarded-for", client);
        }
        request.send().await.expect("request")
    }

    /// Presents `refresh_token` at the token endpoint (refresh grant).
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }
}

/// The value of header `name`, if present.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

/// How many of `statuses` are `status`.
pub fn count_of(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The RFC 3339 timestamp `value` (a JSON string).
pub fn timestamp(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp: {value}"))
        .parse()
        .expect("RFC 3339")
}

/// The `Content-Type` of `response` (empty when absent).
fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts a 200 answer; returns its JSON body.
pub async fn ok_json(response: Response, what: &str) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "{what}");
    response.json().await.expect("json")
}

/// Asserts a problem+json answer with `status`; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(content_type(&response), "application/problem+json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    body
}

/// The fields named by a 422 problem.
pub async fn invalid_fields(response: Response) -> Vec<String> {
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

/// Asserts a 401 problem that asks for a bearer token.
pub async fn assert_unauthorized(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate {challenge:?}"
    );
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

/// Asserts an RFC 6749 error answer of the token endpoint with `status`
/// (`error`, `error_description` and the same text in `detail`); returns the body.
pub async fn assert_token_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(
        content_type(&response),
        "application/json",
        "RFC 6749 errors are JSON"
    );
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error: {body}"
    );
    let description = body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("error_description: {body}"));
    assert!(!description.is_empty(), "{body}");
    assert_eq!(
        body["detail"], description,
        "detail repeats error_description"
    );
    body
}

/// As [`assert_token_error`], and the `error` code is `error`.
pub async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    let body = assert_token_error(response, status).await;
    assert_eq!(body["error"], error, "{body}");
    body
}

/// Asserts a successful token answer; returns the body.
pub async fn assert_tokens(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "status");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    body
}
