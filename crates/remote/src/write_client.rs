//! Building blocks for the remote write sender (the queue manager comes later): a batch
//! of series encoded as a 1.0 `WriteRequest` or a 2.0 `Request` (with its symbols table),
//! compressed, with the headers to send; and a receiver's answer read back (2.0 written
//! counts, whether to retry).

use std::collections::HashMap;

use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, Timestamp};
use prost::Message;

use crate::compression::{self, CompressError};
use crate::convert::{histogram_to_proto, labels_to_proto, metric_type_to_v1, metric_type_to_v2};
use crate::proto;
use crate::proto_v2;
use crate::receiver::{
    EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, SAMPLES_WRITTEN_HEADER, VERSION_HEADER,
    WriteMessage, WriteStats,
};

/// A float sample to send; `st` is the start timestamp (0: unset, sent by 2.0 only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutgoingSample {
    pub st: Timestamp,
    pub t: Timestamp,
    pub v: f64,
}

/// A histogram sample to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingHistogram {
    pub st: Timestamp,
    pub t: Timestamp,
    pub h: HistogramValue,
}

/// One series of a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingSeries {
    pub labels: Labels,
    pub samples: Vec<OutgoingSample>,
    pub histograms: Vec<OutgoingHistogram>,
    pub exemplars: Vec<Exemplar>,
    /// Sent with the series by 2.0; 1.0 sends metadata per metric family instead.
    pub metadata: Option<Metadata>,
}

/// Metadata of one metric family, as 1.0 sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyMetadata {
    pub family: String,
    pub metadata: Metadata,
}

/// The 1.0 message of a batch.
pub fn to_write_request(
    series: &[OutgoingSeries],
    metadata: &[FamilyMetadata],
) -> proto::WriteRequest {
    proto::WriteRequest {
        timeseries: series
            .iter()
            .map(|s| proto::TimeSeries {
                labels: labels_to_proto(&s.labels),
                samples: s
                    .samples
                    .iter()
                    .map(|x| proto::Sample {
                        value: x.v,
                        timestamp: x.t,
                    })
                    .collect(),
                exemplars: s
                    .exemplars
                    .iter()
                    .map(|e| proto::Exemplar {
                        labels: labels_to_proto(&e.labels),
                        value: e.value,
                        timestamp: e.timestamp.unwrap_or(0),
                    })
                    .collect(),
                histograms: s
                    .histograms
                    .iter()
                    .map(|h| histogram_to_proto(h.t, &h.h))
                    .collect(),
            })
            .collect(),
        metadata: metadata
            .iter()
            .map(|m| proto::MetricMetadata {
                r#type: metric_type_to_v1(m.metadata.metric_type) as i32,
                metric_family_name: m.family.clone(),
                help: m.metadata.help.clone(),
                unit: m.metadata.unit.clone(),
            })
            .collect(),
    }
}

/// The 2.0 symbols table being built: each distinct string once, the empty string first.
#[derive(Debug)]
pub struct SymbolTable<'a> {
    index: HashMap<&'a str, u32>,
    symbols: Vec<&'a str>,
}

impl Default for SymbolTable<'_> {
    fn default() -> Self {
        SymbolTable {
            index: HashMap::from([("", 0)]),
            symbols: vec![""],
        }
    }
}

impl<'a> SymbolTable<'a> {
    /// The reference of `s`, adding it on first use.
    pub fn symbolize(&mut self, s: &'a str) -> u32 {
        if let Some(r) = self.index.get(s) {
            return *r;
        }
        let r = self.symbols.len() as u32;
        self.symbols.push(s);
        self.index.insert(s, r);
        r
    }

    /// Name/value references of a label set.
    pub fn labels_refs(&mut self, labels: &'a Labels) -> Vec<u32> {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for l in labels {
            refs.push(self.symbolize(l.name.as_str()));
            refs.push(self.symbolize(l.value.as_str()));
        }
        refs
    }

    pub fn into_symbols(self) -> Vec<bytes::Bytes> {
        self.symbols
            .into_iter()
            .map(|s| bytes::Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }
}

/// The 2.0 message of a batch.
pub fn to_request_v2(series: &[OutgoingSeries]) -> proto_v2::Request {
    let mut symbols = SymbolTable::default();
    let timeseries = series
        .iter()
        .map(|s| {
            let labels_refs = symbols.labels_refs(&s.labels);
            let exemplars = s
                .exemplars
                .iter()
                .map(|e| proto_v2::Exemplar {
                    labels_refs: symbols.labels_refs(&e.labels),
                    value: e.value,
                    timestamp: e.timestamp.unwrap_or(0),
                })
                .collect();
            let metadata = s.metadata.as_ref().map(|m| proto_v2::Metadata {
                r#type: metric_type_to_v2(m.metric_type) as i32,
                help_ref: symbols.symbolize(&m.help),
                unit_ref: symbols.symbolize(&m.unit),
            });
            proto_v2::TimeSeries {
                labels_refs,
                samples: s
                    .samples
                    .iter()
                    .map(|x| proto_v2::Sample {
                        value: x.v,
                        timestamp: x.t,
                        start_timestamp: x.st,
                    })
                    .collect(),
                histograms: s
                    .histograms
                    .iter()
                    .map(|h| proto::Histogram {
                        start_timestamp: h.st,
                        ..histogram_to_proto(h.t, &h.h)
                    })
                    .collect(),
                exemplars,
                metadata,
                created_timestamp: 0,
            }
        })
        .collect();
    proto_v2::Request {
        symbols: symbols.into_symbols(),
        timeseries,
    }
}

/// A request ready to POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedWrite {
    pub message: WriteMessage,
    /// Snappy-compressed protobuf.
    pub body: Vec<u8>,
}

impl EncodedWrite {
    /// A batch as `message`, compressed (`metadata` is used by 1.0 only).
    pub fn new(
        message: WriteMessage,
        series: &[OutgoingSeries],
        metadata: &[FamilyMetadata],
    ) -> Result<EncodedWrite, CompressError> {
        let raw = match message {
            WriteMessage::V1 => to_write_request(series, metadata).encode_to_vec(),
            WriteMessage::V2 => to_request_v2(series).encode_to_vec(),
        };
        Ok(EncodedWrite {
            message,
            body: compression::compress(&raw)?,
        })
    }

    /// The reserved headers the spec requires (the caller adds `User-Agent`).
    pub fn headers(&self) -> [(&'static str, &'static str); 3] {
        [
            ("Content-Encoding", compression::SNAPPY),
            ("Content-Type", self.message.content_type()),
            (VERSION_HEADER, self.message.version()),
        ]
    }
}

/// What the sender does after a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteVerdict {
    Written,
    /// 5xx, or 429: send the same request again after backing off (`Retry-After`
    /// seconds when the receiver gave them).
    Retry {
        after_seconds: Option<u64>,
        message: String,
    },
    /// Any other 4xx: the data will never be accepted; drop it.
    Drop {
        message: String,
    },
}

/// A receiver's answer as the sender understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResponse {
    pub verdict: WriteVerdict,
    /// 2.0 written counts; `None` when the receiver sent none of the headers (a 1.0
    /// receiver, which must not be read as "nothing written").
    pub stats: Option<WriteStats>,
}

/// Reads a receiver's answer to a request of `message`. `header` looks a response
/// header up by name. A 2.0 success without any written header is treated as a failure,
/// as the spec says: the receiver probably decoded our 2.0 message as 1.0.
pub fn read_write_response<'h>(
    message: WriteMessage,
    status: u16,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> WriteResponse {
    let mut stats = None;
    if message == WriteMessage::V2 {
        let mut s = WriteStats::default();
        let mut confirmed = false;
        for (name, field) in [
            (SAMPLES_WRITTEN_HEADER, &mut s.samples),
            (HISTOGRAMS_WRITTEN_HEADER, &mut s.histograms),
            (EXEMPLARS_WRITTEN_HEADER, &mut s.exemplars),
        ] {
            if let Some(v) = header(name).filter(|v| !v.is_empty()) {
                confirmed = true;
                *field = v.trim().parse().unwrap_or(0);
            }
        }
        stats = confirmed.then_some(s);
    }
    let text = String::from_utf8_lossy(body).trim_end().to_string();
    let verdict = match status {
        200..=299 if message == WriteMessage::V2 && stats.is_none() => WriteVerdict::Drop {
            message: "sent v2 request; got 2xx, but no PRW 2.0 response header statistics; assuming the receiver only supports PRW 1.0 prometheus.WriteRequest".to_string(),
        },
        200..=299 => WriteVerdict::Written,
        429 | 500..=599 => WriteVerdict::Retry {
            after_seconds: header("Retry-After").and_then(|v| v.trim().parse().ok()),
            message: format!("server returned HTTP status {status}: {text}"),
        },
        _ => WriteVerdict::Drop {
            message: format!("server returned HTTP status {status}: {text}"),
        },
    };
    WriteResponse { verdict, stats }
}
