//! The XOR float chunk (Prometheus' `EncXOR`, Gorilla compression): a big-endian u16
//! sample count, then the first timestamp as a varint and value as 64 raw bits, the
//! second timestamp as a uvarint delta, later timestamps as delta-of-delta in
//! `varbit_ts`, and every value after the first XOR-coded against the previous one.

use hearth_model::Timestamp;

use super::bstream::{BitReader, BitWriter};
use super::varbit::{
    NO_WINDOW, NumberError, bit_range, put_uvarint, put_varint, read_uvarint, read_varint,
    sign_extend_symmetric, xor_read, xor_write,
};
use super::{AppendError, ChunkError, ChunkSampleIterator, Encoding, ValueType, reopen_writer};

/// Bytes of the XOR chunk header (the sample count).
pub const XOR_HEADER_SIZE: usize = 2;

/// Appends float samples to an XOR chunk it owns.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    num: u16,
    t: Timestamp,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        XorAppender {
            w: BitWriter::with_header(XOR_HEADER_SIZE),
            num: 0,
            t: Timestamp::MIN,
            v: 0.0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Continues appending to an existing chunk. The appender state is rebuilt by decoding
    /// all samples, as Prometheus does, so later samples are coded exactly as Prometheus
    /// would code them after reopening the same chunk.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let mut it = XorIterator::new(&bytes);
        while it.next() != ValueType::None {}
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        let remaining = it.r.remaining();
        let (num, t, v, t_delta, leading, trailing) =
            (it.read, it.t, it.v, it.t_delta, it.leading, it.trailing);
        let mut a = XorAppender {
            w: reopen_writer(bytes, remaining, Encoding::Xor)?,
            num,
            t,
            v,
            t_delta,
            leading,
            trailing,
        };
        if num == 0 {
            a.t = Timestamp::MIN;
            a.leading = NO_WINDOW;
        }
        Ok(a)
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

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.w.bytes())
    }

    /// The last sample appended, if any: the head checks duplicates against it without
    /// keeping a copy of its own.
    pub fn last_sample(&self) -> Option<(Timestamp, f64)> {
        (self.num > 0).then_some((self.t, self.v))
    }

    /// Appends one sample. Timestamps are not checked for order; the caller (the head)
    /// decides what it accepts.
    pub fn append(&mut self, t: Timestamp, v: f64) -> Result<(), AppendError> {
        if self.num == u16::MAX {
            return Err(AppendError::ChunkFull {
                encoding: Encoding::Xor,
                max: usize::from(u16::MAX),
            });
        }
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                put_varint(&mut self.w, t);
                self.w.write_bits(v.to_bits(), 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                put_uvarint(&mut self.w, t_delta);
                xor_write(
                    &mut self.w,
                    v,
                    self.v,
                    &mut self.leading,
                    &mut self.trailing,
                );
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                write_timestamp_dod(&mut self.w, dod);
                xor_write(
                    &mut self.w,
                    v,
                    self.v,
                    &mut self.leading,
                    &mut self.trailing,
                );
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num += 1;
        self.w.bytes_mut()[..2].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }
}

/// `varbit_ts`: the delta-of-delta of timestamps in 1, 16, 20, 24 or 68 bits.
#[inline]
fn write_timestamp_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
    } else if bit_range(dod, 14) {
        w.write_bits(0b10, 2);
        w.write_bits(dod as u64, 14);
    } else if bit_range(dod, 17) {
        w.write_bits(0b110, 3);
        w.write_bits(dod as u64, 17);
    } else if bit_range(dod, 20) {
        w.write_bits(0b1110, 4);
        w.write_bits(dod as u64, 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

#[inline]
fn read_timestamp_dod(r: &mut BitReader<'_>) -> Result<i64, NumberError> {
    let mut ones = 0u32;
    while ones < 4 {
        if !r.read_bit()? {
            break;
        }
        ones += 1;
    }
    let sz = match ones {
        0 => return Ok(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => return Ok(r.read_bits(64)? as i64),
    };
    Ok(sign_extend_symmetric(r.read_bits(sz)?, sz))
}

/// Iterates an XOR chunk.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: Timestamp,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    current: ValueType,
    err: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let (total, body, err) = if data.len() < XOR_HEADER_SIZE {
            (
                0,
                &data[..0],
                Some(ChunkError::TooShort {
                    encoding: Encoding::Xor,
                    len: data.len(),
                    header: XOR_HEADER_SIZE,
                }),
            )
        } else {
            (
                u16::from_be_bytes([data[0], data[1]]),
                &data[XOR_HEADER_SIZE..],
                None,
            )
        };
        XorIterator {
            r: BitReader::new(body),
            total,
            read: 0,
            t: Timestamp::MIN,
            v: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            current: ValueType::None,
            err,
        }
    }

    fn fail(&mut self, e: NumberError) -> ValueType {
        self.err = Some(ChunkError::from_number(
            Encoding::Xor,
            usize::from(self.read),
            &self.r,
            e,
        ));
        self.current = ValueType::None;
        ValueType::None
    }

    fn read_next(&mut self) -> Result<(), NumberError> {
        match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
            }
            1 => {
                self.t_delta = read_uvarint(&mut self.r)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                xor_read(
                    &mut self.r,
                    &mut self.v,
                    &mut self.leading,
                    &mut self.trailing,
                )?;
            }
            _ => {
                let dod = read_timestamp_dod(&mut self.r)?;
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                xor_read(
                    &mut self.r,
                    &mut self.v,
                    &mut self.leading,
                    &mut self.trailing,
                )?;
            }
        }
        Ok(())
    }
}

impl ChunkSampleIterator for XorIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() || self.read == self.total {
            self.current = ValueType::None;
            return ValueType::None;
        }
        if let Err(e) = self.read_next() {
            return self.fail(e);
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
        0
    }

    fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}
