//! Exposition formats: how metrics travel from a target to hearth and back out.
//!
//! Owns the Prometheus text format 0.0.4, OpenMetrics 1.0 text and the protobuf scrape
//! format: streaming parsers that yield borrowed [`Entry`] values, the strict OpenMetrics
//! validator, encoders for text and OpenMetrics, and the lint rules of `promtool check
//! metrics`.
//!
//! Must never know about storage, scraping policy or HTTP: it turns bytes into entries
//! and metric families into bytes, nothing else.

pub mod encode;
pub mod entry;
pub mod family;
pub mod lint;
pub mod openmetrics;
#[doc(hidden)]
pub mod properties;
pub mod proto;
pub mod proto_families;
pub mod protobuf;
mod syntax;
pub mod text;
pub mod validate;

pub use encode::{encode_openmetrics, encode_proto_text, encode_text};
pub use entry::{Entry, HistogramEntry, LabelPair, SampleEntry};
pub use family::{FamilyCollector, FamilySample, MetricFamily};
pub use hearth_model::HistogramValue;
pub use openmetrics::{OpenMetricsOptions, OpenMetricsParser};
pub use proto_families::{TextFamiliesError, expand_family, parse_text_families};
pub use protobuf::{ProtobufOptions, ProtobufParser};
pub use syntax::ParseError;
pub use text::TextParser;
pub use validate::OpenMetricsValidator;
