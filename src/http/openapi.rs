//! The OpenAPI 3.1 document, assembled from the handlers' annotations (so a
//! route cannot exist without its docs), served at `/openapi.json`, with
//! Swagger UI at `/docs` (assets bundled: works offline).

use utoipa::Modify;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Schema};

/// Static parts of the document: info, tags, the security scheme.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "User Management",
        description = "Accounts, login and roles as a small, fast service.\n\n\
            Conventions: JSON in and out; errors are RFC 9457 problem details \
            (`application/problem+json`) except at the token endpoint, which answers \
            RFC 6749 JSON errors. Every path also answers with a trailing slash. \
            `/docs` redirects to `/docs/`.\n\n\
            Authorize with the OAuth2 password flow: the username is the email."
    ),
    modifiers(&Security, &DocsPaths),
    components(responses(
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::NotFound,
        responses::Conflict,
        responses::PayloadTooLarge,
        responses::UnsupportedMediaType,
        responses::Unprocessable,
        responses::TooManyRequests,
        responses::Unavailable,
    )),
    tags(
        (name = "auth", description = "Token endpoint, logout"),
        (name = "registration", description = "Sign-up and email verification"),
        (name = "me", description = "The caller's own account"),
        (name = "password", description = "Password reset"),
        (name = "users", description = "Staff administration of users (MANAGER, ADMIN)"),
        (name = "profiles", description = "Public profiles"),
        (name = "pictures", description = "Profile pictures"),
        (name = "audit", description = "The audit trail (ADMIN)"),
        (name = "ops", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new("/login", Scopes::new()))],
                "OAuth2 password flow at /login; send the access token as `Authorization: Bearer`.",
            )),
        );
    }
}

/// `/openapi.json` and `/docs` are served by Swagger UI's router, not by
/// annotated handlers; they are described here so the document is complete.
struct DocsPaths;

impl Modify for DocsPaths {
    fn modify(&self, openapi: &mut OpenApi) {
        let get = |id: &str, summary: &str, content_type: &str, schema: Schema| {
            OperationBuilder::new()
                .tag("ops")
                .operation_id(Some(id))
                .summary(Some(summary))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description(summary)
                        .content(content_type, Content::new(Some(schema)))
                        .build(),
                )
                .build()
        };
        let object = Schema::Object(utoipa::openapi::schema::Object::with_type(
            utoipa::openapi::schema::Type::Object,
        ));
        let string = Schema::Object(utoipa::openapi::schema::Object::with_type(
            utoipa::openapi::schema::Type::String,
        ));
        openapi.paths.add_path_operation(
            "/openapi.json",
            vec![HttpMethod::Get],
            get(
                "openapi",
                "This OpenAPI 3.1 document",
                "application/json",
                object,
            ),
        );
        let mut docs = get(
            "docs",
            "Interactive API docs (Swagger UI, works offline)",
            "text/html",
            string,
        );
        docs.responses.responses.insert(
            "303".to_owned(),
            ResponseBuilder::new()
                .description("`/docs` redirects to `/docs/`")
                .build()
                .into(),
        );
        openapi
            .paths
            .add_path_operation("/docs", vec![HttpMethod::Get], docs);
    }
}

/// The problem+json answers every operation shares, as named OpenAPI
/// responses (`#/components/responses/...`): each handler lists the ones it
/// can give; its doc comment says when.
pub mod responses {
    use crate::http::error::Problem;

    macro_rules! problem_responses {
        ($($name:ident => $description:literal),* $(,)?) => {$(
            #[doc = $description]
            #[derive(utoipa::ToResponse)]
            #[response(description = $description, content_type = "application/problem+json")]
            #[expect(dead_code, reason = "documentation only")]
            pub struct $name(Problem);
        )*};
    }

    problem_responses! {
        BadRequest => "The body, query or link cannot be parsed or is not valid",
        Unauthorized => "Missing, invalid or revoked token",
        Forbidden => "The caller's role does not allow this, or not on this user",
        NotFound => "No such resource",
        Conflict => "Conflicts with the current state (a taken email or nickname, the last administrator)",
        PayloadTooLarge => "The body is too large",
        UnsupportedMediaType => "The body is not of an accepted type",
        Unprocessable => "Invalid fields: `errors` names each",
        TooManyRequests => "Rate limited; see Retry-After",
        Unavailable => "The database or object storage is unavailable; see Retry-After",
    }
}
