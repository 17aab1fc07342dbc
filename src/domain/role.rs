//! Roles, ordered by privilege: ANONYMOUS < AUTHENTICATED < MANAGER < ADMIN.
//!
//! Stored by name in `users.role` (a SeaORM active enum), so a row read from
//! either database is a `Role` already, and a name that is not one of the
//! four is a database error rather than a silent fallback.

use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role. `ANONYMOUS` means registered with the email not yet verified.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "UPPERCASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// Registered, email not verified.
    #[sea_orm(string_value = "ANONYMOUS")]
    Anonymous,
    /// Email verified.
    #[sea_orm(string_value = "AUTHENTICATED")]
    Authenticated,
    /// Staff: reads and manages users below MANAGER.
    #[sea_orm(string_value = "MANAGER")]
    Manager,
    /// Everything.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [
        Role::Anonymous,
        Role::Authenticated,
        Role::Manager,
        Role::Admin,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anonymous => "ANONYMOUS",
            Role::Authenticated => "AUTHENTICATED",
            Role::Manager => "MANAGER",
            Role::Admin => "ADMIN",
        }
    }

    /// True for MANAGER and ADMIN.
    pub fn is_staff(self) -> bool {
        self >= Role::Manager
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of ANONYMOUS, AUTHENTICATED, MANAGER, ADMIN")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_privilege() {
        assert!(Role::Anonymous < Role::Authenticated);
        assert!(Role::Authenticated < Role::Manager);
        assert!(Role::Manager < Role::Admin);
        assert!(Role::Manager.is_staff() && !Role::Authenticated.is_staff());
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_string(&role).expect("json"),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        for role in Role::ALL {
            use sea_orm::ActiveEnum;
            assert_eq!(role.to_value(), role.as_str(), "stored as its name");
        }
        assert!("ROOT".parse::<Role>().is_err());
    }
}
