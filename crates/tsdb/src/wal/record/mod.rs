//! The payloads the head logs, byte-compatible with Prometheus' `tsdb/record` (3.x).
//!
//! Every record starts with a type byte ([`RecordType`]). Samples, exemplars and
//! histograms are delta-encoded against the first entry (V1 records) or, in the V2
//! records that carry start timestamps (`st-storage`), the series ref against the previous
//! entry and the start timestamp as a marker byte. [`RecordEncoder`] writes V1 unless told
//! otherwise, so that any Prometheus 3.x can replay what hearth writes; [`RecordDecoder`]
//! reads both.
//!
//! Decoders append to a caller-owned `Vec` so replay reuses one allocation per kind; on
//! error they leave the `Vec` as it was.

mod histogram;

use std::fmt;

use hearth_model::{FloatHistogram, Histogram, Istr, Label, Labels, MetricType};

use crate::encoding::{Decbuf, DecodeError, Encbuf};
use histogram::NativeHistogram;

/// A series' reference in the head, as written in records.
pub type HeadSeriesRef = u64;
/// A reference to a chunk in the head's memory-mapped chunk files.
pub type ChunkDiskMapperRef = u64;

/// The type byte of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    Series,
    Samples,
    Tombstones,
    Exemplars,
    /// Only in the out-of-order write-behind log.
    MmapMarkers,
    Metadata,
    HistogramSamples,
    FloatHistogramSamples,
    CustomBucketsHistogramSamples,
    CustomBucketsFloatHistogramSamples,
    /// Float samples with start timestamps (`st-storage`, Prometheus 3.11+).
    SamplesV2,
    HistogramSamplesV2,
    FloatHistogramSamplesV2,
    /// The mint of a WAL truncation; only ever written into checkpoints.
    MinValidTime,
    /// A type byte this version does not know (from a newer writer): skipped on replay.
    Unknown,
}

impl RecordType {
    pub fn from_byte(b: u8) -> RecordType {
        match b {
            1 => RecordType::Series,
            2 => RecordType::Samples,
            3 => RecordType::Tombstones,
            4 => RecordType::Exemplars,
            5 => RecordType::MmapMarkers,
            6 => RecordType::Metadata,
            7 => RecordType::HistogramSamples,
            8 => RecordType::FloatHistogramSamples,
            9 => RecordType::CustomBucketsHistogramSamples,
            10 => RecordType::CustomBucketsFloatHistogramSamples,
            11 => RecordType::SamplesV2,
            12 => RecordType::HistogramSamplesV2,
            13 => RecordType::FloatHistogramSamplesV2,
            14 => RecordType::MinValidTime,
            _ => RecordType::Unknown,
        }
    }

    /// The type byte; 255 for `Unknown`, as upstream's `record.Unknown`.
    pub fn byte(self) -> u8 {
        match self {
            RecordType::Series => 1,
            RecordType::Samples => 2,
            RecordType::Tombstones => 3,
            RecordType::Exemplars => 4,
            RecordType::MmapMarkers => 5,
            RecordType::Metadata => 6,
            RecordType::HistogramSamples => 7,
            RecordType::FloatHistogramSamples => 8,
            RecordType::CustomBucketsHistogramSamples => 9,
            RecordType::CustomBucketsFloatHistogramSamples => 10,
            RecordType::SamplesV2 => 11,
            RecordType::HistogramSamplesV2 => 12,
            RecordType::FloatHistogramSamplesV2 => 13,
            RecordType::MinValidTime => 14,
            RecordType::Unknown => 255,
        }
    }

    /// The type of a record from its first byte; `Unknown` for an empty record.
    pub fn of(rec: &[u8]) -> RecordType {
        rec.first()
            .map_or(RecordType::Unknown, |b| RecordType::from_byte(*b))
    }

    /// Upstream's name for the type (`record.Type.String()`).
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Series => "series",
            RecordType::Samples => "samples",
            RecordType::Tombstones => "tombstones",
            RecordType::Exemplars => "exemplars",
            RecordType::MmapMarkers => "mmapmarkers",
            RecordType::Metadata => "metadata",
            RecordType::HistogramSamples => "histogram_samples",
            RecordType::FloatHistogramSamples => "float_histogram_samples",
            RecordType::CustomBucketsHistogramSamples => "custom_buckets_histogram_samples",
            RecordType::CustomBucketsFloatHistogramSamples => {
                "custom_buckets_float_histogram_samples"
            }
            RecordType::SamplesV2 => "samples_v2",
            RecordType::HistogramSamplesV2 => "histogram_samples_v2",
            RecordType::FloatHistogramSamplesV2 => "float_histogram_samples_v2",
            RecordType::MinValidTime => "min_valid_time",
            RecordType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A series and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    pub series_ref: HeadSeriesRef,
    pub labels: Labels,
}

/// A float sample; `st` is the start timestamp, 0 when unknown (V1 records carry none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series_ref: HeadSeriesRef,
    pub st: i64,
    pub t: i64,
    pub v: f64,
}

/// Samples of a series in `mint..=maxt` are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub series_ref: HeadSeriesRef,
    pub mint: i64,
    pub maxt: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    pub series_ref: HeadSeriesRef,
    pub t: i64,
    pub v: f64,
    pub labels: Labels,
}

/// All samples of the series up to now are in the memory-mapped chunk `mmap_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    pub series_ref: HeadSeriesRef,
    pub mmap_ref: ChunkDiskMapperRef,
}

/// Metadata of a series. The type is kept as its WAL byte so unknown values survive a
/// checkpoint; see [`metric_type_from_wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    pub series_ref: HeadSeriesRef,
    pub metric_type: u8,
    pub unit: String,
    pub help: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogramSample {
    pub series_ref: HeadSeriesRef,
    pub st: i64,
    pub t: i64,
    pub h: Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefFloatHistogramSample {
    pub series_ref: HeadSeriesRef,
    pub st: i64,
    pub t: i64,
    pub fh: FloatHistogram,
}

/// The WAL byte of a metric type (upstream's `record.GetMetricType`).
pub fn metric_type_to_wal(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

/// The metric type of a WAL byte; unknown bytes are `Unknown`.
pub fn metric_type_from_wal(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

/// What is wrong with a record's payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordErrorKind {
    #[error("record is empty")]
    Empty,
    #[error("type byte {found} is not what this decoder reads")]
    WrongType { found: u8 },
    #[error("record ends inside a value")]
    Truncated,
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    #[error("span length overflows 32 bits")]
    SpanLengthOverflow,
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("{what} count {count} exceeds the {remaining} bytes left")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        remaining: usize,
    },
    #[error("{0} unexpected bytes left after the record")]
    TrailingBytes(usize),
}

impl From<DecodeError> for RecordErrorKind {
    fn from(f: DecodeError) -> Self {
        match f {
            DecodeError::Truncated => RecordErrorKind::Truncated,
            DecodeError::VarintOverflow => RecordErrorKind::VarintOverflow,
            DecodeError::Uvarint32Overflow => RecordErrorKind::SpanLengthOverflow,
            DecodeError::InvalidUtf8 => RecordErrorKind::InvalidUtf8 { what: "string" },
        }
    }
}

/// A record payload that cannot be decoded, with the byte offset in the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decode {record} record at byte {offset}: {kind}")]
pub struct RecordError {
    pub record: RecordType,
    pub offset: usize,
    pub kind: RecordErrorKind,
}

type Step<T = ()> = Result<T, RecordErrorKind>;

/// Decodes records into typed values. Holds scratch space reused across records.
#[derive(Debug, Default)]
pub struct RecordDecoder {
    labels: Vec<Label>,
    skipped_histograms: u64,
}

/// Runs `body` over `rec` after checking its type byte is one of `accept`; on error
/// restores `out` and reports where decoding stopped.
fn decode_into<T>(
    rec: &[u8],
    accept: &[RecordType],
    out: &mut Vec<T>,
    body: impl FnOnce(&mut Decbuf<'_>, RecordType, &mut Vec<T>) -> Step,
) -> Result<(), RecordError> {
    let before = out.len();
    let mut d = Decbuf::new(rec);
    let typ = RecordType::of(rec);
    let result = match d.byte() {
        Err(_) => Err(RecordErrorKind::Empty),
        Ok(b) if !accept.contains(&typ) => Err(RecordErrorKind::WrongType { found: b }),
        Ok(_) => body(&mut d, typ, out),
    };
    result.map_err(|kind| {
        out.truncate(before);
        RecordError {
            record: if typ == RecordType::Unknown {
                accept.first().copied().unwrap_or(typ)
            } else {
                typ
            },
            offset: d.pos(),
            kind,
        }
    })
}

fn utf8<'a>(b: &'a [u8], what: &'static str) -> Step<&'a str> {
    std::str::from_utf8(b).map_err(|_| RecordErrorKind::InvalidUtf8 { what })
}

/// Decodes a label set. Names and values must be UTF-8 (Prometheus 3 validates both on
/// ingestion); the result goes through the interner and is sorted.
fn decode_labels(d: &mut Decbuf<'_>, scratch: &mut Vec<Label>) -> Step<Labels> {
    let n = d.uvarint()?;
    scratch.clear();
    // Each label takes at least two bytes, so `n` bounds the loop only with the input.
    for _ in 0..n {
        let name = utf8(d.uvarint_bytes()?, "label name")?;
        let value = utf8(d.uvarint_bytes()?, "label value")?;
        scratch.push(Label {
            name: Istr::new(name),
            value: Istr::new(value),
        });
    }
    Ok(Labels::from_vec(scratch))
}

/// Reads the start-timestamp marker of a V2 entry.
fn read_st_marker(d: &mut Decbuf<'_>, prev_st: i64, first_st: i64) -> Step<i64> {
    Ok(match d.byte()? {
        ST_NONE => 0,
        ST_SAME => prev_st,
        _ => first_st.wrapping_add(d.varint()?),
    })
}

const ST_NONE: u8 = 0;
const ST_SAME: u8 = 1;
const ST_EXPLICIT: u8 = 2;

fn write_st_marker(buf: &mut Vec<u8>, st: i64, first_st: i64, prev_st: i64) {
    if st == 0 {
        buf.push(ST_NONE);
    } else if st == prev_st {
        buf.push(ST_SAME);
    } else {
        buf.push(ST_EXPLICIT);
        buf.put_varint(st.wrapping_sub(first_st));
    }
}

/// Shared walk over the entries of the V1 and V2 sample-like records: decodes
/// (ref, st, t) per entry and hands the rest of the entry to `entry`.
fn decode_refs_and_times(
    d: &mut Decbuf<'_>,
    v2: bool,
    mut entry: impl FnMut(&mut Decbuf<'_>, HeadSeriesRef, i64, i64) -> Step,
) -> Step {
    if d.is_empty() {
        return Ok(());
    }
    if !v2 {
        let base_ref = d.be64()?;
        let base_t = d.be64_i64()?;
        while !d.is_empty() {
            let dref = d.varint()?;
            let dt = d.varint()?;
            entry(
                d,
                base_ref.wrapping_add(dref as u64),
                0,
                base_t.wrapping_add(dt),
            )?;
        }
        return Ok(());
    }
    let first_ref = d.varint()? as u64;
    let first_t = d.varint()?;
    let first_st = d.varint()?;
    entry(d, first_ref, first_st, first_t)?;
    let (mut prev_ref, mut prev_st) = (first_ref, first_st);
    while !d.is_empty() {
        let r = prev_ref.wrapping_add(d.varint()? as u64);
        let t = first_t.wrapping_add(d.varint()?);
        let st = read_st_marker(d, prev_st, first_st)?;
        entry(d, r, st, t)?;
        (prev_ref, prev_st) = (r, st);
    }
    Ok(())
}

impl RecordDecoder {
    pub fn new() -> RecordDecoder {
        RecordDecoder::default()
    }

    /// Histograms skipped so far because their schema is unknown (as upstream, which
    /// logs and drops them).
    pub fn skipped_histograms(&self) -> u64 {
        self.skipped_histograms
    }

    /// Appends the series of a `Series` record to `out`.
    pub fn series(&mut self, rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
        let scratch = &mut self.labels;
        decode_into(rec, &[RecordType::Series], out, |d, _, out| {
            while !d.is_empty() {
                let series_ref = d.be64()?;
                let labels = decode_labels(d, scratch)?;
                out.push(RefSeries { series_ref, labels });
            }
            Ok(())
        })
    }

    /// Appends the samples of a `Samples` or `SamplesV2` record to `out`.
    pub fn samples(&mut self, rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
        let accept = [RecordType::Samples, RecordType::SamplesV2];
        decode_into(rec, &accept, out, |d, typ, out| {
            // One byte per varint and 8 for the value at least.
            out.reserve(d.remaining() / 10);
            if typ == RecordType::Samples {
                return decode_samples_v1(d, out);
            }
            decode_refs_and_times(d, true, |d, series_ref, st, t| {
                let v = d.be64_f64()?;
                out.push(RefSample {
                    series_ref,
                    st,
                    t,
                    v,
                });
                Ok(())
            })
        })
    }

    /// Appends the tombstones of a `Tombstones` record to `out`.
    pub fn tombstones(&mut self, rec: &[u8], out: &mut Vec<Tombstone>) -> Result<(), RecordError> {
        decode_into(rec, &[RecordType::Tombstones], out, |d, _, out| {
            while !d.is_empty() {
                out.push(Tombstone {
                    series_ref: d.be64()?,
                    mint: d.varint()?,
                    maxt: d.varint()?,
                });
            }
            Ok(())
        })
    }

    /// Appends the exemplars of an `Exemplars` record to `out`.
    pub fn exemplars(&mut self, rec: &[u8], out: &mut Vec<RefExemplar>) -> Result<(), RecordError> {
        let scratch = &mut self.labels;
        decode_into(rec, &[RecordType::Exemplars], out, |d, _, out| {
            decode_refs_and_times(d, false, |d, series_ref, _, t| {
                let v = d.be64_f64()?;
                let labels = decode_labels(d, scratch)?;
                out.push(RefExemplar {
                    series_ref,
                    t,
                    v,
                    labels,
                });
                Ok(())
            })
        })
    }

    /// Appends the markers of an `MmapMarkers` record to `out`.
    pub fn mmap_markers(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefMmapMarker>,
    ) -> Result<(), RecordError> {
        decode_into(rec, &[RecordType::MmapMarkers], out, |d, _, out| {
            while !d.is_empty() {
                out.push(RefMmapMarker {
                    series_ref: d.be64()?,
                    mmap_ref: d.be64()?,
                });
            }
            Ok(())
        })
    }

    /// Appends the entries of a `Metadata` record to `out`. Fields other than `UNIT` and
    /// `HELP` are skipped, as upstream does; their text is taken lossily if not UTF-8.
    pub fn metadata(&mut self, rec: &[u8], out: &mut Vec<RefMetadata>) -> Result<(), RecordError> {
        decode_into(rec, &[RecordType::Metadata], out, |d, _, out| {
            while !d.is_empty() {
                let series_ref = d.uvarint()?;
                let metric_type = d.byte()?;
                let fields = d.uvarint()?;
                let (mut unit, mut help) = (String::new(), String::new());
                for _ in 0..fields {
                    let name = d.uvarint_bytes()?;
                    let value = d.uvarint_bytes()?;
                    match name {
                        b"UNIT" => unit = String::from_utf8_lossy(value).into_owned(),
                        b"HELP" => help = String::from_utf8_lossy(value).into_owned(),
                        _ => {}
                    }
                }
                out.push(RefMetadata {
                    series_ref,
                    metric_type,
                    unit,
                    help,
                });
            }
            Ok(())
        })
    }

    /// Appends the histograms of a `HistogramSamples`, `CustomBucketsHistogramSamples` or
    /// `HistogramSamplesV2` record to `out`. Histograms of an unknown schema are skipped;
    /// schemas 9..=52 are reduced to 8, as upstream does.
    pub fn histogram_samples(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefHistogramSample>,
    ) -> Result<(), RecordError> {
        self.histograms(rec, out)
    }

    /// Appends the histograms of a `FloatHistogramSamples`,
    /// `CustomBucketsFloatHistogramSamples` or `FloatHistogramSamplesV2` record to `out`.
    pub fn float_histogram_samples(
        &mut self,
        rec: &[u8],
        out: &mut Vec<RefFloatHistogramSample>,
    ) -> Result<(), RecordError> {
        self.histograms(rec, out)
    }

    /// Either form of histogram record.
    pub(crate) fn histograms<S: HistogramSample>(
        &mut self,
        rec: &[u8],
        out: &mut Vec<S>,
    ) -> Result<(), RecordError> {
        let skipped = &mut self.skipped_histograms;
        decode_into(rec, &S::TYPES, out, |d, typ, out| {
            decode_refs_and_times(d, typ == S::TYPES[2], |d, series_ref, st, t| {
                let mut h = S::Histogram::decode(d)?;
                if h.keep_for_replay() {
                    out.push(S::new(series_ref, st, t, h));
                } else {
                    *skipped += 1;
                }
                Ok(())
            })
        })
    }

    /// The mint of a `MinValidTime` record.
    pub fn min_valid_time(&mut self, rec: &[u8]) -> Result<i64, RecordError> {
        let mut out = Vec::with_capacity(1);
        decode_into(rec, &[RecordType::MinValidTime], &mut out, |d, _, out| {
            out.push(d.be64_i64()?);
            if !d.is_empty() {
                return Err(RecordErrorKind::TrailingBytes(d.remaining()));
            }
            Ok(())
        })?;
        Ok(out.first().copied().unwrap_or_default())
    }
}

/// The hot loop of replay: base ref and time, then per sample a ref delta, a time delta
/// and the value bits. Entries with room for the longest encoding go through a fixed
/// window without per-byte bounds checks; the last few through the plain cursor.
fn decode_samples_v1(d: &mut Decbuf<'_>, out: &mut Vec<RefSample>) -> Step {
    if d.is_empty() {
        return Ok(());
    }
    let base_ref = d.be64()?;
    let base_t = d.be64_i64()?;
    // Two 10-byte varints and the value.
    const MAX_ENTRY: usize = 28;
    while d.remaining() >= MAX_ENTRY {
        let (dref, dt, v) = d.sample_entry()?;
        out.push(RefSample {
            series_ref: base_ref.wrapping_add(dref as u64),
            st: 0,
            t: base_t.wrapping_add(dt),
            v,
        });
    }
    while !d.is_empty() {
        let dref = d.varint()?;
        let dt = d.varint()?;
        let v = d.be64_f64()?;
        out.push(RefSample {
            series_ref: base_ref.wrapping_add(dref as u64),
            st: 0,
            t: base_t.wrapping_add(dt),
            v,
        });
    }
    Ok(())
}

/// Encodes typed values into records. `start_timestamps` selects the V2 sample and
/// histogram records, which only Prometheus 3.11+ can replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordEncoder {
    pub start_timestamps: bool,
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    buf.put_uvarint(labels.len() as u64);
    for l in labels {
        buf.put_uvarint_bytes(l.name.as_bytes());
        buf.put_uvarint_bytes(l.value.as_bytes());
    }
}

/// Writes the (ref, st, t) prefix of each entry the way V1 or V2 records do, and the
/// rest of the entry through `entry`. `items` yields (ref, st, t, item).
fn encode_entries<T>(
    buf: &mut Vec<u8>,
    v2: bool,
    items: &[T],
    key: impl Fn(&T) -> (HeadSeriesRef, i64, i64),
    mut entry: impl FnMut(&mut Vec<u8>, &T),
) {
    let Some(first) = items.first() else {
        return;
    };
    let (first_ref, first_st, first_t) = key(first);
    if !v2 {
        buf.put_be64(first_ref);
        buf.put_be64(first_t as u64);
        for it in items {
            let (r, _, t) = key(it);
            buf.put_varint(r.wrapping_sub(first_ref) as i64);
            buf.put_varint(t.wrapping_sub(first_t));
            entry(buf, it);
        }
        return;
    }
    buf.put_varint(first_ref as i64);
    buf.put_varint(first_t);
    buf.put_varint(first_st);
    entry(buf, first);
    let (mut prev_ref, mut prev_st) = (first_ref, first_st);
    for it in &items[1..] {
        let (r, st, t) = key(it);
        buf.put_varint(r.wrapping_sub(prev_ref) as i64);
        buf.put_varint(t.wrapping_sub(first_t));
        write_st_marker(buf, st, first_st, prev_st);
        entry(buf, it);
        (prev_ref, prev_st) = (r, st);
    }
}

impl RecordEncoder {
    /// Appends a `Series` record.
    pub fn series(&self, series: &[RefSeries], buf: &mut Vec<u8>) {
        buf.push(RecordType::Series.byte());
        for s in series {
            buf.put_be64(s.series_ref);
            put_labels(buf, &s.labels);
        }
    }

    /// Appends a `Samples` (or, with start timestamps, `SamplesV2`) record.
    pub fn samples(&self, samples: &[RefSample], buf: &mut Vec<u8>) {
        let v2 = self.start_timestamps;
        let typ = if v2 {
            RecordType::SamplesV2
        } else {
            RecordType::Samples
        };
        buf.push(typ.byte());
        buf.reserve(samples.len() * 12);
        let key = |s: &RefSample| (s.series_ref, s.st, s.t);
        encode_entries(buf, v2, samples, key, |buf, s| buf.put_be64(s.v.to_bits()));
    }

    /// Appends a `Tombstones` record.
    pub fn tombstones(&self, tombstones: &[Tombstone], buf: &mut Vec<u8>) {
        buf.push(RecordType::Tombstones.byte());
        for s in tombstones {
            buf.put_be64(s.series_ref);
            buf.put_varint(s.mint);
            buf.put_varint(s.maxt);
        }
    }

    /// Appends an `Exemplars` record.
    pub fn exemplars(&self, exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
        buf.push(RecordType::Exemplars.byte());
        let key = |e: &RefExemplar| (e.series_ref, 0, e.t);
        encode_entries(buf, false, exemplars, key, |buf, e| {
            buf.put_be64(e.v.to_bits());
            put_labels(buf, &e.labels);
        });
    }

    /// Appends an `MmapMarkers` record.
    pub fn mmap_markers(&self, markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
        buf.push(RecordType::MmapMarkers.byte());
        for m in markers {
            buf.put_be64(m.series_ref);
            buf.put_be64(m.mmap_ref);
        }
    }

    /// Appends a `Metadata` record (fields `UNIT` and `HELP`, as upstream writes).
    pub fn metadata(&self, metadata: &[RefMetadata], buf: &mut Vec<u8>) {
        buf.push(RecordType::Metadata.byte());
        for m in metadata {
            buf.put_uvarint(m.series_ref);
            buf.push(m.metric_type);
            buf.put_uvarint(2);
            buf.put_uvarint_bytes(b"UNIT");
            buf.put_uvarint_bytes(m.unit.as_bytes());
            buf.put_uvarint_bytes(b"HELP");
            buf.put_uvarint_bytes(m.help.as_bytes());
        }
    }

    /// Appends the record for the exponential-bucket histograms of `histograms`
    /// (`HistogramSamples`), nothing if all use custom buckets. Returns whether some use
    /// custom buckets and so need [`RecordEncoder::custom_buckets_histogram_samples`].
    /// With start timestamps all go into one `HistogramSamplesV2` record and it returns
    /// `false`.
    pub fn histogram_samples(&self, histograms: &[RefHistogramSample], buf: &mut Vec<u8>) -> bool {
        self.histograms(histograms, buf)
    }

    /// Appends the record for the custom-bucket histograms of `histograms`
    /// (`CustomBucketsHistogramSamples`, or `HistogramSamplesV2` with start timestamps).
    pub fn custom_buckets_histogram_samples(
        &self,
        histograms: &[RefHistogramSample],
        buf: &mut Vec<u8>,
    ) {
        self.custom_bucket_histograms(histograms, buf)
    }

    /// As [`RecordEncoder::histogram_samples`], for float histograms.
    pub fn float_histogram_samples(
        &self,
        histograms: &[RefFloatHistogramSample],
        buf: &mut Vec<u8>,
    ) -> bool {
        self.histograms(histograms, buf)
    }

    /// As [`RecordEncoder::custom_buckets_histogram_samples`], for float histograms.
    pub fn custom_buckets_float_histogram_samples(
        &self,
        histograms: &[RefFloatHistogramSample],
        buf: &mut Vec<u8>,
    ) {
        self.custom_bucket_histograms(histograms, buf)
    }

    pub(crate) fn histograms<S: HistogramSample>(
        &self,
        histograms: &[S],
        buf: &mut Vec<u8>,
    ) -> bool {
        let put = |buf: &mut Vec<u8>, h: &S| h.histogram().encode(buf);
        if self.start_timestamps {
            buf.push(S::TYPES[2].byte());
            encode_entries(buf, true, histograms, S::key, put);
            return false;
        }
        let custom = histograms
            .iter()
            .filter(|h| h.uses_custom_buckets())
            .count();
        if custom > 0 && custom == histograms.len() {
            return true;
        }
        buf.push(S::TYPES[0].byte());
        encode_filtered(buf, histograms, S::key, |h| !h.uses_custom_buckets(), put);
        custom > 0
    }

    pub(crate) fn custom_bucket_histograms<S: HistogramSample>(
        &self,
        histograms: &[S],
        buf: &mut Vec<u8>,
    ) {
        // As upstream, the record holds only these, based on the first of them.
        let custom: Vec<&S> = histograms
            .iter()
            .filter(|h| h.uses_custom_buckets())
            .collect();
        let v2 = self.start_timestamps;
        buf.push(S::TYPES[if v2 { 2 } else { 1 }].byte());
        encode_entries(
            buf,
            v2,
            &custom,
            |h| h.key(),
            |buf, h| h.histogram().encode(buf),
        );
    }

    /// Appends a `MinValidTime` record.
    pub fn min_valid_time(&self, mint: i64, buf: &mut Vec<u8>) {
        buf.push(RecordType::MinValidTime.byte());
        buf.put_be64(mint as u64);
    }
}

/// A histogram sample of either form, so that one decoder, encoder and checkpoint path
/// serves both.
pub(crate) trait HistogramSample: Sized {
    type Histogram: NativeHistogram;
    /// Exponential-bucket V1, custom-bucket V1 and V2 record types.
    const TYPES: [RecordType; 3];
    fn new(series_ref: HeadSeriesRef, st: i64, t: i64, h: Self::Histogram) -> Self;
    fn histogram(&self) -> &Self::Histogram;
    /// (series ref, start timestamp, timestamp).
    fn key(&self) -> (HeadSeriesRef, i64, i64);

    fn uses_custom_buckets(&self) -> bool {
        self.histogram().schema() == hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA
    }
}

impl HistogramSample for RefHistogramSample {
    type Histogram = Histogram;
    const TYPES: [RecordType; 3] = [
        RecordType::HistogramSamples,
        RecordType::CustomBucketsHistogramSamples,
        RecordType::HistogramSamplesV2,
    ];
    fn new(series_ref: HeadSeriesRef, st: i64, t: i64, h: Histogram) -> Self {
        RefHistogramSample {
            series_ref,
            st,
            t,
            h,
        }
    }
    fn histogram(&self) -> &Histogram {
        &self.h
    }
    fn key(&self) -> (HeadSeriesRef, i64, i64) {
        (self.series_ref, self.st, self.t)
    }
}

impl HistogramSample for RefFloatHistogramSample {
    type Histogram = FloatHistogram;
    const TYPES: [RecordType; 3] = [
        RecordType::FloatHistogramSamples,
        RecordType::CustomBucketsFloatHistogramSamples,
        RecordType::FloatHistogramSamplesV2,
    ];
    fn new(series_ref: HeadSeriesRef, st: i64, t: i64, fh: FloatHistogram) -> Self {
        RefFloatHistogramSample {
            series_ref,
            st,
            t,
            fh,
        }
    }
    fn histogram(&self) -> &FloatHistogram {
        &self.fh
    }
    fn key(&self) -> (HeadSeriesRef, i64, i64) {
        (self.series_ref, self.st, self.t)
    }
}

/// A V1 record body over the items `keep` selects, with the first of all `items` as the
/// base (as upstream, which takes the base before filtering out custom buckets).
fn encode_filtered<T>(
    buf: &mut Vec<u8>,
    items: &[T],
    key: impl Fn(&T) -> (HeadSeriesRef, i64, i64),
    keep: impl Fn(&T) -> bool,
    mut entry: impl FnMut(&mut Vec<u8>, &T),
) {
    let Some(first) = items.first() else {
        return;
    };
    let (first_ref, _, first_t) = key(first);
    buf.put_be64(first_ref);
    buf.put_be64(first_t as u64);
    for it in items.iter().filter(|it| keep(it)) {
        let (r, _, t) = key(it);
        buf.put_varint(r.wrapping_sub(first_ref) as i64);
        buf.put_varint(t.wrapping_sub(first_t));
        entry(buf, it);
    }
}
