//! The integer native histogram chunk (`EncHistogram`) and its start-timestamp variant
//! (`EncHistogramST`, experimental in Prometheus 3.14).
//!
//! Layout once per chunk, then per sample: timestamp, count and zero count as
//! delta-of-delta `varbit_int`s (raw for the first sample), the sum XOR-coded, and each
//! bucket (itself a delta to the previous bucket) as a delta-of-delta. The appender
//! follows Prometheus' appendability rules so chunk boundaries and recodings fall where
//! Prometheus puts them.

use std::borrow::Cow;

use hearth_model::histogram::EXPONENTIAL_SCHEMA_MAX;
use hearth_model::sample::is_stale_nan;
use hearth_model::{CounterResetHint, FloatHistogram, Histogram, Span, Timestamp};

use super::bstream::{BitReader, BitWriter};
use super::histogram_meta::{
    ChunkLayout, CounterResetHeader, Insert, absolute_counts, adjust_for_inserts, count_buckets,
    counter_reset_hint, custom_bounds_match, expand_spans_and_buckets, expand_spans_both_ways,
    insert_buckets, is_known_schema, read_layout, reduce_resolution, write_layout,
};
use super::start_timestamp::{StDecoder, StEncoder};
use super::varbit::{
    NO_WINDOW, NumberError, put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint,
    xor_read, xor_write,
};
use super::{
    AppendError, AppendOutcome, ChunkError, ChunkSampleIterator, Encoding, ValueType, reopen_writer,
};

/// Bytes of the header of both histogram chunk flavours.
pub const HISTOGRAM_HEADER_SIZE: usize = 3;

/// Where a histogram chunk keeps its sample count and counter-reset bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HistogramHeader {
    /// u16 count in bytes 0-1, flags in byte 2.
    Plain,
    /// Counter-reset bits on top of a 14-bit count in bytes 0-1, ST header in byte 2.
    StartTimestamps,
}

const ST_COUNT_MASK: u16 = 0x3FFF;

impl HistogramHeader {
    pub(crate) fn num_samples(self, b: &[u8]) -> u16 {
        let n = u16::from_be_bytes([b[0], b[1]]);
        match self {
            HistogramHeader::Plain => n,
            HistogramHeader::StartTimestamps => n & ST_COUNT_MASK,
        }
    }

    pub(crate) fn set_num_samples(self, b: &mut [u8], n: u16) {
        match self {
            HistogramHeader::Plain => b[..2].copy_from_slice(&n.to_be_bytes()),
            HistogramHeader::StartTimestamps => {
                let cr = b[0] & 0b1100_0000;
                let [hi, lo] = (n & ST_COUNT_MASK).to_be_bytes();
                b[0] = cr | hi;
                b[1] = lo;
            }
        }
    }

    fn flags_at(self) -> usize {
        match self {
            HistogramHeader::Plain => 2,
            HistogramHeader::StartTimestamps => 0,
        }
    }

    pub(crate) fn counter_reset(self, b: &[u8]) -> CounterResetHeader {
        CounterResetHeader::from_bits(b[self.flags_at()])
    }

    pub(crate) fn set_counter_reset(self, b: &mut [u8], h: CounterResetHeader) {
        let at = self.flags_at();
        b[at] = (b[at] & 0b0011_1111) | h.bits();
    }

    pub(crate) fn max_samples(self) -> u16 {
        match self {
            HistogramHeader::Plain => u16::MAX,
            HistogramHeader::StartTimestamps => ST_COUNT_MASK,
        }
    }

    pub(crate) fn has_st(self) -> bool {
        self == HistogramHeader::StartTimestamps
    }
}

/// Checks that a histogram's bucket lists match its spans, so appending cannot go wrong.
pub(crate) fn check_bucket_counts(
    positive: (&[Span], usize),
    negative: (&[Span], usize),
) -> Result<(), AppendError> {
    for (side, (spans, buckets)) in [("positive", positive), ("negative", negative)] {
        let want = count_buckets(spans);
        if want != buckets as u64 {
            return Err(AppendError::InvalidHistogram {
                side,
                buckets,
                spans: want,
            });
        }
    }
    Ok(())
}

/// What `appendable` found out about appending a counter histogram: the inserts that
/// widen the chunk (forward) or the sample (backward), whether it fits, and the
/// counter-reset verdict (`NotCounterReset` whenever it fits).
pub(crate) struct Appendability {
    pub(crate) positive: Vec<Insert>,
    pub(crate) negative: Vec<Insert>,
    pub(crate) backward_positive: Vec<Insert>,
    pub(crate) backward_negative: Vec<Insert>,
    pub(crate) ok: bool,
    pub(crate) counter_reset: CounterResetHeader,
}

impl Appendability {
    pub(crate) fn not_ok(counter_reset: CounterResetHeader) -> Self {
        Appendability {
            positive: Vec::new(),
            negative: Vec::new(),
            backward_positive: Vec::new(),
            backward_negative: Vec::new(),
            ok: false,
            counter_reset,
        }
    }

    pub(crate) fn fits(
        (positive, backward_positive): (Vec<Insert>, Vec<Insert>),
        (negative, backward_negative): (Vec<Insert>, Vec<Insert>),
    ) -> Self {
        Appendability {
            positive,
            negative,
            backward_positive,
            backward_negative,
            ok: true,
            counter_reset: CounterResetHeader::NotCounterReset,
        }
    }
}

/// What `appendable_gauge` found out: inserts both ways and the merged spans.
#[derive(Default)]
pub(crate) struct GaugeAppendability {
    pub(crate) positive: Vec<Insert>,
    pub(crate) negative: Vec<Insert>,
    pub(crate) backward_positive: Vec<Insert>,
    pub(crate) backward_negative: Vec<Insert>,
    pub(crate) positive_spans: Vec<Span>,
    pub(crate) negative_spans: Vec<Span>,
}

impl GaugeAppendability {
    pub(crate) fn between(chunk: (&[Span], &[Span]), sample: (&[Span], &[Span])) -> Self {
        let (positive, backward_positive, positive_spans) =
            expand_spans_both_ways(chunk.0, sample.0);
        let (negative, backward_negative, negative_spans) =
            expand_spans_both_ways(chunk.1, sample.1);
        GaugeAppendability {
            positive,
            negative,
            backward_positive,
            backward_negative,
            positive_spans,
            negative_spans,
        }
    }
}

/// What the append flow shared by integer and float histogram chunks needs.
pub(crate) trait HistogramChunkAppender: Sized {
    type Sample: Clone;
    /// How Prometheus names the kind in append-only errors.
    const WHAT: &'static str;
    const GAUGE_WHAT: &'static str;
    /// Float counts (`floathistogram` encodings)?
    const FLOAT: bool;

    fn header(&self) -> HistogramHeader;
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    fn empty(header: HistogramHeader) -> Self;
    fn hint_of(h: &Self::Sample) -> CounterResetHint;
    fn sum_of(h: &Self::Sample) -> f64;
    /// (positive spans, positive bucket count, negative spans, negative bucket count).
    fn layout_of(h: &Self::Sample) -> (&[Span], usize, &[Span], usize);
    fn spans_mut(h: &mut Self::Sample) -> (&mut Vec<Span>, &mut Vec<Span>);
    fn chunk_spans(&self) -> (&[Span], &[Span]);
    /// The header of a chunk whose first sample got `verdict` from the previous chunk.
    fn header_from_previous(verdict: CounterResetHeader) -> CounterResetHeader;
    fn appendable(&self, h: &Self::Sample) -> Appendability;
    fn appendable_gauge(&self, h: &Self::Sample) -> Option<GaugeAppendability>;
    fn widen(h: &mut Self::Sample, positive: &[Insert], negative: &[Insert]);
    fn append_raw(&mut self, st: Timestamp, t: Timestamp, h: &Self::Sample);
    fn recode(
        &self,
        positive: &[Insert],
        negative: &[Insert],
        positive_spans: &[Span],
        negative_spans: &[Span],
    ) -> Result<Self, AppendError>;

    fn set_header(&mut self, h: CounterResetHeader) {
        let header = self.header();
        header.set_counter_reset(self.bytes_mut(), h);
    }
}

/// Prometheus' `AppendHistogram`/`AppendFloatHistogram` decision flow: append, recode
/// with a wider layout, or start a new chunk (or refuse, with `append_only`).
pub(crate) fn append_sample<A: HistogramChunkAppender>(
    a: &mut A,
    prev: Option<&A>,
    st: Timestamp,
    t: Timestamp,
    h: &A::Sample,
    append_only: bool,
) -> Result<AppendOutcome<A>, AppendError> {
    let header = a.header();
    let num = header.num_samples(a.bytes());
    if num >= header.max_samples() {
        return Err(AppendError::ChunkFull {
            encoding: header.encoding(A::FLOAT),
            max: usize::from(header.max_samples()),
        });
    }
    if !is_stale_nan(A::sum_of(h)) {
        let (ps, pn, ns, nn) = A::layout_of(h);
        check_bucket_counts((ps, pn), (ns, nn))?;
    }
    let hint = A::hint_of(h);
    if num == 0 {
        a.append_raw(st, t, h);
        if hint == CounterResetHint::Gauge {
            a.set_header(CounterResetHeader::Gauge);
        } else if hint == CounterResetHint::CounterReset {
            a.set_header(CounterResetHeader::CounterReset);
        } else if let Some(p) = prev {
            a.set_header(A::header_from_previous(p.appendable(h).counter_reset));
        }
        return Ok(AppendOutcome::Appended);
    }

    let gauge = hint == CounterResetHint::Gauge;
    let what = if gauge { A::GAUGE_WHAT } else { A::WHAT };
    let (forward, backward, merged) = if gauge {
        let Some(g) = a.appendable_gauge(h) else {
            if append_only {
                return Err(AppendError::SchemaChange { what });
            }
            let mut next = A::empty(header);
            next.set_header(CounterResetHeader::Gauge);
            next.append_raw(st, t, h);
            return Ok(AppendOutcome::NewChunk(next));
        };
        (
            (g.positive, g.negative),
            (g.backward_positive, g.backward_negative),
            Some((g.positive_spans, g.negative_spans)),
        )
    } else {
        let c = a.appendable(h);
        if !c.ok || c.counter_reset != CounterResetHeader::NotCounterReset {
            if append_only {
                return Err(if c.counter_reset == CounterResetHeader::CounterReset {
                    AppendError::CounterReset { what }
                } else {
                    AppendError::SchemaChange { what }
                });
            }
            let mut next = A::empty(header);
            next.set_header(c.counter_reset);
            next.append_raw(st, t, h);
            return Ok(AppendOutcome::NewChunk(next));
        }
        (
            (c.positive, c.negative),
            (c.backward_positive, c.backward_negative),
            None,
        )
    };

    let mut h = Cow::Borrowed(h);
    if !backward.0.is_empty() || !backward.1.is_empty() {
        if gauge && append_only {
            return Err(AppendError::LayoutChange {
                what,
                positive: backward.0.len(),
                negative: backward.1.len(),
                direction: "backwards",
            });
        }
        let hm = h.to_mut();
        let (pos, neg) = A::spans_mut(hm);
        match merged {
            Some((mp, mn)) => {
                *pos = mp;
                *neg = mn;
            }
            None if forward.0.is_empty() && forward.1.is_empty() => {
                let (cp, cn) = a.chunk_spans();
                *pos = cp.to_vec();
                *neg = cn.to_vec();
            }
            None => {
                *pos = adjust_for_inserts(pos, &backward.0);
                *neg = adjust_for_inserts(neg, &backward.1);
            }
        }
        A::widen(hm, &backward.0, &backward.1);
    }
    if !forward.0.is_empty() || !forward.1.is_empty() {
        if append_only {
            return Err(AppendError::LayoutChange {
                what,
                positive: forward.0.len(),
                negative: forward.1.len(),
                direction: "forwards",
            });
        }
        let (ps, _, ns, _) = A::layout_of(&h);
        let mut recoded = a.recode(&forward.0, &forward.1, ps, ns)?;
        recoded.append_raw(st, t, &h);
        *a = recoded;
        return Ok(AppendOutcome::Recoded);
    }
    a.append_raw(st, t, &h);
    Ok(AppendOutcome::Appended)
}

/// Appends integer histograms to a histogram chunk it owns.
#[derive(Debug, Clone)]
pub struct HistogramAppender {
    w: BitWriter,
    header: HistogramHeader,

    schema: i32,
    zero_threshold: f64,
    p_spans: Vec<Span>,
    n_spans: Vec<Span>,
    custom_values: Vec<f64>,

    t: Timestamp,
    cnt: u64,
    z_cnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    z_cnt_delta: i64,
    /// The last histogram's buckets (delta-encoded between buckets, as in `Histogram`).
    p_buckets: Vec<i64>,
    n_buckets: Vec<i64>,
    p_buckets_delta: Vec<i64>,
    n_buckets_delta: Vec<i64>,

    sum: f64,
    leading: u8,
    trailing: u8,

    st: StEncoder,
}

impl HistogramAppender {
    /// An empty chunk: `EncHistogramST` with `start_timestamps`, else `EncHistogram`.
    pub fn new(start_timestamps: bool) -> Self {
        let header = if start_timestamps {
            HistogramHeader::StartTimestamps
        } else {
            HistogramHeader::Plain
        };
        Self::with_header(header)
    }

    fn with_header(header: HistogramHeader) -> Self {
        HistogramAppender {
            w: BitWriter::with_header(HISTOGRAM_HEADER_SIZE),
            header,
            schema: 0,
            zero_threshold: 0.0,
            p_spans: Vec::new(),
            n_spans: Vec::new(),
            custom_values: Vec::new(),
            t: Timestamp::MIN,
            cnt: 0,
            z_cnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            z_cnt_delta: 0,
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_buckets_delta: Vec::new(),
            n_buckets_delta: Vec::new(),
            sum: 0.0,
            leading: NO_WINDOW,
            trailing: 0,
            st: StEncoder::default(),
        }
    }

    /// Continues appending to an existing chunk of `encoding` (`Histogram` or
    /// `HistogramSt`); the state is rebuilt by decoding it, as Prometheus does.
    pub fn from_bytes(encoding: Encoding, bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let header = match encoding {
            Encoding::HistogramSt => HistogramHeader::StartTimestamps,
            _ => HistogramHeader::Plain,
        };
        let mut it = HistogramIterator::with_header(&bytes, header);
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
        let st = it.st.encoder();
        let state = HistogramAppender {
            w: BitWriter::default(),
            header,
            schema: it.layout.schema,
            zero_threshold: it.layout.zero_threshold,
            p_spans: std::mem::take(&mut it.layout.positive_spans),
            n_spans: std::mem::take(&mut it.layout.negative_spans),
            custom_values: std::mem::take(&mut it.layout.custom_values),
            t: it.t,
            cnt: it.cnt,
            z_cnt: it.z_cnt,
            t_delta: it.t_delta,
            cnt_delta: it.cnt_delta,
            z_cnt_delta: it.z_cnt_delta,
            p_buckets: std::mem::take(&mut it.p_buckets),
            n_buckets: std::mem::take(&mut it.n_buckets),
            p_buckets_delta: std::mem::take(&mut it.p_buckets_delta),
            n_buckets_delta: std::mem::take(&mut it.n_buckets_delta),
            sum: it.sum,
            leading: it.leading,
            trailing: it.trailing,
            st,
        };
        let w = reopen_writer(bytes, remaining, header.encoding(false))?;
        Ok(HistogramAppender { w, ..state })
    }

    pub fn encoding(&self) -> Encoding {
        self.header.encoding(false)
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

    pub fn iter(&self) -> HistogramIterator<'_> {
        HistogramIterator::with_header(self.w.bytes(), self.header)
    }

    /// Appends `h` at `t` (with start timestamp `st`, stored only by `HistogramSt`).
    ///
    /// `prev`, the appender of the previous chunk of the series, decides the counter-reset
    /// header when this chunk is empty. When the sample does not fit this chunk (counter
    /// reset, schema or custom bounds change, gauge/counter switch) a new chunk is started
    /// and returned; when it brings new buckets this chunk is recoded in place with the
    /// wider layout. With `append_only` both are refused with an error instead.
    pub fn append_histogram(
        &mut self,
        prev: Option<&HistogramAppender>,
        st: Timestamp,
        t: Timestamp,
        h: &Histogram,
        append_only: bool,
    ) -> Result<AppendOutcome<HistogramAppender>, AppendError> {
        append_sample(self, prev, st, t, h, append_only)
    }
}

impl HistogramChunkAppender for HistogramAppender {
    type Sample = Histogram;
    const WHAT: &'static str = "histogram";
    const GAUGE_WHAT: &'static str = "gauge histogram";
    const FLOAT: bool = false;

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

    fn hint_of(h: &Histogram) -> CounterResetHint {
        h.counter_reset_hint
    }

    fn sum_of(h: &Histogram) -> f64 {
        h.sum
    }

    fn layout_of(h: &Histogram) -> (&[Span], usize, &[Span], usize) {
        (
            &h.positive_spans,
            h.positive_buckets.len(),
            &h.negative_spans,
            h.negative_buckets.len(),
        )
    }

    fn spans_mut(h: &mut Histogram) -> (&mut Vec<Span>, &mut Vec<Span>) {
        (&mut h.positive_spans, &mut h.negative_spans)
    }

    fn chunk_spans(&self) -> (&[Span], &[Span]) {
        (&self.p_spans, &self.n_spans)
    }

    fn header_from_previous(verdict: CounterResetHeader) -> CounterResetHeader {
        verdict
    }

    fn widen(h: &mut Histogram, positive: &[Insert], negative: &[Insert]) {
        if !positive.is_empty() {
            let n = count_buckets(&h.positive_spans) as usize;
            h.positive_buckets = insert_buckets(&h.positive_buckets, positive, true, n);
        }
        if !negative.is_empty() {
            let n = count_buckets(&h.negative_spans) as usize;
            h.negative_buckets = insert_buckets(&h.negative_buckets, negative, true, n);
        }
    }

    fn appendable(&self, h: &Histogram) -> Appendability {
        use CounterResetHeader as C;
        if self.num_samples() > 0 && self.counter_reset_header() == C::Gauge {
            return Appendability::not_ok(C::NotCounterReset);
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Appendability::not_ok(C::CounterReset);
        }
        if is_stale_nan(h.sum) {
            return Appendability {
                ok: true,
                ..Appendability::not_ok(C::NotCounterReset)
            };
        }
        if is_stale_nan(self.sum) {
            return Appendability::not_ok(C::Unknown);
        }
        if h.count < self.cnt {
            return Appendability::not_ok(C::CounterReset);
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            // Prometheus skips full reset detection here (prometheus#15346).
            return Appendability::not_ok(C::Unknown);
        }
        if h.schema == hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            return Appendability::not_ok(C::CounterReset);
        }
        if h.zero_count < self.z_cnt {
            return Appendability::not_ok(C::CounterReset);
        }
        let Some(positive) = expand_spans_and_buckets(
            &self.p_spans,
            &h.positive_spans,
            &absolute_counts(&self.p_buckets),
            &absolute_counts(&h.positive_buckets),
        ) else {
            return Appendability::not_ok(C::CounterReset);
        };
        let Some(negative) = expand_spans_and_buckets(
            &self.n_spans,
            &h.negative_spans,
            &absolute_counts(&self.n_buckets),
            &absolute_counts(&h.negative_buckets),
        ) else {
            return Appendability::not_ok(C::CounterReset);
        };
        Appendability::fits(positive, negative)
    }

    fn appendable_gauge(&self, h: &Histogram) -> Option<GaugeAppendability> {
        if self.num_samples() > 0 && self.counter_reset_header() != CounterResetHeader::Gauge {
            return None;
        }
        if is_stale_nan(h.sum) {
            return Some(GaugeAppendability::default());
        }
        if is_stale_nan(self.sum) {
            return None;
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            return None;
        }
        if h.schema == hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            return None;
        }
        Some(GaugeAppendability::between(
            (&self.p_spans, &self.n_spans),
            (&h.positive_spans, &h.negative_spans),
        ))
    }

    /// Codes one sample without any appendability check (the caller made sure).
    fn append_raw(&mut self, st: Timestamp, t: Timestamp, h: &Histogram) {
        let stale_only;
        let h = if is_stale_nan(h.sum) {
            // A stale marker carries no buckets (and an empty layout if it comes first).
            stale_only = Histogram {
                sum: h.sum,
                ..Default::default()
            };
            &stale_only
        } else {
            h
        };
        let num = self.header.num_samples(self.w.bytes());
        let prev_t = self.t;
        let (mut t_delta, mut cnt_delta, mut z_cnt_delta) = (0i64, 0i64, 0i64);
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
            let np = count_buckets(&h.positive_spans) as usize;
            let nn = count_buckets(&h.negative_spans) as usize;
            self.p_buckets = vec![0; np];
            self.p_buckets_delta = vec![0; np];
            self.n_buckets = vec![0; nn];
            self.n_buckets_delta = vec![0; nn];

            put_varbit_int(&mut self.w, t);
            put_varbit_uint(&mut self.w, h.count);
            put_varbit_uint(&mut self.w, h.zero_count);
            self.w.write_bits(h.sum.to_bits(), 64);
            for b in &h.positive_buckets {
                put_varbit_int(&mut self.w, *b);
            }
            for b in &h.negative_buckets {
                put_varbit_int(&mut self.w, *b);
            }
        } else {
            // The second sample's plain deltas fall out of the delta-of-delta code.
            t_delta = t.wrapping_sub(self.t);
            cnt_delta = (h.count as i64).wrapping_sub(self.cnt as i64);
            z_cnt_delta = (h.zero_count as i64).wrapping_sub(self.z_cnt as i64);
            let mut cnt_dod = cnt_delta.wrapping_sub(self.cnt_delta);
            let mut z_cnt_dod = z_cnt_delta.wrapping_sub(self.z_cnt_delta);
            if is_stale_nan(h.sum) {
                cnt_dod = 0;
                z_cnt_dod = 0;
            }
            put_varbit_int(&mut self.w, t_delta.wrapping_sub(self.t_delta));
            put_varbit_int(&mut self.w, cnt_dod);
            put_varbit_int(&mut self.w, z_cnt_dod);
            xor_write(
                &mut self.w,
                h.sum,
                self.sum,
                &mut self.leading,
                &mut self.trailing,
            );
            for ((b, last), last_delta) in h
                .positive_buckets
                .iter()
                .zip(&self.p_buckets)
                .zip(self.p_buckets_delta.iter_mut())
            {
                let delta = b.wrapping_sub(*last);
                put_varbit_int(&mut self.w, delta.wrapping_sub(*last_delta));
                *last_delta = delta;
            }
            for ((b, last), last_delta) in h
                .negative_buckets
                .iter()
                .zip(&self.n_buckets)
                .zip(self.n_buckets_delta.iter_mut())
            {
                let delta = b.wrapping_sub(*last);
                put_varbit_int(&mut self.w, delta.wrapping_sub(*last_delta));
                *last_delta = delta;
            }
        }
        let num = num + 1;
        self.header.set_num_samples(self.w.bytes_mut(), num);
        self.t = t;
        self.cnt = h.count;
        self.z_cnt = h.zero_count;
        self.t_delta = t_delta;
        self.cnt_delta = cnt_delta;
        self.z_cnt_delta = z_cnt_delta;
        for (dst, src) in self.p_buckets.iter_mut().zip(&h.positive_buckets) {
            *dst = *src;
        }
        for (dst, src) in self.n_buckets.iter_mut().zip(&h.negative_buckets) {
            *dst = *src;
        }
        self.sum = h.sum;
        if self.header.has_st() {
            self.st.encode(&mut self.w, 2, num, t, prev_t, st);
        }
    }

    /// Re-encodes the chunk with the wider layout (`positive_spans`/`negative_spans`) that
    /// `inserts` describe, keeping the counter-reset header.
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
            let Some((t, mut old)) = it.at_histogram() else {
                continue;
            };
            let st = it.at_st();
            old.positive_spans = positive_spans.to_vec();
            old.negative_spans = negative_spans.to_vec();
            if !positive.is_empty() {
                old.positive_buckets = insert_buckets(&old.positive_buckets, positive, true, np);
            }
            if !negative.is_empty() {
                old.negative_buckets = insert_buckets(&old.negative_buckets, negative, true, nn);
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

impl HistogramHeader {
    pub(crate) fn encoding(self, float: bool) -> Encoding {
        match (self, float) {
            (HistogramHeader::Plain, false) => Encoding::Histogram,
            (HistogramHeader::StartTimestamps, false) => Encoding::HistogramSt,
            (HistogramHeader::Plain, true) => Encoding::FloatHistogram,
            (HistogramHeader::StartTimestamps, true) => Encoding::FloatHistogramSt,
        }
    }
}

/// Allocates bucket vectors for a layout read from (possibly corrupt) data: each bucket
/// needs at least one more bit, which bounds what a chunk can honestly claim.
pub(crate) fn bucket_len(spans: &[Span], r: &BitReader<'_>) -> Result<usize, NumberError> {
    let n = count_buckets(spans);
    if n > r.remaining() as u64 {
        return Err(NumberError::Implausible("buckets"));
    }
    Ok(n as usize)
}

/// Iterates an integer histogram chunk (either flavour).
#[derive(Debug, Clone)]
pub struct HistogramIterator<'a> {
    r: BitReader<'a>,
    header: HistogramHeader,
    total: u16,
    read: u16,
    counter_reset: CounterResetHeader,
    layout: ChunkLayout,

    t: Timestamp,
    cnt: u64,
    z_cnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    z_cnt_delta: i64,
    p_buckets: Vec<i64>,
    n_buckets: Vec<i64>,
    p_buckets_delta: Vec<i64>,
    n_buckets_delta: Vec<i64>,

    sum: f64,
    leading: u8,
    trailing: u8,

    st: StDecoder,
    current: ValueType,
    err: Option<ChunkError>,
}

impl<'a> HistogramIterator<'a> {
    /// Iterates `data` of `Histogram` or `HistogramSt` encoding.
    pub fn new(encoding: Encoding, data: &'a [u8]) -> Self {
        let header = if encoding == Encoding::HistogramSt {
            HistogramHeader::StartTimestamps
        } else {
            HistogramHeader::Plain
        };
        Self::with_header(data, header)
    }

    pub(crate) fn with_header(data: &'a [u8], header: HistogramHeader) -> Self {
        let mut it = HistogramIterator {
            r: BitReader::new(&data[..0]),
            header,
            total: 0,
            read: 0,
            counter_reset: CounterResetHeader::Unknown,
            layout: ChunkLayout::default(),
            t: Timestamp::MIN,
            cnt: 0,
            z_cnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            z_cnt_delta: 0,
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_buckets_delta: Vec::new(),
            n_buckets_delta: Vec::new(),
            sum: 0.0,
            leading: 0,
            trailing: 0,
            st: StDecoder::default(),
            current: ValueType::None,
            err: None,
        };
        if data.len() < HISTOGRAM_HEADER_SIZE {
            it.err = Some(ChunkError::TooShort {
                encoding: header.encoding(false),
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

    /// The chunk's counter-reset header.
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
            self.cnt = read_varbit_uint(&mut self.r)?;
            self.z_cnt = read_varbit_uint(&mut self.r)?;
            self.sum = f64::from_bits(self.r.read_bits(64)?);
            self.p_buckets = Vec::with_capacity(np);
            for _ in 0..np {
                self.p_buckets.push(read_varbit_int(&mut self.r)?);
            }
            self.n_buckets = Vec::with_capacity(nn);
            for _ in 0..nn {
                self.n_buckets.push(read_varbit_int(&mut self.r)?);
            }
            self.p_buckets_delta = vec![0; np];
            self.n_buckets_delta = vec![0; nn];
        } else {
            let t_dod = read_varbit_int(&mut self.r)?;
            self.t_delta = self.t_delta.wrapping_add(t_dod);
            self.t = self.t.wrapping_add(self.t_delta);
            let cnt_dod = read_varbit_int(&mut self.r)?;
            self.cnt_delta = self.cnt_delta.wrapping_add(cnt_dod);
            self.cnt = (self.cnt as i64).wrapping_add(self.cnt_delta) as u64;
            let z_dod = read_varbit_int(&mut self.r)?;
            self.z_cnt_delta = self.z_cnt_delta.wrapping_add(z_dod);
            self.z_cnt = (self.z_cnt as i64).wrapping_add(self.z_cnt_delta) as u64;
            xor_read(
                &mut self.r,
                &mut self.sum,
                &mut self.leading,
                &mut self.trailing,
            )?;
            if !is_stale_nan(self.sum) {
                for (b, d) in self
                    .p_buckets
                    .iter_mut()
                    .zip(self.p_buckets_delta.iter_mut())
                {
                    *d = d.wrapping_add(read_varbit_int(&mut self.r)?);
                    *b = b.wrapping_add(*d);
                }
                for (b, d) in self
                    .n_buckets
                    .iter_mut()
                    .zip(self.n_buckets_delta.iter_mut())
                {
                    *d = d.wrapping_add(read_varbit_int(&mut self.r)?);
                    *b = b.wrapping_add(*d);
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
    pub fn at_histogram_into(&self, out: &mut Histogram) -> Option<Timestamp> {
        if self.current == ValueType::None {
            return None;
        }
        if is_stale_nan(self.sum) {
            *out = Histogram {
                sum: self.sum,
                ..Default::default()
            };
            return Some(self.t);
        }
        out.counter_reset_hint = counter_reset_hint(self.counter_reset, self.read);
        out.schema = self.layout.schema;
        out.zero_threshold = self.layout.zero_threshold;
        out.zero_count = self.z_cnt;
        out.count = self.cnt;
        out.sum = self.sum;
        out.positive_spans.clone_from(&self.layout.positive_spans);
        out.negative_spans.clone_from(&self.layout.negative_spans);
        out.positive_buckets.clone_from(&self.p_buckets);
        out.negative_buckets.clone_from(&self.n_buckets);
        out.custom_values.clone_from(&self.layout.custom_values);
        if out.schema > EXPONENTIAL_SCHEMA_MAX {
            reduce_int_histogram(out);
        }
        Some(self.t)
    }

    /// The current histogram as floats into `out`, reusing its vectors.
    pub fn at_float_histogram_into(&self, out: &mut FloatHistogram) -> Option<Timestamp> {
        if self.current == ValueType::None {
            return None;
        }
        if is_stale_nan(self.sum) {
            *out = FloatHistogram {
                sum: self.sum,
                ..Default::default()
            };
            return Some(self.t);
        }
        out.counter_reset_hint = counter_reset_hint(self.counter_reset, self.read);
        out.schema = self.layout.schema;
        out.zero_threshold = self.layout.zero_threshold;
        out.zero_count = self.z_cnt as f64;
        out.count = self.cnt as f64;
        out.sum = self.sum;
        out.positive_spans.clone_from(&self.layout.positive_spans);
        out.negative_spans.clone_from(&self.layout.negative_spans);
        fill_float_counts(&mut out.positive_buckets, &self.p_buckets);
        fill_float_counts(&mut out.negative_buckets, &self.n_buckets);
        out.custom_values.clone_from(&self.layout.custom_values);
        if out.schema > EXPONENTIAL_SCHEMA_MAX {
            reduce_float_histogram(out);
        }
        Some(self.t)
    }
}

/// Absolute float counts from delta-encoded integer buckets (summed as floats, like Go).
fn fill_float_counts(out: &mut Vec<f64>, deltas: &[i64]) {
    out.clear();
    let mut cur = 0.0;
    for d in deltas {
        cur += *d as f64;
        out.push(cur);
    }
}

/// Brings a histogram of schema 9..=52 down to schema 8, as Prometheus does when reading
/// chunks from newer versions.
pub(crate) fn reduce_int_histogram(h: &mut Histogram) {
    let schema = h.schema;
    for (spans, buckets) in [
        (&mut h.positive_spans, &mut h.positive_buckets),
        (&mut h.negative_spans, &mut h.negative_buckets),
    ] {
        let (s, counts) = reduce_resolution(spans, &absolute_counts(buckets), schema);
        let mut prev = 0i64;
        *buckets = counts
            .into_iter()
            .map(|c| {
                let d = c.wrapping_sub(prev);
                prev = c;
                d
            })
            .collect();
        *spans = s;
    }
    h.schema = EXPONENTIAL_SCHEMA_MAX;
}

pub(crate) fn reduce_float_histogram(h: &mut FloatHistogram) {
    let schema = h.schema;
    for (spans, buckets) in [
        (&mut h.positive_spans, &mut h.positive_buckets),
        (&mut h.negative_spans, &mut h.negative_buckets),
    ] {
        let (s, counts) = reduce_resolution(spans, buckets, schema);
        *buckets = counts;
        *spans = s;
    }
    h.schema = EXPONENTIAL_SCHEMA_MAX;
}

impl ChunkSampleIterator for HistogramIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() || self.read >= self.total {
            self.current = ValueType::None;
            return ValueType::None;
        }
        if let Err(e) = self.read_next() {
            self.err = Some(ChunkError::from_number(
                self.header.encoding(false),
                usize::from(self.read),
                &self.r,
                e,
            ));
            self.current = ValueType::None;
            return ValueType::None;
        }
        self.read += 1;
        self.current = ValueType::Histogram;
        ValueType::Histogram
    }

    fn value_type(&self) -> ValueType {
        self.current
    }

    fn at(&self) -> (Timestamp, f64) {
        (self.t, f64::NAN)
    }

    fn at_histogram(&self) -> Option<(Timestamp, Histogram)> {
        let mut h = Histogram::default();
        self.at_histogram_into(&mut h).map(|t| (t, h))
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
