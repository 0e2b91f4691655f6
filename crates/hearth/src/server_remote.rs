//! The server's `remote_write` endpoints: the queues behind the storage every scrape,
//! rule and remote write request appends through, reconfigured on every reload, and their
//! `prometheus_remote_storage_*` metrics under upstream's names.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hearth_config::Config;
use hearth_remote::{QueueManager, QueueOptions, QueueStats, RemoteWriteStorage};
use hearth_tsdb::head::MetricKind;

use crate::own_metrics::OwnSample;

/// The `remote_write` queues of the running configuration.
#[derive(Debug)]
pub struct ServerRemoteWrite {
    storage: Arc<RemoteWriteStorage>,
}

impl Default for ServerRemoteWrite {
    fn default() -> Self {
        ServerRemoteWrite {
            storage: Arc::new(RemoteWriteStorage::new(QueueOptions::default())),
        }
    }
}

impl ServerRemoteWrite {
    /// The queues, for the storage tap that feeds them.
    pub fn storage(&self) -> Arc<RemoteWriteStorage> {
        self.storage.clone()
    }

    /// Starts the endpoints of `config`; unchanged ones keep running (and keep what they
    /// have queued). Must run inside tokio. On error nothing changes.
    pub fn apply_config(&self, config: &Config) -> Result<(), String> {
        self.storage
            .apply_config(&config.remote_write, &config.global.external_labels.0)
            .map_err(|e| e.to_string())
    }

    /// Stops every queue, sending what is pending until the flush deadline.
    pub async fn stop(&self) {
        self.storage.stop().await;
    }

    /// `prometheus_remote_storage_*` of every queue; consecutive per name, as the
    /// collector wants families.
    pub fn metric_samples(&self) -> Vec<OwnSample> {
        queue_samples(&self.storage.queues())
    }
}

type Counter = fn(&QueueStats) -> &AtomicU64;

/// Per-queue counters and gauges: upstream's name, help and kind, and the stat behind it.
const QUEUE_METRICS: &[(&str, &str, MetricKind, Counter)] = &[
    (
        "prometheus_remote_storage_samples_total",
        "Total number of samples sent to remote storage.",
        MetricKind::Counter,
        |s| &s.samples_total,
    ),
    (
        "prometheus_remote_storage_histograms_total",
        "Total number of histograms sent to remote storage.",
        MetricKind::Counter,
        |s| &s.histograms_total,
    ),
    (
        "prometheus_remote_storage_exemplars_total",
        "Total number of exemplars sent to remote storage.",
        MetricKind::Counter,
        |s| &s.exemplars_total,
    ),
    (
        "prometheus_remote_storage_samples_failed_total",
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        MetricKind::Counter,
        |s| &s.samples_failed_total,
    ),
    (
        "prometheus_remote_storage_samples_retried_total",
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        MetricKind::Counter,
        |s| &s.samples_retried_total,
    ),
    (
        "prometheus_remote_storage_samples_dropped_total",
        "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        MetricKind::Counter,
        |s| &s.samples_dropped_total,
    ),
    (
        "prometheus_remote_storage_bytes_total",
        "The total number of bytes of data (not metadata) sent by the queue after compression.",
        MetricKind::Counter,
        |s| &s.bytes_total,
    ),
    (
        "prometheus_remote_storage_samples_pending",
        "The number of samples pending in the queues shards to be sent to the remote storage.",
        MetricKind::Gauge,
        |s| &s.samples_pending,
    ),
    (
        "hearth_remote_storage_requests_total",
        "Remote write requests that got an answer or a network error.",
        MetricKind::Counter,
        |s| &s.requests_total,
    ),
    (
        "hearth_remote_storage_samples_queue_full_total",
        "Samples not queued because the queue of their shard was full (upstream would read them from the WAL later).",
        MetricKind::Counter,
        |s| &s.samples_queue_full_total,
    ),
];

fn queue_samples(queues: &[Arc<QueueManager>]) -> Vec<OwnSample> {
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
    let mut out = Vec::with_capacity(QUEUE_METRICS.len() * queues.len());
    for (name, help, kind, stat) in QUEUE_METRICS {
        for q in queues {
            out.push(OwnSample {
                name,
                help,
                kind: *kind,
                labels: labels(q),
                value: QueueStats::get(stat(q.stats())) as f64,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queues_follow_the_config_and_report_metrics() {
        let rw = ServerRemoteWrite::default();
        assert!(rw.metric_samples().is_empty());
        let cfg = Config::load_str(
            "global:\n  external_labels: {dc: a}\nremote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    name: vm\n",
            "p.yml",
        )
        .unwrap();
        rw.apply_config(&cfg).unwrap();
        let samples = rw.metric_samples();
        assert_eq!(samples.len(), QUEUE_METRICS.len());
        let first = &samples[0];
        assert_eq!(first.name, "prometheus_remote_storage_samples_total");
        assert_eq!(
            first.labels,
            vec![
                ("remote_name", "vm".to_string()),
                ("url", "http://127.0.0.1:1/api/v1/write".to_string())
            ]
        );
        rw.apply_config(&Config::load_str("", "p.yml").unwrap())
            .unwrap();
        assert!(rw.metric_samples().is_empty());
        rw.stop().await;
    }
}
