//! The remote write sender: one [`QueueManager`] per `remote_write` endpoint, fed by its
//! WAL watcher (see [`crate::wal_watcher`]), sending in batches over a fixed number of
//! shards.
//!
//! What each endpoint does, as upstream's queue manager:
//!
//! 1. Enqueue: the external labels are added to each series (its own labels win), then
//!    `write_relabel_configs` run; a dropped series (or one relabeled to nothing) is
//!    counted in `samples_dropped`. Exemplars and native histograms are sent only with
//!    `send_exemplars` / `send_native_histograms`. A series always goes to the same
//!    shard, so its samples are sent in order.
//! 2. Batching: a shard sends when it holds `max_samples_per_send` samples, or when
//!    `batch_send_deadline` passes with anything pending.
//! 3. Sending: snappy protobuf, 1.0 or 2.0 per `protobuf_message`, with the reserved
//!    headers, `User-Agent`, the configured `headers`, basic auth / authorization /
//!    `http_headers`, within `remote_timeout`. 5xx and network errors are retried with
//!    exponential backoff from `min_backoff` to `max_backoff`, 429 too when
//!    `retry_on_http_429` is set; a `Retry-After` (seconds) replaces the backoff once.
//!    Other 4xx drop the batch (the receiver will never take it). With
//!    `sample_age_limit`, samples that grew too old while retrying are dropped.
//! 4. Stopping: pending samples are flushed; retries stop at the flush deadline.
//!
//! Back-pressure: each shard holds at most `capacity × max_shards / shards` samples;
//! [`QueueManager::append`] blocks the WAL watcher while a shard is full, so an endpoint
//! that is down holds the reader back instead of losing samples. Every queued series
//! remembers the WAL position of the record it came from, and
//! [`QueueManager::oldest_unsent`] says from where a restart must read again.
//!
//! Not upstream: the shard count is `min_shards`; upstream reshards dynamically between
//! `min_shards` and `max_shards` by throughput.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hearth_config::RemoteWriteConfig;
use hearth_discovery::http_client::EndpointClient;
use hearth_discovery::oauth2::OAuth2Token;
use hearth_model::{Labels, sample::now_ms};
use parking_lot::{Condvar, Mutex};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::read_handler::merge_labels;
use crate::receiver::WriteMessage;
use crate::wal_watcher::WalPosition;
use crate::write_client::{
    EncodedWrite, OutgoingSeries, WriteResponse, WriteVerdict, read_write_response,
};

/// The `User-Agent` of hearth's remote clients.
pub fn user_agent() -> String {
    format!("hearth/{}", env!("CARGO_PKG_VERSION"))
}

/// Relabel results kept per input label set; the cache is emptied when it grows past
/// this (series churn).
const RELABEL_CACHE_MAX: usize = 1 << 20;

/// Why an endpoint could not be started.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("remote_write {name}: url is missing")]
    NoUrl { name: String },
    #[error("remote_write {name}: {source}")]
    Client {
        name: String,
        #[source]
        source: hearth_discovery::http_client::HttpClientError,
    },
    #[error("remote_write {name}: unknown protobuf_message {message}")]
    Message { name: String, message: String },
    #[error("remote_write {name}: queues must be started inside a tokio runtime")]
    NoRuntime { name: String },
}

/// Behaviour not in `queue_config`.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// How long [`QueueManager::stop`] keeps retrying pending batches (upstream's
    /// flush deadline, one minute).
    pub flush_deadline: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            flush_deadline: Duration::from_secs(60),
        }
    }
}

/// Counters of one endpoint, named after upstream's `prometheus_remote_storage_*`
/// metrics.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Float samples, histograms and exemplars the receiver accepted.
    pub samples_total: AtomicU64,
    pub histograms_total: AtomicU64,
    pub exemplars_total: AtomicU64,
    /// Samples (of any kind) in batches that were given up on.
    pub samples_failed_total: AtomicU64,
    /// Samples (of any kind) sent again after a recoverable error.
    pub samples_retried_total: AtomicU64,
    /// Samples of series dropped by relabeling, or too old to send.
    pub samples_dropped_total: AtomicU64,
    /// Compressed request bytes sent (each attempt).
    pub bytes_total: AtomicU64,
    /// Requests that got an answer or a network error.
    pub requests_total: AtomicU64,
    /// Samples (of any kind) waiting in the shards.
    pub samples_pending: AtomicU64,
    /// Highest sample timestamp (ms) queued, and sent successfully; 0 before any.
    pub highest_queued_timestamp: AtomicI64,
    pub highest_sent_timestamp: AtomicI64,
    /// Set when stopping gave up on samples at the flush deadline: they are still in
    /// the WAL, and the resume position must not move past them.
    pub abandoned_at_stop: AtomicBool,
}

impl QueueStats {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn sub_pending(&self, n: usize) {
        self.samples_pending.fetch_sub(n as u64, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The resolved `queue_config` and endpoint settings a shard needs.
struct Endpoint {
    client: EndpointClient,
    oauth2: Option<Arc<OAuth2Token>>,
    url: String,
    config: RemoteWriteConfig,
    message: WriteMessage,
    max_samples_per_send: usize,
    batch_send_deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    sample_age_limit: Option<Duration>,
    flush_deadline: Duration,
    stats: Arc<QueueStats>,
}

/// One `remote_write` endpoint.
pub struct QueueManager {
    name: String,
    config: RemoteWriteConfig,
    external_labels: Labels,
    shards: Vec<Arc<Shard>>,
    shard_limit: usize,
    relabel_cache: Mutex<HashMap<Labels, Option<Labels>>>,
    stats: Arc<QueueStats>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for QueueManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueManager")
            .field("name", &self.name)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl QueueManager {
    /// Starts the endpoint's shards; must be called inside a tokio runtime.
    pub fn start(
        config: &RemoteWriteConfig,
        external_labels: &Labels,
        options: &QueueOptions,
    ) -> Result<Arc<QueueManager>, QueueError> {
        let name = queue_name(config);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| QueueError::NoRuntime { name: name.clone() })?;
        let url = config
            .url
            .as_ref()
            .map(|u| u.as_str().to_string())
            .ok_or_else(|| QueueError::NoUrl { name: name.clone() })?;
        let message = match config.protobuf_message.as_str() {
            "" | "prometheus.WriteRequest" => WriteMessage::V1,
            "io.prometheus.write.v2.Request" => WriteMessage::V2,
            other => {
                return Err(QueueError::Message {
                    name,
                    message: other.to_string(),
                });
            }
        };
        let client_err = |source| QueueError::Client {
            name: name.clone(),
            source,
        };
        let client = config
            .http_client
            .build_endpoint_client(&user_agent(), &url)
            .map_err(client_err)?;
        let oauth2 = config
            .http_client
            .oauth2_token(&user_agent())
            .map_err(client_err)?;
        let q = &config.queue_config;
        let shards = q.min_shards.max(1) as usize;
        let capacity = q.capacity.max(1) as usize;
        let buffer = capacity.saturating_mul(q.max_shards.max(1) as usize);
        let stats = Arc::new(QueueStats::default());
        let endpoint = Arc::new(Endpoint {
            client,
            oauth2,
            url,
            config: config.clone(),
            message,
            max_samples_per_send: q.max_samples_per_send.max(1) as usize,
            batch_send_deadline: q.batch_send_deadline.to_std().max(Duration::from_millis(1)),
            min_backoff: q.min_backoff.to_std(),
            max_backoff: q.max_backoff.to_std().max(q.min_backoff.to_std()),
            sample_age_limit: (!q.sample_age_limit.is_zero()).then(|| q.sample_age_limit.to_std()),
            flush_deadline: options.flush_deadline,
            stats: stats.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let shards: Vec<Arc<Shard>> = (0..shards).map(|_| Arc::new(Shard::default())).collect();
        let tasks = shards
            .iter()
            .map(|s| runtime.spawn(run_shard(s.clone(), endpoint.clone(), stop_rx.clone())))
            .collect();
        tracing::info!(remote_name = %name, url = %config.url.as_ref().map(|u| u.redacted()).unwrap_or_default(), shards = shards.len(), "starting remote write queue");
        Ok(Arc::new(QueueManager {
            name,
            config: config.clone(),
            external_labels: external_labels.clone(),
            shard_limit: (buffer / shards.len()).max(capacity),
            shards,
            relabel_cache: Mutex::new(HashMap::new()),
            stats,
            stop,
            tasks: Mutex::new(tasks),
        }))
    }

    /// The `name` of the configuration, or a hash of it (as upstream names queues).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &RemoteWriteConfig {
        &self.config
    }

    pub fn external_labels(&self) -> &Labels {
        &self.external_labels
    }

    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// Queues series read from the WAL record at `at`. Blocks while a shard is full
    /// (back-pressure on the reader); returns `false`, with the rest of `batch` not
    /// queued, when a shard is full once `stop` is set, or when the queue is stopping.
    pub fn append(&self, batch: Vec<OutgoingSeries>, at: WalPosition, stop: &AtomicBool) -> bool {
        for series in batch {
            if *self.stop.borrow() {
                return false;
            }
            let n = series_samples(&series);
            let Some(labels) = self.output_labels(&series.labels) else {
                QueueStats::add(&self.stats.samples_dropped_total, n);
                continue;
            };
            let mut out = OutgoingSeries {
                labels,
                samples: series.samples,
                histograms: Vec::new(),
                exemplars: Vec::new(),
                metadata: series.metadata,
            };
            if self.config.send_native_histograms {
                out.histograms = series.histograms;
            }
            if self.config.send_exemplars {
                out.exemplars = series.exemplars;
            }
            let n = series_samples(&out);
            if n == 0 {
                continue;
            }
            if let Some(t) = max_timestamp(&out) {
                self.stats
                    .highest_queued_timestamp
                    .fetch_max(t, Ordering::Relaxed);
            }
            let shard = &self.shards[shard_of(&out.labels, self.shards.len())];
            let mut buf = shard.buf.lock();
            // An empty shard takes a series of any size, so nothing waits forever.
            while buf.samples > 0 && buf.samples + n > self.shard_limit {
                if *self.stop.borrow() || stop.load(Ordering::Relaxed) {
                    return false;
                }
                shard.space.wait_for(&mut buf, Duration::from_millis(100));
            }
            buf.samples += n;
            buf.series.push_back(Queued { series: out, at });
            QueueStats::add(&self.stats.samples_pending, n);
            drop(buf);
            shard.notify.notify_one();
        }
        true
    }

    /// The WAL position of the oldest record with samples still queued or being sent;
    /// `None` when everything queued was settled.
    pub fn oldest_unsent(&self) -> Option<WalPosition> {
        self.shards
            .iter()
            .filter_map(|s| {
                let buf = s.buf.lock();
                let front = buf.series.front().map(|q| q.at);
                match (buf.in_flight, front) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// External labels, then write relabeling; `None` drops the series.
    fn output_labels(&self, labels: &Labels) -> Option<Labels> {
        if self.external_labels.is_empty() && self.config.write_relabel_configs.is_empty() {
            return Some(labels.clone());
        }
        if let Some(cached) = self.relabel_cache.lock().get(labels) {
            return cached.clone();
        }
        let merged = merge_labels(labels, &self.external_labels);
        let out = hearth_relabel::process(&merged, &self.config.write_relabel_configs)
            .filter(|l| !l.is_empty());
        let mut cache = self.relabel_cache.lock();
        if cache.len() >= RELABEL_CACHE_MAX {
            cache.clear();
        }
        cache.insert(labels.clone(), out.clone());
        out
    }

    /// Samples waiting in the shards.
    pub fn pending(&self) -> u64 {
        QueueStats::get(&self.stats.samples_pending)
    }

    /// Stops taking samples, flushes what is pending (retrying until the flush
    /// deadline) and waits for the shards to end.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// The newest sample or histogram timestamp of a series.
fn max_timestamp(s: &OutgoingSeries) -> Option<i64> {
    let floats = s.samples.iter().map(|x| x.t);
    floats.chain(s.histograms.iter().map(|x| x.t)).max()
}

/// Float samples, histograms and exemplars of a series.
fn series_samples(s: &OutgoingSeries) -> usize {
    s.samples.len() + s.histograms.len() + s.exemplars.len()
}

fn shard_of(labels: &Labels, shards: usize) -> usize {
    (labels.hash() % shards as u64) as usize
}

/// The configuration's `name`, or the first 6 hex digits of a hash of its URL and
/// settings when unnamed.
pub fn queue_name(config: &RemoteWriteConfig) -> String {
    if !config.name.is_empty() {
        return config.name.clone();
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{config:?}").hash(&mut h);
    format!("{:06x}", h.finish() & 0xff_ffff)
}

#[derive(Default)]
struct Shard {
    buf: Mutex<ShardBuffer>,
    /// Wakes the sending task: samples arrived.
    notify: Notify,
    /// Wakes a blocked [`QueueManager::append`]: samples left.
    space: Condvar,
}

/// A series waiting to be sent and the WAL record it came from.
struct Queued {
    series: OutgoingSeries,
    at: WalPosition,
}

#[derive(Default)]
struct ShardBuffer {
    series: VecDeque<Queued>,
    samples: usize,
    /// Oldest WAL position of the batch being sent.
    in_flight: Option<WalPosition>,
}

impl Shard {
    fn pending(&self) -> usize {
        self.buf.lock().samples
    }

    /// Up to `max` samples from the front, splitting a series that does not fit; they
    /// count as in flight until [`Shard::settled`].
    fn take(&self, max: usize) -> Vec<OutgoingSeries> {
        let mut buf = self.buf.lock();
        let mut out = Vec::new();
        let mut left = max;
        buf.in_flight = buf.series.front().map(|q| q.at);
        while left > 0 {
            let Some(front) = buf.series.front_mut() else {
                break;
            };
            let n = series_samples(&front.series);
            if n <= left {
                left -= n;
                buf.samples -= n;
                if let Some(q) = buf.series.pop_front() {
                    out.push(q.series);
                }
                continue;
            }
            let part = split_front(&mut front.series, left);
            buf.samples -= left;
            left = 0;
            out.push(part);
        }
        drop(buf);
        self.space.notify_all();
        out
    }

    /// The batch last taken was sent or given up on.
    fn settled(&self) {
        self.buf.lock().in_flight = None;
    }
}

/// Moves the first `n` samples of `s` (floats, then histograms, then exemplars) into a
/// new series with the same labels.
fn split_front(s: &mut OutgoingSeries, mut n: usize) -> OutgoingSeries {
    let floats = n.min(s.samples.len());
    n -= floats;
    let histograms = n.min(s.histograms.len());
    n -= histograms;
    let exemplars = n.min(s.exemplars.len());
    OutgoingSeries {
        labels: s.labels.clone(),
        samples: s.samples.drain(..floats).collect(),
        histograms: s.histograms.drain(..histograms).collect(),
        exemplars: s.exemplars.drain(..exemplars).collect(),
        metadata: s.metadata.clone(),
    }
}

async fn run_shard(shard: Arc<Shard>, endpoint: Arc<Endpoint>, mut stop: watch::Receiver<bool>) {
    let mut flush_until: Option<Instant> = None;
    let mut stopping = false;
    loop {
        let deadline = Instant::now() + endpoint.batch_send_deadline;
        while !stopping && shard.pending() < endpoint.max_samples_per_send {
            tokio::select! {
                _ = shard.notify.notified() => {}
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stop.changed() => stopping = is_stopping(&stop),
            }
        }
        stopping = stopping || is_stopping(&stop);
        if stopping && flush_until.is_none() {
            flush_until = Some(Instant::now() + endpoint.flush_deadline);
        }
        let batch = shard.take(endpoint.max_samples_per_send);
        if batch.is_empty() {
            if stopping {
                return;
            }
            continue;
        }
        let n: usize = batch.iter().map(series_samples).sum();
        endpoint.stats.sub_pending(n);
        endpoint.send(batch, flush_until, &stop).await;
        shard.settled();
    }
}

/// Stopped, or the queue manager is gone (then the shard flushes and ends too).
fn is_stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// What one attempt came to.
enum Attempt {
    Answered {
        status: u16,
        response: WriteResponse,
    },
    NetworkError(String),
}

impl Endpoint {
    /// Sends one batch, retrying recoverable errors; once stopping, until `flush_until`.
    async fn send(
        &self,
        mut batch: Vec<OutgoingSeries>,
        mut flush_until: Option<Instant>,
        stop: &watch::Receiver<bool>,
    ) {
        let mut backoff = self.min_backoff;
        let mut first = true;
        loop {
            if let Some(limit) = self.sample_age_limit {
                let dropped = drop_older_than(&mut batch, now_ms() - limit.as_millis() as i64);
                QueueStats::add(&self.stats.samples_dropped_total, dropped);
            }
            let n: usize = batch.iter().map(series_samples).sum();
            if n == 0 {
                return;
            }
            if !first {
                QueueStats::add(&self.stats.samples_retried_total, n);
            }
            first = false;
            let encoded = match EncodedWrite::new(self.message, &batch, &[]) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "remote write: encoding failed, dropping batch");
                    QueueStats::add(&self.stats.samples_failed_total, n);
                    return;
                }
            };
            let (retry_after, message) = match self.attempt(&encoded).await {
                Attempt::Answered { status, response } => match response.verdict {
                    WriteVerdict::Written => {
                        self.count_written(&batch, response);
                        return;
                    }
                    WriteVerdict::Retry { .. }
                        if status == 429 && !self.config.queue_config.retry_on_rate_limit =>
                    {
                        self.give_up(n, &format!("server returned HTTP status {status}"));
                        return;
                    }
                    WriteVerdict::Retry {
                        after_seconds,
                        message,
                    } => (after_seconds.map(Duration::from_secs), message),
                    WriteVerdict::Drop { message } => {
                        self.give_up(n, &message);
                        return;
                    }
                },
                Attempt::NetworkError(e) => (None, e),
            };
            if is_stopping(stop) {
                let until =
                    *flush_until.get_or_insert_with(|| Instant::now() + self.flush_deadline);
                if Instant::now() >= until {
                    self.stats.abandoned_at_stop.store(true, Ordering::Relaxed);
                    self.give_up(n, &format!("flush deadline passed: {message}"));
                    return;
                }
            }
            let sleep = retry_after.unwrap_or(backoff);
            tracing::warn!(url = %self.url, error = %message, retry_in = ?sleep, "remote write failed, retrying");
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    async fn attempt(&self, encoded: &EncodedWrite) -> Attempt {
        let mut req = self
            .client
            .post()
            .timeout(self.config.remote_timeout.to_std())
            .body(encoded.body.clone());
        for (name, value) in &self.config.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        for (name, value) in encoded.headers() {
            req = req.header(name, value);
        }
        let req = match self
            .config
            .http_client
            .authorize_with(req, self.oauth2.as_deref())
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::NetworkError(e.to_string()),
        };
        QueueStats::add(&self.stats.bytes_total, encoded.body.len());
        QueueStats::add(&self.stats.requests_total, 1);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::NetworkError(e.to_string()),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        // Only the start of an error body is kept, as upstream reads at most 1 KiB.
        let body = resp.bytes().await.unwrap_or_default();
        let body = &body[..body.len().min(1024)];
        let response = read_write_response(
            self.message,
            status,
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            body,
        );
        Attempt::Answered { status, response }
    }

    fn count_written(&self, batch: &[OutgoingSeries], response: WriteResponse) {
        let (mut s, mut h, mut e) = (0, 0, 0);
        if let Some(t) = batch.iter().filter_map(max_timestamp).max() {
            self.stats
                .highest_sent_timestamp
                .fetch_max(t, Ordering::Relaxed);
        }
        for series in batch {
            s += series.samples.len();
            h += series.histograms.len();
            e += series.exemplars.len();
        }
        // A 2.0 receiver says what it wrote; fewer than sent means a partial write.
        if let Some(w) = response.stats {
            let written = (w.samples + w.histograms + w.exemplars) as usize;
            if written < s + h + e {
                QueueStats::add(&self.stats.samples_failed_total, s + h + e - written);
            }
            (s, h, e) = (
                w.samples as usize,
                w.histograms as usize,
                w.exemplars as usize,
            );
        }
        QueueStats::add(&self.stats.samples_total, s);
        QueueStats::add(&self.stats.histograms_total, h);
        QueueStats::add(&self.stats.exemplars_total, e);
    }

    fn give_up(&self, n: usize, message: &str) {
        tracing::error!(url = %self.url, error = %message, samples = n, "remote write: non-recoverable error, dropping batch");
        QueueStats::add(&self.stats.samples_failed_total, n);
    }
}

/// Removes samples older than `min_t` (exemplars without a timestamp stay); returns how
/// many went.
fn drop_older_than(batch: &mut Vec<OutgoingSeries>, min_t: i64) -> usize {
    let mut dropped = 0;
    for s in batch.iter_mut() {
        let before = series_samples(s);
        s.samples.retain(|x| x.t >= min_t);
        s.histograms.retain(|x| x.t >= min_t);
        s.exemplars
            .retain(|x| x.timestamp.is_none_or(|t| t >= min_t));
        dropped += before - series_samples(s);
    }
    batch.retain(|s| series_samples(s) > 0);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_client::OutgoingSample;
    use hearth_model::labels;

    fn series(name: &str, n: usize) -> OutgoingSeries {
        OutgoingSeries {
            labels: labels!("__name__" => name),
            samples: (0..n)
                .map(|i| OutgoingSample {
                    st: 0,
                    t: i as i64,
                    v: i as f64,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn take_splits_series_at_the_batch_size() {
        let shard = Shard::default();
        {
            let mut b = shard.buf.lock();
            for (i, s) in [series("a", 3), series("b", 4)].into_iter().enumerate() {
                b.samples += series_samples(&s);
                let at = WalPosition {
                    segment: 1,
                    offset: i as u64,
                };
                b.series.push_back(Queued { series: s, at });
            }
        }
        let first = shard.take(5);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].samples.len(), 3);
        assert_eq!(first[1].samples.len(), 2);
        assert_eq!(first[1].samples[0].t, 0);
        let rest = shard.take(5);
        assert_eq!(rest.len(), 1);
        assert_eq!(
            rest[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(shard.pending(), 0);
        assert!(shard.take(5).is_empty());
    }

    #[test]
    fn old_samples_are_dropped() {
        let mut batch = vec![series("a", 4), series("b", 1)];
        assert_eq!(drop_older_than(&mut batch, 2), 3);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].samples.len(), 2);
    }
}
