//! Transactional email: Markdown templates, a durable outbox written in the
//! transaction of the change that causes a message, and a worker that
//! delivers it over SMTP (or to `data/outbox/` on the embedded default).

pub mod outbox;
pub mod templates;
pub mod transport;
pub mod worker;

pub use outbox::{MailKind, enqueue};
