//! Where pictures live: object keys, public URLs, and the user row's
//! reference to its picture. The key format is written here only.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::pipeline::Processed;
use crate::db::entities::users;
use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::storage::{Storage, StorageError};
use crate::time;
use crate::users::repo;

/// The object key of a stored picture.
pub fn object_key(user_id: Uuid, digest: &str, extension: &str) -> String {
    format!("avatars/{user_id}/{digest}.{extension}")
}

/// The public URL of a stored picture (served by `GET /pictures/...`).
fn stored_url(base: &str, user_id: Uuid, digest: &str, extension: &str) -> String {
    format!("{base}/pictures/{user_id}/{digest}.{extension}")
}

/// Where every object of a user lives: deleting the picture or the
/// account removes everything under it.
fn user_prefix(user_id: Uuid) -> String {
    format!("avatars/{user_id}")
}

/// Stores the picture, then points the user at it if their picture is
/// still the one this upload replaces (a compare-and-set on the key), then
/// removes the old object. Storage down → 503 and the row unchanged. When
/// another change landed first, the new object is removed and the answer
/// is 409 (404 if the user is gone): no object is left unreferenced.
pub async fn replace_picture(
    state: &AppState,
    user: &users::Model,
    picture: Processed,
) -> Result<users::Model> {
    let key = object_key(user.id, &picture.digest, picture.extension);
    let url = stored_url(
        state.config.base_url(),
        user.id,
        &picture.digest,
        picture.extension,
    );
    let old = user.picture_key.as_deref();
    state.storage.put(&key, picture.bytes.into()).await?;
    match set_picture_if(state, user.id, old, &key, &url).await {
        Ok(true) => {}
        Ok(false) => return lost_race(state, user.id, &key).await,
        Err(err) => {
            if old != Some(key.as_str()) {
                discard(&state.storage, &key).await;
            }
            return Err(err);
        }
    }
    if let Some(old) = old.filter(|old| *old != key) {
        discard(&state.storage, old).await;
    }
    repo::find_target(&state.db, user.id.into()).await
}

/// Another change to the user's picture (or the user's deletion) landed
/// while this upload was processed. If it set the same picture, fine;
/// otherwise this upload's object goes.
async fn lost_race(state: &AppState, id: Uuid, key: &str) -> Result<users::Model> {
    let current = repo::find_by_id(&state.db, id).await;
    if let Ok(Some(current)) = &current
        && current.picture_key.as_deref() == Some(key)
    {
        return Ok(current.clone());
    }
    discard(&state.storage, key).await;
    match current? {
        None => Err(AppError::NotFound("no such user".into())),
        Some(_) => Err(AppError::Conflict(
            "the picture changed while this one was processed; send it again".into(),
        )),
    }
}

/// Deletes `key`, logging a failure: the object is unreferenced either way.
async fn discard(storage: &Storage, key: &str) {
    if let Err(err) = storage.delete(key).await {
        tracing::warn!(error = %err, "could not remove an unreferenced picture");
    }
}

/// Removes every object under the user's prefix (503 if storage is down:
/// nothing changes), points the user back at the default picture, then
/// sweeps the prefix again for what a concurrent upload stored meanwhile,
/// sparing only a picture such an upload has set since.
pub async fn remove_picture(state: &AppState, user: &users::Model) -> Result<users::Model> {
    delete_all_but(&state.storage, user.id, None).await?;
    clear_picture(state, user.id).await?;
    let current = repo::find_target(&state.db, user.id.into()).await?;
    let keep = current.picture_key.as_deref();
    if let Err(err) = delete_all_but(&state.storage, user.id, keep).await {
        tracing::warn!(error = %err, "could not sweep a user's pictures");
    }
    Ok(current)
}

/// Deletes every object under `user_id`'s prefix but `keep`.
async fn delete_all_but(
    storage: &Storage,
    user_id: Uuid,
    keep: Option<&str>,
) -> Result<(), StorageError> {
    for key in storage.keys_under(&user_prefix(user_id)).await? {
        if Some(key.as_str()) != keep {
            storage.delete(&key).await?;
        }
    }
    Ok(())
}

/// Points the user at the picture `key` (served at `url`) if their key is
/// still `expected` (`None`: they had none); `false` when it was not.
async fn set_picture_if(
    state: &AppState,
    id: Uuid,
    expected: Option<&str>,
    key: &str,
    url: &str,
) -> Result<bool> {
    use users::Column as C;
    let unchanged = match expected {
        Some(expected) => C::PictureKey.eq(expected),
        None => C::PictureKey.is_null(),
    };
    let updated = users::Entity::update_many()
        .col_expr(C::PictureKey, Expr::value(key))
        .col_expr(C::ProfilePictureUrl, Expr::value(url))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .filter(unchanged)
        .exec(&state.db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Points the user back at the default picture.
async fn clear_picture(state: &AppState, id: Uuid) -> Result<()> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::PictureKey, Expr::value(Option::<String>::None))
        .col_expr(C::ProfilePictureUrl, Expr::value(Option::<String>::None))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The URL of `user`'s picture: the stored one, or the generated default.
pub fn picture_url(user: &users::Model, base: &str) -> String {
    user.profile_picture_url
        .clone()
        .unwrap_or_else(|| format!("{base}/pictures/{}/default.svg", user.id))
}

/// Deletes every stored object of a user about to be deleted (503 if
/// storage is down: the caller then deletes nothing).
pub async fn delete_objects(storage: &Storage, user: &users::Model) -> Result<()> {
    Ok(delete_all_but(storage, user.id, None).await?)
}

/// After a user's deletion is committed: removes what an upload still in
/// flight stored since [`delete_objects`]. Best effort, logged.
pub async fn delete_leftovers(storage: &Storage, user_id: Uuid) {
    if let Err(err) = delete_all_but(storage, user_id, None).await {
        tracing::warn!(error = %err, "could not sweep a deleted user's pictures");
    }
}
