//! A rule group: its rules evaluated in order at one timestamp, results appended in one
//! transaction per rule, staleness markers for series a rule stopped returning, alerts
//! handed to the notifier, and the `for` state restored from `ALERTS_FOR_STATE`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use hearth_model::{HistogramValue, Labels, Matcher, stale_nan};
use hearth_tsdb::chunkenc::ValueType;
use hearth_tsdb::storage::{AppendError, Appendable};

use crate::notifier::{Notifier, PostableAlert};
use crate::rule::{ALERT_FOR_STATE_METRIC_NAME, Alert, EvalEnv, Rule};
use crate::rulefmt;
use crate::stats::{GroupStats, ManagerStats};

/// What every group is evaluated with (upstream's `ManagerOptions`).
#[derive(Clone)]
pub struct GroupOptions {
    pub env: EvalEnv,
    pub appendable: Arc<dyn Appendable>,
    pub notifier: Option<Arc<dyn Notifier>>,
    /// `--rules.alert.for-outage-tolerance` (default 1h).
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` (default 10m).
    pub for_grace_period_ms: i64,
    /// `--rules.alert.resend-delay` (default 1m).
    pub resend_delay_ms: i64,
    /// The summaries every group adds to.
    pub stats: Arc<ManagerStats>,
}

impl GroupOptions {
    /// Upstream's defaults for the three `--rules.alert.*` flags.
    pub fn new(env: EvalEnv, appendable: Arc<dyn Appendable>) -> GroupOptions {
        GroupOptions {
            env,
            appendable,
            notifier: None,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            resend_delay_ms: 60_000,
            stats: Arc::new(ManagerStats::default()),
        }
    }
}

/// A group of rules evaluated together.
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: usize,
    pub rules: Vec<Rule>,
    /// The definition, to tell whether a reload changed the group.
    def: rulefmt::RuleGroup,
    series_in_previous_eval: Vec<HashSet<Labels>>,
    /// Series of rules removed by a reload, marked stale after the next evaluation.
    stale_series: Vec<Labels>,
    should_restore: bool,
    evaluations: u64,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
    /// Counters under upstream's `prometheus_rule_group_*` names; a reload's
    /// replacement shares them.
    pub stats: Arc<GroupStats>,
    opts: Arc<GroupOptions>,
}

impl Group {
    /// Builds a group from its definition. `default_interval_ms` and
    /// `default_query_offset_ms` come from `global`; `restore` asks for the `for` state
    /// to be restored after the second evaluation (the first load after start).
    pub fn new(
        def: &rulefmt::RuleGroup,
        file: &str,
        default_interval_ms: i64,
        default_query_offset_ms: i64,
        restore: bool,
        opts: Arc<GroupOptions>,
    ) -> Group {
        let rules: Vec<Rule> = def
            .rules
            .iter()
            .map(|r| Rule::new(r, &def.labels, !restore))
            .collect();
        Group {
            name: def.name.clone(),
            file: file.to_string(),
            interval_ms: def
                .interval_ms
                .filter(|i| *i > 0)
                .unwrap_or(default_interval_ms)
                .max(1),
            query_offset_ms: def.query_offset_ms.unwrap_or(default_query_offset_ms),
            limit: def.limit,
            series_in_previous_eval: vec![HashSet::new(); rules.len()],
            rules,
            def: def.clone(),
            stale_series: Vec::new(),
            should_restore: restore,
            evaluations: 0,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
            stats: Arc::new(GroupStats::default()),
            opts,
        }
    }

    /// `file;name`, the group's identity across reloads.
    pub fn key(&self) -> String {
        group_key(&self.file, &self.name)
    }

    /// Same definition, interval, offset, external labels and external URL: a reload
    /// keeps the running group. (Upstream keeps a group whose rules are unchanged even
    /// when the external labels changed, so its templates go on with the old ones.)
    pub fn same_definition(&self, other: &Group) -> bool {
        self.def == other.def
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.query_offset_ms == other.query_offset_ms
            && self.opts.env.external_labels == other.opts.env.external_labels
            && self.opts.env.external_url == other.opts.env.external_url
    }

    /// The first evaluation time at or after `now_ms` minus one interval, offset by a
    /// hash of the group so groups spread over the interval (upstream's
    /// `EvalTimestamp`, in nanoseconds as upstream computes it).
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = i128::from(self.interval_ms) * 1_000_000;
        let hash = Labels::new([("name", self.name.as_str()), ("file", self.file.as_str())]).hash();
        let offset = i128::from(hash) % interval;
        let adj = i128::from(now_ms) * 1_000_000 - offset;
        let base = adj - adj.rem_euclid(interval);
        let next = (base + offset).div_euclid(1_000_000);
        i64::try_from(next).unwrap_or(now_ms)
    }

    /// One iteration as the group's loop runs it: evaluate at `ts_ms`, then, if this
    /// is the second evaluation after start, restore the `for` state as of `ts_ms`.
    pub fn iteration(&mut self, ts_ms: i64) {
        GroupStats::add(&self.stats.iterations, 1);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let started = Instant::now();
        self.eval(ts_ms);
        let took = started.elapsed().as_secs_f64();
        self.opts.stats.group_duration.observe(took);
        self.stats.last_duration.set(took);
        self.stats.last_evaluation_timestamp.set(wall);
        self.evaluations += 1;
        if self.should_restore && self.evaluations >= 2 {
            let started = Instant::now();
            self.restore_for_state(ts_ms);
            self.stats
                .last_restore_duration
                .set(started.elapsed().as_secs_f64());
            self.should_restore = false;
        }
    }

    /// Evaluates every rule at `ts_ms`.
    pub fn eval(&mut self, ts_ms: i64) {
        let started = Instant::now();
        let opts = self.opts.clone();
        let stats = self.stats.clone();
        let mut samples = 0u64;
        let mut rule_duration_sum = 0.0;
        for i in 0..self.rules.len() {
            let rule_started = Instant::now();
            GroupStats::add(&stats.evaluations, 1);
            let (offset, limit, interval) = (self.query_offset_ms, self.limit, self.interval_ms);
            let rule = &mut self.rules[i];
            let result = match rule {
                Rule::Recording(r) => r.eval(&opts.env, ts_ms, offset, limit),
                Rule::Alerting(r) => r.eval(&opts.env, ts_ms, offset, limit),
            };
            let vector = match result {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(group = %self.name, rule = %rule.name(), err = %e, "Evaluating rule failed");
                    rule.status_mut().set_error(e);
                    GroupStats::add(&stats.failures, 1);
                    rule_duration_sum += finish(rule, ts_ms, rule_started, &opts);
                    continue;
                }
            };
            if let Rule::Alerting(r) = rule {
                let alerts = r.alerts_to_send(ts_ms, opts.resend_delay_ms, interval);
                if let Some(n) = &opts.notifier
                    && !alerts.is_empty()
                {
                    n.send(to_postable(&alerts, &r.expr, &opts.env.external_url));
                }
            }
            samples += vector.len() as u64;
            let mut app = opts.appendable.appender();
            let mut returned = HashSet::with_capacity(vector.len());
            for s in &vector {
                let res = match &s.h {
                    Some(h) => app.append_histogram(
                        None,
                        &s.metric,
                        s.t,
                        &HistogramValue::Float((**h).clone()),
                    ),
                    None => app.append(None, &s.metric, s.t, s.f),
                };
                match res {
                    Ok(_) => {
                        returned.insert(s.metric.clone());
                    }
                    Err(e) => {
                        rule.status_mut().set_error(e.to_string());
                        if !matches!(
                            e,
                            AppendError::OutOfOrderSample
                                | AppendError::DuplicateSampleForTimestamp
                                | AppendError::OutOfBounds
                        ) {
                            tracing::warn!(sample = %s.metric, err = %e, "Rule evaluation result discarded");
                        }
                    }
                }
            }
            for lset in &self.series_in_previous_eval[i] {
                if !returned.contains(lset) {
                    append_stale(app.as_mut(), lset, ts_ms - offset);
                }
            }
            if let Err(e) = app.commit() {
                rule.status_mut().set_error(e.to_string());
                GroupStats::add(&stats.failures, 1);
                tracing::warn!(group = %self.name, err = %e, "Rule sample appending failed");
            } else {
                self.series_in_previous_eval[i] = returned;
            }
            rule_duration_sum += finish(rule, ts_ms, rule_started, &opts);
        }
        stats
            .last_samples
            .store(samples, std::sync::atomic::Ordering::Relaxed);
        stats.last_rule_duration_sum.set(rule_duration_sum);
        if !self.stale_series.is_empty() {
            let mut app = opts.appendable.appender();
            for lset in std::mem::take(&mut self.stale_series) {
                append_stale(app.as_mut(), &lset, ts_ms - self.query_offset_ms);
            }
            if let Err(e) = app.commit() {
                tracing::warn!(group = %self.name, err = %e, "Stale sample appending failed");
            }
        }
        self.last_evaluation_ms = Some(ts_ms);
        self.evaluation_seconds = started.elapsed().as_secs_f64();
    }

    /// Writes staleness markers for everything the group wrote last (a group removed by
    /// a reload, or stopped).
    pub fn mark_stale(&mut self, ts_ms: i64) {
        let mut app = self.opts.appendable.appender();
        for set in &mut self.series_in_previous_eval {
            for lset in set.drain() {
                append_stale(app.as_mut(), &lset, ts_ms);
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(group = %self.name, err = %e, "Stale sample appending failed");
        }
    }

    /// Takes over the state of the group this one replaces on reload (upstream's
    /// `CopyState`): per rule (matched by name and labels) the series written last, the
    /// alerts and the health; series of rules that are gone are marked stale later.
    pub fn copy_state(&mut self, from: &Group) {
        self.stats = from.stats.clone();
        self.last_evaluation_ms = from.last_evaluation_ms;
        self.evaluation_seconds = from.evaluation_seconds;
        let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in from.rules.iter().enumerate() {
            by_key.entry(r.key()).or_default().push(i);
        }
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let Some(list) = by_key.get_mut(&rule.key()) else {
                continue;
            };
            if list.is_empty() {
                continue;
            }
            let fi = list.remove(0);
            self.series_in_previous_eval[i] = from.series_in_previous_eval[fi].clone();
            *rule.status_mut() = from.rules[fi].status().clone();
            if let (Rule::Alerting(ar), Rule::Alerting(far)) = (rule, &from.rules[fi]) {
                ar.active
                    .extend(far.active.iter().map(|(k, v)| (*k, v.clone())));
            }
        }
        self.stale_series = from.stale_series.clone();
        for list in by_key.values() {
            for fi in list {
                self.stale_series
                    .extend(from.series_in_previous_eval[*fi].iter().cloned());
            }
        }
    }

    /// Restores the `ActiveAt` of pending alerts from `ALERTS_FOR_STATE` after a
    /// restart (upstream's `RestoreForState`), so `for` does not start over: time spent
    /// pending before the outage counts, the outage does not, and an alert never fires
    /// sooner than the grace period after the restore.
    pub fn restore_for_state(&mut self, ts_ms: i64) {
        let opts = self.opts.clone();
        let querier = match opts
            .env
            .queryable
            .querier(ts_ms - opts.outage_tolerance_ms, ts_ms)
        {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(group = %self.name, err = %e, "Failed to get Querier");
                return;
            }
        };
        for rule in &mut self.rules {
            let Rule::Alerting(ar) = rule else { continue };
            if ar.hold_ms < opts.for_grace_period_ms {
                ar.restored = true;
                continue;
            }
            let matchers = [
                Matcher::equal("__name__", ALERT_FOR_STATE_METRIC_NAME),
                Matcher::equal("alertname", ar.name.as_str()),
            ];
            let set = match querier.select(false, None, &matchers) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(rule = %ar.name, err = %e, "Failed to restore 'for' state");
                    continue;
                }
            };
            let mut by_labels: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
            for s in &set.series {
                let mut it = s.iterator();
                let mut last = None;
                while it.next() == ValueType::Float {
                    last = Some(it.at());
                }
                if it.err().is_some() {
                    continue;
                }
                if let Some(l) = last {
                    by_labels.insert(s.labels().without_metric_name(), l);
                }
            }
            if by_labels.is_empty() {
                ar.restored = true;
                continue;
            }
            for a in ar.active.values_mut() {
                let Some((t, v)) = by_labels.get(&a.labels) else {
                    continue;
                };
                if v.is_nan() || !v.is_finite() {
                    continue;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let mut active_at = (*v as i64).saturating_mul(1000);
                let pending_before = down_at - active_at;
                let remaining = ar.hold_ms - pending_before;
                if remaining <= 0 {
                    // It was firing when the server went down.
                } else if remaining < opts.for_grace_period_ms {
                    active_at = ts_ms + opts.for_grace_period_ms - ar.hold_ms;
                } else {
                    active_at += ts_ms - down_at;
                }
                a.active_at = active_at;
            }
            ar.restored = true;
        }
    }
}

/// Upstream's `GroupKey`.
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

/// Records the rule's evaluation time; returns it in seconds.
fn finish(rule: &mut Rule, ts_ms: i64, started: Instant, opts: &GroupOptions) -> f64 {
    let took = started.elapsed().as_secs_f64();
    opts.stats.rule_duration.observe(took);
    let st = rule.status_mut();
    st.last_evaluation_ms = Some(ts_ms);
    st.evaluation_seconds = took;
    took
}

fn append_stale(app: &mut dyn hearth_tsdb::storage::Appender, lset: &Labels, ts_ms: i64) {
    match app.append(None, lset, ts_ms, stale_nan()) {
        Ok(_)
        | Err(AppendError::OutOfOrderSample)
        | Err(AppendError::DuplicateSampleForTimestamp) => {}
        Err(e) => tracing::warn!(sample = %lset, err = %e, "Adding stale sample failed"),
    }
}

/// Alerts as the notifier sends them (upstream's `sendAlerts` in main.go): `startsAt`
/// is when the alert fired, `endsAt` when it resolved or until when it is valid.
pub fn to_postable(alerts: &[Alert], expr: &str, external_url: &str) -> Vec<PostableAlert> {
    let link = format!(
        "{external_url}/graph?g0.expr={}&g0.tab=1",
        hearth_template::gofmt::query_escape(expr)
    );
    alerts
        .iter()
        .map(|a| PostableAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at_ms: a.fired_at,
            ends_at_ms: a.resolved_at.or(a.valid_until),
            generator_url: link.clone(),
        })
        .collect()
}
