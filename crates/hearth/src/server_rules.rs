//! The server's rules and alerting: the rule manager evaluating `rule_files` with the
//! server's engine and storage, the notifier sending its alerts to the Alertmanagers a
//! second discovery manager finds, both reconfigured on every reload, and their metrics
//! under upstream's `prometheus_rule_*` / `prometheus_notifications_*` names.
//!
//! A reload applies both or neither: the new rule files are parsed and the Alertmanager
//! clients built before anything changes, so a bad rule file leaves the old rules
//! running and the old Alertmanagers in use.

use std::sync::Arc;

use hearth_config::Config;
use hearth_discovery::DiscoveryManager;
use hearth_exposition::MetricFamily;
use hearth_model::MetricType;
use hearth_model::float::format_openmetrics;
use hearth_promql::Engine;
use hearth_rules::rulefmt::ParseOptions;
use hearth_rules::stats::GroupStats;
use hearth_rules::{
    EvalEnv, GroupOptions, LoadSettings, Notifier, NotifierManager, RuleManager, SenderOptions,
};
use hearth_tsdb::storage::{Appendable, Queryable};
use tokio::task::JoinHandle;

use crate::own_metrics::{family, sample, summary_samples};

/// The `--rules.*` and `--alertmanager.*` flags, resolved.
#[derive(Debug, Clone)]
pub struct RulesOptions {
    pub outage_tolerance_ms: i64,
    pub for_grace_period_ms: i64,
    pub resend_delay_ms: i64,
    /// Accepted; rules of a group are evaluated one after the other.
    pub max_concurrent_evals: i64,
    pub sender: SenderOptions,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            resend_delay_ms: 60_000,
            max_concurrent_evals: 4,
            sender: SenderOptions::default(),
        }
    }
}

/// Rules, the notifier and the Alertmanagers' discovery.
pub struct ServerRules {
    manager: Arc<RuleManager>,
    notifier: Arc<NotifierManager>,
    discovery: DiscoveryManager,
    runner: JoinHandle<()>,
    external_url: String,
    parse: ParseOptions,
}

/// `--web.external-url` as upstream's `ExternalURL.String()`: no trailing slash.
pub fn external_url_string(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

impl ServerRules {
    /// Creates the rule manager (not evaluating until [`ServerRules::start`]) and the
    /// notifier. Must run inside tokio.
    pub fn new(
        opts: &RulesOptions,
        engine: Arc<Engine>,
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn Appendable>,
        external_url: String,
    ) -> ServerRules {
        if opts.max_concurrent_evals != 4 {
            tracing::info!(
                max_concurrent_evals = opts.max_concurrent_evals,
                "rules of a group are evaluated one after the other; --rules.max-concurrent-evals has no effect"
            );
        }
        let notifier = Arc::new(NotifierManager::new(opts.sender.clone()));
        let env = EvalEnv {
            engine: engine.clone(),
            queryable,
            external_labels: hearth_model::Labels::empty(),
            external_url: external_url.clone(),
        };
        let mut group_opts = GroupOptions::new(env, appendable);
        group_opts.notifier = Some(notifier.clone() as Arc<dyn Notifier>);
        group_opts.outage_tolerance_ms = opts.outage_tolerance_ms;
        group_opts.for_grace_period_ms = opts.for_grace_period_ms;
        group_opts.resend_delay_ms = opts.resend_delay_ms;
        let manager = Arc::new(RuleManager::new(group_opts));
        let discovery = DiscoveryManager::new(&opts.sender.user_agent);
        let runner = notifier.run(discovery.subscribe());
        ServerRules {
            manager,
            notifier,
            discovery,
            runner,
            external_url,
            parse: ParseOptions {
                features: engine.options().features,
                ..ParseOptions::default()
            },
        }
    }

    pub fn manager(&self) -> Arc<RuleManager> {
        self.manager.clone()
    }

    pub fn notifier(&self) -> Arc<NotifierManager> {
        self.notifier.clone()
    }

    /// Loads the rule files and the alerting configuration of `config`; on error
    /// nothing changed. Rule file errors are logged one by one, as upstream's
    /// "loading groups failed", and returned together.
    pub fn apply_config(&mut self, config: &Config) -> Result<(), String> {
        let files = config.rule_file_paths().map_err(|e| e.to_string())?;
        let prepared = self.notifier.prepare(config)?;
        let settings = LoadSettings {
            evaluation_interval_ms: config.global.evaluation_interval.millis(),
            rule_query_offset_ms: config.global.rule_query_offset.millis(),
            parse: ParseOptions {
                name_validation: config.global.metric_name_validation_scheme,
                ..self.parse
            },
            external_labels: Some(config.global.external_labels.0.clone()),
            external_url: Some(self.external_url.clone()),
        };
        // Stopping a changed group waits for its running evaluation.
        if let Err(errs) = self.manager.update(&files, &settings) {
            for e in &errs {
                tracing::error!(err = %e, "loading groups failed");
            }
            let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
            return Err(format!(
                "error loading rules, previous rule set restored: {}",
                all.join("; ")
            ));
        }
        self.notifier.commit(prepared);
        self.discovery
            .apply_config(&config.alertmanager_discovery());
        Ok(())
    }

    /// Starts evaluating (once the storage is open and the configuration applied).
    pub fn start(&self) {
        self.manager.start();
    }

    /// Stops evaluating, then the notifier (sending what is queued when draining is
    /// on).
    pub async fn stop(self) {
        let manager = self.manager.clone();
        let _ = tokio::task::spawn_blocking(move || manager.stop()).await;
        self.notifier.stop().await;
        self.runner.abort();
        drop(self.discovery);
    }
}

/// `prometheus_rule_*`.
pub fn rule_families(m: &RuleManager) -> Vec<MetricFamily> {
    let groups = m.group_metrics();
    let per_group = |name: &str, typ: MetricType, help: &str, v: &dyn Fn(&GroupStats) -> f64| {
        family(
            name,
            typ,
            help,
            groups
                .iter()
                .map(|g| sample(name, &[("rule_group", &g.key)], v(&g.stats)))
                .collect(),
        )
    };
    let load = |c: &std::sync::atomic::AtomicU64| GroupStats::load(c) as f64;
    let stats = m.stats();
    let mut out = vec![
        family(
            "prometheus_rule_evaluation_duration_seconds",
            MetricType::Summary,
            "The duration for a rule to execute.",
            summary_samples(
                "prometheus_rule_evaluation_duration_seconds",
                &[],
                &stats.rule_duration.snapshot(&[0.5, 0.9, 0.99]),
            ),
        ),
        per_group(
            "prometheus_rule_evaluation_failures_total",
            MetricType::Counter,
            "The total number of rule evaluation failures.",
            &|s| load(&s.failures),
        ),
        per_group(
            "prometheus_rule_evaluations_total",
            MetricType::Counter,
            "The total number of rule evaluations.",
            &|s| load(&s.evaluations),
        ),
        family(
            "prometheus_rule_group_duration_seconds",
            MetricType::Summary,
            "The duration of rule group evaluations.",
            summary_samples(
                "prometheus_rule_group_duration_seconds",
                &[],
                &stats.group_duration.snapshot(&[0.01, 0.05, 0.5, 0.9, 0.99]),
            ),
        ),
    ];
    let interval = |name: &str| {
        family(
            name,
            MetricType::Gauge,
            "The interval of a rule group.",
            groups
                .iter()
                .map(|g| sample(name, &[("rule_group", &g.key)], g.interval_seconds))
                .collect(),
        )
    };
    out.push(interval("prometheus_rule_group_interval_seconds"));
    out.push(per_group(
        "prometheus_rule_group_iterations_missed_total",
        MetricType::Counter,
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        &|s| load(&s.missed),
    ));
    out.push(per_group(
        "prometheus_rule_group_iterations_total",
        MetricType::Counter,
        "The total number of scheduled rule group evaluations, whether executed or missed.",
        &|s| load(&s.iterations),
    ));
    out.push(per_group(
        "prometheus_rule_group_last_duration_seconds",
        MetricType::Gauge,
        "The duration of the last rule group evaluation.",
        &|s| s.last_duration.get(),
    ));
    out.push(per_group(
        "prometheus_rule_group_last_evaluation_samples",
        MetricType::Gauge,
        "The number of samples returned during the last rule group evaluation.",
        &|s| load(&s.last_samples),
    ));
    out.push(per_group(
        "prometheus_rule_group_last_evaluation_timestamp_seconds",
        MetricType::Gauge,
        "The timestamp of the last rule group evaluation in seconds.",
        &|s| s.last_evaluation_timestamp.get(),
    ));
    out.push(per_group(
        "prometheus_rule_group_last_restore_duration_seconds",
        MetricType::Gauge,
        "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE` series.",
        &|s| s.last_restore_duration.get(),
    ));
    out.push(per_group(
        "prometheus_rule_group_last_rule_duration_sum_seconds",
        MetricType::Gauge,
        "The sum of time in seconds it took to evaluate each rule in the group regardless of concurrency. This should be higher than the group duration if rules are evaluated concurrently.",
        &|s| s.last_rule_duration_sum.get(),
    ));
    out.push(family(
        "prometheus_rule_group_rules",
        MetricType::Gauge,
        "The number of rules.",
        groups
            .iter()
            .map(|g| {
                sample(
                    "prometheus_rule_group_rules",
                    &[("rule_group", &g.key)],
                    g.rules as f64,
                )
            })
            .collect(),
    ));
    out
}

/// `prometheus_notifications_*`.
pub fn notification_families(n: &NotifierManager) -> Vec<MetricFamily> {
    let s = n.stats();
    let per_am = |name: &str,
                  typ: MetricType,
                  help: &str,
                  v: &dyn Fn(&hearth_rules::sender::AlertmanagerSnapshot) -> f64| {
        family(
            name,
            typ,
            help,
            s.alertmanagers
                .iter()
                .map(|a| sample(name, &[("alertmanager", &a.url)], v(a)))
                .collect(),
        )
    };
    let mut latency = Vec::new();
    let mut histogram = Vec::new();
    for a in &s.alertmanagers {
        latency.extend(summary_samples(
            "prometheus_notifications_latency_seconds",
            &[("alertmanager", &a.url)],
            &a.latency,
        ));
        let name = "prometheus_notifications_latency_histogram_seconds";
        for (le, c) in &a.latency_histogram.buckets {
            let le = format_openmetrics(*le);
            histogram.push(sample(
                &format!("{name}_bucket"),
                &[("alertmanager", &a.url), ("le", &le)],
                *c as f64,
            ));
        }
        histogram.push(sample(
            &format!("{name}_sum"),
            &[("alertmanager", &a.url)],
            a.latency_histogram.sum,
        ));
        histogram.push(sample(
            &format!("{name}_count"),
            &[("alertmanager", &a.url)],
            a.latency_histogram.count as f64,
        ));
    }
    vec![
        family(
            "prometheus_notifications_alertmanagers_discovered",
            MetricType::Gauge,
            "The number of alertmanagers discovered and active.",
            vec![sample(
                "prometheus_notifications_alertmanagers_discovered",
                &[],
                s.alertmanagers_discovered as f64,
            )],
        ),
        per_am(
            "prometheus_notifications_dropped_total",
            MetricType::Counter,
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            &|a| a.dropped as f64,
        ),
        per_am(
            "prometheus_notifications_errors_total",
            MetricType::Counter,
            "Total number of sent alerts affected by errors.",
            &|a| a.errors as f64,
        ),
        family(
            "prometheus_notifications_latency_histogram_seconds",
            MetricType::Histogram,
            "Latency histogram for sending alert notifications.",
            histogram,
        ),
        family(
            "prometheus_notifications_latency_seconds",
            MetricType::Summary,
            "Latency quantiles for sending alert notifications.",
            latency,
        ),
        family(
            "prometheus_notifications_queue_capacity",
            MetricType::Gauge,
            "The capacity of the alert notifications queue.",
            vec![sample(
                "prometheus_notifications_queue_capacity",
                &[],
                s.queue_capacity as f64,
            )],
        ),
        per_am(
            "prometheus_notifications_queue_length",
            MetricType::Gauge,
            "The number of alert notifications in the queue.",
            &|a| a.queue_length as f64,
        ),
        per_am(
            "prometheus_notifications_sent_total",
            MetricType::Counter,
            "Total number of alerts sent.",
            &|a| a.sent as f64,
        ),
    ]
}
