//! An upload, for every face that takes one (`PUT /me/picture`, the staff
//! upload, the account page): the uploader's hourly limit, then the body,
//! then the decode budget, the pipeline on an image worker, and the store.

use std::future::Future;

use uuid::Uuid;

use super::pipeline::{self, PipelineError, Plan, Processed};
use super::store;
use crate::db::entities::users;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// The refusal of a body past `AVATAR_MAX_BYTES` (`max`).
pub fn too_large(max: usize) -> AppError {
    AppError::PayloadTooLarge(format!("the picture must be at most {max} bytes"))
}

/// Counts the upload against `uploader`'s hourly limit, then reads the
/// body (`read`, which refuses it past `AVATAR_MAX_BYTES` before it takes
/// any decode budget), plans the decoding from the header, waits for that
/// share of the decode budget, converts the image and stores it as
/// `user`'s picture. `field` names the form field the file came in, for a
/// refusal of its pixel count.
pub async fn upload(
    state: &AppState,
    uploader: Uuid,
    user: &users::Model,
    field: &str,
    read: impl Future<Output = Result<Vec<u8>>>,
) -> Result<users::Model> {
    state.upload_limit.check(uploader)?;
    let bytes = read.await?;
    let plan = pipeline::plan(&bytes).map_err(|e| refusal(field, e))?;
    let share = state.decode_budget.take(plan.memory).await?;
    let picture = process(state, bytes, plan, field).await;
    drop(share);
    store::replace_picture(state, user, picture?).await
}

/// Runs the pipeline on an image worker thread.
async fn process(state: &AppState, bytes: Vec<u8>, plan: Plan, field: &str) -> Result<Processed> {
    let result = state
        .image_workers
        .run(move || pipeline::process_planned(&bytes, &plan))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    result.map_err(|e| refusal(field, e))
}

fn refusal(field: &str, e: PipelineError) -> AppError {
    match e {
        PipelineError::Unsupported => AppError::UnsupportedMediaType(e.to_string()),
        PipelineError::TooLarge { .. } => AppError::field(field, e.to_string()),
    }
}
