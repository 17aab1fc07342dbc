//! Accounts: registering, verifying and logging in users; the environment
//! administrator and staff-created users; the staff calls on a user.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::app::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp};
use super::mail::path_of;

/// `body` with the fields of `extra` (an object) set on it.
fn merged(mut body: Value, extra: &Value) -> Value {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

/// The payload of a JWT, decoded without checking the signature.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

impl TestApp {
    /// Registers `email` (with `extra` fields merged into the body).
    pub async fn register(&self, email: &str, extra: Value) -> Response {
        let body = merged(json!({ "email": email, "password": PASSWORD }), &extra);
        self.post_json("/register", &body).await
    }

    /// Registers and verifies `email` without logging in; returns the user id.
    pub async fn verified_account(&self, email: &str) -> String {
        let response = self.register(email, json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        let user: Value = response.json().await.expect("json");
        let link = self.verification_link(email).await;
        let verified = self.get(&path_of(&link), None).await;
        assert_eq!(verified.status(), StatusCode::OK, "verify {email}");
        user["id"].as_str().expect("id").to_owned()
    }

    /// Registers, verifies and logs in a user; returns (user id, access token, refresh token).
    pub async fn verified_user(&self, email: &str) -> (String, String, String) {
        let id = self.verified_account(email).await;
        let (access, refresh) = self.tokens(email, PASSWORD).await;
        (id, access, refresh)
    }

    /// A password-grant login that must succeed; returns (access token, refresh token).
    pub async fn tokens(&self, email: &str, password: &str) -> (String, String) {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login {email}");
        let tokens: Value = response.json().await.expect("json");
        (
            tokens["access_token"].as_str().expect("access").to_owned(),
            tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// `GET /me` as `token`; must answer 200.
    pub async fn me(&self, token: &str) -> Value {
        let response = self.get("/me", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// Logs in with a fresh password grant and returns `GET /me`.
    pub async fn me_after_login(&self, email: &str, password: &str) -> Value {
        let (access, _) = self.tokens(email, password).await;
        let me = self.get("/me", Some(&access)).await;
        assert_eq!(me.status(), StatusCode::OK, "/me of {email}");
        me.json().await.expect("json")
    }

    /// Logs in as the environment administrator; returns (id, access token).
    pub async fn admin(&self) -> (String, String) {
        let (access, _) = self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let id = jwt_claims(&access)["sub"].as_str().expect("sub").to_owned();
        (id, access)
    }

    /// Creates a user through `POST /users` as `staff_token` (password
    /// [`PASSWORD`], `role`, with `extra` fields merged); returns the user.
    pub async fn create_user_as(
        &self,
        staff_token: &str,
        email: &str,
        role: &str,
        extra: Value,
    ) -> Value {
        let body = merged(
            json!({ "email": email, "password": PASSWORD, "role": role }),
            &extra,
        );
        let response = self
            .call(Method::POST, "/users", Some(staff_token), Some(&body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {email}");
        response.json().await.expect("json")
    }

    /// Creates a user with `role` as `staff_token` and logs in as them;
    /// returns (id, access token).
    pub async fn user_with_role_as(
        &self,
        staff_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let user = self
            .create_user_as(staff_token, email, role, json!({}))
            .await;
        let (access, _) = self.tokens(email, PASSWORD).await;
        (user["id"].as_str().expect("id").to_owned(), access)
    }

    /// Creates a user with `role` (as the environment administrator) and
    /// logs in as them; returns (id, access token).
    pub async fn user_with_role(&self, email: &str, role: &str) -> (String, String) {
        let (_, admin) = self.admin().await;
        self.user_with_role_as(&admin, email, role).await
    }

    /// `GET /audit-events?{query}` as `admin_token`; must answer 200.
    pub async fn audit_events(&self, admin_token: &str, query: &str) -> Value {
        let response = self
            .get(&format!("/audit-events?{query}"), Some(admin_token))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "audit-events?{query}");
        response.json().await.expect("json")
    }

    /// The items of `GET /audit-events?{query}`.
    pub async fn audit_items(&self, admin_token: &str, query: &str) -> Vec<Value> {
        self.audit_events(admin_token, query).await["items"]
            .as_array()
            .expect("items")
            .clone()
    }
}

/// The staff calls on user `id`, as `token`.
impl TestApp {
    /// `PUT /users/{id}/role`.
    pub async fn put_role(&self, token: &str, id: &str, role: &str) -> Response {
        let body = json!({ "role": role });
        let path = format!("/users/{id}/role");
        self.call(Method::PUT, &path, Some(token), Some(&body))
            .await
    }

    /// `POST /users/{id}/lock`.
    pub async fn lock_user(&self, token: &str, id: &str) -> Response {
        let path = format!("/users/{id}/lock");
        self.call(Method::POST, &path, Some(token), None).await
    }

    /// `POST /users/{id}/unlock`.
    pub async fn unlock_user(&self, token: &str, id: &str) -> Response {
        let path = format!("/users/{id}/unlock");
        self.call(Method::POST, &path, Some(token), None).await
    }

    /// `DELETE /users/{id}`.
    pub async fn delete_user(&self, token: &str, id: &str) -> Response {
        let path = format!("/users/{id}");
        self.call(Method::DELETE, &path, Some(token), None).await
    }

    /// `PUT /users/{id}/professional`.
    pub async fn set_professional(&self, token: &str, id: &str, value: bool) -> Response {
        let body = json!({ "is_professional": value });
        let path = format!("/users/{id}/professional");
        self.call(Method::PUT, &path, Some(token), Some(&body))
            .await
    }

    /// `PATCH /users/{id}`.
    pub async fn patch_user(&self, token: &str, id: &str, body: &Value) -> Response {
        let path = format!("/users/{id}");
        self.call(Method::PATCH, &path, Some(token), Some(body))
            .await
    }
}
