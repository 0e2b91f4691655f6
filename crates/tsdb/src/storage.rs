//! The storage interface: the only way the rest of hearth reads and writes samples.
//!
//! It mirrors Prometheus' `storage` package. Writers get an [`Appender`] (a transaction:
//! nothing is visible until [`Appender::commit`]); readers get a [`Querier`] over a time
//! range, select series by [`Matcher`]s and walk each series' samples with a
//! [`SampleIterator`] that streams from chunks. PromQL, federation and remote read see
//! nothing else: never the head, blocks or chunk formats behind it.

use std::fmt;

use hearth_model::{
    Exemplar, FloatHistogram, Histogram, HistogramValue, Labels, Matcher, Metadata, Timestamp,
};

/// A stable reference to a series in the storage that handed it out. Appenders return
/// it so the next append of the same series skips hashing its labels.
pub type SeriesRef = u64;

/// Why an append was rejected. The sample is dropped; everything else in the
/// transaction stays valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrderSample,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    #[error("too old sample")]
    TooOldSample,
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    #[error("exemplar label set is too long: {0} UTF-8 characters, the limit is 128")]
    ExemplarLabelsTooLong(usize),
    /// The exemplar has no timestamp and its series no sample to take one from (storages
    /// that keep exemplars need the time).
    #[error("exemplar has no timestamp and its series has no sample to take it from")]
    ExemplarWithoutTimestamp,
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    #[error("label set has duplicate label name {0:?}")]
    DuplicateLabelName(String),
    #[error("label set is empty or has no metric name")]
    EmptyLabels,
    #[error("limit of {limit} active series reached; series {labels} was not created")]
    SeriesLimit { limit: usize, labels: String },
    #[error("series reference {0} is unknown")]
    UnknownSeriesRef(SeriesRef),
    #[error("storage is closed")]
    Closed,
    #[error("storage failure: {0}")]
    Io(String),
}

/// A read failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("corrupt data in {location}: {reason}")]
    Corruption { location: String, reason: String },
    #[error("storage failure: {0}")]
    Io(String),
    #[error("query was canceled")]
    Canceled,
}

/// A write transaction. Dropping it without [`commit`](Appender::commit) rolls back.
pub trait Appender: Send {
    /// Adds a float sample. `series` is the reference returned by an earlier append of
    /// the same label set (or `None`); the returned reference is valid for later calls.
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError>;

    /// Adds a native histogram sample.
    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError>;

    /// Attaches an exemplar to a series (a timestamp is required by then).
    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError>;

    /// Records type, help and unit of the series' metric.
    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError>;

    /// Makes every sample of the transaction visible and durable (per the storage's
    /// sync policy) at once.
    fn commit(self: Box<Self>) -> Result<(), AppendError>;

    /// Discards the transaction.
    fn rollback(self: Box<Self>) -> Result<(), AppendError>;
}

/// Something samples can be written to.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// What the caller will do with selected series; storages may use it to read less.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Start of the data needed (ms), including lookback and range.
    pub start: Timestamp,
    pub end: Timestamp,
    /// Query resolution step (ms), 0 for instant queries.
    pub step: i64,
    /// The function the selector is an argument of (`rate`, `series` for metadata-only).
    pub func: String,
    /// Labels grouped by, when the selector is inside an aggregation.
    pub grouping: Vec<String>,
    /// `by` (true) or `without` (false).
    pub by: bool,
    /// Range of a range selector (ms).
    pub range: i64,
}

/// The kind of value an iterator is positioned on (`None`: exhausted, or failed — see
/// [`SampleIterator::err`]). One type with the chunk iterators', so that storages pass
/// what chunks say straight through.
pub use crate::chunkenc::ValueType;

/// Walks one series' samples in time order, from chunks, without materialising them.
pub trait SampleIterator: Send {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueType;

    /// Advances to the first sample at or after `t`; never moves backwards (if already at
    /// or past `t`, stays).
    fn seek(&mut self, t: Timestamp) -> ValueType;

    /// The current float sample.
    fn at(&self) -> (Timestamp, f64);

    /// The current integer histogram sample.
    fn at_histogram(&self) -> (Timestamp, Histogram);

    /// The current histogram sample in float form (converting integer histograms).
    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram);

    /// Timestamp of the current sample.
    fn at_t(&self) -> Timestamp;

    /// Start (created) timestamp of the current sample, when the storage keeps one.
    fn at_st(&self) -> Option<Timestamp> {
        None
    }

    /// Why iteration stopped early, if it did.
    fn err(&self) -> Option<StorageError> {
        None
    }
}

/// One selected series.
pub trait Series: Send {
    fn labels(&self) -> &Labels;
    fn iterator(&self) -> Box<dyn SampleIterator + '_>;
}

/// The result of a select: series (sorted by labels when asked) and warnings.
#[derive(Default)]
pub struct SeriesSet {
    pub series: Vec<Box<dyn Series>>,
    pub warnings: Vec<String>,
}

impl fmt::Debug for SeriesSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesSet")
            .field(
                "series",
                &self
                    .series
                    .iter()
                    .map(|s| s.labels().clone())
                    .collect::<Vec<_>>(),
            )
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Reads one time range. Cheap to create; create one per query.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` with samples in the querier's range.
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError>;

    /// Sorted distinct values of label `name` among series matching `matchers` (all
    /// series when empty).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted distinct label names among series matching `matchers`.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Something that can be queried.
pub trait Queryable: Send + Sync {
    /// A querier over `[mint, maxt]` (inclusive, ms).
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError>;
}

/// A full storage: written by scrapes, rules and remote write; read by queries.
pub trait Storage: Appendable + Queryable {}

impl<T: Appendable + Queryable> Storage for T {}
