//! Start-timestamp (ST) coding shared by the `XOR2`, `histogramST` and `floathistogramST`
//! encodings (Prometheus 3.14, experimental).
//!
//! One header byte says whether the first sample's ST is stored (bit 7) and from which
//! sample on every sample stores one (bits 0..6, `st_changed_on`). The first ST is a varint
//! of `t - st`; the first changed ST is `varbit_int(prev_t - st)`, each later one the
//! delta of that difference. From sample 127 on an ST is always stored, so the 7-bit
//! header can always say where storing started.

use hearth_model::Timestamp;

use super::bstream::{BitReader, BitWriter};
use super::varbit::{NumberError, put_varbit_int, put_varint, read_varbit_int, read_varint};

/// The last sample index that `st_changed_on` can name.
pub(crate) const MAX_FIRST_ST_CHANGE_ON: u16 = 0x7F;

/// Bit 7 of the ST header: the first sample's ST is stored.
const FIRST_ST_KNOWN: u8 = 0x80;

/// Splits the ST header byte.
pub(crate) fn read_st_header(b: u8) -> (bool, u8) {
    (b & FIRST_ST_KNOWN != 0, b & 0x7F)
}

/// Encoder state for the ST field after each sample.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StEncoder {
    pub(crate) st: Timestamp,
    pub(crate) st_diff: i64,
    pub(crate) first_change_on: u16,
    pub(crate) first_known: bool,
}

impl StEncoder {
    /// Writes the ST of the sample just appended. `num` counts samples including it;
    /// `header_at` is the ST header byte's index in the stream.
    pub(crate) fn encode(
        &mut self,
        w: &mut BitWriter,
        header_at: usize,
        num: u16,
        cur_t: Timestamp,
        prev_t: Timestamp,
        st: Timestamp,
    ) {
        match num {
            1 => {
                if st != 0 {
                    put_varint(w, cur_t.wrapping_sub(st));
                    self.first_known = true;
                    w.bytes_mut()[header_at] = FIRST_ST_KNOWN;
                }
            }
            2 => {
                if st != self.st {
                    let st_diff = prev_t.wrapping_sub(st);
                    self.first_change_on = 1;
                    w.bytes_mut()[header_at] |= 1;
                    put_varbit_int(w, st_diff);
                    self.st_diff = st_diff;
                }
            }
            _ => {
                let index = num - 1;
                let nothing_to_write = st == 0
                    && index != MAX_FIRST_ST_CHANGE_ON
                    && self.first_change_on == 0
                    && !self.first_known;
                if nothing_to_write {
                    // No ST seen yet and none to store: the common case costs no bits.
                } else if self.first_change_on == 0 {
                    if st != self.st || index == MAX_FIRST_ST_CHANGE_ON {
                        let st_diff = prev_t.wrapping_sub(st);
                        self.first_change_on = index;
                        if index <= MAX_FIRST_ST_CHANGE_ON {
                            w.bytes_mut()[header_at] |= index as u8;
                        }
                        put_varbit_int(w, st_diff);
                        self.st_diff = st_diff;
                    }
                } else {
                    let st_diff = prev_t.wrapping_sub(st);
                    put_varbit_int(w, st_diff.wrapping_sub(self.st_diff));
                    self.st_diff = st_diff;
                }
            }
        }
        self.st = st;
    }
}

/// Decoder state for the ST field after each sample.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StDecoder {
    pub(crate) st: Timestamp,
    pub(crate) st_diff: i64,
    pub(crate) first_change_on: u8,
    pub(crate) first_known: bool,
}

impl StDecoder {
    pub(crate) fn from_header(b: u8) -> Self {
        let (first_known, first_change_on) = read_st_header(b);
        StDecoder {
            first_known,
            first_change_on,
            ..Default::default()
        }
    }

    /// Reads the ST after sample number `num_read` (counting it) whose timestamp is
    /// `cur_t`, the previous sample's being `prev_t`.
    pub(crate) fn decode(
        &mut self,
        r: &mut BitReader<'_>,
        num_read: u16,
        cur_t: Timestamp,
        prev_t: Timestamp,
    ) -> Result<(), NumberError> {
        match num_read {
            1 => {
                if self.first_known {
                    let st_diff = read_varint(r)?;
                    self.st_diff = st_diff;
                    self.st = cur_t.wrapping_sub(st_diff);
                }
            }
            2 => {
                if self.first_change_on == 1 {
                    let sdod = read_varbit_int(r)?;
                    self.st_diff = sdod;
                    self.st = prev_t.wrapping_sub(sdod);
                }
            }
            _ => {
                let index = num_read - 1;
                let change_on = u16::from(self.first_change_on);
                if change_on > 0 && index >= change_on {
                    let sdod = read_varbit_int(r)?;
                    if index == change_on {
                        self.st_diff = sdod;
                    } else {
                        self.st_diff = self.st_diff.wrapping_add(sdod);
                    }
                    self.st = prev_t.wrapping_sub(self.st_diff);
                }
            }
        }
        Ok(())
    }

    /// The encoder state that continues where this decoder stopped.
    pub(crate) fn encoder(&self) -> StEncoder {
        StEncoder {
            st: self.st,
            st_diff: self.st_diff,
            first_change_on: u16::from(self.first_change_on),
            first_known: self.first_known,
        }
    }
}
