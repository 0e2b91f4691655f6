//! Querying a remote read endpoint: the snappy `ReadRequest` body, the answer — either
//! response type — turned back into `storage::Series`, validated as upstream's client
//! validates it, and [`RemoteReadClient`], the HTTP client of one `remote_read` entry
//! (`required_matchers`, `filter_external_labels`, `chunked_read_limit`, auth). The
//! `Querier` over it (merged into PromQL's reads, `read_recent`) is in
//! [`crate::read_storage`].

use std::sync::Arc;

use bytes::Bytes;
use hearth_discovery::http_client::EndpointClient;
use hearth_discovery::oauth2::OAuth2Token;
use hearth_model::{HistogramValue, Label, Labels, Matcher, Timestamp};
use hearth_tsdb::chunkenc::{ChunkIterator, ChunkSampleIterator, Encoding, ValueType};
use hearth_tsdb::mem_storage::{StoredSample, StoredValue, VecSeries};
use hearth_tsdb::storage::{SelectHints, Series, SeriesSet};
use prost::Message;

use crate::chunked::{ChunkedError, ChunkedReader};
use crate::compression::{self, CompressError};
use crate::convert::{histogram_from_proto, matcher_to_proto, write_raw_labels};
use crate::proto::{self, read_request::ResponseType};
use crate::read_handler::{SAMPLES_CONTENT_TYPE, STREAMED_CONTENT_TYPE};

/// Upstream's default `chunked_read_limit` (largest frame a client accepts).
pub const DEFAULT_CHUNKED_READ_LIMIT: u64 = 50_000_000;
/// Largest decoded `SAMPLES` response accepted.
pub const DEFAULT_MAX_SAMPLES_RESPONSE_BYTES: usize = 1 << 30;

/// One query of a read request.
#[derive(Debug, Clone)]
pub struct ReadQuery {
    pub start: Timestamp,
    pub end: Timestamp,
    pub matchers: Vec<Matcher>,
    pub hints: Option<SelectHints>,
}

/// The `ReadRequest` of `queries`, preferring the response types in `accepted` order.
pub fn to_read_request(queries: &[ReadQuery], accepted: &[ResponseType]) -> proto::ReadRequest {
    proto::ReadRequest {
        queries: queries
            .iter()
            .map(|q| proto::Query {
                start_timestamp_ms: q.start,
                end_timestamp_ms: q.end,
                matchers: q.matchers.iter().map(matcher_to_proto).collect(),
                hints: q.hints.as_ref().map(|h| proto::ReadHints {
                    step_ms: h.step,
                    func: h.func.clone(),
                    start_ms: h.start,
                    end_ms: h.end,
                    grouping: h.grouping.clone(),
                    by: h.by,
                    range_ms: h.range,
                }),
            })
            .collect(),
        accepted_response_types: accepted.iter().map(|t| *t as i32).collect(),
    }
}

/// The compressed body to POST (with `Content-Encoding: snappy`,
/// `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Read-Version: 0.1.0`).
pub fn encode_read_request(
    queries: &[ReadQuery],
    accepted: &[ResponseType],
) -> Result<Vec<u8>, CompressError> {
    compression::compress(&to_read_request(queries, accepted).encode_to_vec())
}

/// Why a read response could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadClientError {
    #[error("unsupported content type: {0}")]
    UnsupportedContentType(String),
    #[error(transparent)]
    Snappy(#[from] compression::DecompressError),
    #[error("unable to unmarshal response body: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("responses: want {want}, got {got}")]
    ResultCount { want: usize, got: usize },
    #[error(transparent)]
    Frame(#[from] ChunkedError),
    #[error("streamed response has query index {index}, the request has {queries} queries")]
    QueryIndex { index: i64, queries: usize },
    #[error("{0}")]
    InvalidLabels(String),
    #[error("chunk of series {labels}: {reason}")]
    Chunk { labels: String, reason: String },
    #[error("remote_read {name}: {message}")]
    Client { name: String, message: String },
    #[error("remote server {url} returned HTTP status {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("error sending request: {0}")]
    Http(String),
}

/// Largest response body read (either type).
pub const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// The HTTP client of one `remote_read` entry.
#[derive(Debug, Clone)]
pub struct RemoteReadClient {
    name: String,
    client: EndpointClient,
    oauth2: Option<Arc<OAuth2Token>>,
    config: hearth_config::RemoteReadConfig,
    external_labels: Labels,
}

impl RemoteReadClient {
    pub fn new(
        config: &hearth_config::RemoteReadConfig,
        external_labels: &Labels,
    ) -> Result<RemoteReadClient, ReadClientError> {
        let url = config.url.as_ref().map(|u| u.as_str().to_string());
        let name = if config.name.is_empty() {
            config
                .url
                .as_ref()
                .map(|u| u.redacted())
                .unwrap_or_default()
        } else {
            config.name.clone()
        };
        let client_err = |message: String| ReadClientError::Client {
            name: name.clone(),
            message,
        };
        let url = url.ok_or_else(|| client_err("url is missing".into()))?;
        let user_agent = crate::queue::user_agent();
        let client = config
            .http_client
            .build_endpoint_client(&user_agent, &url)
            .map_err(|e| client_err(e.to_string()))?;
        let oauth2 = config
            .http_client
            .oauth2_token(&user_agent)
            .map_err(|e| client_err(e.to_string()))?;
        Ok(RemoteReadClient {
            name,
            client,
            oauth2,
            config: config.clone(),
            external_labels: external_labels.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `queries` against the endpoint; each result in query order. A query that
    /// lacks one of the `required_matchers` is not sent and gets no series. With
    /// `filter_external_labels`, the external labels become equality matchers (unless
    /// the query has a matcher for the label) and are removed from the answer.
    pub async fn read(&self, queries: &[ReadQuery]) -> Result<Vec<SeriesSet>, ReadClientError> {
        let mut sent = Vec::with_capacity(queries.len());
        let mut added: Vec<Vec<String>> = Vec::with_capacity(queries.len());
        let mut slot = Vec::with_capacity(queries.len());
        for q in queries {
            if !has_required_matchers(&q.matchers, &self.config.required_matchers.0) {
                slot.push(None);
                continue;
            }
            let mut q = q.clone();
            let mut names = Vec::new();
            if self.config.filter_external_labels {
                for l in &self.external_labels {
                    if q.matchers.iter().all(|m| m.name != l.name.as_str()) {
                        q.matchers
                            .push(Matcher::equal(l.name.as_str(), l.value.as_str()));
                        names.push(l.name.as_str().to_string());
                    }
                }
            }
            slot.push(Some(sent.len()));
            sent.push(q);
            added.push(names);
        }
        let mut results: Vec<Option<SeriesSet>> = if sent.is_empty() {
            Vec::new()
        } else {
            self.post(&sent)
                .await?
                .into_iter()
                .zip(&added)
                .map(|(set, names)| Some(without_labels(set, names)))
                .collect()
        };
        Ok(slot
            .into_iter()
            .map(|s| {
                s.and_then(|i| results.get_mut(i).and_then(Option::take))
                    .unwrap_or_default()
            })
            .collect())
    }

    async fn post(&self, queries: &[ReadQuery]) -> Result<Vec<SeriesSet>, ReadClientError> {
        let body = encode_read_request(
            queries,
            &[ResponseType::StreamedXorChunks, ResponseType::Samples],
        )
        .map_err(|e| ReadClientError::Http(e.to_string()))?;
        let mut req = self
            .client
            .post()
            .timeout(self.config.remote_timeout.to_std())
            .header("Content-Encoding", compression::SNAPPY)
            .header("Content-Type", SAMPLES_CONTENT_TYPE)
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .body(body);
        for (name, value) in &self.config.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = self
            .config
            .http_client
            .authorize_with(req, self.oauth2.as_deref())
            .await
            .map_err(|e| ReadClientError::Http(e.to_string()))?;
        let mut resp = req
            .send()
            .await
            .map_err(|e| ReadClientError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ReadClientError::Http(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ReadClientError::Http(format!(
                    "response body is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body[..body.len().min(1024)])
                .trim_end()
                .to_string();
            return Err(ReadClientError::Status {
                url: self
                    .config
                    .url
                    .as_ref()
                    .map(|u| u.redacted())
                    .unwrap_or_default(),
                status,
                body: text,
            });
        }
        decode_read_response(
            &content_type,
            &body,
            queries,
            self.config.chunked_read_limit,
        )
    }
}

/// Upstream's `requiredMatchersFilter`: every required label must be matched for
/// equality with its value.
fn has_required_matchers(matchers: &[Matcher], required: &Labels) -> bool {
    required.iter().all(|r| {
        matchers.iter().any(|m| {
            m.op == hearth_model::MatchOp::Equal
                && m.name == r.name.as_str()
                && m.value == r.value.as_str()
        })
    })
}

/// The series of `set` without the labels `names` (the external labels added as
/// matchers).
fn without_labels(set: SeriesSet, names: &[String]) -> SeriesSet {
    if names.is_empty() {
        return set;
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    SeriesSet {
        series: set
            .series
            .into_iter()
            .map(|s| Box::new(Relabeled(s.labels().without(&names), s)) as Box<dyn Series>)
            .collect(),
        ..set
    }
}

/// A series shown with other labels.
struct Relabeled(Labels, Box<dyn Series>);

impl Series for Relabeled {
    fn labels(&self) -> &Labels {
        &self.0
    }

    fn iterator(&self) -> Box<dyn hearth_tsdb::storage::SampleIterator + '_> {
        self.1.iterator()
    }
}

/// The series of each query (in query order) from a response of `content_type`.
/// Streamed chunks are cut to each query's `[start, end]`.
pub fn decode_read_response(
    content_type: &str,
    body: &[u8],
    queries: &[ReadQuery],
    chunked_read_limit: u64,
) -> Result<Vec<SeriesSet>, ReadClientError> {
    let ct = content_type.trim();
    if ct.starts_with(STREAMED_CONTENT_TYPE.split(';').next().unwrap_or_default()) {
        return decode_streamed(body, queries, chunked_read_limit);
    }
    if ct.starts_with(SAMPLES_CONTENT_TYPE) || ct.is_empty() {
        return decode_samples(body, queries.len());
    }
    Err(ReadClientError::UnsupportedContentType(ct.to_string()))
}

fn decode_samples(body: &[u8], want: usize) -> Result<Vec<SeriesSet>, ReadClientError> {
    let raw = compression::decompress(body, DEFAULT_MAX_SAMPLES_RESPONSE_BYTES)?;
    let response = proto::ReadResponse::decode(Bytes::from(raw))?;
    if response.results.len() != want {
        return Err(ReadClientError::ResultCount {
            want,
            got: response.results.len(),
        });
    }
    response
        .results
        .iter()
        .map(|result| {
            let mut set = SeriesSet::default();
            for ts in &result.timeseries {
                let labels = validated_labels(&ts.labels)?;
                let samples = merge_samples(&ts.samples, &ts.histograms);
                set.series
                    .push(Box::new(VecSeries { labels, samples }) as Box<dyn Series>);
            }
            Ok(set)
        })
        .collect()
}

/// Floats and histograms of one series in time order; a float wins a tie, as in
/// upstream's iterator.
fn merge_samples(floats: &[proto::Sample], histograms: &[proto::Histogram]) -> Vec<StoredSample> {
    let mut out = Vec::with_capacity(floats.len() + histograms.len());
    let (mut i, mut j) = (0, 0);
    while i < floats.len() || j < histograms.len() {
        let take_float = match (floats.get(i), histograms.get(j)) {
            (Some(f), Some(h)) => {
                if f.timestamp == h.timestamp {
                    j += 1;
                }
                f.timestamp <= h.timestamp
            }
            (Some(_), None) => true,
            _ => false,
        };
        if take_float {
            let f = floats[i];
            out.push(StoredSample {
                t: f.timestamp,
                value: StoredValue::Float(f.value),
                st: None,
            });
            i += 1;
        } else if let Some(h) = histograms.get(j) {
            out.push(StoredSample {
                t: h.timestamp,
                value: StoredValue::Histogram(histogram_from_proto(h)),
                st: None,
            });
            j += 1;
        }
    }
    out
}

fn decode_streamed(
    body: &[u8],
    queries: &[ReadQuery],
    limit: u64,
) -> Result<Vec<SeriesSet>, ReadClientError> {
    let mut sets: Vec<SeriesSet> = queries.iter().map(|_| SeriesSet::default()).collect();
    let mut reader = ChunkedReader::new(body, limit);
    // The series being assembled: frames of one series follow each other.
    let mut open: Option<(usize, Vec<proto::Label>, Vec<StoredSample>)> = None;
    while let Some(frame) = reader.next_message::<proto::ChunkedReadResponse>()? {
        let index = usize::try_from(frame.query_index)
            .ok()
            .filter(|i| *i < queries.len())
            .ok_or(ReadClientError::QueryIndex {
                index: frame.query_index,
                queries: queries.len(),
            })?;
        let query = &queries[index];
        for cs in frame.chunked_series {
            let same = open
                .as_ref()
                .is_some_and(|(i, labels, _)| *i == index && *labels == cs.labels);
            if !same {
                finish_series(&mut sets, open.take())?;
                open = Some((index, cs.labels.clone(), Vec::new()));
            }
            if let Some((_, labels, samples)) = &mut open {
                for chunk in &cs.chunks {
                    decode_chunk(chunk, query, samples).map_err(|reason| {
                        ReadClientError::Chunk {
                            labels: printed(labels),
                            reason,
                        }
                    })?;
                }
            }
        }
    }
    finish_series(&mut sets, open)?;
    Ok(sets)
}

fn printed(labels: &[proto::Label]) -> String {
    let mut s = String::new();
    write_raw_labels(&mut s, labels.iter().map(|l| (&l.name[..], &l.value[..])));
    s
}

fn finish_series(
    sets: &mut [SeriesSet],
    open: Option<(usize, Vec<proto::Label>, Vec<StoredSample>)>,
) -> Result<(), ReadClientError> {
    if let Some((index, labels, samples)) = open {
        let labels = validated_labels(&labels)?;
        if let Some(set) = sets.get_mut(index) {
            set.series.push(Box::new(VecSeries { labels, samples }));
        }
    }
    Ok(())
}

/// Appends the samples of `chunk` within the query's range to `out`.
fn decode_chunk(
    chunk: &proto::Chunk,
    query: &ReadQuery,
    out: &mut Vec<StoredSample>,
) -> Result<(), String> {
    let encoding = match proto::chunk::Encoding::try_from(chunk.r#type) {
        Ok(proto::chunk::Encoding::Xor) => Encoding::Xor,
        Ok(proto::chunk::Encoding::Histogram) => Encoding::Histogram,
        Ok(proto::chunk::Encoding::FloatHistogram) => Encoding::FloatHistogram,
        _ => return Err(format!("unsupported chunk encoding {}", chunk.r#type)),
    };
    if chunk.data.len() < encoding.header_size() {
        return Err(format!(
            "{encoding} chunk of {} bytes is too short",
            chunk.data.len()
        ));
    }
    let mut it = ChunkIterator::new(encoding, &chunk.data);
    loop {
        let vt = it.next();
        if vt == ValueType::None {
            break;
        }
        let t = it.at_t();
        if t < query.start {
            continue;
        }
        if t > query.end {
            break;
        }
        let value = match vt {
            ValueType::Float => StoredValue::Float(it.at().1),
            ValueType::Histogram => match it.at_histogram() {
                Some((_, h)) => StoredValue::Histogram(HistogramValue::Integer(h)),
                None => continue,
            },
            ValueType::FloatHistogram => match it.at_float_histogram() {
                Some((_, h)) => StoredValue::Histogram(HistogramValue::Float(h)),
                None => continue,
            },
            ValueType::None => break,
        };
        // Chunks may overlap; keep time order and one sample per timestamp.
        if out.last().is_some_and(|last| last.t >= t) {
            continue;
        }
        out.push(StoredSample { t, value, st: None });
    }
    match it.err() {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// A returned label set, checked as upstream's `validateLabelsAndMetricName` checks it
/// (UTF-8 names allowed), then sorted.
fn validated_labels(labels: &[proto::Label]) -> Result<Labels, ReadClientError> {
    let bad = |m: String| ReadClientError::InvalidLabels(m);
    let mut out: Vec<Label> = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        let name = std::str::from_utf8(&l.name)
            .ok()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                bad(format!(
                    "invalid label name: {}",
                    String::from_utf8_lossy(&l.name)
                ))
            })?;
        let value = std::str::from_utf8(&l.value).map_err(|_| {
            bad(format!(
                "invalid label value: {}",
                String::from_utf8_lossy(&l.value)
            ))
        })?;
        if name == hearth_model::METRIC_NAME && value.is_empty() {
            return Err(bad(format!("invalid metric name: {value}")));
        }
        if i > 0 && labels[i - 1].name == l.name {
            return Err(bad(format!("duplicate label with name: {name}")));
        }
        out.push(Label::new(name, value));
    }
    Ok(Labels::from_vec(&mut out))
}
