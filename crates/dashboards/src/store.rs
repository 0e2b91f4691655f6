//! The storage interface of the dashboards component: what is kept (organization,
//! users, sessions, service-account tokens, folders, dashboards and their versions,
//! stars, data sources) and the rules a save obeys (version checks, unique titles per
//! folder, unique data source names), behind the [`DashboardStore`] trait.
//!
//! The SQLite implementation is [`crate::sqlite::SqliteStore`]; a PostgreSQL one is meant
//! to implement the same trait. Every method is synchronous and short: the HTTP layer
//! calls them from its handlers.

use std::collections::BTreeMap;

use serde_json::Value;

/// Errors of the store. The HTTP layer maps each to Grafana's status code and message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (`what` is Grafana's wording, "Dashboard not found").
    #[error("{0}")]
    NotFound(&'static str),
    /// A dashboard or folder save named an older version than the stored one.
    #[error("The dashboard has been changed by someone else")]
    VersionMismatch,
    /// Another dashboard in the same folder has the same title.
    #[error("A dashboard with the same name in the folder already exists")]
    NameExists,
    /// Another dashboard has the uid a new dashboard asks for.
    #[error("A dashboard with the same uid already exists")]
    UidExists,
    /// A save named a folder that does not exist.
    #[error("folder not found")]
    FolderNotFound,
    /// A unique name is taken (data source name, folder title or uid, login, token name).
    #[error("{0}")]
    Conflict(String),
    /// The dashboard JSON breaks a rule of [`crate::dashboard_json::validate`].
    #[error("{0}")]
    Invalid(String),
    /// A provisioned dashboard may only change through its file.
    #[error("Cannot save provisioned dashboard")]
    Provisioned,
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An organization role, Grafana's `Admin` > `Editor` > `Viewer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Admin => "Admin",
        }
    }

    /// Grafana's role names; anything else is `None`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "Viewer" => Some(Role::Viewer),
            "Editor" => Some(Role::Editor),
            "Admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A user or a service account (service accounts are users that only log in by token).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub email: String,
    pub name: String,
    /// bcrypt hash; empty for service accounts.
    pub password_hash: String,
    pub role: Role,
    /// Grafana's server admin (`isGrafanaAdmin`).
    pub is_admin: bool,
    pub is_service_account: bool,
    pub is_disabled: bool,
    /// The password is the default one and must be changed at the next login.
    pub must_change_password: bool,
    pub created: i64,
    pub updated: i64,
}

/// What creating a user needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub is_admin: bool,
    pub is_service_account: bool,
    pub must_change_password: bool,
}

/// A service-account token (only its hash is kept).
#[derive(Debug, Clone)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created: i64,
    /// Milliseconds since the epoch; `None` never expires.
    pub expires: Option<i64>,
    pub last_used: Option<i64>,
}

/// A folder (one level; Grafana's nested folders are not modelled).
#[derive(Debug, Clone)]
pub struct Folder {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub version: i64,
    pub created: i64,
    pub updated: i64,
    pub created_by: i64,
    pub updated_by: i64,
}

/// Where a provisioned dashboard comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// The provider's name.
    pub provider: String,
    /// The file's path.
    pub external_id: String,
    /// SHA-256 of the file's content, hex.
    pub checksum: String,
    pub allow_ui_updates: bool,
}

/// A stored dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub slug: String,
    /// The folder, `None` for the General folder.
    pub folder: Option<Folder>,
    pub tags: Vec<String>,
    /// The dashboard JSON model as saved, with `id`, `uid`, `title` and `version` kept
    /// equal to the columns.
    pub data: Value,
    pub version: i64,
    pub created: i64,
    pub updated: i64,
    pub created_by: i64,
    pub updated_by: i64,
    pub provisioning: Option<Provisioning>,
}

/// A dashboard as search lists it (no JSON).
#[derive(Debug, Clone)]
pub struct DashboardSummary {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub slug: String,
    pub folder: Option<Folder>,
    pub tags: Vec<String>,
}

/// A save of a dashboard (create or update), as `POST /api/dashboards/db` asks.
#[derive(Debug, Clone)]
pub struct SaveDashboard {
    /// The JSON model; `title` is read from it (and must be there), `uid` and `version`
    /// too.
    pub data: Value,
    /// The folder's uid; `None` or empty is the General folder.
    pub folder_uid: Option<String>,
    pub message: String,
    /// Save even when the version is stale or the title or uid is taken (replacing the
    /// other dashboard).
    pub overwrite: bool,
    pub user_id: i64,
    /// Set by provisioning; a save without it is refused for a provisioned dashboard
    /// whose provider does not allow UI updates.
    pub provisioning: Option<Provisioning>,
    /// For a restore: the version the data comes from.
    pub restored_from: i64,
}

/// One stored version of a dashboard.
#[derive(Debug, Clone)]
pub struct DashboardVersion {
    pub id: i64,
    pub dashboard_id: i64,
    pub parent_version: i64,
    pub restored_from: i64,
    pub version: i64,
    pub created: i64,
    pub created_by: i64,
    pub message: String,
    pub data: Value,
}

/// A data source. `secure_json_data` never leaves the server in an API response; only
/// its key names do (`secureJsonFields`).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub type_: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
    pub version: i64,
    pub read_only: bool,
}

/// How a data source is named in a request.
#[derive(Debug, Clone)]
pub enum DataSourceRef<'a> {
    Id(i64),
    Uid(&'a str),
    Name(&'a str),
}

/// Everything the dashboards component keeps. Implementations are shared between
/// request handlers (`Send + Sync`); each method is one transaction.
pub trait DashboardStore: Send + Sync {
    // --- organization
    /// The one organization's name (id 1).
    fn org_name(&self) -> Result<String>;
    fn set_org_name(&self, name: &str) -> Result<()>;

    // --- users
    fn user_count(&self) -> Result<i64>;
    fn create_user(&self, user: &NewUser) -> Result<i64>;
    fn user_by_id(&self, id: i64) -> Result<User>;
    fn user_by_login_or_email(&self, login_or_email: &str) -> Result<User>;
    /// Users (not service accounts), by login.
    fn list_users(&self) -> Result<Vec<User>>;
    fn list_service_accounts(&self) -> Result<Vec<User>>;
    fn update_user(&self, id: i64, login: &str, email: &str, name: &str) -> Result<()>;
    fn set_password(&self, id: i64, password_hash: &str, must_change: bool) -> Result<()>;
    fn set_role(&self, id: i64, role: Role) -> Result<()>;
    fn set_admin(&self, id: i64, is_admin: bool) -> Result<()>;
    fn set_disabled(&self, id: i64, disabled: bool) -> Result<()>;
    /// Deletes the user with its sessions, tokens and stars.
    fn delete_user(&self, id: i64) -> Result<()>;

    // --- sessions and tokens (by SHA-256 hash of the secret)
    fn create_session(&self, token_hash: &str, user_id: i64, expires: i64) -> Result<()>;
    /// The user of an unexpired session.
    fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<User>>;
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires: Option<i64>,
    ) -> Result<i64>;
    /// The user of an unexpired token, noting its use.
    fn token_user(&self, token_hash: &str, now: i64) -> Result<Option<User>>;
    fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>>;
    fn delete_token(&self, user_id: i64, token_id: i64) -> Result<()>;

    // --- folders
    fn create_folder(&self, uid: &str, title: &str, user_id: i64) -> Result<Folder>;
    fn folder_by_uid(&self, uid: &str) -> Result<Folder>;
    fn folder_by_id(&self, id: i64) -> Result<Folder>;
    fn list_folders(&self) -> Result<Vec<Folder>>;
    /// Renames (and optionally re-uids) a folder; `version` is checked unless `overwrite`.
    fn update_folder(
        &self,
        uid: &str,
        new_uid: Option<&str>,
        title: Option<&str>,
        version: Option<i64>,
        overwrite: bool,
        user_id: i64,
    ) -> Result<Folder>;
    /// Deletes the folder and the dashboards in it.
    fn delete_folder(&self, uid: &str) -> Result<Folder>;

    // --- dashboards
    fn save_dashboard(&self, save: SaveDashboard) -> Result<Dashboard>;
    fn dashboard_by_uid(&self, uid: &str) -> Result<Dashboard>;
    fn dashboard_by_id(&self, id: i64) -> Result<Dashboard>;
    fn list_dashboards(&self) -> Result<Vec<DashboardSummary>>;
    /// Provisioned dashboards of a provider: (uid, external id, checksum).
    fn provisioned_dashboards(&self, provider: &str) -> Result<Vec<(String, Provisioning)>>;
    fn delete_dashboard(&self, uid: &str) -> Result<Dashboard>;
    /// Versions newest first, `limit` at most, starting after `start` entries.
    fn dashboard_versions(
        &self,
        dashboard_id: i64,
        limit: usize,
        start: usize,
    ) -> Result<Vec<DashboardVersion>>;
    fn dashboard_version(&self, dashboard_id: i64, version: i64) -> Result<DashboardVersion>;

    // --- stars
    fn star(&self, user_id: i64, dashboard_id: i64) -> Result<()>;
    fn unstar(&self, user_id: i64, dashboard_id: i64) -> Result<()>;
    fn starred(&self, user_id: i64) -> Result<Vec<i64>>;

    // --- data sources
    /// Creates a data source (`id` and `version` of the argument are ignored). A new
    /// default data source takes the flag from the previous one.
    fn create_data_source(&self, ds: &DataSource) -> Result<DataSource>;
    fn data_source(&self, by: DataSourceRef<'_>) -> Result<DataSource>;
    fn list_data_sources(&self) -> Result<Vec<DataSource>>;
    /// Replaces the data source `id` (version is incremented).
    fn update_data_source(&self, id: i64, ds: &DataSource) -> Result<DataSource>;
    fn delete_data_source(&self, id: i64) -> Result<DataSource>;
}
