//! Recording and alerting rules: evaluation at one timestamp, the alert state machine
//! (inactive → pending → firing, `for`, `keep_firing_for`, resolved alerts kept for
//! [`RESOLVED_RETENTION_MS`]) and the `ALERTS` / `ALERTS_FOR_STATE` samples.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hearth_model::{Labels, LabelsBuilder};
use hearth_promql::engine::{Engine, QueryOptions, Sample, Value, Vector};
use hearth_template::prometheus::{AlertContext, QueryFn, QuerySample, expand_alert_template};
use hearth_tsdb::storage::Queryable;

use crate::rulefmt;

/// How long a resolved alert is still sent to Alertmanager (upstream's
/// `resolvedRetention`).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Name of the series an alert's state is written to.
pub const ALERT_METRIC_NAME: &str = "ALERTS";
/// Name of the series an alert's `ActiveAt` is written to.
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";

/// What a rule is evaluated with: the engine, the data, and what templates see.
#[derive(Clone)]
pub struct EvalEnv {
    pub engine: Arc<Engine>,
    pub queryable: Arc<dyn Queryable>,
    pub external_labels: Labels,
    pub external_url: String,
}

impl EvalEnv {
    /// Upstream's `EngineQueryFunc`: an instant query whose result must be a vector or
    /// a scalar (which becomes a one-sample vector without labels).
    pub fn query(&self, q: &str, ts_ms: i64) -> Result<Vector, String> {
        let res =
            self.engine
                .instant_query(self.queryable.as_ref(), q, ts_ms, &QueryOptions::default());
        match res.value.map_err(|e| e.to_string())? {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![Sample::float(Labels::default(), t, v)]),
            _ => Err("rule result is not a vector or scalar".to_string()),
        }
    }

    /// The `query` function of templates.
    pub fn query_fn(&self) -> Arc<dyn QueryFn> {
        let env = self.clone();
        Arc::new(
            move |q: &str, ts: i64| -> Result<Vec<QuerySample>, String> {
                Ok(env
                    .query(q, ts)?
                    .into_iter()
                    .map(|s| QuerySample {
                        labels: s.metric,
                        value: s.f,
                    })
                    .collect())
            },
        )
    }
}

/// Rule health as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Good,
    Bad,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// The outcome of the last evaluation of a rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleStatus {
    pub health: Health,
    pub last_error: Option<String>,
    /// Evaluation timestamp (ms) of the last evaluation.
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
}

impl RuleStatus {
    pub(crate) fn set_error(&mut self, e: String) {
        self.health = Health::Bad;
        self.last_error = Some(e);
    }
}

/// Merges group labels under rule labels (rule labels win), as Prometheus 3 does.
fn rule_labels(group: &BTreeMap<String, String>, rule: &BTreeMap<String, String>) -> Labels {
    let mut all = group.clone();
    all.extend(rule.iter().map(|(k, v)| (k.clone(), v.clone())));
    Labels::new(all.iter())
}

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub name: String,
    pub expr: String,
    pub labels: Labels,
    pub status: RuleStatus,
}

impl RecordingRule {
    pub fn eval(
        &mut self,
        env: &EvalEnv,
        ts_ms: i64,
        query_offset_ms: i64,
        limit: usize,
    ) -> Result<Vector, String> {
        let mut vector = env.query(&self.expr, ts_ms - query_offset_ms)?;
        for s in &mut vector {
            let mut b = s.metric.builder();
            b.set("__name__", &self.name);
            for l in self.labels.iter() {
                b.set(&l.name, &l.value);
            }
            s.metric = b.labels();
        }
        let mut seen = std::collections::HashSet::with_capacity(vector.len());
        if !vector.iter().all(|s| seen.insert(&s.metric)) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels"
                    .to_string(),
            );
        }
        if limit > 0 && vector.len() > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                vector.len()
            ));
        }
        self.status.health = Health::Good;
        self.status.last_error = None;
        Ok(vector)
    }
}

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule: a label set the expression returned. Times are ms;
/// `None` is Go's zero time.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub state: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Upstream's `needsSending`.
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_at;
        if let Some(r) = self.resolved_at
            && last.is_none_or(|l| r > l)
        {
            return true;
        }
        last.is_none_or(|l| l + resend_delay_ms < ts)
    }
}

/// An alerting rule and its alerts, keyed by the hash of their labels.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub name: String,
    pub expr: String,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Rule (and group) labels, unexpanded.
    pub labels: Labels,
    pub annotations: Labels,
    /// `false` until the `for` state was restored after a start; no `ALERTS` series
    /// are written before.
    pub restored: bool,
    pub active: HashMap<u64, Alert>,
    pub status: RuleStatus,
}

impl AlertingRule {
    /// The rule's overall state: that of its most advanced alert.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    fn expand(
        &self,
        env: &EvalEnv,
        query: &Arc<dyn QueryFn>,
        text: &str,
        labels: &Labels,
        value: f64,
        ts_ms: i64,
    ) -> String {
        let ctx = AlertContext {
            rule_name: &self.name,
            labels,
            external_labels: &env.external_labels,
            external_url: &env.external_url,
            value,
            timestamp_ms: ts_ms,
            query: Some(query.clone()),
        };
        match expand_alert_template(text, &ctx) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(rule = %self.name, err = %e, "Expanding alert template failed");
                format!("<error expanding template: {e}>")
            }
        }
    }

    /// Evaluates the rule at `ts_ms`, advancing its alerts; returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write (none until restored).
    pub fn eval(
        &mut self,
        env: &EvalEnv,
        ts_ms: i64,
        query_offset_ms: i64,
        limit: usize,
    ) -> Result<Vector, String> {
        let res = env.query(&self.expr, ts_ms - query_offset_ms)?;
        let query = env.query_fn();
        let mut alerts: HashMap<u64, Alert> = HashMap::with_capacity(res.len());
        for s in &res {
            let mut b = s.metric.builder();
            b.del("__name__");
            for l in self.labels.iter() {
                let v = self.expand(env, &query, &l.value, &s.metric, s.f, ts_ms);
                b.set(&l.name, &v);
            }
            b.set("alertname", &self.name);
            let mut ann = LabelsBuilder::new();
            for a in self.annotations.iter() {
                let v = self.expand(env, &query, &a.value, &s.metric, s.f, ts_ms);
                ann.set(&a.name, &v);
            }
            let labels = b.labels();
            let h = labels.hash();
            if alerts.contains_key(&h) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .to_string(),
                );
            }
            alerts.insert(
                h,
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations: ann.labels(),
                    value: s.f,
                    active_at: ts_ms,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }
        let returned: std::collections::HashSet<u64> = alerts.keys().copied().collect();
        for (h, a) in alerts {
            match self.active.get_mut(&h) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(h, a);
                }
            }
        }

        let mut vec = Vector::new();
        let mut active_pending = 0usize;
        let mut remove = Vec::new();
        let sample_ts = ts_ms - query_offset_ms;
        let mut keys: Vec<u64> = self.active.keys().copied().collect();
        keys.sort_unstable();
        for h in keys {
            let Some(a) = self.active.get_mut(&h) else {
                continue;
            };
            if !returned.contains(&h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts_ms);
                    keep_firing = ts_ms - since < self.keep_firing_for_ms;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts_ms - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(h);
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts_ms);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts_ms - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts_ms);
            }
            if self.restored {
                vec.push(alert_sample(&self.labels, &self.name, a, sample_ts));
                vec.push(for_state_sample(&self.labels, &self.name, a, sample_ts));
            }
        }
        for h in remove {
            self.active.remove(&h);
        }
        if limit > 0 && active_pending > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_pending} alerts"
            ));
        }
        self.status.health = Health::Good;
        self.status.last_error = None;
        Ok(vec)
    }

    /// Alerts to send now (upstream's `sendAlerts`), marking them sent.
    pub fn alerts_to_send(
        &mut self,
        ts_ms: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
    ) -> Vec<Alert> {
        let delta = resend_delay_ms.max(interval_ms);
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts_ms, resend_delay_ms) {
                a.last_sent_at = Some(ts_ms);
                a.valid_until = Some(ts_ms + 4 * delta);
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Alerts not resolved, for `/api/v1/alerts` (pending and firing).
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.resolved_at.is_none())
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}

fn alert_sample(rule_labels: &Labels, name: &str, a: &Alert, ts: i64) -> Sample {
    let mut b = rule_labels.builder();
    for l in a.labels.iter() {
        b.set(&l.name, &l.value);
    }
    b.set("__name__", ALERT_METRIC_NAME);
    b.set("alertname", name);
    b.set("alertstate", a.state.as_str());
    Sample::float(b.labels(), ts, 1.0)
}

fn for_state_sample(rule_labels: &Labels, name: &str, a: &Alert, ts: i64) -> Sample {
    let mut b = rule_labels.builder();
    for l in a.labels.iter() {
        b.set(&l.name, &l.value);
    }
    b.set("__name__", ALERT_FOR_STATE_METRIC_NAME);
    b.set("alertname", name);
    Sample::float(b.labels(), ts, (a.active_at.div_euclid(1000)) as f64)
}

/// A rule of a group.
#[derive(Debug, Clone)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    /// Builds a rule from its definition and its group's labels.
    pub fn new(
        def: &rulefmt::Rule,
        group_labels: &BTreeMap<String, String>,
        restored: bool,
    ) -> Rule {
        let labels = rule_labels(group_labels, &def.labels);
        if !def.record.is_empty() {
            Rule::Recording(RecordingRule {
                name: def.record.clone(),
                expr: def.expr.clone(),
                labels,
                status: RuleStatus::default(),
            })
        } else {
            Rule::Alerting(AlertingRule {
                name: def.alert.clone(),
                expr: def.expr.clone(),
                hold_ms: def.for_ms,
                keep_firing_for_ms: def.keep_firing_for_ms,
                labels,
                annotations: Labels::new(def.annotations.iter()),
                restored,
                active: HashMap::new(),
                status: RuleStatus::default(),
            })
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    pub fn labels(&self) -> &Labels {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(r) => &r.labels,
        }
    }

    pub fn status(&self) -> &RuleStatus {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    pub fn status_mut(&mut self) -> &mut RuleStatus {
        match self {
            Rule::Recording(r) => &mut r.status,
            Rule::Alerting(r) => &mut r.status,
        }
    }

    /// Identity across reloads: name and labels (upstream's `nameAndLabels`).
    pub fn key(&self) -> String {
        format!("{}{}", self.name(), self.labels())
    }
}
