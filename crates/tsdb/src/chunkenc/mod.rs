//! Chunk encodings: how a run of samples of one series becomes bytes, bit-compatible with
//! Prometheus' `tsdb/chunkenc`.
//!
//! Owns the encodings `XOR` (floats), `histogram` and `floathistogram` (native
//! histograms), and Prometheus 3.14's experimental `XOR2`, `histogramST` and
//! `floathistogramST` (start timestamps), each with an appender that owns the growing
//! bytes and an iterator over bytes from anywhere (memory, an mmapped file).
//!
//! Code that stores chunks should depend only on [`Encoding`], the bytes, [`ChunkAppender`]
//! and [`ChunkIterator`]/[`ChunkSampleIterator`], so a denser encoding of our own can be added
//! as one more variant.
//!
//! ```
//! use hearth_tsdb::chunkenc::{ChunkAppender, Encoding, ChunkSampleIterator, ValueType};
//! let mut app = ChunkAppender::new(Encoding::Xor);
//! app.append(0, 1000, 1.5).unwrap();
//! app.append(0, 16000, 2.5).unwrap();
//! let mut it = app.iter();
//! while it.next() == ValueType::Float {
//!     let (_t, _v) = it.at();
//! }
//! assert!(it.err().is_none());
//! ```

mod bstream;
mod float_histogram;
mod histogram;
mod histogram_meta;
mod start_timestamp;
mod varbit;
mod xor;
mod xor2;

use std::fmt;

use hearth_model::{FloatHistogram, Histogram, Timestamp};

pub use float_histogram::{FloatHistogramAppender, FloatHistogramIterator};
pub use histogram::{HISTOGRAM_HEADER_SIZE, HistogramAppender, HistogramIterator};
pub use histogram_meta::CounterResetHeader;
pub use xor::{XOR_HEADER_SIZE, XorAppender, XorIterator};
pub use xor2::{XOR2_HEADER_SIZE, Xor2Appender, Xor2Iterator};

use bstream::{BitReader, BitWriter};
use varbit::NumberError;

/// The most bytes Prometheus lets an XOR chunk grow to before cutting a new one.
pub const MAX_BYTES_PER_XOR_CHUNK: usize = 1024;
/// The size Prometheus aims at for histogram chunks.
pub const TARGET_BYTES_PER_HISTOGRAM_CHUNK: usize = 1024;
/// The fewest samples Prometheus puts in a histogram chunk before cutting for size.
pub const MIN_SAMPLES_PER_HISTOGRAM_CHUNK: usize = 10;

/// A chunk encoding, with Prometheus' numeric values (the byte stored before chunk data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    Xor = 1,
    Histogram = 2,
    FloatHistogram = 3,
    /// Experimental (`--enable-feature=xor2-encoding`).
    Xor2 = 4,
    /// Experimental (`--enable-feature=histograms-st-encoding`).
    HistogramSt = 5,
    /// Experimental (`--enable-feature=histograms-st-encoding`).
    FloatHistogramSt = 6,
}

impl Encoding {
    pub const ALL: [Encoding; 6] = [
        Encoding::Xor,
        Encoding::Histogram,
        Encoding::FloatHistogram,
        Encoding::Xor2,
        Encoding::HistogramSt,
        Encoding::FloatHistogramSt,
    ];

    pub fn from_u8(b: u8) -> Result<Encoding, ChunkError> {
        Ok(match b {
            1 => Encoding::Xor,
            2 => Encoding::Histogram,
            3 => Encoding::FloatHistogram,
            4 => Encoding::Xor2,
            5 => Encoding::HistogramSt,
            6 => Encoding::FloatHistogramSt,
            _ => return Err(ChunkError::UnknownEncoding(b)),
        })
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The kind of value chunks of this encoding hold.
    pub fn value_type(self) -> ValueType {
        match self {
            Encoding::Xor | Encoding::Xor2 => ValueType::Float,
            Encoding::Histogram | Encoding::HistogramSt => ValueType::Histogram,
            Encoding::FloatHistogram | Encoding::FloatHistogramSt => ValueType::FloatHistogram,
        }
    }

    /// Whether the encoding can store start timestamps.
    pub fn stores_start_timestamps(self) -> bool {
        matches!(
            self,
            Encoding::Xor2 | Encoding::HistogramSt | Encoding::FloatHistogramSt
        )
    }

    /// Bytes before the bit stream starts.
    pub fn header_size(self) -> usize {
        match self {
            Encoding::Xor => XOR_HEADER_SIZE,
            Encoding::Xor2 => XOR2_HEADER_SIZE,
            _ => HISTOGRAM_HEADER_SIZE,
        }
    }
}

impl fmt::Display for Encoding {
    /// Prometheus' names (`Encoding.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
            Encoding::Xor2 => "XOR2",
            Encoding::HistogramSt => "histogramST",
            Encoding::FloatHistogramSt => "floathistogramST",
        })
    }
}

/// What an iterator is positioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Nothing: not started, exhausted, or failed (see `err`).
    None,
    Float,
    Histogram,
    FloatHistogram,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::None => "none",
            ValueType::Float => "float",
            ValueType::Histogram => "histogram",
            ValueType::FloatHistogram => "floathistogram",
        })
    }
}

/// Why chunk bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    #[error("{encoding} chunk of {len} bytes is shorter than its {header}-byte header")]
    TooShort {
        encoding: Encoding,
        len: usize,
        header: usize,
    },
    #[error("{encoding} chunk ends in sample {sample} (at bit {bit} of its data)")]
    UnexpectedEnd {
        encoding: Encoding,
        sample: usize,
        bit: usize,
    },
    #[error("{encoding} chunk is corrupt in sample {sample} at bit {bit}: {reason}")]
    Corrupt {
        encoding: Encoding,
        sample: usize,
        bit: usize,
        reason: String,
    },
    #[error("{encoding} chunk has {bits} bits of data after its last sample")]
    TrailingData { encoding: Encoding, bits: usize },
}

impl ChunkError {
    fn from_number(encoding: Encoding, sample: usize, r: &BitReader<'_>, e: NumberError) -> Self {
        let bit = r.position();
        let reason = match e {
            NumberError::End => {
                return ChunkError::UnexpectedEnd {
                    encoding,
                    sample,
                    bit,
                };
            }
            NumberError::Overflow => "varint overflows 64 bits".to_string(),
            NumberError::BadXorWindow => {
                "XOR window with more than 64 leading and significant bits".to_string()
            }
            NumberError::Implausible(what) => {
                format!("more {what} than the rest of the chunk can hold")
            }
            NumberError::UnknownSchema(s) => format!("unknown histogram schema {s}"),
        };
        ChunkError::Corrupt {
            encoding,
            sample,
            bit,
            reason,
        }
    }
}

/// Why a sample could not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("cannot append a {value} sample to a {encoding} chunk")]
    WrongValueType {
        encoding: Encoding,
        value: ValueType,
    },
    #[error("{encoding} chunk is full ({max} samples)")]
    ChunkFull { encoding: Encoding, max: usize },
    #[error("histogram has {buckets} {side} buckets but its spans describe {spans}")]
    InvalidHistogram {
        side: &'static str,
        buckets: usize,
        spans: u64,
    },
    /// Refused in append-only mode (Prometheus' message).
    #[error("{what} counter reset")]
    CounterReset { what: &'static str },
    /// Refused in append-only mode (Prometheus' message).
    #[error("{what} schema change")]
    SchemaChange { what: &'static str },
    /// Refused in append-only mode (Prometheus' message).
    #[error(
        "{what} layout change with {positive} positive and {negative} negative {direction} inserts"
    )]
    LayoutChange {
        what: &'static str,
        positive: usize,
        negative: usize,
        direction: &'static str,
    },
    #[error("cannot recode chunk: {0}")]
    Corrupt(ChunkError),
}

/// What happened to a histogram sample that was appended.
#[derive(Debug)]
pub enum AppendOutcome<A> {
    /// It went into this chunk.
    Appended,
    /// It brought new buckets: this chunk was re-encoded with the wider layout (its bytes
    /// replaced) and the sample appended.
    Recoded,
    /// It could not go into this chunk (counter reset, schema change, ...): this chunk is
    /// unchanged and complete, and the sample starts the returned one.
    NewChunk(A),
}

impl<A> AppendOutcome<A> {
    fn map<B>(self, f: impl FnOnce(A) -> B) -> AppendOutcome<B> {
        match self {
            AppendOutcome::Appended => AppendOutcome::Appended,
            AppendOutcome::Recoded => AppendOutcome::Recoded,
            AppendOutcome::NewChunk(a) => AppendOutcome::NewChunk(f(a)),
        }
    }
}

/// Walks the samples of one chunk, as Prometheus' `chunkenc.Iterator` does.
///
/// Corrupt data never panics: `next` returns [`ValueType::None`] and `err` says what is
/// wrong and where.
pub trait ChunkSampleIterator {
    /// Moves to the next sample and returns its type, or `None` at the end or on error.
    fn next(&mut self) -> ValueType;

    /// The type of the current sample (`None` before the first `next` and after the end).
    fn value_type(&self) -> ValueType;

    /// Moves to the first sample at or after `t`; stays put if the current one already is.
    fn seek(&mut self, t: Timestamp) -> ValueType {
        let mut vt = self.value_type();
        if vt == ValueType::None {
            vt = self.next();
        }
        while vt != ValueType::None && self.at_t() < t {
            vt = self.next();
        }
        vt
    }

    /// The current float sample; histogram iterators return NaN as the value.
    fn at(&self) -> (Timestamp, f64);

    /// The current integer histogram, if the chunk holds integer histograms.
    fn at_histogram(&self) -> Option<(Timestamp, Histogram)>;

    /// The current histogram with float counts (integer histograms are converted).
    fn at_float_histogram(&self) -> Option<(Timestamp, FloatHistogram)>;

    fn at_t(&self) -> Timestamp;

    /// The current start timestamp, 0 when unknown or not stored by the encoding.
    fn at_st(&self) -> Timestamp;

    /// What went wrong, once `next` returned `None` early.
    fn err(&self) -> Option<&ChunkError>;
}

/// An iterator over chunk bytes of any encoding.
#[derive(Debug, Clone)]
pub enum ChunkIterator<'a> {
    Xor(XorIterator<'a>),
    Xor2(Xor2Iterator<'a>),
    Histogram(HistogramIterator<'a>),
    FloatHistogram(FloatHistogramIterator<'a>),
}

impl<'a> ChunkIterator<'a> {
    pub fn new(encoding: Encoding, data: &'a [u8]) -> Self {
        match encoding {
            Encoding::Xor => ChunkIterator::Xor(XorIterator::new(data)),
            Encoding::Xor2 => ChunkIterator::Xor2(Xor2Iterator::new(data)),
            Encoding::Histogram | Encoding::HistogramSt => {
                ChunkIterator::Histogram(HistogramIterator::new(encoding, data))
            }
            Encoding::FloatHistogram | Encoding::FloatHistogramSt => {
                ChunkIterator::FloatHistogram(FloatHistogramIterator::new(encoding, data))
            }
        }
    }

    /// The current histogram with float counts into `out`, reusing its vectors.
    pub fn at_float_histogram_into(&self, out: &mut FloatHistogram) -> Option<Timestamp> {
        match self {
            ChunkIterator::Histogram(i) => i.at_float_histogram_into(out),
            ChunkIterator::FloatHistogram(i) => i.at_float_histogram_into(out),
            _ => None,
        }
    }

    /// The current integer histogram into `out`, reusing its vectors.
    pub fn at_histogram_into(&self, out: &mut Histogram) -> Option<Timestamp> {
        match self {
            ChunkIterator::Histogram(i) => i.at_histogram_into(out),
            _ => None,
        }
    }
}

macro_rules! each_iterator {
    ($self:expr, $i:ident => $e:expr) => {
        match $self {
            ChunkIterator::Xor($i) => $e,
            ChunkIterator::Xor2($i) => $e,
            ChunkIterator::Histogram($i) => $e,
            ChunkIterator::FloatHistogram($i) => $e,
        }
    };
}

impl ChunkSampleIterator for ChunkIterator<'_> {
    fn next(&mut self) -> ValueType {
        each_iterator!(self, i => i.next())
    }
    fn value_type(&self) -> ValueType {
        each_iterator!(self, i => i.value_type())
    }
    fn at(&self) -> (Timestamp, f64) {
        each_iterator!(self, i => i.at())
    }
    fn at_histogram(&self) -> Option<(Timestamp, Histogram)> {
        each_iterator!(self, i => i.at_histogram())
    }
    fn at_float_histogram(&self) -> Option<(Timestamp, FloatHistogram)> {
        each_iterator!(self, i => i.at_float_histogram())
    }
    fn at_t(&self) -> Timestamp {
        each_iterator!(self, i => i.at_t())
    }
    fn at_st(&self) -> Timestamp {
        each_iterator!(self, i => i.at_st())
    }
    fn err(&self) -> Option<&ChunkError> {
        each_iterator!(self, i => i.err())
    }
}

/// The number of samples recorded in chunk bytes (0 if the header is incomplete).
pub fn num_samples(encoding: Encoding, data: &[u8]) -> usize {
    if data.len() < encoding.header_size() {
        return 0;
    }
    let n = u16::from_be_bytes([data[0], data[1]]);
    let n = match encoding {
        Encoding::HistogramSt | Encoding::FloatHistogramSt => n & 0x3FFF,
        _ => n,
    };
    usize::from(n)
}

/// An owned, complete chunk: its encoding and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    encoding: Encoding,
    data: Vec<u8>,
}

impl Chunk {
    /// Wraps chunk bytes after checking that the header is complete.
    pub fn new(encoding: Encoding, data: Vec<u8>) -> Result<Chunk, ChunkError> {
        if data.len() < encoding.header_size() {
            return Err(ChunkError::TooShort {
                encoding,
                len: data.len(),
                header: encoding.header_size(),
            });
        }
        Ok(Chunk { encoding, data })
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    pub fn num_samples(&self) -> usize {
        num_samples(self.encoding, &self.data)
    }

    pub fn iter(&self) -> ChunkIterator<'_> {
        ChunkIterator::new(self.encoding, &self.data)
    }

    /// An appender continuing this chunk.
    pub fn into_appender(self) -> Result<ChunkAppender, ChunkError> {
        ChunkAppender::from_bytes(self.encoding, self.data)
    }
}

/// An appender of any encoding; owns the chunk bytes it grows.
#[derive(Debug, Clone)]
pub enum ChunkAppender {
    Xor(XorAppender),
    Xor2(Xor2Appender),
    Histogram(HistogramAppender),
    FloatHistogram(FloatHistogramAppender),
}

impl ChunkAppender {
    /// An empty chunk of `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Xor => ChunkAppender::Xor(XorAppender::new()),
            Encoding::Xor2 => ChunkAppender::Xor2(Xor2Appender::new()),
            Encoding::Histogram => ChunkAppender::Histogram(HistogramAppender::new(false)),
            Encoding::HistogramSt => ChunkAppender::Histogram(HistogramAppender::new(true)),
            Encoding::FloatHistogram => {
                ChunkAppender::FloatHistogram(FloatHistogramAppender::new(false))
            }
            Encoding::FloatHistogramSt => {
                ChunkAppender::FloatHistogram(FloatHistogramAppender::new(true))
            }
        }
    }

    /// Continues an existing chunk (state rebuilt by decoding it, as Prometheus does).
    pub fn from_bytes(encoding: Encoding, data: Vec<u8>) -> Result<Self, ChunkError> {
        Ok(match encoding {
            Encoding::Xor => ChunkAppender::Xor(XorAppender::from_bytes(data)?),
            Encoding::Xor2 => ChunkAppender::Xor2(Xor2Appender::from_bytes(data)?),
            Encoding::Histogram | Encoding::HistogramSt => {
                ChunkAppender::Histogram(HistogramAppender::from_bytes(encoding, data)?)
            }
            Encoding::FloatHistogram | Encoding::FloatHistogramSt => {
                ChunkAppender::FloatHistogram(FloatHistogramAppender::from_bytes(encoding, data)?)
            }
        })
    }

    pub fn encoding(&self) -> Encoding {
        match self {
            ChunkAppender::Xor(_) => Encoding::Xor,
            ChunkAppender::Xor2(_) => Encoding::Xor2,
            ChunkAppender::Histogram(a) => a.encoding(),
            ChunkAppender::FloatHistogram(a) => a.encoding(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            ChunkAppender::Xor(a) => a.bytes(),
            ChunkAppender::Xor2(a) => a.bytes(),
            ChunkAppender::Histogram(a) => a.bytes(),
            ChunkAppender::FloatHistogram(a) => a.bytes(),
        }
    }

    pub fn num_samples(&self) -> usize {
        num_samples(self.encoding(), self.bytes())
    }

    pub fn iter(&self) -> ChunkIterator<'_> {
        ChunkIterator::new(self.encoding(), self.bytes())
    }

    /// The finished chunk.
    pub fn into_chunk(self) -> Chunk {
        let encoding = self.encoding();
        let data = match self {
            ChunkAppender::Xor(a) => a.into_bytes(),
            ChunkAppender::Xor2(a) => a.into_bytes(),
            ChunkAppender::Histogram(a) => a.into_bytes(),
            ChunkAppender::FloatHistogram(a) => a.into_bytes(),
        };
        Chunk { encoding, data }
    }

    /// Appends a float sample (`st` is kept only by encodings that store start timestamps).
    pub fn append(&mut self, st: Timestamp, t: Timestamp, v: f64) -> Result<(), AppendError> {
        match self {
            ChunkAppender::Xor(a) => a.append(t, v),
            ChunkAppender::Xor2(a) => a.append(st, t, v),
            _ => Err(AppendError::WrongValueType {
                encoding: self.encoding(),
                value: ValueType::Float,
            }),
        }
    }

    /// Appends an integer histogram; see [`HistogramAppender::append_histogram`].
    pub fn append_histogram(
        &mut self,
        prev: Option<&ChunkAppender>,
        st: Timestamp,
        t: Timestamp,
        h: &Histogram,
        append_only: bool,
    ) -> Result<AppendOutcome<ChunkAppender>, AppendError> {
        let encoding = self.encoding();
        let ChunkAppender::Histogram(a) = self else {
            return Err(AppendError::WrongValueType {
                encoding,
                value: ValueType::Histogram,
            });
        };
        let prev = match prev {
            Some(ChunkAppender::Histogram(p)) => Some(p),
            _ => None,
        };
        Ok(a.append_histogram(prev, st, t, h, append_only)?
            .map(ChunkAppender::Histogram))
    }

    /// Appends a float histogram; see [`FloatHistogramAppender::append_float_histogram`].
    pub fn append_float_histogram(
        &mut self,
        prev: Option<&ChunkAppender>,
        st: Timestamp,
        t: Timestamp,
        h: &FloatHistogram,
        append_only: bool,
    ) -> Result<AppendOutcome<ChunkAppender>, AppendError> {
        let encoding = self.encoding();
        let ChunkAppender::FloatHistogram(a) = self else {
            return Err(AppendError::WrongValueType {
                encoding,
                value: ValueType::FloatHistogram,
            });
        };
        let prev = match prev {
            Some(ChunkAppender::FloatHistogram(p)) => Some(p),
            _ => None,
        };
        Ok(a.append_float_histogram(prev, st, t, h, append_only)?
            .map(ChunkAppender::FloatHistogram))
    }
}

/// A writer continuing `bytes` after decoding left `remaining` unread bits. Chunks
/// written by Prometheus before 3.0 may end in an extra zero byte; it is dropped so the
/// stream continues where the data ends.
fn reopen_writer(
    mut bytes: Vec<u8>,
    mut remaining: usize,
    encoding: Encoding,
) -> Result<BitWriter, ChunkError> {
    while remaining >= 8 && bytes.len() > encoding.header_size() && bytes.last() == Some(&0) {
        bytes.pop();
        remaining -= 8;
    }
    if remaining >= 8 {
        return Err(ChunkError::TrailingData {
            encoding,
            bits: remaining,
        });
    }
    Ok(BitWriter::from_bytes(bytes, remaining as u8))
}
