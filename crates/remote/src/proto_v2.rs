//! The `io.prometheus.write.v2` protobuf package of remote write 2.0 (2.0-rc.4, as
//! Prometheus' `prompb/io/prometheus/write/v2/types.proto`), declared with prost by hand.
//!
//! Strings are interned in the request's `symbols` table and referenced by index. The
//! histogram message is wire-identical to 1.0's and shared with [`crate::proto`].
#![allow(missing_docs)]

use bytes::Bytes;

pub use crate::proto::{BucketSpan, Histogram, histogram};

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    // Fields 1 to 3 are reserved, so a 1.0 `WriteRequest` decodes as an empty `Request`
    // and the other way round.
    /// Deduplicated strings; the first must be the empty string.
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub symbols: Vec<Bytes>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Name/value pairs of indices into `Request.symbols`, sorted by name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Either samples or histograms, in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// rc.3's per-series `created_timestamp`, reserved since rc.4 moved it into each
    /// sample; still read so senders of the older draft keep their start timestamps.
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds; 0 means unset.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// Start (created) timestamp in milliseconds; 0 means unset.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(enumeration = "metadata::MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

pub mod metadata {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Unspecified = 0,
        Counter = 1,
        Gauge = 2,
        Histogram = 3,
        Gaugehistogram = 4,
        Summary = 5,
        Info = 6,
        Stateset = 7,
    }
}
