//! The server's `remote_write` endpoints: one queue per endpoint, each fed by a watcher
//! that tails the data directory's WAL (started once the WAL is replayed), reconfigured
//! on every reload, and their `prometheus_remote_storage_*` and `prometheus_wal_watcher_*`
//! metrics under upstream's names. Each queue's resume position is kept in
//! `<data dir>/remote_write/<queue name>.progress`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hearth_config::Config;
use hearth_remote::wal_watcher::RECORD_TYPES;
use hearth_remote::{
    QueueManager, QueueOptions, QueueStats, RemoteEndpoint, RemoteWriteStorage, WalSource,
    WatcherOptions, WatcherStats,
};
use hearth_tsdb::head::MetricKind;

use crate::own_metrics::OwnSample;

/// The `remote_write` queues of the running configuration.
#[derive(Debug)]
pub struct ServerRemoteWrite {
    storage: Arc<RemoteWriteStorage>,
}

impl Default for ServerRemoteWrite {
    fn default() -> Self {
        ServerRemoteWrite::new(QueueOptions::default().flush_deadline)
    }
}

impl ServerRemoteWrite {
    /// Queues that flush for at most `flush_deadline` when they stop
    /// (`--storage.remote.flush-deadline`).
    pub fn new(flush_deadline: std::time::Duration) -> ServerRemoteWrite {
        ServerRemoteWrite {
            storage: Arc::new(RemoteWriteStorage::new(QueueOptions { flush_deadline })),
        }
    }

    /// Starts the endpoints of `config`; unchanged ones keep running (and keep what they
    /// have queued). Must run inside tokio. On error nothing changes.
    pub fn apply_config(&self, config: &Config) -> Result<(), String> {
        self.storage
            .apply_config(&config.remote_write, &config.global.external_labels.0)
            .map_err(|e| e.to_string())
    }

    /// The data directory is open: the queues start reading its WAL.
    pub fn set_data_dir(&self, data_dir: &Path) {
        self.storage.set_wal(WalSource {
            watcher: WatcherOptions::new(data_dir.join("wal")),
            progress_dir: Some(data_dir.join("remote_write")),
        });
    }

    /// Stops every queue: its watcher reads what the WAL holds into the room the queue
    /// has, the queue sends what is pending until the flush deadline, and the resume
    /// position is saved.
    pub async fn stop(&self) {
        self.storage.stop().await;
    }

    /// `prometheus_remote_storage_*` of every queue and `prometheus_wal_watcher_*` of
    /// every watcher; consecutive per name, as the collector wants families.
    pub fn metric_samples(&self) -> Vec<OwnSample> {
        let endpoints = self.storage.endpoints();
        let mut out = queue_samples(&endpoints);
        out.extend(watcher_samples(&endpoints));
        out
    }
}

type QueueValue = fn(&QueueStats) -> f64;

fn counter(c: &std::sync::atomic::AtomicU64) -> f64 {
    QueueStats::get(c) as f64
}

fn seconds(t: &std::sync::atomic::AtomicI64) -> f64 {
    t.load(Ordering::Relaxed).max(0) as f64 / 1000.0
}

/// Per-queue counters and gauges: upstream's name, help and kind, and the stat behind it.
const QUEUE_METRICS: &[(&str, &str, MetricKind, QueueValue)] = &[
    (
        "prometheus_remote_storage_samples_total",
        "Total number of samples sent to remote storage.",
        MetricKind::Counter,
        |s| counter(&s.samples_total),
    ),
    (
        "prometheus_remote_storage_histograms_total",
        "Total number of histograms sent to remote storage.",
        MetricKind::Counter,
        |s| counter(&s.histograms_total),
    ),
    (
        "prometheus_remote_storage_exemplars_total",
        "Total number of exemplars sent to remote storage.",
        MetricKind::Counter,
        |s| counter(&s.exemplars_total),
    ),
    (
        "prometheus_remote_storage_samples_failed_total",
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        MetricKind::Counter,
        |s| counter(&s.samples_failed_total),
    ),
    (
        "prometheus_remote_storage_samples_retried_total",
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        MetricKind::Counter,
        |s| counter(&s.samples_retried_total),
    ),
    (
        "prometheus_remote_storage_samples_dropped_total",
        "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        MetricKind::Counter,
        |s| counter(&s.samples_dropped_total),
    ),
    (
        "prometheus_remote_storage_bytes_total",
        "The total number of bytes of data (not metadata) sent by the queue after compression.",
        MetricKind::Counter,
        |s| counter(&s.bytes_total),
    ),
    (
        "prometheus_remote_storage_samples_pending",
        "The number of samples pending in the queues shards to be sent to the remote storage.",
        MetricKind::Gauge,
        |s| counter(&s.samples_pending),
    ),
    (
        "prometheus_remote_storage_queue_highest_timestamp_seconds",
        "Highest timestamp that was enqueued, in seconds since epoch. Initialized to 0 when no data has been received yet.",
        MetricKind::Gauge,
        |s| seconds(&s.highest_queued_timestamp),
    ),
    (
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch. Initialized to 0 when no data has been sent yet.",
        MetricKind::Gauge,
        |s| seconds(&s.highest_sent_timestamp),
    ),
    (
        "hearth_remote_storage_requests_total",
        "Remote write requests that got an answer or a network error.",
        MetricKind::Counter,
        |s| counter(&s.requests_total),
    ),
];

fn queue_samples(endpoints: &[RemoteEndpoint]) -> Vec<OwnSample> {
    let labels = |q: &QueueManager| {
        vec![
            ("remote_name", q.name().to_string()),
            (
                "url",
                q.config()
                    .url
                    .as_ref()
                    .map(|u| u.redacted())
                    .unwrap_or_default(),
            ),
        ]
    };
    let mut out = Vec::with_capacity(QUEUE_METRICS.len() * endpoints.len() + 1);
    // Upstream's is fed by its appender; hearth's queues read the WAL, so it is the
    // newest sample any queue took in.
    let highest = endpoints
        .iter()
        .map(|e| seconds(&e.queue.stats().highest_queued_timestamp))
        .fold(0.0, f64::max);
    out.push(OwnSample {
        name: "prometheus_remote_storage_highest_timestamp_in_seconds",
        help: "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch. Initialized to 0 when no data has been received yet.",
        kind: MetricKind::Gauge,
        labels: Vec::new(),
        value: highest,
    });
    for (name, help, kind, value) in QUEUE_METRICS {
        for e in endpoints {
            out.push(OwnSample {
                name,
                help,
                kind: *kind,
                labels: labels(&e.queue),
                value: value(e.queue.stats()),
            });
        }
    }
    out
}

type WatcherValue = fn(&WatcherStats) -> f64;

/// Per-watcher metrics besides `records_read_total`.
const WATCHER_METRICS: &[(&str, &str, MetricKind, WatcherValue)] = &[
    (
        "prometheus_wal_watcher_record_decode_failures_total",
        "Number of records read by the WAL watcher that resulted in an error when decoding.",
        MetricKind::Counter,
        |s| counter(&s.record_decode_failures),
    ),
    (
        "prometheus_wal_watcher_current_segment",
        "Current segment the WAL watcher is reading records from.",
        MetricKind::Gauge,
        |s| s.current_segment.load(Ordering::Relaxed) as f64,
    ),
    (
        "hearth_wal_watcher_segments_skipped_total",
        "WAL segments truncated away before the watcher read them; their samples were not sent, except what the checkpoint kept.",
        MetricKind::Counter,
        |s| counter(&s.segments_skipped),
    ),
    (
        "hearth_wal_watcher_segments_cut_short_total",
        "WAL segments whose end the watcher could not read (a torn or corrupt record); the rest of each was skipped.",
        MetricKind::Counter,
        |s| counter(&s.segments_cut_short),
    ),
    (
        "hearth_wal_watcher_series",
        "Series references the WAL watcher knows.",
        MetricKind::Gauge,
        |s| counter(&s.series),
    ),
];

fn watcher_samples(endpoints: &[RemoteEndpoint]) -> Vec<OwnSample> {
    let watchers: Vec<(&str, &WatcherStats)> = endpoints
        .iter()
        .filter_map(|e| e.watcher.as_ref().map(|w| (e.queue.name(), w.stats())))
        .collect();
    let mut out = Vec::new();
    for (i, typ) in RECORD_TYPES.iter().enumerate() {
        for (name, stats) in &watchers {
            out.push(OwnSample {
                name: "prometheus_wal_watcher_records_read_total",
                help: "Number of records read by the WAL watcher from the WAL.",
                kind: MetricKind::Counter,
                labels: vec![("consumer", name.to_string()), ("type", typ.to_string())],
                value: counter(&stats.records_read[i]),
            });
        }
    }
    for (metric, help, kind, value) in WATCHER_METRICS {
        for (name, stats) in &watchers {
            out.push(OwnSample {
                name: metric,
                help,
                kind: *kind,
                labels: vec![("consumer", name.to_string())],
                value: value(stats),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queues_follow_the_config_and_report_metrics() {
        let rw = ServerRemoteWrite::default();
        let names = |rw: &ServerRemoteWrite| -> Vec<&'static str> {
            rw.metric_samples().iter().map(|s| s.name).collect()
        };
        assert_eq!(
            names(&rw),
            ["prometheus_remote_storage_highest_timestamp_in_seconds"]
        );
        let cfg = Config::load_str(
            "global:\n  external_labels: {dc: a}\nremote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    name: vm\n",
            "p.yml",
        )
        .unwrap();
        rw.apply_config(&cfg).unwrap();
        let samples = rw.metric_samples();
        assert_eq!(samples.len(), QUEUE_METRICS.len() + 1);
        let first = &samples[1];
        assert_eq!(first.name, "prometheus_remote_storage_samples_total");
        assert_eq!(
            first.labels,
            vec![
                ("remote_name", "vm".to_string()),
                ("url", "http://127.0.0.1:1/api/v1/write".to_string())
            ]
        );
        // With the data directory open, the watcher reports too.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wal")).unwrap();
        rw.set_data_dir(dir.path());
        let samples = rw.metric_samples();
        assert_eq!(
            samples.len(),
            QUEUE_METRICS.len() + 1 + RECORD_TYPES.len() + WATCHER_METRICS.len()
        );
        assert!(
            samples
                .iter()
                .any(|s| s.name == "prometheus_wal_watcher_records_read_total"
                    && s.labels
                        == vec![
                            ("consumer", "vm".to_string()),
                            ("type", "samples".to_string())
                        ])
        );
        rw.apply_config(&Config::load_str("", "p.yml").unwrap())
            .unwrap();
        assert_eq!(names(&rw).len(), 1);
        rw.stop().await;
    }
}
