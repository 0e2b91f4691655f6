//! The rule manager: loads rule files into groups, runs each group on its own thread at
//! its aligned evaluation times, and swaps groups on reload keeping the state of
//! unchanged rules.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearth_model::Labels;
use parking_lot::Mutex;

use crate::api::{AlertStatus, RuleDiscovery, RuleGroupStatus};
use crate::group::{Group, GroupOptions};
use crate::rule::Rule;
use crate::rulefmt::{self, ParseOptions, RuleFileError};
use crate::stats::{GroupStats, ManagerStats};

/// Settings of one load (from prometheus.yml's `global`).
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// `global.evaluation_interval` (ms).
    pub evaluation_interval_ms: i64,
    /// `global.rule_query_offset` (ms).
    pub rule_query_offset_ms: i64,
    pub parse: ParseOptions,
    /// `global.external_labels`, replacing the manager's for the loaded groups
    /// (`$externalLabels` in templates).
    pub external_labels: Option<Labels>,
    /// `--web.external-url`, replacing the manager's (`$externalURL`, generator URLs).
    pub external_url: Option<String>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            evaluation_interval_ms: 60_000,
            rule_query_offset_ms: 0,
            parse: ParseOptions::default(),
            external_labels: None,
            external_url: None,
        }
    }
}

/// One group's metrics as `/metrics` shows them, labeled `rule_group="file;name"`.
#[derive(Debug, Clone)]
pub struct GroupMetrics {
    pub key: String,
    pub interval_seconds: f64,
    pub rules: usize,
    pub stats: Arc<GroupStats>,
}

struct Running {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

struct Entry {
    group: Arc<Mutex<Group>>,
    running: Option<Running>,
    /// Read without the group's lock (held while it evaluates).
    metrics: GroupMetrics,
}

impl Entry {
    fn new(group: Group, running: impl FnOnce(&Arc<Mutex<Group>>) -> Option<Running>) -> Entry {
        let metrics = GroupMetrics {
            key: group.key(),
            interval_seconds: group.interval_ms as f64 / 1000.0,
            rules: group.rules.len(),
            stats: group.stats.clone(),
        };
        let group = Arc::new(Mutex::new(group));
        let running = running(&group);
        Entry {
            group,
            running,
            metrics,
        }
    }
}

/// Upstream's `rules.Manager`.
pub struct RuleManager {
    opts: Arc<GroupOptions>,
    groups: Mutex<BTreeMap<String, Entry>>,
    /// Set after the first update: later loads do not restore `for` state.
    restored: Mutex<bool>,
    started: Mutex<bool>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl RuleManager {
    pub fn new(opts: GroupOptions) -> RuleManager {
        RuleManager {
            opts: Arc::new(opts),
            groups: Mutex::new(BTreeMap::new()),
            restored: Mutex::new(false),
            started: Mutex::new(false),
        }
    }

    /// Parses the files into groups (nothing is changed on error).
    pub fn load_groups(
        &self,
        files: &[impl AsRef<Path>],
        settings: &LoadSettings,
    ) -> Result<Vec<Group>, Vec<RuleFileError>> {
        let restore = !*self.restored.lock();
        let opts = if settings.external_labels.is_some() || settings.external_url.is_some() {
            let mut o = (*self.opts).clone();
            if let Some(l) = &settings.external_labels {
                o.env.external_labels = l.clone();
            }
            if let Some(u) = &settings.external_url {
                o.env.external_url = u.clone();
            }
            Arc::new(o)
        } else {
            self.opts.clone()
        };
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for f in files {
            let name = f.as_ref().display().to_string();
            match rulefmt::parse_file(f.as_ref(), &settings.parse) {
                Ok(groups) => {
                    for g in &groups.groups {
                        out.push(Group::new(
                            g,
                            &name,
                            settings.evaluation_interval_ms,
                            settings.rule_query_offset_ms,
                            restore,
                            opts.clone(),
                        ));
                    }
                }
                Err(e) => errs.extend(e),
            }
        }
        if errs.is_empty() { Ok(out) } else { Err(errs) }
    }

    /// Loads `files` and replaces the running groups: unchanged groups keep running,
    /// changed ones take over their predecessor's state, removed ones have their series
    /// marked stale. On error nothing changes.
    pub fn update(
        &self,
        files: &[impl AsRef<Path>],
        settings: &LoadSettings,
    ) -> Result<(), Vec<RuleFileError>> {
        let new_groups = self.load_groups(files, settings)?;
        *self.restored.lock() = true;
        let started = *self.started.lock();
        let mut groups = self.groups.lock();
        let mut old = std::mem::take(&mut *groups);
        for mut g in new_groups {
            let key = g.key();
            if let Some(mut prev) = old.remove(&key) {
                if prev.group.lock().same_definition(&g) {
                    groups.insert(key, prev);
                    continue;
                }
                stop(&mut prev);
                g.copy_state(&prev.group.lock());
            }
            let entry = Entry::new(g, |group| started.then(|| spawn(group.clone())));
            groups.insert(key, entry);
        }
        for (_, mut prev) in old {
            stop(&mut prev);
            prev.group.lock().mark_stale(now_ms());
        }
        Ok(())
    }

    /// Starts evaluating every group on its schedule (and groups loaded later).
    pub fn start(&self) {
        *self.started.lock() = true;
        for e in self.groups.lock().values_mut() {
            if e.running.is_none() {
                e.running = Some(spawn(e.group.clone()));
            }
        }
    }

    /// Stops every group's evaluation.
    pub fn stop(&self) {
        *self.started.lock() = false;
        for e in self.groups.lock().values_mut() {
            stop(e);
        }
    }

    /// Runs one iteration of every group at `ts_ms` (tests and `test rules` drive
    /// time this way instead of the clock).
    pub fn eval_all(&self, ts_ms: i64) {
        for e in self.groups.lock().values() {
            e.group.lock().iteration(ts_ms);
        }
    }

    /// The groups, in file and name order.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        self.groups
            .lock()
            .values()
            .map(|e| e.group.clone())
            .collect()
    }

    /// Every group's metrics, in file and name order, read without waiting for
    /// evaluations.
    pub fn group_metrics(&self) -> Vec<GroupMetrics> {
        self.groups
            .lock()
            .values()
            .map(|e| e.metrics.clone())
            .collect()
    }

    /// The summaries every group adds to.
    pub fn stats(&self) -> Arc<ManagerStats> {
        self.opts.stats.clone()
    }

    /// `/api/v1/rules`.
    pub fn rule_groups(&self) -> RuleDiscovery {
        RuleDiscovery {
            groups: self
                .groups()
                .iter()
                .map(|g| RuleGroupStatus::from_group(&g.lock()))
                .collect(),
            group_next_token: String::new(),
        }
    }

    /// `/api/v1/alerts`: pending and firing alerts of every rule.
    pub fn alerts(&self) -> Vec<AlertStatus> {
        let mut out = Vec::new();
        for g in self.groups() {
            for r in &g.lock().rules {
                if let Rule::Alerting(a) = r {
                    out.extend(a.active_alerts().into_iter().map(AlertStatus::from_alert));
                }
            }
        }
        out
    }
}

impl Drop for RuleManager {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stop(e: &mut Entry) {
    if let Some(r) = e.running.take() {
        let _ = r.stop.send(());
        if r.thread.join().is_err() {
            tracing::error!("rule group thread panicked");
        }
    }
}

/// Sleeps until `until_ms`; `false` when asked to stop first.
fn sleep_until(rx: &mpsc::Receiver<()>, until_ms: i64) -> bool {
    let wait = until_ms.saturating_sub(now_ms()).max(0);
    !matches!(
        rx.recv_timeout(Duration::from_millis(u64::try_from(wait).unwrap_or(0))),
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected)
    )
}

fn spawn(group: Arc<Mutex<Group>>) -> Running {
    let (tx, rx) = mpsc::channel();
    let name = group.lock().name.clone();
    let thread = std::thread::Builder::new()
        .name(format!("rules:{name}"))
        .spawn(move || run_group(&group, &rx));
    match thread {
        Ok(thread) => Running { stop: tx, thread },
        Err(e) => {
            tracing::error!(group = %name, err = %e, "cannot start rule group thread");
            Running {
                stop: tx,
                thread: std::thread::spawn(|| {}),
            }
        }
    }
}

/// Upstream's `Group.run`: first evaluation at the group's next aligned time, then one
/// per interval; missed iterations are skipped (and counted), not caught up.
fn run_group(group: &Mutex<Group>, stop: &mpsc::Receiver<()>) {
    let (interval, stats, name) = {
        let g = group.lock();
        (g.interval_ms, g.stats.clone(), g.name.clone())
    };
    let mut ts = group.lock().eval_timestamp(now_ms()) + interval;
    loop {
        if !sleep_until(stop, ts) {
            return;
        }
        group.lock().iteration(ts);
        let missed = (now_ms() - ts) / interval;
        if missed > 0 {
            let n = u64::try_from(missed).unwrap_or(0);
            GroupStats::add(&stats.missed, n);
            GroupStats::add(&stats.iterations, n);
            tracing::warn!(group = %name, missed, "rule group iterations missed");
        }
        ts += (missed + 1) * interval;
    }
}
