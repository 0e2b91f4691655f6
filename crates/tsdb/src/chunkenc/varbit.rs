//! The variable-width number codings shared by the chunk encodings: `varbit_int` and
//! `varbit_uint` (histograms and start timestamps), Gorilla's XOR value coding, and Go's
//! byte varints written into a bit stream.

use super::bstream::{BitReader, BitWriter, EndOfStream};

/// Why a coded number could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    End,
    /// A varint longer than 64 bits.
    Overflow,
    /// A leading/significant-bits pair that no writer produces.
    BadXorWindow,
    /// A count (of spans, buckets or bounds) larger than the rest of the chunk could hold.
    Implausible(&'static str),
    /// A histogram schema Prometheus does not know.
    UnknownSchema(i32),
}

impl From<EndOfStream> for NumberError {
    fn from(_: EndOfStream) -> Self {
        NumberError::End
    }
}

/// Whether `x` fits the symmetric range of `nbits` bits used by the varbit codings:
/// `-(2^(nbits-1) - 1) ..= 2^(nbits-1)` (see bstream.md).
#[inline]
pub(crate) fn bit_range(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// Undoes the unsigned view of a value written with `bit_range(.., sz)`.
#[inline]
pub(crate) fn sign_extend_symmetric(bits: u64, sz: u32) -> i64 {
    if bits > (1u64 << (sz - 1)) {
        bits.wrapping_sub(1u64 << sz) as i64
    } else {
        bits as i64
    }
}

/// Prefix lengths and payload widths of `varbit_int`/`varbit_uint`, in order.
const VARBIT_WIDTHS: [u32; 8] = [3, 6, 9, 12, 18, 25, 56, 64];

#[inline]
pub(crate) fn put_varbit_int(w: &mut BitWriter, val: i64) {
    if val == 0 {
        w.write_bit(false);
        return;
    }
    for (i, width) in VARBIT_WIDTHS.iter().enumerate().take(7) {
        if bit_range(val, *width) {
            // Prefix of i+1 ones and a zero.
            let prefix_len = i as u32 + 2;
            w.write_bits((1u64 << prefix_len) - 2, prefix_len);
            w.write_bits(val as u64, *width);
            return;
        }
    }
    w.write_bits(0xFF, 8);
    w.write_bits(val as u64, 64);
}

#[inline]
pub(crate) fn put_varbit_uint(w: &mut BitWriter, val: u64) {
    if val == 0 {
        w.write_bit(false);
        return;
    }
    for (i, width) in VARBIT_WIDTHS.iter().enumerate().take(7) {
        if val.leading_zeros() >= 64 - width {
            let prefix_len = i as u32 + 2;
            w.write_bits((1u64 << prefix_len) - 2, prefix_len);
            w.write_bits(val, *width);
            return;
        }
    }
    w.write_bits(0xFF, 8);
    w.write_bits(val, 64);
}

/// Reads the prefix of a varbit number: the index into `VARBIT_WIDTHS`, or `None` for 0.
#[inline]
fn read_varbit_prefix(r: &mut BitReader<'_>) -> Result<Option<usize>, EndOfStream> {
    let mut ones = 0usize;
    while ones < 8 {
        if !r.read_bit()? {
            break;
        }
        ones += 1;
    }
    Ok(match ones {
        0 => None,
        n => Some(n - 1),
    })
}

#[inline]
pub(crate) fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, EndOfStream> {
    match read_varbit_prefix(r)? {
        None => Ok(0),
        Some(7) => Ok(r.read_bits(64)? as i64),
        Some(i) => {
            let sz = VARBIT_WIDTHS[i];
            Ok(sign_extend_symmetric(r.read_bits(sz)?, sz))
        }
    }
}

#[inline]
pub(crate) fn read_varbit_uint(r: &mut BitReader<'_>) -> Result<u64, EndOfStream> {
    match read_varbit_prefix(r)? {
        None => Ok(0),
        Some(i) => r.read_bits(VARBIT_WIDTHS[i]),
    }
}

/// Writes Go's `binary.PutVarint` bytes into the bit stream.
pub(crate) fn put_varint(w: &mut BitWriter, v: i64) {
    let ux = ((v as u64) << 1) ^ ((v >> 63) as u64);
    put_uvarint(w, ux);
}

/// Writes Go's `binary.PutUvarint` bytes into the bit stream.
pub(crate) fn put_uvarint(w: &mut BitWriter, mut v: u64) {
    while v >= 0x80 {
        w.write_byte((v as u8) | 0x80);
        v >>= 7;
    }
    w.write_byte(v as u8);
}

/// Reads a value written by `put_uvarint`, with Go's overflow rules.
pub(crate) fn read_uvarint(r: &mut BitReader<'_>) -> Result<u64, NumberError> {
    let mut x = 0u64;
    let mut shift = 0u32;
    for i in 0..10 {
        let b = r.read_byte()?;
        if b < 0x80 {
            if i == 9 && b > 1 {
                return Err(NumberError::Overflow);
            }
            return Ok(x | (u64::from(b) << shift));
        }
        x |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    Err(NumberError::Overflow)
}

pub(crate) fn read_varint(r: &mut BitReader<'_>) -> Result<i64, NumberError> {
    let ux = read_uvarint(r)?;
    let x = (ux >> 1) as i64;
    Ok(if ux & 1 != 0 { !x } else { x })
}

/// No XOR window has been written yet (Prometheus' `leading == 0xff`).
pub(crate) const NO_WINDOW: u8 = 0xff;

/// Gorilla XOR coding of `new` against `cur` (`varbit_xor`): `0` for equal values, `10` and
/// the significant bits when they fit the previous leading/trailing window, else `11`, five
/// bits of leading zeros, six bits of significant-bit count and the bits.
#[inline]
pub(crate) fn xor_write(
    w: &mut BitWriter,
    new: f64,
    cur: f64,
    leading: &mut u8,
    trailing: &mut u8,
) {
    let delta = new.to_bits() ^ cur.to_bits();
    if delta == 0 {
        w.write_bit(false);
        return;
    }
    w.write_bit(true);
    xor_write_nonzero(w, delta, leading, trailing, false);
}

/// Writes a non-zero XOR `delta` either in the current window (control bit 0) or with a new
/// window (control bit 1). With `xor2_new_window_prefix` the new-window control is written
/// by the caller (XOR2 uses different prefixes).
#[inline]
pub(crate) fn xor_write_nonzero(
    w: &mut BitWriter,
    delta: u64,
    leading: &mut u8,
    trailing: &mut u8,
    caller_writes_control: bool,
) {
    let mut new_leading = delta.leading_zeros() as u8;
    let new_trailing = delta.trailing_zeros() as u8;
    // Five bits hold at most 31.
    if new_leading >= 32 {
        new_leading = 31;
    }
    if *leading != NO_WINDOW && new_leading >= *leading && new_trailing >= *trailing {
        if !caller_writes_control {
            w.write_bit(false);
        }
        w.write_bits(
            delta >> *trailing,
            64 - u32::from(*leading) - u32::from(*trailing),
        );
        return;
    }
    *leading = new_leading;
    *trailing = new_trailing;
    if !caller_writes_control {
        w.write_bit(true);
    }
    write_new_window(w, delta, new_leading, new_trailing);
}

/// Writes leading (5 bits), significant-bit count (6 bits, 64 written as 0) and the bits.
#[inline]
pub(crate) fn write_new_window(w: &mut BitWriter, delta: u64, leading: u8, trailing: u8) {
    w.write_bits(u64::from(leading), 5);
    let sigbits = 64 - u32::from(leading) - u32::from(trailing);
    w.write_bits(u64::from(sigbits), 6);
    w.write_bits(delta >> trailing, sigbits);
}

/// Reads a value written by `xor_write`, updating `value` and the window.
#[inline]
pub(crate) fn xor_read(
    r: &mut BitReader<'_>,
    value: &mut f64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<(), NumberError> {
    if !r.read_bit()? {
        return Ok(());
    }
    if !r.read_bit()? {
        xor_read_in_window(r, value, *leading, *trailing)
    } else {
        xor_read_new_window(r, value, leading, trailing)
    }
}

/// Reads significant bits in the current window and applies them to `value`.
#[inline]
pub(crate) fn xor_read_in_window(
    r: &mut BitReader<'_>,
    value: &mut f64,
    leading: u8,
    trailing: u8,
) -> Result<(), NumberError> {
    let mbits = 64u32
        .checked_sub(u32::from(leading) + u32::from(trailing))
        .ok_or(NumberError::BadXorWindow)?;
    let bits = r.read_bits(mbits)?;
    let shifted = if trailing >= 64 { 0 } else { bits << trailing };
    *value = f64::from_bits(value.to_bits() ^ shifted);
    Ok(())
}

/// Reads a new window (leading, sigbits) and its bits and applies them to `value`.
#[inline]
pub(crate) fn xor_read_new_window(
    r: &mut BitReader<'_>,
    value: &mut f64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<(), NumberError> {
    let new_leading = r.read_bits(5)? as u8;
    let mut mbits = r.read_bits(6)? as u32;
    // 0 significant bits stands for 64 (it never needs encoding as such).
    if mbits == 0 {
        mbits = 64;
    }
    let new_trailing = 64u32
        .checked_sub(u32::from(new_leading) + mbits)
        .ok_or(NumberError::BadXorWindow)? as u8;
    *leading = new_leading;
    *trailing = new_trailing;
    xor_read_in_window(r, value, new_leading, new_trailing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varbit_int_round_trip_and_widths() {
        let cases: [(i64, usize); 12] = [
            (0, 1),
            (1, 5),
            (-3, 5),
            (4, 5),
            (5, 9),
            (-31, 9),
            (32, 9),
            (-255, 13),
            (2048, 17),
            (131_072, 24),
            (16_777_216, 32),
            (i64::MIN, 72),
        ];
        for (v, bits) in cases {
            let mut w = BitWriter::default();
            put_varbit_int(&mut w, v);
            let expect_bytes = bits.div_ceil(8);
            assert!(
                w.bytes().len() == expect_bytes || w.bytes().len() == expect_bytes + 1,
                "{v}: {} bytes",
                w.bytes().len()
            );
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            assert_eq!(read_varbit_int(&mut r), Ok(v));
            assert_eq!(r.position(), bits, "{v}");
        }
    }

    #[test]
    fn varbit_uint_round_trip() {
        for v in [
            0u64,
            1,
            7,
            8,
            63,
            64,
            511,
            4095,
            262_143,
            33_554_431,
            1 << 56,
            u64::MAX,
        ] {
            let mut w = BitWriter::default();
            put_varbit_uint(&mut w, v);
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            assert_eq!(read_varbit_uint(&mut r), Ok(v));
        }
    }

    #[test]
    fn varints_match_go() {
        let mut w = BitWriter::default();
        put_varint(&mut w, -1);
        put_uvarint(&mut w, 300);
        put_varint(&mut w, i64::MIN);
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..3], &[0x01, 0xAC, 0x02]);
        let mut r = BitReader::new(&bytes);
        assert_eq!(read_varint(&mut r), Ok(-1));
        assert_eq!(read_uvarint(&mut r), Ok(300));
        assert_eq!(read_varint(&mut r), Ok(i64::MIN));
    }

    #[test]
    fn uvarint_overflow_is_an_error() {
        let bytes = [0xFFu8; 11];
        let mut r = BitReader::new(&bytes);
        assert_eq!(read_uvarint(&mut r), Err(NumberError::Overflow));
    }
}
