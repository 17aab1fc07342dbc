//! Where pictures live: object keys, public URLs, and the user row's
//! reference to its picture. The key format is written here only.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::pipeline::Processed;
use crate::db::entities::users;
use crate::error::Result;
use crate::state::AppState;
use crate::storage::Storage;
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

/// Stores the picture, points the user at it, then removes the old object.
/// Storage down → 503 and the row unchanged; a failed row update removes
/// the new object, so nothing is left behind.
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
    state.storage.put(&key, picture.bytes.into()).await?;
    if let Err(err) = set_picture(state, user.id, Some(key.clone()), Some(url)).await {
        if let Err(cleanup) = state.storage.delete(&key).await {
            tracing::warn!(error = %cleanup, "could not remove a picture whose update failed");
        }
        return Err(err);
    }
    if let Some(old) = user.picture_key.as_deref().filter(|old| *old != key)
        && let Err(err) = state.storage.delete(old).await
    {
        tracing::warn!(error = %err, "could not remove a replaced picture");
    }
    repo::find_target(&state.db, user.id.into()).await
}

/// Removes the stored object (503 if storage is down: nothing changes),
/// then the reference; the user is back to the default picture.
pub async fn remove_picture(state: &AppState, user: &users::Model) -> Result<users::Model> {
    if let Some(key) = &user.picture_key {
        state.storage.delete(key).await?;
    }
    set_picture(state, user.id, None, None).await?;
    repo::find_target(&state.db, user.id.into()).await
}

async fn set_picture(
    state: &AppState,
    id: Uuid,
    key: Option<String>,
    url: Option<String>,
) -> Result<()> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::PictureKey, Expr::value(key))
        .col_expr(C::ProfilePictureUrl, Expr::value(url))
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

/// Deletes the stored picture of a user about to be deleted.
pub async fn delete_objects(storage: &Storage, user: &users::Model) -> Result<()> {
    if let Some(key) = &user.picture_key {
        storage.delete(key).await?;
    }
    Ok(())
}
