//! The symbol table: the sorted, deduplicated strings label pairs refer to.
//!
//! Only every [`SAMPLING_FACTOR`]th entry's position is held in memory; a lookup walks
//! at most that many entries from the nearest sample, as upstream does.

use super::{FORMAT_V1, SAMPLING_FACTOR, checked_section};
use crate::encoding::Decbuf;

/// Positions of a parsed symbol table inside the file it was read from.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolTable {
    version: u8,
    /// Absolute offsets of symbols 0, 32, 64, ...
    samples: Vec<usize>,
    count: usize,
    /// Absolute range of the entries (after the count, before the checksum).
    start: usize,
    end: usize,
}

impl SymbolTable {
    /// Verifies the table at `off` (length, checksum, every entry) and samples it.
    pub fn parse(data: &[u8], version: u8, off: usize) -> Result<Self, String> {
        let body = checked_section(data, off)?;
        let mut d = Decbuf::new(body);
        let count = d.be32().map_err(|e| format!("symbol count: {e}"))? as usize;
        let start = off + 8;
        let end = off + 4 + body.len();
        let mut samples = Vec::new();
        let mut seen = 0;
        while seen < count {
            if seen % SAMPLING_FACTOR == 0 {
                samples.push(end - d.remaining());
            }
            d.uvarint_str()
                .map_err(|e| format!("symbol {seen} of {count}: {e}"))?;
            seen += 1;
        }
        Ok(SymbolTable {
            version,
            samples,
            count,
            start,
            end,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes the sampled positions take in memory.
    pub fn sample_bytes(&self) -> usize {
        self.samples.len() * std::mem::size_of::<usize>()
    }

    /// The symbol with reference `r`: a table position in v2, a file offset in v1.
    pub fn lookup<'a>(&self, data: &'a [u8], r: u32) -> Result<&'a str, String> {
        let entries = data
            .get(..self.end)
            .ok_or_else(|| "symbol table past the end of the file".to_string())?;
        let r = r as usize;
        let mut d;
        if self.version == FORMAT_V1 {
            if r < self.start || r >= self.end {
                return Err(format!(
                    "symbol offset {r} outside the table {}..{}",
                    self.start, self.end
                ));
            }
            d = Decbuf::new(&entries[r..]);
        } else {
            if r >= self.count {
                return Err(format!(
                    "symbol reference {r} out of range ({} symbols)",
                    self.count
                ));
            }
            let sample = self.samples[r / SAMPLING_FACTOR];
            d = Decbuf::new(&entries[sample..]);
            for _ in 0..r % SAMPLING_FACTOR {
                d.uvarint_bytes().map_err(|e| format!("symbol {r}: {e}"))?;
            }
        }
        d.uvarint_str().map_err(|e| format!("symbol {r}: {e}"))
    }

    /// The reference of `sym`, by binary search over the samples.
    pub fn reverse_lookup(&self, data: &[u8], sym: &str) -> Result<u32, String> {
        let entries = data
            .get(..self.end)
            .ok_or_else(|| "symbol table past the end of the file".to_string())?;
        let at = |off: usize| Decbuf::new(&entries[off..]).uvarint_str();
        // First sample greater than `sym`; the symbol, if present, is in the run before it.
        let mut lo = 0;
        let mut hi = self.samples.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let s = at(self.samples[mid]).map_err(|e| format!("symbol sample {mid}: {e}"))?;
            if s > sym {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let Some(run) = lo.checked_sub(1) else {
            return Err(format!("unknown symbol {sym:?}"));
        };
        let mut d = Decbuf::new(&entries[self.samples[run]..]);
        let mut index = run * SAMPLING_FACTOR;
        while index < self.count {
            let entry_off = self.end - d.remaining();
            let s = d
                .uvarint_str()
                .map_err(|e| format!("symbol {index}: {e}"))?;
            if s == sym {
                let r = if self.version == FORMAT_V1 {
                    entry_off
                } else {
                    index
                };
                return u32::try_from(r)
                    .map_err(|_| format!("symbol reference {r} exceeds 32 bits"));
            }
            if s > sym {
                break;
            }
            index += 1;
        }
        Err(format!("unknown symbol {sym:?}"))
    }

    /// Every symbol in table order.
    pub fn iter<'a>(&self, data: &'a [u8]) -> RawSymbolsIter<'a> {
        let entries = data.get(self.start.min(self.end)..self.end).unwrap_or(&[]);
        RawSymbolsIter {
            d: Decbuf::new(entries),
            left: self.count,
        }
    }
}

/// Iterator over a symbol table's strings.
pub(crate) struct RawSymbolsIter<'a> {
    d: Decbuf<'a>,
    left: usize,
}

impl<'a> Iterator for RawSymbolsIter<'a> {
    type Item = Result<&'a str, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.d.uvarint_str() {
            Ok(s) => Some(Ok(s)),
            Err(e) => {
                self.left = 0;
                Some(Err(format!("symbol: {e}")))
            }
        }
    }
}
