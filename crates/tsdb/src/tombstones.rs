//! Tombstones: deleted time ranges per series of a block, and the `<block>/tombstones` file.
//!
//! Owns the [`Interval`]/[`Intervals`] algebra (closed ranges, merged when they touch),
//! the in-memory [`MemTombstones`] store behind the [`TombstoneReader`] trait, and the
//! file format: magic `0x0130BA30`, version byte 1, then `(series ref <uvarint>, mint
//! <varint>, maxt <varint>)` per interval, then a CRC32C over the entries (the version
//! byte excluded, as upstream).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use hearth_model::{FloatHistogram, Histogram};

use crate::block_meta::write_file_atomically;
use crate::encoding::{Decbuf, Encbuf};
use crate::storage::{SampleIterator, StorageError, ValueType};

/// Name of the tombstones file inside a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// First 4 bytes of a tombstones file.
pub const MAGIC_TOMBSTONE: u32 = 0x0130_BA30;
const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;

/// A closed time range `[mint, maxt]` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    pub mint: i64,
    pub maxt: i64,
}

impl Interval {
    pub fn new(mint: i64, maxt: i64) -> Interval {
        Interval { mint, maxt }
    }

    pub fn in_bounds(&self, t: i64) -> bool {
        t >= self.mint && t <= self.maxt
    }

    /// Whether one of `ivs` covers this whole interval.
    pub fn is_subrange(&self, ivs: &[Interval]) -> bool {
        ivs.iter()
            .any(|r| r.in_bounds(self.mint) && r.in_bounds(self.maxt))
    }
}

/// Ascending, non-overlapping, non-adjacent intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Interval>);

impl Intervals {
    pub fn new() -> Intervals {
        Intervals::default()
    }

    /// Adds `n`, merging it with every interval it overlaps or touches (timestamps are
    /// discrete, so `[1,2]` and `[3,4]` become `[1,4]`).
    pub fn add(&mut self, n: Interval) {
        let v = &mut self.0;
        // First interval that overlaps or touches n, from the left.
        let lo = if n.mint == i64::MIN {
            0
        } else {
            v.partition_point(|iv| iv.maxt < n.mint - 1)
        };
        if lo == v.len() {
            v.push(n);
            return;
        }
        // Number of intervals from `lo` that overlap or touch n.
        let count = if n.maxt == i64::MAX {
            v.len() - lo
        } else {
            v[lo..].partition_point(|iv| iv.mint <= n.maxt + 1)
        };
        if count == 0 {
            v.insert(lo, n);
            return;
        }
        let last = lo + count - 1;
        let merged = Interval {
            mint: v[lo].mint.min(n.mint),
            maxt: v[last].maxt.max(n.maxt),
        };
        v[lo] = merged;
        v.drain(lo + 1..=last);
    }

    pub fn as_slice(&self) -> &[Interval] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Interval> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `t` falls in one of the intervals.
    pub fn contains(&self, t: i64) -> bool {
        self.0.iter().any(|iv| iv.in_bounds(t))
    }
}

impl<'a> IntoIterator for &'a Intervals {
    type Item = &'a Interval;
    type IntoIter = std::slice::Iter<'a, Interval>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Read access to the deleted intervals of a block's series.
pub trait TombstoneReader {
    /// The deleted intervals of series `series_ref` (empty when none).
    fn get(&self, series_ref: u64) -> Intervals;
    /// Calls `f` for every series with tombstones, in ascending ref order.
    fn for_each(&self, f: &mut dyn FnMut(u64, &Intervals));
    /// Total number of intervals.
    fn total(&self) -> u64;
}

/// Tombstones held in memory, safe to share between threads.
#[derive(Debug, Default)]
pub struct MemTombstones {
    groups: RwLock<HashMap<u64, Intervals>>,
}

impl MemTombstones {
    pub fn new() -> MemTombstones {
        MemTombstones::default()
    }

    /// Marks `iv` deleted for series `series_ref`.
    pub fn add_interval(&self, series_ref: u64, iv: Interval) {
        self.groups.write().entry(series_ref).or_default().add(iv);
    }

    /// Drops all tombstones of the given series.
    pub fn delete_tombstones(&self, refs: impl IntoIterator<Item = u64>) {
        let mut g = self.groups.write();
        for r in refs {
            g.remove(&r);
        }
    }

    /// Drops intervals that end before `before` (head truncation).
    pub fn truncate_before(&self, before: i64) {
        self.groups.write().retain(|_, ivs| {
            ivs.0.retain(|iv| iv.maxt >= before);
            !ivs.is_empty()
        });
    }

    /// Whether sample time `t` of series `series_ref` is deleted.
    pub fn is_deleted_at(&self, series_ref: u64, t: i64) -> bool {
        self.groups
            .read()
            .get(&series_ref)
            .is_some_and(|ivs| ivs.contains(t))
    }
}

impl TombstoneReader for MemTombstones {
    fn get(&self, series_ref: u64) -> Intervals {
        self.groups
            .read()
            .get(&series_ref)
            .cloned()
            .unwrap_or_default()
    }

    fn for_each(&self, f: &mut dyn FnMut(u64, &Intervals)) {
        let g = self.groups.read();
        let mut refs: Vec<u64> = g.keys().copied().collect();
        refs.sort_unstable();
        for r in refs {
            if let Some(ivs) = g.get(&r) {
                f(r, ivs);
            }
        }
    }

    fn total(&self) -> u64 {
        self.groups
            .read()
            .values()
            .map(|ivs| ivs.len() as u64)
            .sum()
    }
}

/// A cursor over ascending intervals asked about ascending timestamps (what iterators
/// over a series with tombstones need): each interval is passed once.
#[derive(Debug, Clone, Default)]
pub struct DeletedCursor {
    deleted: Vec<Interval>,
    pos: usize,
}

impl DeletedCursor {
    pub fn new(deleted: Vec<Interval>) -> DeletedCursor {
        DeletedCursor { deleted, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
    }

    /// Whether `t` is deleted; `t` must not go below an earlier question's.
    pub fn is_deleted(&mut self, t: i64) -> bool {
        while self.deleted.get(self.pos).is_some_and(|iv| iv.maxt < t) {
            self.pos += 1;
        }
        self.deleted.get(self.pos).is_some_and(|iv| iv.in_bounds(t))
    }
}

/// Skips the samples of another iterator that fall in deleted intervals.
pub struct DeletedSkipIterator<'a> {
    inner: Box<dyn SampleIterator + 'a>,
    deleted: DeletedCursor,
}

impl<'a> DeletedSkipIterator<'a> {
    pub fn new(inner: Box<dyn SampleIterator + 'a>, deleted: Vec<Interval>) -> Self {
        DeletedSkipIterator {
            inner,
            deleted: DeletedCursor::new(deleted),
        }
    }

    fn skip_deleted(&mut self, mut vt: ValueType) -> ValueType {
        while vt != ValueType::None && self.deleted.is_deleted(self.inner.at_t()) {
            vt = self.inner.next();
        }
        vt
    }
}

impl SampleIterator for DeletedSkipIterator<'_> {
    fn next(&mut self) -> ValueType {
        let vt = self.inner.next();
        self.skip_deleted(vt)
    }

    fn seek(&mut self, t: i64) -> ValueType {
        let vt = self.inner.seek(t);
        self.skip_deleted(vt)
    }

    fn at(&self) -> (i64, f64) {
        self.inner.at()
    }

    fn at_histogram(&self) -> (i64, Histogram) {
        self.inner.at_histogram()
    }

    fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        self.inner.at_float_histogram()
    }

    fn at_t(&self) -> i64 {
        self.inner.at_t()
    }

    fn at_st(&self) -> Option<i64> {
        self.inner.at_st()
    }

    fn err(&self) -> Option<StorageError> {
        self.inner.err()
    }
}

/// Errors reading or writing a tombstones file.
#[derive(Debug, thiserror::Error)]
pub enum TombstonesError {
    #[error("tombstones {}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("tombstones {}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// The version byte and entries, without magic or checksum (upstream's `Encode`; also the
/// WAL's tombstone record body).
pub fn encode(tr: &dyn TombstoneReader) -> Vec<u8> {
    let mut b = vec![FORMAT_V1];
    tr.for_each(&mut |r, ivs| {
        for iv in ivs {
            b.put_uvarint(r);
            b.put_varint(iv.mint);
            b.put_varint(iv.maxt);
        }
    });
    b
}

/// Parses what [`encode`] produces.
pub fn decode(b: &[u8]) -> Result<MemTombstones, String> {
    let mut d = Decbuf::new(b);
    let version = d.byte().map_err(|e| format!("format byte: {e}"))?;
    if version != FORMAT_V1 {
        return Err(format!("invalid tombstone format {version:#x}"));
    }
    let stones = MemTombstones::new();
    {
        let mut g = stones.groups.write();
        while !d.is_empty() {
            let at = b.len() - d.remaining();
            let mut entry = || -> Result<(u64, Interval), String> {
                let r = d.uvarint().map_err(|e| e.to_string())?;
                let mint = d.varint().map_err(|e| e.to_string())?;
                let maxt = d.varint().map_err(|e| e.to_string())?;
                Ok((r, Interval { mint, maxt }))
            };
            let (r, iv) = entry().map_err(|e| format!("entry at offset {at}: {e}"))?;
            g.entry(r).or_default().add(iv);
        }
    }
    Ok(stones)
}

/// Writes `<dir>/tombstones` atomically, returning its size in bytes.
pub fn write_tombstones(dir: &Path, tr: &dyn TombstoneReader) -> Result<u64, TombstonesError> {
    let path = dir.join(TOMBSTONES_FILENAME);
    let body = encode(tr);
    let mut file = Vec::with_capacity(4 + body.len() + CRC_LEN);
    file.put_be32(MAGIC_TOMBSTONE);
    file.extend_from_slice(&body);
    file.put_be32(crc32c::crc32c(&body[1..]));
    write_file_atomically(&path, &file).map_err(|(op, source)| TombstonesError::Io {
        path,
        op,
        source,
    })?;
    Ok(file.len() as u64)
}

/// Reads `<dir>/tombstones`, returning the tombstones and the file size; a missing file
/// means no tombstones.
pub fn read_tombstones(dir: &Path) -> Result<(MemTombstones, u64), TombstonesError> {
    let path = dir.join(TOMBSTONES_FILENAME);
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((MemTombstones::new(), 0)),
        Err(source) => {
            return Err(TombstonesError::Io {
                path,
                op: "read",
                source,
            });
        }
    };
    let stones = parse_file(&b).map_err(|detail| TombstonesError::Corrupt { path, detail })?;
    Ok((stones, b.len() as u64))
}

/// Parses a whole tombstones file: magic, version, entries, checksum.
pub fn parse_file(b: &[u8]) -> Result<MemTombstones, String> {
    if b.len() < HEADER_LEN + CRC_LEN {
        return Err(format!(
            "file is {} bytes, too short for header and checksum",
            b.len()
        ));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC_TOMBSTONE {
        return Err(format!("invalid magic number {magic:#010x}"));
    }
    let (content, crc) = b.split_at(b.len() - CRC_LEN);
    let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let got = crc32c::crc32c(&content[HEADER_LEN..]);
    if want != got {
        return Err(format!(
            "checksum mismatch: stored {want:#010x}, computed {got:#010x}"
        ));
    }
    decode(&content[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivs(v: &[(i64, i64)]) -> Intervals {
        Intervals(v.iter().map(|&(a, b)| Interval::new(a, b)).collect())
    }

    #[test]
    fn add_merges_overlapping_and_adjacent() {
        type Case<'a> = (&'a [(i64, i64)], (i64, i64), &'a [(i64, i64)]);
        let cases: &[Case<'_>] = &[
            (&[], (1, 2), &[(1, 2)]),
            (&[(1, 2)], (3, 4), &[(1, 4)]),
            (&[(1, 2)], (4, 5), &[(1, 2), (4, 5)]),
            (&[(4, 5)], (1, 2), &[(1, 2), (4, 5)]),
            (&[(1, 2), (4, 5), (8, 9)], (3, 7), &[(1, 9)]),
            (&[(1, 2), (10, 12)], (5, 6), &[(1, 2), (5, 6), (10, 12)]),
            (&[(5, 10)], (6, 7), &[(5, 10)]),
            (&[(5, 10)], (i64::MIN, 0), &[(i64::MIN, 0), (5, 10)]),
            (&[(5, 10), (20, 30)], (8, i64::MAX), &[(5, i64::MAX)]),
            (
                &[(i64::MIN, -3)],
                (i64::MIN, i64::MAX),
                &[(i64::MIN, i64::MAX)],
            ),
        ];
        for (start, add, want) in cases {
            let mut got = ivs(start);
            got.add(Interval::new(add.0, add.1));
            assert_eq!(got, ivs(want), "{start:?} + {add:?}");
        }
    }

    #[test]
    fn add_matches_a_naive_model() {
        // Random small intervals: compare against a bitmap of deleted timestamps.
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..500 {
            let mut got = Intervals::new();
            let mut bits = [false; 70];
            for _ in 0..rnd(8) {
                let a = rnd(60) as i64;
                let b = a + rnd(6) as i64;
                got.add(Interval::new(a, b));
                for t in a..=b {
                    bits[t as usize] = true;
                }
            }
            for w in got.as_slice().windows(2) {
                assert!(w[0].maxt + 1 < w[1].mint, "{got:?}");
            }
            for t in 0..70 {
                assert_eq!(got.contains(t), bits[t as usize], "{got:?} at {t}");
            }
        }
    }

    #[test]
    fn mem_tombstones_queries() {
        let t = MemTombstones::new();
        t.add_interval(7, Interval::new(10, 20));
        t.add_interval(7, Interval::new(21, 30));
        t.add_interval(3, Interval::new(-5, -1));
        assert_eq!(t.get(7), ivs(&[(10, 30)]));
        assert!(t.get(8).is_empty());
        assert_eq!(t.total(), 2);
        assert!(t.is_deleted_at(7, 25) && !t.is_deleted_at(7, 31));
        t.truncate_before(0);
        assert_eq!(t.total(), 1);
        t.delete_tombstones([7]);
        assert_eq!(t.total(), 0);
        assert!(Interval::new(12, 14).is_subrange(ivs(&[(1, 2), (10, 20)]).as_slice()));
    }

    #[test]
    fn file_round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let t = MemTombstones::new();
        t.add_interval(2, Interval::new(1, 5));
        t.add_interval(1, Interval::new(-10, 100));
        t.add_interval(2, Interval::new(50, 60));
        let n = write_tombstones(dir.path(), &t).unwrap();
        let raw = fs::read(dir.path().join(TOMBSTONES_FILENAME)).unwrap();
        assert_eq!(raw.len() as u64, n);
        assert_eq!(&raw[..5], &[0x01, 0x30, 0xBA, 0x30, 1]);
        // Entries in ref order: (1,-10,100) (2,1,5) (2,50,60), zig-zag varints.
        assert_eq!(&raw[5..9], &[1, 19, 0xc8, 0x01]);
        let (back, size) = read_tombstones(dir.path()).unwrap();
        assert_eq!(size, n);
        assert_eq!(back.get(2), ivs(&[(1, 5), (50, 60)]));
        assert_eq!(back.get(1), ivs(&[(-10, 100)]));
        assert!(!dir.path().join("tombstones.tmp").exists());

        let empty = tempfile::tempdir().unwrap();
        let (none, size) = read_tombstones(empty.path()).unwrap();
        assert_eq!((none.total(), size), (0, 0));
        let n = write_tombstones(empty.path(), &none).unwrap();
        assert_eq!(n, 9, "magic, version, crc");
        assert_eq!(read_tombstones(empty.path()).unwrap().0.total(), 0);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let t = MemTombstones::new();
        t.add_interval(9, Interval::new(1, 2));
        let mut good = Vec::new();
        good.put_be32(MAGIC_TOMBSTONE);
        let body = encode(&t);
        good.extend_from_slice(&body);
        good.put_be32(crc32c::crc32c(&body[1..]));
        assert!(parse_file(&good).is_ok());

        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        assert!(parse_file(&bad_magic).unwrap_err().contains("magic"));
        let mut bad_crc = good.clone();
        bad_crc[6] ^= 1;
        assert!(parse_file(&bad_crc).unwrap_err().contains("checksum"));
        assert!(parse_file(&good[..7]).unwrap_err().contains("too short"));
        // A truncated entry with a matching checksum is still caught.
        let mut torn = Vec::new();
        torn.put_be32(MAGIC_TOMBSTONE);
        torn.extend_from_slice(&[1, 9, 0x80]);
        torn.put_be32(crc32c::crc32c(&[9, 0x80]));
        assert!(parse_file(&torn).unwrap_err().contains("entry at offset 1"));
        // Wrong version byte.
        let mut v2 = good.clone();
        v2[4] = 2;
        assert!(parse_file(&v2).unwrap_err().contains("format"));

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(TOMBSTONES_FILENAME), &bad_crc).unwrap();
        let e = read_tombstones(dir.path()).unwrap_err();
        assert!(e.to_string().contains("tombstones") && e.to_string().contains("checksum"));
    }
}
