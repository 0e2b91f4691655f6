//! The running dashboards component: opens the store, makes sure there is an admin,
//! applies provisioning, builds the HTTP router and re-reads provisioned dashboard files
//! every `updateIntervalSeconds` until shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{self, App, BuildInfo};
use crate::auth::{self, PasswordCache};
use crate::provisioning::{self, DataSourceConfig, Provider, ProvisioningError};
use crate::sqlite::SqliteStore;
use crate::store::{DashboardStore, NewUser, Role, StoreError};

/// Grafana's default for `updateIntervalSeconds`.
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(10);

/// What `hearth dashboards` needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory of `hearth-dashboards.db`.
    pub storage_path: PathBuf,
    /// Login of the admin created at the first start.
    pub admin_user: String,
    /// The admin's password; `None` is `admin`, flagged to be changed at first login.
    pub admin_password: Option<String>,
    /// Grafana's `conf/provisioning` layout (`datasources/`, `dashboards/`).
    pub provisioning_dir: Option<PathBuf>,
    /// Data sources provisioned besides the files (the all-in-one's "hearth").
    pub extra_data_sources: Vec<DataSourceConfig>,
    pub build: BuildInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("dashboards storage: {0}")]
    Store(#[from] StoreError),
    #[error("provisioning: {0}")]
    Provisioning(#[from] ProvisioningError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// A started dashboards component.
pub struct Dashboards {
    app: Arc<App>,
    providers: Vec<Provider>,
}

impl Dashboards {
    /// Opens the store under `opts.storage_path` and applies provisioning.
    pub fn start(opts: Options) -> Result<Dashboards, StartError> {
        let store: Arc<dyn DashboardStore> = Arc::new(SqliteStore::open_dir(&opts.storage_path)?);
        Self::start_with(store, opts)
    }

    /// As [`Dashboards::start`] on a given store (tests, other databases).
    pub fn start_with(
        store: Arc<dyn DashboardStore>,
        opts: Options,
    ) -> Result<Dashboards, StartError> {
        ensure_admin(
            store.as_ref(),
            &opts.admin_user,
            opts.admin_password.as_deref(),
        )?;
        let mut data_sources: Vec<(PathBuf, DataSourceConfig)> = opts
            .extra_data_sources
            .iter()
            .map(|d| (PathBuf::from("(built-in)"), d.clone()))
            .collect();
        let mut deletes = Vec::new();
        let mut providers = Vec::new();
        if let Some(dir) = &opts.provisioning_dir {
            let (files, d) = provisioning::read_data_sources(dir)?;
            // A file's default wins over the built-in one.
            if files.iter().any(|(_, c)| c.is_default) {
                for (_, c) in &mut data_sources {
                    c.is_default = false;
                }
            }
            data_sources.extend(files);
            deletes = d;
            providers = provisioning::read_providers(dir)?;
        }
        provisioning::apply_data_sources(store.as_ref(), &data_sources, &deletes)?;
        for p in &providers {
            let r = provisioning::sync_provider(store.as_ref(), p);
            tracing::info!(provider = %p.name, saved = r.saved, unchanged = r.unchanged, deleted = r.deleted, errors = r.errors.len(), "provisioned dashboards");
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        Ok(Dashboards {
            app: Arc::new(App {
                store,
                passwords: PasswordCache::default(),
                http,
                build: opts.build,
            }),
            providers,
        })
    }

    /// The HTTP routes (Grafana's API subset and the placeholder page).
    pub fn router(&self) -> axum::Router {
        api::router(self.app.clone())
    }

    pub fn store(&self) -> Arc<dyn DashboardStore> {
        self.app.store.clone()
    }

    /// Re-reads provisioned dashboard files every provider's interval until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        if self.providers.is_empty() {
            shutdown.await;
            return;
        }
        let interval = self
            .providers
            .iter()
            .map(|p| {
                p.update_interval_seconds
                    .map_or(DEFAULT_UPDATE_INTERVAL, |s| Duration::from_secs(s.max(1)))
            })
            .min()
            .unwrap_or(DEFAULT_UPDATE_INTERVAL);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    let store = self.app.store.clone();
                    let providers = self.providers.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        for p in &providers {
                            let r = provisioning::sync_provider(store.as_ref(), p);
                            if r.saved + r.deleted > 0 {
                                tracing::info!(provider = %p.name, saved = r.saved, deleted = r.deleted, "provisioned dashboards changed");
                            }
                        }
                    })
                    .await;
                }
            }
        }
    }
}

/// Creates the admin at the first start (password from the option, else `admin` that
/// must be changed at first login). On later starts an explicit password replaces a
/// default one that was never changed; a password the admin chose is kept.
pub fn ensure_admin(
    store: &dyn DashboardStore,
    login: &str,
    password: Option<&str>,
) -> Result<(), StoreError> {
    if store.user_count()? == 0 {
        let hash = auth::hash_password(password.unwrap_or("admin"))?;
        store.create_user(&NewUser {
            login: login.to_string(),
            email: "admin@localhost".into(),
            name: String::new(),
            password_hash: hash,
            role: Role::Admin,
            is_admin: true,
            is_service_account: false,
            must_change_password: password.is_none(),
        })?;
        if password.is_none() {
            tracing::warn!(
                login,
                "created the admin user with the default password \"admin\": change it at first login (or start with --admin-password / GF_SECURITY_ADMIN_PASSWORD)"
            );
        }
        return Ok(());
    }
    if let Some(pw) = password
        && let Ok(u) = store.user_by_login_or_email(login)
        && u.must_change_password
    {
        store.set_password(u.id, &auth::hash_password(pw)?, false)?;
    }
    Ok(())
}
