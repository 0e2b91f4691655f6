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
use hearth_tsdb::db::{Db, DbOptions};
use hearth_tsdb::head::{NameCount, WalReplayProgress};
use hearth_tsdb::storage::{
    AppendError, Appendable, Appender, Querier, Queryable, SeriesRef, StorageError,
};
use hearth_web::{
    ExemplarSource, HeadStats, SeriesExemplars, TsdbAdmin, TsdbStat, TsdbStatus, WalReplayStatus,
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
}

/// The opened data directory: blocks and head, compaction and retention in the
/// database's own background thread.
pub struct ServerStorage {
    db: Db,
}

impl std::fmt::Debug for ServerStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStorage")
            .field("dir", &self.db.dir())
            .finish()
    }
}

/// Opens the blocks, then replays the head from the WAL, reporting replay into
/// `progress` (`/api/v1/status/walreplay` while the server is not ready).
pub fn open(
    opts: &StorageOptions,
    progress: Arc<WalReplayProgress>,
) -> Result<ServerStorage, OpenError> {
    let mut db_opts = DbOptions::with_retention(opts.retention_ms, opts.retention_bytes);
    db_opts.head.out_of_order_time_window = opts.out_of_order_time_window_ms;
    db_opts.head.max_exemplars = opts.max_exemplars;
    let db = Db::open_with_progress(&opts.path, db_opts, progress)?;
    for c in db.corrupted_blocks() {
        tracing::warn!(block = ?c, "skipping corrupted block");
    }
    tracing::info!(
        blocks = db.blocks().len(),
        head_series = db.head().num_series(),
        "TSDB started"
    );
    Ok(ServerStorage { db })
}

impl ServerStorage {
    /// Stops compaction and flushes the head's files.
    pub fn close(self) {
        if let Err(e) = self.db.close() {
            tracing::error!("closing the TSDB: {e}");
        }
    }
}

impl Appendable for ServerStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Appendable::appender(&self.db)
    }
}

impl Queryable for ServerStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        self.db.querier(mint, maxt)
    }
}

fn stats(list: Vec<NameCount>) -> Vec<TsdbStat> {
    list.into_iter()
        .map(|n| TsdbStat {
            name: n.name,
            value: n.count,
        })
        .collect()
}

fn replay_status(s: hearth_tsdb::head::WalReplayStatus) -> WalReplayStatus {
    WalReplayStatus {
        min: s.min,
        max: s.max,
        current: s.current,
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
        let st = self.db.tsdb_status(limit);
        let c = st.cardinality;
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series: st.head.num_series,
                num_label_pairs: st.head.num_label_pairs,
                chunk_count: i64::try_from(st.head.chunk_count).unwrap_or(i64::MAX),
                min_time: st.head.min_time,
                max_time: st.head.max_time,
            },
            series_count_by_metric_name: stats(c.series_count_by_metric_name),
            label_value_count_by_label_name: stats(c.label_value_count_by_label_name),
            memory_in_bytes_by_label_name: stats(c.memory_in_bytes_by_label_name),
            series_count_by_label_value_pair: stats(c.series_count_by_label_value_pair),
        })
    }

    fn wal_replay_status(&self) -> WalReplayStatus {
        replay_status(self.db.wal_replay_status())
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
            .db
            .head()
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
    /// WAL replay progress while the data directory opens.
    pub replay: Arc<WalReplayProgress>,
}

impl LateStorage {
    pub fn set(&self, s: Arc<ServerStorage>) {
        let _ = self.inner.set(s);
    }

    pub fn into_inner(self) -> Option<Arc<ServerStorage>> {
        self.inner.into_inner()
    }

    /// The earliest time stored, `None` while not open or empty.
    pub fn start_time(&self) -> Option<i64> {
        self.inner.get().and_then(|s| s.db.start_time())
    }

    /// The head's `prometheus_tsdb_*` metrics (none until the storage is open).
    pub fn head_metric_samples(&self) -> Vec<hearth_tsdb::head::MetricSample> {
        self.inner
            .get()
            .map(|s| s.db.head().stats().metric_samples())
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
        replay_status(self.replay.status())
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
