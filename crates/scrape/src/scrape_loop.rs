//! One target's scrape loop (upstream's `scrapeLoop.run`): wait for the target's offset
//! in the interval, then scrape on a ticker; each scrape is fetched, ingested and
//! reported in one transaction. When stopped, the loop waits about two intervals and
//! then writes staleness markers for everything it last scraped, unless the target came
//! back (its cache was handed to a new loop) or the server is shutting down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hearth_model::Timestamp;
use hearth_model::sample::now_ms;
use hearth_tsdb::storage::Appendable;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};
use tokio::time::MissedTickBehavior;

use crate::cache::ScrapeCache;
use crate::error::ScrapeError;
use crate::failure_log::FailureLog;
use crate::ingest::{IngestConfig, ScrapeReport};
use crate::scraper::TargetScraper;
use crate::target::Target;

/// What a loop shares with its pool.
pub(crate) struct LoopShared {
    pub cache: Arc<Mutex<ScrapeCache>>,
    pub forced_error: Mutex<Option<ScrapeError>>,
    pub no_end_staleness: AtomicBool,
}

pub(crate) struct ScrapeLoop {
    pub target: Arc<Target>,
    pub scraper: TargetScraper,
    pub cfg: IngestConfig,
    pub interval: Duration,
    pub appendable: Arc<dyn Appendable>,
    pub shared: Arc<LoopShared>,
    pub offset_seed: u64,
    pub skip_offsetting: bool,
    pub buf: Vec<u8>,
    /// `scrape_failure_log_file` of the job, with the job's name.
    pub failure_log: Option<(Arc<FailureLog>, String)>,
}

/// The pool's handle on a loop: created, started once, stopped once.
pub(crate) struct LoopHandle {
    pub id: u64,
    pub target: Arc<Target>,
    pub shared: Arc<LoopShared>,
    /// The loop's own configuration error (bad interval label), kept under any
    /// pool-wide forced error.
    pub own_error: Option<ScrapeError>,
    stop_tx: watch::Sender<bool>,
    stopped_rx: Option<oneshot::Receiver<()>>,
    pending: Option<(ScrapeLoop, watch::Receiver<bool>, watch::Receiver<bool>)>,
}

/// Resolves when the flag turns true or its sender is gone.
async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

impl LoopHandle {
    pub fn new(id: u64, l: ScrapeLoop, shutdown: watch::Receiver<bool>) -> LoopHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        LoopHandle {
            id,
            target: Arc::clone(&l.target),
            shared: Arc::clone(&l.shared),
            own_error: None,
            stop_tx,
            stopped_rx: None,
            pending: Some((l, stop_rx, shutdown)),
        }
    }

    pub fn set_forced_error(&self, e: Option<ScrapeError>) {
        *self.shared.forced_error.lock() = e.or_else(|| self.own_error.clone());
    }

    pub fn start(&mut self) {
        if let Some((l, stop, shutdown)) = self.pending.take() {
            let (tx, rx) = oneshot::channel();
            self.stopped_rx = Some(rx);
            tokio::spawn(l.run(stop, shutdown, tx));
        }
    }

    pub fn signal_stop(&self) {
        let _ = self.stop_tx.send(true);
    }

    /// Waits until the loop stopped scraping (its end-of-run staleness may follow).
    pub async fn wait_stopped(&mut self) {
        self.pending = None;
        if let Some(rx) = self.stopped_rx.take() {
            let _ = rx.await;
        }
    }
}

impl ScrapeLoop {
    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
        stopped: oneshot::Sender<()>,
    ) {
        let interval = self.interval.max(Duration::from_millis(1));
        if !self.skip_offsetting {
            let offset = self
                .target
                .offset(interval, self.offset_seed, SystemTime::now());
            tokio::select! {
                _ = tokio::time::sleep(offset) => {}
                _ = signalled(&mut stop) => { let _ = stopped.send(()); return; }
                _ = signalled(&mut shutdown) => { let _ = stopped.send(()); return; }
            }
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticker.tick().await;
        let iv_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        // Upstream's workaround for timer jitter: timestamps within 1% of the interval
        // (at most 2 ms) of the ideal grid are snapped to it, which compresses better.
        let tolerance = (iv_ms / 100).min(2);
        let mut aligned = now_ms();
        let mut scraped = false;
        let interval_length = crate::stats::interval_summary(self.interval);
        let mut last_start: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                let _ = stopped.send(());
                return;
            }
            if *stop.borrow() {
                break;
            }
            let mut scrape_time = now_ms();
            while scrape_time - aligned >= iv_ms {
                aligned += iv_ms;
            }
            if scrape_time - aligned <= tolerance {
                scrape_time = aligned;
            }
            let now = std::time::Instant::now();
            if let Some(last) = last_start {
                interval_length.observe(now.duration_since(last).as_secs_f64());
            }
            last_start = Some(now);
            self.scrape_and_report(scrape_time).await;
            scraped = true;
            tokio::select! {
                biased;
                _ = signalled(&mut shutdown) => { let _ = stopped.send(()); return; }
                _ = signalled(&mut stop) => break,
                _ = ticker.tick() => {}
            }
        }
        let _ = stopped.send(());
        if scraped && !self.shared.no_end_staleness.load(Ordering::Acquire) {
            self.end_of_run_staleness(ticker, shutdown).await;
        }
    }

    async fn scrape_and_report(&mut self, append_time: Timestamp) {
        let start = Instant::now();
        let start_wall = SystemTime::now();
        let forced = self.shared.forced_error.lock().clone();
        let mut content_type = String::new();
        let mut body_bytes = 0i64;
        let mut have_body = false;
        let scrape_err = match forced {
            Some(e) => Some(e),
            None => match self.scraper.scrape(&mut self.buf).await {
                Ok(ct) => {
                    content_type = ct;
                    body_bytes = self.buf.len() as i64;
                    have_body = true;
                    None
                }
                Err(e) => {
                    if e == ScrapeError::BodySizeLimit {
                        crate::stats::inc(&crate::stats::BODY_SIZE_LIMIT);
                        body_bytes = -1;
                    }
                    tracing::debug!(target = %self.target.url(), err = %e, "Scrape failed");
                    if let Some((log, job)) = &self.failure_log {
                        log.log(SystemTime::now(), job, self.target.url(), &e.to_string());
                    }
                    Some(e)
                }
            },
        };
        self.ingest(
            start,
            start_wall,
            append_time,
            have_body,
            &content_type,
            scrape_err,
            body_bytes,
        );
    }

    /// The synchronous half of a scrape: append, roll back on failure, report, commit.
    #[allow(clippy::too_many_arguments)]
    fn ingest(
        &mut self,
        start: Instant,
        start_wall: SystemTime,
        append_time: Timestamp,
        have_body: bool,
        content_type: &str,
        mut scrape_err: Option<ScrapeError>,
        body_bytes: i64,
    ) {
        let appendable = Arc::clone(&self.appendable);
        let mut cache = self.shared.cache.lock();
        let mut app = appendable.appender();
        let body: &[u8] = if have_body { &self.buf } else { &[] };
        let (stats, res) = cache.append(&self.cfg, app.as_mut(), body, content_type, append_time);
        if let Err(e) = res {
            let _ = app.rollback();
            app = appendable.appender();
            tracing::debug!(target = %self.target.url(), err = %e, "Append failed");
            if let Err(e2) = cache.append_failed(app.as_mut(), append_time) {
                let _ = app.rollback();
                app = appendable.appender();
                tracing::warn!(target = %self.target.url(), err = %e2, "Append failed");
            }
            if scrape_err.is_none() {
                scrape_err = Some(e);
            }
        }
        let duration = start.elapsed();
        let report = ScrapeReport {
            healthy: scrape_err.is_none(),
            duration,
            stats,
            body_bytes,
        };
        self.target
            .report(start_wall, duration, scrape_err.map(|e| e.to_string()));
        match cache.report(&self.cfg, app.as_mut(), append_time, &report) {
            Ok(()) => {
                if let Err(e) = app.commit() {
                    tracing::error!(target = %self.target.url(), err = %e, "Scrape commit failed");
                }
            }
            Err(e) => {
                tracing::warn!(target = %self.target.url(), err = %e, "Appending scrape report failed");
                let _ = app.rollback();
            }
        }
    }

    async fn end_of_run_staleness(
        &mut self,
        mut ticker: tokio::time::Interval,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Wait for when the next scrape would have been and take its time; wait one
        // more interval (a recreated target would have appended by then, making the
        // markers out of order and so ignored), plus 10%.
        let stale_time = tokio::select! {
            _ = signalled(&mut shutdown) => return,
            _ = ticker.tick() => now_ms(),
        };
        tokio::select! {
            _ = signalled(&mut shutdown) => return,
            _ = ticker.tick() => {}
        }
        tokio::select! {
            _ = signalled(&mut shutdown) => return,
            _ = tokio::time::sleep(self.interval / 10) => {}
        }
        if self.shared.no_end_staleness.load(Ordering::Acquire) {
            return;
        }
        let appendable = Arc::clone(&self.appendable);
        let mut cache = self.shared.cache.lock();
        let mut app = appendable.appender();
        if let (_, Err(e)) = cache.append(&self.cfg, app.as_mut(), &[], "", stale_time) {
            let _ = app.rollback();
            app = appendable.appender();
            tracing::warn!(target = %self.target.url(), err = %e, "Stale append failed");
        }
        if let Err(e) = cache.report_stale(&self.cfg, app.as_mut(), stale_time) {
            tracing::warn!(target = %self.target.url(), err = %e, "Stale report failed");
            let _ = app.rollback();
            return;
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target.url(), err = %e, "Stale commit failed");
        }
    }
}
