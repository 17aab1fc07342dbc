//! The router: every feature's routes, the docs, and the layers around
//! them (request id, trace, timeout, body limit, CORS, security headers,
//! metrics, panics as 500).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use super::error::problem_response;
use super::{openapi, ops, ratelimit};
use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;
use crate::{audit, auth, pages, pictures, users};

/// The docs page: own scripts and styles only (Swagger UI sets inline
/// styles), no framing, requests only to this service.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The policy of JSON answers (and of any answer that sets none): load nothing.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// Largest total size of a request's header fields, in line with common
/// reverse proxies; larger is 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest JSON or form body.
const BODY_LIMIT: usize = 64 * 1024;

/// The API routes and their OpenAPI document.
pub fn api(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let picture_limit = state.config.avatar_max_bytes.saturating_add(64 * 1024);
    // The token endpoint answers a rejection as an RFC 6749 error, the other
    // authentication routes as problem+json; both draw on one budget.
    let token_endpoint = auth::token_router(state.clone());
    let limited = users::limited_router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        ratelimit::limit,
    ));
    let (router, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(ops::router())
        .merge(token_endpoint)
        .merge(limited)
        .merge(auth::router())
        .merge(auth::mfa_router(state.clone()))
        .merge(users::router())
        .merge(audit::router())
        .merge(pictures::router())
        .merge(pictures::upload_router().layer(axum::extract::DefaultBodyLimit::max(picture_limit)))
        .split_for_parts();
    let router = router
        .fallback(|| async { AppError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async {
            problem_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed on this resource".into(),
                None,
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response),
        )
        .with_state(state);
    (router, api)
}

/// The one log line of a finished request; the latency is a number.
fn log_response(
    response: &axum::http::Response<axum::body::Body>,
    latency: Duration,
    _: &tracing::Span,
) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "finished processing request"
    );
}

/// The whole HTTP application: API (trailing slashes trimmed), docs, and
/// the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    // Pages set their own policy and headers (see `pages::view`).
    let pages = pages::router(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response),
        )
        .with_state(state.clone());
    let (api_router, api_doc) = api(state);
    // JSON answers load nothing; the docs page loads only its own bundled assets.
    // Personal data is never stored by a cache unless a route says otherwise
    // (pictures, public profiles).
    let api_router = api_router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let normalized = NormalizePathLayer::trim_trailing_slash().layer(api_router);
    edge(
        docs(api_doc).merge(pages).fallback_service(normalized),
        &config,
    )
}

/// The cross-cutting layers around `app`, outermost last: the panic handler
/// and the request timeout, then CORS, the header size limit, the security
/// headers and the request id, so that every answer (408, 500 and 431
/// included) carries the security headers and the request id.
pub fn edge(app: Router, config: &Config) -> Router {
    let mut app = app
        .layer(catch_panic())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ));
    // Outside the timeout and the panic handler, so that their 408 and 500
    // answers carry the CORS and security headers too.
    if let Some(cors) = cors(&config.cors_allowed_origins) {
        app = app.layer(cors);
    }
    let request_id = HeaderName::from_static("x-request-id");
    with_security_headers(app.layer(axum::middleware::from_fn(limit_header_size)))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unsafe_request_id))
}

/// Longest client-supplied request id kept.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// Keeps a client's `X-Request-Id` only when it is a single value of at
/// most [`MAX_REQUEST_ID_CHARS`] characters of `[A-Za-z0-9._-]`, safe in
/// log lines and answers; otherwise drops it, and a fresh one is made.
async fn drop_unsafe_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all("x-request-id").iter();
    let safe = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => is_safe_request_id(value.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !safe {
        headers.remove("x-request-id");
    }
    request
}

fn is_safe_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

type PanicHandler = fn(Box<dyn std::any::Any + Send>) -> Response;

/// A panic is a bug; still, the client gets a problem+json 500, not a cut connection.
fn catch_panic() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(panic_response as PanicHandler)
}

fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "an internal error occurred".into(),
        None,
    )
}

/// Answers 431 when the request's header fields, counted as sent
/// (`name: value` and the line end), exceed [`MAX_HEADER_BYTES`].
async fn limit_header_size(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return problem_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request header fields exceed {MAX_HEADER_BYTES} bytes"),
            None,
        );
    }
    next.run(request).await
}

/// Swagger UI at `/docs` and the document at `/openapi.json` (also with a
/// trailing slash). Swagger's own routes redirect `/docs` to `/docs/`, so
/// they stay outside the trailing-slash normalisation.
fn docs(api_doc: utoipa::openapi::OpenApi) -> Router {
    // No validator badge: it would call an external service from the browser.
    let docs_config = utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none");
    let document = axum::Json(api_doc.clone());
    Router::from(
        SwaggerUi::new("/docs")
            .url("/openapi.json", api_doc)
            .config(docs_config),
    )
    .route(
        "/openapi.json/",
        axum::routing::get(move || async move { document }),
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}

fn with_security_headers(app: Router) -> Router {
    app.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(API_CSP),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    ))
}

/// The span of one request. It names the matched route template, never the
/// raw path: paths can carry tokens (`/verify-email/{user_id}/{token}`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route, request_id = %id)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}
