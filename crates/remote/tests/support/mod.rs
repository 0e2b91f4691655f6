//! Helpers the remote crate's integration tests share: request bodies, a storage that
//! records exemplars and metadata and can fail on demand, reading everything back, and
//! a small HTTP/1.1 client for loopback servers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, Timestamp};
use hearth_remote::proto;
use hearth_tsdb::mem_storage::{MemStorage, StoredValue};
use hearth_tsdb::storage::{AppendError, Appendable, Appender, Queryable, SeriesRef, ValueType};
use parking_lot::Mutex;
use prost::Message;

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    hearth_remote::compression::compress(raw).unwrap()
}

pub fn encode<M: Message>(m: &M) -> Vec<u8> {
    snappy(&m.encode_to_vec())
}

pub fn label(name: &str, value: &str) -> proto::Label {
    proto::Label::new(name, value)
}

pub fn v1_series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|(t, v)| proto::Sample {
                value: *v,
                timestamp: *t,
            })
            .collect(),
        ..Default::default()
    }
}

/// A recent timestamp (samples must not be too far in the future).
pub fn now() -> i64 {
    hearth_model::sample::now_ms()
}

/// A stored sample in a comparable form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Histogram(HistogramValue),
}

/// Every series with its samples, sorted by labels.
pub fn dump(q: &dyn Queryable) -> Vec<(Labels, Vec<(Timestamp, Value)>)> {
    let querier = q.querier(i64::MIN, i64::MAX).unwrap();
    let set = querier.select(true, None, &[]).unwrap();
    dump_set(&set)
}

/// The series of a set with their samples, in the set's order.
pub fn dump_set(set: &hearth_tsdb::storage::SeriesSet) -> Vec<(Labels, Vec<(Timestamp, Value)>)> {
    set.series
        .iter()
        .map(|s| {
            let mut it = s.iterator();
            let mut out = Vec::new();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => {
                        let (t, v) = it.at();
                        out.push((t, Value::Float(v)));
                    }
                    ValueType::Histogram => {
                        let (t, h) = it.at_histogram();
                        out.push((t, Value::Histogram(HistogramValue::Integer(h))));
                    }
                    ValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        out.push((t, Value::Histogram(HistogramValue::Float(h))));
                    }
                }
            }
            (s.labels().clone(), out)
        })
        .collect()
}

pub fn floats(samples: &[(i64, f64)]) -> Vec<(Timestamp, Value)> {
    samples
        .iter()
        .map(|(t, v)| (*t, Value::Float(*v)))
        .collect()
}

impl From<StoredValue> for Value {
    fn from(v: StoredValue) -> Value {
        match v {
            StoredValue::Float(f) => Value::Float(f),
            StoredValue::Histogram(h) => Value::Histogram(h),
        }
    }
}

/// What [`RecordingStorage`] saw committed besides samples.
#[derive(Debug, Default)]
pub struct Recorded {
    pub exemplars: Vec<(Labels, Exemplar)>,
    pub metadata: Vec<(Labels, Metadata)>,
    pub commits: usize,
    pub rollbacks: usize,
}

/// [`MemStorage`] plus exemplars and metadata, with failures on demand: appends to a
/// series whose `__name__` is `fail_metric` fail as storage failures; exemplars with a
/// negative value are out of order.
#[derive(Clone, Default)]
pub struct RecordingStorage {
    pub mem: MemStorage,
    pub recorded: Arc<Mutex<Recorded>>,
    pub fail_metric: Option<String>,
}

struct RecordingAppender<'a> {
    inner: Box<dyn Appender + 'a>,
    storage: &'a RecordingStorage,
    exemplars: Vec<(Labels, Exemplar)>,
    metadata: Vec<(Labels, Metadata)>,
}

impl RecordingAppender<'_> {
    fn check(&self, labels: &Labels) -> Result<(), AppendError> {
        match &self.storage.fail_metric {
            Some(m) if labels.metric_name() == Some(m.as_str()) => {
                Err(AppendError::Io("disk on fire".to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl Appender for RecordingAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.check(labels)?;
        self.inner.append(series, labels, t, v)
    }

    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        self.check(labels)?;
        self.inner.append_histogram(series, labels, t, h)
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        if e.value < 0.0 {
            return Err(AppendError::OutOfOrderExemplar);
        }
        self.exemplars.push((labels.clone(), e.clone()));
        Ok(series)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        self.metadata.push((labels.clone(), m.clone()));
        Ok(series)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let this = *self;
        this.inner.commit()?;
        let mut r = this.storage.recorded.lock();
        r.commits += 1;
        r.exemplars.extend(this.exemplars);
        r.metadata.extend(this.metadata);
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        self.storage.recorded.lock().rollbacks += 1;
        self.inner.rollback()
    }
}

impl Appendable for RecordingStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(RecordingAppender {
            inner: self.mem.appender(),
            storage: self,
            exemplars: Vec::new(),
            metadata: Vec::new(),
        })
    }
}

/// A response of [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), understanding
/// chunked responses.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Serves `router` on a loopback port from a background runtime; returns the port.
pub fn serve(router: axum::Router) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    port
}
