//! The notification pipeline (upstream's `notify` package), run for each flush of an
//! aggregation group: time mute/active intervals, inhibition and silences filter the
//! alerts; then for every integration of the receiver, concurrently, the dedup stage
//! (against the notification log), the retry stage (exponential backoff until the group
//! interval — at least 10 s — is over) and the log entry on success.

pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hearth_template::gotime::GoTime;
use hearth_template::{Kv, NotificationTemplates};

use crate::alert::Alert;
use crate::config::{Config, NamedTimeInterval};
use crate::inhibit::Inhibitor;
use crate::labelset::{self, LabelSet};
use crate::metrics::Metrics;
use crate::nflog::{NotificationLog, ReceiverKey, needs_update};
use crate::silence::Silences;
use crate::store::AlertStore;
use crate::time::{Time, is_zero};

/// Upstream's `notify.MinTimeout`.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a flush knows about its group.
#[derive(Clone, Debug)]
pub struct GroupContext {
    pub receiver: String,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub repeat_interval: Duration,
    pub group_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// A notification to send.
pub struct Notification<'a> {
    pub ctx: &'a GroupContext,
    pub alerts: &'a [Alert],
    pub external_url: &'a str,
    pub templates: &'a NotificationTemplates,
    pub now: Time,
}

impl Notification<'_> {
    /// Alertmanager's template data for these alerts.
    pub fn template_data(&self) -> hearth_template::Data {
        let alerts = self
            .alerts
            .iter()
            .map(|a| hearth_template::Alert {
                status: a.status_at(&self.now).into(),
                labels: Kv::new(a.labels.clone()),
                annotations: Kv::new(a.annotations.clone()),
                starts_at: go_time(&a.starts_at),
                ends_at: go_time(&a.ends_at),
                generator_url: a.generator_url.clone(),
                fingerprint: labelset::fingerprint_string(a.fingerprint()),
            })
            .collect();
        hearth_template::Data::new(
            &self.ctx.receiver,
            Kv::new(self.ctx.group_labels.clone()),
            alerts,
            self.external_url,
            "",
        )
    }

    /// Expands a text template field; errors are reported as the notification's error.
    pub fn text(&self, data: &hearth_template::Value, tmpl: &str) -> Result<String, NotifyError> {
        self.templates
            .execute_text_string(tmpl, data)
            .map_err(|e| NotifyError::permanent(e.to_string()))
    }
}

pub fn go_time(t: &Time) -> GoTime {
    if is_zero(t) {
        return GoTime::zero();
    }
    GoTime::from_unix_nanos(
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()),
    )
}

/// A failed notification attempt.
#[derive(Debug, Clone)]
pub struct NotifyError {
    pub retry: bool,
    pub message: String,
}

impl NotifyError {
    pub fn permanent(m: impl Into<String>) -> NotifyError {
        NotifyError {
            retry: false,
            message: m.into(),
        }
    }

    pub fn retryable(m: impl Into<String>) -> NotifyError {
        NotifyError {
            retry: true,
            message: m.into(),
        }
    }

    /// Upstream's retrier: 5xx (and 429) retry, other statuses do not.
    pub fn from_status(status: u16, body: &str) -> NotifyError {
        let mut m = format!("unexpected status code {status}");
        let body = body.trim();
        if !body.is_empty() {
            m.push_str(": ");
            m.push_str(&body.chars().take(1024).collect::<String>());
        }
        NotifyError {
            retry: status >= 500 || status == 429,
            message: m,
        }
    }
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One integration of a receiver (a webhook URL, a Slack channel, …).
pub trait Integration: Send + Sync {
    /// Upstream's integration name (`webhook`, `slack`, `email`, `pagerduty`).
    fn name(&self) -> &'static str;
    fn send_resolved(&self) -> bool;
    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Why a receiver's integrations could not be built.
#[derive(Debug, thiserror::Error)]
#[error("receiver {receiver:?}: {integration}[{idx}]: {message}")]
pub struct BuildError {
    pub receiver: String,
    pub integration: &'static str,
    pub idx: usize,
    pub message: String,
}

/// The pipeline of one configuration.
pub struct Pipeline {
    receivers: HashMap<String, Vec<Arc<dyn Integration>>>,
    time_intervals: HashMap<String, NamedTimeInterval>,
    inhibitor: Inhibitor,
    pub silences: Arc<Silences>,
    pub store: Arc<AlertStore>,
    pub nflog: Arc<NotificationLog>,
    pub metrics: Arc<Metrics>,
    pub templates: NotificationTemplates,
    pub external_url: String,
}

/// What the pipeline shares with the rest of the Alertmanager.
#[derive(Clone)]
pub struct Shared {
    pub silences: Arc<Silences>,
    pub store: Arc<AlertStore>,
    pub nflog: Arc<NotificationLog>,
    pub metrics: Arc<Metrics>,
    pub external_url: String,
    pub user_agent: String,
}

impl Pipeline {
    /// Builds every receiver's integrations from the configuration.
    pub fn new(
        cfg: &Config,
        templates: NotificationTemplates,
        shared: &Shared,
    ) -> Result<Pipeline, BuildError> {
        let mut receivers = HashMap::new();
        for r in &cfg.receivers {
            let mut list: Vec<Arc<dyn Integration>> = Vec::new();
            let err = |integration, idx, message: String| BuildError {
                receiver: r.name.clone(),
                integration,
                idx,
                message,
            };
            for (i, c) in r.webhook_configs.iter().enumerate() {
                list.push(Arc::new(
                    webhook::Webhook::new(c, &shared.user_agent)
                        .map_err(|m| err("webhook", i, m))?,
                ));
            }
            for (i, c) in r.slack_configs.iter().enumerate() {
                list.push(Arc::new(
                    slack::Slack::new(c, &shared.user_agent).map_err(|m| err("slack", i, m))?,
                ));
            }
            for (i, c) in r.pagerduty_configs.iter().enumerate() {
                list.push(Arc::new(
                    pagerduty::Pagerduty::new(c, &shared.user_agent)
                        .map_err(|m| err("pagerduty", i, m))?,
                ));
            }
            for (i, c) in r.email_configs.iter().enumerate() {
                list.push(Arc::new(
                    email::Email::new(c).map_err(|m| err("email", i, m))?,
                ));
            }
            receivers.insert(r.name.clone(), list);
        }
        Ok(Pipeline::with_integrations(
            cfg, receivers, templates, shared,
        ))
    }

    /// A pipeline with the given integrations per receiver (tests bring their own).
    pub fn with_integrations(
        cfg: &Config,
        receivers: HashMap<String, Vec<Arc<dyn Integration>>>,
        templates: NotificationTemplates,
        shared: &Shared,
    ) -> Pipeline {
        let time_intervals = cfg
            .time_intervals
            .iter()
            .chain(&cfg.mute_time_intervals)
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        Pipeline {
            receivers,
            time_intervals,
            inhibitor: Inhibitor::new(&cfg.inhibit_rules),
            silences: shared.silences.clone(),
            store: shared.store.clone(),
            nflog: shared.nflog.clone(),
            metrics: shared.metrics.clone(),
            templates,
            external_url: shared.external_url.clone(),
        }
    }

    pub fn inhibitor(&self) -> &Inhibitor {
        &self.inhibitor
    }

    fn in_any_interval(&self, names: &[String], t: &Time) -> bool {
        names
            .iter()
            .any(|n| self.time_intervals.get(n).is_some_and(|ti| ti.contains(t)))
    }

    /// Runs the pipeline for one flush. `true` when every stage succeeded (including
    /// "nothing to send").
    pub async fn exec(self: &Pipeline, ctx: &GroupContext, alerts: Vec<Alert>, now: Time) -> bool {
        if self.in_any_interval(&ctx.mute_time_intervals, &now) {
            tracing::debug!(group = %ctx.group_key, "notifications muted by a mute time interval");
            return true;
        }
        if !ctx.active_time_intervals.is_empty()
            && !self.in_any_interval(&ctx.active_time_intervals, &now)
        {
            tracing::debug!(group = %ctx.group_key, "notifications muted outside the active time intervals");
            return true;
        }
        let all = self.store.list();
        let view = self.inhibitor.view(&all, &now);
        let alerts: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| view.mutes(&a.labels).is_none())
            .filter(|a| self.silences.mutes(&a.labels, &now).is_empty())
            .collect();
        if alerts.is_empty() {
            return true;
        }
        let Some(integrations) = self.receivers.get(&ctx.receiver) else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + ctx.group_interval.max(MIN_TIMEOUT);
        let mut ok = true;
        let mut tasks = Vec::new();
        for (idx, integ) in integrations.iter().enumerate() {
            tasks.push(self.exec_integration(ctx, integ.as_ref(), idx, &alerts, now, deadline));
        }
        for r in join_all(tasks).await {
            ok &= r;
        }
        ok
    }

    async fn exec_integration(
        &self,
        ctx: &GroupContext,
        integ: &dyn Integration,
        idx: usize,
        alerts: &[Alert],
        now: Time,
        deadline: tokio::time::Instant,
    ) -> bool {
        let rk = ReceiverKey {
            group_name: ctx.receiver.clone(),
            integration: integ.name().into(),
            idx: u32::try_from(idx).unwrap_or(u32::MAX),
        };
        // Dedup stage.
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        for a in alerts {
            let h = labelset::hash(&a.labels);
            if a.resolved_at(&now) {
                resolved.push(h);
            } else {
                firing.push(h);
            }
        }
        let fset: HashSet<u64> = firing.iter().copied().collect();
        let rset: HashSet<u64> = resolved.iter().copied().collect();
        let entry = self.nflog.query(&rk, &ctx.group_key);
        if !needs_update(
            entry.as_ref(),
            &fset,
            &rset,
            integ.send_resolved(),
            ctx.repeat_interval,
            &now,
        ) {
            return true;
        }
        // Retry stage.
        let labels = [integ.name()];
        self.metrics.notifications(integ.name()).inc();
        let sent: Vec<Alert> = if integ.send_resolved() {
            alerts.to_vec()
        } else {
            alerts
                .iter()
                .filter(|a| !a.resolved_at(&now))
                .cloned()
                .collect()
        };
        let result = if sent.is_empty() {
            Ok(())
        } else {
            self.retry(ctx, integ, &rk, &sent, now, deadline).await
        };
        match result {
            Ok(()) => {
                self.nflog.log(
                    &rk,
                    &ctx.group_key,
                    firing,
                    resolved,
                    2 * ctx.repeat_interval,
                    crate::time::now(),
                );
                true
            }
            Err(e) => {
                self.metrics.notifications_failed(labels[0]).inc();
                tracing::error!(receiver = %ctx.receiver, integration = %rk, group = %ctx.group_key, err = %e, "Notify for alerts failed");
                false
            }
        }
    }

    async fn retry(
        &self,
        ctx: &GroupContext,
        integ: &dyn Integration,
        rk: &ReceiverKey,
        alerts: &[Alert],
        now: Time,
        deadline: tokio::time::Instant,
    ) -> Result<(), NotifyError> {
        let mut backoff = Backoff::new();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let n = Notification {
                ctx,
                alerts,
                external_url: &self.external_url,
                templates: &self.templates,
                now,
            };
            self.metrics.notification_requests(integ.name()).inc();
            let timer = std::time::Instant::now();
            let r = tokio::time::timeout_at(deadline, integ.notify(&n)).await;
            self.metrics
                .observe_latency(integ.name(), timer.elapsed().as_secs_f64());
            let err = match r {
                Ok(Ok(())) => {
                    tracing::debug!(integration = %rk, attempts = attempt, "Notify success");
                    return Ok(());
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    self.metrics
                        .notification_requests_failed(integ.name())
                        .inc();
                    return Err(NotifyError::permanent(format!(
                        "{rk}: notify retry canceled after {attempt} attempts: context deadline exceeded"
                    )));
                }
            };
            self.metrics
                .notification_requests_failed(integ.name())
                .inc();
            if !err.retry {
                return Err(NotifyError::permanent(format!(
                    "{rk}: notify retry canceled due to unrecoverable error after {attempt} attempts: {err}"
                )));
            }
            tracing::warn!(integration = %rk, attempt, err = %err, "Notify attempt failed, will retry later");
            let wait = backoff.next();
            if tokio::time::Instant::now() + wait >= deadline {
                return Err(NotifyError::permanent(format!(
                    "{rk}: notify retry canceled after {attempt} attempts: {err}"
                )));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Exponential backoff as upstream's (cenkalti/backoff defaults): 500 ms, ×1.5, ±50 %
/// jitter, at most 60 s between attempts.
struct Backoff {
    current: f64,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { current: 0.5 }
    }

    fn next(&mut self) -> Duration {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = f64::from(nanos % 1000) / 1000.0; // 0..1
        let d = self.current * (0.5 + jitter);
        self.current = (self.current * 1.5).min(60.0);
        Duration::from_secs_f64(d)
    }
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Reads a secret from a file, trimmed, as upstream's `*_file` options.
pub fn read_secret_file(path: &str) -> Result<String, NotifyError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| NotifyError::permanent(format!("read {path}: {e}")))
}

/// Posts a JSON body and maps the answer as upstream's retrier does.
pub async fn post_json(
    client: &reqwest::Client,
    http: &hearth_discovery::HttpClientConfig,
    url: &str,
    body: Vec<u8>,
    timeout: Option<Duration>,
) -> Result<String, NotifyError> {
    let mut req = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let req = http
        .authorize(req)
        .map_err(|e| NotifyError::permanent(e.to_string()))?;
    let resp = req
        .send()
        .await
        .map_err(|e| NotifyError::retryable(redact_url(&e.to_string(), url)))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(NotifyError::from_status(status, &text))
    }
}

/// Removes a URL (it may hold credentials) from an error message.
pub fn redact_url(msg: &str, url: &str) -> String {
    msg.replace(url, "<redacted>")
}

/// Reads a URL from `url` or `url_file` (trimmed).
pub fn url_or_file(url: Option<&url::Url>, file: &str) -> Result<String, NotifyError> {
    match url {
        Some(u) => Ok(u.to_string()),
        None => read_secret_file(file),
    }
}

/// Upstream's `truncateAlerts`: at most `max` alerts (0: all); how many were dropped.
pub fn truncate_alerts(max: u64, alerts: &[Alert]) -> (&[Alert], u64) {
    let n = alerts.len() as u64;
    if max > 0 && n > max {
        (
            &alerts[..usize::try_from(max).unwrap_or(alerts.len())],
            n - max,
        )
    } else {
        (alerts, 0)
    }
}

/// Upstream's `notify.TruncateInRunes` / `Truncate`: at most `n` characters with `…`.
pub fn truncate(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_and_truncation() {
        let e = NotifyError::from_status(503, "busy");
        assert!(e.retry);
        assert_eq!(e.message, "unexpected status code 503: busy");
        assert!(!NotifyError::from_status(400, "").retry);
        assert_eq!(truncate("abcdef", 4), ("abc…".to_string(), true));
        assert_eq!(truncate("abc", 4), ("abc".to_string(), false));
        let mut b = Backoff::new();
        let first = b.next();
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(750));
    }
}
