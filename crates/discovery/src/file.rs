//! `file_sd_configs`: target groups from YAML or JSON files matched by globs, re-read when
//! the watched directories change (inotify through `notify`) and every
//! `refresh_interval` in any case. A file that cannot be read or parsed keeps its previous
//! groups and its error is logged; a file that disappears has its groups emptied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_model::Labels;
use notify::Watcher;

use crate::discoverer::{Discoverer, DiscovererFuture, GroupSender};
use crate::sd_config::FileSdConfig;
use crate::target_group::{LenientGroup, TargetGroup};

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Largest target file read; larger files are an error (the previous groups stay).
const MAX_FILE_BYTES: u64 = 64 << 20;

pub struct FileDiscoverer {
    config: FileSdConfig,
    /// Group count per file at the last refresh, to empty the sources that went away.
    last_refresh: HashMap<PathBuf, usize>,
}

/// Why a target file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: file is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl FileDiscoverer {
    pub fn new(config: FileSdConfig) -> FileDiscoverer {
        FileDiscoverer {
            config,
            last_refresh: HashMap::new(),
        }
    }

    /// Files currently matching the configured patterns, sorted and deduplicated.
    fn list_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pattern in &self.config.files {
            match glob::glob(pattern) {
                Ok(paths) => out.extend(paths.flatten()),
                Err(err) => tracing::error!(pattern, err = %err, "Error expanding glob"),
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Directories to watch: those of the patterns (the glob part is always in the file
    /// name, as the config validation guarantees).
    fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .config
            .files
            .iter()
            .map(|p| match Path::new(p).parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// One pass over the files: the groups that changed, including emptied ones.
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let mut seen: HashMap<PathBuf, usize> = HashMap::new();
        for path in self.list_files() {
            match read_target_file(&path) {
                Ok(groups) => {
                    seen.insert(path.clone(), groups.len());
                    out.extend(groups);
                }
                Err(err) => {
                    crate::self_metrics::inc(&crate::self_metrics::FILE_READ_ERRORS);
                    tracing::error!(path = %path.display(), err = %err, "Error reading file");
                    // Keep what the file gave before.
                    seen.insert(
                        path.clone(),
                        self.last_refresh.get(&path).copied().unwrap_or(0),
                    );
                }
            }
        }
        for (path, &before) in &self.last_refresh {
            let now = seen.get(path).copied().unwrap_or(0);
            for i in now..before {
                out.push(TargetGroup {
                    source: file_source(path, i),
                    ..TargetGroup::default()
                });
            }
        }
        self.last_refresh = seen;
        crate::self_metrics::FILE_SCAN_DURATION.observe(started.elapsed().as_secs_f64());
        out
    }
}

fn file_source(path: &Path, i: usize) -> String {
    format!("{}:{i}", path.display())
}

/// Reads one target file (`.json`, `.yml` or `.yaml`) into groups with their sources and
/// `__meta_filepath`.
pub fn read_target_file(path: &Path) -> Result<Vec<TargetGroup>, FileSdError> {
    let name = path.display().to_string();
    let io = |source| FileSdError::Io {
        path: name.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FileSdError::TooLarge { path: name });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let groups: Vec<TargetGroup> = if ext == "json" {
        parse_json_groups(&text).map_err(|e| match e {
            JsonGroupsError::Syntax(e) => FileSdError::Json {
                path: name.clone(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            },
            JsonGroupsError::Invalid(message) => FileSdError::Invalid {
                path: name.clone(),
                message,
            },
        })?
    } else {
        let parsed: Option<Vec<Option<TargetGroup>>> =
            serde_saphyr::from_str(&text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
                FileSdError::Yaml {
                    path: name.clone(),
                    line,
                    column,
                    message: yaml_message(&e),
                }
            })?;
        let mut groups = Vec::new();
        for g in parsed.unwrap_or_default() {
            groups.push(g.ok_or_else(|| FileSdError::Invalid {
                path: name.clone(),
                message: "nil target group item found".into(),
            })?);
        }
        groups
    };
    Ok(label_groups(groups, FILEPATH_LABEL, &name, |i| {
        file_source(path, i)
    }))
}

/// The message of a YAML error without its position suffix or snippet.
pub fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    serde_saphyr::DefaultMessageFormatter
        .format_message(e.without_snippet())
        .into_owned()
}

pub(crate) enum JsonGroupsError {
    Syntax(serde_json::Error),
    Invalid(String),
}

/// A JSON list of `{targets, labels}`, as file and HTTP SD serve them.
pub(crate) fn parse_json_groups(text: &str) -> Result<Vec<TargetGroup>, JsonGroupsError> {
    let raw: Option<Vec<Option<LenientGroup>>> =
        serde_json::from_str(text).map_err(JsonGroupsError::Syntax)?;
    let mut out = Vec::new();
    for g in raw.unwrap_or_default() {
        let g = g.ok_or_else(|| JsonGroupsError::Invalid("nil target group item found".into()))?;
        out.push(g.into_group().map_err(JsonGroupsError::Invalid)?);
    }
    Ok(out)
}

/// Sets each group's source and adds the provider's meta label (`__meta_filepath`,
/// `__meta_url`).
pub(crate) fn label_groups(
    mut groups: Vec<TargetGroup>,
    meta_label: &str,
    meta_value: &str,
    source: impl Fn(usize) -> String,
) -> Vec<TargetGroup> {
    for (i, g) in groups.iter_mut().enumerate() {
        g.source = source(i);
        let mut b = g.labels.builder();
        b.set(meta_label, meta_value);
        g.labels = b.labels();
    }
    groups
}

impl Discoverer for FileDiscoverer {
    fn run(mut self: Box<Self>, updates: GroupSender) -> DiscovererFuture {
        Box::pin(async move {
            let changed = Arc::new(tokio::sync::Notify::new());
            let notifier = changed.clone();
            let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                // Permission-only changes do not change contents.
                if let Ok(ev) = res
                    && !matches!(
                        ev.kind,
                        notify::EventKind::Access(_)
                            | notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                    )
                {
                    notifier.notify_one();
                }
            });
            let _watcher = match watcher {
                Ok(mut w) => {
                    for dir in self.watch_dirs() {
                        if let Err(err) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                            tracing::error!(dir = %dir.display(), err = %err, "Error adding file watch");
                        }
                    }
                    Some(w)
                }
                Err(err) => {
                    tracing::error!(err = %err, "Error creating file watcher; polling only");
                    None
                }
            };
            let interval = self.config.refresh_interval.to_std();
            let mut ticker =
                tokio::time::interval(interval.max(std::time::Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once: the initial read.
            ticker.tick().await;
            loop {
                let groups = self.refresh();
                if !groups.is_empty() && updates.send(groups).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = changed.notified() => {}
                    _ = updates.closed() => return,
                }
            }
        })
    }
}

/// Labels of a target: the group's own plus its target's, target's winning. Used by
/// tests and by consumers that flatten groups.
pub fn merged_target_labels(group: &TargetGroup, target: &Labels) -> Labels {
    let mut b = group.labels.builder();
    for l in target {
        b.set(l.name.as_str(), l.value.as_str());
    }
    b.labels()
}
