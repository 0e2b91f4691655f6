//! The remote read server: `POST /api/v1/read` of Prometheus, framework-agnostic.
//!
//! [`ReadHandler::prepare`] waits for a slot under the concurrency limit
//! (`--storage.remote.read-concurrent-limit`), decodes the snappy `ReadRequest` and
//! negotiates the response type (first supported of `accepted_response_types`, `SAMPLES`
//! when empty). The [`PreparedRead`] then answers:
//!
//! - `SAMPLES`: one snappy-compressed `ReadResponse`, each query's samples counted
//!   against `--storage.remote.read-sample-limit` (`400 exceeded sample limit (N)`).
//! - `STREAMED_XOR_CHUNKS`: frames (see [`crate::chunked`]) of at most one series each,
//!   split when they pass `--storage.remote.read-max-bytes-in-frame`; series sorted, their
//!   samples re-encoded into chunks of 120 samples (XOR, or histogram chunks).
//!
//! External labels as upstream: an equality matcher on an external label with its value
//! is rewritten to match the label's absence (stored series do not carry it), and the
//! external labels are added to every returned series unless it has the label already.
//! Other matchers on external labels reach the storage unchanged.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use hearth_model::{Label, Labels, MatchOp, Matcher};
use hearth_tsdb::chunkenc::Encoding;
use hearth_tsdb::series_chunker::{SAMPLES_PER_CHUNK, SeriesChunker};
use hearth_tsdb::storage::{Queryable, SampleIterator, SelectHints, Series, ValueType};
use parking_lot::{Condvar, Mutex, RwLock};
use prost::Message;

use crate::chunked::ChunkedWriter;
use crate::compression::{self, DecompressError};
use crate::convert::{
    float_histogram_to_proto, integer_histogram_to_proto, labels_to_proto, matcher_from_proto,
};
use crate::proto::{self, read_request::ResponseType};
use crate::response::RemoteResponse;

/// `Content-Type` of a `SAMPLES` response (with `Content-Encoding: snappy`).
pub const SAMPLES_CONTENT_TYPE: &str = "application/x-protobuf";
/// `Content-Type` of a `STREAMED_XOR_CHUNKS` response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Limits, with upstream's flag defaults.
#[derive(Debug, Clone)]
pub struct ReadHandlerOptions {
    /// Samples per query of a `SAMPLES` response; 0 is no limit.
    pub sample_limit: usize,
    /// Requests served at once (others wait); 0 is no limit.
    pub concurrent_limit: usize,
    /// Frame size a streamed series is split at (exceeded by at most one chunk).
    pub max_bytes_in_frame: usize,
    /// Largest compressed request body (upstream reads at most 32 MiB).
    pub max_request_bytes: usize,
    /// Largest decoded request.
    pub max_decoded_request_bytes: usize,
}

impl Default for ReadHandlerOptions {
    fn default() -> Self {
        ReadHandlerOptions {
            sample_limit: 50_000_000,
            concurrent_limit: 10,
            max_bytes_in_frame: 1 << 20,
            max_request_bytes: 32 << 20,
            max_decoded_request_bytes: 64 << 20,
        }
    }
}

/// A failed read: the status to answer with while nothing was sent yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub status: u16,
    pub message: String,
}

impl ReadError {
    fn internal(message: impl Into<String>) -> ReadError {
        ReadError {
            status: 500,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> RemoteResponse {
        RemoteResponse::error(self.status, &self.message)
    }
}

/// Serves remote read requests from any [`Queryable`].
#[derive(Debug)]
pub struct ReadHandler {
    options: ReadHandlerOptions,
    external_labels: RwLock<Labels>,
    gate: Gate,
    queries: AtomicI64,
}

impl ReadHandler {
    pub fn new(options: ReadHandlerOptions) -> ReadHandler {
        ReadHandler {
            gate: Gate::new(options.concurrent_limit),
            options,
            external_labels: RwLock::new(Labels::empty()),
            queries: AtomicI64::new(0),
        }
    }

    pub fn options(&self) -> &ReadHandlerOptions {
        &self.options
    }

    /// The configuration's `global.external_labels` (replaced on reload).
    pub fn set_external_labels(&self, labels: Labels) {
        *self.external_labels.write() = labels;
    }

    /// Requests being served or waiting (`prometheus_remote_read_handler_queries`).
    pub fn queries_in_flight(&self) -> i64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Waits for a slot, then decodes the body and negotiates the response type; `Err`
    /// is the answer to send.
    pub fn prepare(&self, body: &[u8]) -> Result<PreparedRead<'_>, RemoteResponse> {
        let in_flight = InFlight::new(&self.queries);
        let permit = self.gate.acquire();
        let request = decode_read_request(body, &self.options).map_err(ReadError::into_response)?;
        let response_type = negotiate_response_type(&request.accepted_response_types)
            .map_err(|e| RemoteResponse::error(400, &e))?;
        Ok(PreparedRead {
            handler: self,
            request,
            response_type,
            external_labels: self.external_labels.read().clone(),
            _permit: permit,
            _in_flight: in_flight,
        })
    }

    /// Serves one request completely in memory (a streamed answer is buffered), for
    /// callers that cannot stream.
    pub fn handle(&self, queryable: &dyn Queryable, body: &[u8]) -> RemoteResponse {
        match self.prepare(body) {
            Err(r) => r,
            Ok(p) if p.response_type() == ResponseType::Samples => p.respond_samples(queryable),
            Ok(p) => {
                let mut out = Vec::new();
                match p.stream_chunks(queryable, &mut out) {
                    Ok(()) => RemoteResponse {
                        status: 200,
                        headers: vec![("Content-Type", STREAMED_CONTENT_TYPE.to_string())],
                        body: out,
                    },
                    Err(e) => e.into_response(),
                }
            }
        }
    }
}

/// A decoded request holding its concurrency slot until dropped.
pub struct PreparedRead<'h> {
    handler: &'h ReadHandler,
    request: proto::ReadRequest,
    response_type: ResponseType,
    external_labels: Labels,
    _permit: GatePermit<'h>,
    _in_flight: InFlight<'h>,
}

impl PreparedRead<'_> {
    pub fn response_type(&self) -> ResponseType {
        self.response_type
    }

    pub fn request(&self) -> &proto::ReadRequest {
        &self.request
    }

    /// The whole `SAMPLES` answer.
    pub fn respond_samples(self, queryable: &dyn Queryable) -> RemoteResponse {
        match self.samples_body(queryable) {
            Ok(body) => RemoteResponse {
                status: 200,
                headers: vec![
                    ("Content-Type", SAMPLES_CONTENT_TYPE.to_string()),
                    ("Content-Encoding", compression::SNAPPY.to_string()),
                ],
                body,
            },
            Err(e) => e.into_response(),
        }
    }

    fn samples_body(&self, queryable: &dyn Queryable) -> Result<Vec<u8>, ReadError> {
        let limit = self.handler.options.sample_limit;
        let mut response = proto::ReadResponse {
            results: Vec::with_capacity(self.request.queries.len()),
        };
        for query in &self.request.queries {
            let set = self.select(queryable, query, false)?;
            let mut result = proto::QueryResult::default();
            let mut samples = 0usize;
            for series in &set {
                let mut ts = proto::TimeSeries {
                    labels: labels_to_proto(&merge_labels(series.labels(), &self.external_labels)),
                    ..Default::default()
                };
                let mut it = series.iterator();
                loop {
                    let vt = it.next();
                    if vt == ValueType::None {
                        break;
                    }
                    samples += 1;
                    if limit > 0 && samples > limit {
                        return Err(ReadError {
                            status: 400,
                            message: format!("exceeded sample limit ({limit})"),
                        });
                    }
                    push_sample(&mut ts, it.as_ref(), vt);
                }
                if let Some(e) = it.err() {
                    return Err(ReadError::internal(e.to_string()));
                }
                result.timeseries.push(ts);
            }
            response.results.push(result);
        }
        compression::compress(&response.encode_to_vec())
            .map_err(|e| ReadError::internal(e.to_string()))
    }

    /// Writes the `STREAMED_XOR_CHUNKS` frames of every query to `out`, flushing at the
    /// end. An error after frames were written leaves the stream cut short, which
    /// readers detect.
    pub fn stream_chunks(
        self,
        queryable: &dyn Queryable,
        out: &mut dyn Write,
    ) -> Result<(), ReadError> {
        let mut writer = ChunkedWriter::new(out);
        let max_frame = self.handler.options.max_bytes_in_frame as i64;
        for (index, query) in self.request.queries.iter().enumerate() {
            // The streaming format promises series in label order.
            let set = self.select(queryable, query, true)?;
            for series in &set {
                let labels = labels_to_proto(&merge_labels(series.labels(), &self.external_labels));
                let max_data =
                    max_frame - labels.iter().map(|l| l.encoded_len() as i64).sum::<i64>();
                let chunks = series_chunks(series.as_ref())?;
                let mut frame_chunks = Vec::new();
                let mut left = max_data;
                let count = chunks.len();
                for (i, chunk) in chunks.into_iter().enumerate() {
                    left -= chunk.encoded_len() as i64;
                    frame_chunks.push(chunk);
                    // A frame may pass the limit by one chunk, as upstream's.
                    if left > 0 && i + 1 < count {
                        continue;
                    }
                    let frame = proto::ChunkedReadResponse {
                        chunked_series: vec![proto::ChunkedSeries {
                            labels: labels.clone(),
                            chunks: std::mem::take(&mut frame_chunks),
                        }],
                        query_index: index as i64,
                    };
                    writer
                        .write_frame(&frame.encode_to_vec())
                        .map_err(|e| ReadError::internal(format!("write to stream: {e}")))?;
                    left = max_data;
                }
            }
        }
        writer
            .flush()
            .map_err(|e| ReadError::internal(format!("write to stream: {e}")))
    }

    fn select(
        &self,
        queryable: &dyn Queryable,
        query: &proto::Query,
        sorted: bool,
    ) -> Result<Vec<Box<dyn Series>>, ReadError> {
        let matchers = filter_external_label_matchers(&query.matchers, &self.external_labels)?;
        let hints = query.hints.as_ref().map(|h| SelectHints {
            start: h.start_ms,
            end: h.end_ms,
            step: h.step_ms,
            func: h.func.clone(),
            grouping: h.grouping.clone(),
            by: h.by,
            range: h.range_ms,
        });
        let querier = queryable
            .querier(query.start_timestamp_ms, query.end_timestamp_ms)
            .map_err(|e| ReadError::internal(e.to_string()))?;
        let set = querier
            .select(sorted, hints.as_ref(), &matchers)
            .map_err(|e| ReadError::internal(e.to_string()))?;
        for w in &set.warnings {
            tracing::warn!(warning = %w, "warnings on remote read query");
        }
        Ok(set.series)
    }
}

/// Decodes a snappy `ReadRequest` body.
pub fn decode_read_request(
    body: &[u8],
    options: &ReadHandlerOptions,
) -> Result<proto::ReadRequest, ReadError> {
    let bad = |message: String| ReadError {
        status: 400,
        message,
    };
    if body.len() > options.max_request_bytes {
        return Err(bad(format!(
            "remote read request body is larger than the limit of {} bytes",
            options.max_request_bytes
        )));
    }
    let decoded =
        compression::decompress(body, options.max_decoded_request_bytes).map_err(|e| match e {
            DecompressError::Corrupt | DecompressError::TooLarge { .. } => bad(e.to_string()),
        })?;
    proto::ReadRequest::decode(Bytes::from(decoded)).map_err(|e| bad(e.to_string()))
}

/// The first accepted response type this server supports (upstream's
/// `NegotiateResponseType` and its error text).
pub fn negotiate_response_type(accepted: &[i32]) -> Result<ResponseType, String> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    if let Some(t) = accepted
        .iter()
        .find_map(|t| ResponseType::try_from(*t).ok())
    {
        return Ok(t);
    }
    let names: Vec<String> = accepted.iter().map(|t| t.to_string()).collect();
    Err(format!(
        "server does not support any of the requested response types: [{}]; supported: map[SAMPLES:{{}} STREAMED_XOR_CHUNKS:{{}}]",
        names.join(" ")
    ))
}

/// Wire matchers as model matchers, with equality matchers on external labels (with the
/// external value) turned into "label absent".
fn filter_external_label_matchers(
    matchers: &[proto::LabelMatcher],
    external: &Labels,
) -> Result<Vec<Matcher>, ReadError> {
    matchers
        .iter()
        .map(|pm| {
            let m = matcher_from_proto(pm).map_err(|e| ReadError::internal(e.to_string()))?;
            if m.op == MatchOp::Equal && external.get(&m.name).unwrap_or("") == m.value {
                return Ok(Matcher::equal(m.name, ""));
            }
            Ok(m)
        })
        .collect()
}

/// `series` with the external labels it lacks (upstream's `MergeLabels`: the series'
/// own labels win).
pub fn merge_labels(series: &Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return series.clone();
    }
    let (a, b) = (series.as_slice(), external.as_slice());
    let mut out: Vec<Label> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].name.cmp(&b[j].name) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    Labels::from_sorted_unchecked(out)
}

fn push_sample(ts: &mut proto::TimeSeries, it: &dyn SampleIterator, vt: ValueType) {
    match vt {
        ValueType::Float => {
            let (t, v) = it.at();
            ts.samples.push(proto::Sample {
                value: v,
                timestamp: t,
            });
        }
        ValueType::Histogram => {
            let (t, h) = it.at_histogram();
            ts.histograms.push(integer_histogram_to_proto(t, &h));
        }
        ValueType::FloatHistogram => {
            let (t, h) = it.at_float_histogram();
            ts.histograms.push(float_histogram_to_proto(t, &h));
        }
        ValueType::None => {}
    }
}

/// A series' samples re-encoded as wire chunks of 120 samples.
fn series_chunks(series: &dyn Series) -> Result<Vec<proto::Chunk>, ReadError> {
    let mut chunker = SeriesChunker::fixed(SAMPLES_PER_CHUNK);
    let mut it = series.iterator();
    loop {
        let vt = it.next();
        if vt == ValueType::None {
            break;
        }
        chunker.append_current(it.as_ref(), vt).map_err(|e| {
            ReadError::internal(format!("encoding chunk of {}: {e}", series.labels()))
        })?;
    }
    if let Some(e) = it.err() {
        return Err(ReadError::internal(e.to_string()));
    }
    Ok(chunker
        .finish()
        .into_iter()
        .map(|c| proto::Chunk {
            min_time_ms: c.min_time,
            max_time_ms: c.max_time,
            r#type: chunk_encoding_to_proto(c.encoding) as i32,
            data: c.data,
        })
        .collect())
}

/// The wire chunk type of a chunk encoding; the start-timestamp encodings have no wire
/// number and never come out of the re-encoding.
pub fn chunk_encoding_to_proto(e: Encoding) -> proto::chunk::Encoding {
    match e {
        Encoding::Xor => proto::chunk::Encoding::Xor,
        Encoding::Histogram => proto::chunk::Encoding::Histogram,
        Encoding::FloatHistogram => proto::chunk::Encoding::FloatHistogram,
        Encoding::Xor2 | Encoding::HistogramSt | Encoding::FloatHistogramSt => {
            proto::chunk::Encoding::Unknown
        }
    }
}

/// Upstream's `gate`: at most `limit` holders, others wait.
#[derive(Debug)]
struct Gate {
    limit: usize,
    in_use: Mutex<usize>,
    freed: Condvar,
}

impl Gate {
    fn new(limit: usize) -> Gate {
        Gate {
            limit,
            in_use: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> GatePermit<'_> {
        let mut n = self.in_use.lock();
        while self.limit > 0 && *n >= self.limit {
            self.freed.wait(&mut n);
        }
        *n += 1;
        GatePermit { gate: self }
    }
}

struct GatePermit<'g> {
    gate: &'g Gate,
}

impl Drop for GatePermit<'_> {
    fn drop(&mut self) {
        *self.gate.in_use.lock() -= 1;
        self.gate.freed.notify_one();
    }
}

/// Counts a request in `queries` while it waits or runs.
struct InFlight<'a>(&'a AtomicI64);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicI64) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
