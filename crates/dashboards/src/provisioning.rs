//! Grafana's file provisioning: `datasources/*.yaml` (`apiVersion: 1`, `datasources:`,
//! `deleteDatasources:`) and `dashboards/*.yaml` providers (`options.path`,
//! `foldersFromFilesStructure`, `folder`/`folderUid`, `allowUiUpdates`,
//! `disableDeletion`, `updateIntervalSeconds`) read from a provisioning directory laid
//! out as Grafana's `conf/provisioning`. String values may use `$VAR`, `${VAR}` (the
//! environment; unset is empty) and `$$` (a literal `$`), as Grafana expands them.
//!
//! YAML errors name the file, line and column and stop the start; a bad dashboard file
//! is reported with its path and skipped, leaving what is stored untouched.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::dashboard_json::{self, MAX_DASHBOARD_BYTES};
use crate::store::{
    DashboardStore, DataSource, DataSourceRef, Provisioning, SaveDashboard, StoreError,
};
use crate::uid::{new_uid, sha256_hex};

/// Errors of provisioning; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: {source}")]
    Store { file: String, source: StoreError },
}

fn file_error(file: &Path, message: impl Into<String>) -> ProvisioningError {
    ProvisioningError::File {
        file: file.display().to_string(),
        message: message.into(),
    }
}

/// Expands `$VAR`, `${VAR}` and `$$` in `s` with `lookup` (unset variables are empty).
pub fn expand_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            match r.find('}') {
                Some(end) => {
                    out.push_str(&lookup(&r[..end]).unwrap_or_default());
                    rest = &r[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..end]).unwrap_or_default());
            }
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    out
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn expand_value(v: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) {
    match v {
        Value::String(s) => *s = expand_env(s, lookup),
        Value::Array(a) => a.iter_mut().for_each(|v| expand_value(v, lookup)),
        Value::Object(o) => o.values_mut().for_each(|v| expand_value(v, lookup)),
        _ => {}
    }
}

/// One data source of a provisioning file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DataSourceConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub uid: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Option<Value>,
    pub secure_json_data: Option<BTreeMap<String, Value>>,
    pub version: Option<i64>,
    pub editable: bool,
    pub org_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DeleteDataSource {
    name: String,
    #[allow(dead_code)]
    org_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DataSourcesFile {
    #[allow(dead_code)]
    api_version: Option<i64>,
    datasources: Vec<DataSourceConfig>,
    delete_datasources: Vec<DeleteDataSource>,
}

/// A dashboards provider.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Provider {
    pub name: String,
    pub org_id: Option<i64>,
    pub folder: String,
    pub folder_uid: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub disable_deletion: bool,
    pub update_interval_seconds: Option<u64>,
    pub allow_ui_updates: bool,
    pub options: ProviderOptions,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderOptions {
    pub path: String,
    pub folders_from_files_structure: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DashboardsFile {
    #[allow(dead_code)]
    api_version: Option<i64>,
    providers: Vec<Provider>,
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ProvisioningError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(dir, format!("cannot read directory: {e}"))),
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, ProvisioningError> {
    serde_saphyr::from_str(text).map_err(|e| {
        // The parser's text is "error: line L column C: what" plus a source snippet;
        // keep "what" after our own "file:L:C: ".
        let full = e.to_string();
        let first = full.lines().next().unwrap_or("");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let what = match first.strip_prefix("line ") {
            Some(rest) => rest.split_once(": ").map_or(first, |(_, w)| w),
            None => first,
        };
        match e.location() {
            Some(l) => ProvisioningError::File {
                file: format!("{}:{}:{}", file.display(), l.line(), l.column()),
                message: what.to_string(),
            },
            None => file_error(file, what),
        }
    })
}

fn read_text(file: &Path) -> Result<String, ProvisioningError> {
    std::fs::read_to_string(file).map_err(|e| file_error(file, format!("cannot read: {e}")))
}

/// Provisioned data sources with the file each comes from, and the names to delete.
pub type DataSourceFiles = (Vec<(PathBuf, DataSourceConfig)>, Vec<String>);

/// Reads every `datasources/*.yaml` under `dir`: `(file, config)` pairs and the names to
/// delete, environment already expanded. Validates names, types and that at most one is
/// the default.
pub fn read_data_sources(dir: &Path) -> Result<DataSourceFiles, ProvisioningError> {
    let mut out = Vec::new();
    let mut deletes = Vec::new();
    for file in yaml_files(&dir.join("datasources"))? {
        let (list, d) = parse_data_sources(&file, &read_text(&file)?, &env_lookup)?;
        deletes.extend(d);
        out.extend(list.into_iter().map(|ds| (file.clone(), ds)));
    }
    check_one_default(&out)?;
    Ok((out, deletes))
}

/// Parses one data sources file's text (`file` names it in errors), expanding the
/// environment with `lookup`.
pub fn parse_data_sources(
    file: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<DataSourceConfig>, Vec<String>), ProvisioningError> {
    let parsed: DataSourcesFile = parse_yaml(file, text)?;
    let deletes = parsed
        .delete_datasources
        .iter()
        .map(|d| expand_env(&d.name, lookup))
        .collect();
    let mut out = Vec::new();
    for (i, mut ds) in parsed.datasources.into_iter().enumerate() {
        for s in [
            &mut ds.name,
            &mut ds.type_,
            &mut ds.uid,
            &mut ds.access,
            &mut ds.url,
            &mut ds.user,
            &mut ds.database,
            &mut ds.basic_auth_user,
        ] {
            *s = expand_env(s, lookup);
        }
        if let Some(j) = ds.json_data.as_mut() {
            expand_value(j, lookup);
        }
        if let Some(s) = ds.secure_json_data.as_mut() {
            s.values_mut().for_each(|v| expand_value(v, lookup));
        }
        if ds.name.trim().is_empty() {
            return Err(file_error(file, format!("datasources[{i}].name: required")));
        }
        if ds.type_.trim().is_empty() {
            return Err(file_error(
                file,
                format!("datasources[{i}] ({}).type: required", ds.name),
            ));
        }
        if !ds.uid.is_empty() {
            dashboard_json::validate_uid(&ds.uid).map_err(|e| {
                file_error(file, format!("datasources[{i}] ({}).uid: {e}", ds.name))
            })?;
        }
        out.push(ds);
    }
    Ok((out, deletes))
}

fn check_one_default(list: &[(PathBuf, DataSourceConfig)]) -> Result<(), ProvisioningError> {
    let defaults: Vec<&(PathBuf, DataSourceConfig)> =
        list.iter().filter(|(_, d)| d.is_default).collect();
    if defaults.len() > 1 {
        return Err(file_error(
            &defaults[1].0,
            format!(
                "datasource {:?}: only one datasource per organization can be marked as default ({:?} is too)",
                defaults[1].1.name, defaults[0].1.name
            ),
        ));
    }
    Ok(())
}

impl DataSourceConfig {
    fn to_data_source(&self) -> DataSource {
        let secure = self
            .secure_json_data
            .as_ref()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .unwrap_or_default();
        DataSource {
            id: 0,
            uid: self.uid.clone(),
            name: self.name.trim().to_string(),
            type_: self.type_.clone(),
            access: if self.access.is_empty() {
                "proxy".into()
            } else {
                self.access.clone()
            },
            url: self.url.clone(),
            user: self.user.clone(),
            database: self.database.clone(),
            basic_auth: self.basic_auth,
            basic_auth_user: self.basic_auth_user.clone(),
            with_credentials: self.with_credentials,
            is_default: self.is_default,
            json_data: self
                .json_data
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
            secure_json_data: secure,
            version: 0,
            read_only: !self.editable,
        }
    }
}

/// Applies provisioned data sources: deletes first, then creates or updates by uid (or
/// name when the file gives no uid).
pub fn apply_data_sources(
    store: &dyn DashboardStore,
    list: &[(PathBuf, DataSourceConfig)],
    deletes: &[String],
) -> Result<(), ProvisioningError> {
    for name in deletes {
        if let Ok(ds) = store.data_source(DataSourceRef::Name(name)) {
            store
                .delete_data_source(ds.id)
                .map_err(|source| ProvisioningError::Store {
                    file: "deleteDatasources".into(),
                    source,
                })?;
        }
    }
    for (file, cfg) in list {
        let ds = cfg.to_data_source();
        let existing = if ds.uid.is_empty() {
            store.data_source(DataSourceRef::Name(&ds.name)).ok()
        } else {
            store
                .data_source(DataSourceRef::Uid(&ds.uid))
                .or_else(|_| store.data_source(DataSourceRef::Name(&ds.name)))
                .ok()
        };
        let res = match existing {
            Some(old) => store.update_data_source(old.id, &ds),
            None => store.create_data_source(&ds),
        };
        res.map_err(|source| ProvisioningError::Store {
            file: file.display().to_string(),
            source,
        })?;
        tracing::info!(name = %ds.name, file = %file.display(), "provisioned data source");
    }
    Ok(())
}

/// Reads every `dashboards/*.yaml` under `dir`; relative `options.path`s are taken as
/// relative to the working directory, as Grafana does.
pub fn read_providers(dir: &Path) -> Result<Vec<Provider>, ProvisioningError> {
    let mut out: Vec<Provider> = Vec::new();
    for file in yaml_files(&dir.join("dashboards"))? {
        for (i, p) in parse_providers(&file, &read_text(&file)?, &env_lookup)?
            .into_iter()
            .enumerate()
        {
            if out.iter().any(|o| o.name == p.name) {
                return Err(file_error(
                    &file,
                    format!(
                        "providers[{i}].name: {:?} is used by another provider",
                        p.name
                    ),
                ));
            }
            out.push(p);
        }
    }
    Ok(out)
}

/// Parses one dashboards provider file's text (`file` names it in errors).
pub fn parse_providers(
    file: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Provider>, ProvisioningError> {
    let parsed: DashboardsFile = parse_yaml(file, text)?;
    let mut out = Vec::new();
    for (i, mut p) in parsed.providers.into_iter().enumerate() {
        for s in [
            &mut p.name,
            &mut p.folder,
            &mut p.folder_uid,
            &mut p.options.path,
        ] {
            *s = expand_env(s, lookup);
        }
        if p.name.is_empty() {
            return Err(file_error(file, format!("providers[{i}].name: required")));
        }
        if !p.type_.is_empty() && p.type_ != "file" {
            return Err(file_error(
                file,
                format!(
                    "providers[{i}] ({}).type: {:?} is not supported, only \"file\"",
                    p.name, p.type_
                ),
            ));
        }
        if p.options.path.is_empty() {
            return Err(file_error(
                file,
                format!("providers[{i}] ({}).options.path: required", p.name),
            ));
        }
        if p.options.folders_from_files_structure
            && (!p.folder.is_empty() || !p.folder_uid.is_empty())
        {
            return Err(file_error(
                file,
                format!(
                    "providers[{i}] ({}): 'folder' and 'folderUid' cannot be set with 'foldersFromFilesStructure'",
                    p.name
                ),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out, depth + 1);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

/// What one synchronisation did.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub saved: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Files skipped, with the reason (path first).
    pub errors: Vec<String>,
}

/// The folder uid for `title` (created when missing), or `uid` when given.
fn ensure_folder(
    store: &dyn DashboardStore,
    uid: &str,
    title: &str,
) -> Result<Option<String>, StoreError> {
    if !uid.is_empty() {
        return match store.folder_by_uid(uid) {
            Ok(f) => Ok(Some(f.uid)),
            Err(StoreError::NotFound(_)) => {
                let t = if title.is_empty() { uid } else { title };
                Ok(Some(store.create_folder(uid, t, 0)?.uid))
            }
            Err(e) => Err(e),
        };
    }
    if title.is_empty() {
        return Ok(None);
    }
    if let Some(f) = store
        .list_folders()?
        .into_iter()
        .find(|f| f.title.eq_ignore_ascii_case(title))
    {
        return Ok(Some(f.uid));
    }
    Ok(Some(store.create_folder(&new_uid(), title, 0)?.uid))
}

/// Brings the dashboards of `provider` in line with its files: new or changed files are
/// saved (a new version each), unchanged ones skipped by checksum, dashboards whose file
/// is gone deleted unless `disableDeletion`.
pub fn sync_provider(store: &dyn DashboardStore, provider: &Provider) -> SyncReport {
    let mut report = SyncReport::default();
    let root = PathBuf::from(&provider.options.path);
    let mut files = Vec::new();
    json_files(&root, &mut files, 0);
    let stored = match store.provisioned_dashboards(&provider.name) {
        Ok(s) => s,
        Err(e) => {
            report
                .errors
                .push(format!("provider {:?}: {e}", provider.name));
            return report;
        }
    };
    let by_path: HashMap<&str, (&str, &Provisioning)> = stored
        .iter()
        .map(|(uid, p)| (p.external_id.as_str(), (uid.as_str(), p)))
        .collect();
    let mut seen = Vec::new();
    for file in &files {
        let key = file.display().to_string();
        seen.push(key.clone());
        match sync_file(
            store,
            provider,
            &root,
            file,
            by_path.get(key.as_str()).copied(),
        ) {
            Ok(true) => report.saved += 1,
            Ok(false) => report.unchanged += 1,
            Err(e) => {
                tracing::error!(file = %key, error = %e, "provisioned dashboard not loaded");
                report.errors.push(format!("{key}: {e}"));
            }
        }
    }
    if !provider.disable_deletion {
        for (uid, p) in &stored {
            if !seen.contains(&p.external_id) {
                match store.delete_dashboard(uid) {
                    Ok(_) => report.deleted += 1,
                    Err(e) => report.errors.push(format!("{}: {e}", p.external_id)),
                }
            }
        }
    }
    report
}

fn sync_file(
    store: &dyn DashboardStore,
    provider: &Provider,
    root: &Path,
    file: &Path,
    stored: Option<(&str, &Provisioning)>,
) -> Result<bool, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_DASHBOARD_BYTES as u64 {
        return Err(dashboard_json::DashboardJsonError::TooLarge(meta.len() as usize).to_string());
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let checksum = sha256_hex(&String::from_utf8_lossy(&bytes));
    if let Some((uid, p)) = stored
        && p.checksum == checksum
        && store.dashboard_by_uid(uid).is_ok()
    {
        return Ok(false);
    }
    let mut data = dashboard_json::parse(&bytes).map_err(|e| e.to_string())?;
    // A dashboard exported with its wrapper ({"dashboard": {...}, "meta": ...}).
    if data.get("dashboard").is_some_and(Value::is_object) && data.get("title").is_none() {
        data = data["dashboard"].take();
    }
    dashboard_json::validate(&data).map_err(|e| e.to_string())?;
    if let Some(o) = data.as_object_mut() {
        o.remove("id");
        o.remove("version");
        let has_uid = o
            .get("uid")
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty());
        if !has_uid && let Some((uid, _)) = stored {
            o.insert("uid".into(), Value::from(uid));
        }
    }
    let folder_uid = if provider.options.folders_from_files_structure {
        let title = file
            .parent()
            .filter(|p| *p != root)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ensure_folder(store, "", &title).map_err(|e| e.to_string())?
    } else {
        ensure_folder(store, &provider.folder_uid, &provider.folder).map_err(|e| e.to_string())?
    };
    store
        .save_dashboard(SaveDashboard {
            data,
            folder_uid,
            message: String::new(),
            overwrite: true,
            user_id: 0,
            provisioning: Some(Provisioning {
                provider: provider.name.clone(),
                external_id: file.display().to_string(),
                checksum,
                allow_ui_updates: provider.allow_ui_updates,
            }),
            restored_from: 0,
        })
        .map_err(|e| e.to_string())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("prom".into()),
            "PORT" => Some("9090".into()),
            _ => None,
        }
    }

    #[test]
    fn environment_is_expanded_as_grafana_does() {
        assert_eq!(
            expand_env("http://$HOST:${PORT}/x", &env),
            "http://prom:9090/x"
        );
        assert_eq!(expand_env("a$$b", &env), "a$b");
        assert_eq!(expand_env("$UNSET-x", &env), "-x");
        assert_eq!(expand_env("cost: 5$", &env), "cost: 5$");
        assert_eq!(expand_env("${UNCLOSED", &env), "${UNCLOSED");
        assert_eq!(expand_env("ünï$HOST", &env), "ünïprom");
    }

    #[test]
    fn yaml_errors_name_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ds = dir.path().join("datasources");
        std::fs::create_dir_all(&ds).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            ds.join("a.yaml"),
            "apiVersion: 1\ndatasources:\n  - name: x\n    type: prometheus\n    isDefault: maybe\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_data_sources(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("a.yaml:5:16: invalid boolean"), "{err}");
        std::fs::write(
            ds.join("a.yaml"),
            "apiVersion: 1\ndatasources:\n  - type: prometheus\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_data_sources(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("a.yaml: datasources[0].name: required"),
            "{err}"
        );
        std::fs::write(
            ds.join("a.yaml"),
            "datasources:\n  - {name: a, type: prometheus, isDefault: true}\n  - {name: b, type: prometheus, isDefault: true}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_data_sources(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("only one datasource"), "{err}");
    }
}
