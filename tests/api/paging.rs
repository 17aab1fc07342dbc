//! The paging shared by the staff listings (`GET /users`, `GET
//! /audit-events`): an offset beyond what the databases can take is a 422,
//! not a 500 (found by contract fuzzing, `.ci/fuzz-api.sh`), and the largest
//! documented one is answered.

use reqwest::StatusCode;

use crate::helpers::{Backend, assert_problem, spawn_app_with_admin};
use crate::on_both_databases;

/// `skip=2^63` overflowed the databases' 64-bit offset: a 500.
async fn a_huge_skip_is_a_422_not_a_500(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;

    for path in [
        "/users?skip=9223372036854775808",
        "/audit-events?skip=9223372036854775808",
    ] {
        let body = assert_problem(
            app.get(path, Some(&admin)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "skip", "{path}");
    }
    // The largest documented offset is answered (with an empty page).
    let page = app.get("/users?skip=1000000000000", Some(&admin)).await;
    assert_eq!(page.status(), StatusCode::OK);
}

on_both_databases!(a_huge_skip_is_a_422_not_a_500,);
