//! Primitive encodings of record payloads, as Go's `encoding/binary` and Prometheus'
//! `tsdb/encoding` write them: big-endian fixed-width integers and floats, LEB128
//! unsigned varints and zigzag signed varints.

/// Why a primitive could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeFault {
    /// The input ended inside a value.
    Truncated,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    VarintOverflow,
    /// A uvarint that had to fit 32 bits did not.
    Uvarint32Overflow,
}

/// A cursor over a record's bytes.
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Decbuf<'a> {
        Decbuf { b, pos: 0 }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8, DecodeFault> {
        let v = *self.b.get(self.pos).ok_or(DecodeFault::Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    #[inline(always)]
    pub(crate) fn be64(&mut self) -> Result<u64, DecodeFault> {
        let rest = &self.b[self.pos.min(self.b.len())..];
        let Some(a) = rest.first_chunk::<8>() else {
            return Err(DecodeFault::Truncated);
        };
        self.pos += 8;
        Ok(u64::from_be_bytes(*a))
    }

    #[inline]
    pub(crate) fn be64_i64(&mut self) -> Result<i64, DecodeFault> {
        self.be64().map(|v| v as i64)
    }

    #[inline]
    pub(crate) fn be64_f64(&mut self) -> Result<f64, DecodeFault> {
        self.be64().map(f64::from_bits)
    }

    /// LEB128 as Go's `binary.Uvarint`: at most 10 bytes, the 10th at most 1.
    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeFault> {
        // One- and two-byte values dominate replay (ref and time deltas, lengths): take
        // them without the general loop.
        let rest = &self.b[self.pos.min(self.b.len())..];
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
        self.uvarint_slow()
    }

    #[inline(never)]
    fn uvarint_slow(&mut self) -> Result<u64, DecodeFault> {
        let mut x: u64 = 0;
        let mut shift = 0u32;
        for i in 0..10 {
            let b = *self.b.get(self.pos + i).ok_or(DecodeFault::Truncated)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(DecodeFault::VarintOverflow);
                }
                self.pos += i + 1;
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(DecodeFault::VarintOverflow)
    }

    /// A V1 sample entry (zigzag ref delta, zigzag time delta, value bits) read from a
    /// fixed 28-byte window (two 10-byte varints and the value), so the compiler can drop
    /// the per-byte bounds checks. Callers make sure 28 bytes remain.
    #[inline(always)]
    pub(crate) fn sample_entry(&mut self) -> Result<(i64, i64, f64), DecodeFault> {
        let rest = &self.b[self.pos.min(self.b.len())..];
        let Some(w) = rest.first_chunk::<28>() else {
            return Err(DecodeFault::Truncated);
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

    /// Zigzag varint as Go's `binary.Varint`.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<i64, DecodeFault> {
        self.uvarint().map(unzigzag)
    }

    pub(crate) fn uvarint32(&mut self) -> Result<u32, DecodeFault> {
        u32::try_from(self.uvarint()?).map_err(|_| DecodeFault::Uvarint32Overflow)
    }

    /// A uvarint length followed by that many bytes.
    pub(crate) fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeFault> {
        let n = self.uvarint()?;
        if n > self.remaining() as u64 {
            return Err(DecodeFault::Truncated);
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.b[start..self.pos])
    }
}

#[inline(always)]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// A uvarint starting at `w[start]` (`start` <= 10, so all ten bytes are in the window).
#[inline(always)]
fn uvarint_in(w: &[u8; 28], start: usize) -> Result<(u64, usize), DecodeFault> {
    let mut x = 0u64;
    for k in 0..10 {
        let c = w[start + k];
        if c < 0x80 {
            if k == 9 && c > 1 {
                return Err(DecodeFault::VarintOverflow);
            }
            return Ok((x | (u64::from(c) << (7 * k)), start + k + 1));
        }
        x |= u64::from(c & 0x7f) << (7 * k);
    }
    Err(DecodeFault::VarintOverflow)
}

#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

#[inline]
pub(crate) fn put_be64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_uvarint_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
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
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, enc) in cases {
            let mut b = Vec::new();
            put_varint(&mut b, *v);
            assert_eq!(&b, enc, "{v}");
            assert_eq!(Decbuf::new(enc).varint(), Ok(*v));
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
        assert_eq!(Decbuf::new(&b).uvarint(), Ok(u64::MAX));
    }

    #[test]
    fn bad_varints() {
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Decbuf::new(&over).uvarint(),
            Err(DecodeFault::VarintOverflow)
        );
        let long = [0x80; 11];
        assert_eq!(
            Decbuf::new(&long).uvarint(),
            Err(DecodeFault::VarintOverflow)
        );
        assert_eq!(
            Decbuf::new(&[0x80, 0x80]).uvarint(),
            Err(DecodeFault::Truncated)
        );
        assert_eq!(Decbuf::new(&[]).byte(), Err(DecodeFault::Truncated));
        assert_eq!(
            Decbuf::new(&[5, 1, 2]).uvarint_bytes(),
            Err(DecodeFault::Truncated)
        );
        let mut b = Vec::new();
        put_uvarint(&mut b, 1 << 32);
        assert_eq!(
            Decbuf::new(&b).uvarint32(),
            Err(DecodeFault::Uvarint32Overflow)
        );
    }
}
