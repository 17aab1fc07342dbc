//! Domain newtypes: values that have already been checked.
//!
//! Each type can only be built through its `parse` constructor (or, for
//! [`Nickname`], [`Nickname::generate`]), so holding one is proof that the
//! rules were applied. Handlers parse at the edge and pass these types inward,
//! which keeps validation in one place instead of sprinkled across services.

pub mod email;
pub mod lock_reason;
pub mod nickname;
pub mod password;
pub mod profile_url;
pub mod role;
pub mod schema;
pub mod user_id;

pub use email::Email;
pub use lock_reason::LockReason;
pub use nickname::Nickname;
pub use password::Password;
pub use profile_url::{ProfileUrl, UrlKind};
pub use role::Role;
pub use user_id::UserId;

/// Why a value was refused: a human sentence that never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    /// Builds an error from a message meant to be shown to the user as is.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.0
    }
}
