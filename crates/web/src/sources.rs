//! What the API reads from components this crate does not own, as traits: scrape
//! targets and their metadata ([`TargetsSource`]), rule groups and alerts
//! ([`RulesSource`]), Alertmanager discovery ([`AlertmanagersSource`]), exemplars
//! ([`ExemplarSource`]) and the database's admin operations and statistics
//! ([`TsdbAdmin`]).
//!
//! The types here are the API's JSON shapes (field names, order and omissions as
//! upstream's `web/api/v1`), so an implementation only fills them in; rules and alerts
//! are `hearth_rules::api`'s types, rendered as they are. Components that are not
//! running are the empty implementations ([`NoTargets`], [`NoRules`],
//! [`NoAlertmanagers`]): the endpoints answer with upstream's empty shapes.

use std::collections::BTreeMap;
use std::path::Path;

use hearth_model::{Exemplar, Labels, Matcher, MetricType};
pub use hearth_rules::api::{
    AlertStatus, AlertingRuleStatus, EvalStatus, RecordingRuleStatus, RuleGroupStatus,
    RuleStatusJson,
};
use serde::Serialize;

use crate::json::serialize_labels;

/// Target health as upstream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Up,
    Down,
    Unknown,
}

/// One active target (`activeTargets` of `/api/v1/targets`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    #[serde(serialize_with = "serialize_labels")]
    pub discovered_labels: Labels,
    #[serde(serialize_with = "serialize_labels")]
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    /// RFC 3339 time of the last scrape (Go's `time.Time` JSON).
    pub last_scrape: String,
    pub last_scrape_duration: f64,
    pub health: TargetHealth,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// A target dropped by relabeling.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    #[serde(serialize_with = "serialize_labels")]
    pub discovered_labels: Labels,
    pub scrape_pool: String,
}

/// Metadata of one metric family as a target exposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric: String,
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// Scrape targets, their health and the metadata they expose (the scrape manager).
pub trait TargetsSource: Send + Sync {
    /// Active targets, ordered by scrape pool.
    fn active(&self) -> Vec<ActiveTarget>;
    /// Targets dropped by relabeling (as many as `keep_dropped_targets` keeps).
    fn dropped(&self) -> Vec<DroppedTarget>;
    /// Dropped targets per scrape pool, including those not kept.
    fn dropped_counts(&self) -> BTreeMap<String, usize>;
    /// For each active target: its labels and the metadata it exposes, for all metric
    /// families (`metric` is `None`) or the one named.
    fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, Vec<MetricMetadata>)>;
}

/// No scrape manager: no targets.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTargets;

impl TargetsSource for NoTargets {
    fn active(&self) -> Vec<ActiveTarget> {
        Vec::new()
    }
    fn dropped(&self) -> Vec<DroppedTarget> {
        Vec::new()
    }
    fn dropped_counts(&self) -> BTreeMap<String, usize> {
        BTreeMap::new()
    }
    fn metadata(&self, _metric: Option<&str>) -> Vec<(Labels, Vec<MetricMetadata>)> {
        Vec::new()
    }
}

/// Rule groups and their alerts (the rule manager), in `hearth_rules::api`'s shapes.
pub trait RulesSource: Send + Sync {
    /// Every group in file and name order, with its rules and their active alerts.
    fn groups(&self) -> Vec<RuleGroupStatus>;
}

/// No rules manager: no groups.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRules;

impl RulesSource for NoRules {
    fn groups(&self) -> Vec<RuleGroupStatus> {
        Vec::new()
    }
}

impl RulesSource for hearth_rules::RuleManager {
    fn groups(&self) -> Vec<RuleGroupStatus> {
        self.rule_groups().groups
    }
}

/// Alertmanagers found by discovery (the notifier).
pub trait AlertmanagersSource: Send + Sync {
    /// URLs of the active Alertmanagers' alerts endpoints.
    fn active(&self) -> Vec<String>;
    /// URLs of those dropped by relabeling.
    fn dropped(&self) -> Vec<String>;
}

/// No notifier: no Alertmanagers.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAlertmanagers;

impl AlertmanagersSource for NoAlertmanagers {
    fn active(&self) -> Vec<String> {
        Vec::new()
    }
    fn dropped(&self) -> Vec<String> {
        Vec::new()
    }
}

impl AlertmanagersSource for hearth_rules::NotifierManager {
    fn active(&self) -> Vec<String> {
        hearth_rules::NotifierManager::active(self)
    }
    fn dropped(&self) -> Vec<String> {
        hearth_rules::NotifierManager::dropped(self)
    }
}

/// The exemplars of one series.
#[derive(Debug, Clone)]
pub struct SeriesExemplars {
    pub series_labels: Labels,
    /// Oldest first, each with a timestamp.
    pub exemplars: Vec<Exemplar>,
}

/// Exemplar storage.
pub trait ExemplarSource: Send + Sync {
    /// Exemplars in `[mint, maxt]` of series matching any of the matcher sets.
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<SeriesExemplars>, String>;
}

/// A name and a count (`/api/v1/status/tsdb` lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TsdbStat {
    pub name: String,
    pub value: u64,
}

/// The head's summary in `/api/v1/status/tsdb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: i64,
    pub min_time: i64,
    pub max_time: i64,
}

/// `/api/v1/status/tsdb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    pub head_stats: HeadStats,
    pub series_count_by_metric_name: Vec<TsdbStat>,
    pub label_value_count_by_label_name: Vec<TsdbStat>,
    pub memory_in_bytes_by_label_name: Vec<TsdbStat>,
    pub series_count_by_label_value_pair: Vec<TsdbStat>,
}

/// `/api/v1/status/walreplay`: segments replayed so far of `min..=max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WalReplayStatus {
    pub min: i64,
    pub max: i64,
    pub current: i64,
}

/// The database's admin operations and statistics.
pub trait TsdbAdmin: Send + Sync {
    /// Hard-links the blocks (and with `with_head`, the head as a block) into `dir`.
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), String>;
    /// Deletes the samples of matching series in `[mint, maxt]`.
    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), String>;
    /// Rewrites blocks without their deleted data.
    fn clean_tombstones(&self) -> Result<(), String>;
    /// Cardinality statistics of the head, top `limit` of each list.
    fn stats(&self, limit: usize) -> Result<TsdbStatus, String>;
    /// How far WAL replay has come.
    fn wal_replay_status(&self) -> WalReplayStatus;
}
