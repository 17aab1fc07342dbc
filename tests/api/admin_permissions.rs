//! The permission matrix of the staff endpoints, as a table: each actor
//! role × each endpoint × each target role (and the actor itself), with the
//! status the contract's Roles table gives. Every cell acts on a fresh
//! target (and, for "self", a fresh actor), so no cell sees another's effects.
//! And nobody raises their own role, through any endpoint.

use reqwest::{Method, Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::users;
use user_management::domain::Role as DomainRole;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, invalid_fields, ok_json, spawn_app_with_admin,
};
use crate::on_both_databases;

/// A role, as the tests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Anonymous,
    Authenticated,
    Manager,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Anonymous => "ANONYMOUS",
            Role::Authenticated => "AUTHENTICATED",
            Role::Manager => "MANAGER",
            Role::Admin => "ADMIN",
        }
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// No `Authorization` header at all.
    Nobody,
    Authenticated,
    Manager,
    Admin,
}

impl Actor {
    fn role(self) -> Option<Role> {
        match self {
            Actor::Nobody => None,
            Actor::Authenticated => Some(Role::Authenticated),
            Actor::Manager => Some(Role::Manager),
            Actor::Admin => Some(Role::Admin),
        }
    }
}

/// Whom the call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A fresh user of this role (for ADMIN: a second administrator, so
    /// last-admin protection never interferes).
    User(Role),
    /// The caller itself.
    Own,
}

/// The endpoints under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `GET /users`.
    List,
    /// `POST /users` asking for this role.
    Create(Role),
    /// `GET /users/{id}`.
    Read,
    /// `PATCH /users/{id}`.
    Patch,
    /// `PUT /users/{id}` (the same partial update).
    Put,
    /// `PATCH /users/{id}` with a new email (a fresh address).
    PatchEmail,
    /// `DELETE /users/{id}`.
    Delete,
    /// `PUT /users/{id}/role`.
    SetRole,
    /// `POST /users/{id}/lock`.
    Lock,
    /// `POST /users/{id}/unlock` (of a locked target, when it is not the caller).
    Unlock,
    /// `PUT /users/{id}/professional`.
    Professional,
    /// `GET /audit-events`.
    Audit,
}

use Endpoint::{
    Audit, Create, Delete, List, Lock, Patch, PatchEmail, Professional, Put, Read, SetRole, Unlock,
};
use Role::{Admin, Anonymous, Authenticated, Manager};
use Target::{Own, User};

/// The contract's Roles table for these endpoints: the status for an
/// AUTHENTICATED, a MANAGER and an ADMIN caller. A call without a token is
/// 401 in every row.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, Option<Target>, [u16; 3])] = &[
    //                                     AUTH MANAGER ADMIN
    (List,               None,                [403, 200, 200]),
    (Create(Anonymous),  None,                [403, 201, 201]),
    (Create(Authenticated), None,             [403, 201, 201]),
    (Create(Manager),    None,                [403, 403, 201]),
    (Create(Admin),      None,                [403, 403, 201]),
    (Audit,              None,                [403, 403, 200]),
    // read any user: staff
    (Read, Some(User(Anonymous)),             [403, 200, 200]),
    (Read, Some(User(Authenticated)),         [403, 200, 200]),
    (Read, Some(User(Manager)),               [403, 200, 200]),
    (Read, Some(User(Admin)),                 [403, 200, 200]),
    (Read, Some(Own),                         [403, 200, 200]),
    // update profile fields: a manager only below MANAGER, and itself
    (Patch, Some(User(Anonymous)),            [403, 200, 200]),
    (Patch, Some(User(Authenticated)),        [403, 200, 200]),
    (Patch, Some(User(Manager)),              [403, 403, 200]),
    (Patch, Some(User(Admin)),                [403, 403, 200]),
    (Patch, Some(Own),                        [403, 200, 200]),
    (Put, Some(User(Anonymous)),              [403, 200, 200]),
    (Put, Some(User(Authenticated)),          [403, 200, 200]),
    (Put, Some(User(Manager)),                [403, 403, 200]),
    (Put, Some(User(Admin)),                  [403, 403, 200]),
    (Put, Some(Own),                          [403, 200, 200]),
    // change another user's email: admin only (whoever holds the mailbox holds the reset link)
    (PatchEmail, Some(User(Anonymous)),       [403, 403, 200]),
    (PatchEmail, Some(User(Authenticated)),   [403, 403, 200]),
    (PatchEmail, Some(User(Manager)),         [403, 403, 200]),
    (PatchEmail, Some(User(Admin)),           [403, 403, 200]),
    (PatchEmail, Some(Own),                   [403, 403, 200]),
    // delete: admin only (itself too, while another admin remains)
    (Delete, Some(User(Anonymous)),           [403, 403, 204]),
    (Delete, Some(User(Authenticated)),       [403, 403, 204]),
    (Delete, Some(User(Manager)),             [403, 403, 204]),
    (Delete, Some(User(Admin)),               [403, 403, 204]),
    (Delete, Some(Own),                       [403, 403, 204]),
    // change a role: admin only; for a non-admin "self" the body asks for ADMIN
    (SetRole, Some(User(Anonymous)),          [403, 403, 200]),
    (SetRole, Some(User(Authenticated)),      [403, 403, 200]),
    (SetRole, Some(User(Manager)),            [403, 403, 200]),
    (SetRole, Some(User(Admin)),              [403, 403, 200]),
    (SetRole, Some(Own),                      [403, 403, 200]),
    // lock / unlock: a manager only below MANAGER, never itself
    (Lock, Some(User(Anonymous)),             [403, 200, 200]),
    (Lock, Some(User(Authenticated)),         [403, 200, 200]),
    (Lock, Some(User(Manager)),               [403, 403, 200]),
    (Lock, Some(User(Admin)),                 [403, 403, 200]),
    (Lock, Some(Own),                         [403, 403, 200]),
    (Unlock, Some(User(Anonymous)),           [403, 200, 200]),
    (Unlock, Some(User(Authenticated)),       [403, 200, 200]),
    (Unlock, Some(User(Manager)),             [403, 403, 200]),
    (Unlock, Some(User(Admin)),               [403, 403, 200]),
    (Unlock, Some(Own),                       [403, 403, 200]),
    // professional status: any staff, any user
    (Professional, Some(User(Anonymous)),     [403, 200, 200]),
    (Professional, Some(User(Authenticated)), [403, 200, 200]),
    (Professional, Some(User(Manager)),       [403, 200, 200]),
    (Professional, Some(User(Admin)),         [403, 200, 200]),
    (Professional, Some(Own),                 [403, 200, 200]),
];

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
struct Cell {
    actor: Actor,
    endpoint: Endpoint,
    target: Option<Target>,
    expected: u16,
}

/// The matrix as (actor, endpoint, target, expected status) rows.
fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for &(endpoint, target, expected) in MATRIX {
        if target != Some(Own) {
            cells.push(Cell {
                actor: Actor::Nobody,
                endpoint,
                target,
                expected: 401,
            });
        }
        for (actor, expected) in [Actor::Authenticated, Actor::Manager, Actor::Admin]
            .into_iter()
            .zip(expected)
        {
            cells.push(Cell {
                actor,
                endpoint,
                target,
                expected,
            });
        }
    }
    cells
}

/// What is checked of a target before and after a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    email: String,
    first_name: Option<String>,
    role: String,
    is_locked: bool,
    is_professional: bool,
}

async fn snapshot(app: &TestApp, id: &str) -> Option<Snapshot> {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    users::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("query users")
        .map(|u| Snapshot {
            email: u.email,
            first_name: u.first_name,
            role: u.role.as_str().to_owned(),
            is_locked: u.is_locked,
            is_professional: u.is_professional,
        })
}

async fn accounts_with_email(app: &TestApp, email: &str) -> u64 {
    users::Entity::find()
        .filter(users::Column::EmailNorm.eq(email.to_lowercase()))
        .count(&app.db)
        .await
        .expect("count users")
}

/// The world the cells run in: the environment admin (for arranging) and
/// one long-lived caller per role.
struct World {
    app: TestApp,
    root: String,
    tokens: [(Actor, String); 3],
    counter: std::sync::atomic::AtomicUsize,
}

impl World {
    async fn new(backend: Backend) -> Option<World> {
        let app = spawn_app_with_admin(backend).await?;
        let (_, root) = app.admin().await;
        let (_, auth) = app
            .user_with_role_as(&root, "actor-auth@example.com", "AUTHENTICATED")
            .await;
        let (_, manager) = app
            .user_with_role_as(&root, "actor-manager@example.com", "MANAGER")
            .await;
        let (_, admin) = app
            .user_with_role_as(&root, "actor-admin@example.com", "ADMIN")
            .await;
        Some(World {
            app,
            root,
            tokens: [
                (Actor::Authenticated, auth),
                (Actor::Manager, manager),
                (Actor::Admin, admin),
            ],
            counter: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn fresh_email(&self, what: &str) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{what}-{n}@example.com")
    }

    fn token(&self, actor: Actor) -> Option<String> {
        self.tokens
            .iter()
            .find(|(a, _)| *a == actor)
            .map(|(_, t)| t.clone())
    }

    /// A fresh user of `role`; ANONYMOUS ones register themselves.
    async fn fresh_user(&self, role: Role) -> String {
        let email = self.fresh_email(&format!("target-{}", role.as_str().to_lowercase()));
        if role == Anonymous {
            let response = self.app.register(&email, json!({})).await;
            assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
            let user: Value = response.json().await.expect("json");
            assert_eq!(user["role"], "ANONYMOUS");
            return user["id"].as_str().expect("id").to_owned();
        }
        let user = self
            .app
            .create_user_as(&self.root, &email, role.as_str(), json!({}))
            .await;
        user["id"].as_str().expect("id").to_owned()
    }

    /// Runs one cell and checks its status, body and effect.
    async fn run(&self, cell: Cell) {
        let app = &self.app;
        let what = format!("{cell:?}");
        // Arrange: the caller and the target.
        let (token, target_id, target_role) = self.arrange(cell, &what).await;
        let before = match &target_id {
            Some(id) => snapshot(app, id).await,
            None => None,
        };
        let created_email = self.fresh_email("created");
        let new_role = new_role(cell, target_role);

        // Act.
        let id = target_id.clone().unwrap_or_default();
        let (method, path, body) = request(cell.endpoint, &id, &created_email, new_role);
        let response = app
            .call(method, &path, token.as_deref(), body.as_ref())
            .await;

        // Assert: status and body.
        let status = response.status().as_u16();
        assert_eq!(status, cell.expected, "{what}");
        let allowed = cell.expected < 300;
        if allowed {
            check_success(cell, response, target_id.as_deref(), &what).await;
        } else {
            check_refusal(cell, response, &what).await;
        }

        // Assert: the effect, or that nothing changed.
        if let Create(role) = cell.endpoint {
            check_created(app, role, &created_email, allowed, &what).await;
        }
        let Some(id) = target_id else {
            return;
        };
        let after = snapshot(app, &id).await;
        if !allowed {
            assert_eq!(after, before, "{what}: a refused call changes nothing");
            return;
        }
        let before = before.expect("target existed");
        let expected = effect(cell.endpoint, before, new_role, &created_email);
        assert_eq!(after, expected, "{what}: effect");
    }

    /// The caller's token, and the target's id and role, of `cell`; a
    /// target to unlock is locked first.
    async fn arrange(
        &self,
        cell: Cell,
        what: &str,
    ) -> (Option<String>, Option<String>, Option<Role>) {
        let app = &self.app;
        let (token, actor_id) = match (cell.target, cell.actor.role()) {
            (Some(Own), Some(role)) => {
                let email = self.fresh_email(&format!("self-{}", role.as_str().to_lowercase()));
                let (id, token) = app
                    .user_with_role_as(&self.root, &email, role.as_str())
                    .await;
                (Some(token), Some(id))
            }
            _ => (self.token(cell.actor), None),
        };
        let target_id = match cell.target {
            Some(User(role)) => Some(self.fresh_user(role).await),
            Some(Own) => actor_id.clone(),
            None => None,
        };
        let target_role = match cell.target {
            Some(User(role)) => Some(role),
            Some(Own) => cell.actor.role(),
            None => None,
        };
        if cell.endpoint == Unlock && cell.target != Some(Own) {
            let id = target_id.as_deref().expect("target");
            let locked = app
                .call(
                    Method::POST,
                    &format!("/users/{id}/lock"),
                    Some(&self.root),
                    None,
                )
                .await;
            assert_eq!(locked.status(), StatusCode::OK, "{what}: arrange lock");
        }
        (token, target_id, target_role)
    }
}

/// The role a role change of `cell` asks for: never the one the target has.
fn new_role(cell: Cell, target_role: Option<Role>) -> Role {
    match (cell.target, target_role) {
        (Some(Own), Some(Admin)) => Manager,
        (Some(Own), _) => Admin,
        (_, Some(Anonymous)) => Authenticated,
        (_, Some(Authenticated)) => Manager,
        (_, Some(Manager)) => Authenticated,
        _ => Manager,
    }
}

/// The method, path and body of a call of `endpoint` on user `id`.
fn request(
    endpoint: Endpoint,
    id: &str,
    created_email: &str,
    new_role: Role,
) -> (Method, String, Option<Value>) {
    match endpoint {
        List => (Method::GET, "/users".to_owned(), None),
        Create(role) => (
            Method::POST,
            "/users".to_owned(),
            Some(json!({"email": created_email, "password": PASSWORD, "role": role.as_str()})),
        ),
        Audit => (Method::GET, "/audit-events".to_owned(), None),
        Read => (Method::GET, format!("/users/{id}"), None),
        Patch => (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"first_name": "Changed"})),
        ),
        Put => (
            Method::PUT,
            format!("/users/{id}"),
            Some(json!({"first_name": "Changed"})),
        ),
        PatchEmail => (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"email": created_email})),
        ),
        Delete => (Method::DELETE, format!("/users/{id}"), None),
        SetRole => (
            Method::PUT,
            format!("/users/{id}/role"),
            Some(json!({"role": new_role.as_str()})),
        ),
        Lock => (Method::POST, format!("/users/{id}/lock"), None),
        Unlock => (Method::POST, format!("/users/{id}/unlock"), None),
        Professional => (
            Method::PUT,
            format!("/users/{id}/professional"),
            Some(json!({"is_professional": true})),
        ),
    }
}

/// A refused call answers a problem (a 401 asks for a bearer token).
async fn check_refusal(cell: Cell, response: Response, what: &str) {
    if cell.expected == 401 {
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
    }
    let status = StatusCode::from_u16(cell.expected).expect("status");
    assert_problem(response, status).await;
}

/// A creation made an account (of `role`, verified unless ANONYMOUS) if
/// and only if it was allowed.
async fn check_created(app: &TestApp, role: Role, created_email: &str, allowed: bool, what: &str) {
    let count = accounts_with_email(app, created_email).await;
    assert_eq!(count, u64::from(allowed), "{what}: created?");
    if allowed {
        let row = users::Entity::find()
            .filter(users::Column::EmailNorm.eq(created_email))
            .one(&app.db)
            .await
            .expect("query users")
            .expect("created");
        assert_eq!(row.role.as_str(), role.as_str(), "{what}");
        assert!(row.email_verified || role == Anonymous, "{what}");
    }
}

/// The target as an allowed call of `endpoint` leaves it (`None`: deleted).
fn effect(
    endpoint: Endpoint,
    before: Snapshot,
    new_role: Role,
    new_email: &str,
) -> Option<Snapshot> {
    match endpoint {
        Read => Some(before),
        Patch | Put => Some(Snapshot {
            first_name: Some("Changed".into()),
            ..before
        }),
        PatchEmail => Some(Snapshot {
            email: new_email.to_owned(),
            ..before
        }),
        Delete => None,
        SetRole => Some(Snapshot {
            role: new_role.as_str().to_owned(),
            ..before
        }),
        Lock => Some(Snapshot {
            is_locked: true,
            ..before
        }),
        Unlock => Some(Snapshot {
            is_locked: false,
            ..before
        }),
        Professional => Some(Snapshot {
            is_professional: true,
            ..before
        }),
        List | Create(_) | Audit => unreachable!("no target"),
    }
}

/// An allowed call answers with the right shape.
async fn check_success(cell: Cell, response: Response, target: Option<&str>, what: &str) {
    if cell.endpoint == Delete {
        assert!(
            response.bytes().await.expect("body").is_empty(),
            "{what}: 204 has no body"
        );
        return;
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "{what}");
    let text = response.text().await.expect("body");
    assert!(
        !text.contains("password") && !text.contains("$argon2"),
        "{what}: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    match cell.endpoint {
        List | Audit => {
            assert!(body["items"].is_array(), "{what}: {body}");
            assert!(
                body["total"].as_u64().is_some_and(|t| t > 0),
                "{what}: {body}"
            );
            assert_eq!(body["page"], 1, "{what}");
            assert_eq!(body["size"], 10, "{what}");
            assert!(body["links"].is_array(), "{what}: {body}");
        }
        Create(role) => {
            assert_eq!(body["role"], role.as_str(), "{what}");
            // ANONYMOUS means "email not verified", so only the other
            // roles are bound to come back verified.
            if role != Anonymous {
                assert_eq!(
                    body["email_verified"], true,
                    "{what}: staff-created users are verified"
                );
            }
            assert!(body["id"].is_string(), "{what}");
            assert_links(&body, what);
        }
        _ => {
            assert_eq!(body["id"], target.expect("target"), "{what}");
            for field in ["email", "nickname", "role", "created_at", "updated_at"] {
                assert!(body[field].is_string(), "{what}: {field} in {body}");
            }
            for field in ["is_locked", "is_professional", "email_verified"] {
                assert!(body[field].is_boolean(), "{what}: {field} in {body}");
            }
            assert_links(&body, what);
        }
    }
}

/// A user answered to staff carries at least its `self` link.
fn assert_links(user: &Value, what: &str) {
    let links = user["links"].as_array().expect("links");
    let id = user["id"].as_str().expect("id");
    assert!(
        links.iter().any(|l| l["rel"] == "self"
            && l["method"] == "GET"
            && l["href"]
                .as_str()
                .is_some_and(|h| h.ends_with(&format!("/users/{id}")))),
        "{what}: {user}"
    );
}

/// Runs every cell whose endpoint `include` selects, on one app.
async fn run_matrix(backend: Backend, include: fn(Endpoint) -> bool) {
    let Some(world) = World::new(backend).await else {
        return;
    };
    let all = cells();
    assert_matrix_is_complete(&all);
    let cells: Vec<Cell> = all.into_iter().filter(|c| include(c.endpoint)).collect();
    assert!(!cells.is_empty());

    for cell in &cells {
        world.run(*cell).await;
    }
}

async fn listing_creation_and_audit_log(backend: Backend) {
    run_matrix(backend, |e| matches!(e, List | Create(_) | Audit)).await;
}

async fn reading_and_updating_users(backend: Backend) {
    run_matrix(backend, |e| matches!(e, Read | Patch | Put | PatchEmail)).await;
}

async fn deleting_users_and_changing_roles(backend: Backend) {
    run_matrix(backend, |e| matches!(e, Delete | SetRole)).await;
}

async fn locking_and_unlocking_users(backend: Backend) {
    run_matrix(backend, |e| matches!(e, Lock | Unlock)).await;
}

async fn setting_professional_status(backend: Backend) {
    run_matrix(backend, |e| e == Professional).await;
}

/// The table covers every endpoint × target × calling role exactly once.
fn assert_matrix_is_complete(cells: &[Cell]) {
    // 6 untargeted rows + 9 targeted endpoints × 5 targets, each for three
    // roles, plus a tokenless call for every row not about "self".
    let targeted = [
        Read,
        Patch,
        Put,
        PatchEmail,
        Delete,
        SetRole,
        Lock,
        Unlock,
        Professional,
    ];
    assert_eq!(MATRIX.len(), 6 + targeted.len() * 5);
    for endpoint in targeted {
        for target in [
            User(Anonymous),
            User(Authenticated),
            User(Manager),
            User(Admin),
            Own,
        ] {
            for actor in [Actor::Authenticated, Actor::Manager, Actor::Admin] {
                assert_eq!(
                    cells
                        .iter()
                        .filter(|c| c.endpoint == endpoint
                            && c.target == Some(target)
                            && c.actor == actor)
                        .count(),
                    1,
                    "{endpoint:?} {target:?} {actor:?}"
                );
            }
        }
    }
    assert!(
        cells
            .iter()
            .filter(|c| c.actor == Actor::Authenticated)
            .all(|c| c.expected == 403),
        "an AUTHENTICATED caller is refused every staff endpoint"
    );
    assert!(
        cells
            .iter()
            .filter(|c| c.actor == Actor::Nobody)
            .all(|c| c.expected == 401)
    );
}

// -------------------------------------------------------- no self-escalation

/// After the refused attempts: the user and the manager (id, token) keep
/// their roles and fields, no account was created, no role change audited.
async fn assert_nothing_changed(
    app: &TestApp,
    root: &str,
    (user_id, user): (&str, &str),
    (manager_id, manager): (&str, &str),
) {
    let user_row = app.find_user(user_id).await.expect("user");
    let manager_row = app.find_user(manager_id).await.expect("manager");
    assert_eq!(user_row.role, DomainRole::Authenticated);
    assert_eq!(manager_row.role, DomainRole::Manager);
    assert_eq!(
        manager_row.first_name, None,
        "a refused body changes nothing"
    );
    assert_eq!(
        ok_json(app.get("/me", Some(user)).await, "me").await["role"],
        "AUTHENTICATED"
    );
    assert_eq!(
        ok_json(app.get("/me", Some(manager)).await, "me").await["role"],
        "MANAGER"
    );
    assert!(
        users::Entity::find()
            .filter(users::Column::EmailNorm.is_in(["climber@example.com", "friend@example.com"]))
            .one(&app.db)
            .await
            .expect("query")
            .is_none(),
        "no account came of the refused requests"
    );
    let audit = app.audit_events(root, "action=role_changed").await;
    assert_eq!(audit["total"], 0);
}

async fn nobody_raises_their_own_role(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (user_id, user) = app
        .user_with_role_as(&root, "user@example.com", "AUTHENTICATED")
        .await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;

    let patch_me = app
        .call(
            Method::PATCH,
            "/me",
            Some(&user),
            Some(&json!({"role": "ADMIN"})),
        )
        .await;
    let register = app
        .register("climber@example.com", json!({"role": "ADMIN"}))
        .await;
    let manager_patch = app
        .patch_user(
            &manager,
            &manager_id,
            &json!({"role": "ADMIN", "first_name": "Boss"}),
        )
        .await;
    let manager_put = app
        .call(
            Method::PUT,
            &format!("/users/{manager_id}"),
            Some(&manager),
            Some(&json!({"role": "ADMIN"})),
        )
        .await;
    let manager_role = app.put_role(&manager, &manager_id, "ADMIN").await;
    let user_role = app.put_role(&user, &user_id, "MANAGER").await;
    let manager_creates_admin = app
        .call(
            Method::POST,
            "/users",
            Some(&manager),
            Some(&json!({"email": "friend@example.com", "password": PASSWORD, "role": "ADMIN"})),
        )
        .await;

    assert_eq!(invalid_fields(patch_me).await, ["role"]);
    assert_eq!(invalid_fields(register).await, ["role"]);
    assert_eq!(invalid_fields(manager_patch).await, ["role"]);
    assert_eq!(invalid_fields(manager_put).await, ["role"]);
    assert_problem(manager_role, StatusCode::FORBIDDEN).await;
    assert_problem(user_role, StatusCode::FORBIDDEN).await;
    assert_problem(manager_creates_admin, StatusCode::FORBIDDEN).await;
    assert_nothing_changed(&app, &root, (&user_id, &user), (&manager_id, &manager)).await;
}

on_both_databases!(
    listing_creation_and_audit_log,
    reading_and_updating_users,
    deleting_users_and_changing_roles,
    locking_and_unlocking_users,
    setting_professional_status,
    nobody_raises_their_own_role,
);
