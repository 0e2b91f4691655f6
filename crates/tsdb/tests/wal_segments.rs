#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Segment files: writing, reading back, cutting, torn tails, corruption and repair.

use std::fs::{self, OpenOptions};
use std::path::Path;

use hearth_tsdb::wal::{
    Compression, CorruptionReason, PAGE_SIZE, SegmentRange, Wal, WalError, WalOptions, WalReader,
    segment_path, segments,
};

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A record of `len` bytes that compresses somewhat (runs) but not to nothing.
fn record(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let b = rng.next() as u8;
        let run = 1 + rng.below(8) as usize;
        for _ in 0..run.min(len - v.len()) {
            v.push(b);
        }
    }
    v
}

fn opts(compression: Compression, segment_pages: u64) -> WalOptions {
    WalOptions {
        segment_size: segment_pages * PAGE_SIZE as u64,
        compression,
        sync_on_log: false,
    }
}

fn read_all(dir: &Path) -> (Vec<Vec<u8>>, Option<hearth_tsdb::wal::TornTail>) {
    let mut r = WalReader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push(rec.to_vec());
    }
    (out, r.torn_tail().cloned())
}

/// Writes `recs` in batches of 3 and returns the (segment, offset) of each.
trait NthError {
    fn nth_error(&mut self) -> Option<WalError>;
}

impl NthError for WalReader {
    /// Reads to the end and returns the error that stopped it, if any.
    fn nth_error(&mut self) -> Option<WalError> {
        loop {
            match self.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }
}

fn write_all(wal: &mut Wal, recs: &[Vec<u8>]) {
    for chunk in recs.chunks(3) {
        let refs: Vec<&[u8]> = chunk.iter().map(|r| r.as_slice()).collect();
        wal.log(&refs).unwrap();
    }
}

fn positions(dir: &Path) -> Vec<(u32, u64)> {
    let mut r = WalReader::open(dir).unwrap();
    let mut out = Vec::new();
    while r.next_record().unwrap().is_some() {
        out.push(r.record_position());
    }
    out
}

#[test]
fn golden_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 4)).unwrap();
    wal.log(&[b"123456789"]).unwrap();
    // Before close the page is written but not padded.
    let raw = fs::read(segment_path(dir.path(), 0)).unwrap();
    // Full fragment, length 9, CRC32C("123456789") = 0xe3069283 (the standard check value).
    assert_eq!(
        raw,
        [
            1, 0, 9, 0xe3, 0x06, 0x92, 0x83, b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9'
        ]
    );
    wal.close().unwrap();
    let raw = fs::read(segment_path(dir.path(), 0)).unwrap();
    assert_eq!(raw.len(), PAGE_SIZE);
    assert!(raw[16..].iter().all(|&b| b == 0));

    // Snappy: the flag bit is set and the data is the raw (block) format.
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::Snappy, 4)).unwrap();
    let rec = vec![b'a'; 100];
    wal.log(&[&rec]).unwrap();
    let raw = fs::read(segment_path(dir.path(), 0)).unwrap();
    assert_eq!(raw[0], 1 | 8);
    let len = u16::from_be_bytes([raw[1], raw[2]]) as usize;
    let data = &raw[7..7 + len];
    assert_eq!(snap::raw::Decoder::new().decompress_vec(data).unwrap(), rec);
    // Incompressible small records are stored as they are.
    wal.log(&[b"xy"]).unwrap();
    let raw = fs::read(segment_path(dir.path(), 0)).unwrap();
    assert_eq!(&raw[7 + len..7 + len + 3], &[1, 0, 2]);
}

#[test]
fn round_trip_all_compressions_and_sizes() {
    for compression in [Compression::None, Compression::Snappy, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut recs = Vec::new();
        // Empty, tiny, exactly a page's payload, larger than a page, several pages.
        for len in [
            0,
            1,
            7,
            PAGE_SIZE - 7,
            PAGE_SIZE,
            3 * PAGE_SIZE + 11,
            200_000,
        ] {
            recs.push(record(&mut rng, len));
        }
        for _ in 0..300 {
            let len = rng.below(5000) as usize;
            recs.push(record(&mut rng, len));
        }
        let mut wal = Wal::open(dir.path(), opts(compression, 16)).unwrap();
        write_all(&mut wal, &recs);
        wal.sync().unwrap();
        // Readable while open (last page not padded yet) and after close.
        let (got, torn) = read_all(dir.path());
        assert!(torn.is_none());
        assert_eq!(got, recs, "{compression:?}");
        wal.close().unwrap();
        let (got, torn) = read_all(dir.path());
        assert!(torn.is_none());
        assert_eq!(got, recs, "{compression:?}");
    }
}

#[test]
fn segments_are_cut_and_records_never_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let recs: Vec<Vec<u8>> = (0..200)
        .map(|_| {
            let len = rng.below(20_000) as usize;
            record(&mut rng, len)
        })
        .collect();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 4)).unwrap();
    write_all(&mut wal, &recs);
    // A record larger than a whole segment gets a segment of its own.
    let huge = record(&mut rng, 5 * PAGE_SIZE);
    wal.log(&[&huge]).unwrap();
    wal.log(&[b"after"]).unwrap();
    wal.close().unwrap();

    let (first, last) = segments(dir.path()).unwrap().unwrap();
    assert_eq!(first, 0);
    assert!(last > 10, "{last} segments");
    let mut joined = Vec::new();
    for i in first..=last {
        let size = fs::metadata(segment_path(dir.path(), i)).unwrap().len();
        assert_eq!(
            size % PAGE_SIZE as u64,
            0,
            "closed segments are whole pages"
        );
        let range = SegmentRange {
            dir: dir.path().to_path_buf(),
            first: Some(i),
            last: Some(i),
        };
        // Each segment reads on its own: no record starts in one and ends in another.
        let mut r = WalReader::from_ranges(&[range]).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            joined.push(rec.to_vec());
        }
        assert!(r.torn_tail().is_none(), "segment {i}");
        if size > 4 * PAGE_SIZE as u64 {
            assert_eq!(
                size,
                6 * PAGE_SIZE as u64,
                "only the huge record's segment grows"
            );
        }
    }
    let mut want = recs.clone();
    want.push(huge);
    want.push(b"after".to_vec());
    assert_eq!(joined, want);
}

#[test]
fn reopen_starts_a_new_segment_and_truncate_drops_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.log(&[b"one"]).unwrap();
    assert_eq!(wal.next_segment().unwrap(), 1);
    wal.log(&[b"two"]).unwrap();
    drop(wal); // no close: the last page stays unpadded, as after a crash
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert!(wal.recovered_tail().is_none());
    assert_eq!(wal.active_segment(), 2);
    wal.log(&[b"three"]).unwrap();
    assert_eq!(wal.segments().unwrap(), (0, 2));
    let (got, _) = read_all(dir.path());
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    wal.truncate(2).unwrap();
    assert_eq!(wal.segments().unwrap(), (2, 2));
    wal.truncate(100).unwrap();
    assert_eq!(wal.segments().unwrap(), (2, 2), "the active segment stays");
    let (got, _) = read_all(dir.path());
    assert_eq!(got, [b"three".to_vec()]);
}

#[test]
fn sync_on_log() {
    let dir = tempfile::tempdir().unwrap();
    let o = WalOptions {
        sync_on_log: true,
        ..WalOptions::default()
    };
    let mut wal = Wal::open(dir.path(), o).unwrap();
    for i in 0..10u8 {
        wal.log(&[&[i; 100], &[i; 3]]).unwrap();
    }
    wal.sync().unwrap();
    assert_eq!(read_all(dir.path()).0.len(), 20);
}

/// Cuts the last segment at every byte of its last record: replay keeps every earlier
/// record and reports the loss; reopening cuts the tail and writing goes on.
#[test]
fn torn_last_record_at_every_offset() {
    for compression in [Compression::None, Compression::Snappy] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(42);
        // Small records first keep each read cheap; the last one spans pages.
        let mut recs: Vec<Vec<u8>> = (0..20)
            .map(|_| {
                let len = rng.below(60) as usize;
                record(&mut rng, len)
            })
            .collect();
        let last_len = match compression {
            Compression::None => PAGE_SIZE + 500,
            _ => 3 * PAGE_SIZE,
        };
        recs.push(record(&mut rng, last_len));
        let mut wal = Wal::open(dir.path(), opts(compression, 64)).unwrap();
        write_all(&mut wal, &recs);
        drop(wal);
        let seg = segment_path(dir.path(), 0);
        let full = fs::read(&seg).unwrap();
        let (_, last_off) = *positions(dir.path()).last().unwrap();
        let end = full.len() as u64;
        assert!(
            end - last_off > PAGE_SIZE as u64,
            "the last record spans pages"
        );
        // Cutting from the end backwards needs no rewrite of the file.
        let file = OpenOptions::new().write(true).open(&seg).unwrap();
        for cut in (last_off..end).rev() {
            file.set_len(cut).unwrap();
            let (got, torn) = read_all(dir.path());
            assert_eq!(got, recs[..recs.len() - 1], "cut at {cut}");
            if cut == last_off {
                assert!(torn.is_none(), "a cut at a record boundary loses nothing");
                continue;
            }
            let torn = torn.unwrap_or_else(|| panic!("no torn tail reported at {cut}"));
            assert_eq!((torn.segment, torn.offset), (0, last_off), "cut at {cut}");
            assert_eq!(torn.dropped_bytes, cut - last_off);
        }
        drop(file);

        // Reopening cuts the torn record off for good and appends after it.
        fs::write(&seg, &full[..(last_off + 20_000) as usize]).unwrap();
        let mut wal = Wal::open(dir.path(), opts(compression, 64)).unwrap();
        let tail = wal.recovered_tail().unwrap();
        assert_eq!((tail.segment, tail.offset), (0, last_off));
        wal.log(&[b"after restart"]).unwrap();
        wal.close().unwrap();
        let (got, torn) = read_all(dir.path());
        assert!(torn.is_none());
        assert_eq!(got.len(), recs.len());
        assert_eq!(got.last().unwrap(), b"after restart");
        assert_eq!(&got[..recs.len() - 1], &recs[..recs.len() - 1]);
    }
}

#[test]
fn zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 16)).unwrap();
    let recs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i + 1; 1000]).collect();
    write_all(&mut wal, &recs);
    wal.close().unwrap();
    let seg = segment_path(dir.path(), 0);
    let mut raw = fs::read(&seg).unwrap();
    let (_, last_off) = *positions(dir.path()).last().unwrap();
    // The header reached the disk, the data did not (read back as zeros).
    for b in &mut raw[last_off as usize + 7..] {
        *b = 0;
    }
    fs::write(&seg, &raw).unwrap();
    let (got, torn) = read_all(dir.path());
    assert_eq!(got, recs[..4]);
    let torn = torn.unwrap();
    assert_eq!(torn.offset, last_off);
    assert!(matches!(torn.reason, CorruptionReason::Checksum { .. }));
}

fn flip(path: &Path, offset: u64) {
    let mut raw = fs::read(path).unwrap();
    raw[offset as usize] ^= 0x5a;
    fs::write(path, raw).unwrap();
}

#[test]
fn flipped_byte_is_corruption_and_repair_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    let recs: Vec<Vec<u8>> = (0..400)
        .map(|_| {
            let len = 100 + rng.below(9000) as usize;
            record(&mut rng, len)
        })
        .collect();
    let mut wal = Wal::open(dir.path(), opts(Compression::Snappy, 4)).unwrap();
    write_all(&mut wal, &recs);
    wal.close().unwrap();
    let pos = positions(dir.path());
    let (_, last) = segments(dir.path()).unwrap().unwrap();
    assert!(last >= 3);
    // A record in the middle of segment 1.
    let victim = pos.iter().rposition(|p| p.0 == 1).unwrap() / 2
        + pos.iter().position(|p| p.0 == 1).unwrap() / 2;
    let (seg, off) = pos[victim];
    assert_eq!(seg, 1);
    flip(&segment_path(dir.path(), seg), off + 10);

    let mut r = WalReader::open(dir.path()).unwrap();
    let mut got = Vec::new();
    let err = loop {
        match r.next_record() {
            Ok(Some(rec)) => got.push(rec.to_vec()),
            Ok(None) => panic!("corruption not detected"),
            Err(e) => break e,
        }
    };
    let WalError::Corruption(c) = err else {
        panic!("not a corruption error: {err}")
    };
    assert_eq!((c.segment, c.offset), (seg, off), "{c}");
    assert!(matches!(c.reason, CorruptionReason::Checksum { .. }));
    assert_eq!(got, recs[..victim]);
    assert!(r.next_record().unwrap().is_none(), "nothing after an error");

    let mut wal = Wal::open(dir.path(), opts(Compression::Snappy, 4)).unwrap();
    wal.repair(&c).unwrap();
    assert_eq!(wal.active_segment(), seg + 1);
    wal.log(&[b"after repair"]).unwrap();
    wal.close().unwrap();
    let (got, torn) = read_all(dir.path());
    assert!(torn.is_none());
    assert_eq!(got[..victim], recs[..victim]);
    assert_eq!(got.len(), victim + 1);
    assert_eq!(got[victim], b"after repair");
}

#[test]
fn corruption_inside_the_last_segment_is_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 16)).unwrap();
    let recs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 500]).collect();
    write_all(&mut wal, &recs);
    wal.close().unwrap();
    let pos = positions(dir.path());
    let raw = fs::read(segment_path(dir.path(), 0)).unwrap();
    flip(&segment_path(dir.path(), 0), pos[4].1 + 100);
    let mut r = WalReader::open(dir.path()).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next_record() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("corruption read as {:?}", r.torn_tail()),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 4);
    assert!(matches!(err, WalError::Corruption(ref c) if c.offset == pos[4].1));
    // Also the very last record when it was followed by more data in its page.
    let mut bad = raw.clone();
    bad[pos[9].1 as usize + 50] ^= 1;
    let end = pos[9].1 as usize + 7 + 500;
    bad[end + 10] = 0xee; // garbage in the padding after it
    fs::write(segment_path(dir.path(), 0), &bad).unwrap();
    let mut r = WalReader::open(dir.path()).unwrap();
    let mut n = 0;
    let res = loop {
        match r.next_record() {
            Ok(Some(_)) => n += 1,
            other => break other.map(|_| ()),
        }
    };
    assert!(res.is_err() && n == 9);
}

#[test]
fn bad_padding_and_fragment_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 16)).unwrap();
    wal.log(&[&[1; 100]]).unwrap();
    wal.next_segment().unwrap();
    wal.log(&[&[2; 100]]).unwrap();
    wal.close().unwrap();
    let seg0 = segment_path(dir.path(), 0);
    let good = fs::read(&seg0).unwrap();

    let check = |bytes: &[u8], want: fn(&CorruptionReason) -> bool| {
        fs::write(&seg0, bytes).unwrap();
        let mut r = WalReader::open(dir.path()).unwrap();
        let e = loop {
            match r.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("accepted"),
                Err(e) => break e,
            }
        };
        match e {
            WalError::Corruption(c) => assert!(want(&c.reason), "{c}"),
            e => panic!("{e}"),
        }
    };
    let mut b = good.clone();
    b[5000] = 1;
    check(&b, |r| matches!(r, CorruptionReason::NonZeroPadding));
    let mut b = good.clone();
    b[0] = 3; // a middle fragment without a first
    check(&b, |r| {
        matches!(r, CorruptionReason::UnexpectedFragment { .. })
    });
    let mut b = good.clone();
    b[0] = 6;
    check(&b, |r| {
        matches!(r, CorruptionReason::InvalidFragmentType(6))
    });
    let mut b = good.clone();
    b[0] = 2; // a first fragment, then the segment ends
    check(&b, |r| matches!(r, CorruptionReason::TruncatedRecord));
    let mut b = good.clone();
    b[1..3].copy_from_slice(&(PAGE_SIZE as u16 - 6).to_be_bytes());
    check(&b, |r| {
        matches!(r, CorruptionReason::FragmentTooLong { .. })
    });
    // A segment that is not the last may not end mid-record: cut it there.
    let b = good[..50].to_vec();
    check(&b, |r| matches!(r, CorruptionReason::TruncatedRecord));
}

#[test]
fn corrupt_compressed_data_with_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::Snappy, 16)).unwrap();
    wal.log(&[&[7; 1000]]).unwrap();
    wal.log(&[&[8; 10]]).unwrap();
    wal.close().unwrap();
    let seg = segment_path(dir.path(), 0);
    let mut raw = fs::read(&seg).unwrap();
    let len = u16::from_be_bytes([raw[1], raw[2]]) as usize;
    // Claim a huge decompressed length, then fix up the CRC so only snappy can object.
    raw[7] = 0xff;
    raw[8] = 0xff;
    raw[9] = 0xff;
    raw[10] = 0x7f;
    let crc = crc32c::crc32c(&raw[7..7 + len]);
    raw[3..7].copy_from_slice(&crc.to_be_bytes());
    fs::write(&seg, &raw).unwrap();
    let mut r = WalReader::open(dir.path()).unwrap();
    let e = r.next_record().unwrap_err();
    assert!(
        matches!(e, WalError::Corruption(ref c) if matches!(c.reason, CorruptionReason::Decompress { .. })),
        "{e}"
    );
}

#[test]
fn random_garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(1234);
    let mut wal = Wal::open(dir.path(), opts(Compression::Snappy, 4)).unwrap();
    let recs: Vec<Vec<u8>> = (0..60)
        .map(|_| {
            let len = rng.below(12_000) as usize;
            record(&mut rng, len)
        })
        .collect();
    write_all(&mut wal, &recs);
    wal.close().unwrap();
    let (_, last) = segments(dir.path()).unwrap().unwrap();
    let originals: Vec<Vec<u8>> = (0..=last)
        .map(|i| fs::read(segment_path(dir.path(), i)).unwrap())
        .collect();
    for round in 0..300 {
        let i = rng.below(u64::from(last) + 1) as u32;
        let mut bytes = originals[i as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        if round % 3 == 0 {
            let keep = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(keep);
        }
        let path = segment_path(dir.path(), i);
        fs::write(&path, &bytes).unwrap();
        let mut r = WalReader::open(dir.path()).unwrap();
        while let Ok(Some(_)) = r.next_record() {}
        fs::write(&path, &originals[i as usize]).unwrap();
    }
    let mut f = OpenOptions::new()
        .append(true)
        .open(segment_path(dir.path(), last))
        .unwrap();
    std::io::Write::write_all(&mut f, &[1, 0, 50]).unwrap();
    let (got, torn) = read_all(dir.path());
    assert_eq!(got, recs);
    assert!(
        torn.is_some(),
        "a header cut by the end of the file is a torn write"
    );
    // A type byte no writer produces is corruption even at the very end.
    let len = f.metadata().unwrap().len();
    f.set_len(len - 3).unwrap();
    std::io::Write::write_all(&mut f, &[0xff; 4]).unwrap();
    assert!(WalReader::open(dir.path()).unwrap().nth_error().is_some());
}

#[test]
fn empty_segments_after_a_torn_one_do_not_hide_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 16)).unwrap();
    wal.log(&[&[1; 100], &[2; 5000]]).unwrap();
    drop(wal);
    let seg0 = segment_path(dir.path(), 0);
    let len = fs::metadata(&seg0).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg0)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    // Two starts that crashed before writing anything left empty segments 1 and 2.
    fs::write(segment_path(dir.path(), 1), b"").unwrap();
    fs::write(segment_path(dir.path(), 2), b"").unwrap();
    let (got, torn) = read_all(dir.path());
    assert_eq!(got, [vec![1; 100]]);
    assert_eq!(torn.unwrap().segment, 0);
    let mut wal = Wal::open(dir.path(), opts(Compression::None, 16)).unwrap();
    assert_eq!(wal.recovered_tail().unwrap().segment, 0);
    wal.log(&[b"next"]).unwrap();
    let (got, torn) = read_all(dir.path());
    assert!(torn.is_none());
    assert_eq!(got, [vec![1; 100], b"next".to_vec()]);
}
