//! Checkpoints: the records of a run of segments that still matter after the head is
//! truncated, written as `checkpoint.NNNNNNNN` (a directory of segments in the WAL
//! format) so replay can read the checkpoint and then the segments after it.
//!
//! As Prometheus' `wlog.Checkpoint`: series the head keeps, samples, histograms and
//! exemplars at or after `mint`, tombstones that reach `mint`, and the latest metadata of
//! each kept series. The previous checkpoint is folded in. The new one is written under a
//! `.tmp` name, fsynced and renamed, so a crash leaves either the old or the new one.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::reader::{SegmentRange, WalReader};
use super::record::{
    HeadSeriesRef, HistogramSample, RecordDecoder, RecordEncoder, RecordError, RecordType,
    RefMetadata,
};
use super::segments::sync_dir;
use super::writer::{Compression, Wal, WalOptions};
use super::{DEFAULT_SEGMENT_SIZE, WalError};

const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";
/// Records are handed to the checkpoint's writer in batches of about this many bytes.
const FLUSH_BYTES: usize = 1 << 20;

/// What a checkpoint kept and dropped (totals include the dropped ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    pub dropped_series: u64,
    /// Float samples and histograms.
    pub dropped_samples: u64,
    pub dropped_tombstones: u64,
    pub dropped_exemplars: u64,
    pub dropped_metadata: u64,
    pub total_series: u64,
    pub total_samples: u64,
    pub total_tombstones: u64,
    pub total_exemplars: u64,
    pub total_metadata: u64,
}

/// The directory of checkpoint `index` in `dir`.
pub fn checkpoint_dir(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

/// Checkpoints in `dir` (name and index), ascending. Temporary ones are not listed.
fn list_checkpoints(dir: &Path) -> Result<Vec<(String, u32)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(WalError::io("list checkpoints in", dir))? {
        let entry = entry.map_err(WalError::io("list checkpoints in", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(suffix) = name.strip_prefix(CHECKPOINT_PREFIX) else {
            continue;
        };
        let is_dir = entry
            .file_type()
            .map_err(WalError::io("stat", entry.path()))?
            .is_dir();
        if !is_dir {
            return Err(WalError::Checkpoint(format!(
                "checkpoint {name} is not a directory"
            )));
        }
        if let Some(index) = super::segments::parse_segment_name(suffix) {
            out.push((name, index));
        }
    }
    out.sort_unstable_by_key(|(_, i)| *i);
    Ok(out)
}

/// The most recent checkpoint of `dir` and its index.
pub fn last_checkpoint(dir: &Path) -> Result<Option<(PathBuf, u32)>, WalError> {
    Ok(list_checkpoints(dir)?
        .pop()
        .map(|(name, i)| (dir.join(name), i)))
}

/// Deletes the checkpoints of `dir` whose index is below `max_index`.
pub fn delete_checkpoints(dir: &Path, max_index: u32) -> Result<(), WalError> {
    for (name, i) in list_checkpoints(dir)? {
        if i >= max_index {
            break;
        }
        let path = dir.join(name);
        fs::remove_dir_all(&path).map_err(WalError::io("delete checkpoint", &path))?;
    }
    Ok(())
}

/// Removes temporary checkpoint directories a crash left behind.
fn delete_tmp_checkpoints(dir: &Path) -> Result<(), WalError> {
    for entry in fs::read_dir(dir).map_err(WalError::io("list checkpoints in", dir))? {
        let entry = entry.map_err(WalError::io("list checkpoints in", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            fs::remove_dir_all(&path)
                .map_err(WalError::io("delete temporary checkpoint", &path))?;
        }
    }
    Ok(())
}

/// Writes checkpoint `to` of `wal` from the last checkpoint (if any) and segments
/// `from..=to`, keeping the series for which `keep` is true and data at or after `mint`.
/// Older checkpoints are deleted afterwards; deleting the segments up to `to` is the
/// caller's next step (`wal.truncate(to + 1)`).
///
/// Any corruption in the input fails the checkpoint: the head would not know which series
/// were lost.
pub fn checkpoint(
    wal: &Wal,
    from: u32,
    to: u32,
    keep: impl Fn(HeadSeriesRef) -> bool,
    mint: i64,
) -> Result<CheckpointStats, WalError> {
    checkpoint_in(wal.dir(), wal.options().compression, from, to, keep, mint)
}

/// [`checkpoint`] for the WAL in `dir` written with `compression`, so that a head can
/// checkpoint without holding its writer (which appenders need meanwhile): only finished
/// segments `from..=to` are read.
pub fn checkpoint_in(
    dir: &Path,
    compression: Compression,
    from: u32,
    to: u32,
    keep: impl Fn(HeadSeriesRef) -> bool,
    mint: i64,
) -> Result<CheckpointStats, WalError> {
    let mut ranges = Vec::with_capacity(2);
    let mut from = from;
    if let Some((cp_dir, cp_index)) = last_checkpoint(dir)? {
        let next = cp_index.saturating_add(1);
        if from > next {
            return Err(WalError::Checkpoint(format!(
                "unexpected gap to last checkpoint: expected segment {next}, requested {from}"
            )));
        }
        // Segments the last checkpoint already covers should be gone; never read them twice.
        from = next;
        ranges.push(SegmentRange::all(cp_dir));
    }
    ranges.push(SegmentRange {
        dir: dir.to_path_buf(),
        first: Some(from),
        last: Some(to),
    });
    tracing::info!(from, to, mint, "creating WAL checkpoint");

    delete_tmp_checkpoints(dir)?;
    let final_dir = checkpoint_dir(dir, to);
    let mut tmp_name = final_dir.clone().into_os_string();
    tmp_name.push(TMP_SUFFIX);
    let tmp_dir = PathBuf::from(tmp_name);
    let opts = WalOptions {
        segment_size: DEFAULT_SEGMENT_SIZE,
        compression,
        sync_on_log: false,
    };
    let written = write_checkpoint(&ranges, &tmp_dir, opts, &keep, mint);
    let stats = match written {
        Ok(stats) => stats,
        Err(e) => {
            // Never leave a half-written checkpoint behind.
            let _ = fs::remove_dir_all(&tmp_dir);
            return Err(e);
        }
    };
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(WalError::io("replace checkpoint", &final_dir))?;
    }
    fs::rename(&tmp_dir, &final_dir).map_err(WalError::io("rename checkpoint", &tmp_dir))?;
    sync_dir(dir)?;
    delete_checkpoints(dir, to)?;
    Ok(stats)
}

/// Collects re-encoded records into one buffer and logs them in batches.
struct Batch {
    buf: Vec<u8>,
    bounds: Vec<(usize, usize)>,
}

impl Batch {
    /// Lets `encode` append one record; records that came out empty are not kept.
    fn add(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        encode(&mut self.buf);
        if self.buf.len() > start {
            self.bounds.push((start, self.buf.len()));
        }
    }

    fn flush(&mut self, cp: &mut Wal) -> Result<(), WalError> {
        let recs: Vec<&[u8]> = self.bounds.iter().map(|&(s, e)| &self.buf[s..e]).collect();
        cp.log(&recs)?;
        self.buf.clear();
        self.bounds.clear();
        Ok(())
    }
}

/// Reusable decode buffers, one per record kind.
#[derive(Default)]
struct Scratch {
    series: Vec<super::record::RefSeries>,
    samples: Vec<super::record::RefSample>,
    histograms: Vec<super::record::RefHistogramSample>,
    float_histograms: Vec<super::record::RefFloatHistogramSample>,
    tombstones: Vec<super::record::Tombstone>,
    exemplars: Vec<super::record::RefExemplar>,
    metadata: Vec<RefMetadata>,
}

/// Decodes a record into `scratch` (cleared first), keeps the entries `keep` accepts and
/// counts (total, dropped). Returns whether anything is left to write.
fn filter_record<T>(
    scratch: &mut Vec<T>,
    decode: impl FnOnce(&mut Vec<T>) -> Result<(), RecordError>,
    keep: impl Fn(&T) -> bool,
    (total, dropped): (&mut u64, &mut u64),
) -> Result<bool, RecordError> {
    scratch.clear();
    decode(scratch)?;
    let before = scratch.len();
    scratch.retain(keep);
    *total += before as u64;
    *dropped += (before - scratch.len()) as u64;
    Ok(!scratch.is_empty())
}

/// Histograms of either form at or after `mint`, re-encoded in the record version they
/// came in (custom buckets split off again for V1).
fn keep_histograms<S: HistogramSample>(
    dec: &mut RecordDecoder,
    rec: &[u8],
    scratch: &mut Vec<S>,
    mint: i64,
    counts: (&mut u64, &mut u64),
    batch: &mut Batch,
) -> Result<(), RecordError> {
    let kept = filter_record(
        scratch,
        |out| dec.histograms(rec, out),
        |h| h.key().2 >= mint,
        counts,
    )?;
    if kept {
        let enc = RecordEncoder {
            start_timestamps: RecordType::of(rec) == S::TYPES[2],
        };
        let mut custom = false;
        batch.add(|b| custom = enc.histograms(scratch, b));
        if custom {
            batch.add(|b| enc.custom_bucket_histograms(scratch, b));
        }
    }
    Ok(())
}

fn write_checkpoint(
    ranges: &[SegmentRange],
    tmp_dir: &Path,
    opts: WalOptions,
    keep: &impl Fn(HeadSeriesRef) -> bool,
    mint: i64,
) -> Result<CheckpointStats, WalError> {
    fs::create_dir_all(tmp_dir).map_err(WalError::io("create checkpoint directory", tmp_dir))?;
    let mut cp = Wal::open(tmp_dir, opts)?;
    let mut reader = WalReader::from_ranges(ranges)?;
    let mut dec = RecordDecoder::new();
    let mut s = Scratch::default();
    let mut stats = CheckpointStats::default();
    let mut batch = Batch {
        buf: Vec::with_capacity(FLUSH_BYTES + FLUSH_BYTES / 4),
        bounds: Vec::new(),
    };
    let mut latest_metadata: HashMap<HeadSeriesRef, RefMetadata> = HashMap::new();

    while reader.read_next()? {
        let rec = reader.record();
        let typ = RecordType::of(rec);
        let segment = reader.record_position().0;
        let wrap = |source: RecordError| WalError::Record {
            record_type: typ,
            segment,
            source,
        };
        let enc = RecordEncoder {
            start_timestamps: typ == RecordType::SamplesV2,
        };
        match typ {
            RecordType::Series => {
                let kept = filter_record(
                    &mut s.series,
                    |out| dec.series(rec, out),
                    |x| keep(x.series_ref),
                    (&mut stats.total_series, &mut stats.dropped_series),
                );
                if kept.map_err(wrap)? {
                    batch.add(|b| enc.series(&s.series, b));
                }
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let kept = filter_record(
                    &mut s.samples,
                    |out| dec.samples(rec, out),
                    |x| x.t >= mint,
                    (&mut stats.total_samples, &mut stats.dropped_samples),
                );
                if kept.map_err(wrap)? {
                    batch.add(|b| enc.samples(&s.samples, b));
                }
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                let counts = (&mut stats.total_samples, &mut stats.dropped_samples);
                keep_histograms(&mut dec, rec, &mut s.histograms, mint, counts, &mut batch)
                    .map_err(wrap)?;
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let counts = (&mut stats.total_samples, &mut stats.dropped_samples);
                keep_histograms(
                    &mut dec,
                    rec,
                    &mut s.float_histograms,
                    mint,
                    counts,
                    &mut batch,
                )
                .map_err(wrap)?;
            }
            RecordType::Tombstones => {
                let kept = filter_record(
                    &mut s.tombstones,
                    |out| dec.tombstones(rec, out),
                    |x| x.maxt >= mint,
                    (&mut stats.total_tombstones, &mut stats.dropped_tombstones),
                );
                if kept.map_err(wrap)? {
                    batch.add(|b| enc.tombstones(&s.tombstones, b));
                }
            }
            RecordType::Exemplars => {
                let kept = filter_record(
                    &mut s.exemplars,
                    |out| dec.exemplars(rec, out),
                    |x| x.t >= mint,
                    (&mut stats.total_exemplars, &mut stats.dropped_exemplars),
                );
                if kept.map_err(wrap)? {
                    batch.add(|b| enc.exemplars(&s.exemplars, b));
                }
            }
            RecordType::Metadata => {
                s.metadata.clear();
                dec.metadata(rec, &mut s.metadata).map_err(wrap)?;
                let n = s.metadata.len() as u64;
                stats.total_metadata += n;
                // Counted as upstream does: every entry that is not the first sighting of a
                // kept series counts as dropped, superseded ones included.
                let mut fresh = 0u64;
                for m in s.metadata.drain(..) {
                    if keep(m.series_ref) && latest_metadata.insert(m.series_ref, m).is_none() {
                        fresh += 1;
                    }
                }
                stats.dropped_metadata += n - fresh;
            }
            // Mmap markers belong to the write-behind log, min-valid-time records to the
            // checkpoint they were written in; unknown types come from newer writers.
            _ => {}
        }
        if batch.buf.len() > FLUSH_BYTES {
            batch.flush(&mut cp)?;
        }
    }
    if let Some(torn) = reader.torn_tail() {
        return Err(WalError::Checkpoint(format!(
            "segment {:08} ends in a torn record at offset {}",
            torn.segment, torn.offset
        )));
    }
    if !latest_metadata.is_empty() {
        let mut latest: Vec<RefMetadata> = latest_metadata.into_values().collect();
        latest.sort_unstable_by_key(|m| m.series_ref);
        batch.add(|b| RecordEncoder::default().metadata(&latest, b));
    }
    batch.flush(&mut cp)?;
    cp.close()?;
    sync_dir(tmp_dir)?;
    Ok(stats)
}
