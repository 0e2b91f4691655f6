//! [`Db`]: a Prometheus data directory — its blocks, (later) its head, and the policies
//! over them.
//!
//! Owns opening the directory as upstream does (lock file `lock`, leftover
//! `*.tmp-for-creation`/`*.tmp-for-deletion` directories removed, blocks found by their
//! ULID names), reloading (blocks replaced by a compaction, marked deletable, or past the
//! time or size retention are deleted; a corrupted block is reported and skipped, never
//! fatal), the merged querier over blocks and head, level compaction, deletion through
//! tombstones, tombstone cleaning and snapshots.
//!
//! The head is plugged in as a [`DbHead`]: anything that is a [`BlockSource`] (so the
//! compactor can persist it) and [`Queryable`] (so queries see it). Size retention counts
//! blocks plus the `wal`, `wbl` and `chunks_head` directories, as upstream's head size does.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use hearth_model::{Matcher, Timestamp};

use crate::block::{Block, BlockError};
use crate::block_meta::{BlockMeta, Ulid, read_meta};
use crate::block_source::BlockSource;
use crate::compact::{
    CompactError, DEFAULT_BLOCK_DURATION, LeveledCompactor, TMP_FOR_CREATION_SUFFIX,
    TMP_FOR_DELETION_SUFFIX, TMP_LEGACY_SUFFIX, exponential_block_ranges,
};
use crate::merge::MergeQuerier;
use crate::storage::{Querier, Queryable, StorageError};

/// Name of the lock file in the data directory.
pub const LOCK_FILENAME: &str = "lock";
/// Fifteen days: Prometheus' default `--storage.tsdb.retention.time`.
pub const DEFAULT_RETENTION: i64 = 15 * 24 * 60 * 60 * 1000;
/// Directories whose size counts towards size retention besides the blocks.
const HEAD_DIRS: [&str; 3] = ["wal", "wbl", "chunks_head"];

/// The in-memory head as the database sees it; its time range is
/// [`BlockSource::time_range`].
pub trait DbHead: BlockSource + Queryable {
    /// Deletes the samples of matching series in `[mint, maxt]`.
    fn delete(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Result<(), StorageError>;
}

/// Options of a [`Db`], with Prometheus' flag semantics.
#[derive(Debug, Clone, PartialEq)]
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

/// A data directory.
pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    compactor: LeveledCompactor,
    /// Loaded blocks, ascending by min time.
    blocks: RwLock<Vec<Arc<Block>>>,
    corrupted: RwLock<Vec<CorruptBlock>>,
    head: RwLock<Option<Arc<dyn DbHead>>>,
    /// Serialises everything that changes the set of blocks on disk.
    cmtx: Mutex<()>,
    _lock: Option<DirLock>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .field("blocks", &self.blocks.read().len())
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
    /// Opens (creating if needed) the data directory `dir` with no head.
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db, DbError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create data directory"))?;
        for d in [dir.join("wal"), dir.clone()] {
            remove_tmp_dirs(&d)?;
        }
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(DirLock::acquire(dir.join(LOCK_FILENAME))?)
        };
        let compactor = LeveledCompactor::new(opts.block_ranges())
            .with_chunk_segment_size(opts.chunk_segment_size)
            .with_overlapping_compaction(opts.enable_overlapping_compaction);
        let db = Db {
            dir,
            opts,
            compactor,
            blocks: RwLock::new(Vec::new()),
            corrupted: RwLock::new(Vec::new()),
            head: RwLock::new(None),
            cmtx: Mutex::new(()),
            _lock: lock,
        };
        db.reload()?;
        Ok(db)
    }

    /// Plugs the head in: queries and snapshots see it, deletions reach it.
    pub fn set_head(&self, head: Arc<dyn DbHead>) {
        *self.head.write() = Some(head);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub fn compactor(&self) -> &LeveledCompactor {
        &self.compactor
    }

    /// The loaded blocks, ascending by min time.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Block directories found at the last reload that could not be opened.
    pub fn corrupted_blocks(&self) -> Vec<CorruptBlock> {
        self.corrupted.read().clone()
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
        let head = self.head.read().clone()?;
        let (t, _) = head.time_range();
        (t != Timestamp::MAX).then_some(t)
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

    /// Runs block compactions until the planner finds nothing more; returns the ULIDs of
    /// the new blocks.
    pub fn compact(&self) -> Result<Vec<Ulid>, DbError> {
        let _g = self.cmtx.lock();
        let mut created = Vec::new();
        loop {
            let blocks = self.blocks();
            let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
            let plan = self.compactor.plan(&metas);
            if plan.is_empty() {
                break;
            }
            let selected: Vec<Arc<Block>> = blocks
                .into_iter()
                .filter(|b| plan.contains(&b.ulid()))
                .collect();
            let meta = self.compactor.compact(&self.dir, &selected)?;
            if let Some(m) = &meta {
                created.push(m.ulid);
            }
            if let Err(e) = self.reload_locked() {
                if let Some(m) = meta {
                    let _ = fs::remove_dir_all(self.dir.join(m.ulid.to_string()));
                }
                return Err(e);
            }
        }
        Ok(created)
    }

    /// Persists the head's data in `[mint, maxt)` as a new block and loads it. Truncating
    /// the head afterwards is the head's business.
    pub fn compact_head(&self, mint: Timestamp, maxt: Timestamp) -> Result<Option<Ulid>, DbError> {
        let Some(head) = self.head.read().clone() else {
            return Ok(None);
        };
        let _g = self.cmtx.lock();
        let meta = self.compactor.write(&self.dir, &*head, mint, maxt, None)?;
        self.reload_locked()?;
        Ok(meta.map(|m| m.ulid))
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]` from every
    /// block (through tombstones) and the head. Atomic per block only, as upstream.
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
        if let Some(head) = self.head.read().clone() {
            let (hmin, hmax) = head.time_range();
            if hmin <= maxt && mint <= hmax {
                head.delete(mint, maxt, matchers)?;
            }
        }
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted data; the old blocks
    /// are removed by the reload that follows each rewrite.
    pub fn clean_tombstones(&self) -> Result<(), DbError> {
        let _g = self.cmtx.lock();
        loop {
            let Some(b) = self.blocks().into_iter().find(|b| {
                use crate::tombstones::TombstoneReader;
                b.tombstones().total() > 0
            }) else {
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
    /// also writes the head's data there as a block.
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
        for b in self.blocks() {
            tracing::info!(block = %b.ulid(), "Snapshotting block");
            b.snapshot(dir)?;
        }
        if with_head && let Some(head) = self.head.read().clone() {
            let (mint, maxt) = head.time_range();
            if mint <= maxt {
                // Block ranges are half-open.
                self.compactor.write(dir, &*head, mint, maxt + 1, None)?;
            }
        }
        Ok(())
    }
}

impl Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let mut queriers: Vec<Box<dyn Querier>> = Vec::new();
        for b in self.blocks.read().iter() {
            if b.overlaps_closed_interval(mint, maxt) {
                queriers.push(Box::new(b.querier(mint, maxt)));
            }
        }
        if let Some(head) = self.head.read().clone()
            && maxt >= head.time_range().0
        {
            queriers.push(head.querier(mint, maxt)?);
        }
        Ok(Box::new(MergeQuerier::new(queriers)))
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
