//! The shared vocabulary of hearth.
//!
//! This crate owns the data types every other crate speaks: label sets ([`Labels`]) built
//! from interned strings ([`Istr`]), label matchers with Prometheus' regex semantics
//! ([`Matcher`]), float samples and the staleness marker, native histograms, exemplars
//! and metric metadata.
//!
//! It must never know about formats, storage or queries: no parsing of expositions, no
//! I/O, no async. Everything here is plain data with the semantics Prometheus gives it.

pub mod duration;
pub mod exemplar;
pub mod float;
pub mod histogram;
pub mod histogram_bounds;
pub mod histogram_format;
pub mod histogram_gomath;
pub mod histogram_iter;
pub mod histogram_math;
pub mod histogram_trim;
pub mod intern;
pub mod labels;
pub mod matcher;
pub mod metadata;
pub mod names;
pub mod regex;
pub mod sample;

pub use duration::{DurationError, format_duration, parse_duration};
pub use exemplar::Exemplar;
pub use histogram::{
    Bucket, CounterResetHint, FloatHistogram, Histogram, HistogramError, HistogramValue, Span,
};
pub use histogram_math::{AddOutcome, HistogramOpError};
pub use histogram_trim::TrimSide;
pub use intern::Istr;
pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, matches_all};
pub use metadata::{Metadata, MetricType};
pub use names::ValidationScheme;
pub use regex::{FastRegex, RegexError, compile_anchored_with_captures, compile_go_regexp};
pub use sample::{Sample, Timestamp, is_stale_nan, stale_nan};
