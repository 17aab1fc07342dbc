//! The permission table of the API, in one place. Handlers ask these
//! questions; nothing else decides who may do what to whom.
//!
//! | action | AUTHENTICATED | MANAGER | ADMIN |
//! |---|---|---|---|
//! | own profile, picture, password, sessions | yes | yes | yes |
//! | list/search users, read any user | no | yes | yes |
//! | create user | no | role ≤ AUTHENTICATED | any role |
//! | update another user's profile fields | no | users below MANAGER | yes |
//! | change another user's email | no | no | yes |
//! | lock / unlock a user | no | users below MANAGER | yes |
//! | set professional status | no | yes | yes |
//! | change a role, delete a user, read the audit log | no | no | yes |

use crate::domain::Role;
use crate::error::AppError;

/// Something a caller wants to do to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Read the user (staff view).
    Read,
    /// Update profile fields.
    Update,
    /// Change the email address (a new mailbox receives the reset links).
    ChangeEmail,
    /// Lock or unlock.
    Lock,
    /// Set professional status.
    SetProfessional,
    /// Change the role.
    ChangeRole,
    /// Delete.
    Delete,
    /// Upload or remove the picture.
    Picture,
}

/// Whether `actor` (with id equality `is_self`) may do `act` to a user with `target` role.
pub fn may(actor: Role, act: Act, target: Role, is_self: bool) -> bool {
    match act {
        Act::Read | Act::SetProfessional => actor.is_staff(),
        Act::Update | Act::Picture => {
            actor == Role::Admin || (actor == Role::Manager && (is_self || target < Role::Manager))
        }
        Act::Lock => actor == Role::Admin || (actor == Role::Manager && target < Role::Manager),
        Act::ChangeEmail | Act::ChangeRole | Act::Delete => actor == Role::Admin,
    }
}

/// `Ok` if `actor` may do `act` to `target`, else 403.
pub fn check(actor: Role, act: Act, target: Role, is_self: bool) -> Result<(), AppError> {
    if may(actor, act, target, is_self) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "a {actor} may not {} a {target}",
            match act {
                Act::Read => "read",
                Act::Update => "update",
                Act::ChangeEmail => "change the email of",
                Act::Lock => "lock or unlock",
                Act::SetProfessional => "set the professional status of",
                Act::ChangeRole => "change the role of",
                Act::Delete => "delete",
                Act::Picture => "change the picture of",
            }
        )))
    }
}

/// Whether `actor` may create a user with `role`.
pub fn may_create(actor: Role, role: Role) -> bool {
    match actor {
        Role::Admin => true,
        Role::Manager => role <= Role::Authenticated,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Anonymous, Authenticated, Manager};

    #[test]
    fn the_table_of_the_contract() {
        for target in Role::ALL {
            assert!(!may(Authenticated, Act::Read, target, false));
            assert!(may(Manager, Act::Read, target, false));
            assert!(may(Admin, Act::Delete, target, false));
            assert!(!may(Manager, Act::Delete, target, false));
            assert!(!may(Manager, Act::ChangeRole, target, false));
            assert!(!may(Manager, Act::ChangeEmail, target, false));
            assert!(
                !may(Manager, Act::ChangeEmail, target, true),
                "not even their own"
            );
            assert!(may(Admin, Act::ChangeEmail, target, false));
            assert!(may(Manager, Act::SetProfessional, target, false));
        }
        assert!(may(Manager, Act::Update, Authenticated, false));
        assert!(may(Manager, Act::Update, Anonymous, false));
        assert!(!may(Manager, Act::Update, Manager, false));
        assert!(!may(Manager, Act::Update, Admin, false));
        assert!(may(Manager, Act::Update, Manager, true), "own profile");
        assert!(may(Manager, Act::Lock, Authenticated, false));
        assert!(!may(Manager, Act::Lock, Manager, false));
        assert!(!may(Manager, Act::Lock, Manager, true), "not even oneself");
        assert!(may(Admin, Act::Lock, Admin, false));
    }

    #[test]
    fn creation_is_bounded_by_the_creator() {
        assert!(may_create(Manager, Authenticated));
        assert!(may_create(Manager, Anonymous));
        assert!(!may_create(Manager, Manager));
        assert!(!may_create(Manager, Admin));
        assert!(may_create(Admin, Admin));
        assert!(!may_create(Authenticated, Anonymous));
    }

    #[test]
    fn nobody_raises_themself() {
        for actor in Role::ALL {
            // Role changes are the only way up, and only an ADMIN (already the top) may make them.
            assert!(!may(actor, Act::ChangeRole, actor, true) || actor == Admin);
        }
    }
}
