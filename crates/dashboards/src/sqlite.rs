//! [`DashboardStore`] on an embedded SQLite database (`hearth-dashboards.db` in the
//! storage directory). The schema is created and upgraded by versioned migrations,
//! recorded in the `migrations` table and applied in order at open; a database written by
//! a newer hearth (a version this build does not know) is refused rather than touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde_json::Value;

use crate::dashboard_json::slugify;
use crate::store::{
    Dashboard, DashboardStore, DashboardSummary, DashboardVersion, DataSource, DataSourceRef,
    Folder, NewUser, Provisioning, Result, Role, SaveDashboard, StoreError, Token, User,
};
use crate::uid::new_uid;

/// The database file's name inside the storage directory.
pub const DB_FILE: &str = "hearth-dashboards.db";

/// Schema migrations, applied in order; their index + 1 is their version. Never edit an
/// applied one: add a new one.
const MIGRATIONS: &[(&str, &str)] = &[(
    "initial schema",
    r#"
CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
INSERT INTO orgs (id, name, created, updated) VALUES (1, 'Main Org.', 0, 0);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL DEFAULT 1 REFERENCES orgs(id),
    login TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    is_service_account INTEGER NOT NULL,
    is_disabled INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    expires INTEGER,
    last_used INTEGER,
    UNIQUE (user_id, name)
);
CREATE TABLE folders (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL DEFAULT 1 REFERENCES orgs(id),
    uid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    updated_by INTEGER NOT NULL
);
CREATE TABLE dashboards (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL DEFAULT 1 REFERENCES orgs(id),
    uid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    slug TEXT NOT NULL,
    folder_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    tags TEXT NOT NULL,
    data TEXT NOT NULL,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    updated_by INTEGER NOT NULL,
    provisioner TEXT,
    provisioned_external_id TEXT,
    provisioned_checksum TEXT,
    allow_ui_updates INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX dashboards_folder ON dashboards(folder_id);
CREATE TABLE dashboard_versions (
    id INTEGER PRIMARY KEY,
    dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
    parent_version INTEGER NOT NULL,
    restored_from INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (dashboard_id, version)
);
CREATE TABLE stars (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, dashboard_id)
);
CREATE TABLE data_sources (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL DEFAULT 1 REFERENCES orgs(id),
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    access TEXT NOT NULL,
    url TEXT NOT NULL,
    user TEXT NOT NULL,
    database TEXT NOT NULL,
    basic_auth INTEGER NOT NULL,
    basic_auth_user TEXT NOT NULL,
    with_credentials INTEGER NOT NULL,
    is_default INTEGER NOT NULL,
    json_data TEXT NOT NULL,
    secure_json_data TEXT NOT NULL,
    version INTEGER NOT NULL,
    read_only INTEGER NOT NULL
);
"#,
)];

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The SQLite store. One connection behind a mutex: SQLite serialises writers anyway,
/// and every call is short.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating) `dir/hearth-dashboards.db` and applies pending migrations.
    pub fn open_dir(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        Self::with_connection(conn)
    }

    /// An in-memory database (tests, fuzzing).
    pub fn open_in_memory() -> Result<SqliteStore> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL keeps readers of other processes (backups) from blocking a save; an
        // in-memory database answers "memory", which is fine.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64> {
        let conn = self.lock();
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM migrations",
            [],
            |r| r.get(0),
        )?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll
        // back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS migrations (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::Database(format!(
            "the database is at schema version {current}, newer than this hearth knows ({known}); refusing to touch it"
        )));
    }
    for (i, (description, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            params![i as i64 + 1, description, now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(
            version = i + 1,
            description,
            "applied dashboards schema migration"
        );
    }
    Ok(())
}

const USER_COLUMNS: &str = "id, login, email, name, password_hash, role, is_admin, \
    is_service_account, is_disabled, must_change_password, created, updated";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(5)?;
    Ok(User {
        id: r.get(0)?,
        login: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        password_hash: r.get(4)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        is_admin: r.get(6)?,
        is_service_account: r.get(7)?,
        is_disabled: r.get(8)?,
        must_change_password: r.get(9)?,
        created: r.get(10)?,
        updated: r.get(11)?,
    })
}

const FOLDER_COLUMNS: &str = "id, uid, title, version, created, updated, created_by, updated_by";

fn folder_from_row(r: &Row<'_>, o: usize) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: r.get(o)?,
        uid: r.get(o + 1)?,
        title: r.get(o + 2)?,
        version: r.get(o + 3)?,
        created: r.get(o + 4)?,
        updated: r.get(o + 5)?,
        created_by: r.get(o + 6)?,
        updated_by: r.get(o + 7)?,
    })
}

fn opt_folder_from_row(r: &Row<'_>, o: usize) -> rusqlite::Result<Option<Folder>> {
    let id: Option<i64> = r.get(o)?;
    if id.is_none() {
        return Ok(None);
    }
    folder_from_row(r, o).map(Some)
}

/// Dashboard columns followed by the folder's (LEFT JOIN, all NULL for General).
const DASHBOARD_SELECT: &str = "SELECT d.id, d.uid, d.title, d.slug, d.tags, d.data, d.version, \
    d.created, d.updated, d.created_by, d.updated_by, d.provisioner, d.provisioned_external_id, \
    d.provisioned_checksum, d.allow_ui_updates, \
    f.id, f.uid, f.title, f.version, f.created, f.updated, f.created_by, f.updated_by \
    FROM dashboards d LEFT JOIN folders f ON f.id = d.folder_id";

fn json_column(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn tags_column(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn dashboard_from_row(r: &Row<'_>) -> rusqlite::Result<Dashboard> {
    let tags: String = r.get(4)?;
    let data: String = r.get(5)?;
    let provider: Option<String> = r.get(11)?;
    let provisioning = match provider {
        Some(provider) => Some(Provisioning {
            provider,
            external_id: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            checksum: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
            allow_ui_updates: r.get(14)?,
        }),
        None => None,
    };
    Ok(Dashboard {
        id: r.get(0)?,
        uid: r.get(1)?,
        title: r.get(2)?,
        slug: r.get(3)?,
        tags: tags_column(&tags),
        data: json_column(&data),
        version: r.get(6)?,
        created: r.get(7)?,
        updated: r.get(8)?,
        created_by: r.get(9)?,
        updated_by: r.get(10)?,
        provisioning,
        folder: opt_folder_from_row(r, 15)?,
    })
}

const DS_COLUMNS: &str = "id, uid, name, type, access, url, user, database, basic_auth, \
    basic_auth_user, with_credentials, is_default, json_data, secure_json_data, version, read_only";

fn ds_from_row(r: &Row<'_>) -> rusqlite::Result<DataSource> {
    let json_data: String = r.get(12)?;
    let secure: String = r.get(13)?;
    Ok(DataSource {
        id: r.get(0)?,
        uid: r.get(1)?,
        name: r.get(2)?,
        type_: r.get(3)?,
        access: r.get(4)?,
        url: r.get(5)?,
        user: r.get(6)?,
        database: r.get(7)?,
        basic_auth: r.get(8)?,
        basic_auth_user: r.get(9)?,
        with_credentials: r.get(10)?,
        is_default: r.get(11)?,
        json_data: json_column(&json_data),
        secure_json_data: serde_json::from_str(&secure).unwrap_or_default(),
        version: r.get(14)?,
        read_only: r.get(15)?,
    })
}

fn version_from_row(r: &Row<'_>) -> rusqlite::Result<DashboardVersion> {
    let data: String = r.get(8)?;
    Ok(DashboardVersion {
        id: r.get(0)?,
        dashboard_id: r.get(1)?,
        parent_version: r.get(2)?,
        restored_from: r.get(3)?,
        version: r.get(4)?,
        created: r.get(5)?,
        created_by: r.get(6)?,
        message: r.get(7)?,
        data: json_column(&data),
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn folder_in(tx: &Connection, uid: &str) -> Result<Folder> {
    tx.query_row(
        &format!("SELECT {FOLDER_COLUMNS} FROM folders WHERE uid = ?1"),
        [uid],
        |r| folder_from_row(r, 0),
    )
    .optional()?
    .ok_or(StoreError::NotFound("folder not found"))
}

fn dashboard_where(
    conn: &Connection,
    clause: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Dashboard> {
    conn.query_row(
        &format!("{DASHBOARD_SELECT} WHERE {clause}"),
        [arg],
        dashboard_from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("Dashboard not found"))
}

fn data_source_in(conn: &Connection, by: &DataSourceRef<'_>) -> Result<DataSource> {
    let (clause, arg): (&str, &dyn rusqlite::ToSql) = match by {
        DataSourceRef::Id(id) => ("id = ?1", id),
        DataSourceRef::Uid(uid) => ("uid = ?1", uid),
        DataSourceRef::Name(name) => ("name = ?1", name),
    };
    conn.query_row(
        &format!("SELECT {DS_COLUMNS} FROM data_sources WHERE {clause}"),
        [arg],
        ds_from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("Data source not found"))
}

fn write_ds(tx: &Transaction<'_>, id: Option<i64>, ds: &DataSource, version: i64) -> Result<i64> {
    if ds.is_default {
        tx.execute(
            "UPDATE data_sources SET is_default = 0 WHERE id IS NOT ?1",
            [id],
        )?;
    }
    let secure = serde_json::to_string(&ds.secure_json_data).unwrap_or_else(|_| "{}".into());
    let json_data = serde_json::to_string(&ds.json_data).unwrap_or_else(|_| "{}".into());
    let res = match id {
        None => tx.execute(
            &format!(
                "INSERT INTO data_sources ({}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                DS_COLUMNS
            ),
            params![
                ds.uid, ds.name, ds.type_, ds.access, ds.url, ds.user, ds.database, ds.basic_auth,
                ds.basic_auth_user, ds.with_credentials, ds.is_default, json_data, secure, version,
                ds.read_only
            ],
        ),
        Some(id) => tx.execute(
            "UPDATE data_sources SET uid = ?1, name = ?2, type = ?3, access = ?4, url = ?5, user = ?6, \
             database = ?7, basic_auth = ?8, basic_auth_user = ?9, with_credentials = ?10, is_default = ?11, \
             json_data = ?12, secure_json_data = ?13, version = ?14, read_only = ?15 WHERE id = ?16",
            params![
                ds.uid, ds.name, ds.type_, ds.access, ds.url, ds.user, ds.database, ds.basic_auth,
                ds.basic_auth_user, ds.with_credentials, ds.is_default, json_data, secure, version,
                ds.read_only, id
            ],
        ),
    };
    match res {
        Ok(_) => Ok(id.unwrap_or_else(|| tx.last_insert_rowid())),
        Err(e) if is_unique_violation(&e) => {
            let same_name: bool = tx
                .query_row(
                    "SELECT 1 FROM data_sources WHERE name = ?1 AND id IS NOT ?2",
                    params![ds.name, id],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            Err(StoreError::Conflict(if same_name {
                "data source with the same name already exists".into()
            } else {
                "data source with the same uid already exists".into()
            }))
        }
        Err(e) => Err(e.into()),
    }
}

impl DashboardStore for SqliteStore {
    fn org_name(&self) -> Result<String> {
        Ok(self
            .lock()
            .query_row("SELECT name FROM orgs WHERE id = 1", [], |r| r.get(0))?)
    }

    fn set_org_name(&self, name: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE orgs SET name = ?1, updated = ?2 WHERE id = 1",
            params![name, now_ms()],
        )?;
        Ok(())
    }

    fn user_count(&self) -> Result<i64> {
        Ok(self.lock().query_row(
            "SELECT COUNT(*) FROM users WHERE is_service_account = 0",
            [],
            |r| r.get(0),
        )?)
    }

    fn create_user(&self, u: &NewUser) -> Result<i64> {
        self.tx(|tx| {
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT id FROM users WHERE login = ?1 OR (email <> '' AND email = ?2)",
                    params![u.login, u.email],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                return Err(StoreError::Conflict(if u.is_service_account {
                    "service account already exists".into()
                } else {
                    "user already exists".into()
                }));
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO users (login, email, name, password_hash, role, is_admin, is_service_account, \
                 must_change_password, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    u.login,
                    u.email,
                    u.name,
                    u.password_hash,
                    u.role.as_str(),
                    u.is_admin,
                    u.is_service_account,
                    u.must_change_password,
                    now
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn user_by_id(&self, id: i64) -> Result<User> {
        self.lock()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("user not found"))
    }

    fn user_by_login_or_email(&self, s: &str) -> Result<User> {
        self.lock()
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE login = ?1 OR (email <> '' AND email = ?1) \
                     ORDER BY login = ?1 DESC LIMIT 1"
                ),
                [s],
                user_from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("user not found"))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE is_service_account = 0 ORDER BY login"
        ))?;
        let rows = st.query_map([], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn list_service_accounts(&self) -> Result<Vec<User>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE is_service_account = 1 ORDER BY name"
        ))?;
        let rows = st.query_map([], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn update_user(&self, id: i64, login: &str, email: &str, name: &str) -> Result<()> {
        self.tx(|tx| {
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT id FROM users WHERE id <> ?3 AND (login = ?1 OR (email <> '' AND email = ?2))",
                    params![login, email, id],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                return Err(StoreError::Conflict("user already exists".into()));
            }
            let n = tx.execute(
                "UPDATE users SET login = ?1, email = ?2, name = ?3, updated = ?4 WHERE id = ?5",
                params![login, email, name, now_ms(), id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user not found"));
            }
            Ok(())
        })
    }

    fn set_password(&self, id: i64, hash: &str, must_change: bool) -> Result<()> {
        self.tx(|tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?1, must_change_password = ?2, updated = ?3 WHERE id = ?4",
                params![hash, must_change, now_ms(), id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user not found"));
            }
            // A new password ends the user's other sessions, as Grafana does.
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            Ok(())
        })
    }

    fn set_role(&self, id: i64, role: Role) -> Result<()> {
        let n = self.lock().execute(
            "UPDATE users SET role = ?1, updated = ?2 WHERE id = ?3",
            params![role.as_str(), now_ms(), id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("user not found"));
        }
        Ok(())
    }

    fn set_admin(&self, id: i64, is_admin: bool) -> Result<()> {
        let n = self.lock().execute(
            "UPDATE users SET is_admin = ?1, updated = ?2 WHERE id = ?3",
            params![is_admin, now_ms(), id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("user not found"));
        }
        Ok(())
    }

    fn set_disabled(&self, id: i64, disabled: bool) -> Result<()> {
        self.tx(|tx| {
            let n = tx.execute(
                "UPDATE users SET is_disabled = ?1, updated = ?2 WHERE id = ?3",
                params![disabled, now_ms(), id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user not found"));
            }
            if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            }
            Ok(())
        })
    }

    fn delete_user(&self, id: i64) -> Result<()> {
        let n = self
            .lock()
            .execute("DELETE FROM users WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(StoreError::NotFound("user not found"));
        }
        Ok(())
    }

    fn create_session(&self, token_hash: &str, user_id: i64, expires: i64) -> Result<()> {
        let conn = self.lock();
        let now = now_ms();
        conn.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created, expires) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, user_id, now, expires],
        )?;
        Ok(())
    }

    fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<User>> {
        let cols = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(self
            .lock()
            .query_row(
                &format!(
                    "SELECT {cols} FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = ?1 AND s.expires > ?2"
                ),
                params![token_hash, now],
                user_from_row,
            )
            .optional()?)
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires: Option<i64>,
    ) -> Result<i64> {
        let conn = self.lock();
        match conn.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user_id, name, token_hash, now_ms(), expires],
        ) {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "service account token with given name already exists in the organization".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn token_user(&self, token_hash: &str, now: i64) -> Result<Option<User>> {
        let conn = self.lock();
        let found: Option<(i64, i64)> = conn
            .query_row(
                "SELECT id, user_id FROM api_tokens WHERE token_hash = ?1 AND (expires IS NULL OR expires > ?2)",
                params![token_hash, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((token_id, user_id)) = found else {
            return Ok(None);
        };
        conn.execute(
            "UPDATE api_tokens SET last_used = ?1 WHERE id = ?2",
            params![now, token_id],
        )?;
        Ok(conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [user_id],
                user_from_row,
            )
            .optional()?)
    }

    fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, user_id, name, created, expires, last_used FROM api_tokens WHERE user_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([user_id], |r| {
            Ok(Token {
                id: r.get(0)?,
                user_id: r.get(1)?,
                name: r.get(2)?,
                created: r.get(3)?,
                expires: r.get(4)?,
                last_used: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delete_token(&self, user_id: i64, token_id: i64) -> Result<()> {
        let n = self.lock().execute(
            "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
            params![token_id, user_id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("service account token not found"));
        }
        Ok(())
    }

    fn create_folder(&self, uid: &str, title: &str, user_id: i64) -> Result<Folder> {
        self.tx(|tx| {
            if folder_in(tx, uid).is_ok() {
                return Err(StoreError::Conflict(
                    "a folder with the same uid already exists".into(),
                ));
            }
            let same_title: Option<i64> = tx
                .query_row(
                    "SELECT id FROM folders WHERE lower(title) = lower(?1)",
                    [title],
                    |r| r.get(0),
                )
                .optional()?;
            if same_title.is_some() {
                return Err(StoreError::Conflict(
                    "a folder or dashboard in the general folder with the same name already exists"
                        .into(),
                ));
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO folders (uid, title, version, created, updated, created_by, updated_by) \
                 VALUES (?1, ?2, 1, ?3, ?3, ?4, ?4)",
                params![uid, title, now, user_id],
            )?;
            folder_in(tx, uid)
        })
    }

    fn folder_by_uid(&self, uid: &str) -> Result<Folder> {
        folder_in(&self.lock(), uid)
    }

    fn folder_by_id(&self, id: i64) -> Result<Folder> {
        self.lock()
            .query_row(
                &format!("SELECT {FOLDER_COLUMNS} FROM folders WHERE id = ?1"),
                [id],
                |r| folder_from_row(r, 0),
            )
            .optional()?
            .ok_or(StoreError::NotFound("folder not found"))
    }

    fn list_folders(&self) -> Result<Vec<Folder>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders ORDER BY lower(title), id"
        ))?;
        let rows = st.query_map([], |r| folder_from_row(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn update_folder(
        &self,
        uid: &str,
        new_uid: Option<&str>,
        title: Option<&str>,
        version: Option<i64>,
        overwrite: bool,
        user_id: i64,
    ) -> Result<Folder> {
        self.tx(|tx| {
            let f = folder_in(tx, uid)?;
            if !overwrite && version != Some(f.version) {
                return Err(StoreError::VersionMismatch);
            }
            let title = title.unwrap_or(&f.title);
            let new_uid = new_uid.filter(|u| !u.is_empty()).unwrap_or(&f.uid);
            let same_title: Option<i64> = tx
                .query_row(
                    "SELECT id FROM folders WHERE lower(title) = lower(?1) AND id <> ?2",
                    params![title, f.id],
                    |r| r.get(0),
                )
                .optional()?;
            if same_title.is_some() {
                return Err(StoreError::Conflict(
                    "a folder or dashboard in the general folder with the same name already exists"
                        .into(),
                ));
            }
            if new_uid != f.uid && folder_in(tx, new_uid).is_ok() {
                return Err(StoreError::Conflict(
                    "a folder with the same uid already exists".into(),
                ));
            }
            tx.execute(
                "UPDATE folders SET uid = ?1, title = ?2, version = version + 1, updated = ?3, updated_by = ?4 \
                 WHERE id = ?5",
                params![new_uid, title, now_ms(), user_id, f.id],
            )?;
            folder_in(tx, new_uid)
        })
    }

    fn delete_folder(&self, uid: &str) -> Result<Folder> {
        self.tx(|tx| {
            let f = folder_in(tx, uid)?;
            tx.execute("DELETE FROM folders WHERE id = ?1", [f.id])?;
            Ok(f)
        })
    }

    fn save_dashboard(&self, save: SaveDashboard) -> Result<Dashboard> {
        self.tx(|tx| save_dashboard_in(tx, save))
    }

    fn dashboard_by_uid(&self, uid: &str) -> Result<Dashboard> {
        dashboard_where(&self.lock(), "d.uid = ?1", &uid)
    }

    fn dashboard_by_id(&self, id: i64) -> Result<Dashboard> {
        dashboard_where(&self.lock(), "d.id = ?1", &id)
    }

    fn list_dashboards(&self) -> Result<Vec<DashboardSummary>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT d.id, d.uid, d.title, d.slug, d.tags, \
             f.id, f.uid, f.title, f.version, f.created, f.updated, f.created_by, f.updated_by \
             FROM dashboards d LEFT JOIN folders f ON f.id = d.folder_id ORDER BY lower(d.title), d.id",
        )?;
        let rows = st.query_map([], |r| {
            let tags: String = r.get(4)?;
            Ok(DashboardSummary {
                id: r.get(0)?,
                uid: r.get(1)?,
                title: r.get(2)?,
                slug: r.get(3)?,
                tags: tags_column(&tags),
                folder: opt_folder_from_row(r, 5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn provisioned_dashboards(&self, provider: &str) -> Result<Vec<(String, Provisioning)>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT uid, provisioner, provisioned_external_id, provisioned_checksum, allow_ui_updates \
             FROM dashboards WHERE provisioner = ?1",
        )?;
        let rows = st.query_map([provider], |r| {
            Ok((
                r.get(0)?,
                Provisioning {
                    provider: r.get(1)?,
                    external_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    checksum: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    allow_ui_updates: r.get(4)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delete_dashboard(&self, uid: &str) -> Result<Dashboard> {
        self.tx(|tx| {
            let d = dashboard_where(tx, "d.uid = ?1", &uid)?;
            tx.execute("DELETE FROM dashboards WHERE id = ?1", [d.id])?;
            Ok(d)
        })
    }

    fn dashboard_versions(
        &self,
        dashboard_id: i64,
        limit: usize,
        start: usize,
    ) -> Result<Vec<DashboardVersion>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT id, dashboard_id, parent_version, restored_from, version, created, created_by, message, data \
             FROM dashboard_versions WHERE dashboard_id = ?1 ORDER BY version DESC LIMIT ?2 OFFSET ?3",
        )?;
        let rows = st.query_map(
            params![dashboard_id, limit as i64, start as i64],
            version_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dashboard_version(&self, dashboard_id: i64, version: i64) -> Result<DashboardVersion> {
        self.lock()
            .query_row(
                "SELECT id, dashboard_id, parent_version, restored_from, version, created, created_by, message, data \
                 FROM dashboard_versions WHERE dashboard_id = ?1 AND version = ?2",
                params![dashboard_id, version],
                version_from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("Dashboard version not found"))
    }

    fn star(&self, user_id: i64, dashboard_id: i64) -> Result<()> {
        self.lock().execute(
            "INSERT OR IGNORE INTO stars (user_id, dashboard_id) VALUES (?1, ?2)",
            params![user_id, dashboard_id],
        )?;
        Ok(())
    }

    fn unstar(&self, user_id: i64, dashboard_id: i64) -> Result<()> {
        self.lock().execute(
            "DELETE FROM stars WHERE user_id = ?1 AND dashboard_id = ?2",
            params![user_id, dashboard_id],
        )?;
        Ok(())
    }

    fn starred(&self, user_id: i64) -> Result<Vec<i64>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT dashboard_id FROM stars WHERE user_id = ?1")?;
        let rows = st.query_map([user_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn create_data_source(&self, ds: &DataSource) -> Result<DataSource> {
        self.tx(|tx| {
            let mut ds = ds.clone();
            if ds.uid.is_empty() {
                ds.uid = new_uid();
            }
            let id = write_ds(tx, None, &ds, 1)?;
            data_source_in(tx, &DataSourceRef::Id(id))
        })
    }

    fn data_source(&self, by: DataSourceRef<'_>) -> Result<DataSource> {
        data_source_in(&self.lock(), &by)
    }

    fn list_data_sources(&self) -> Result<Vec<DataSource>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {DS_COLUMNS} FROM data_sources ORDER BY lower(name)"
        ))?;
        let rows = st.query_map([], ds_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn update_data_source(&self, id: i64, ds: &DataSource) -> Result<DataSource> {
        self.tx(|tx| {
            let old = data_source_in(tx, &DataSourceRef::Id(id))?;
            let mut ds = ds.clone();
            if ds.uid.is_empty() {
                ds.uid = old.uid.clone();
            }
            write_ds(tx, Some(id), &ds, old.version + 1)?;
            data_source_in(tx, &DataSourceRef::Id(id))
        })
    }

    fn delete_data_source(&self, id: i64) -> Result<DataSource> {
        self.tx(|tx| {
            let ds = data_source_in(tx, &DataSourceRef::Id(id))?;
            tx.execute("DELETE FROM data_sources WHERE id = ?1", [id])?;
            Ok(ds)
        })
    }
}

/// The save rules of `POST /api/dashboards/db`, as Grafana's dashboard service applies
/// them: find the existing dashboard by uid (or id), check its version unless
/// `overwrite`, refuse a title another dashboard of the folder has (compared by slug),
/// then write the row and a new version.
fn save_dashboard_in(tx: &Transaction<'_>, save: SaveDashboard) -> Result<Dashboard> {
    let SaveDashboard {
        mut data,
        folder_uid,
        message,
        overwrite,
        user_id,
        provisioning,
        restored_from,
    } = save;
    crate::dashboard_json::validate(&data).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let title = data
        .get("title")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let uid_in = data
        .get("uid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let id_in = data.get("id").and_then(Value::as_i64).filter(|&i| i > 0);
    let version_in = data.get("version").and_then(Value::as_i64);
    let folder = match folder_uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => Some(folder_in(tx, uid).map_err(|_| StoreError::FolderNotFound)?),
        None => None,
    };
    let folder_id = folder.as_ref().map(|f| f.id);
    let mut existing = match (&uid_in, id_in) {
        (Some(uid), _) => dashboard_where(tx, "d.uid = ?1", uid).ok(),
        (None, Some(id)) => Some(dashboard_where(tx, "d.id = ?1", &id)?),
        (None, None) => None,
    };
    let slug = slugify(&title);
    let same_title: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, uid FROM dashboards WHERE slug = ?1 AND folder_id IS ?2 AND id IS NOT ?3",
            params![slug, folder_id, existing.as_ref().map(|d| d.id)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((other_id, other_uid)) = same_title {
        if !overwrite {
            return Err(StoreError::NameExists);
        }
        match &existing {
            // Grafana replaces the same-titled dashboard when overwriting a new one.
            None if uid_in.is_none() || uid_in.as_deref() == Some(other_uid.as_str()) => {
                existing = Some(dashboard_where(tx, "d.id = ?1", &other_id)?);
            }
            _ => {
                tx.execute("DELETE FROM dashboards WHERE id = ?1", [other_id])?;
            }
        }
    }
    if let Some(old) = &existing {
        if let Some(p) = &old.provisioning
            && !p.allow_ui_updates
            && provisioning.is_none()
        {
            return Err(StoreError::Provisioned);
        }
        if !overwrite && version_in != Some(old.version) {
            return Err(StoreError::VersionMismatch);
        }
    }
    let now = now_ms();
    let uid = match (&existing, uid_in) {
        (Some(old), _) => old.uid.clone(),
        (None, Some(uid)) => uid,
        (None, None) => new_uid(),
    };
    let version = existing.as_ref().map_or(1, |d| d.version + 1);
    let tags: Vec<String> = data
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let tags_text = serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into());
    // Keep the provider's marks on a UI update it allows.
    let provisioning =
        provisioning.or_else(|| existing.as_ref().and_then(|d| d.provisioning.clone()));
    let (prov_name, prov_id, prov_sum, prov_ui) = match &provisioning {
        Some(p) => (
            Some(p.provider.as_str()),
            Some(p.external_id.as_str()),
            Some(p.checksum.as_str()),
            p.allow_ui_updates,
        ),
        None => (None, None, None, false),
    };
    let id = match &existing {
        Some(old) => {
            if let Some(obj) = data.as_object_mut() {
                obj.insert("id".into(), Value::from(old.id));
            }
            old.id
        }
        None => {
            tx.execute(
                "INSERT INTO dashboards (uid, title, slug, folder_id, tags, data, version, created, updated, \
                 created_by, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, '{}', 0, ?6, ?6, ?7, ?7)",
                params![uid, title, slug, folder_id, tags_text, now, user_id],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::UidExists
                } else {
                    e.into()
                }
            })?;
            tx.last_insert_rowid()
        }
    };
    if let Some(obj) = data.as_object_mut() {
        obj.insert("id".into(), Value::from(id));
        obj.insert("uid".into(), Value::from(uid.clone()));
        obj.insert("title".into(), Value::from(title.clone()));
        obj.insert("version".into(), Value::from(version));
    }
    let text = serde_json::to_string(&data).map_err(|e| StoreError::Database(e.to_string()))?;
    tx.execute(
        "UPDATE dashboards SET title = ?1, slug = ?2, folder_id = ?3, tags = ?4, data = ?5, version = ?6, \
         updated = ?7, updated_by = ?8, provisioner = ?9, provisioned_external_id = ?10, \
         provisioned_checksum = ?11, allow_ui_updates = ?12 WHERE id = ?13",
        params![
            title, slug, folder_id, tags_text, text, version, now, user_id, prov_name, prov_id,
            prov_sum, prov_ui, id
        ],
    )?;
    tx.execute(
        "INSERT INTO dashboard_versions (dashboard_id, parent_version, restored_from, version, created, \
         created_by, message, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, version - 1, restored_from, version, now, user_id, message, text],
    )?;
    dashboard_where(tx, "d.id = ?1", &id)
}

/// Grafana's data source JSON keeps secure fields as a flat string map.
pub fn secure_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k.clone(), s.clone())),
                    Value::Null => None,
                    other => Some((k.clone(), other.to_string())),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> SqliteStore {
        SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"))
    }

    fn save(
        s: &SqliteStore,
        data: Value,
        folder: Option<&str>,
        overwrite: bool,
    ) -> Result<Dashboard> {
        s.save_dashboard(SaveDashboard {
            data,
            folder_uid: folder.map(str::to_string),
            message: String::new(),
            overwrite,
            user_id: 1,
            provisioning: None,
            restored_from: 0,
        })
    }

    #[test]
    fn migrations_are_recorded_and_reapplying_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = SqliteStore::open_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.schema_version().ok(), Some(MIGRATIONS.len() as i64));
        assert_eq!(s.org_name().ok().as_deref(), Some("Main Org."));
        drop(s);
        let s = SqliteStore::open_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.schema_version().ok(), Some(MIGRATIONS.len() as i64));
        // A database from a newer hearth is refused, not touched.
        s.lock()
            .execute("INSERT INTO migrations VALUES (999, 'future', 0)", [])
            .unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let err = SqliteStore::open_dir(dir.path())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("schema version 999")));
    }

    #[test]
    fn saves_follow_grafanas_rules() {
        let s = store();
        let d = save(
            &s,
            json!({"title": "Hosts", "tags": ["a"], "panels": [1]}),
            None,
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((d.version, d.slug.as_str()), (1, "hosts"));
        assert_eq!(d.data["id"], d.id);
        assert_eq!(d.data["uid"], d.uid.as_str());
        assert_eq!(d.data["panels"], json!([1]));
        // Update with the right version.
        let mut next = d.data.clone();
        next["panels"] = json!([1, 2]);
        let d2 = save(&s, next.clone(), None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((d2.id, d2.version), (d.id, 2));
        // Stale version: refused, nothing changed; overwrite wins.
        assert!(matches!(
            save(&s, next.clone(), None, false),
            Err(StoreError::VersionMismatch)
        ));
        assert_eq!(s.dashboard_by_uid(&d.uid).map(|d| d.version).ok(), Some(2));
        assert_eq!(save(&s, next, None, true).map(|d| d.version).ok(), Some(3));
        // Same title (by slug) in the same folder; fine in another folder.
        assert!(matches!(
            save(&s, json!({"title": "HOSTS!"}), None, false),
            Err(StoreError::NameExists)
        ));
        s.create_folder("f", "Folder", 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let other =
            save(&s, json!({"title": "Hosts"}), Some("f"), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.folder.map(|f| f.uid).as_deref(), Some("f"));
        assert!(matches!(
            save(&s, json!({"title": "x"}), Some("missing"), false),
            Err(StoreError::FolderNotFound)
        ));
        // Versions newest first; a version keeps its JSON.
        let vs = s
            .dashboard_versions(d.id, 10, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(vs[2].data["panels"], json!([1]));
        assert_eq!(
            s.dashboard_versions(d.id, 1, 1).map(|v| v[0].version).ok(),
            Some(2)
        );
        // Deleting the folder deletes its dashboards and their versions.
        s.delete_folder("f").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.list_dashboards().map(|l| l.len()).ok(), Some(1));
    }

    #[test]
    fn provisioned_dashboards_refuse_api_saves() {
        let s = store();
        let p = Provisioning {
            provider: "p".into(),
            external_id: "/x.json".into(),
            checksum: "c".into(),
            allow_ui_updates: false,
        };
        let d = s
            .save_dashboard(SaveDashboard {
                data: json!({"title": "P", "uid": "p1"}),
                folder_uid: None,
                message: String::new(),
                overwrite: true,
                user_id: 0,
                provisioning: Some(p.clone()),
                restored_from: 0,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.provisioning.as_ref(), Some(&p));
        assert!(matches!(
            save(&s, d.data.clone(), None, true),
            Err(StoreError::Provisioned)
        ));
        assert_eq!(s.provisioned_dashboards("p").map(|l| l.len()).ok(), Some(1));
    }

    #[test]
    fn data_sources_have_unique_names_and_one_default() {
        let s = store();
        let ds = DataSource {
            id: 0,
            uid: String::new(),
            name: "a".into(),
            type_: "prometheus".into(),
            access: "proxy".into(),
            url: "http://a".into(),
            user: String::new(),
            database: String::new(),
            basic_auth: false,
            basic_auth_user: String::new(),
            with_credentials: false,
            is_default: true,
            json_data: json!({}),
            secure_json_data: BTreeMap::from([("k".to_string(), "v".to_string())]),
            version: 0,
            read_only: false,
        };
        let a = s.create_data_source(&ds).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.uid.len(), 14);
        assert_eq!(a.secure_json_data.get("k").map(String::as_str), Some("v"));
        let err = s.create_data_source(&ds).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("data source with the same name already exists")
        );
        let b = s
            .create_data_source(&DataSource {
                name: "b".into(),
                ..ds.clone()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let a = s
            .data_source(DataSourceRef::Id(a.id))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!a.is_default && b.is_default);
        let a2 = s.update_data_source(
            a.id,
            &DataSource {
                url: "http://a2".into(),
                ..a.clone()
            },
        );
        assert_eq!(
            a2.map(|d| (d.version, d.url)).ok(),
            Some((2, "http://a2".into()))
        );
    }

    #[test]
    fn users_sessions_and_tokens() {
        let s = store();
        let id = s
            .create_user(&NewUser {
                login: "u".into(),
                email: "u@x".into(),
                name: "U".into(),
                password_hash: "h".into(),
                role: Role::Editor,
                is_admin: false,
                is_service_account: false,
                must_change_password: false,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.user_by_login_or_email("u@x").map(|u| u.id).ok(), Some(id));
        s.create_session("sh", id, now_ms() + 1000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.session_user("sh", now_ms()).ok().flatten().is_some());
        assert!(
            s.session_user("sh", now_ms() + 2000)
                .ok()
                .flatten()
                .is_none(),
            "expired"
        );
        s.set_password(id, "h2", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.session_user("sh", now_ms()).ok().flatten().is_none(),
            "password change ends sessions"
        );
        let t = s
            .create_token(id, "t", "th", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.create_token(id, "t", "th2", None).is_err(),
            "token names are unique"
        );
        assert_eq!(
            s.token_user("th", now_ms()).ok().flatten().map(|u| u.id),
            Some(id)
        );
        s.delete_token(id, t).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.token_user("th", now_ms()).ok().flatten().is_none());
    }
}
