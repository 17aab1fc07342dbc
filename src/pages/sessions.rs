//! `GET /account/sessions`: where the account is signed in, with "sign out
//! this one" and "sign out all others" (the same functions as
//! `DELETE /me/sessions/{id}` and `DELETE /me/sessions`).

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use super::form::{NoFields, PageForm};
use super::view::{View, see_other};
use super::visitor::SignedIn;
use crate::auth::sessions;
use crate::state::AppState;

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `GET /account/sessions`.
pub async fn sessions_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let current = signed_in.session.session.id;
    let rows = match sessions::live_of(&state.db, signed_in.session.user.id).await {
        Ok(rows) => rows,
        Err(err) => {
            return View::message("Sessions", &[], None)
                .failed(err.into())
                .render(&state, &signed_in.visitor);
        }
    };
    let listed: Vec<_> = rows
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "current": s.id == current,
                "user_agent": s.user_agent,
                "client_addr": s.client_addr,
                "created_at": when(s.created_at),
                "last_used_at": when(s.last_used_at),
            })
        })
        .collect();
    View::new("sessions.html", "Your sessions")
        .with("sessions", listed)
        .render(&state, &signed_in.visitor)
}

/// `POST /account/sessions/{id}/end`: signs out one of the visitor's other sessions.
pub async fn end_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(NoFields {}): PageForm<NoFields>,
) -> Response {
    let user = signed_in.session.user.id;
    let result = match Uuid::parse_str(&id) {
        Ok(id) => sessions::revoke_own(&state.db, user, id).await.map(|_| ()),
        Err(_) => Ok(()),
    };
    match result {
        Ok(()) => see_other(&state, "/account/sessions"),
        Err(err) => View::message("Sessions", &[], None)
            .failed(err.into())
            .render(&state, &signed_in.visitor),
    }
}

/// `POST /account/sessions/end-others`: every session but this one ends.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(NoFields {}): PageForm<NoFields>,
) -> Response {
    let session = &signed_in.session;
    match sessions::revoke_all(&state.db, session.user.id, Some(session.session.id)).await {
        Ok(_) => see_other(&state, "/account/sessions"),
        Err(err) => View::message("Sessions", &[], None)
            .failed(err.into())
            .render(&state, &signed_in.visitor),
    }
}
