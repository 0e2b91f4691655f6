//! The server's storage: the data directory's persistent blocks (`Db`) with the head
//! (WAL) plugged in, behind the storage interface and the web crate's TSDB admin and
//! exemplar traits.
//!
//! [`open`] is the one place that knows how the pieces fit, so that when the database
//! owns its head (and runs compaction and retention itself) only this module changes.
//! [`LateStorage`] is what the HTTP server holds while the head replays its WAL: queries
//! and appends fail with "TSDB not ready" until [`LateStorage::set`] is called, as
//! upstream's `readyStorage`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hearth_model::{Exemplar, Labels, Matcher, Metadata, Timestamp};
use hearth_tsdb::block_source::{BlockSource, SourceSeriesIter};
use hearth_tsdb::db::{Db, DbHead, DbOptions};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{
    AppendError, Appendable, Appender, Querier, Queryable, SeriesRef, StorageError,
};
use hearth_web::{
    ExemplarSource, SeriesExemplars, TsdbAdmin, TsdbStatus, WalReplayStatus, cardinality,
};

/// How to open the data directory.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub path: PathBuf,
    /// ms; 0 disables time retention.
    pub retention_ms: i64,
    /// bytes; 0 disables size retention.
    pub retention_bytes: u64,
    /// `storage.tsdb.out_of_order_time_window` (ms).
    pub out_of_order_time_window_ms: i64,
    /// `storage.exemplars.max_exemplars`.
    pub max_exemplars: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening storage failed: {0}")]
    Db(#[from] hearth_tsdb::db::DbError),
    #[error("opening storage failed: {0}")]
    Head(#[from] hearth_tsdb::head::HeadError),
}

/// The head as the database sees it, until the head implements [`DbHead`] itself.
struct HeadAsDbHead(Arc<Head>);

impl BlockSource for HeadAsDbHead {
    fn time_range(&self) -> (i64, i64) {
        self.0.time_range()
    }
    fn symbols(&self, mint: i64, maxt: i64) -> Result<Vec<String>, StorageError> {
        self.0.symbols(mint, maxt)
    }
    fn series_in_range(&self, mint: i64, maxt: i64) -> Result<SourceSeriesIter<'_>, StorageError> {
        self.0.series_in_range(mint, maxt)
    }
}

impl Queryable for HeadAsDbHead {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Queryable::querier(&*self.0, mint, maxt)
    }
}

impl DbHead for HeadAsDbHead {
    fn delete(&self, _: Timestamp, _: Timestamp, _: &[Matcher]) -> Result<(), StorageError> {
        Err(StorageError::Io(
            "deleting samples from the head is not supported yet".to_string(),
        ))
    }
}

/// The opened data directory.
pub struct ServerStorage {
    db: Db,
    head: Arc<Head>,
}

impl std::fmt::Debug for ServerStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStorage")
            .field("dir", &self.db.dir())
            .finish()
    }
}

/// Opens the blocks, then replays the head from the WAL.
pub fn open(opts: &StorageOptions) -> Result<ServerStorage, OpenError> {
    let db = Db::open(
        &opts.path,
        DbOptions::with_retention(opts.retention_ms, opts.retention_bytes),
    )?;
    for c in db.corrupted_blocks() {
        tracing::warn!(block = ?c, "skipping corrupted block");
    }
    let min_valid_time = db.blocks().last().map_or(i64::MIN, |b| b.max_time());
    let head = Head::open(
        &opts.path,
        HeadOptions {
            out_of_order_time_window: opts.out_of_order_time_window_ms,
            max_exemplars: opts.max_exemplars,
            min_valid_time,
            ..HeadOptions::default()
        },
    )?;
    let head = Arc::new(head);
    db.set_head(Arc::new(HeadAsDbHead(head.clone())));
    tracing::info!(
        blocks = db.blocks().len(),
        head_series = head.num_series(),
        "TSDB started"
    );
    Ok(ServerStorage { db, head })
}

impl ServerStorage {
    /// Flushes the head's files.
    pub fn close(self) {
        let ServerStorage { db, head } = self;
        drop(db);
        match Arc::try_unwrap(head) {
            Ok(head) => {
                if let Err(e) = head.close() {
                    tracing::error!("closing the head: {e}");
                }
            }
            Err(_) => tracing::warn!("head still in use at shutdown; not flushed"),
        }
    }
}

impl Appendable for ServerStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Appendable::appender(&*self.head)
    }
}

impl Queryable for ServerStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        self.db.querier(mint, maxt)
    }
}

impl TsdbAdmin for ServerStorage {
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), String> {
        self.db.snapshot(dir, with_head).map_err(|e| e.to_string())
    }

    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), String> {
        self.db
            .delete(mint, maxt, matchers)
            .map_err(|e| e.to_string())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        self.db.clean_tombstones().map_err(|e| e.to_string())
    }

    fn stats(&self, limit: usize) -> Result<TsdbStatus, String> {
        let stats = self.head.stats();
        let q = self.head.querier(i64::MIN, i64::MAX);
        let all = [Matcher::new(
            hearth_model::MatchOp::NotEqual,
            hearth_model::METRIC_NAME,
            "",
        )
        .map_err(|e| e.to_string())?];
        let set = Querier::select(&q, false, None, &all).map_err(|e| e.to_string())?;
        let labels: Vec<Labels> = set.series.iter().map(|s| s.labels().clone()).collect();
        let mut status = cardinality(labels.iter(), limit);
        status.head_stats.num_series = stats.series;
        status.head_stats.chunk_count = stats.chunks as i64;
        status.head_stats.min_time = stats.min_time;
        status.head_stats.max_time = stats.max_time;
        Ok(status)
    }

    fn wal_replay_status(&self) -> WalReplayStatus {
        // Replay is over once the storage is open.
        WalReplayStatus::default()
    }
}

impl ExemplarSource for ServerStorage {
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<SeriesExemplars>, String> {
        Ok(self
            .head
            .exemplars(mint, maxt, matcher_sets)
            .into_iter()
            .map(|r| SeriesExemplars {
                series_labels: r.series_labels,
                exemplars: r.exemplars,
            })
            .collect())
    }
}

const NOT_READY: &str = "TSDB not ready";

/// The storage the server holds from the start: empty until the data directory is open.
#[derive(Default)]
pub struct LateStorage {
    inner: OnceLock<Arc<ServerStorage>>,
}

impl LateStorage {
    pub fn set(&self, s: Arc<ServerStorage>) {
        let _ = self.inner.set(s);
    }

    pub fn into_inner(self) -> Option<Arc<ServerStorage>> {
        self.inner.into_inner()
    }

    /// The head's `prometheus_tsdb_*` metrics (none until the storage is open).
    pub fn head_metric_samples(&self) -> Vec<hearth_tsdb::head::MetricSample> {
        self.inner
            .get()
            .map(|s| s.head.stats().metric_samples())
            .unwrap_or_default()
    }
}

fn not_ready<T>() -> Result<T, AppendError> {
    Err(AppendError::Io(NOT_READY.to_string()))
}

/// Refuses every sample while the storage is not open.
struct NotReadyAppender;

impl Appender for NotReadyAppender {
    fn append(
        &mut self,
        _: Option<SeriesRef>,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> Result<SeriesRef, AppendError> {
        not_ready()
    }
    fn append_histogram(
        &mut self,
        _: Option<SeriesRef>,
        _: &Labels,
        _: Timestamp,
        _: &hearth_model::HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        not_ready()
    }
    fn append_exemplar(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        not_ready()
    }
    fn update_metadata(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        not_ready()
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
}

impl Appendable for LateStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        match self.inner.get() {
            Some(s) => s.appender(),
            None => Box::new(NotReadyAppender),
        }
    }
}

impl Queryable for LateStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        match self.inner.get() {
            Some(s) => s.querier(mint, maxt),
            None => Err(StorageError::Io(NOT_READY.to_string())),
        }
    }
}

impl TsdbAdmin for LateStorage {
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), String> {
        self.ready()?.snapshot(dir, with_head)
    }
    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), String> {
        self.ready()?.delete(mint, maxt, matchers)
    }
    fn clean_tombstones(&self) -> Result<(), String> {
        self.ready()?.clean_tombstones()
    }
    fn stats(&self, limit: usize) -> Result<TsdbStatus, String> {
        self.ready()?.stats(limit)
    }
    fn wal_replay_status(&self) -> WalReplayStatus {
        self.inner
            .get()
            .map_or_else(WalReplayStatus::default, |s| s.wal_replay_status())
    }
}

impl ExemplarSource for LateStorage {
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<SeriesExemplars>, String> {
        self.ready()?.exemplars(mint, maxt, matcher_sets)
    }
}

impl LateStorage {
    fn ready(&self) -> Result<&Arc<ServerStorage>, String> {
        self.inner.get().ok_or_else(|| NOT_READY.to_string())
    }
}
