//! Stored rows, for assertions on what the API does not show: users by id
//! or email, how many there are, the audit events about a user, their
//! one-time link rows.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use user_management::db::entities::{audit_events, one_time_tokens, users};
use uuid::Uuid;

use super::app::TestApp;

fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).expect("uuid")
}

impl TestApp {
    /// The stored row of user `id`, if it exists.
    pub async fn find_user(&self, id: &str) -> Option<users::Model> {
        users::Entity::find_by_id(uuid(id))
            .one(&self.db)
            .await
            .expect("query users")
    }

    /// The stored row of user `id`, which must exist.
    pub async fn user_row(&self, id: &str) -> users::Model {
        self.find_user(id).await.expect("user row exists")
    }

    /// The stored row of `email` (any case), if any.
    pub async fn user_by_email(&self, email: &str) -> Option<users::Model> {
        users::Entity::find()
            .filter(users::Column::EmailNorm.eq(email.to_lowercase()))
            .one(&self.db)
            .await
            .expect("query users")
    }

    /// How many users are stored.
    pub async fn user_count(&self) -> u64 {
        users::Entity::find()
            .count(&self.db)
            .await
            .expect("count users")
    }

    /// The `action` audit events about user `user_id`.
    pub async fn audit_rows(&self, action: &str, user_id: &str) -> Vec<audit_events::Model> {
        audit_events::Entity::find()
            .filter(audit_events::Column::Action.eq(action))
            .filter(audit_events::Column::UserId.eq(uuid(user_id)))
            .all(&self.db)
            .await
            .expect("query audit events")
    }

    /// The details of the `action` audit events about `user_id`.
    pub async fn audit_details(&self, action: &str, user_id: &str) -> Vec<serde_json::Value> {
        self.audit_rows(action, user_id)
            .await
            .into_iter()
            .map(|event| event.details)
            .collect()
    }

    /// The one-time link rows of user `user_id` (any purpose, used or not).
    pub async fn link_rows(&self, user_id: &str) -> Vec<one_time_tokens::Model> {
        one_time_tokens::Entity::find()
            .filter(one_time_tokens::Column::UserId.eq(uuid(user_id)))
            .all(&self.db)
            .await
            .expect("query one-time tokens")
    }

    /// How many `action` audit events there are about user `user_id`.
    pub async fn audit_count(&self, action: &str, user_id: &str) -> u64 {
        audit_events::Entity::find()
            .filter(audit_events::Column::Action.eq(action))
            .filter(audit_events::Column::UserId.eq(uuid(user_id)))
            .count(&self.db)
            .await
            .expect("count audit events")
    }
}
