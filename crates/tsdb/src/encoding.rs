//! The byte-level primitives every TSDB file format is made of (upstream's
//! `tsdb/encoding`): big-endian fixed-width integers and floats, Go's LEB128 unsigned
//! varints and zigzag signed varints, and uvarint-length-prefixed bytes and strings.
//!
//! One reader ([`Decbuf`]) and one writer ([`Encbuf`], on `Vec<u8>`) serve the WAL
//! records, the block index, tombstones and chunk files alike. Every read is bounds-checked:
//! corrupt input gives a [`DecodeError`] (callers add the file and offset), never a panic.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("unexpected end of data")]
    Truncated,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A uvarint that had to fit 32 bits did not.
    #[error("uvarint overflows 32 bits")]
    Uvarint32Overflow,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
}

/// A cursor over borrowed bytes; decoded slices and strings borrow the input.
#[derive(Debug, Clone, Copy)]
pub struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    pub fn new(b: &'a [u8]) -> Decbuf<'a> {
        Decbuf { b, pos: 0 }
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not consumed yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// The bytes not consumed yet.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.pos.min(self.b.len())..]
    }

    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.b[start..self.pos])
    }

    #[inline]
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let v = *self.b.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    pub fn be32(&mut self) -> Result<u32, DecodeError> {
        let Some(a) = self.rest().first_chunk::<4>() else {
            return Err(DecodeError::Truncated);
        };
        self.pos += 4;
        Ok(u32::from_be_bytes(*a))
    }

    #[inline(always)]
    pub fn be64(&mut self) -> Result<u64, DecodeError> {
        let Some(a) = self.rest().first_chunk::<8>() else {
            return Err(DecodeError::Truncated);
        };
        self.pos += 8;
        Ok(u64::from_be_bytes(*a))
    }

    #[inline]
    pub fn be64_i64(&mut self) -> Result<i64, DecodeError> {
        self.be64().map(|v| v as i64)
    }

    #[inline]
    pub fn be64_f64(&mut self) -> Result<f64, DecodeError> {
        self.be64().map(f64::from_bits)
    }

    /// Go's `binary.Uvarint`: at most 10 bytes, the 10th at most 1.
    #[inline(always)]
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        // One- and two-byte values dominate (ref and time deltas, lengths): take them
        // without the general loop.
        let rest = self.rest();
        if let [b0, tail @ ..] = rest {
            if *b0 < 0x80 {
                self.pos += 1;
                return Ok(u64::from(*b0));
            }
            if let [b1, ..] = tail
                && *b1 < 0x80
            {
                self.pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(*b1) << 7));
            }
        }
        let (v, n) = uvarint_prefix(rest)?;
        self.pos += n;
        Ok(v)
    }

    /// Go's `binary.Varint` (zigzag).
    #[inline(always)]
    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        self.uvarint().map(unzigzag)
    }

    /// A uvarint that must fit 32 bits (symbol references, span lengths).
    pub fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.uvarint()?).map_err(|_| DecodeError::Uvarint32Overflow)
    }

    /// A uvarint that must fit `usize` (lengths, counts).
    pub fn uvarint_len(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.uvarint()?).map_err(|_| DecodeError::Truncated)
    }

    /// A uvarint length followed by that many bytes.
    pub fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uvarint()?;
        if n > self.remaining() as u64 {
            return Err(DecodeError::Truncated);
        }
        self.bytes(n as usize)
    }

    /// Go's `binary.Uvarint`, zigzag `binary.Varint` and a big-endian `f64` in a row
    /// (a V1 WAL sample entry: ref delta, time delta, value), read from a fixed 28-byte
    /// window (two 10-byte varints and the value) so the compiler drops the per-byte
    /// bounds checks. Fewer than 28 bytes left is [`DecodeError::Truncated`] even when
    /// the entry itself would fit: callers take the general path near the end.
    #[inline(always)]
    pub fn sample_entry(&mut self) -> Result<(i64, i64, f64), DecodeError> {
        let Some(w) = self.rest().first_chunk::<28>() else {
            return Err(DecodeError::Truncated);
        };
        let (r, i) = uvarint_in(w, 0)?;
        let (t, j) = uvarint_in(w, i)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(&w[j..j + 8]);
        self.pos += j + 8;
        Ok((
            unzigzag(r),
            unzigzag(t),
            f64::from_bits(u64::from_be_bytes(v)),
        ))
    }

    /// A uvarint length followed by that many bytes of UTF-8.
    pub fn uvarint_str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.uvarint_bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Go's `binary.Varint` of an already read uvarint.
#[inline(always)]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// A uvarint starting at `w[start]` (`start` <= 10, so all ten bytes are in the window).
#[inline(always)]
fn uvarint_in(w: &[u8; 28], start: usize) -> Result<(u64, usize), DecodeError> {
    let mut x = 0u64;
    for k in 0..10 {
        let c = w[start + k];
        if c < 0x80 {
            if k == 9 && c > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            return Ok((x | (u64::from(c) << (7 * k)), start + k + 1));
        }
        x |= u64::from(c & 0x7f) << (7 * k);
    }
    Err(DecodeError::VarintOverflow)
}

/// The uvarint at the start of `b` and its length in bytes (the general, slow path).
#[inline(never)]
pub fn uvarint_prefix(b: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut x: u64 = 0;
    for (i, &c) in b.iter().take(10).enumerate() {
        if c < 0x80 {
            if i == 9 && c > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            return Ok((x | (u64::from(c) << (7 * i)), i + 1));
        }
        x |= u64::from(c & 0x7f) << (7 * i);
    }
    if b.len() >= 10 {
        Err(DecodeError::VarintOverflow)
    } else {
        Err(DecodeError::Truncated)
    }
}

/// Appending writers of the same primitives, byte for byte what Go writes.
pub trait Encbuf {
    fn put_be32(&mut self, v: u32);
    fn put_be64(&mut self, v: u64);
    fn put_uvarint(&mut self, v: u64);
    fn put_varint(&mut self, v: i64);
    fn put_uvarint_bytes(&mut self, b: &[u8]);
    fn put_uvarint_str(&mut self, s: &str);
}

impl Encbuf for Vec<u8> {
    #[inline]
    fn put_be32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn put_be64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }

    #[inline]
    fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn put_uvarint_bytes(&mut self, b: &[u8]) {
        self.put_uvarint(b.len() as u64);
        self.extend_from_slice(b);
    }

    fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint_bytes(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        // Values and encodings from Go's binary.PutVarint / PutUvarint.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (150, &[0xac, 0x02]),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, enc) in cases {
            let mut b = Vec::new();
            b.put_varint(*v);
            assert_eq!(&b, enc, "{v}");
            assert_eq!(Decbuf::new(enc).varint(), Ok(*v));
        }
        let us = [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ];
        let mut b = Vec::new();
        for u in us {
            b.put_uvarint(u);
        }
        let mut d = Decbuf::new(&b);
        for u in us {
            assert_eq!(d.uvarint(), Ok(u));
        }
        assert!(d.is_empty());
    }

    #[test]
    fn bad_input_is_an_error() {
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Decbuf::new(&over).uvarint(),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(
            Decbuf::new(&[0x80; 11]).uvarint(),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(
            Decbuf::new(&[0x80, 0x80]).uvarint(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Decbuf::new(&[]).byte(), Err(DecodeError::Truncated));
        assert_eq!(Decbuf::new(&[1, 2, 3]).be32(), Err(DecodeError::Truncated));
        assert_eq!(
            Decbuf::new(&[5, 1, 2]).uvarint_bytes(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Decbuf::new(&[3, b'a']).uvarint_str(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Decbuf::new(&[1, 0xff]).uvarint_str(),
            Err(DecodeError::InvalidUtf8)
        );
        let mut b = Vec::new();
        b.put_uvarint(1 << 32);
        assert_eq!(
            Decbuf::new(&b).uvarint32(),
            Err(DecodeError::Uvarint32Overflow)
        );
    }

    #[test]
    fn fixed_width_and_strings_round_trip() {
        let mut b = Vec::new();
        b.put_be32(0x0130_BA30);
        b.put_be64(u64::MAX - 1);
        b.put_uvarint_str("héllo");
        b.put_uvarint_bytes(&[9, 8]);
        assert_eq!(&b[..4], &[0x01, 0x30, 0xba, 0x30]);
        let mut d = Decbuf::new(&b);
        assert_eq!(d.be32(), Ok(0x0130_BA30));
        assert_eq!(d.be64(), Ok(u64::MAX - 1));
        assert_eq!(d.uvarint_str(), Ok("héllo"));
        assert_eq!(d.pos(), 4 + 8 + 7);
        assert_eq!(d.rest(), &[2, 9, 8]);
        assert_eq!(d.uvarint_bytes(), Ok(&[9u8, 8][..]));
        assert_eq!(d.remaining(), 0);
    }
}
