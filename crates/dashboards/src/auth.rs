//! Who is calling: basic auth (`login:password`, bcrypt-checked), bearer service-account
//! tokens and the `grafana_session` cookie of `POST /login`, resolved to a stored
//! [`User`]; the role checks the API applies (Viewer reads, Editor writes dashboards and
//! folders, Admin manages data sources, users and tokens; server admins manage users
//! across the instance).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;

use crate::sqlite::now_ms;
use crate::store::{DashboardStore, Role, StoreError, User};
use crate::uid::{secret, sha256_hex};

/// The session cookie's name, Grafana's.
pub const SESSION_COOKIE: &str = "grafana_session";

/// How long a session lasts after login (Grafana's `login_maximum_inactive_lifetime`).
pub const SESSION_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// bcrypt cost for stored passwords.
pub const BCRYPT_COST: u32 = 10;

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    bcrypt::hash(password, BCRYPT_COST)
        .map_err(|e| StoreError::Database(format!("cannot hash password: {e}")))
}

/// A new service-account token `glsa_<32 alphanumerics>_<8 hex>` and its stored hash.
pub fn new_token() -> Option<(String, String)> {
    let body = secret(32)?;
    let check = &sha256_hex(&body)[..8];
    let token = format!("glsa_{body}_{check}");
    let hash = sha256_hex(&token);
    Some((token, hash))
}

/// A new session secret and its stored hash.
pub fn new_session_secret() -> Option<(String, String)> {
    let s = secret(32)?;
    let hash = sha256_hex(&s);
    Some((s, hash))
}

/// Checks passwords, remembering successful checks so basic auth does not pay for bcrypt
/// on every request. An entry is valid only while the user's stored hash is the one it
/// was checked against, so a password change invalidates it.
#[derive(Default)]
pub struct PasswordCache {
    ok: Mutex<HashMap<String, String>>,
}

impl PasswordCache {
    /// Whether `password` is the password of `user`.
    pub fn verify(&self, user: &User, password: &str) -> bool {
        if user.password_hash.is_empty() {
            return false;
        }
        let key = sha256_hex(&format!("{}\u{0}{}\u{0}{password}", user.id, user.login));
        {
            let cache = self.ok.lock().unwrap_or_else(|p| p.into_inner());
            if cache.get(&key) == Some(&user.password_hash) {
                return true;
            }
        }
        let ok = bcrypt::verify(password, &user.password_hash).unwrap_or(false);
        if ok {
            let mut cache = self.ok.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, user.password_hash.clone());
        }
        ok
    }
}

/// Credentials found in a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic { login: String, password: String },
    Bearer(String),
    Session(String),
    None,
}

/// Reads the `Authorization` header and the session cookie (the header wins).
pub fn credentials(authorization: Option<&str>, cookie: Option<&str>) -> Credentials {
    if let Some(h) = authorization {
        let h = h.trim();
        if let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            if let Some((login, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return Credentials::Basic {
                    login: login.to_string(),
                    password: password.to_string(),
                };
            }
            return Credentials::None;
        }
        if let Some(t) = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
        {
            return Credentials::Bearer(t.trim().to_string());
        }
    }
    if let Some(c) = cookie {
        for part in c.split(';') {
            if let Some((k, v)) = part.trim().split_once('=')
                && k == SESSION_COOKIE
                && !v.is_empty()
            {
                return Credentials::Session(v.to_string());
            }
        }
    }
    Credentials::None
}

/// The user the credentials name, if they are valid and the user is enabled.
pub fn authenticate(
    store: &dyn DashboardStore,
    cache: &PasswordCache,
    creds: &Credentials,
) -> Result<Option<User>, StoreError> {
    let now = now_ms();
    let user = match creds {
        Credentials::None => None,
        Credentials::Basic { login, password } => match store.user_by_login_or_email(login) {
            Ok(u) if !u.is_service_account && cache.verify(&u, password) => Some(u),
            Ok(_) | Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        Credentials::Bearer(token) => store.token_user(&sha256_hex(token), now)?,
        Credentials::Session(s) => store.session_user(&sha256_hex(s), now)?,
    };
    Ok(user.filter(|u| !u.is_disabled))
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read dashboards, folders, search; query data sources through the proxy.
    Read,
    /// Create, change and delete dashboards and folders.
    Edit,
    /// Manage data sources, organization users, service accounts and tokens.
    OrgAdmin,
    /// Manage users across the instance (`/api/users`, `/api/admin/*`).
    ServerAdmin,
}

impl Action {
    /// Grafana's name of the permission, for the 403 message.
    pub fn permission(self) -> &'static str {
        match self {
            Action::Read => "dashboards:read",
            Action::Edit => "dashboards:write",
            Action::OrgAdmin => "datasources:write",
            Action::ServerAdmin => "users:write",
        }
    }
}

/// Whether `user` may do `action`.
pub fn allowed(user: &User, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::Edit => user.role >= Role::Editor,
        Action::OrgAdmin => user.role >= Role::Admin,
        Action::ServerAdmin => user.is_admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_headers_and_cookie() {
        assert_eq!(
            credentials(Some("Basic YWRtaW46YTpi"), None),
            Credentials::Basic {
                login: "admin".into(),
                password: "a:b".into()
            }
        );
        assert_eq!(
            credentials(Some("Bearer glsa_x"), Some("grafana_session=s")),
            Credentials::Bearer("glsa_x".into())
        );
        assert_eq!(
            credentials(None, Some("a=1; grafana_session=abc")),
            Credentials::Session("abc".into())
        );
        assert_eq!(credentials(Some("Basic !!!"), None), Credentials::None);
        assert_eq!(
            credentials(None, Some("grafana_session=")),
            Credentials::None
        );
    }

    #[test]
    fn tokens_are_grafana_shaped_and_hashed() {
        let Some((token, hash)) = new_token() else {
            panic!("no random source")
        };
        assert!(token.starts_with("glsa_"));
        assert_eq!(token.len(), 5 + 32 + 1 + 8);
        assert_eq!(hash, sha256_hex(&token));
    }
}
