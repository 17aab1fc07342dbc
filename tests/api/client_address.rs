//! The client address (and trusted proxies): `X-Forwarded-For` is believed
//! only from a trusted proxy, for the rate limit's buckets and for the
//! address a session records; an IPv6 client is its /64, and an entry that
//! is not an address means the proxy itself.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, path_of, spawn_app_with};
use crate::on_both_databases;

/// A login through a trusted proxy records the forwarded client in its
/// session.
async fn assert_session_records_the_forwarded_client(proxied: &TestApp) {
    let registered = proxied
        .request(Method::POST, "/register")
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({ "email": "proxied@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = proxied.verification_link("proxied@example.com").await;
    assert_eq!(
        proxied.get(&path_of(&link), None).await.status(),
        StatusCode::OK
    );
    let login = proxied
        .request(Method::POST, "/login")
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("username", "proxied@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: Value = login.json().await.expect("json");
    let sessions: Value = proxied
        .get("/me/sessions", tokens["access_token"].as_str())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sessions[0]["client_addr"], "198.51.100.7", "{sessions}");
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(backend: Backend) {
    let Some(proxied) = spawn_app_with(backend, |c| {
        c.auth_rate_limit = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let Some(direct) = spawn_app_with(backend, |c| c.auth_rate_limit = 2).await else {
        return;
    };
    let (a, b) = (Some("203.0.113.10"), Some("203.0.113.20"));

    let proxied_statuses = [
        proxied.resend_from(a).await.status(),
        proxied.resend_from(a).await.status(),
        proxied.resend_from(a).await.status(),
        proxied.resend_from(b).await.status(),
        proxied.resend_from(None).await.status(),
    ];
    let direct_statuses = [
        direct.resend_from(a).await.status(),
        direct.resend_from(b).await.status(),
        direct.resend_from(None).await.status(),
    ];

    use StatusCode as S;
    assert_eq!(
        proxied_statuses,
        [
            S::ACCEPTED,
            S::ACCEPTED,
            S::TOO_MANY_REQUESTS,
            S::ACCEPTED,
            S::ACCEPTED
        ],
        "behind a trusted proxy each forwarded client has its own bucket"
    );
    assert_eq!(
        direct_statuses,
        [S::ACCEPTED, S::ACCEPTED, S::TOO_MANY_REQUESTS],
        "from an untrusted peer the header is ignored: one bucket"
    );
    // The forwarded client is also the address a session records.
    assert_session_records_the_forwarded_client(&proxied).await;
}

/// The statuses of `POST /verify-email/resend` from each forwarded client in turn.
async fn statuses_from(app: &TestApp, clients: &[&str]) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for client in clients {
        statuses.push(app.resend_from(Some(client)).await.status());
    }
    statuses
}

async fn an_ipv6_network_shares_one_budget(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.auth_rate_limit = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let statuses = statuses_from(
        &app,
        &[
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:fffe",
            "2001:db8:1:2::3",
            "2001:db8:1:3::1",
            "2001:db8:1:3::2",
            "::ffff:203.0.113.30",
            "203.0.113.30",
            "::ffff:203.0.113.30",
        ],
    )
    .await;
    use StatusCode as S;
    let (ok, limited) = (S::ACCEPTED, S::TOO_MANY_REQUESTS);
    assert_eq!(
        statuses,
        [ok, ok, limited, ok, ok, ok, ok, limited],
        "one budget per /64, a mapped address on its IPv4 one"
    );

    let Some(per_address) = spawn_app_with(backend, |c| {
        c.auth_rate_limit = 1;
        c.rate_limit_ipv6_prefix = 128;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let statuses = statuses_from(
        &per_address,
        &["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::1"],
    )
    .await;
    assert_eq!(statuses, [ok, ok, limited], "RATE_LIMIT_IPV6_PREFIX=128");
}

async fn an_unparseable_forwarded_entry_counts_as_the_proxy(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.auth_rate_limit = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    // A client writes a fresh address on each request, and the proxy
    // appends something that is not an address: the client must not get
    // the budget of what it wrote.
    let statuses = statuses_from(
        &app,
        &[
            "198.51.100.1, unknown",
            "198.51.100.2, _hidden",
            "198.51.100.3, not-an-address",
            "198.51.100.4",
        ],
    )
    .await;
    use StatusCode as S;
    assert_eq!(
        statuses,
        [S::ACCEPTED, S::ACCEPTED, S::TOO_MANY_REQUESTS, S::ACCEPTED],
        "the three count against the proxy's budget"
    );
}

on_both_databases!(
    forwarded_for_is_believed_only_from_trusted_proxies,
    an_ipv6_network_shares_one_budget,
    an_unparseable_forwarded_entry_counts_as_the_proxy,
);
