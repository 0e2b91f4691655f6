//! The compactor: writes new blocks from [`BlockSource`]s and plans which blocks to
//! merge, as upstream's `LeveledCompactor`.
//!
//! Writing ([`LeveledCompactor::write`], [`LeveledCompactor::compact`]) happens in
//! `<ulid>.tmp-for-creation`: chunks through [`ChunkSegmentWriter`], then the index
//! (symbols first, series in label order) through [`IndexWriter`], meta.json with stats and
//! lineage, an empty tombstones file, fsync, and a rename to `<ulid>` — a reader sees a
//! whole block or none. Sources hand over each series' chunks already restricted to the
//! block range with deletions applied (see [`BlockSource`]); chunks of different sources
//! that overlap (vertical compaction of overlapping blocks) are merged sample by sample
//! with duplicates removed and re-encoded 120 samples per chunk; every other chunk is
//! copied byte for byte.
//!
//! Planning ([`LeveledCompactor::plan`]) follows upstream: overlapping blocks first, then
//! the smallest range (2h → 6h → 18h → …) whose blocks fill it or lie before the newest
//! block, then blocks with many tombstones.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::Arc;

use hearth_model::{Labels, Timestamp};

use crate::block::{Block, BlockError, CHUNKS_DIRNAME};
use crate::block_meta::{
    BlockDesc, BlockMeta, BlockMetaError, COMPACTION_HINT_FROM_OUT_OF_ORDER, Ulid, new_ulid,
    write_meta,
};
use crate::block_source::{BlockSource, SourceChunk, SourceSeriesIter};
use crate::chunkenc::{self, Encoding};
use crate::chunks::{ChunkFileError, ChunkSegmentWriter, DEFAULT_CHUNK_SEGMENT_SIZE};
use crate::index::{ChunkMeta, INDEX_FILENAME, IndexError, IndexWriter};
use crate::series_chunker::{ReencodeError, reencode};
use crate::storage::StorageError;
use crate::tombstones::{MemTombstones, TombstonesError, write_tombstones};

/// Two hours in milliseconds: the head's block range and the smallest block.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 60 * 60 * 1000;
/// Suffix of a block directory being written.
pub const TMP_FOR_CREATION_SUFFIX: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub const TMP_FOR_DELETION_SUFFIX: &str = ".tmp-for-deletion";
/// Suffix of temporary block directories of Prometheus before 2.21.
pub const TMP_LEGACY_SUFFIX: &str = ".tmp";

/// `steps` ranges starting at `min`, each `step_size` times the previous (upstream's
/// `ExponentialBlockRanges`; Prometheus uses `(2h, 10, 3)`).
pub fn exponential_block_ranges(min: i64, steps: usize, step_size: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut cur = min;
    for _ in 0..steps {
        out.push(cur);
        cur = cur.saturating_mul(step_size);
    }
    out
}

/// Why writing a block failed. The partial block is removed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Chunks(#[from] ChunkFileError),
    #[error(transparent)]
    Meta(#[from] BlockMetaError),
    #[error(transparent)]
    Tombstones(#[from] TombstonesError),
    #[error("reading source: {0}")]
    Source(#[from] StorageError),
    #[error("series {labels}: {source}")]
    Reencode {
        labels: Labels,
        #[source]
        source: ReencodeError,
    },
    #[error("series {labels} appears twice in one source, or sources are not sorted")]
    Unsorted { labels: Labels },
    #[error("no blocks to compact")]
    NoBlocks,
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> CompactError + 'a {
    move |source| CompactError::Block(BlockError::io(path, op, source))
}

/// Merges the metas of blocks compacted together: union of the time ranges and sources,
/// the blocks as parents, one level deeper than the deepest (upstream's
/// `CompactBlockMetas`).
pub fn compact_block_metas(ulid: Ulid, metas: &[BlockMeta]) -> BlockMeta {
    let mut res = BlockMeta::new(ulid, 0, 0);
    res.compaction.level = 0;
    res.compaction.sources.clear();
    res.min_time = metas.iter().map(|m| m.min_time).min().unwrap_or(0);
    res.max_time = metas.iter().map(|m| m.max_time).max().unwrap_or(0);
    for m in metas {
        res.compaction.level = res.compaction.level.max(m.compaction.level);
        res.compaction
            .sources
            .extend(m.compaction.sources.iter().copied());
        res.compaction.parents.push(BlockDesc {
            ulid: m.ulid,
            min_time: m.min_time,
            max_time: m.max_time,
        });
    }
    res.compaction.level += 1;
    res.compaction.sources.sort();
    res.compaction.sources.dedup();
    res
}

/// Plans and runs compactions with a list of block ranges (ms, ascending).
#[derive(Debug, Clone)]
pub struct LeveledCompactor {
    ranges: Vec<i64>,
    chunk_segment_size: u64,
    overlapping: bool,
}

impl LeveledCompactor {
    /// A compactor for `ranges` (the first is the head's block range); at least one range
    /// must be given, else the default 2h is used.
    pub fn new(mut ranges: Vec<i64>) -> LeveledCompactor {
        if ranges.is_empty() {
            ranges.push(DEFAULT_BLOCK_DURATION);
        }
        LeveledCompactor {
            ranges,
            chunk_segment_size: DEFAULT_CHUNK_SEGMENT_SIZE,
            overlapping: true,
        }
    }

    /// Cuts chunk segment files at `bytes` instead of 512 MiB.
    pub fn with_chunk_segment_size(mut self, bytes: u64) -> LeveledCompactor {
        if bytes > 0 {
            self.chunk_segment_size = bytes;
        }
        self
    }

    /// Whether overlapping blocks are planned for (vertical) compaction; on by default,
    /// as in Prometheus.
    pub fn with_overlapping_compaction(mut self, on: bool) -> LeveledCompactor {
        self.overlapping = on;
        self
    }

    pub fn ranges(&self) -> &[i64] {
        &self.ranges
    }

    /// The blocks (by ULID) to compact next into one, or nothing.
    pub fn plan(&self, metas: &[BlockMeta]) -> Vec<Ulid> {
        let mut dms: Vec<&BlockMeta> = metas.iter().collect();
        dms.sort_by_key(|m| m.min_time);
        let overlapping = self.select_overlapping(&dms);
        if !overlapping.is_empty() {
            return overlapping;
        }
        // The newest block is left alone: it gives a window of a full block range to back
        // up new data without overlaps.
        if dms.pop().is_none() {
            return Vec::new();
        }
        let selected = self.select_dirs(&dms);
        if !selected.is_empty() {
            return selected.iter().map(|m| m.ulid).collect();
        }
        // Big enough blocks with over 5% tombstones, or wholly deleted smaller ones.
        let mid = self.ranges[self.ranges.len() / 2];
        for m in dms.iter().rev() {
            let s = &m.stats;
            if m.max_time - m.min_time < mid {
                if s.num_tombstones > 0 && s.num_tombstones >= s.num_series {
                    return vec![m.ulid];
                }
                break;
            }
            if s.num_tombstones as f64 / (s.num_series + 1) as f64 > 0.05 {
                return vec![m.ulid];
            }
        }
        Vec::new()
    }

    fn select_overlapping(&self, ds: &[&BlockMeta]) -> Vec<Ulid> {
        let mut out = Vec::new();
        if !self.overlapping || ds.len() < 2 {
            return out;
        }
        let mut global_maxt = ds[0].max_time;
        for (i, d) in ds.iter().enumerate().skip(1) {
            if d.min_time < global_maxt {
                if out.is_empty() {
                    out.push(ds[i - 1].ulid);
                }
                out.push(d.ulid);
            } else if !out.is_empty() {
                break;
            }
            global_maxt = global_maxt.max(d.max_time);
        }
        out
    }

    fn select_dirs<'a>(&self, ds: &[&'a BlockMeta]) -> Vec<&'a BlockMeta> {
        let Some(last) = ds.last() else {
            return Vec::new();
        };
        if self.ranges.len() < 2 {
            return Vec::new();
        }
        let high_time = last.min_time;
        for &iv in &self.ranges[1..] {
            for p in split_by_range(ds, iv) {
                if p.iter().any(|m| m.compaction.failed) {
                    continue;
                }
                let (Some(first), Some(last)) = (p.first(), p.last()) else {
                    continue;
                };
                let (mint, maxt) = (first.min_time, last.max_time);
                // A full range (perhaps with gaps), or one wholly before the newest block.
                if (maxt - mint == iv || maxt <= high_time) && p.len() > 1 {
                    return p;
                }
            }
        }
        Vec::new()
    }

    /// Compacts `blocks` into one new block in `dest`. When nothing is left (all
    /// deleted), no block is written, the inputs are marked deletable and `None` is
    /// returned. On failure the inputs are marked as failed compactions.
    pub fn compact(
        &self,
        dest: &Path,
        blocks: &[Arc<Block>],
    ) -> Result<Option<BlockMeta>, CompactError> {
        if blocks.is_empty() {
            return Err(CompactError::NoBlocks);
        }
        let mut blocks: Vec<&Arc<Block>> = blocks.iter().collect();
        blocks.sort_by_key(|b| b.min_time());
        let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
        let mut meta = compact_block_metas(new_ulid(), &metas);
        let sources: Vec<&dyn BlockSource> =
            blocks.iter().map(|b| &***b as &dyn BlockSource).collect();
        match self.write_block(dest, &sources, &mut meta) {
            Ok(true) => {
                tracing::info!(ulid = %meta.ulid, mint = meta.min_time, maxt = meta.max_time, count = blocks.len(), "compact blocks");
                Ok(Some(meta))
            }
            Ok(false) => {
                for b in &blocks {
                    b.mark_deletable()?;
                }
                tracing::info!(
                    count = blocks.len(),
                    "compact blocks resulted in empty block"
                );
                Ok(None)
            }
            Err(e) => {
                for b in &blocks {
                    if let Err(e2) = b.set_compaction_failed() {
                        tracing::error!(block = %b.ulid(), "marking failed compaction: {e2}");
                    }
                }
                Err(e)
            }
        }
    }

    /// Writes the data of `source` in `[mint, maxt)` as a new level-1 block in `dest`;
    /// `parent` (the block being rewritten, e.g. to drop tombstones) becomes its parent.
    /// Returns the new block's meta, or `None` when there were no samples.
    pub fn write(
        &self,
        dest: &Path,
        source: &dyn BlockSource,
        mint: Timestamp,
        maxt: Timestamp,
        parent: Option<&BlockMeta>,
    ) -> Result<Option<BlockMeta>, CompactError> {
        let mut meta = BlockMeta::new(new_ulid(), mint, maxt);
        if let Some(p) = parent {
            meta.compaction.parents.push(BlockDesc {
                ulid: p.ulid,
                min_time: p.min_time,
                max_time: p.max_time,
            });
            if p.is_from_out_of_order() {
                meta.compaction
                    .hints
                    .push(COMPACTION_HINT_FROM_OUT_OF_ORDER.to_string());
            }
        }
        Ok(self
            .write_block(dest, &[source], &mut meta)?
            .then_some(meta))
    }

    /// Writes `<dest>/<meta.ulid>` from `sources`; false when it would hold no samples
    /// (nothing is left on disk then).
    fn write_block(
        &self,
        dest: &Path,
        sources: &[&dyn BlockSource],
        meta: &mut BlockMeta,
    ) -> Result<bool, CompactError> {
        let dir = dest.join(meta.ulid.to_string());
        let tmp = dest.join(format!("{}{TMP_FOR_CREATION_SUFFIX}", meta.ulid));
        let result = self.write_tmp(&tmp, sources, meta).and_then(|written| {
            if !written {
                return Ok(false);
            }
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(io_err(&dir, "remove existing block"))?;
            }
            fs::rename(&tmp, &dir).map_err(io_err(&tmp, "rename to final block directory"))?;
            sync_dir(dest)?;
            Ok(true)
        });
        if tmp.exists() {
            // Best effort: a leftover is removed on the next open anyway.
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn write_tmp(
        &self,
        tmp: &Path,
        sources: &[&dyn BlockSource],
        meta: &mut BlockMeta,
    ) -> Result<bool, CompactError> {
        if tmp.exists() {
            fs::remove_dir_all(tmp).map_err(io_err(tmp, "remove stale temporary block"))?;
        }
        fs::create_dir_all(tmp).map_err(io_err(tmp, "create temporary block"))?;
        let mut chunkw = ChunkSegmentWriter::with_segment_size(
            &tmp.join(CHUNKS_DIRNAME),
            self.chunk_segment_size,
        )?;
        let mut indexw = IndexWriter::create(tmp.join(INDEX_FILENAME))?;
        populate_block(sources, meta, &mut indexw, &mut chunkw)?;
        chunkw.finish()?;
        indexw.finish()?;
        if meta.stats.num_samples == 0 {
            return Ok(false);
        }
        write_meta(tmp, meta)?;
        write_tombstones(tmp, &MemTombstones::new())?;
        sync_dir(tmp)?;
        Ok(true)
    }
}

fn sync_dir(dir: &Path) -> Result<(), CompactError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync directory"))
}

/// Upstream's `splitByRange`: groups of consecutive blocks that fall in the same
/// `tr`-aligned range; blocks spanning more than one such range are skipped.
fn split_by_range<'a>(ds: &[&'a BlockMeta], tr: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let m = ds[i];
        // Go's division truncates towards zero, as Rust's does.
        let t0 = if m.min_time >= 0 {
            tr * (m.min_time / tr)
        } else {
            tr * ((m.min_time - tr + 1) / tr)
        };
        if m.max_time > t0 + tr {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() && ds[i].max_time <= t0 + tr {
            group.push(ds[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// Writes the union of the sources' symbols (each sorted) into the index writer.
fn add_symbols(
    sources: &[&dyn BlockSource],
    mint: Timestamp,
    maxt: Timestamp,
    indexw: &mut IndexWriter,
) -> Result<(), CompactError> {
    let mut all: Vec<String> = Vec::new();
    for s in sources {
        all.extend(s.symbols(mint, maxt)?);
    }
    if sources.len() > 1 {
        all.sort_unstable();
        all.dedup();
    }
    for sym in &all {
        indexw.add_symbol(sym)?;
    }
    Ok(())
}

/// Fills the writers with the union of `sources` over `[meta.min_time, meta.max_time)`
/// and records the stats in `meta`.
fn populate_block(
    sources: &[&dyn BlockSource],
    meta: &mut BlockMeta,
    indexw: &mut IndexWriter,
    chunkw: &mut ChunkSegmentWriter,
) -> Result<(), CompactError> {
    let (mint, maxt) = (meta.min_time, meta.max_time);
    add_symbols(sources, mint, maxt, indexw)?;
    let mut its: Vec<std::iter::Peekable<SourceSeriesIter<'_>>> = Vec::with_capacity(sources.len());
    for s in sources {
        its.push(s.series_in_range(mint, maxt)?.peekable());
    }
    let mut last: Option<Labels> = None;
    loop {
        // Surface the first error among the heads before comparing labels.
        for it in &mut its {
            if matches!(it.peek(), Some(Err(_)))
                && let Some(Err(e)) = it.next()
            {
                return Err(e.into());
            }
        }
        let min = its
            .iter_mut()
            .filter_map(|it| match it.peek() {
                Some(Ok(s)) => Some(s.labels.clone()),
                _ => None,
            })
            .min();
        let Some(labels) = min else { break };
        if last.as_ref().is_some_and(|l| *l >= labels) {
            return Err(CompactError::Unsorted { labels });
        }
        let mut chunks: Vec<SourceChunk> = Vec::new();
        for it in &mut its {
            if let Some(Ok(s)) = it.next_if(|s| matches!(s, Ok(s) if s.labels == labels)) {
                chunks.extend(s.chunks);
            }
        }
        let chunks = merge_overlapping(&labels, chunks)?;
        last = Some(labels.clone());
        if chunks.is_empty() {
            continue;
        }
        let batch: Vec<(Encoding, &[u8])> = chunks.iter().map(|c| (c.encoding, &*c.data)).collect();
        let refs = chunkw.write_chunks(&batch)?;
        let metas: Vec<ChunkMeta> = chunks
            .iter()
            .zip(&refs)
            .map(|(c, r)| ChunkMeta {
                chunk_ref: r.0,
                min_time: c.min_time,
                max_time: c.max_time,
            })
            .collect();
        indexw.add_series(&labels, &metas)?;
        meta.stats.num_series += 1;
        meta.stats.num_chunks += chunks.len() as u64;
        for c in &chunks {
            let n = chunkenc::num_samples(c.encoding, &c.data) as u64;
            meta.stats.num_samples += n;
            match c.encoding.value_type() {
                chunkenc::ValueType::Float => meta.stats.num_float_samples += n,
                _ => meta.stats.num_histogram_samples += n,
            }
        }
    }
    Ok(())
}

/// The chunks of one series from all sources, with chunks that overlap each other
/// (vertical compaction) merged and re-encoded; the others are kept byte for byte.
fn merge_overlapping(
    labels: &Labels,
    mut all: Vec<SourceChunk>,
) -> Result<Vec<SourceChunk>, CompactError> {
    all.sort_by_key(|c| (c.min_time, c.max_time));
    let mut out = Vec::with_capacity(all.len());
    let mut cluster: Vec<SourceChunk> = Vec::new();
    let mut cluster_max = Timestamp::MIN;
    for c in all {
        if !cluster.is_empty() && c.min_time > cluster_max {
            flush_cluster(labels, std::mem::take(&mut cluster), &mut out)?;
        }
        cluster_max = if cluster.is_empty() {
            c.max_time
        } else {
            cluster_max.max(c.max_time)
        };
        // Identical chunks (the same data in two blocks) are kept once.
        if !cluster.contains(&c) {
            cluster.push(c);
        }
    }
    flush_cluster(labels, cluster, &mut out)?;
    Ok(out)
}

/// Emits a group of mutually overlapping chunks: as is when alone, else merged.
fn flush_cluster(
    labels: &Labels,
    cluster: Vec<SourceChunk>,
    out: &mut Vec<SourceChunk>,
) -> Result<(), CompactError> {
    if cluster.len() <= 1 {
        out.extend(cluster);
    } else {
        let merged = reencode(&cluster, |_| true).map_err(|source| CompactError::Reencode {
            labels: labels.clone(),
            source,
        })?;
        out.extend(merged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(min: i64, max: i64) -> BlockMeta {
        BlockMeta::new(new_ulid(), min, max)
    }

    #[test]
    fn ranges_are_exponential() {
        assert_eq!(
            exponential_block_ranges(DEFAULT_BLOCK_DURATION, 4, 3),
            [7_200_000, 21_600_000, 64_800_000, 194_400_000]
        );
    }

    #[test]
    fn plan_merges_three_2h_blocks_into_6h_leaving_the_newest() {
        let c = LeveledCompactor::new(exponential_block_ranges(20, 3, 3));
        let ms = [meta(0, 20), meta(20, 40), meta(40, 60), meta(60, 80)];
        assert_eq!(c.plan(&ms), [ms[0].ulid, ms[1].ulid, ms[2].ulid]);
        // Only two blocks of the 60 range and the newest left out: nothing yet.
        assert!(c.plan(&ms[..3]).is_empty());
    }

    #[test]
    fn plan_picks_overlapping_blocks_first() {
        let c = LeveledCompactor::new(exponential_block_ranges(20, 3, 3));
        let ms = [meta(0, 20), meta(20, 40), meta(30, 50), meta(60, 80)];
        assert_eq!(c.plan(&ms), [ms[1].ulid, ms[2].ulid]);
    }

    #[test]
    fn plan_rewrites_blocks_with_many_tombstones() {
        let c = LeveledCompactor::new(exponential_block_ranges(20, 3, 3));
        let mut a = meta(0, 180);
        a.stats.num_series = 10;
        a.stats.num_tombstones = 2;
        let ms = [a.clone(), meta(180, 200)];
        assert_eq!(c.plan(&ms), [a.ulid]);
    }

    #[test]
    fn split_by_range_like_upstream() {
        let ms = [meta(0, 10), meta(10, 20), meta(50, 60), meta(90, 100)];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        let parts = split_by_range(&refs, 30);
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 1, 1]);
    }
}
