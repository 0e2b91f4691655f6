//! The head as a [`BlockSource`]: what the compactor reads to cut a block from memory.
//!
//! Chunks that lie inside the range go out as they are (bytes copied from memory or the
//! mapped file); chunks straddling a boundary, and series that have out-of-order samples
//! in the range, are decoded and re-encoded so that a block's chunks stay ordered,
//! disjoint and inside its range. Isolation does not apply: blocks are cut from ranges
//! no appender writes to any more.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hearth_model::{FloatHistogram, Histogram};

use crate::block_source::{BlockSource, SourceChunk, SourceSeries, SourceSeriesIter};
use crate::chunkenc::{AppendOutcome, ChunkAppender, ChunkSampleIterator, Encoding, ValueType};
use crate::postings::{PostingsSource, collect};
use crate::storage::StorageError;
use crate::tombstones::{DeletedCursor, Interval, TombstoneReader};

use super::query::{SnapChunk, chunk_handles, merge_ooo};
use super::series::MemSeries;
use super::{Head, HeadShared};

/// One decoded sample.
enum Value {
    Float(f64),
    Histogram(Histogram),
    FloatHistogram(FloatHistogram),
}

impl Value {
    fn encoding(&self) -> Encoding {
        match self {
            Value::Float(_) => Encoding::Xor,
            Value::Histogram(_) => Encoding::Histogram,
            Value::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }
}

/// Re-encodes samples (sorted by time) into chunks of at most `per_chunk` samples.
struct ChunkBuilder {
    per_chunk: usize,
    cur: Option<(ChunkAppender, i64, i64)>,
    out: Vec<SourceChunk>,
}

impl ChunkBuilder {
    fn finish(&mut self) {
        if let Some((app, min, max)) = self.cur.take()
            && app.num_samples() > 0
        {
            let chunk = app.into_chunk();
            self.out.push(SourceChunk {
                encoding: chunk.encoding(),
                min_time: min,
                max_time: max,
                data: chunk.into_bytes(),
            });
        }
    }

    fn push(&mut self, t: i64, v: &Value) -> Result<(), StorageError> {
        let enc = v.encoding();
        if self
            .cur
            .as_ref()
            .is_some_and(|(a, _, _)| a.encoding() != enc || a.num_samples() >= self.per_chunk)
        {
            self.finish();
        }
        let (app, _, _) = self
            .cur
            .get_or_insert_with(|| (ChunkAppender::new(enc), t, t));
        let fail = |e: crate::chunkenc::AppendError| StorageError::Corruption {
            location: format!("re-encoding head chunk at {t}"),
            reason: e.to_string(),
        };
        let outcome = match v {
            Value::Float(x) => app.append(0, t, *x).map(|()| AppendOutcome::Appended),
            Value::Histogram(h) => app.append_histogram(None, 0, t, h, false),
            Value::FloatHistogram(h) => app.append_float_histogram(None, 0, t, h, false),
        }
        .map_err(fail)?;
        match outcome {
            AppendOutcome::NewChunk(next) => {
                // The sample starts a new chunk (counter reset, layout change).
                self.finish();
                self.cur = Some((next, t, t));
            }
            AppendOutcome::Appended | AppendOutcome::Recoded => {
                if let Some(c) = self.cur.as_mut() {
                    c.2 = t;
                }
            }
        }
        Ok(())
    }
}

/// Decodes the samples of `chunks` within `[mint, maxt)` into `f`.
fn decode_in_range(
    chunks: &[SnapChunk],
    mint: i64,
    maxt: i64,
    mut f: impl FnMut(i64, Value) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    for c in chunks {
        let mut it = c.iter()?;
        loop {
            let vt = it.next();
            let t = it.at_t();
            let v = match vt {
                ValueType::None => break,
                _ if t < mint || t >= maxt => continue,
                ValueType::Float => Value::Float(it.at().1),
                ValueType::Histogram => match it.at_histogram() {
                    Some((_, h)) => Value::Histogram(h),
                    None => continue,
                },
                ValueType::FloatHistogram => match it.at_float_histogram() {
                    Some((_, h)) => Value::FloatHistogram(h),
                    None => continue,
                },
            };
            f(t, v)?;
        }
        if let Some(e) = it.err() {
            return Err(StorageError::Corruption {
                location: format!("head chunk [{}, {}]", c.min_time, c.max_time),
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}

/// The chunks of one series for `[mint, maxt)`.
fn series_chunks(
    head: &HeadShared,
    series: &MemSeries,
    mint: i64,
    maxt: i64,
) -> Result<Vec<SourceChunk>, StorageError> {
    let last = maxt.saturating_sub(1);
    let handles = {
        let st = series.state.lock();
        chunk_handles(head, &st, mint, last, last)
    };
    let ooo = if handles.ooo.is_empty() && handles.ooo_buffer.is_empty() {
        Vec::new()
    } else {
        merge_ooo(&handles.ooo, &handles.ooo_buffer, mint, last)?
    };
    // Deleted samples (head tombstones) are left out of the block.
    let deleted: Vec<Interval> = head
        .tombstones
        .get(series.series_ref)
        .iter()
        .filter(|iv| iv.maxt >= mint && iv.mint < maxt)
        .copied()
        .collect();
    let per_chunk = head.opts.samples_per_chunk;
    let mut b = ChunkBuilder {
        per_chunk,
        cur: None,
        out: Vec::new(),
    };
    if ooo.is_empty() && deleted.is_empty() {
        for c in &handles.in_order {
            if c.min_time >= mint && c.max_time < maxt {
                b.finish();
                let (encoding, data) = c.bytes()?;
                b.out.push(SourceChunk {
                    encoding,
                    min_time: c.min_time,
                    max_time: c.max_time,
                    data: data.to_vec(),
                });
            } else {
                decode_in_range(std::slice::from_ref(c), mint, maxt, |t, v| b.push(t, &v))?;
                b.finish();
            }
        }
        b.finish();
        return Ok(b.out);
    }
    // Merge in-order and out-of-order samples by time; an in-order sample wins a tie.
    let mut rest = ooo.as_slice();
    let mut del = DeletedCursor::new(deleted);
    let mut push = |b: &mut ChunkBuilder, t: i64, v: &Value| {
        if del.is_deleted(t) {
            return Ok(());
        }
        b.push(t, v)
    };
    decode_in_range(&handles.in_order, mint, maxt, |t, v| {
        while let Some((&(ot, ov), tail)) = rest.split_first() {
            if ot > t {
                break;
            }
            if ot < t {
                push(&mut b, ot, &Value::Float(ov))?;
            }
            rest = tail;
        }
        push(&mut b, t, &v)
    })?;
    for &(t, v) in rest {
        push(&mut b, t, &Value::Float(v))?;
    }
    b.finish();
    Ok(b.out)
}

impl BlockSource for Head {
    fn time_range(&self) -> (i64, i64) {
        let s = self.shared();
        let min = s.min_time.load(Ordering::Acquire);
        let max = s.max_time.load(Ordering::Acquire);
        let omin = s.ooo_min_time.load(Ordering::Acquire);
        let omax = s.ooo_max_time.load(Ordering::Acquire);
        (min.min(omin), max.max(omax))
    }

    fn symbols(&self, _mint: i64, _maxt: i64) -> Result<Vec<String>, StorageError> {
        Ok(self.shared().postings.read().symbols())
    }

    fn series_in_range(&self, mint: i64, maxt: i64) -> Result<SourceSeriesIter<'_>, StorageError> {
        let head = self.shared().clone();
        let refs = {
            let ix = head.postings.read();
            match ix.all_postings() {
                Ok(mut p) => collect(&mut p),
                Err(never) => match never {},
            }
        };
        let mut series: Vec<Arc<MemSeries>> = refs
            .into_iter()
            .filter_map(|r| head.series.get_by_ref(r))
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Box::new(series.into_iter().filter_map(
            move |s| match series_chunks(&head, &s, mint, maxt) {
                Ok(chunks) if chunks.is_empty() => None,
                Ok(chunks) => Some(Ok(SourceSeries {
                    labels: s.labels.clone(),
                    chunks,
                })),
                Err(e) => Some(Err(e)),
            },
        )))
    }
}
