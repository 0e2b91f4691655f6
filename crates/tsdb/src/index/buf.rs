//! Byte-level encoding shared by the index and tombstones files: big-endian fixed-width
//! integers, Go-compatible varints and uvarint-length-prefixed strings. Every read is
//! bounds-checked so corrupt input yields a [`DecodeError`], never a panic.

/// Why bytes could not be decoded. Callers add the file and section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected end of data")]
    Truncated,
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
}

/// A cursor over a byte slice; decoded strings and slices borrow the input.
#[derive(Debug, Clone, Copy)]
pub struct ByteDecoder<'a> {
    b: &'a [u8],
}

impl<'a> ByteDecoder<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        ByteDecoder { b }
    }

    /// Bytes not consumed yet.
    pub fn len(&self) -> usize {
        self.b.len()
    }

    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.b.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, tail) = self.b.split_first().ok_or(DecodeError::Truncated)?;
        self.b = tail;
        Ok(first)
    }

    pub fn be32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn be64(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Go's `binary.Uvarint`: at most 10 bytes, the 10th may only hold the top bit.
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut x: u64 = 0;
        let mut shift = 0u32;
        for i in 0..self.b.len() {
            let byte = self.b[i];
            if i == 9 && byte > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            if byte < 0x80 {
                self.b = &self.b[i + 1..];
                return Ok(x | (u64::from(byte) << shift));
            }
            x |= u64::from(byte & 0x7f) << shift;
            shift += 7;
        }
        Err(DecodeError::Truncated)
    }

    /// Go's `binary.Varint` (zig-zag).
    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        let ux = self.uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }

    /// A uvarint that must fit in `usize` (lengths, counts).
    pub fn uvarint_len(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.uvarint()?).map_err(|_| DecodeError::Truncated)
    }

    /// A uvarint that must fit in 32 bits (symbol references).
    pub fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.uvarint()?).map_err(|_| DecodeError::VarintOverflow)
    }

    pub fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uvarint_len()?;
        self.bytes(n)
    }

    pub fn uvarint_str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.uvarint_bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Appending encoders for the same primitives.
pub trait ByteEncoder {
    fn put_be32(&mut self, v: u32);
    fn put_be64(&mut self, v: u64);
    fn put_uvarint(&mut self, v: u64);
    fn put_varint(&mut self, v: i64);
    fn put_uvarint_str(&mut self, s: &str);
}

impl ByteEncoder for Vec<u8> {
    fn put_be32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put_be64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }

    fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_like_go() {
        let mut b = Vec::new();
        let us = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let is = [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX];
        for &u in &us {
            b.put_uvarint(u);
        }
        for &i in &is {
            b.put_varint(i);
        }
        // Go encodes 300 as ac 02 and -1 as 01.
        assert_eq!(&b[5..7], &[0xac, 0x02]);
        let mut d = ByteDecoder::new(&b);
        for &u in &us {
            assert_eq!(d.uvarint().unwrap(), u);
        }
        for &i in &is {
            assert_eq!(d.varint().unwrap(), i);
        }
        assert!(d.is_empty());
    }

    #[test]
    fn bad_varints_are_errors() {
        assert_eq!(
            ByteDecoder::new(&[0x80, 0x80]).uvarint(),
            Err(DecodeError::Truncated)
        );
        let eleven = [0xffu8; 11];
        assert_eq!(
            ByteDecoder::new(&eleven).uvarint(),
            Err(DecodeError::VarintOverflow)
        );
        let mut tenth_too_big = [0xffu8; 10];
        tenth_too_big[9] = 0x02;
        assert_eq!(
            ByteDecoder::new(&tenth_too_big).uvarint(),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(
            ByteDecoder::new(&[3, b'a']).uvarint_str(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            ByteDecoder::new(&[1, 0xff]).uvarint_str(),
            Err(DecodeError::InvalidUtf8)
        );
    }
}
