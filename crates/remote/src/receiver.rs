//! The remote write receiver: `POST /api/v1/write` of Prometheus with
//! `--web.enable-remote-write-receiver`, framework-agnostic.
//!
//! [`WriteReceiver::receive`] takes the request's `Content-Type`, `Content-Encoding` and
//! body and returns a [`RemoteResponse`]. The steps and answers follow upstream's write
//! handler (client_golang's `exp/api/remote` handler plus Prometheus' storage side):
//!
//! 1. Content negotiation: `application/x-protobuf` (1.0, also when the header is
//!    missing), `;proto=prometheus.WriteRequest` or `;proto=io.prometheus.write.v2.Request`.
//!    Anything else, a message type this receiver does not accept, or an encoding other
//!    than `snappy` is `415`. Parameters may carry whitespace and the media type any case
//!    (RFC 9110); upstream is stricter there.
//! 2. Size limits (compressed body, decoded body): `413`. Upstream has none.
//! 3. Snappy and protobuf decoding: `400`.
//! 4. Appending, one transaction per request, as upstream does it per version:
//!    - 2.0: series with invalid labels or references are skipped, samples the storage
//!      refuses as out of order, duplicate, out of bounds, too old or invalid are
//!      dropped; everything else is committed and the answer is `400` with one line per
//!      problem (the partial write of the 2.0 spec).
//!    - 1.0 (upstream's `write`): series with invalid labels are skipped and counted
//!      (still `204`); the first refused sample rolls the whole request back and
//!      answers `400` with its error, so a sender drops the batch without retrying.
//!      [`WriteReceiverOptions::v1_partial_writes`] gives 1.0 the 2.0 behaviour.
//!
//!    A storage failure rolls everything back and answers `500` so the sender retries
//!    (the storage is not idempotent, so nothing of a retried request may stay).
//! 5. 2.0 answers carry `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`
//!    (also on errors after decoding); 1.0 answers never do, so a 2.0 sender cannot
//!    mistake them for confirmations.
//!
//! 1.0 metadata is ignored, as upstream ignores it.
//!
//! Start timestamps (2.0 `start_timestamp`, and rc.3's per-series `created_timestamp`)
//! are decoded, but the storage interface has no place for them yet; with
//! `ingest_start_timestamp_zero_samples` they become a zero sample at the start
//! timestamp, as upstream's `created-timestamp-zero-ingestion` feature does.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hearth_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, HistogramValue, Labels, Metadata,
    Timestamp, sample::now_ms,
};
use hearth_tsdb::storage::{AppendError, Appendable, Appender, SeriesRef};
use prost::Message;

use crate::compression::{self, DecompressError};
use crate::convert::{histogram_from_proto, metric_type_from_v2};
use crate::proto;
use crate::proto_v2;
use crate::response::RemoteResponse;
use crate::series_labels::LabelsScratch;

/// The media type of both write messages.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/x-protobuf";
/// Request header naming the protocol version the sender speaks.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// Samples more than this far in the future are refused (upstream's `maxAheadTime`).
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;
/// At most this many problem lines go into a `400` body; the rest are counted.
const MAX_ERROR_LINES: usize = 100;

/// The protobuf message a write request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMessage {
    /// `prometheus.WriteRequest` (remote write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

impl WriteMessage {
    /// The fully qualified protobuf name, as in `Content-Type: ...;proto=<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMessage::V1 => "prometheus.WriteRequest",
            WriteMessage::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The `Content-Type` a sender uses (plain `application/x-protobuf` for 1.0, for
    /// receivers that predate 2.0).
    pub fn content_type(self) -> &'static str {
        match self {
            WriteMessage::V1 => PROTOBUF_MEDIA_TYPE,
            WriteMessage::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` a sender uses.
    pub fn version(self) -> &'static str {
        match self {
            WriteMessage::V1 => "0.1.0",
            WriteMessage::V2 => "2.0.0",
        }
    }

    fn from_name(name: &str) -> Option<WriteMessage> {
        match name {
            "prometheus.WriteRequest" => Some(WriteMessage::V1),
            "io.prometheus.write.v2.Request" => Some(WriteMessage::V2),
            _ => None,
        }
    }
}

/// How the receiver behaves.
#[derive(Debug, Clone)]
pub struct WriteReceiverOptions {
    /// Messages accepted (upstream: `--web.remote-write-receiver.accepted-protobuf-messages`,
    /// default both).
    pub accepted: Vec<WriteMessage>,
    /// Largest compressed body.
    pub max_body_bytes: usize,
    /// Largest decoded message.
    pub max_decoded_bytes: usize,
    /// Refuse series whose label names are not sorted (upstream sorts them).
    pub reject_unsorted_labels: bool,
    /// Write a zero sample at each start timestamp before the sample
    /// (`--enable-feature=created-timestamp-zero-ingestion`).
    pub ingest_start_timestamp_zero_samples: bool,
    /// Give 1.0 requests the partial writes of 2.0 (invalid series and refused samples
    /// reported with `400`, the rest committed) instead of upstream's silent skip of
    /// invalid series and all-or-nothing rollback on the first refused sample.
    pub v1_partial_writes: bool,
}

impl Default for WriteReceiverOptions {
    fn default() -> Self {
        WriteReceiverOptions {
            accepted: vec![WriteMessage::V1, WriteMessage::V2],
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 256 << 20,
            reject_unsorted_labels: false,
            ingest_start_timestamp_zero_samples: false,
            v1_partial_writes: false,
        }
    }
}

/// What one request wrote (the 2.0 `*-Written` headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
}

/// The result of appending one decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub stats: WriteStats,
    /// 204, 400 (partial write) or 500 (nothing written).
    pub status: u16,
    /// Empty on success; one line per problem otherwise.
    pub message: String,
}

/// Receives remote write requests into any [`Appendable`].
#[derive(Debug, Default)]
pub struct WriteReceiver {
    options: WriteReceiverOptions,
    invalid_labels_samples: AtomicU64,
    samples_without_metadata: AtomicU64,
}

impl WriteReceiver {
    pub fn new(options: WriteReceiverOptions) -> WriteReceiver {
        WriteReceiver {
            options,
            ..WriteReceiver::default()
        }
    }

    pub fn options(&self) -> &WriteReceiverOptions {
        &self.options
    }

    /// Samples and histograms refused for invalid labels since start
    /// (`prometheus_api_remote_write_invalid_labels_samples_total`).
    pub fn invalid_labels_samples_total(&self) -> u64 {
        self.invalid_labels_samples.load(Ordering::Relaxed)
    }

    /// Samples written whose metadata could not be recorded
    /// (`prometheus_api_remote_write_without_metadata_appended_samples_total`).
    pub fn samples_without_metadata_total(&self) -> u64 {
        self.samples_without_metadata.load(Ordering::Relaxed)
    }

    /// Handles one request: headers (absent ones as `None`) and the raw body.
    pub fn receive(
        &self,
        appendable: &dyn Appendable,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> RemoteResponse {
        let message = match self.negotiate(content_type, content_encoding) {
            Ok(m) => m,
            Err(response) => return response,
        };
        if body.len() > self.options.max_body_bytes {
            return body_too_large(self.options.max_body_bytes);
        }
        let decoded = match compression::decompress(body, self.options.max_decoded_bytes) {
            Ok(d) => Bytes::from(d),
            Err(e @ DecompressError::Corrupt) => return RemoteResponse::error(400, &e.to_string()),
            Err(e @ DecompressError::TooLarge { .. }) => {
                return RemoteResponse::error(413, &e.to_string());
            }
        };
        match message {
            WriteMessage::V1 => match proto::WriteRequest::decode(decoded) {
                Ok(req) => self.write_v1(appendable, &req).into_response(message),
                Err(e) => RemoteResponse::error(400, &e.to_string()),
            },
            WriteMessage::V2 => match proto_v2::Request::decode(decoded) {
                Ok(req) => self.write_v2(appendable, &req).into_response(message),
                Err(e) => RemoteResponse::error(400, &e.to_string()),
            },
        }
    }

    /// Checks `Content-Type` and `Content-Encoding` before the body is read; `Err` is
    /// the `415` to answer with.
    pub fn negotiate(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Result<WriteMessage, RemoteResponse> {
        let message = parse_content_type(content_type.unwrap_or(""))
            .map_err(|e| RemoteResponse::error(415, &e))?;
        if !self.options.accepted.contains(&message) {
            let accepted: Vec<&str> = self.options.accepted.iter().map(|m| m.as_str()).collect();
            return Err(RemoteResponse::error(
                415,
                &format!(
                    "{} protobuf message is not accepted by this server; only accepts {}",
                    message.as_str(),
                    accepted.join(", ")
                ),
            ));
        }
        // A missing encoding is taken as snappy, as upstream does for lax 1.0 senders.
        let encoding = content_encoding.unwrap_or("").trim();
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case(compression::SNAPPY) {
            return Err(RemoteResponse::error(
                415,
                &format!(
                    "{encoding} encoding (compression) is not accepted by this server; only snappy is acceptable"
                ),
            ));
        }
        Ok(message)
    }

    /// Appends a decoded 1.0 request in one transaction.
    pub fn write_v1(&self, appendable: &dyn Appendable, req: &proto::WriteRequest) -> WriteOutcome {
        let partial = self.options.v1_partial_writes;
        let mut batch = Batch::new(appendable.appender(), &self.options, partial);
        let mut scratch = LabelsScratch::default();
        for ts in &req.timeseries {
            scratch.clear();
            for l in &ts.labels {
                scratch.push(&l.name, &l.value);
            }
            let labels = match scratch.build(self.options.reject_unsorted_labels) {
                Ok(l) => l,
                Err(e) => {
                    self.count_invalid(ts.samples.len() + ts.histograms.len());
                    if partial {
                        batch.problems.add(e.to_string());
                    } else {
                        tracing::warn!(error = %e, "remote write: invalid metric name or labels");
                    }
                    continue;
                }
            };
            let mut series = SeriesWrite::new(labels);
            let floats = ts.samples.iter().map(|s| (0, s.timestamp, s.value));
            if let Err(f) = batch.append_floats(&mut series, floats) {
                return batch.abort(f);
            }
            if let Err(f) = batch.append_histograms(&mut series, &ts.histograms, 0) {
                return batch.abort(f);
            }
            // Exemplar storage is best effort in 1.0: no exemplar problem fails a request.
            for e in &ts.exemplars {
                if let Some(exemplar) = exemplar_from_v1(e) {
                    batch.append_exemplar(&series, &exemplar, false);
                }
            }
        }
        batch.finish()
    }

    /// Appends a decoded 2.0 request in one transaction.
    pub fn write_v2(&self, appendable: &dyn Appendable, req: &proto_v2::Request) -> WriteOutcome {
        let mut batch = Batch::new(appendable.appender(), &self.options, true);
        let mut scratch = LabelsScratch::default();
        let symbols = &req.symbols;
        for ts in &req.timeseries {
            scratch.clear();
            let labels = resolve_refs(symbols, &ts.labels_refs)
                .map_err(|e| format!("parsing labels for series {:?}: {e}", ts.labels_refs))
                .and_then(|pairs| {
                    for (n, v) in pairs {
                        scratch.push(n, v);
                    }
                    scratch
                        .build(self.options.reject_unsorted_labels)
                        .map_err(|e| e.to_string())
                });
            let labels = match labels {
                Ok(l) => l,
                Err(e) => {
                    self.count_invalid(ts.samples.len() + ts.histograms.len());
                    batch.problems.add(e);
                    continue;
                }
            };
            // Every reference of the series is checked before anything of it is written.
            let exemplars = match exemplars_from_v2(symbols, &ts.exemplars) {
                Ok(e) => e,
                Err(e) => {
                    batch.problems.add(format!("{e} for series {labels}"));
                    continue;
                }
            };
            let metadata = match metadata_from_v2(symbols, ts.metadata.as_ref()) {
                Ok(m) => m,
                Err(e) => {
                    batch.problems.add(format!("{e} for series {labels}"));
                    continue;
                }
            };
            if ts.samples.is_empty() && ts.histograms.is_empty() && !exemplars.is_empty() {
                batch.problems.add(format!(
                    "exemplars were sent without samples or histograms for series {labels}"
                ));
                continue;
            }

            let mut series = SeriesWrite::new(labels);
            let legacy_st = ts.created_timestamp;
            let floats = ts.samples.iter().map(|s| {
                let st = if s.start_timestamp != 0 {
                    s.start_timestamp
                } else {
                    legacy_st
                };
                (st, s.timestamp, s.value)
            });
            if let Err(f) = batch.append_floats(&mut series, floats) {
                return batch.abort(f);
            }
            if let Err(f) = batch.append_histograms(&mut series, &ts.histograms, legacy_st) {
                return batch.abort(f);
            }
            for e in &exemplars {
                batch.append_exemplar(&series, e, true);
            }
            if let Some(r) = series.series_ref
                && batch
                    .app
                    .update_metadata(r, &series.labels, &metadata)
                    .is_err()
            {
                self.samples_without_metadata
                    .fetch_add(series.written, Ordering::Relaxed);
            }
        }
        batch.finish()
    }

    fn count_invalid(&self, n: usize) {
        self.invalid_labels_samples
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl WriteOutcome {
    /// The HTTP answer: 2.0 carries the written counts in every case.
    pub fn into_response(self, message: WriteMessage) -> RemoteResponse {
        let mut r = if self.status == 204 {
            RemoteResponse::no_content()
        } else {
            RemoteResponse::error(self.status, &self.message)
        };
        if message == WriteMessage::V2 {
            r.headers.extend([
                (SAMPLES_WRITTEN_HEADER, self.stats.samples.to_string()),
                (HISTOGRAMS_WRITTEN_HEADER, self.stats.histograms.to_string()),
                (EXEMPLARS_WRITTEN_HEADER, self.stats.exemplars.to_string()),
            ]);
        }
        r
    }
}

/// Parses `Content-Type` as upstream's `ParseProtoMsg`, tolerating whitespace around
/// parameters and any case in the media type.
pub fn parse_content_type(content_type: &str) -> Result<WriteMessage, String> {
    let content_type = content_type.trim();
    if content_type.is_empty() {
        return Ok(WriteMessage::V1);
    }
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
        return Err(format!(
            "expected {PROTOBUF_MEDIA_TYPE} as the first (media) part, got {content_type} content-type"
        ));
    }
    for p in parts {
        let Some((key, value)) = p.split_once('=').filter(|(_, v)| !v.contains('=')) else {
            return Err(format!(
                "as per https://www.rfc-editor.org/rfc/rfc9110#parameter expected parameters to be key-values, got {p} in {content_type} content-type"
            ));
        };
        if key.trim() == "proto" {
            let name = value.trim().trim_matches('"');
            return WriteMessage::from_name(name).ok_or_else(|| {
                format!(
                    "got {content_type} content type; unknown type for remote write protobuf message {name}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                )
            });
        }
    }
    Ok(WriteMessage::V1)
}

fn body_too_large(limit: usize) -> RemoteResponse {
    RemoteResponse::error(
        413,
        &format!("remote write request body is larger than the limit of {limit} bytes"),
    )
}

/// The problems of a partial write, capped so a bad batch cannot produce a huge answer.
#[derive(Default)]
struct Problems {
    lines: Vec<String>,
    more: usize,
}

impl Problems {
    fn add(&mut self, line: String) {
        if self.lines.len() < MAX_ERROR_LINES {
            self.lines.push(line);
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn message(&self) -> String {
        let mut m = self.lines.join("\n");
        if self.more > 0 {
            m.push_str(&format!("\n... and {} more errors", self.more));
        }
        m
    }
}

/// Why a request's transaction is rolled back: a storage failure (`500`, the sender
/// retries) or, in all-or-nothing mode, a refused sample (`400`, the sender drops).
struct Abort {
    status: u16,
    message: String,
}

/// One series being written: its labels, the reference the storage handed out, and how
/// far it got.
struct SeriesWrite {
    labels: Labels,
    series_ref: Option<SeriesRef>,
    /// Timestamp of the last sample written (or attempted), for start-timestamp zero
    /// samples that must come before it.
    last_t: Option<Timestamp>,
    written: u64,
}

impl SeriesWrite {
    fn new(labels: Labels) -> SeriesWrite {
        SeriesWrite {
            labels,
            series_ref: None,
            last_t: None,
            written: 0,
        }
    }
}

/// One request's transaction and its bookkeeping.
struct Batch<'a> {
    app: Box<dyn Appender + 'a>,
    options: &'a WriteReceiverOptions,
    max_t: Timestamp,
    stats: WriteStats,
    problems: Problems,
    /// Refused samples are problems of a partial write (`true`) or abort the request.
    partial: bool,
}

impl<'a> Batch<'a> {
    fn new(
        app: Box<dyn Appender + 'a>,
        options: &'a WriteReceiverOptions,
        partial: bool,
    ) -> Batch<'a> {
        Batch {
            app,
            options,
            max_t: now_ms().saturating_add(MAX_AHEAD_MS),
            stats: WriteStats::default(),
            problems: Problems::default(),
            partial,
        }
    }

    /// Appends float samples `(start timestamp or 0, t, v)`.
    fn append_floats(
        &mut self,
        series: &mut SeriesWrite,
        samples: impl Iterator<Item = (Timestamp, Timestamp, f64)>,
    ) -> Result<(), Abort> {
        for (st, t, v) in samples {
            if self.wants_zero_sample(series, st, t) {
                // Best effort: the zero may already be stored from an earlier request.
                if let Ok(r) = self.app.append(series.series_ref, &series.labels, st, 0.0) {
                    series.series_ref = Some(r);
                }
            }
            let result = if t > self.max_t {
                Err(too_far_in_future())
            } else {
                self.app
                    .append(series.series_ref, &series.labels, t, v)
                    .map_err(|e| (e.to_string(), e))
            };
            series.last_t = Some(t);
            self.settle(series, result, |s| s.samples += 1)?;
        }
        Ok(())
    }

    /// Appends histogram samples; `legacy_st` is the per-series start timestamp of
    /// rc.3 senders.
    fn append_histograms(
        &mut self,
        series: &mut SeriesWrite,
        histograms: &[proto::Histogram],
        legacy_st: Timestamp,
    ) -> Result<(), Abort> {
        for hp in histograms {
            let h = histogram_from_proto(hp);
            let st = if hp.start_timestamp != 0 {
                hp.start_timestamp
            } else {
                legacy_st
            };
            if self.wants_zero_sample(series, st, hp.timestamp) {
                let zero = zero_histogram_like(&h);
                if let Ok(r) =
                    self.app
                        .append_histogram(series.series_ref, &series.labels, st, &zero)
                {
                    series.series_ref = Some(r);
                }
            }
            let result = if hp.timestamp > self.max_t {
                Err(too_far_in_future())
            } else {
                self.app
                    .append_histogram(series.series_ref, &series.labels, hp.timestamp, &h)
                    .map_err(|e| (e.to_string(), e))
            };
            series.last_t = Some(hp.timestamp);
            self.settle(series, result, |s| s.histograms += 1)?;
        }
        Ok(())
    }

    fn wants_zero_sample(&self, series: &SeriesWrite, st: Timestamp, t: Timestamp) -> bool {
        self.options.ingest_start_timestamp_zero_samples
            && st != 0
            && st < t
            && series.last_t.is_none_or(|last| st > last)
    }

    /// Records the result of one sample append: counts it, reports a refused sample as
    /// a problem of the request, or gives up on a storage failure.
    fn settle(
        &mut self,
        series: &mut SeriesWrite,
        result: Result<SeriesRef, (String, AppendError)>,
        count: impl FnOnce(&mut WriteStats),
    ) -> Result<(), Abort> {
        match result {
            Ok(r) => {
                series.series_ref = Some(r);
                series.written += 1;
                count(&mut self.stats);
                Ok(())
            }
            Err((text, e)) if is_refused_sample(&e) => {
                tracing::debug!(series = %series.labels, error = %text, "remote write sample refused");
                let line = format!("{text} for series {}", series.labels);
                if !self.partial {
                    return Err(Abort {
                        status: 400,
                        message: line,
                    });
                }
                self.problems.add(line);
                Ok(())
            }
            Err((text, _)) => Err(Abort {
                status: 500,
                message: text,
            }),
        }
    }

    /// Attaches an exemplar to a series written in this request. With `strict` (2.0), an
    /// out-of-order exemplar is a problem of the request; other exemplar errors never
    /// are, as exemplar storage is best effort upstream.
    fn append_exemplar(&mut self, series: &SeriesWrite, e: &Exemplar, strict: bool) {
        let Some(r) = series.series_ref else { return };
        if e.timestamp.is_some_and(|t| t > self.max_t) {
            return;
        }
        match self.app.append_exemplar(r, &series.labels, e) {
            Ok(_) => self.stats.exemplars += 1,
            Err(err @ AppendError::OutOfOrderExemplar) if strict => {
                self.problems
                    .add(format!("{err} for series {}", series.labels));
            }
            Err(err) => {
                tracing::debug!(series = %series.labels, error = %err, "remote write exemplar dropped");
            }
        }
    }

    /// Commits what was written; `400` if anything was refused.
    fn finish(self) -> WriteOutcome {
        let Batch {
            app,
            stats,
            problems,
            ..
        } = self;
        if let Err(e) = app.commit() {
            tracing::error!(error = %e, "remote write commit failed");
            return WriteOutcome {
                stats: WriteStats::default(),
                status: 500,
                message: e.to_string(),
            };
        }
        if problems.is_empty() {
            WriteOutcome {
                stats,
                status: 204,
                message: String::new(),
            }
        } else {
            WriteOutcome {
                stats,
                status: 400,
                message: problems.message(),
            }
        }
    }

    /// Rolls the request back: nothing of it is written.
    fn abort(self, abort: Abort) -> WriteOutcome {
        if abort.status >= 500 {
            tracing::error!(error = %abort.message, "remote write failed, rolled back");
        } else {
            tracing::warn!(error = %abort.message, "remote write refused, rolled back");
        }
        let _ = self.app.rollback();
        WriteOutcome {
            stats: WriteStats::default(),
            status: abort.status,
            message: abort.message,
        }
    }
}

/// Errors that refuse one sample (400, other samples still written); anything else is a
/// storage failure (500, nothing written).
fn is_refused_sample(e: &AppendError) -> bool {
    matches!(
        e,
        AppendError::OutOfOrderSample
            | AppendError::OutOfBounds
            | AppendError::DuplicateSampleForTimestamp
            | AppendError::TooOldSample
            | AppendError::InvalidHistogram(_)
            | AppendError::DuplicateLabelName(_)
            | AppendError::EmptyLabels
            | AppendError::SeriesLimit { .. }
    )
}

fn too_far_in_future() -> (String, AppendError) {
    (
        "out of bounds: timestamp is too far in the future".to_string(),
        AppendError::OutOfBounds,
    )
}

/// The zero sample written at a histogram's start timestamp: a counter reset by
/// definition, with the layout fields copied so no new chunk is needed (as upstream).
fn zero_histogram_like(h: &HistogramValue) -> HistogramValue {
    match h {
        HistogramValue::Integer(h) => HistogramValue::Integer(Histogram {
            counter_reset_hint: CounterResetHint::CounterReset,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            ..Histogram::default()
        }),
        HistogramValue::Float(h) => HistogramValue::Float(FloatHistogram {
            counter_reset_hint: CounterResetHint::CounterReset,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            ..FloatHistogram::default()
        }),
    }
}

/// A 1.0 exemplar; `None` when its labels are not valid UTF-8 (dropped, as exemplars
/// are best effort).
fn exemplar_from_v1(e: &proto::Exemplar) -> Option<Exemplar> {
    let mut pairs = Vec::with_capacity(e.labels.len());
    for l in &e.labels {
        pairs.push((
            std::str::from_utf8(&l.name).ok()?,
            std::str::from_utf8(&l.value).ok()?,
        ));
    }
    Some(Exemplar {
        labels: Labels::new(pairs),
        value: e.value,
        timestamp: (e.timestamp != 0).then_some(e.timestamp),
    })
}

/// A label as (name, value) bytes borrowed from the request.
type RawPair<'a> = (&'a [u8], &'a [u8]);

/// Resolves 2.0 label references into (name, value) byte pairs.
fn resolve_refs<'a>(symbols: &'a [Bytes], refs: &[u32]) -> Result<Vec<RawPair<'a>>, String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!("invalid labels_refs length {}", refs.len()));
    }
    let symbol = |i: usize| -> Result<&'a [u8], String> {
        let r = refs[i];
        symbols.get(r as usize).map(|b| &b[..]).ok_or_else(|| {
            format!(
                "labels_refs[{i}] = {r} is outside of the symbols table (size {})",
                symbols.len()
            )
        })
    };
    (0..refs.len())
        .step_by(2)
        .map(|i| Ok((symbol(i)?, symbol(i + 1)?)))
        .collect()
}

fn symbol_str<'a>(symbols: &'a [Bytes], r: u32, what: &str) -> Result<&'a str, String> {
    let b = symbols.get(r as usize).ok_or_else(|| {
        format!(
            "{what} {r} is outside of the symbols table (size {})",
            symbols.len()
        )
    })?;
    std::str::from_utf8(b).map_err(|_| format!("{what} {r} is not valid UTF-8"))
}

fn exemplars_from_v2(
    symbols: &[Bytes],
    exemplars: &[proto_v2::Exemplar],
) -> Result<Vec<Exemplar>, String> {
    exemplars
        .iter()
        .map(|e| {
            let pairs = resolve_refs(symbols, &e.labels_refs)
                .map_err(|err| format!("parsing exemplar labels: {err}"))?;
            let mut strs = Vec::with_capacity(pairs.len());
            for (n, v) in pairs {
                let (Ok(n), Ok(v)) = (std::str::from_utf8(n), std::str::from_utf8(v)) else {
                    return Err("parsing exemplar labels: not valid UTF-8".to_string());
                };
                strs.push((n, v));
            }
            Ok(Exemplar {
                labels: Labels::new(strs),
                value: e.value,
                timestamp: (e.timestamp != 0).then_some(e.timestamp),
            })
        })
        .collect()
}

/// A series' metadata; absent metadata reads as unspecified, as upstream's
/// non-nullable field does.
fn metadata_from_v2(symbols: &[Bytes], m: Option<&proto_v2::Metadata>) -> Result<Metadata, String> {
    let Some(m) = m else {
        return Ok(Metadata::default());
    };
    Ok(Metadata {
        metric_type: metric_type_from_v2(m.r#type),
        help: symbol_str(symbols, m.help_ref, "metadata help_ref")?.to_string(),
        unit: symbol_str(symbols, m.unit_ref, "metadata unit_ref")?.to_string(),
    })
}
