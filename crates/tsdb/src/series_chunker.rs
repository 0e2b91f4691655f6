//! [`SeriesChunker`]: turns the samples of one series, in time order, into finished
//! chunks, cutting them where Prometheus would.
//!
//! Two cutting rules exist upstream and both are here: the compactor's re-encoding of
//! merged or partially deleted data cuts every 120 samples ([`SeriesChunker::fixed`]), and
//! the head cuts by predicted end time, sample count and size ([`SeriesChunker::head_like`])
//! — the rule behind blocks that `promtool tsdb create-blocks-from` writes, so backfilled
//! blocks come out chunked the same way.

use hearth_model::{FloatHistogram, Histogram, Timestamp};

use crate::block_source::SourceChunk;
use crate::chunkenc::{
    self, AppendOutcome, ChunkAppender, ChunkIterator, ChunkSampleIterator, Encoding,
    MAX_BYTES_PER_XOR_CHUNK,
};

/// Samples per chunk Prometheus aims at (`DefaultSamplesPerChunk`).
pub const SAMPLES_PER_CHUNK: usize = 120;

#[derive(Debug, Clone, Copy)]
enum CutRule {
    /// Cut after this many samples.
    Fixed(usize),
    /// The head's rule with this chunk range (ms).
    HeadLike(i64),
}

#[derive(Debug)]
struct OpenChunk {
    app: ChunkAppender,
    min_time: Timestamp,
    max_time: Timestamp,
}

/// Builds the chunks of one series.
#[derive(Debug)]
pub struct SeriesChunker {
    rule: CutRule,
    done: Vec<SourceChunk>,
    open: Option<OpenChunk>,
    /// Head rule: the time at which the open chunk must be cut.
    next_at: Timestamp,
}

impl SeriesChunker {
    /// Cuts every `samples` samples (and when the value type changes).
    pub fn fixed(samples: usize) -> SeriesChunker {
        SeriesChunker {
            rule: CutRule::Fixed(samples.max(1)),
            done: Vec::new(),
            open: None,
            next_at: Timestamp::MAX,
        }
    }

    /// Cuts as the head does with chunk range `chunk_range` (ms): aiming at 120 samples
    /// spread evenly over the range, at most 240, float chunks at most ~1 KiB.
    pub fn head_like(chunk_range: i64) -> SeriesChunker {
        SeriesChunker {
            rule: CutRule::HeadLike(chunk_range.max(1)),
            done: Vec::new(),
            open: None,
            next_at: Timestamp::MAX,
        }
    }

    /// Whether a sample at `t` of `encoding` must start a new chunk.
    fn must_cut(&mut self, t: Timestamp, encoding: Encoding) -> bool {
        let Some(open) = &self.open else {
            return true;
        };
        if open.app.encoding() != encoding {
            return true;
        }
        let n = open.app.num_samples();
        match self.rule {
            CutRule::Fixed(max) => n >= max,
            CutRule::HeadLike(_) => {
                // Assume the next sample takes the most an XOR sample can (19 bytes).
                if encoding == Encoding::Xor
                    && open.app.bytes().len() > MAX_BYTES_PER_XOR_CHUNK - 19
                {
                    return true;
                }
                if n == SAMPLES_PER_CHUNK / 4 {
                    self.next_at = chunk_end_time(open.min_time, open.max_time, self.next_at, 4.0);
                }
                t >= self.next_at || n >= SAMPLES_PER_CHUNK * 2
            }
        }
    }

    fn finish_open(&mut self) {
        if let Some(open) = self.open.take()
            && open.app.num_samples() > 0
        {
            let chunk = open.app.into_chunk();
            self.done.push(SourceChunk {
                encoding: chunk.encoding(),
                min_time: open.min_time,
                max_time: open.max_time,
                data: chunk.into_bytes(),
            });
        }
    }

    fn open_for(&mut self, t: Timestamp, encoding: Encoding) -> &mut OpenChunk {
        if self.must_cut(t, encoding) {
            self.finish_open();
            if let CutRule::HeadLike(range) = self.rule {
                self.next_at = range_end(t, range);
            }
        }
        self.open.get_or_insert_with(|| OpenChunk {
            app: ChunkAppender::new(encoding),
            min_time: t,
            max_time: t,
        })
    }

    /// Appends a float sample; times must increase.
    pub fn append_float(&mut self, t: Timestamp, v: f64) -> Result<(), chunkenc::AppendError> {
        let open = self.open_for(t, Encoding::Xor);
        open.app.append(0, t, v)?;
        open.max_time = t;
        Ok(())
    }

    /// Appends an integer histogram sample; times must increase.
    pub fn append_histogram(
        &mut self,
        t: Timestamp,
        h: &Histogram,
    ) -> Result<(), chunkenc::AppendError> {
        let open = self.open_for(t, Encoding::Histogram);
        let outcome = open.app.append_histogram(None, 0, t, h, false)?;
        self.after_histogram_append(t, outcome);
        Ok(())
    }

    /// Appends a float histogram sample; times must increase.
    pub fn append_float_histogram(
        &mut self,
        t: Timestamp,
        h: &FloatHistogram,
    ) -> Result<(), chunkenc::AppendError> {
        let open = self.open_for(t, Encoding::FloatHistogram);
        let outcome = open.app.append_float_histogram(None, 0, t, h, false)?;
        self.after_histogram_append(t, outcome);
        Ok(())
    }

    fn after_histogram_append(&mut self, t: Timestamp, outcome: AppendOutcome<ChunkAppender>) {
        match outcome {
            AppendOutcome::Appended | AppendOutcome::Recoded => {
                if let Some(open) = &mut self.open {
                    open.max_time = t;
                }
            }
            // The sample did not fit (counter reset, schema change): it starts a chunk.
            AppendOutcome::NewChunk(app) => {
                self.finish_open();
                self.open = Some(OpenChunk {
                    app,
                    min_time: t,
                    max_time: t,
                });
            }
        }
    }

    /// Number of samples appended so far.
    pub fn num_samples(&self) -> usize {
        self.done
            .iter()
            .map(|c| chunkenc::num_samples(c.encoding, &c.data))
            .sum::<usize>()
            + self.open.as_ref().map_or(0, |o| o.app.num_samples())
    }

    /// The finished chunks, in time order.
    pub fn finish(mut self) -> Vec<SourceChunk> {
        self.finish_open();
        self.done
    }
}

/// Why chunks could not be re-encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReencodeError {
    #[error("chunk {min_time}..{max_time}: {source}")]
    Chunk {
        min_time: Timestamp,
        max_time: Timestamp,
        #[source]
        source: chunkenc::ChunkError,
    },
    #[error("re-encoding sample at {t}: {source}")]
    Append {
        t: Timestamp,
        #[source]
        source: chunkenc::AppendError,
    },
}

/// The samples of `chunks` merged by time (one sample per timestamp, earlier chunks
/// winning) without those `keep` rejects, re-encoded 120 samples per chunk: how upstream
/// merges overlapping chunks and rewrites partly deleted ones.
pub fn reencode(
    chunks: &[SourceChunk],
    keep: impl Fn(Timestamp) -> bool,
) -> Result<Vec<SourceChunk>, ReencodeError> {
    let mut its: Vec<ChunkIterator<'_>> = chunks
        .iter()
        .map(|c| ChunkIterator::new(c.encoding, &c.data))
        .collect();
    let mut vts: Vec<chunkenc::ValueType> = its.iter_mut().map(|it| it.next()).collect();
    let mut out = SeriesChunker::fixed(SAMPLES_PER_CHUNK);
    loop {
        for (i, it) in its.iter().enumerate() {
            if let (chunkenc::ValueType::None, Some(e)) = (vts[i], it.err()) {
                return Err(ReencodeError::Chunk {
                    min_time: chunks[i].min_time,
                    max_time: chunks[i].max_time,
                    source: e.clone(),
                });
            }
        }
        let Some((i, t)) = (0..its.len())
            .filter(|&i| vts[i] != chunkenc::ValueType::None)
            .map(|i| (i, its[i].at_t()))
            .min_by_key(|&(i, t)| (t, i))
        else {
            break;
        };
        if keep(t) {
            let it = &its[i];
            let r = match vts[i] {
                chunkenc::ValueType::Float => out.append_float(t, it.at().1),
                chunkenc::ValueType::Histogram => match it.at_histogram() {
                    Some((_, h)) => out.append_histogram(t, &h),
                    None => Ok(()),
                },
                chunkenc::ValueType::FloatHistogram => match it.at_float_histogram() {
                    Some((_, h)) => out.append_float_histogram(t, &h),
                    None => Ok(()),
                },
                chunkenc::ValueType::None => Ok(()),
            };
            r.map_err(|source| ReencodeError::Append { t, source })?;
        }
        // Advance every iterator at `t`: one sample per timestamp survives.
        for j in 0..its.len() {
            while vts[j] != chunkenc::ValueType::None && its[j].at_t() <= t {
                vts[j] = its[j].next();
            }
        }
    }
    Ok(out.finish())
}

/// End of the `width`-aligned range `t` falls in (upstream's `rangeForTimestamp`).
pub fn range_end(t: Timestamp, width: i64) -> Timestamp {
    (t.div_euclid(width)) * width + width
}

/// When to cut a chunk that started at `start` and reached `cur` after a quarter of its
/// samples so the rest of the range up to `max_t` fills evenly sized chunks (upstream's
/// `computeChunkEndTime`).
fn chunk_end_time(start: Timestamp, cur: Timestamp, max_t: Timestamp, ratio_to_full: f64) -> i64 {
    let n = (max_t - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + (max_t - start) as f64 / n.floor()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::ValueType;

    fn samples(chunks: &[SourceChunk]) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in chunks {
            let mut it = ChunkIterator::new(c.encoding, &c.data);
            while it.next() == ValueType::Float {
                out.push(it.at());
            }
            assert!(it.err().is_none());
        }
        out
    }

    #[test]
    fn fixed_cuts_every_120_samples() {
        let mut c = SeriesChunker::fixed(120);
        for i in 0..300 {
            c.append_float(i * 1000, i as f64).unwrap();
        }
        let chunks = c.finish();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].min_time, 0);
        assert_eq!(chunks[0].max_time, 119_000);
        assert_eq!(chunks[2].max_time, 299_000);
        assert_eq!(samples(&chunks).len(), 300);
    }

    #[test]
    fn head_like_spreads_a_2h_range_of_15s_samples_evenly() {
        // 480 samples over 2h at 15s: the head makes 4 chunks of 120.
        let mut c = SeriesChunker::head_like(7_200_000);
        for i in 0..480 {
            c.append_float(i * 15_000, 1.0).unwrap();
        }
        let chunks = c.finish();
        let counts: Vec<usize> = chunks
            .iter()
            .map(|c| chunkenc::num_samples(c.encoding, &c.data))
            .collect();
        assert_eq!(counts, [120, 120, 120, 120]);
    }

    #[test]
    fn reencode_merges_drops_duplicates_and_filters() {
        let mut a = SeriesChunker::fixed(120);
        let mut b = SeriesChunker::fixed(120);
        for i in 0..10 {
            a.append_float(i * 2, 1.0).unwrap();
            b.append_float(i * 3, 2.0).unwrap();
        }
        let mut chunks = a.finish();
        chunks.extend(b.finish());
        let out = reencode(&chunks, |t| t != 6).unwrap();
        let got = samples(&out);
        let ts: Vec<i64> = got.iter().map(|s| s.0).collect();
        assert_eq!(ts, [0, 2, 3, 4, 8, 9, 10, 12, 14, 15, 16, 18, 21, 24, 27]);
        // Where both have a sample, the first chunk's wins.
        assert_eq!(got[0], (0, 1.0));
    }

    #[test]
    fn value_type_change_cuts() {
        let mut c = SeriesChunker::fixed(120);
        c.append_float(1, 1.0).unwrap();
        c.append_histogram(2, &Histogram::default()).unwrap();
        c.append_float(3, 1.0).unwrap();
        let chunks = c.finish();
        let encs: Vec<Encoding> = chunks.iter().map(|c| c.encoding).collect();
        assert_eq!(encs, [Encoding::Xor, Encoding::Histogram, Encoding::Xor]);
    }
}
