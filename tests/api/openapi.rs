//! The self-description of the service: `/openapi.json` (compared with the
//! snapshots in `tests/api/snapshots/`; every documented operation is
//! routed) and `/docs` (works offline).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_databases;

const SNAPSHOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/snapshots");

/// Compares `actual` with the snapshot `name`, or rewrites it when
/// `UPDATE_SNAPSHOTS=1` (review the diff before committing).
fn assert_snapshot(name: &str, actual: &str) {
    let path = format!("{SNAPSHOT_DIR}/{name}");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {path}: run with UPDATE_SNAPSHOTS=1"));
    assert!(
        expected == actual,
        "{name} changed; if intended, run with UPDATE_SNAPSHOTS=1 and review the diff\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn operations(spec: &Value) -> BTreeSet<String> {
    spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

async fn openapi_lists_every_route(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app.get("/openapi.json", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    let ops = operations(&spec);
    let listing = ops.iter().cloned().collect::<Vec<_>>().join("\n") + "\n";
    assert_snapshot("openapi_operations.txt", &listing);
    assert_snapshot(
        "openapi.json",
        &(serde_json::to_string_pretty(&spec).expect("pretty") + "\n"),
    );
    // Every documented operation is routed (a 404 would mean docs without a route).
    for op in &ops {
        let (method, path) = op.split_once(' ').expect("op");
        let path = path
            .replace("{user_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{token}", "x");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = app.request(method, &path).send().await.expect("request");
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{op}");
        if status == StatusCode::NOT_FOUND {
            // A handler may answer 404 for an unknown resource; the router's
            // own fallback ("no such resource") means the route is missing.
            let body: Value = response.json().await.expect("problem");
            assert_ne!(
                body["detail"], "no such resource",
                "{op} is documented but not routed"
            );
        }
    }
    // The Authorize button logs in through /login with the password flow.
    let flow = &spec["components"]["securitySchemes"]["oauth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/login");
}

async fn docs_load_no_external_asset(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");

    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().expect("attribute value");
            assert!(
                !target.contains("//"),
                "/docs references an external asset: {target}"
            );
            assets.push(target.trim_start_matches("./").to_owned());
        }
    }
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{assets:?}");
    for asset in assets {
        let response = app.get(&format!("/docs/{asset}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "/docs/{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .expect("js");
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(
        init.contains("\"validatorUrl\": \"none\""),
        "no call to an external validator"
    );
}

/// Every path answers with a trailing slash, the document's own included.
async fn the_document_answers_with_a_trailing_slash(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let plain: Value = app
        .get("/openapi.json", None)
        .await
        .json()
        .await
        .expect("json");
    let slashed = app.get("/openapi.json/", None).await;
    assert_eq!(slashed.status(), StatusCode::OK);
    assert_eq!(slashed.json::<Value>().await.expect("json"), plain);
}

on_both_databases!(
    the_document_answers_with_a_trailing_slash,
    openapi_lists_every_route,
    docs_load_no_external_asset,
);
