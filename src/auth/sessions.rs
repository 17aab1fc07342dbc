//! Session rows: created at login, rotated on refresh, revoked on logout,
//! password change, role change, lock or deletion.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic,
    Iterable, QueryFilter, QueryResult, Statement, TryGetable,
};
use uuid::Uuid;

use super::tokens;
use crate::db::entities::{sessions, users};
use crate::db::lookup::Lookup;
use crate::time;

/// Where a login came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The client address.
    pub client_addr: Option<String>,
}

/// Creates a session and returns it with its first refresh token.
pub async fn create(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    origin: Origin,
    ttl: Duration,
) -> Result<(sessions::Model, String), DbErr> {
    let id = Uuid::new_v4();
    let now = time::now();
    let refresh = tokens::new_refresh_token(id, 0);
    let row = sessions::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        refresh_token_hash: Set(tokens::digest(&refresh)),
        generation: Set(0),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(time::after(now, ttl)),
        revoked_at: Set(None),
        user_agent: Set(origin.user_agent),
        client_addr: Set(origin.client_addr),
        previous_refresh_token_hash: Set(None),
    };
    let model = sessions::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    Ok((model, refresh))
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// Rotated: the new refresh token, and the session's user id.
    Rotated {
        /// The session.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
        /// The next refresh token.
        refresh_token: String,
    },
    /// Unknown, expired, revoked, forged, or older than the previous one.
    Invalid,
    /// The previous token, already rotated: the session has been revoked.
    Reused,
}

/// Rotates the refresh token `token` atomically: of two concurrent uses of
/// one token, exactly one succeeds and the other counts as reuse.
///
/// Only a token the server issued counts as reuse: the previous
/// generation's token, recognised by its digest. Any other token that is
/// not the current one (a forged secret, an older or later generation) is
/// just invalid and leaves the session alone, so knowing a session id is
/// not enough to end someone's session.
pub async fn rotate(
    conn: &impl ConnectionTrait,
    token: &str,
    ttl: Duration,
) -> Result<Rotation, DbErr> {
    use sessions::Column as C;
    let Some(claims) = tokens::parse_refresh_token(token) else {
        return Ok(Rotation::Invalid);
    };
    let now = time::now();
    let Some(session) = sessions::Entity::find_by_id(claims.session_id)
        .one(conn)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    let presented = tokens::digest(token);
    if claims.generation == session.generation
        && tokens::digests_equal(&presented, &session.refresh_token_hash)
    {
        let next = tokens::new_refresh_token(session.id, claims.generation.saturating_add(1));
        let updated = sessions::Entity::update_many()
            .col_expr(C::RefreshTokenHash, Expr::value(tokens::digest(&next)))
            .col_expr(C::PreviousRefreshTokenHash, Expr::value(presented.clone()))
            .col_expr(
                C::Generation,
                Expr::value(claims.generation.saturating_add(1)),
            )
            .col_expr(C::LastUsedAt, Expr::value(now))
            .col_expr(C::ExpiresAt, Expr::value(time::after(now, ttl)))
            .filter(C::Id.eq(session.id))
            .filter(C::Generation.eq(claims.generation))
            .filter(C::RefreshTokenHash.eq(presented))
            .filter(C::RevokedAt.is_null())
            .exec(conn)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(Rotation::Rotated {
                session_id: session.id,
                user_id: session.user_id,
                refresh_token: next,
            });
        }
        // A lost race with a concurrent rotation of this same, genuine token.
    } else if !is_previous(&session, claims.generation, &presented) {
        return Ok(Rotation::Invalid);
    }
    revoke(conn, session.id).await?;
    tracing::warn!(session_id = %session.id, "refresh token reuse: session revoked");
    Ok(Rotation::Reused)
}

/// Whether the presented token (its generation and digest) is the one this
/// session rotated away from last: compared in constant time.
fn is_previous(session: &sessions::Model, generation: i32, presented: &str) -> bool {
    let previous = session.previous_refresh_token_hash.as_deref();
    generation.checked_add(1) == Some(session.generation)
        && previous.is_some_and(|previous| tokens::digests_equal(presented, previous))
}

/// Revokes one session.
pub async fn revoke(conn: &impl ConnectionTrait, session_id: Uuid) -> Result<bool, DbErr> {
    use sessions::Column as C;
    let result = sessions::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(time::now()))
        .filter(C::Id.eq(session_id))
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes every session of a user, except `keep` if given.
pub async fn revoke_all(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, DbErr> {
    use sessions::Column as C;
    let mut update = sessions::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(C::Id.ne(keep));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// What a request needs of its live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    /// The session id.
    pub id: Uuid,
    /// When it was last used (kept to the minute, see [`touch`]).
    pub last_used_at: DateTime<Utc>,
}

/// The live session `session_id` of `user_id`, with its user: one primary
/// key lookup joined with the user row.
///
/// This runs on every authenticated request, so it is one fixed SQL text
/// decoded by position, with only the key as a parameter: PostgreSQL then
/// keeps one generic plan for it instead of planning every execution (a
/// timestamp parameter made it re-plan each time, costing more than the
/// lookup). Ownership, revocation and expiry are checked here.
pub async fn find_active(
    conn: &impl ConnectionTrait,
    lookup: &Lookup,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(LiveSession, users::Model)>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = find_active_sql(backend);
    let row = match lookup.postgres() {
        Some(postgres) => postgres
            .fetch_optional(sql, session_id)
            .await?
            .map(QueryResult::from),
        None => {
            let statement = Statement::from_sql_and_values(backend, sql, [session_id.into()]);
            conn.query_one_raw(statement).await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let mut columns = Columns { row: &row, next: 0 };
    let user = users_by_position(&mut columns)?;
    let owner: Uuid = columns.next()?;
    let revoked_at: Option<DateTime<Utc>> = columns.next()?;
    let expires_at: DateTime<Utc> = columns.next()?;
    let session = LiveSession {
        id: session_id,
        last_used_at: columns.next()?,
    };
    let live = owner == user_id && revoked_at.is_none() && expires_at > time::now();
    Ok(live.then_some((session, user)))
}

/// The SQL of [`find_active`]: every user column in entity order, then the
/// session's owner, revocation, expiry and last use.
fn find_active_sql(backend: DbBackend) -> &'static str {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static SQLITE: OnceLock<String> = OnceLock::new();
    let (cell, placeholder) = match backend {
        DbBackend::Postgres => (&POSTGRES, "$1"),
        _ => (&SQLITE, "?"),
    };
    cell.get_or_init(|| {
        let columns: Vec<String> = users::Column::iter()
            .map(|c| format!("u.{}", c.as_str()))
            .collect();
        format!(
            "SELECT {}, s.user_id, s.revoked_at, s.expires_at, s.last_used_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = {placeholder}",
            columns.join(", ")
        )
    })
}

/// Reads a row's columns in order.
struct Columns<'a> {
    row: &'a QueryResult,
    next: usize,
}

impl Columns<'_> {
    fn next<T: TryGetable>(&mut self) -> Result<T, DbErr> {
        let value = self.row.try_get_by_index(self.next);
        self.next += 1;
        value
    }
}

/// A user row from its columns in `users::Column` order.
fn users_by_position(c: &mut Columns<'_>) -> Result<users::Model, DbErr> {
    Ok(users::Model {
        id: c.next()?,
        email: c.next()?,
        email_norm: c.next()?,
        nickname: c.next()?,
        nickname_norm: c.next()?,
        first_name: c.next()?,
        last_name: c.next()?,
        bio: c.next()?,
        profile_picture_url: c.next()?,
        picture_key: c.next()?,
        linkedin_profile_url: c.next()?,
        github_profile_url: c.next()?,
        role: c.next()?,
        is_professional: c.next()?,
        professional_status_updated_at: c.next()?,
        email_verified: c.next()?,
        is_locked: c.next()?,
        locked_until: c.next()?,
        lock_reason: c.next()?,
        failed_login_attempts: c.next()?,
        password_hash: c.next()?,
        last_login_at: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
        search_text: c.next()?,
    })
}

/// Marks a session used, at most once a minute (it is only informational,
/// and a write per request would cost more than the request).
pub async fn touch(conn: &impl ConnectionTrait, session: LiveSession) -> Result<(), DbErr> {
    use sessions::Column as C;
    let now = time::now();
    if now - session.last_used_at < chrono::Duration::seconds(60) {
        return Ok(());
    }
    sessions::Entity::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .filter(C::Id.eq(session.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The live sessions of `user_id`, newest first.
pub async fn live_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<sessions::Model>, DbErr> {
    use sea_orm::QueryOrder;
    use sessions::Column as C;
    sessions::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null())
        .filter(C::ExpiresAt.gt(time::now()))
        .order_by_desc(C::CreatedAt)
        .all(conn)
        .await
}

/// Revokes session `session_id` if it belongs to `user_id` and is live;
/// false for any other id (so another user's id reveals nothing).
pub async fn revoke_own(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<bool, DbErr> {
    use sessions::Column as C;
    let result = sessions::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(time::now()))
        .filter(C::Id.eq(session_id))
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
