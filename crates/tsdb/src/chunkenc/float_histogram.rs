//! The float native histogram chunk (`EncFloatHistogram`) and its start-timestamp variant
//! (`EncFloatHistogramST`, experimental in Prometheus 3.14).
//!
//! Same layout and header as the integer histogram chunk; per sample the timestamp is a
//! delta-of-delta `varbit_int` and count, zero count, sum and every (absolute) bucket
//! are XOR-coded against their previous value, each with its own window.

use hearth_model::histogram::{CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX};
use hearth_model::sample::is_stale_nan;
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span, Timestamp};

use super::bstream::{BitReader, BitWriter};
use super::histogram::{
    Appendability, GaugeAppendability, HISTOGRAM_HEADER_SIZE, HistogramChunkAppender,
    HistogramHeader, append_sample, bucket_len, reduce_float_histogram,
};
use super::histogram_meta::{
    ChunkLayout, CounterResetHeader, Insert, count_buckets, counter_reset_hint,
    custom_bounds_match, expand_spans_and_buckets, insert_buckets, is_known_schema, read_layout,
    write_layout,
};
use super::start_timestamp::{StDecoder, StEncoder};
use super::varbit::{NO_WINDOW, NumberError, put_varbit_int, read_varbit_int, xor_read, xor_write};
use super::{
    AppendError, AppendOutcome, ChunkError, ChunkSampleIterator, Encoding, ValueType, reopen_writer,
};

/// A float with its own XOR window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct XorValue {
    value: f64,
    leading: u8,
    trailing: u8,
}

impl XorValue {
    fn fresh(value: f64) -> Self {
        XorValue {
            value,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    fn write(&mut self, w: &mut BitWriter, v: f64) {
        xor_write(w, v, self.value, &mut self.leading, &mut self.trailing);
        self.value = v;
    }

    fn read(&mut self, r: &mut BitReader<'_>) -> Result<(), NumberError> {
        xor_read(r, &mut self.value, &mut self.leading, &mut self.trailing)
    }
}

impl Default for XorValue {
    fn default() -> Self {
        XorValue {
            value: 0.0,
            leading: 0,
            trailing: 0,
        }
    }
}

/// Appends float histograms to a float histogram chunk it owns.
#[derive(Debug, Clone)]
pub struct FloatHistogramAppender {
    w: BitWriter,
    header: HistogramHeader,

    schema: i32,
    zero_threshold: f64,
    p_spans: Vec<Span>,
    n_spans: Vec<Span>,
    custom_values: Vec<f64>,

    t: Timestamp,
    t_delta: i64,
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<XorValue>,
    n_buckets: Vec<XorValue>,

    st: StEncoder,
}

impl FloatHistogramAppender {
    /// An empty chunk: `EncFloatHistogramST` with `start_timestamps`, else
    /// `EncFloatHistogram`.
    pub fn new(start_timestamps: bool) -> Self {
        let header = if start_timestamps {
            HistogramHeader::StartTimestamps
        } else {
            HistogramHeader::Plain
        };
        Self::with_header(header)
    }

    fn with_header(header: HistogramHeader) -> Self {
        FloatHistogramAppender {
            w: BitWriter::with_header(HISTOGRAM_HEADER_SIZE),
            header,
            schema: 0,
            zero_threshold: 0.0,
            p_spans: Vec::new(),
            n_spans: Vec::new(),
            custom_values: Vec::new(),
            t: Timestamp::MIN,
            t_delta: 0,
            sum: XorValue::fresh(0.0),
            cnt: XorValue::fresh(0.0),
            z_cnt: XorValue::fresh(0.0),
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            st: StEncoder::default(),
        }
    }

    /// Continues appending to an existing chunk of `encoding` (`FloatHistogram` or
    /// `FloatHistogramSt`); the state is rebuilt by decoding it, as Prometheus does.
    pub fn from_bytes(encoding: Encoding, bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let header = if encoding == Encoding::FloatHistogramSt {
            HistogramHeader::StartTimestamps
        } else {
            HistogramHeader::Plain
        };
        let mut it = FloatHistogramIterator::with_header(&bytes, header);
        while it.next() != ValueType::None {}
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        if it.read == 0 {
            let mut a = Self::with_header(header);
            if bytes.len() >= HISTOGRAM_HEADER_SIZE {
                a.header
                    .set_counter_reset(a.w.bytes_mut(), header.counter_reset(&bytes));
            }
            return Ok(a);
        }
        let remaining = it.r.remaining();
        let state = FloatHistogramAppender {
            w: BitWriter::default(),
            header,
            schema: it.layout.schema,
            zero_threshold: it.layout.zero_threshold,
            p_spans: std::mem::take(&mut it.layout.positive_spans),
            n_spans: std::mem::take(&mut it.layout.negative_spans),
            custom_values: std::mem::take(&mut it.layout.custom_values),
            t: it.t,
            t_delta: it.t_delta,
            sum: it.sum,
            cnt: it.cnt,
            z_cnt: it.z_cnt,
            p_buckets: std::mem::take(&mut it.p_buckets),
            n_buckets: std::mem::take(&mut it.n_buckets),
            st: it.st.encoder(),
        };
        let w = reopen_writer(bytes, remaining, header.encoding(true))?;
        Ok(FloatHistogramAppender { w, ..state })
    }

    pub fn encoding(&self) -> Encoding {
        self.header.encoding(true)
    }

    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.header.num_samples(self.w.bytes()))
    }

    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.header.counter_reset(self.w.bytes())
    }

    pub fn set_counter_reset_header(&mut self, h: CounterResetHeader) {
        self.header.set_counter_reset(self.w.bytes_mut(), h);
    }

    pub fn iter(&self) -> FloatHistogramIterator<'_> {
        FloatHistogramIterator::with_header(self.w.bytes(), self.header)
    }

    /// Appends `h` at `t`; same contract as `HistogramAppender::append_histogram`.
    pub fn append_float_histogram(
        &mut self,
        prev: Option<&FloatHistogramAppender>,
        st: Timestamp,
        t: Timestamp,
        h: &FloatHistogram,
        append_only: bool,
    ) -> Result<AppendOutcome<FloatHistogramAppender>, AppendError> {
        append_sample(self, prev, st, t, h, append_only)
    }
}

impl HistogramChunkAppender for FloatHistogramAppender {
    type Sample = FloatHistogram;
    const WHAT: &'static str = "float histogram";
    const GAUGE_WHAT: &'static str = "float gauge histogram";
    const FLOAT: bool = true;

    fn header(&self) -> HistogramHeader {
        self.header
    }

    fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self.w.bytes_mut()
    }

    fn empty(header: HistogramHeader) -> Self {
        Self::with_header(header)
    }

    fn hint_of(h: &FloatHistogram) -> CounterResetHint {
        h.counter_reset_hint
    }

    fn sum_of(h: &FloatHistogram) -> f64 {
        h.sum
    }

    fn layout_of(h: &FloatHistogram) -> (&[Span], usize, &[Span], usize) {
        (
            &h.positive_spans,
            h.positive_buckets.len(),
            &h.negative_spans,
            h.negative_buckets.len(),
        )
    }

    fn spans_mut(h: &mut FloatHistogram) -> (&mut Vec<Span>, &mut Vec<Span>) {
        (&mut h.positive_spans, &mut h.negative_spans)
    }

    fn chunk_spans(&self) -> (&[Span], &[Span]) {
        (&self.p_spans, &self.n_spans)
    }

    /// Prometheus records only reset / no reset here, even after a schema change.
    fn header_from_previous(verdict: CounterResetHeader) -> CounterResetHeader {
        if verdict == CounterResetHeader::CounterReset {
            CounterResetHeader::CounterReset
        } else {
            CounterResetHeader::NotCounterReset
        }
    }

    fn widen(h: &mut FloatHistogram, positive: &[Insert], negative: &[Insert]) {
        if !positive.is_empty() {
            let n = count_buckets(&h.positive_spans) as usize;
            h.positive_buckets = insert_buckets(&h.positive_buckets, positive, false, n);
        }
        if !negative.is_empty() {
            let n = count_buckets(&h.negative_spans) as usize;
            h.negative_buckets = insert_buckets(&h.negative_buckets, negative, false, n);
        }
    }

    fn appendable(&self, h: &FloatHistogram) -> Appendability {
        use CounterResetHeader as C;
        if self.num_samples() > 0 && self.counter_reset_header() == C::Gauge {
            return Appendability::not_ok(C::Unknown);
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Appendability::not_ok(C::CounterReset);
        }
        if is_stale_nan(h.sum) {
            return Appendability::fits(Default::default(), Default::default());
        }
        if is_stale_nan(self.sum.value) {
            return Appendability::not_ok(C::Unknown);
        }
        if h.count < self.cnt.value {
            return Appendability::not_ok(C::CounterReset);
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            return Appendability::not_ok(C::Unknown);
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            return Appendability::not_ok(C::CounterReset);
        }
        if h.zero_count < self.z_cnt.value {
            return Appendability::not_ok(C::CounterReset);
        }
        let a_pos: Vec<f64> = self.p_buckets.iter().map(|b| b.value).collect();
        let Some(positive) = expand_spans_and_buckets(
            &self.p_spans,
            &h.positive_spans,
            &a_pos,
            &h.positive_buckets,
        ) else {
            return Appendability::not_ok(C::CounterReset);
        };
        let a_neg: Vec<f64> = self.n_buckets.iter().map(|b| b.value).collect();
        let Some(negative) = expand_spans_and_buckets(
            &self.n_spans,
            &h.negative_spans,
            &a_neg,
            &h.negative_buckets,
        ) else {
            return Appendability::not_ok(C::CounterReset);
        };
        Appendability::fits(positive, negative)
    }

    fn appendable_gauge(&self, h: &FloatHistogram) -> Option<GaugeAppendability> {
        if self.num_samples() > 0 && self.counter_reset_header() != CounterResetHeader::Gauge {
            return None;
        }
        if is_stale_nan(h.sum) {
            return Some(GaugeAppendability::default());
        }
        if is_stale_nan(self.sum.value) {
            return None;
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            return None;
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            return None;
        }
        Some(GaugeAppendability::between(
            (&self.p_spans, &self.n_spans),
            (&h.positive_spans, &h.negative_spans),
        ))
    }

    fn append_raw(&mut self, st: Timestamp, t: Timestamp, h: &FloatHistogram) {
        let stale_only;
        let h = if is_stale_nan(h.sum) {
            stale_only = FloatHistogram {
                sum: h.sum,
                ..Default::default()
            };
            &stale_only
        } else {
            h
        };
        let num = self.header.num_samples(self.w.bytes());
        let prev_t = self.t;
        let mut t_delta = 0i64;
        if num == 0 {
            write_layout(
                &mut self.w,
                h.schema,
                h.zero_threshold,
                &h.positive_spans,
                &h.negative_spans,
                &h.custom_values,
            );
            self.schema = h.schema;
            self.zero_threshold = h.zero_threshold;
            self.p_spans = h.positive_spans.clone();
            self.n_spans = h.negative_spans.clone();
            self.custom_values = h.custom_values.clone();
            self.p_buckets = h
                .positive_buckets
                .iter()
                .map(|v| XorValue::fresh(*v))
                .collect();
            self.n_buckets = h
                .negative_buckets
                .iter()
                .map(|v| XorValue::fresh(*v))
                .collect();

            put_varbit_int(&mut self.w, t);
            self.w.write_bits(h.count.to_bits(), 64);
            self.w.write_bits(h.zero_count.to_bits(), 64);
            self.w.write_bits(h.sum.to_bits(), 64);
            self.cnt.value = h.count;
            self.z_cnt.value = h.zero_count;
            self.sum.value = h.sum;
            for b in &h.positive_buckets {
                self.w.write_bits(b.to_bits(), 64);
            }
            for b in &h.negative_buckets {
                self.w.write_bits(b.to_bits(), 64);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            put_varbit_int(&mut self.w, t_delta.wrapping_sub(self.t_delta));
            self.cnt.write(&mut self.w, h.count);
            self.z_cnt.write(&mut self.w, h.zero_count);
            self.sum.write(&mut self.w, h.sum);
            for (x, v) in self.p_buckets.iter_mut().zip(&h.positive_buckets) {
                x.write(&mut self.w, *v);
            }
            for (x, v) in self.n_buckets.iter_mut().zip(&h.negative_buckets) {
                x.write(&mut self.w, *v);
            }
        }
        let num = num + 1;
        self.header.set_num_samples(self.w.bytes_mut(), num);
        self.t = t;
        self.t_delta = t_delta;
        if self.header.has_st() {
            self.st.encode(&mut self.w, 2, num, t, prev_t, st);
        }
    }

    fn recode(
        &self,
        positive: &[Insert],
        negative: &[Insert],
        positive_spans: &[Span],
        negative_spans: &[Span],
    ) -> Result<Self, AppendError> {
        let np = count_buckets(positive_spans) as usize;
        let nn = count_buckets(negative_spans) as usize;
        let mut out = Self::with_header(self.header);
        let mut it = self.iter();
        while it.next() != ValueType::None {
            let Some((t, mut old)) = it.at_float_histogram() else {
                continue;
            };
            let st = it.at_st();
            old.positive_spans = positive_spans.to_vec();
            old.negative_spans = negative_spans.to_vec();
            if !positive.is_empty() {
                old.positive_buckets = insert_buckets(&old.positive_buckets, positive, false, np);
            }
            if !negative.is_empty() {
                old.negative_buckets = insert_buckets(&old.negative_buckets, negative, false, nn);
            }
            out.append_raw(st, t, &old);
        }
        if let Some(e) = it.err() {
            return Err(AppendError::Corrupt(e.clone()));
        }
        out.set_counter_reset_header(self.counter_reset_header());
        Ok(out)
    }
}

/// Iterates a float histogram chunk (either flavour).
#[derive(Debug, Clone)]
pub struct FloatHistogramIterator<'a> {
    r: BitReader<'a>,
    header: HistogramHeader,
    total: u16,
    read: u16,
    counter_reset: CounterResetHeader,
    layout: ChunkLayout,

    t: Timestamp,
    t_delta: i64,
    sum: XorValue,
    cnt: XorValue,
    z_cnt: XorValue,
    p_buckets: Vec<XorValue>,
    n_buckets: Vec<XorValue>,

    st: StDecoder,
    current: ValueType,
    err: Option<ChunkError>,
}

impl<'a> FloatHistogramIterator<'a> {
    /// Iterates `data` of `FloatHistogram` or `FloatHistogramSt` encoding.
    pub fn new(encoding: Encoding, data: &'a [u8]) -> Self {
        let header = if encoding == Encoding::FloatHistogramSt {
            HistogramHeader::StartTimestamps
        } else {
            HistogramHeader::Plain
        };
        Self::with_header(data, header)
    }

    pub(crate) fn with_header(data: &'a [u8], header: HistogramHeader) -> Self {
        let mut it = FloatHistogramIterator {
            r: BitReader::new(&data[..0]),
            header,
            total: 0,
            read: 0,
            counter_reset: CounterResetHeader::Unknown,
            layout: ChunkLayout::default(),
            t: Timestamp::MIN,
            t_delta: 0,
            sum: XorValue::default(),
            cnt: XorValue::default(),
            z_cnt: XorValue::default(),
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            st: StDecoder::default(),
            current: ValueType::None,
            err: None,
        };
        if data.len() < HISTOGRAM_HEADER_SIZE {
            it.err = Some(ChunkError::TooShort {
                encoding: header.encoding(true),
                len: data.len(),
                header: HISTOGRAM_HEADER_SIZE,
            });
            return it;
        }
        it.r = BitReader::new(&data[HISTOGRAM_HEADER_SIZE..]);
        it.total = header.num_samples(data);
        it.counter_reset = header.counter_reset(data);
        if header.has_st() {
            it.st = StDecoder::from_header(data[2]);
        }
        it
    }

    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.counter_reset
    }

    fn read_next(&mut self) -> Result<(), NumberError> {
        let prev_t = self.t;
        if self.read == 0 {
            self.layout = read_layout(&mut self.r)?;
            if !is_known_schema(self.layout.schema) {
                return Err(NumberError::UnknownSchema(self.layout.schema));
            }
            let np = bucket_len(&self.layout.positive_spans, &self.r)?;
            let nn = bucket_len(&self.layout.negative_spans, &self.r)?;
            self.t = read_varbit_int(&mut self.r)?;
            self.cnt.value = f64::from_bits(self.r.read_bits(64)?);
            self.z_cnt.value = f64::from_bits(self.r.read_bits(64)?);
            self.sum.value = f64::from_bits(self.r.read_bits(64)?);
            self.p_buckets = Vec::with_capacity(np);
            for _ in 0..np {
                let v = f64::from_bits(self.r.read_bits(64)?);
                self.p_buckets.push(XorValue {
                    value: v,
                    ..Default::default()
                });
            }
            self.n_buckets = Vec::with_capacity(nn);
            for _ in 0..nn {
                let v = f64::from_bits(self.r.read_bits(64)?);
                self.n_buckets.push(XorValue {
                    value: v,
                    ..Default::default()
                });
            }
        } else {
            let t_dod = read_varbit_int(&mut self.r)?;
            self.t_delta = self.t_delta.wrapping_add(t_dod);
            self.t = self.t.wrapping_add(self.t_delta);
            self.cnt.read(&mut self.r)?;
            self.z_cnt.read(&mut self.r)?;
            self.sum.read(&mut self.r)?;
            if !is_stale_nan(self.sum.value) {
                for b in self.p_buckets.iter_mut() {
                    b.read(&mut self.r)?;
                }
                for b in self.n_buckets.iter_mut() {
                    b.read(&mut self.r)?;
                }
            }
        }
        if self.header.has_st() {
            self.st.decode(&mut self.r, self.read + 1, self.t, prev_t)?;
        }
        Ok(())
    }

    /// The current histogram into `out`, reusing its vectors; returns the timestamp, or
    /// `None` when the iterator is not on a sample.
    pub fn at_float_histogram_into(&self, out: &mut FloatHistogram) -> Option<Timestamp> {
        if self.current == ValueType::None {
            return None;
        }
        if is_stale_nan(self.sum.value) {
            *out = FloatHistogram {
                sum: self.sum.value,
                ..Default::default()
            };
            return Some(self.t);
        }
        out.counter_reset_hint = counter_reset_hint(self.counter_reset, self.read);
        out.schema = self.layout.schema;
        out.zero_threshold = self.layout.zero_threshold;
        out.zero_count = self.z_cnt.value;
        out.count = self.cnt.value;
        out.sum = self.sum.value;
        out.positive_spans.clone_from(&self.layout.positive_spans);
        out.negative_spans.clone_from(&self.layout.negative_spans);
        out.positive_buckets.clear();
        out.positive_buckets
            .extend(self.p_buckets.iter().map(|b| b.value));
        out.negative_buckets.clear();
        out.negative_buckets
            .extend(self.n_buckets.iter().map(|b| b.value));
        out.custom_values.clone_from(&self.layout.custom_values);
        if out.schema > EXPONENTIAL_SCHEMA_MAX {
            reduce_float_histogram(out);
        }
        Some(self.t)
    }
}

impl ChunkSampleIterator for FloatHistogramIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() || self.read >= self.total {
            self.current = ValueType::None;
            return ValueType::None;
        }
        if let Err(e) = self.read_next() {
            self.err = Some(ChunkError::from_number(
                self.header.encoding(true),
                usize::from(self.read),
                &self.r,
                e,
            ));
            self.current = ValueType::None;
            return ValueType::None;
        }
        self.read += 1;
        self.current = ValueType::FloatHistogram;
        ValueType::FloatHistogram
    }

    fn value_type(&self) -> ValueType {
        self.current
    }

    fn at(&self) -> (Timestamp, f64) {
        (self.t, f64::NAN)
    }

    fn at_histogram(&self) -> Option<(Timestamp, Histogram)> {
        None
    }

    fn at_float_histogram(&self) -> Option<(Timestamp, FloatHistogram)> {
        let mut h = FloatHistogram::default();
        self.at_float_histogram_into(&mut h).map(|t| (t, h))
    }

    fn at_t(&self) -> Timestamp {
        self.t
    }

    fn at_st(&self) -> Timestamp {
        self.st.st
    }

    fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}
