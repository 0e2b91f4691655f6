//! The top-level [`Config`]: loading (text → YAML → validated config with positions),
//! `${VAR}` expansion in external labels, relative paths, `scrape_config_files`, rule
//! file globs, and printing the effective configuration.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hearth_discovery::ServiceDiscoveryConfigs;
use hearth_discovery::http_client::join_dir;
use hearth_model::Labels;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::alerting::AlertingConfig;
use crate::error::ConfigError;
use crate::global::{GlobalConfig, RuntimeConfig};
use crate::remote::{RemoteReadConfig, RemoteWriteConfig};
use crate::scrape::{ScrapeConfig, ScrapeConfigFile};
use crate::storage::{OtlpConfig, StorageConfig, TracingConfig};

/// A loaded, validated prometheus.yml.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    pub runtime: RuntimeConfig,
    #[serde(skip_serializing_if = "AlertingConfig::is_empty")]
    pub alerting: AlertingConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(skip_serializing_if = "StorageConfig::is_empty")]
    pub storage: StorageConfig,
    #[serde(skip_serializing_if = "TracingConfig::is_empty")]
    pub tracing: TracingConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<RemoteReadConfig>,
    pub otlp: OtlpConfig,
}

impl Default for Config {
    /// The configuration of an empty file.
    fn default() -> Self {
        Config {
            global: GlobalConfig::default(),
            runtime: RuntimeConfig::default(),
            alerting: AlertingConfig::default(),
            rule_files: Vec::new(),
            scrape_config_files: Vec::new(),
            scrape_configs: Vec::new(),
            storage: StorageConfig::default(),
            tracing: TracingConfig::default(),
            remote_write: Vec::new(),
            remote_read: Vec::new(),
            otlp: OtlpConfig::default(),
        }
    }
}

/// The file as written, with the positions the cross-entry checks report.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    global: Option<GlobalConfig>,
    runtime: Option<RuntimeConfig>,
    alerting: Option<Spanned<AlertingConfig>>,
    rule_files: Option<Vec<Spanned<String>>>,
    scrape_config_files: Option<Vec<Spanned<String>>>,
    scrape_configs: Option<Vec<Spanned<Option<ScrapeConfig>>>>,
    storage: Option<StorageConfig>,
    tracing: Option<TracingConfig>,
    remote_write: Option<Vec<Spanned<Option<RemoteWriteConfig>>>>,
    remote_read: Option<Vec<Spanned<Option<RemoteReadConfig>>>>,
    otlp: Option<Spanned<OtlpConfig>>,
}

fn position<T>(s: &Spanned<T>) -> Option<(usize, usize)> {
    let l = s.referenced;
    (l.line() > 0).then_some((l.line() as usize, l.column() as usize))
}

/// The entries of a list section, each checked by `check`: a null entry and a repeated
/// non-empty name are errors at the entry, worded as upstream (`what` is e.g.
/// "scrape config").
fn checked_entries<T>(
    file: &str,
    list: Option<Vec<Spanned<Option<T>>>>,
    what: &str,
    name: impl Fn(&T) -> &String,
    mut check: impl FnMut(&mut T) -> Result<(), String>,
) -> Result<Vec<T>, ConfigError> {
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut out = Vec::new();
    for entry in list.unwrap_or_default() {
        let pos = position(&entry);
        let Some(mut value) = entry.value else {
            return Err(ConfigError::new(
                file,
                pos,
                format!("empty or null {what} section"),
            ));
        };
        check(&mut value).map_err(|m| ConfigError::new(file, pos, m))?;
        let n = name(&value);
        if !n.is_empty() && seen.insert(n.clone(), ()).is_some() {
            return Err(ConfigError::new(
                file,
                pos,
                format!("found multiple {what}s with job name {n:?}"),
            ));
        }
        out.push(value);
    }
    Ok(out)
}

/// `^[^*]*(\*[^/]*)?$`: a glob only in the last path element.
static RULE_PATH: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"^[^*]*(\*[^/]*)?$").ok());

fn valid_glob_path(p: &str) -> bool {
    RULE_PATH.as_ref().is_some_and(|re| re.is_match(p))
}

impl Config {
    /// Parses and validates prometheus.yml text. `file` names the source in errors.
    /// Relative paths stay relative; [`Config::load_file`] resolves them.
    pub fn load_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let err = |pos: Option<(usize, usize)>, msg: String| ConfigError::new(file, pos, msg);

        let global = raw.global.unwrap_or_default();
        let scheme = global.metric_name_validation_scheme;
        let mut cfg = Config {
            global,
            runtime: raw.runtime.unwrap_or_default(),
            storage: raw.storage.unwrap_or_default(),
            tracing: raw.tracing.unwrap_or_default(),
            ..Config::default()
        };

        for (list, out, what) in [
            (raw.rule_files, &mut cfg.rule_files, "rule file"),
            (
                raw.scrape_config_files,
                &mut cfg.scrape_config_files,
                "scrape config file",
            ),
        ] {
            for p in list.unwrap_or_default() {
                if !valid_glob_path(&p.value) {
                    return Err(err(
                        position(&p),
                        format!("invalid {what} path {:?}", p.value),
                    ));
                }
                out.push(p.value);
            }
        }

        let global = cfg.global.clone();
        cfg.scrape_configs = checked_entries(
            file,
            raw.scrape_configs,
            "scrape config",
            |sc: &ScrapeConfig| &sc.job_name,
            |sc| sc.validate(&global),
        )?;

        if let Some(a) = raw.alerting {
            let pos = position(&a);
            cfg.alerting = a.value;
            cfg.alerting.validate(scheme).map_err(|m| err(pos, m))?;
        }

        cfg.remote_write = checked_entries(
            file,
            raw.remote_write,
            "remote write config",
            |rw: &RemoteWriteConfig| &rw.name,
            |rw| rw.validate(scheme),
        )?;
        cfg.remote_read = checked_entries(
            file,
            raw.remote_read,
            "remote read config",
            |rr: &RemoteReadConfig| &rr.name,
            |_| Ok(()),
        )?;

        // Upstream expands environment variables in external label values only.
        let expanded: Vec<(String, String)> = cfg
            .global
            .external_labels
            .0
            .iter()
            .map(|l| {
                let v = expand_env(l.value.as_str(), |name| {
                    let v = std::env::var(name).unwrap_or_default();
                    if v.is_empty() {
                        tracing::warn!(name, "Empty environment variable");
                    }
                    v
                });
                (l.name.as_str().to_string(), v)
            })
            .collect();
        cfg.global.external_labels.0 = Labels::new(expanded);

        if let Some(o) = raw.otlp {
            let pos = position(&o);
            o.value.validate(scheme).map_err(|m| err(pos, m))?;
            cfg.otlp = o.value;
        }
        Ok(cfg)
    }

    /// Reads, parses and validates a configuration file, then resolves relative paths
    /// against its directory, as upstream's `LoadFile`.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&name, None, e.to_string()))?;
        let mut cfg = Config::load_str(&text, &name)?;
        cfg.set_directory(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Joins every relative file path with `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.global.query_log_file);
        join_dir(dir, &mut self.global.scrape_failure_log_file);
        self.alerting.set_directory(dir);
        self.tracing.set_directory(dir);
        for f in self
            .rule_files
            .iter_mut()
            .chain(self.scrape_config_files.iter_mut())
        {
            join_dir(dir, f);
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.set_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.set_directory(dir);
        }
    }

    /// The effective configuration as upstream prints it (`/api/v1/status/config`):
    /// defaults filled in, secrets as `<secret>`, URL passwords redacted.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }

    /// The scrape configs of this file plus those of `scrape_config_files`, validated
    /// against `global`, as upstream's `GetScrapeConfigs`.
    pub fn all_scrape_configs(&self) -> Result<Vec<ScrapeConfig>, ConfigError> {
        let mut out = self.scrape_configs.clone();
        let mut jobs: HashMap<String, String> = out
            .iter()
            .map(|s| (s.job_name.clone(), "main config file".to_string()))
            .collect();
        for pattern in &self.scrape_config_files {
            for path in expand_glob(pattern).map_err(|m| ConfigError::new(pattern, None, m))? {
                let name = path.display().to_string();
                let abs = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::new(&name, None, e.to_string()))?;
                let file: ScrapeConfigFile =
                    serde_saphyr::from_str(&text).map_err(|e| ConfigError::from_yaml(&name, &e))?;
                for sc in file.scrape_configs {
                    let pos = position(&sc);
                    let Some(mut sc) = sc.value else {
                        return Err(ConfigError::new(
                            &name,
                            pos,
                            "empty or null scrape config section",
                        ));
                    };
                    sc.validate(&self.global)
                        .map_err(|m| ConfigError::new(&name, pos, m))?;
                    if let Some(first) = jobs.get(&sc.job_name) {
                        return Err(ConfigError::new(
                            &name,
                            pos,
                            format!(
                                "found multiple scrape configs with job name {:?}, first found in {first}",
                                sc.job_name
                            ),
                        ));
                    }
                    jobs.insert(
                        sc.job_name.clone(),
                        format!("{:?}", abs.display().to_string()),
                    );
                    sc.set_directory(path.parent().unwrap_or(Path::new(".")));
                    out.push(sc);
                }
            }
        }
        Ok(out)
    }

    /// The SD configuration of each scrape job, keyed by job name: what
    /// `DiscoveryManager::apply_config` takes.
    pub fn scrape_discovery(
        scrape_configs: &[ScrapeConfig],
    ) -> BTreeMap<String, ServiceDiscoveryConfigs> {
        scrape_configs
            .iter()
            .map(|s| (s.job_name.clone(), s.service_discovery.clone()))
            .collect()
    }

    /// The SD configuration of each Alertmanager block, keyed `config-0`, `config-1`, …
    /// as upstream's notifier keys them.
    pub fn alertmanager_discovery(&self) -> BTreeMap<String, ServiceDiscoveryConfigs> {
        self.alerting
            .alertmanagers
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("config-{i}"), a.service_discovery.clone()))
            .collect()
    }

    /// The rule files the `rule_files` globs match now.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut out = Vec::new();
        for pattern in &self.rule_files {
            out.extend(expand_glob(pattern).map_err(|m| ConfigError::new(pattern, None, m))?);
        }
        Ok(out)
    }
}

/// Go's `filepath.Glob`: matches sorted; a pattern without magic characters matches the
/// file if it exists.
fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let paths =
        glob::glob(pattern).map_err(|e| format!("error retrieving files for {pattern:?}: {e}"))?;
    let mut out: Vec<PathBuf> = paths.flatten().collect();
    out.sort();
    Ok(out)
}

/// Go's `os.Expand`: `$NAME` and `${NAME}` replaced by `lookup(NAME)`, `$$` by `$`
/// (upstream maps the name `$` to itself), malformed `${` dropped.
pub fn expand_env(s: &str, mut lookup: impl FnMut(&str) -> String) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[start..i]);
            let (name, width) = shell_name(&s[i + 1..]);
            match name {
                Some("$") => out.push('$'),
                Some(n) => out.push_str(&lookup(n)),
                // `$` not followed by a name stays as text; bad `${` syntax is dropped.
                None if width == 0 => out.push('$'),
                None => {}
            }
            i += 1 + width;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[start..]);
    out
}

fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    let special =
        |c: u8| matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit();
    if b[0] == b'{' {
        if b.len() > 2 && special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        for (i, &c) in b.iter().enumerate().skip(1) {
            if c == b'}' {
                if i == 1 {
                    return (None, 2);
                }
                return (Some(&s[1..i]), i + 1);
            }
        }
        return (None, 1);
    }
    if special(b[0]) {
        return (Some(&s[0..1]), 1);
    }
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
        .unwrap_or(b.len());
    if end == 0 {
        (None, 0)
    } else {
        (Some(&s[..end]), end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_as_go() {
        let env = |n: &str| match n {
            "FOO" => "foo".to_string(),
            "1" => "one".to_string(),
            _ => String::new(),
        };
        assert_eq!(expand_env("a-$FOO-${FOO}-b", env), "a-foo-foo-b");
        assert_eq!(expand_env("$$FOO", env), "$FOO");
        assert_eq!(expand_env("x$", env), "x$");
        assert_eq!(expand_env("$MISSING", env), "");
        assert_eq!(expand_env("${}x", env), "x");
        assert_eq!(expand_env("${FOO", env), "FOO");
        assert_eq!(expand_env("$1x", env), "onex");
        assert_eq!(expand_env("a$-b", env), "ab");
        assert_eq!(expand_env("100%", env), "100%");
    }
}
