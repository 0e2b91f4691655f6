//! The XOR2 float chunk (Prometheus 3.14 `EncXOR2`, experimental): like XOR for the first
//! two samples, then a joint control prefix per sample coding the timestamp
//! delta-of-delta and whether the value changed, with common cases byte-aligned; values
//! are XOR-coded against the last non-stale value, and stale markers cost a few bits.
//! An optional start timestamp follows each sample (see `start_timestamp`).

use hearth_model::Timestamp;
use hearth_model::sample::{STALE_NAN_BITS, is_stale_nan};

use super::bstream::{BitReader, BitWriter};
use super::start_timestamp::{StDecoder, StEncoder};
use super::varbit::{
    NO_WINDOW, NumberError, put_uvarint, put_varint, read_uvarint, read_varint, write_new_window,
    xor_read_in_window, xor_read_new_window,
};
use super::{AppendError, ChunkError, ChunkSampleIterator, Encoding, ValueType, reopen_writer};

/// Sample count (2 bytes) and ST header (1 byte).
pub const XOR2_HEADER_SIZE: usize = 3;
const ST_HEADER_AT: usize = 2;

/// Appends float samples (with optional start timestamps) to an XOR2 chunk it owns.
#[derive(Debug, Clone)]
pub struct Xor2Appender {
    w: BitWriter,
    num: u16,
    t: Timestamp,
    /// The last non-stale value: the XOR baseline.
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    st: StEncoder,
}

impl Default for Xor2Appender {
    fn default() -> Self {
        Self::new()
    }
}

impl Xor2Appender {
    pub fn new() -> Self {
        Xor2Appender {
            w: BitWriter::with_header(XOR2_HEADER_SIZE),
            num: 0,
            t: Timestamp::MIN,
            v: 0.0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
            st: StEncoder::default(),
        }
    }

    /// Continues appending to an existing chunk (state rebuilt by decoding it).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let mut it = Xor2Iterator::new(&bytes);
        while it.next() != ValueType::None {}
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        let remaining = it.r.remaining();
        let st = it.st.encoder();
        let (num, t, v, t_delta, leading, trailing) = (
            it.read,
            it.t,
            it.baseline,
            it.t_delta,
            it.leading,
            it.trailing,
        );
        if num == 0 {
            return Ok(Self::new());
        }
        Ok(Xor2Appender {
            w: reopen_writer(bytes, remaining, Encoding::Xor2)?,
            num,
            t,
            v,
            t_delta,
            leading,
            trailing,
            st,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    pub fn iter(&self) -> Xor2Iterator<'_> {
        Xor2Iterator::new(self.w.bytes())
    }

    /// Appends one sample with start timestamp `st` (0 for none).
    pub fn append(&mut self, st: Timestamp, t: Timestamp, v: f64) -> Result<(), AppendError> {
        if self.num == u16::MAX {
            return Err(AppendError::ChunkFull {
                encoding: Encoding::Xor2,
                max: usize::from(u16::MAX),
            });
        }
        let prev_t = self.t;
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                put_varint(&mut self.w, t);
                self.w.write_bits(v.to_bits(), 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                put_uvarint(&mut self.w, t_delta);
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                self.write_joint(dod, v);
            }
        }
        self.num += 1;
        self.st
            .encode(&mut self.w, ST_HEADER_AT, self.num, t, prev_t, st);
        self.t = t;
        if !is_stale_nan(v) {
            self.v = v;
        }
        self.t_delta = t_delta;
        self.w.bytes_mut()[..2].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }

    /// The control prefix of samples from the third on, then the value if one follows.
    fn write_joint(&mut self, dod: i64, v: f64) {
        if dod == 0 {
            if is_stale_nan(v) {
                self.w.write_bits(0b11111, 5);
                return;
            }
            let delta = v.to_bits() ^ self.v.to_bits();
            if delta == 0 {
                self.w.write_bit(false);
                return;
            }
            self.w.write_bits(0b10, 2);
            self.write_known_changed(delta);
            return;
        }
        if (-(1 << 12)..(1 << 12)).contains(&dod) {
            self.w.write_bits(0b110, 3);
            self.w.write_bits(dod as u64, 13);
        } else if (-(1 << 19)..(1 << 19)).contains(&dod) {
            self.w.write_bits(0b1110, 4);
            self.w.write_bits(dod as u64, 20);
        } else {
            self.w.write_bits(0b11110, 5);
            self.w.write_bits(dod as u64, 64);
        }
        self.write_value(v);
    }

    /// `varbit_xor2`: `0` unchanged, `10` same window, `110` new window, `111` stale.
    fn write_value(&mut self, v: f64) {
        if is_stale_nan(v) {
            self.w.write_bits(0b111, 3);
            return;
        }
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        match self.window_for(delta) {
            Some((lead, trail)) => {
                self.w.write_bits(0b10, 2);
                self.w
                    .write_bits(delta >> trail, 64 - u32::from(lead) - u32::from(trail));
            }
            None => {
                self.w.write_bits(0b110, 3);
                write_new_window(&mut self.w, delta, self.leading, self.trailing);
            }
        }
    }

    /// `varbit_xor2_nn`: `0` same window, `1` new window (value known to have changed).
    fn write_known_changed(&mut self, delta: u64) {
        match self.window_for(delta) {
            Some((lead, trail)) => {
                self.w.write_bit(false);
                self.w
                    .write_bits(delta >> trail, 64 - u32::from(lead) - u32::from(trail));
            }
            None => {
                self.w.write_bit(true);
                write_new_window(&mut self.w, delta, self.leading, self.trailing);
            }
        }
    }

    /// The current window if `delta` fits it; otherwise switches to `delta`'s own window
    /// and returns `None`.
    fn window_for(&mut self, delta: u64) -> Option<(u8, u8)> {
        let lead = (delta.leading_zeros() as u8).min(31);
        let trail = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && lead >= self.leading && trail >= self.trailing {
            return Some((self.leading, self.trailing));
        }
        self.leading = lead;
        self.trailing = trail;
        None
    }
}

/// Iterates an XOR2 chunk.
#[derive(Debug, Clone)]
pub struct Xor2Iterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: Timestamp,
    v: f64,
    baseline: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    st: StDecoder,
    current: ValueType,
    err: Option<ChunkError>,
}

impl<'a> Xor2Iterator<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let (total, st, body, err) = if data.len() < XOR2_HEADER_SIZE {
            (
                0,
                StDecoder::default(),
                &data[..0],
                Some(ChunkError::TooShort {
                    encoding: Encoding::Xor2,
                    len: data.len(),
                    header: XOR2_HEADER_SIZE,
                }),
            )
        } else {
            (
                u16::from_be_bytes([data[0], data[1]]),
                StDecoder::from_header(data[ST_HEADER_AT]),
                &data[XOR2_HEADER_SIZE..],
                None,
            )
        };
        Xor2Iterator {
            r: BitReader::new(body),
            total,
            read: 0,
            t: Timestamp::MIN,
            v: 0.0,
            baseline: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            st,
            current: ValueType::None,
            err,
        }
    }

    fn read_next(&mut self) -> Result<(), NumberError> {
        let prev_t = self.t;
        match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
                if !is_stale_nan(self.v) {
                    self.baseline = self.v;
                }
            }
            1 => {
                self.t_delta = read_uvarint(&mut self.r)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => self.read_joint()?,
        }
        self.st.decode(&mut self.r, self.read + 1, self.t, prev_t)
    }

    fn advance(&mut self, dod: i64) {
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
    }

    fn read_joint(&mut self) -> Result<(), NumberError> {
        let mut ones = 0u32;
        while ones < 5 {
            if !self.r.read_bit()? {
                break;
            }
            ones += 1;
        }
        match ones {
            0 => {
                self.advance(0);
                self.v = self.baseline;
            }
            1 => {
                self.advance(0);
                if self.r.read_bit()? {
                    xor_read_new_window(
                        &mut self.r,
                        &mut self.baseline,
                        &mut self.leading,
                        &mut self.trailing,
                    )?;
                } else {
                    xor_read_in_window(
                        &mut self.r,
                        &mut self.baseline,
                        self.leading,
                        self.trailing,
                    )?;
                }
                self.v = self.baseline;
            }
            2..=4 => {
                let width = [13, 20, 64][ones as usize - 2];
                let bits = self.r.read_bits(width)?;
                let dod = if width < 64 && bits >= 1 << (width - 1) {
                    bits.wrapping_sub(1 << width) as i64
                } else {
                    bits as i64
                };
                self.advance(dod);
                self.read_value()?;
            }
            _ => {
                self.advance(0);
                self.v = f64::from_bits(STALE_NAN_BITS);
            }
        }
        Ok(())
    }

    /// `varbit_xor2`.
    fn read_value(&mut self) -> Result<(), NumberError> {
        if !self.r.read_bit()? {
            self.v = self.baseline;
            return Ok(());
        }
        if !self.r.read_bit()? {
            xor_read_in_window(&mut self.r, &mut self.baseline, self.leading, self.trailing)?;
            self.v = self.baseline;
            return Ok(());
        }
        if !self.r.read_bit()? {
            xor_read_new_window(
                &mut self.r,
                &mut self.baseline,
                &mut self.leading,
                &mut self.trailing,
            )?;
            self.v = self.baseline;
            return Ok(());
        }
        self.v = f64::from_bits(STALE_NAN_BITS);
        Ok(())
    }
}

impl ChunkSampleIterator for Xor2Iterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() || self.read == self.total {
            self.current = ValueType::None;
            return ValueType::None;
        }
        if let Err(e) = self.read_next() {
            self.err = Some(ChunkError::from_number(
                Encoding::Xor2,
                usize::from(self.read),
                &self.r,
                e,
            ));
            self.current = ValueType::None;
            return ValueType::None;
        }
        self.read += 1;
        self.current = ValueType::Float;
        ValueType::Float
    }

    fn value_type(&self) -> ValueType {
        self.current
    }

    fn at(&self) -> (Timestamp, f64) {
        (self.t, self.v)
    }

    fn at_histogram(&self) -> Option<(Timestamp, hearth_model::Histogram)> {
        None
    }

    fn at_float_histogram(&self) -> Option<(Timestamp, hearth_model::FloatHistogram)> {
        None
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
