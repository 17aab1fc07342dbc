//! Request extractors whose rejections are problem+json like every other error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

/// A JSON body. Wrong content type → 415; unparseable → 400; wrong shape,
/// missing or unknown field → 422 naming the field.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), "application/json") {
            return Err(AppError::UnsupportedMediaType(
                "expected a body of type application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

/// A query string. Anything that does not parse (wrong type, unknown
/// parameter, a NUL character, which no database column can hold) → 400
/// naming the problem, on every database alike.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            let name = name.replace('\0', "\\0");
            return Err(AppError::BadRequest(format!(
                "invalid query parameter `{name}`: must not contain a NUL character"
            )));
        }
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path.is_empty() || path == "." {
                    AppError::BadRequest(format!("invalid query string: {inner}"))
                } else {
                    AppError::BadRequest(format!("invalid query parameter `{path}`: {inner}"))
                }
            })
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        classify(&path, err.into_inner())
    })?;
    de.end().map_err(|err| classify("", err))?;
    Ok(value)
}

fn classify(path: &str, err: serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::BadRequest(format!("the body is not valid JSON: {err}"))
        }
        Category::Data => AppError::Validation(vec![data_error(path, &err)]),
    }
}

/// Names the field of a serde data error. Unknown and missing fields name
/// themselves in the message; other errors are located by `path`.
fn data_error(path: &str, err: &serde_json::Error) -> FieldError {
    let message = err.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = named("unknown field `") {
        let field = join_path(path, &field);
        return FieldError::new(field, "unknown field");
    }
    if let Some(field) = named("missing field `") {
        let field = join_path(path, &field);
        return FieldError::new(field, "field required");
    }
    let field = if path.is_empty() || path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    FieldError::new(field, message)
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == field || parent.ends_with(&format!(".{field}")) {
        parent.to_owned()
    } else if parent.is_empty() || parent == "." {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

/// True when the request declares `expected` (parameters such as charset allowed).
pub fn has_content_type(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Maps a body-reading failure (mostly the size limit) to a problem.
pub fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge("the request body is too large".into())
    } else {
        AppError::BadRequest(rejection.body_text())
    }
}

/// Path parameters. A segment that does not parse (say, a user id that is
/// not a UUID) names no resource: 404, like an unknown one.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| AppError::NotFound("no such resource".into()))
    }
}

/// The client's `User-Agent`, truncated to what the sessions table keeps.
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(255).collect()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Body {
        email: String,
        age: Option<u8>,
    }

    fn field_of(result: Result<Body, AppError>) -> String {
        match result {
            Err(AppError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_400() {
        assert!(matches!(
            parse_json::<Body>(b"{\"email\": "),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"email":"a"} trailing"#),
            Err(AppError::BadRequest(_))
        ));
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(
            field_of(parse_json(br#"{"email":"a","role":"ADMIN"}"#)),
            "role"
        );
        assert_eq!(field_of(parse_json(br#"{}"#)), "email");
        assert_eq!(field_of(parse_json(br#"{"email":"a","age":"x"}"#)), "age");
        assert_eq!(field_of(parse_json(br#""text""#)), "body");
    }
}
