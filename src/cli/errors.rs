//! Errors as one line for the terminal: each cause said once, database
//! errors by their message alone (no driver wrappers, no server source lines).

use sea_orm::DbErr;

use crate::db::open::{message as db_message, sqlx_message};

/// `err` and its causes joined by `": "`, a cause (or the part of one)
/// already said left out: wrappers often repeat their source's text.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut said: Vec<String> = Vec::new();
    for cause in err.chain() {
        let (text, last) = describe(cause);
        if !said.join(": ").contains(text.trim()) {
            for part in text.split(": ").map(str::trim) {
                if !part.is_empty() && !said.iter().any(|s| s == part) {
                    said.push(part.to_owned());
                }
            }
        }
        if last {
            break;
        }
    }
    said.join(": ")
}

/// The text of one cause, and whether it already covers its own causes.
fn describe(cause: &(dyn std::error::Error + 'static)) -> (String, bool) {
    if let Some(err) = cause.downcast_ref::<DbErr>() {
        return (db_message(err), true);
    }
    if let Some(err) = cause.downcast_ref::<sea_orm::sqlx::Error>() {
        return (sqlx_message(err), true);
    }
    (cause.to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = anyhow::Error::new(Outer(io)).context("DATABASE_URL: cannot connect");
        assert_eq!(one_line(&err), "DATABASE_URL: cannot connect: refused");
    }

    #[test]
    fn database_errors_are_their_message() {
        let err = DbErr::Custom("cannot create /x: denied".into());
        let err = anyhow::Error::new(err).context("DATABASE_URL");
        assert_eq!(one_line(&err), "DATABASE_URL: cannot create /x: denied");
        let io = sea_orm::sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        let err = DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(io)));
        assert_eq!(db_message(&err), "Connection refused (os error 111)");
    }
}
