//! The Alertmanager's own metrics, with upstream's names (`alertmanager_*`), registered
//! into the binary's `prometheus-client` registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

/// Integrations upstream pre-initialises its per-integration counters for.
pub const INTEGRATIONS: &[&str] = &[
    "discord",
    "email",
    "jira",
    "msteams",
    "msteamsv2",
    "opsgenie",
    "pagerduty",
    "pushover",
    "rocketchat",
    "slack",
    "sns",
    "telegram",
    "victorops",
    "webex",
    "webhook",
    "wechat",
];

pub struct Metrics {
    notifications: Family<Labels, Counter>,
    notifications_failed: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    requests_failed: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    pub alerts_received: Family<Labels, Counter>,
    pub alerts_invalid: Family<Labels, Counter>,
    pub alerts: Family<Labels, Gauge>,
    pub silences: Family<Labels, Gauge>,
    pub aggregation_groups: Gauge,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp: Gauge<f64, AtomicU64>,
    pub config_hash: Gauge<f64, AtomicU64>,
    pub nflog_entries: Gauge,
    pub cluster_enabled: Gauge,
}

fn integration(name: &str) -> Labels {
    vec![("integration".into(), name.into())]
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            notifications: Family::default(),
            notifications_failed: Family::default(),
            requests: Family::default(),
            requests_failed: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new([1.0, 5.0, 10.0, 15.0, 20.0])),
            alerts_received: Family::default(),
            alerts_invalid: Family::default(),
            alerts: Family::default(),
            silences: Family::default(),
            aggregation_groups: Gauge::default(),
            config_last_reload_successful: Gauge::default(),
            config_last_reload_success_timestamp: Gauge::default(),
            config_hash: Gauge::default(),
            nflog_entries: Gauge::default(),
            cluster_enabled: Gauge::default(),
        };
        for i in INTEGRATIONS {
            let _ = m.notifications.get_or_create(&integration(i));
            let _ = m.notifications_failed.get_or_create(&integration(i));
            let _ = m.requests.get_or_create(&integration(i));
            let _ = m.requests_failed.get_or_create(&integration(i));
        }
        for s in ["firing", "resolved"] {
            let _ = m
                .alerts_received
                .get_or_create(&vec![("status".into(), s.into())]);
            let _ = m.alerts_invalid.get_or_create(&vec![]);
        }
        for s in ["active", "suppressed", "unprocessed"] {
            let _ = m.alerts.get_or_create(&vec![("state".into(), s.into())]);
        }
        for s in ["active", "pending", "expired"] {
            let _ = m.silences.get_or_create(&vec![("state".into(), s.into())]);
        }
        let r = registry;
        r.register(
            "alertmanager_notifications",
            "The total number of attempted notifications.",
            m.notifications.clone(),
        );
        r.register(
            "alertmanager_notifications_failed",
            "The total number of failed notifications.",
            m.notifications_failed.clone(),
        );
        r.register(
            "alertmanager_notification_requests",
            "The total number of attempted notification requests.",
            m.requests.clone(),
        );
        r.register(
            "alertmanager_notification_requests_failed",
            "The total number of failed notification requests.",
            m.requests_failed.clone(),
        );
        r.register(
            "alertmanager_notification_latency_seconds",
            "The latency of notifications in seconds.",
            m.latency.clone(),
        );
        r.register(
            "alertmanager_alerts_received",
            "The total number of received alerts.",
            m.alerts_received.clone(),
        );
        r.register(
            "alertmanager_alerts_invalid",
            "The total number of received alerts that were invalid.",
            m.alerts_invalid.clone(),
        );
        r.register(
            "alertmanager_alerts",
            "How many alerts by state.",
            m.alerts.clone(),
        );
        r.register(
            "alertmanager_silences",
            "How many silences by state.",
            m.silences.clone(),
        );
        r.register(
            "alertmanager_dispatcher_aggregation_groups",
            "Number of active aggregation groups",
            m.aggregation_groups.clone(),
        );
        r.register(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            m.config_last_reload_successful.clone(),
        );
        r.register(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            m.config_last_reload_success_timestamp.clone(),
        );
        r.register(
            "alertmanager_config_hash",
            "Hash of the currently loaded alertmanager configuration.",
            m.config_hash.clone(),
        );
        r.register(
            "alertmanager_nflog_entries",
            "Number of entries in the notification log (hearth).",
            m.nflog_entries.clone(),
        );
        r.register(
            "alertmanager_cluster_enabled",
            "Indicates whether the clustering is enabled or not.",
            m.cluster_enabled.clone(),
        );
        m
    }

    pub fn notifications(&self, i: &str) -> Counter {
        self.notifications.get_or_create(&integration(i)).clone()
    }

    pub fn notifications_failed(&self, i: &str) -> Counter {
        self.notifications_failed
            .get_or_create(&integration(i))
            .clone()
    }

    pub fn notification_requests(&self, i: &str) -> Counter {
        self.requests.get_or_create(&integration(i)).clone()
    }

    pub fn notification_requests_failed(&self, i: &str) -> Counter {
        self.requests_failed.get_or_create(&integration(i)).clone()
    }

    pub fn observe_latency(&self, i: &str, secs: f64) {
        self.latency.get_or_create(&integration(i)).observe(secs);
    }

    pub fn set_state(&self, family: &Family<Labels, Gauge>, state: &str, v: i64) {
        family
            .get_or_create(&vec![("state".into(), state.into())])
            .set(v);
    }
}
