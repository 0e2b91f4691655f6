//! Backfilling: turning a file of timestamped samples into blocks, as `promtool tsdb
//! create-blocks-from openmetrics` does.
//!
//! The input is read through [`SampleScan`] (the binary adapts the OpenMetrics parser to
//! it, keeping this crate free of exposition formats). Like promtool, the input is
//! scanned once for its time range, then once per block window aligned to the block
//! duration; each window's samples are chunked as the head chunks them and written as one
//! block spanning its first to last sample. Windows without samples are skipped without
//! another scan.

use std::path::Path;
use std::sync::Arc;

use hearth_model::{Labels, Timestamp};

use crate::block::{Block, BlockError};
use crate::compact::{
    CompactError, DEFAULT_BLOCK_DURATION, LeveledCompactor, exponential_block_ranges,
};
use crate::mem_block_source::MemBlockSourceBuilder;
use crate::storage::AppendError;

/// Why backfilling failed.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The input could not be read or parsed (the message says where).
    #[error("{0}")]
    Input(String),
    #[error("add sample {labels} at {t}: {source}")]
    Append {
        labels: Labels,
        t: Timestamp,
        #[source]
        source: AppendError,
    },
    #[error(transparent)]
    Compact(#[from] CompactError),
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// What [`SampleScan::scan`] calls per sample: time, value and a builder of its labels.
pub type SampleVisitor<'a> =
    dyn FnMut(Timestamp, f64, &dyn Fn() -> Labels) -> Result<(), BackfillError> + 'a;

/// A replayable input of float samples.
pub trait SampleScan {
    /// Calls `f(t, v, labels)` for every sample in input order; `labels` builds the
    /// sample's label set (only called for samples that are kept). Stops at the first
    /// error `f` returns.
    fn scan(&mut self, f: &mut SampleVisitor<'_>) -> Result<(), BackfillError>;
}

/// The block duration promtool uses for a requested maximum: the largest of 2h, 6h,
/// 18h, … not above it (2h for anything smaller).
pub fn compatible_block_duration(max_block_duration: i64) -> i64 {
    if max_block_duration <= DEFAULT_BLOCK_DURATION {
        return DEFAULT_BLOCK_DURATION;
    }
    let ranges = exponential_block_ranges(DEFAULT_BLOCK_DURATION, 10, 3);
    ranges
        .iter()
        .copied()
        .take_while(|&r| r <= max_block_duration)
        .last()
        .unwrap_or(DEFAULT_BLOCK_DURATION)
}

/// Writes blocks of at most `max_block_duration` (ms) into `output_dir` from `input`;
/// returns the blocks created, in time order.
pub fn backfill(
    input: &mut dyn SampleScan,
    output_dir: &Path,
    max_block_duration: i64,
) -> Result<Vec<Arc<Block>>, BackfillError> {
    let (mut mint, mut maxt) = (Timestamp::MAX, Timestamp::MIN);
    input.scan(&mut |t, _, _| {
        mint = mint.min(t);
        maxt = maxt.max(t);
        Ok(())
    })?;
    if mint > maxt {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(output_dir)
        .map_err(|e| BlockError::io(output_dir, "create output directory", e))?;
    let d = compatible_block_duration(max_block_duration);
    let compactor = LeveledCompactor::new(vec![d]);
    let mut blocks = Vec::new();
    // Go's integer division, as promtool aligns.
    let mut t = d * (mint / d);
    let mut next_sample = Timestamp::MAX;
    while t <= maxt {
        let upper = t.saturating_add(d);
        if next_sample != Timestamp::MAX && next_sample >= upper {
            t = upper;
            continue;
        }
        next_sample = Timestamp::MAX;
        // The head behind promtool's block writer uses twice the block range, so that
        // samples anywhere in the window are accepted; the chunking follows that range.
        let mut builder = MemBlockSourceBuilder::new(2 * d);
        let (mut bmin, mut bmax) = (Timestamp::MAX, Timestamp::MIN);
        input.scan(&mut |ts, v, labels| {
            if ts < t {
                return Ok(());
            }
            if ts >= upper {
                next_sample = next_sample.min(ts);
                return Ok(());
            }
            let labels = labels();
            builder
                .append(&labels, ts, v)
                .map_err(|source| BackfillError::Append {
                    labels: labels.clone(),
                    t: ts,
                    source,
                })?;
            bmin = bmin.min(ts);
            bmax = bmax.max(ts);
            Ok(())
        })?;
        if !builder.is_empty() {
            let source = builder.build();
            // Like promtool's block writer: the block spans its data, half-open.
            if let Some(meta) = compactor.write(output_dir, &source, bmin, bmax + 1, None)? {
                blocks.push(Block::open(output_dir.join(meta.ulid.to_string()))?);
            }
        }
        t = upper;
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_durations_like_promtool() {
        assert_eq!(compatible_block_duration(0), DEFAULT_BLOCK_DURATION);
        assert_eq!(
            compatible_block_duration(3 * 3_600_000),
            DEFAULT_BLOCK_DURATION
        );
        assert_eq!(compatible_block_duration(6 * 3_600_000), 6 * 3_600_000);
        assert_eq!(compatible_block_duration(24 * 3_600_000), 18 * 3_600_000);
    }

    struct VecScan(Vec<(Labels, Timestamp, f64)>);

    impl SampleScan for VecScan {
        fn scan(&mut self, f: &mut SampleVisitor<'_>) -> Result<(), BackfillError> {
            for (l, t, v) in &self.0 {
                f(*t, *v, &|| l.clone())?;
            }
            Ok(())
        }
    }

    #[test]
    fn one_block_per_window_spanning_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::new([("__name__", "a")]);
        let h = 3_600_000;
        let mut input = VecScan(vec![
            (a.clone(), h / 2, 1.0),
            (a.clone(), h, 2.0),
            (a.clone(), 7 * h, 3.0),
        ]);
        let blocks = backfill(&mut input, dir.path(), 0).unwrap();
        let ranges: Vec<(i64, i64)> = blocks
            .iter()
            .map(|b| (b.min_time(), b.max_time()))
            .collect();
        assert_eq!(ranges, [(h / 2, h + 1), (7 * h, 7 * h + 1)]);
        assert_eq!(blocks[0].meta().stats.num_samples, 2);
    }

    #[test]
    fn out_of_order_samples_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::new([("__name__", "a")]);
        let mut input = VecScan(vec![(a.clone(), 10, 1.0), (a.clone(), 5, 2.0)]);
        let e = backfill(&mut input, dir.path(), 0).unwrap_err();
        assert!(e.to_string().contains("out of order sample"), "{e}");
    }
}
