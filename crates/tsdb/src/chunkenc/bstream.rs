//! The bit stream under every chunk encoding: a writer that appends bits most significant
//! first, and a reader over a byte slice.
//!
//! The writer produces exactly the bytes of Prometheus' `bstream` since 3.0 (which no
//! longer leaves an empty trailing byte after a byte written at a boundary): the bits in
//! order, the last byte padded with zero bits.

/// Appends bits to a growing byte vector.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free at the right of the last byte (0..=7).
    free: u32,
}

impl BitWriter {
    /// A writer whose stream starts with `header` zero bytes (the chunk header).
    pub(crate) fn with_header(header: usize) -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.resize(header, 0);
        BitWriter { bytes, free: 0 }
    }

    /// Continues writing after existing bytes whose last byte has `free` unused bits.
    pub(crate) fn from_bytes(bytes: Vec<u8>, free: u8) -> Self {
        let free = if bytes.is_empty() {
            0
        } else {
            u32::from(free.min(7))
        };
        BitWriter { bytes, free }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    #[inline]
    pub(crate) fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Writes the `nbits` (0..=64) right-most bits of `u`, most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, u: u64, nbits: u32) {
        if nbits == 0 {
            return;
        }
        let mut n = nbits.min(64);
        // Left-align the bits to write.
        let mut u = u << (64 - n);
        if self.free > 0 {
            let take = self.free.min(n);
            let top = (u >> (64 - take)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= top << (self.free - take);
            }
            self.free -= take;
            n -= take;
            u = if take >= 64 { 0 } else { u << take };
        }
        while n >= 8 {
            self.bytes.push((u >> 56) as u8);
            u <<= 8;
            n -= 8;
        }
        if n > 0 {
            self.bytes.push((u >> 56) as u8);
            self.free = 8 - n;
        }
    }
}

/// The stream ended before the bits asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfStream;

/// Reads bits from a byte slice, most significant first.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load into `buf`.
    offset: usize,
    /// Left-aligned bit buffer; only the top `valid` bits are meaningful, the rest are the
    /// following bits of `data` (or zero).
    buf: u64,
    valid: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            offset: 0,
            buf: 0,
            valid: 0,
        }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.offset * 8 - self.valid as usize
    }

    /// Bits not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() * 8 - self.position()
    }

    #[inline]
    fn refill(&mut self) {
        if self.offset + 8 <= self.data.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&self.data[self.offset..self.offset + 8]);
            let word = u64::from_be_bytes(word);
            // Bits below `valid` already hold these same stream bits, so OR-ing is safe.
            self.buf |= word >> self.valid;
            let loaded = (63 - self.valid) >> 3;
            self.offset += loaded as usize;
            self.valid += loaded * 8;
        } else {
            while self.valid <= 56 && self.offset < self.data.len() {
                self.buf |= u64::from(self.data[self.offset]) << (56 - self.valid);
                self.offset += 1;
                self.valid += 8;
            }
        }
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Result<bool, EndOfStream> {
        if self.valid == 0 {
            self.refill();
            if self.valid == 0 {
                return Err(EndOfStream);
            }
        }
        let bit = self.buf >> 63 == 1;
        self.buf <<= 1;
        self.valid -= 1;
        Ok(bit)
    }

    /// Reads `nbits` (0..=64) bits into the low bits of the result.
    #[inline]
    pub(crate) fn read_bits(&mut self, nbits: u32) -> Result<u64, EndOfStream> {
        if nbits == 0 {
            return Ok(0);
        }
        if nbits > 56 {
            let hi = self.read_bits(nbits - 32)?;
            let lo = self.read_bits(32)?;
            return Ok((hi << 32) | lo);
        }
        if self.valid < nbits {
            self.refill();
            if self.valid < nbits {
                return Err(EndOfStream);
            }
        }
        let v = self.buf >> (64 - nbits);
        self.buf <<= nbits;
        self.valid -= nbits;
        Ok(v)
    }

    #[inline]
    pub(crate) fn read_byte(&mut self) -> Result<u8, EndOfStream> {
        Ok(self.read_bits(8)? as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_go_bstream_bytes() {
        let mut w = BitWriter::with_header(2);
        w.write_byte(0xAB);
        assert_eq!(w.bytes(), &[0, 0, 0xAB]);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0, 0, 0xAB, 0x80]);
        w.write_byte(0xFF);
        assert_eq!(w.bytes(), &[0, 0, 0xAB, 0xFF, 0x80]);
        w.write_bits(0b101, 3);
        assert_eq!(w.bytes(), &[0, 0, 0xAB, 0xFF, 0xD0]);
    }

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::default();
        let vals: Vec<(u64, u32)> = (0..200u64)
            .map(|i| {
                let n = (i % 64 + 1) as u32;
                let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (u64::MAX >> (64 - n));
                (v, n)
            })
            .collect();
        for (v, n) in &vals {
            w.write_bits(*v, *n);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for (v, n) in &vals {
            assert_eq!(r.read_bits(*n), Ok(*v), "width {n}");
        }
        assert!(r.remaining() < 16);
    }

    #[test]
    fn reader_reports_end() {
        let data = [0xF0u8];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(4), Ok(0xF));
        assert_eq!(r.read_bits(5), Err(EndOfStream));
        assert_eq!(r.read_bits(4), Ok(0));
        assert_eq!(r.read_bit(), Err(EndOfStream));
    }
}
