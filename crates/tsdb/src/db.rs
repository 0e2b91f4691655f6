//! [`Db`]: a Prometheus data directory — its blocks, its head, and the policies over
//! them, as upstream's `tsdb.DB`.
//!
//! Owns opening the directory as upstream does (lock file `lock`, leftover
//! `*.tmp-for-creation`/`*.tmp-for-deletion` directories removed, blocks found by their
//! ULID names, the head replayed from `wal/` and `chunks_head/`), the appender and the
//! merged querier over head and blocks, and a background thread that cuts the head into
//! blocks, truncates it and checkpoints the WAL, runs leveled compaction and applies
//! retention (blocks replaced by a compaction, marked deletable, or past the time or size
//! retention are deleted; a corrupted block is reported and skipped, never fatal).
//! Deletion reaches blocks (tombstone files) and the head (tombstone WAL records).
//!
//! Invariants:
//! - the WAL is written before the head changes (the head's own invariant), so a commit
//!   that returned `Ok` survives a crash at any later moment;
//! - a range of the head is truncated only after the block holding it is on disk and
//!   loaded; commits wait while that happens (`commit_gate`), so none lands in a range
//!   between its block being written and the head being truncated;
//! - size retention counts blocks plus the `wal`, `wbl` and `chunks_head` directories,
//!   as upstream's head size does.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use hearth_model::{Exemplar, HistogramValue, Labels, Matcher, Metadata, Timestamp};

use crate::block::{Block, BlockError};
use crate::block_meta::{BlockMeta, Ulid, read_meta};
use crate::block_source::BlockSource;
use crate::compact::{
    CompactError, DEFAULT_BLOCK_DURATION, LeveledCompactor, TMP_FOR_CREATION_SUFFIX,
    TMP_FOR_DELETION_SUFFIX, TMP_LEGACY_SUFFIX, exponential_block_ranges,
};
use crate::head::{
    Cardinality, Head, HeadAppender, HeadError, HeadOptions, WAL_DIR, WalReplayProgress,
    WalReplayStatus,
};
use crate::merge::MergeQuerier;
use crate::series_chunker::range_end;
use crate::storage::{
    AppendError, Appendable, Appender, Querier, Queryable, SeriesRef, StorageError,
};
use crate::tombstones::TombstoneReader;

/// Name of the lock file in the data directory.
pub const LOCK_FILENAME: &str = "lock";
/// Fifteen days: Prometheus' default `--storage.tsdb.retention.time`.
pub const DEFAULT_RETENTION: i64 = 15 * 24 * 60 * 60 * 1000;
/// Directories whose size counts towards size retention besides the blocks.
const HEAD_DIRS: [&str; 3] = ["wal", "wbl", "chunks_head"];

/// Options of a [`Db`], with Prometheus' flag semantics.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `--storage.tsdb.retention.time` in ms; 0 disables time retention.
    pub retention_duration: i64,
    /// `--storage.tsdb.retention.size` in bytes; 0 disables size retention.
    pub max_bytes: u64,
    /// Range of the blocks cut from the head (ms).
    pub min_block_duration: i64,
    /// Largest block compaction may produce (ms).
    pub max_block_duration: i64,
    /// `--storage.tsdb.no-lockfile`.
    pub no_lockfile: bool,
    /// Compact overlapping blocks into one (always on in Prometheus).
    pub enable_overlapping_compaction: bool,
    /// Chunk segment file size of written blocks; 0 for 512 MiB.
    pub chunk_segment_size: u64,
    /// The head's options (WAL, out-of-order window, limits). Its chunk range is the
    /// smallest block range and its minimum valid time follows the newest block.
    pub head: HeadOptions,
    /// How often the background thread looks for compaction work (upstream: every
    /// minute); `None` runs no thread (callers run [`DbCore::compact`] themselves).
    pub compaction_interval: Option<Duration>,
}

impl Default for DbOptions {
    fn default() -> DbOptions {
        DbOptions::with_retention(DEFAULT_RETENTION, 0)
    }
}

impl DbOptions {
    /// Options for the given retention, with the maximum block duration Prometheus
    /// derives from it: a tenth of the time retention, at most 31 days.
    pub fn with_retention(retention_duration: i64, max_bytes: u64) -> DbOptions {
        let mut max_block = 31 * 24 * 60 * 60 * 1000;
        if retention_duration != 0 && retention_duration / 10 < max_block {
            max_block = retention_duration / 10;
        }
        DbOptions {
            retention_duration,
            max_bytes,
            min_block_duration: DEFAULT_BLOCK_DURATION,
            max_block_duration: max_block.max(DEFAULT_BLOCK_DURATION),
            no_lockfile: false,
            enable_overlapping_compaction: true,
            chunk_segment_size: 0,
            head: HeadOptions::default(),
            compaction_interval: Some(Duration::from_secs(60)),
        }
    }

    /// The compaction ranges: 2h, 6h, 18h, … up to the maximum block duration.
    pub fn block_ranges(&self) -> Vec<i64> {
        let min = if self.min_block_duration > 0 {
            self.min_block_duration
        } else {
            DEFAULT_BLOCK_DURATION
        };
        let max = self.max_block_duration.max(min);
        exponential_block_ranges(min, 10, 3)
            .into_iter()
            .take_while(|&r| r <= max)
            .collect()
    }
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("lock DB directory {}: {source}", path.display())]
    Locked {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Compact(#[from] CompactError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("snapshot: {0}")]
    Snapshot(String),
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> DbError + 'a {
    move |source| DbError::Block(BlockError::io(path, op, source))
}

/// A block directory that could not be opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptBlock {
    pub dir: PathBuf,
    pub ulid: Ulid,
    /// What is wrong, naming the file.
    pub error: String,
}

/// An exclusive `flock` on `<dir>/lock`, released (and the file removed) on drop.
struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    fn acquire(path: PathBuf) -> Result<DirLock, DbError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| DbError::Locked {
                path: path.clone(),
                source,
            })?;
        lock_exclusive(&file).map_err(|source| DbError::Locked {
            path: path.clone(),
            source,
        })?;
        if existed {
            tracing::warn!(file = %path.display(), "A lockfile from a previous execution already existed. It was replaced");
        }
        Ok(DirLock { path, _file: file })
    }
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> io::Result<()> {
    Ok(())
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // The lock itself goes with the file descriptor.
        let _ = fs::remove_file(&self.path);
    }
}

/// Counters of the background work, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Compaction cycles run (timer, commit signal or [`Db::compact`]).
    pub cycles: u64,
    /// Cycles that ended in an error.
    pub cycles_failed: u64,
    /// Blocks cut from the head.
    pub head_blocks: u64,
    /// Blocks written by merging blocks (leveled or vertical compaction).
    pub compacted_blocks: u64,
    /// The last cycle's error, if it failed.
    pub last_error: Option<String>,
}

/// The head part of `/api/v1/status/tsdb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadStatus {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// First and last sample times of the head (ms); `i64::MAX`/`i64::MIN` when empty.
    pub min_time: i64,
    pub max_time: i64,
}

/// What `/api/v1/status/tsdb` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsdbStatus {
    pub head: HeadStatus,
    pub cardinality: Cardinality,
}

/// What the background thread is told.
enum Signal {
    /// An appender committed into a head that is compactable.
    Compact,
    Stop,
}

/// The background thread and how to reach it.
struct Background {
    tx: SyncSender<Signal>,
    handle: JoinHandle<()>,
}

/// A data directory: its blocks, its head, and the policies over them.
///
/// The background thread started by [`Db::open`] (unless
/// [`DbOptions::compaction_interval`] is `None`) runs [`Db::compact`] on a timer and when a
/// commit leaves the head compactable; [`Db::close`] stops it and syncs the head. Dropping
/// a `Db` without closing it stops the thread too but leaves the head's files as a crash
/// would: everything acknowledged is in the WAL already.
pub struct Db {
    core: Arc<DbCore>,
    background: Mutex<Option<Background>>,
}

/// The shared state of a [`Db`]; every method of it is reachable through `Db`.
pub struct DbCore {
    dir: PathBuf,
    opts: DbOptions,
    compactor: LeveledCompactor,
    /// Loaded blocks, ascending by min time.
    blocks: RwLock<Vec<Arc<Block>>>,
    corrupted: RwLock<Vec<CorruptBlock>>,
    head: Head,
    /// Serialises everything that changes the set of blocks on disk.
    cmtx: Mutex<()>,
    /// Commits hold it shared; cutting the head into a block holds it exclusively from
    /// writing the block to truncating the head, so that no sample committed meanwhile
    /// is truncated without being in the block.
    commit_gate: RwLock<()>,
    closed: AtomicBool,
    /// Wakes the background thread; `None` without one.
    wake: Mutex<Option<SyncSender<Signal>>>,
    replay: Arc<WalReplayProgress>,
    stats: Mutex<DbStats>,
    _lock: Option<DirLock>,
}

impl std::ops::Deref for Db {
    type Target = DbCore;
    fn deref(&self) -> &DbCore {
        &self.core
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .field("blocks", &self.blocks.read().len())
            .field("head_series", &self.head.num_series())
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a ULID (a block directory name).
fn parse_ulid(name: &str) -> Option<Ulid> {
    if name.len() != 26 {
        return None;
    }
    Ulid::from_string(name).ok()
}

/// Leftovers of interrupted block writes and deletions.
fn is_tmp_dir(name: &str) -> bool {
    [
        TMP_FOR_CREATION_SUFFIX,
        TMP_FOR_DELETION_SUFFIX,
        TMP_LEGACY_SUFFIX,
    ]
    .iter()
    .any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|stem| stem.starts_with("chunk_snapshot.") || parse_ulid(stem).is_some())
    })
}

fn remove_tmp_dirs(dir: &Path) -> Result<(), DbError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, "read directory")(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "read directory"))?;
        let path = entry.path();
        if path.is_dir() && entry.file_name().to_str().is_some_and(is_tmp_dir) {
            match fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(dir = %path.display(), "Found and deleted tmp block dir"),
                Err(e) => {
                    tracing::error!(dir = %path.display(), "failed to delete tmp block dir: {e}")
                }
            }
        }
    }
    Ok(())
}

/// Total size of the files under `path` (0 when it does not exist).
fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Opens every block directory in `dir`, reusing blocks of `loaded` with the same ULID.
/// Returns the open blocks (ascending by min time) and those that failed.
pub fn open_blocks(
    dir: &Path,
    loaded: &[Arc<Block>],
) -> Result<(Vec<Arc<Block>>, Vec<CorruptBlock>), DbError> {
    let mut blocks = Vec::new();
    let mut corrupted = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err(dir, "read directory"))?;
    let mut dirs: Vec<(Ulid, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "read directory"))?;
        let Some(ulid) = entry.file_name().to_str().and_then(parse_ulid) else {
            continue;
        };
        if entry.path().is_dir() {
            dirs.push((ulid, entry.path()));
        }
    }
    dirs.sort();
    for (ulid, path) in dirs {
        let meta_ulid = match read_meta(&path) {
            Ok((m, _)) => m.ulid,
            Err(e) => {
                corrupted.push(CorruptBlock {
                    dir: path,
                    ulid,
                    error: e.to_string(),
                });
                continue;
            }
        };
        if let Some(b) = loaded.iter().find(|b| b.ulid() == meta_ulid) {
            blocks.push(Arc::clone(b));
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(b),
            Err(e) => corrupted.push(CorruptBlock {
                dir: path,
                ulid: meta_ulid,
                error: e.to_string(),
            }),
        }
    }
    blocks.sort_by_key(|b| b.min_time());
    Ok((blocks, corrupted))
}

impl Db {
    /// Opens (creating if needed) the data directory `dir`: removes leftovers of
    /// interrupted writes, takes the lock, loads the blocks (applying retention), opens
    /// the head (replaying `chunks_head/`, the WAL and the WBL), and starts the
    /// background thread.
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db, DbError> {
        Db::open_with_progress(dir, opts, Arc::new(WalReplayProgress::default()))
    }

    /// [`Db::open`], reporting WAL replay into `progress` while it runs (what
    /// `/api/v1/status/walreplay` shows before the database is ready).
    pub fn open_with_progress(
        dir: impl AsRef<Path>,
        opts: DbOptions,
        progress: Arc<WalReplayProgress>,
    ) -> Result<Db, DbError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create data directory"))?;
        for d in [dir.join(WAL_DIR), dir.clone()] {
            remove_tmp_dirs(&d)?;
        }
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(DirLock::acquire(dir.join(LOCK_FILENAME))?)
        };
        let ranges = opts.block_ranges();
        let compactor = LeveledCompactor::new(ranges.clone())
            .with_chunk_segment_size(opts.chunk_segment_size)
            .with_overlapping_compaction(opts.enable_overlapping_compaction);
        // Retention and obsolete blocks are handled before the head exists; its files
        // count towards size retention through the directory sizes.
        let (blocks, corrupted) = open_blocks(&dir, &[])?;
        let mut head_opts = opts.head.clone();
        head_opts.chunk_range = ranges.first().copied().unwrap_or(DEFAULT_BLOCK_DURATION);
        // Samples older than the newest block are in blocks already (upstream's
        // `minValidTime`).
        if let Some(max) = blocks.iter().map(|b| b.max_time()).max() {
            head_opts.min_valid_time = head_opts.min_valid_time.max(max);
        }
        head_opts.replay_progress = Some(progress.clone());
        let head = Head::open(&dir, head_opts)?;
        let core = Arc::new(DbCore {
            dir,
            opts,
            compactor,
            blocks: RwLock::new(blocks),
            corrupted: RwLock::new(corrupted),
            head,
            cmtx: Mutex::new(()),
            commit_gate: RwLock::new(()),
            closed: AtomicBool::new(false),
            wake: Mutex::new(None),
            replay: progress,
            stats: Mutex::new(DbStats::default()),
            _lock: lock,
        });
        core.reload()?;
        let db = Db {
            core,
            background: Mutex::new(None),
        };
        if let Some(every) = db.opts.compaction_interval {
            db.start_background(every)?;
        }
        Ok(db)
    }

    fn start_background(&self, every: Duration) -> Result<(), DbError> {
        let (tx, rx) = sync_channel::<Signal>(1);
        let core = Arc::clone(&self.core);
        let handle = std::thread::Builder::new()
            .name("tsdb-compact".into())
            .spawn(move || background_loop(&core, &rx, every))
            .map_err(io_err(&self.dir, "start the compaction thread"))?;
        *self.wake.lock() = Some(tx.clone());
        *self.background.lock() = Some(Background { tx, handle });
        Ok(())
    }

    fn stop_background(&self) {
        *self.wake.lock() = None;
        if let Some(bg) = self.background.lock().take() {
            // The thread may be mid-cycle; the channel holds one message, so this waits at
            // most for the cycle to end.
            let _ = bg.tx.send(Signal::Stop);
            if bg.handle.join().is_err() {
                tracing::error!("compaction thread panicked");
            }
        }
    }

    /// Stops the background thread (waiting for a running cycle), then writes the head's
    /// pending chunks and syncs its WAL. Appenders fail with [`AppendError::Closed`]
    /// afterwards.
    pub fn close(self) -> Result<(), DbError> {
        self.stop_background();
        let _g = self.commit_gate.write();
        self.closed.store(true, Ordering::Release);
        self.head.sync()?;
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop_background();
    }
}

fn background_loop(core: &DbCore, rx: &Receiver<Signal>, every: Duration) {
    loop {
        match rx.recv_timeout(every) {
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Signal::Compact) | Err(RecvTimeoutError::Timeout) => {}
        }
        if core.closed.load(Ordering::Acquire) {
            return;
        }
        // Also on a timer so that quiet heads do not hold complete chunks in memory.
        if let Err(e) = core.head.mmap_head_chunks() {
            tracing::error!(error = %e, "writing head chunks to disk failed");
        }
        if let Err(e) = core.compact() {
            tracing::error!(error = %e, "compaction failed");
        }
    }
}

impl DbCore {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub fn compactor(&self) -> &LeveledCompactor {
        &self.compactor
    }

    /// The head. Appends should go through [`DbCore::appender`], which keeps commits out
    /// of the way of head compaction.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The loaded blocks, ascending by min time.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Block directories found at the last reload that could not be opened.
    pub fn corrupted_blocks(&self) -> Vec<CorruptBlock> {
        self.corrupted.read().clone()
    }

    /// Counters of the background work.
    pub fn stats(&self) -> DbStats {
        self.stats.lock().clone()
    }

    /// Bytes of all loaded blocks.
    pub fn blocks_size(&self) -> u64 {
        self.blocks.read().iter().map(|b| b.size()).sum()
    }

    /// Bytes of the head's files (WAL, WBL, head chunks), as upstream's `Head.Size()`.
    pub fn head_size(&self) -> u64 {
        HEAD_DIRS.iter().map(|d| dir_size(&self.dir.join(d))).sum()
    }

    /// The earliest time stored: the first block's start, else the head's.
    pub fn start_time(&self) -> Option<Timestamp> {
        if let Some(b) = self.blocks.read().first() {
            return Some(b.min_time());
        }
        let (t, _) = self.head.time_range();
        (t != Timestamp::MAX).then_some(t)
    }

    /// WAL replay progress (`/api/v1/status/walreplay`).
    pub fn wal_replay_status(&self) -> WalReplayStatus {
        self.replay.status()
    }

    /// `/api/v1/status/tsdb`: the head's size and time range and its cardinality, each
    /// list the `limit` largest (upstream shows 10).
    pub fn tsdb_status(&self, limit: usize) -> TsdbStatus {
        let st = self.head.stats();
        let cardinality = self.head.cardinality(limit);
        TsdbStatus {
            head: HeadStatus {
                num_series: st.series,
                num_label_pairs: cardinality.num_label_pairs,
                chunk_count: st.chunks,
                min_time: st.min_time,
                max_time: st.max_time,
            },
            cardinality,
        }
    }

    /// Re-reads the directory: opens new blocks, deletes those replaced by compactions,
    /// marked deletable or past retention, reports corrupted ones.
    pub fn reload(&self) -> Result<(), DbError> {
        let _g = self.cmtx.lock();
        self.reload_locked()
    }

    fn reload_locked(&self) -> Result<(), DbError> {
        let loaded = self.blocks();
        let (loadable, mut corrupted) = open_blocks(&self.dir, &loaded)?;
        let mut deletable: Vec<Ulid> = self.blocks_to_delete(&loadable);
        // Parents of loaded blocks were compacted into them: their deletion may have
        // been interrupted by a crash; finish it.
        for b in &loadable {
            for p in b.meta().compaction.parents {
                if let Some(i) = corrupted.iter().position(|c| c.ulid == p.ulid) {
                    tracing::warn!(block = %p.ulid, "Found corrupted block, but replaced by compacted one so it's safe to delete");
                    corrupted.remove(i);
                }
                deletable.push(p.ulid);
            }
        }
        for c in &corrupted {
            tracing::error!(dir = %c.dir.display(), "skipping corrupted block: {}", c.error);
        }
        let to_load: Vec<Arc<Block>> = loadable
            .into_iter()
            .filter(|b| !deletable.contains(&b.ulid()))
            .collect();
        let metas: Vec<BlockMeta> = to_load.iter().map(|b| b.meta()).collect();
        for w in metas.windows(2) {
            if w[1].min_time < w[0].max_time {
                tracing::warn!(a = %w[0].ulid, b = %w[1].ulid, "Overlapping blocks found during reloadBlocks");
            }
        }
        *self.blocks.write() = to_load;
        *self.corrupted.write() = corrupted;
        deletable.sort();
        deletable.dedup();
        for ulid in deletable {
            self.delete_block_dir(ulid)?;
        }
        Ok(())
    }

    /// Upstream's `deletableBlocks`: marked deletable, beyond time retention, beyond
    /// size retention.
    fn blocks_to_delete(&self, blocks: &[Arc<Block>]) -> Vec<Ulid> {
        let mut metas: Vec<(BlockMeta, u64)> =
            blocks.iter().map(|b| (b.meta(), b.size())).collect();
        // Newest first.
        metas.sort_by_key(|m| std::cmp::Reverse(m.0.max_time));
        let mut out: Vec<Ulid> = metas
            .iter()
            .filter(|(m, _)| m.compaction.deletable)
            .map(|(m, _)| m.ulid)
            .collect();
        if let Some((newest, _)) = metas.first()
            && self.opts.retention_duration > 0
            && let Some(i) = metas
                .iter()
                .enumerate()
                .skip(1)
                .find(|(_, (m, _))| newest.max_time - m.max_time >= self.opts.retention_duration)
                .map(|(i, _)| i)
        {
            tracing::info!(
                count = metas.len() - i,
                "deleting blocks beyond time retention"
            );
            out.extend(metas[i..].iter().map(|(m, _)| m.ulid));
        }
        if self.opts.max_bytes > 0 && !metas.is_empty() {
            let mut size = self.head_size();
            for (i, (_, bytes)) in metas.iter().enumerate() {
                size += bytes;
                if size > self.opts.max_bytes {
                    tracing::info!(
                        count = metas.len() - i,
                        "deleting blocks beyond size retention"
                    );
                    out.extend(metas[i..].iter().map(|(m, _)| m.ulid));
                    break;
                }
            }
        }
        out
    }

    /// Removes a block directory atomically: rename to `.tmp-for-deletion`, then delete.
    fn delete_block_dir(&self, ulid: Ulid) -> Result<(), DbError> {
        let dir = self.dir.join(ulid.to_string());
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{ulid}{TMP_FOR_DELETION_SUFFIX}"));
        fs::rename(&dir, &tmp).map_err(io_err(&dir, "rename obsolete block for deletion"))?;
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp, "delete obsolete block"))?;
        tracing::info!(block = %ulid, "Deleting obsolete block");
        Ok(())
    }

    /// A transaction on the head. Commits fail with [`AppendError::Closed`] after
    /// [`Db::close`]; a commit that leaves the head compactable wakes the background
    /// thread.
    pub fn appender(&self) -> DbAppender<'_> {
        DbAppender {
            db: self,
            inner: self.head.appender(),
        }
    }

    /// One compaction cycle, as upstream's `DB.Compact`: cuts the head's oldest chunk
    /// range into a block while the head spans more than one and a half ranges
    /// (truncating the head and checkpointing the WAL after each), cuts out-of-order data
    /// that fell behind the head, then merges blocks as the leveled planner says. Every
    /// reload on the way applies retention. Returns the blocks written.
    pub fn compact(&self) -> Result<Vec<Ulid>, DbError> {
        let mut created = Vec::new();
        let r = self.compact_inner(&mut created).map(|()| created);
        let mut st = self.stats.lock();
        st.cycles += 1;
        match &r {
            Ok(_) => st.last_error = None,
            Err(e) => {
                st.cycles_failed += 1;
                st.last_error = Some(e.to_string());
            }
        }
        r
    }

    fn compact_inner(&self, created: &mut Vec<Ulid>) -> Result<(), DbError> {
        let _g = self.cmtx.lock();
        {
            // Commits wait from the first block written to the last truncation, so that
            // none lands in a range after its block was written and before the head
            // dropped it.
            let _w = self.commit_gate.write();
            self.cut_ooo_behind_head(created)?;
            let range = self.head.chunk_range();
            while !self.closed.load(Ordering::Acquire) && self.head.compactable() {
                let end = range_end(self.head.min_time(), range);
                created.extend(self.write_head_block(end - range, end)?);
                self.head.truncate(end)?;
            }
        }
        self.truncate_wbl_if_drained();
        self.compact_blocks_locked(created)
    }

    /// Writes out-of-order data older than the in-order head's first range as blocks,
    /// one per range (they may overlap blocks already there; vertical compaction merges
    /// them), then drops it from the head. Chunks straddling the boundary stay; what
    /// they hold before it is in the blocks.
    fn cut_ooo_behind_head(&self, created: &mut Vec<Ulid>) -> Result<(), DbError> {
        let range = self.head.chunk_range();
        let head_min = self.head.min_time();
        let (ooo_min, _) = self.head.ooo_time_range();
        if head_min == i64::MAX || ooo_min == i64::MAX {
            return Ok(());
        }
        let boundary = range_end(head_min, range) - range;
        let mut start = range_end(ooo_min, range) - range;
        if start >= boundary {
            return Ok(());
        }
        while start < boundary {
            created.extend(self.write_head_block(start, start + range)?);
            start += range;
        }
        self.head.truncate_ooo_before(boundary);
        Ok(())
    }

    /// Writes the head's data in `[mint, maxt)` as a block and loads it.
    fn write_head_block(&self, mint: i64, maxt: i64) -> Result<Option<Ulid>, DbError> {
        let meta = self
            .compactor
            .write(&self.dir, &self.head, mint, maxt, None)?;
        if meta.is_some() {
            self.stats.lock().head_blocks += 1;
        }
        self.reload_locked()?;
        Ok(meta.map(|m| m.ulid))
    }

    /// Deletes the write-behind log once no out-of-order data is left in the head: all of
    /// it is in blocks then.
    fn truncate_wbl_if_drained(&self) {
        let _w = self.commit_gate.write();
        let (ooo_min, _) = self.head.ooo_time_range();
        if ooo_min != i64::MAX {
            return;
        }
        if let Some(seg) = self.head.wbl_active_segment()
            && let Err(e) = self.head.truncate_wbl(seg)
        {
            tracing::error!(error = %e, "truncating the write-behind log failed");
        }
    }

    /// Runs block compactions until the planner finds nothing more.
    fn compact_blocks_locked(&self, created: &mut Vec<Ulid>) -> Result<(), DbError> {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Ok(());
            }
            let blocks = self.blocks();
            let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
            let plan = self.compactor.plan(&metas);
            if plan.is_empty() {
                return Ok(());
            }
            let selected: Vec<Arc<Block>> = blocks
                .into_iter()
                .filter(|b| plan.contains(&b.ulid()))
                .collect();
            let meta = self.compactor.compact(&self.dir, &selected)?;
            if let Some(m) = &meta {
                self.stats.lock().compacted_blocks += 1;
                created.push(m.ulid);
            }
            if let Err(e) = self.reload_locked() {
                if let Some(m) = meta {
                    let _ = fs::remove_dir_all(self.dir.join(m.ulid.to_string()));
                }
                return Err(e);
            }
        }
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]` from every
    /// block (through tombstones) and the head (tombstones logged to the WAL). Atomic per
    /// block only, as upstream.
    pub fn delete(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Result<(), DbError> {
        let _g = self.cmtx.lock();
        for b in self.blocks() {
            if b.overlaps_closed_interval(mint, maxt) {
                b.delete(mint, maxt, matchers)?;
            }
        }
        let (hmin, hmax) = self.head.time_range();
        if hmin <= maxt && mint <= hmax {
            self.head.delete(mint, maxt, matchers)?;
        }
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted data; the old blocks
    /// are removed by the reload that follows each rewrite. The head's deleted samples
    /// go when the head is cut into blocks.
    pub fn clean_tombstones(&self) -> Result<(), DbError> {
        let _g = self.cmtx.lock();
        loop {
            let Some(b) = self
                .blocks()
                .into_iter()
                .find(|b| b.tombstones().total() > 0)
            else {
                return Ok(());
            };
            let meta = b.meta();
            let new =
                self.compactor
                    .write(&self.dir, &*b, meta.min_time, meta.max_time, Some(&meta))?;
            // When everything was deleted there is no new block to name the old as parent.
            b.set_deletable();
            if let Err(e) = self.reload_locked() {
                if let Some(m) = new {
                    let _ = fs::remove_dir_all(self.dir.join(m.ulid.to_string()));
                }
                return Err(e);
            }
        }
    }

    /// Hard-links every block into `dir` (upstream's admin snapshot); with `with_head`,
    /// also writes the head's data there as a block. `dir` then opens as a data directory.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), DbError> {
        if dir == self.dir {
            return Err(DbError::Snapshot(
                "cannot snapshot into base directory".into(),
            ));
        }
        if dir.to_str().and_then(parse_ulid).is_some() {
            return Err(DbError::Snapshot("dir must not be a valid ULID".into()));
        }
        let _g = self.cmtx.lock();
        fs::create_dir_all(dir).map_err(io_err(dir, "create snapshot directory"))?;
        for b in self.blocks() {
            tracing::info!(block = %b.ulid(), "Snapshotting block");
            b.snapshot(dir)?;
        }
        if with_head {
            let (mint, maxt) = self.head.time_range();
            if mint <= maxt {
                // Block ranges are half-open.
                self.compactor
                    .write(dir, &self.head, mint, maxt.saturating_add(1), None)?;
            }
        }
        Ok(())
    }
}

impl Queryable for DbCore {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let mut queriers: Vec<Box<dyn Querier>> = Vec::new();
        for b in self.blocks.read().iter() {
            if b.overlaps_closed_interval(mint, maxt) {
                queriers.push(Box::new(b.querier(mint, maxt)));
            }
        }
        let (hmin, _) = self.head.time_range();
        if maxt >= hmin {
            queriers.push(Box::new(self.head.querier(mint, maxt)));
        }
        Ok(Box::new(MergeQuerier::new(queriers)))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        self.core.querier(mint, maxt)
    }
}

impl Appendable for DbCore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DbCore::appender(self))
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(self.core.appender())
    }
}

/// A transaction through the database; see [`DbCore::appender`].
pub struct DbAppender<'a> {
    db: &'a DbCore,
    inner: HeadAppender<'a>,
}

impl DbAppender<'_> {
    /// Logs the transaction to the WAL and makes it visible; wakes compaction when the
    /// head has become compactable.
    pub fn commit(self) -> Result<(), AppendError> {
        let db = self.db;
        {
            let _g = db.commit_gate.read();
            if db.closed.load(Ordering::Acquire) {
                return Err(AppendError::Closed);
            }
            self.inner.commit()?;
        }
        if db.head.compactable()
            && let Some(tx) = db.wake.lock().as_ref()
        {
            // A full channel already holds a wake-up.
            let _ = tx.try_send(Signal::Compact);
        }
        Ok(())
    }

    pub fn rollback(self) -> Result<(), AppendError> {
        self.inner.rollback()
    }
}

impl Appender for DbAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        Appender::append(&mut self.inner, series, labels, t, v)
    }

    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        self.inner.append_histogram(series, labels, t, h)
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        self.inner.append_exemplar(series, labels, e)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        self.inner.update_metadata(series, labels, m)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        DbAppender::commit(*self)
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        DbAppender::rollback(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tmp_and_block_dirs() {
        let u = "01BKGV7JBM69T2G1BGBGM6KB12";
        assert!(parse_ulid(u).is_some());
        assert!(parse_ulid("wal").is_none());
        assert!(is_tmp_dir(&format!("{u}.tmp-for-creation")));
        assert!(is_tmp_dir(&format!("{u}.tmp-for-deletion")));
        assert!(is_tmp_dir(&format!("{u}.tmp")));
        assert!(is_tmp_dir("chunk_snapshot.000001.0000000000.tmp"));
        assert!(!is_tmp_dir("wal.tmp-for-creation"));
    }

    #[test]
    fn block_ranges_follow_retention() {
        let o = DbOptions::default();
        // 15d retention: blocks up to 36h, so 2h, 6h and 18h.
        assert_eq!(o.block_ranges(), [7_200_000, 21_600_000, 64_800_000]);
        let o = DbOptions::with_retention(365 * 24 * 3_600_000, 0);
        assert_eq!(o.max_block_duration, 31 * 24 * 3_600_000);
    }

    #[test]
    fn second_open_of_a_locked_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        assert!(dir.path().join(LOCK_FILENAME).exists());
        let e = Db::open(dir.path(), DbOptions::default()).unwrap_err();
        assert!(e.to_string().contains("lock DB directory"), "{e}");
        drop(db);
        assert!(!dir.path().join(LOCK_FILENAME).exists());
        Db::open(dir.path(), DbOptions::default()).unwrap();
    }
}
