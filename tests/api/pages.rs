//! The pages over HTTP, as a browser sends them: the form token tied to the
//! form cookie, the cookie session (listed, revocable), the link landing
//! pages that use nothing on GET, the pages that take a mail's code,
//! `return_to`, and the headers every page carries.

use std::collections::BTreeMap;

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, path_of, spawn_app};
use crate::on_both_databases;

/// A browser: its cookies, sent back on every request.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    pub(crate) fn keep_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie");
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn get(&mut self, path: &str) -> Response {
        let response = self
            .app
            .request(Method::GET, path)
            .header(ACCEPT, "text/html")
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        self.keep_cookies(&response);
        response
    }

    /// GETs `path` and returns its page and the form token in it.
    pub(crate) async fn page(&mut self, path: &str) -> (String, String) {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.expect("html");
        let token = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        (html, token)
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let response = self
            .app
            .request(Method::POST, path)
            .header(ACCEPT, "text/html")
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("request");
        self.keep_cookies(&response);
        response
    }
}

/// The `Set-Cookie` value of cookie `name`.
fn set_cookie(response: &Response, name: &str) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A browser signed in on the pages as `email` (password [`PASSWORD`]).
pub(crate) async fn signed_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let (_, token) = browser.page("/sign-in").await;
    let response = browser
        .post(
            "/sign-in",
            &[("csrf", &token), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    browser
}

async fn pages_carry_their_policy_a_language_and_labels(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut browser = Browser::new(&app);
    let response = browser.get("/sign-in").await;
    let csp = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("csp");
    let csp = csp.to_str().expect("csp").to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(
        response.headers().get(CACHE_CONTROL).expect("cache"),
        "no-store"
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("<html lang=\"en\">") && html.contains("<title>Sign in"));
    assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
    assert!(
        browser.cookies.contains_key("um_form"),
        "the first visit gets a form cookie"
    );
    for path in [
        "/sign-up",
        "/forgot-password",
        "/reset-password",
        "/confirm-email",
    ] {
        let (html, _) = browser.page(path).await;
        assert!(
            html.contains("<html lang=\"en\">") && html.contains("<title>"),
            "{path}"
        );
        let inputs = html.matches("<input id=").count();
        assert_eq!(
            html.matches("<label for=").count(),
            inputs,
            "every input of {path} is labelled"
        );
    }
}

async fn the_sign_in_page_checks_its_form_and_opens_a_cookie_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("pages@example.com").await;
    let mut browser = Browser::new(&app);

    let (_, token) = browser.page("/sign-in").await;
    assert!(!token.is_empty());

    let right = [("email", "pages@example.com"), ("password", PASSWORD)];
    let forged = browser.post("/sign-in", &right).await;
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a form without its token"
    );
    let with = |csrf: &'static str| [("csrf", csrf), right[0], right[1]];
    let wrong_token = browser.post("/sign-in", &with("00")).await;
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("um_session"));

    let wrong = [
        ("csrf", token.as_str()),
        right[0],
        ("password", "wrong-password-here"),
    ];
    let wrong = browser.post("/sign-in", &wrong).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .expect("html")
            .contains("Incorrect email or password")
    );

    let signed_in = browser
        .post("/sign-in", &[("csrf", token.as_str()), right[0], right[1]])
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/account");
    let cookie = set_cookie(&signed_in, "um_session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (account, _) = browser.page("/account").await;
    assert!(account.contains("pages@example.com"));
    let sessions: Value = app
        .get("/me/sessions", Some(&access))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        sessions.as_array().expect("list").len(),
        2,
        "the page session is listed"
    );
}

async fn the_account_pages_save_and_show_errors_by_their_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("edit@example.com").await;
    let mut browser = signed_in(&app, "edit@example.com").await;
    let (_, token) = browser.page("/account").await;
    let profile = |linkedin: &'static str| {
        [
            ("nickname", "pagesuser"),
            ("first_name", "Ada"),
            ("last_name", ""),
            ("bio", "Hello"),
            ("linkedin_profile_url", linkedin),
            ("github_profile_url", ""),
        ]
    };
    let mut form = vec![("csrf", token.as_str())];
    form.extend(profile(""));
    let saved = browser.post("/account", &form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let me: Value = app
        .get("/me", Some(&access))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["first_name"].as_str(), me["nickname"].as_str()),
        (Some("Ada"), Some("pagesuser"))
    );
    let mut form = vec![("csrf", token.as_str())];
    form.extend(profile("not a url"));
    let bad = browser.post("/account", &form).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.expect("html");
    assert!(
        html.contains("id=\"linkedin_profile_url-error\""),
        "the error sits by its field"
    );

    let wrong_current = [
        ("csrf", token.as_str()),
        ("current_password", "not-it-at-all"),
        ("new_password", "another-long-passphrase"),
    ];
    let wrong_current = browser.post("/account/password", &wrong_current).await;
    assert_eq!(wrong_current.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong_current
            .text()
            .await
            .expect("html")
            .contains("current_password-error")
    );
}

async fn ending_sessions_and_signing_out_on_the_pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("leave@example.com").await;
    let mut browser = signed_in(&app, "leave@example.com").await;
    let (html, token) = browser.page("/account/sessions").await;
    assert!(html.contains("(this browser)"));
    let others = browser
        .post("/account/sessions/end-others", &[("csrf", &token)])
        .await;
    assert_eq!(others.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the API session ended"
    );

    let out = browser.post("/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = browser.get("/account").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/sign-in?return_to=%2Faccount");
}

async fn return_to_is_honoured_only_on_this_service(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("back@example.com").await;
    for (return_to, expected) in [
        ("/account/sessions", "/account/sessions"),
        ("https://evil.example/", "/account"),
        ("//evil.example/x", "/account"),
        ("javascript:alert(1)", "/account"),
    ] {
        let mut browser = Browser::new(&app);
        let (_, token) = browser.page("/sign-in").await;
        let response = browser
            .post(
                "/sign-in",
                &[
                    ("csrf", &token),
                    ("email", "back@example.com"),
                    ("password", PASSWORD),
                    ("return_to", return_to),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), expected, "return_to={return_to}");
    }
}

async fn opening_a_verification_link_uses_nothing_until_the_button(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let registered = app.register("scanned@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = path_of(&app.verification_link("scanned@example.com").await);
    let mut scanner = Browser::new(&app);
    for _ in 0..2 {
        let opened = scanner.get(&link).await;
        assert_eq!(
            opened.status(),
            StatusCode::SEE_OTHER,
            "a browser or scanner is sent to the page"
        );
        let page = location(&opened);
        assert!(page.starts_with("/confirm-email/"), "{page}");
        let (html, _) = scanner.page(&page).await;
        assert!(html.contains("Confirm my email"));
    }
    let any = app
        .request(Method::GET, &link)
        .header(ACCEPT, "*/*")
        .send()
        .await
        .expect("request");
    assert_eq!(
        any.status(),
        StatusCode::SEE_OTHER,
        "*/* is not a request for JSON"
    );

    let mut person = Browser::new(&app);
    let page = location(&person.get(&link).await);
    let (_, token) = person.page(&page).await;
    let confirmed = person.post(&page, &[("csrf", &token)]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(
        confirmed
            .text()
            .await
            .expect("html")
            .contains("Your email is verified")
    );
    let again = person.post(&page, &[("csrf", &token)]).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "confirming twice is not an error"
    );
    assert!(
        again
            .text()
            .await
            .expect("html")
            .contains("Your email is verified")
    );
    assert_eq!(
        app.login("scanned@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_reset_link_lands_on_a_form_and_a_used_one_offers_a_new_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("resetpage@example.com").await;
    let mut browser = Browser::new(&app);
    let (_, token) = browser.page("/forgot-password").await;
    let asked = browser
        .post(
            "/forgot-password",
            &[("csrf", &token), ("email", "resetpage@example.com")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let unknown = browser
        .post(
            "/forgot-password",
            &[("csrf", &token), ("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        unknown.text().await.expect("html"),
        asked.text().await.expect("html"),
        "no enumeration"
    );
    let reset = app.reset_token("resetpage@example.com", 1).await;

    let opened = browser.get(&format!("/password/reset?token={reset}")).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let page = location(&opened);
    let (html, token) = browser.page(&page).await;
    assert!(html.contains("name=\"token\""));
    let form = [
        ("csrf", token.as_str()),
        ("token", reset.as_str()),
        ("new_password", "a-brand-new-passphrase"),
    ];
    let done = browser.post("/reset-password", &form).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(
        done.text()
            .await
            .expect("html")
            .contains("Your password is changed")
    );
    let used = browser.post("/reset-password", &form).await;
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    assert!(
        used.text()
            .await
            .expect("html")
            .contains("action=\"/forgot-password\""),
        "offers a new link"
    );
    assert_eq!(
        app.login("resetpage@example.com", "a-brand-new-passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

/// Posts `fields` with the form token `csrf` to `path`; returns the status
/// and the page.
async fn send_form(
    browser: &mut Browser<'_>,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let response = browser.post(path, &form).await;
    (response.status(), response.text().await.expect("html"))
}

async fn the_code_page_verifies_and_shows_a_wrong_code_by_its_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let registered = app.register("typed@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let code = app
        .mailed_code("typed@example.com", "/verify-email/", 1)
        .await;
    let mut browser = Browser::new(&app);
    let (sign_in, _) = browser.page("/sign-in").await;
    assert!(sign_in.contains("href=\"/confirm-email\""), "linked");
    let (html, token) = browser.page("/confirm-email").await;
    assert!(html.contains("name=\"email\"") && html.contains("name=\"code\""));
    let fields = [("email", "typed@example.com"), ("code", code.as_str())];
    let unsigned = browser.post("/confirm-email", &fields).await;
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN, "the form token");

    let wrong = [("email", "typed@example.com"), ("code", "ZZZZ-ZZZZ")];
    let (status, wrong) = send_form(&mut browser, "/confirm-email", &token, &wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.contains("id=\"code-error\""), "by the code field");
    assert!(
        wrong.contains("value=\"typed@example.com\""),
        "address kept"
    );
    let unknown = [("email", "ghost@example.com"), ("code", "ZZZZ-ZZZZ")];
    let (status, unknown) = send_form(&mut browser, "/confirm-email", &token, &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unknown.replace("ghost@example.com", "typed@example.com"),
        wrong,
        "an unknown address reads as a wrong code"
    );

    let typed = code.to_lowercase().replace('-', " ");
    let right = [("email", "Typed@Example.com"), ("code", typed.as_str())];
    let (status, page) = send_form(&mut browser, "/confirm-email", &token, &right).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Your email is verified") && page.contains("sign-in\">Sign in</a>"),
        "{page}"
    );
    assert_eq!(
        app.login("typed@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn the_reset_page_takes_a_code_instead_of_a_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("coded@example.com").await;
    let forgot = app
        .post_json("/password/forgot", &json!({ "email": "coded@example.com" }))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let code = app
        .mailed_code("coded@example.com", "/password/reset", 1)
        .await;
    let mut browser = Browser::new(&app);
    let (forgot_page, _) = browser.page("/forgot-password").await;
    assert!(forgot_page.contains("href=\"/reset-password\""), "linked");
    let (html, token) = browser.page("/reset-password").await;
    assert!(!html.contains("name=\"token\""));
    assert!(html.contains("name=\"email\"") && html.contains("name=\"code\""));
    fn form<'a>(code: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
        let email = "coded@example.com";
        [("email", email), ("code", code), ("new_password", password)]
    }

    let wrong = form("ZZZZ-ZZZZ", "a-brand-new-passphrase");
    let (status, wrong) = send_form(&mut browser, "/reset-password", &token, &wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.contains("id=\"code-error\""), "by the code field");
    assert!(
        wrong.contains("action=\"/reset-password\""),
        "the form again"
    );
    let weak = form(&code, "short");
    let (status, weak) = send_form(&mut browser, "/reset-password", &token, &weak).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.contains("id=\"new_password-error\""));

    let right = form(&code, "a-brand-new-passphrase");
    let (status, done) = send_form(&mut browser, "/reset-password", &token, &right).await;
    assert_eq!(status, StatusCode::OK, "a weak password used nothing");
    assert!(done.contains("Your password is changed"));
    assert_eq!(
        app.login("coded@example.com", "a-brand-new-passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

async fn the_api_ends_every_other_session_and_keeps_its_root(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, first, _) = app.verified_user("others@example.com").await;
    let (second, _) = app.tokens("others@example.com", PASSWORD).await;
    let response = app
        .call(Method::DELETE, "/me/sessions", Some(&first), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["revoked"], 1);
    assert_eq!(
        app.get("/me", Some(&second)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/me", Some(&first)).await.status(), StatusCode::OK);

    assert_eq!(
        app.get("/", None).await.status(),
        StatusCode::NOT_FOUND,
        "API clients"
    );
    let mut browser = Browser::new(&app);
    let home = browser.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/sign-in");
}

on_both_databases!(
    pages_carry_their_policy_a_language_and_labels,
    the_sign_in_page_checks_its_form_and_opens_a_cookie_session,
    the_account_pages_save_and_show_errors_by_their_field,
    ending_sessions_and_signing_out_on_the_pages,
    return_to_is_honoured_only_on_this_service,
    opening_a_verification_link_uses_nothing_until_the_button,
    a_reset_link_lands_on_a_form_and_a_used_one_offers_a_new_link,
    the_code_page_verifies_and_shows_a_wrong_code_by_its_field,
    the_reset_page_takes_a_code_instead_of_a_link,
    the_api_ends_every_other_session_and_keeps_its_root,
);
