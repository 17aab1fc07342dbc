//! Profile pictures: uploaded, validated, squared to 512×512, stored in
//! object storage under a key made of the user id and the content hash,
//! served with long cache lifetimes; a generated default for everyone else.

pub mod default;
pub mod limits;
pub mod pipeline;
pub mod routes;
pub mod store;
pub mod upload;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Uploads (with their own body limit) and removal.
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            routes::upload_my_picture,
            routes::delete_my_picture
        ))
        .routes(routes!(
            routes::upload_user_picture,
            routes::delete_user_picture
        ))
}

/// Serving.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::serve_picture))
}
