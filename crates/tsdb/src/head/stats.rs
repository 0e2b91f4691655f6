//! The head's own counters and gauges, under Prometheus' metric names, as plain atomics.
//!
//! [`HeadStats`] is a snapshot for the API (`/api/v1/status/tsdb`) and for the binary,
//! which registers [`HeadStats::metric_samples`] with its metrics registry; the TSDB
//! crate itself knows no registry.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What kind of Prometheus metric a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// One value of a head metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    /// The one label some metrics carry (`type="float"`/`"histogram"`).
    pub label: Option<(&'static str, &'static str)>,
    pub value: f64,
}

/// A name and how many of something it has (a row of `/api/v1/status/tsdb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

/// The head's cardinality, as upstream's `PostingsStats`; each list holds the largest
/// entries, largest first (ties by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// Distinct `name=value` pairs (`numLabelPairs`).
    pub num_label_pairs: u64,
    /// Series per metric name (`seriesCountByMetricName`).
    pub series_count_by_metric_name: Vec<NameCount>,
    /// Distinct values per label name (`labelValueCountByLabelName`).
    pub label_value_count_by_label_name: Vec<NameCount>,
    /// Bytes of label values per label name, each value counted once per series that has
    /// it (`memoryInBytesByLabelName`).
    pub memory_in_bytes_by_label_name: Vec<NameCount>,
    /// Series per `name=value` pair (`seriesCountByLabelValuePair`).
    pub series_count_by_label_value_pair: Vec<NameCount>,
}

/// Computes [`Cardinality`] from the head's inverted index.
pub(crate) fn cardinality(p: &super::postings::HeadPostings, limit: usize) -> Cardinality {
    let mut out = Cardinality::default();
    p.visit_counts(|name, values| {
        let mut bytes = 0u64;
        let mut n = 0u64;
        for (value, series) in values {
            n += 1;
            out.num_label_pairs += 1;
            bytes += value.len() as u64 * series as u64;
            if name == hearth_model::METRIC_NAME {
                out.series_count_by_metric_name.push(NameCount {
                    name: value.to_string(),
                    count: series as u64,
                });
            }
            out.series_count_by_label_value_pair.push(NameCount {
                name: format!("{name}={value}"),
                count: series as u64,
            });
        }
        out.label_value_count_by_label_name.push(NameCount {
            name: name.to_string(),
            count: n,
        });
        out.memory_in_bytes_by_label_name.push(NameCount {
            name: name.to_string(),
            count: bytes,
        });
    });
    for v in [
        &mut out.series_count_by_metric_name,
        &mut out.label_value_count_by_label_name,
        &mut out.memory_in_bytes_by_label_name,
        &mut out.series_count_by_label_value_pair,
    ] {
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        v.truncate(limit);
    }
    out
}

/// Live counters, updated by appenders, replay and truncation.
#[derive(Debug, Default)]
pub(crate) struct HeadMetrics {
    pub(crate) series_created: AtomicU64,
    pub(crate) series_removed: AtomicU64,
    pub(crate) chunks: AtomicI64,
    pub(crate) chunks_created: AtomicU64,
    pub(crate) chunks_removed: AtomicU64,
    pub(crate) float_samples_appended: AtomicU64,
    pub(crate) histogram_samples_appended: AtomicU64,
    pub(crate) out_of_order_samples_appended: AtomicU64,
    pub(crate) out_of_order_float: AtomicU64,
    pub(crate) out_of_order_histogram: AtomicU64,
    pub(crate) out_of_bound_float: AtomicU64,
    pub(crate) out_of_bound_histogram: AtomicU64,
    pub(crate) too_old_float: AtomicU64,
    pub(crate) series_limit_rejections: AtomicU64,
    pub(crate) active_appenders: AtomicI64,
    pub(crate) truncations: AtomicU64,
    pub(crate) truncations_failed: AtomicU64,
    pub(crate) checkpoints_created: AtomicU64,
    pub(crate) checkpoints_failed: AtomicU64,
    pub(crate) wal_corruptions: AtomicU64,
    pub(crate) mmap_chunk_corruptions: AtomicU64,
    pub(crate) mmap_chunks_written: AtomicU64,
    pub(crate) gc_duration_micros_last: AtomicU64,
    pub(crate) replay_duration_micros: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A snapshot of the head's state and counters. Field docs name the Prometheus metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeadStats {
    /// `prometheus_tsdb_head_series`
    pub series: u64,
    /// `prometheus_tsdb_head_series_created_total`
    pub series_created: u64,
    /// `prometheus_tsdb_head_series_removed_total`
    pub series_removed: u64,
    /// `prometheus_tsdb_head_chunks`
    pub chunks: u64,
    /// `prometheus_tsdb_head_chunks_created_total`
    pub chunks_created: u64,
    /// `prometheus_tsdb_head_chunks_removed_total`
    pub chunks_removed: u64,
    /// `prometheus_tsdb_head_min_time` (ms; `i64::MAX` while empty)
    pub min_time: i64,
    /// `prometheus_tsdb_head_max_time` (ms; `i64::MIN` while empty)
    pub max_time: i64,
    /// `prometheus_tsdb_head_samples_appended_total{type="float"}`
    pub float_samples_appended: u64,
    /// `prometheus_tsdb_head_samples_appended_total{type="histogram"}`
    pub histogram_samples_appended: u64,
    /// `prometheus_tsdb_head_out_of_order_samples_appended_total{type="float"}`
    pub out_of_order_samples_appended: u64,
    /// `prometheus_tsdb_out_of_order_samples_total{type="float"}`
    pub out_of_order_float_rejected: u64,
    /// `prometheus_tsdb_out_of_order_samples_total{type="histogram"}`
    pub out_of_order_histogram_rejected: u64,
    /// `prometheus_tsdb_out_of_bound_samples_total{type="float"}`
    pub out_of_bound_float_rejected: u64,
    /// `prometheus_tsdb_out_of_bound_samples_total{type="histogram"}`
    pub out_of_bound_histogram_rejected: u64,
    /// `prometheus_tsdb_too_old_samples_total{type="float"}`
    pub too_old_float_rejected: u64,
    /// `hearth_tsdb_head_series_limit_rejections_total`: new series refused at the limit.
    pub series_limit_rejections: u64,
    /// `prometheus_tsdb_head_active_appenders`
    pub active_appenders: i64,
    /// `prometheus_tsdb_head_truncations_total`
    pub truncations: u64,
    /// `prometheus_tsdb_head_truncations_failed_total`
    pub truncations_failed: u64,
    /// `prometheus_tsdb_checkpoint_creations_total`
    pub checkpoints_created: u64,
    /// `prometheus_tsdb_checkpoint_creations_failed_total`
    pub checkpoints_failed: u64,
    /// `prometheus_tsdb_wal_corruptions_total`
    pub wal_corruptions: u64,
    /// `prometheus_tsdb_mmap_chunk_corruptions_total`
    pub mmap_chunk_corruptions: u64,
    /// `prometheus_tsdb_mmap_chunks_total`
    pub mmap_chunks_written: u64,
    /// `prometheus_tsdb_head_gc_duration_seconds` (the last run)
    pub last_gc_seconds: f64,
    /// `prometheus_tsdb_data_replay_duration_seconds`
    pub replay_seconds: f64,
    /// `prometheus_tsdb_exemplar_exemplars_appended_total`
    pub exemplars_appended: u64,
    /// `prometheus_tsdb_exemplar_exemplars_in_storage`
    pub exemplars_in_storage: u64,
    /// `prometheus_tsdb_exemplar_series_with_exemplars_in_storage`
    pub series_with_exemplars: u64,
    /// `prometheus_tsdb_exemplar_max_exemplars`
    pub max_exemplars: u64,
    /// `prometheus_tsdb_exemplar_out_of_order_exemplars_total`
    pub out_of_order_exemplars: u64,
    /// `prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds`
    pub last_exemplar_seconds: f64,
}

impl HeadMetrics {
    pub(crate) fn fill(&self, s: &mut HeadStats) {
        s.series_created = get(&self.series_created);
        s.series_removed = get(&self.series_removed);
        s.chunks = self.chunks.load(Ordering::Relaxed).max(0) as u64;
        s.chunks_created = get(&self.chunks_created);
        s.chunks_removed = get(&self.chunks_removed);
        s.float_samples_appended = get(&self.float_samples_appended);
        s.histogram_samples_appended = get(&self.histogram_samples_appended);
        s.out_of_order_samples_appended = get(&self.out_of_order_samples_appended);
        s.out_of_order_float_rejected = get(&self.out_of_order_float);
        s.out_of_order_histogram_rejected = get(&self.out_of_order_histogram);
        s.out_of_bound_float_rejected = get(&self.out_of_bound_float);
        s.out_of_bound_histogram_rejected = get(&self.out_of_bound_histogram);
        s.too_old_float_rejected = get(&self.too_old_float);
        s.series_limit_rejections = get(&self.series_limit_rejections);
        s.active_appenders = self.active_appenders.load(Ordering::Relaxed);
        s.truncations = get(&self.truncations);
        s.truncations_failed = get(&self.truncations_failed);
        s.checkpoints_created = get(&self.checkpoints_created);
        s.checkpoints_failed = get(&self.checkpoints_failed);
        s.wal_corruptions = get(&self.wal_corruptions);
        s.mmap_chunk_corruptions = get(&self.mmap_chunk_corruptions);
        s.mmap_chunks_written = get(&self.mmap_chunks_written);
        s.last_gc_seconds = get(&self.gc_duration_micros_last) as f64 / 1e6;
        s.replay_seconds = get(&self.replay_duration_micros) as f64 / 1e6;
    }
}

impl HeadStats {
    /// Every value under its Prometheus name, ready to be exposed.
    pub fn metric_samples(&self) -> Vec<MetricSample> {
        use MetricKind::{Counter, Gauge};
        let float = Some(("type", "float"));
        let histogram = Some(("type", "histogram"));
        let m = |name, help, kind, label, value: f64| MetricSample {
            name,
            help,
            kind,
            label,
            value,
        };
        // An empty head reports its raw bounds (i64::MAX, i64::MIN), as upstream does.
        vec![
            m(
                "prometheus_tsdb_head_series",
                "Total number of series in the head block.",
                Gauge,
                None,
                self.series as f64,
            ),
            m(
                "prometheus_tsdb_head_series_created_total",
                "Total number of series created in the head",
                Counter,
                None,
                self.series_created as f64,
            ),
            m(
                "prometheus_tsdb_head_series_removed_total",
                "Total number of series removed in the head",
                Counter,
                None,
                self.series_removed as f64,
            ),
            m(
                "prometheus_tsdb_head_chunks",
                "Total number of chunks in the head block.",
                Gauge,
                None,
                self.chunks as f64,
            ),
            m(
                "prometheus_tsdb_head_chunks_created_total",
                "Total number of chunks created in the head",
                Counter,
                None,
                self.chunks_created as f64,
            ),
            m(
                "prometheus_tsdb_head_chunks_removed_total",
                "Total number of chunks removed in the head",
                Counter,
                None,
                self.chunks_removed as f64,
            ),
            m(
                "prometheus_tsdb_head_min_time",
                "Minimum time bound of the head block.",
                Gauge,
                None,
                self.min_time as f64,
            ),
            m(
                "prometheus_tsdb_head_max_time",
                "Maximum timestamp of the head block.",
                Gauge,
                None,
                self.max_time as f64,
            ),
            m(
                "prometheus_tsdb_head_min_time_seconds",
                "Minimum time bound of the head block.",
                Gauge,
                None,
                self.min_time as f64 / 1000.0,
            ),
            m(
                "prometheus_tsdb_head_max_time_seconds",
                "Maximum timestamp of the head block.",
                Gauge,
                None,
                self.max_time as f64 / 1000.0,
            ),
            m(
                "prometheus_tsdb_head_samples_appended_total",
                "Total number of appended samples.",
                Counter,
                float,
                self.float_samples_appended as f64,
            ),
            m(
                "prometheus_tsdb_head_samples_appended_total",
                "Total number of appended samples.",
                Counter,
                histogram,
                self.histogram_samples_appended as f64,
            ),
            m(
                "prometheus_tsdb_head_out_of_order_samples_appended_total",
                "Total number of appended out of order samples.",
                Counter,
                float,
                self.out_of_order_samples_appended as f64,
            ),
            m(
                "prometheus_tsdb_out_of_order_samples_total",
                "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
                Counter,
                float,
                self.out_of_order_float_rejected as f64,
            ),
            m(
                "prometheus_tsdb_out_of_order_samples_total",
                "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
                Counter,
                histogram,
                self.out_of_order_histogram_rejected as f64,
            ),
            m(
                "prometheus_tsdb_out_of_bound_samples_total",
                "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
                Counter,
                float,
                self.out_of_bound_float_rejected as f64,
            ),
            m(
                "prometheus_tsdb_out_of_bound_samples_total",
                "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
                Counter,
                histogram,
                self.out_of_bound_histogram_rejected as f64,
            ),
            m(
                "prometheus_tsdb_too_old_samples_total",
                "Total number of out of order samples ingestion failed attempts with out of support enabled, but sample outside of time window.",
                Counter,
                float,
                self.too_old_float_rejected as f64,
            ),
            m(
                "hearth_tsdb_head_series_limit_rejections_total",
                "Total number of new series refused because the active series limit was reached.",
                Counter,
                None,
                self.series_limit_rejections as f64,
            ),
            m(
                "prometheus_tsdb_head_active_appenders",
                "Number of currently active appender transactions",
                Gauge,
                None,
                self.active_appenders as f64,
            ),
            m(
                "prometheus_tsdb_head_truncations_total",
                "Total number of head truncations attempted.",
                Counter,
                None,
                self.truncations as f64,
            ),
            m(
                "prometheus_tsdb_head_truncations_failed_total",
                "Total number of head truncations that failed.",
                Counter,
                None,
                self.truncations_failed as f64,
            ),
            m(
                "prometheus_tsdb_checkpoint_creations_total",
                "Total number of checkpoint creations attempted.",
                Counter,
                None,
                self.checkpoints_created as f64,
            ),
            m(
                "prometheus_tsdb_checkpoint_creations_failed_total",
                "Total number of checkpoint creations that failed.",
                Counter,
                None,
                self.checkpoints_failed as f64,
            ),
            m(
                "prometheus_tsdb_wal_corruptions_total",
                "Total number of WAL corruptions.",
                Counter,
                None,
                self.wal_corruptions as f64,
            ),
            m(
                "prometheus_tsdb_mmap_chunk_corruptions_total",
                "Total number of memory-mapped chunk corruptions.",
                Counter,
                None,
                self.mmap_chunk_corruptions as f64,
            ),
            m(
                "prometheus_tsdb_mmap_chunks_total",
                "Total number of chunks that were memory-mapped.",
                Counter,
                None,
                self.mmap_chunks_written as f64,
            ),
            m(
                "prometheus_tsdb_data_replay_duration_seconds",
                "Time taken to replay the data on disk.",
                Gauge,
                None,
                self.replay_seconds,
            ),
            m(
                "prometheus_tsdb_exemplar_exemplars_appended_total",
                "Total number of appended exemplars.",
                Counter,
                None,
                self.exemplars_appended as f64,
            ),
            m(
                "prometheus_tsdb_exemplar_exemplars_in_storage",
                "Number of exemplars currently in circular storage.",
                Gauge,
                None,
                self.exemplars_in_storage as f64,
            ),
            m(
                "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                "Number of series with exemplars currently in circular storage.",
                Gauge,
                None,
                self.series_with_exemplars as f64,
            ),
            m(
                "prometheus_tsdb_exemplar_max_exemplars",
                "Total number of exemplars the exemplar storage can store, resizeable.",
                Gauge,
                None,
                self.max_exemplars as f64,
            ),
            m(
                "prometheus_tsdb_exemplar_out_of_order_exemplars_total",
                "Total number of out of order exemplar ingestion failed attempts.",
                Counter,
                None,
                self.out_of_order_exemplars as f64,
            ),
            m(
                "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "The timestamp of the oldest exemplar stored in circular storage.",
                Gauge,
                None,
                self.last_exemplar_seconds,
            ),
        ]
    }
}
