//! [`MemBlockSource`]: series and their chunks held in memory, as a [`BlockSource`].
//!
//! It is what backfilling writes blocks from (samples are chunked the way the head
//! chunks them, see [`SeriesChunker::head_like`]) and what tests and benchmarks build
//! blocks from without a head. [`MemBlockSource::from_querier`] turns anything queryable
//! (for example [`MemStorage`](crate::mem_storage::MemStorage)) into one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hearth_model::{Labels, Timestamp};

use crate::block_source::{BlockSource, SourceChunk, SourceSeries, SourceSeriesIter};
use crate::chunkenc;
use crate::series_chunker::{SeriesChunker, reencode};
use crate::storage::{AppendError, Querier, StorageError, ValueType};

/// Series with chunks, sorted by labels.
#[derive(Debug, Default, Clone)]
pub struct MemBlockSource {
    series: BTreeMap<Labels, Vec<SourceChunk>>,
}

impl MemBlockSource {
    pub fn new() -> MemBlockSource {
        MemBlockSource::default()
    }

    /// Adds (or replaces) a series with its chunks (time ordered).
    pub fn insert(&mut self, labels: Labels, chunks: Vec<SourceChunk>) {
        self.series.insert(labels, chunks);
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Total samples in all chunks.
    pub fn num_samples(&self) -> usize {
        self.series
            .values()
            .flatten()
            .map(|c| chunkenc::num_samples(c.encoding, &c.data))
            .sum()
    }

    /// Every sample `q` returns for all series, re-chunked as the head would with chunk
    /// range `chunk_range` (ms).
    pub fn from_querier(q: &dyn Querier, chunk_range: i64) -> Result<MemBlockSource, StorageError> {
        let set = q.select(true, None, &[])?;
        let mut out = MemBlockSource::new();
        for s in set.series {
            let mut c = SeriesChunker::head_like(chunk_range);
            let mut it = s.iterator();
            loop {
                let vt = it.next();
                if vt == ValueType::None {
                    break;
                }
                c.append_current(it.as_ref(), vt)
                    .map_err(|e| StorageError::Io(format!("chunking {}: {e}", s.labels())))?;
            }
            if let Some(e) = it.err() {
                return Err(e);
            }
            drop(it);
            let chunks = c.finish();
            if !chunks.is_empty() {
                out.insert(s.labels().clone(), chunks);
            }
        }
        Ok(out)
    }
}

impl BlockSource for MemBlockSource {
    fn time_range(&self) -> (i64, i64) {
        let chunks = self.series.values().flatten();
        let mint = chunks.clone().map(|c| c.min_time).min();
        let maxt = chunks.map(|c| c.max_time).max();
        (mint.unwrap_or(i64::MAX), maxt.unwrap_or(i64::MIN))
    }

    fn symbols(&self, _mint: i64, _maxt: i64) -> Result<Vec<String>, StorageError> {
        let mut syms: BTreeSet<&str> = BTreeSet::new();
        for l in self.series.keys().flat_map(|l| l.iter()) {
            syms.insert(l.name.as_str());
            syms.insert(l.value.as_str());
        }
        Ok(syms.into_iter().map(str::to_string).collect())
    }

    fn series_in_range(&self, mint: i64, maxt: i64) -> Result<SourceSeriesIter<'_>, StorageError> {
        Ok(Box::new(self.series.iter().filter_map(
            move |(labels, chunks)| {
                let mut out = Vec::new();
                for c in chunks
                    .iter()
                    .filter(|c| c.max_time >= mint && c.min_time < maxt)
                {
                    if c.min_time >= mint && c.max_time < maxt {
                        out.push(c.clone());
                        continue;
                    }
                    // Straddles the range: keep only the samples inside.
                    match reencode(std::slice::from_ref(c), |t| t >= mint && t < maxt) {
                        Ok(cs) => out.extend(cs),
                        Err(e) => {
                            return Some(Err(StorageError::Corruption {
                                location: format!("series {labels}"),
                                reason: e.to_string(),
                            }));
                        }
                    }
                }
                (!out.is_empty()).then(|| {
                    Ok(SourceSeries {
                        labels: labels.clone(),
                        chunks: out,
                    })
                })
            },
        )))
    }
}

/// Collects float samples series by series and chunks them as the head does, with the
/// head's append rules: per series, time must increase; a repeated timestamp with the
/// same value is dropped, with another value it is an error.
#[derive(Debug)]
pub struct MemBlockSourceBuilder {
    chunk_range: i64,
    series: HashMap<Labels, (SeriesChunker, Timestamp, u64)>,
}

impl MemBlockSourceBuilder {
    /// `chunk_range` (ms) is the head's chunk range the chunking imitates.
    pub fn new(chunk_range: i64) -> MemBlockSourceBuilder {
        MemBlockSourceBuilder {
            chunk_range,
            series: HashMap::new(),
        }
    }

    /// Appends a float sample to `labels`' series.
    pub fn append(&mut self, labels: &Labels, t: Timestamp, v: f64) -> Result<(), AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let range = self.chunk_range;
        if !self.series.contains_key(labels) {
            self.series.insert(
                labels.clone(),
                (SeriesChunker::head_like(range), Timestamp::MIN, 0),
            );
        }
        let Some((chunker, last_t, last_v)) = self.series.get_mut(labels) else {
            return Err(AppendError::EmptyLabels);
        };
        if t < *last_t {
            return Err(AppendError::OutOfOrderSample);
        }
        if t == *last_t {
            if v.to_bits() == *last_v {
                return Ok(());
            }
            return Err(AppendError::DuplicateSampleForTimestamp);
        }
        chunker
            .append_float(t, v)
            .map_err(|e| AppendError::Io(e.to_string()))?;
        *last_t = t;
        *last_v = v.to_bits();
        Ok(())
    }

    /// Number of series seen.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The finished source.
    pub fn build(self) -> MemBlockSource {
        let mut out = MemBlockSource::new();
        for (labels, (chunker, _, _)) in self.series {
            out.insert(labels, chunker.finish());
        }
        out
    }
}
