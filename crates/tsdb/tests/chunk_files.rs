#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Block chunk segments and head chunk files: round trips, segment cutting, corruption.

use std::fs;

use hearth_tsdb::chunkenc::{ChunkAppender, ChunkSampleIterator, Encoding, ValueType};
use hearth_tsdb::chunks::{
    BlockChunkRef, ChunkFileError, ChunkSegmentReader, ChunkSegmentWriter, HeadChunkReader,
    HeadChunkRef, HeadChunkWriter, MAGIC_CHUNKS, SEGMENT_HEADER_SIZE,
};

fn xor_chunk(n: i64, base: f64) -> Vec<u8> {
    let mut app = ChunkAppender::new(Encoding::Xor);
    for i in 0..n {
        app.append(0, i * 15_000, base + i as f64).unwrap();
    }
    app.into_chunk().into_bytes()
}

#[test]
fn segment_file_layout_is_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let data = xor_chunk(3, 1.0);
    let mut w = ChunkSegmentWriter::create(dir.path()).unwrap();
    let r = w.write_chunk(Encoding::Xor, &data).unwrap();
    w.finish().unwrap();
    assert_eq!(r, BlockChunkRef::new(0, 8));
    let file = fs::read(dir.path().join("000001")).unwrap();
    assert_eq!(&file[..8], &[0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0]);
    assert_eq!(file[8] as usize, data.len());
    assert_eq!(file[9], 1);
    assert_eq!(&file[10..10 + data.len()], &data[..]);
    let mut crc_in = vec![1u8];
    crc_in.extend_from_slice(&data);
    assert_eq!(
        &file[10 + data.len()..],
        &crc32c::crc32c(&crc_in).to_be_bytes()
    );
}

#[test]
fn segments_round_trip_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let chunks: Vec<Vec<u8>> = (0..50)
        .map(|i| xor_chunk(1 + i % 30, f64::from(i as u8)))
        .collect();
    let mut w = ChunkSegmentWriter::with_segment_size(dir.path(), 300).unwrap();
    let mut refs = Vec::new();
    for c in chunks.chunks(7) {
        let batch: Vec<(Encoding, &[u8])> = c.iter().map(|d| (Encoding::Xor, &d[..])).collect();
        refs.extend(w.write_chunks(&batch).unwrap());
    }
    w.finish().unwrap();
    let r = ChunkSegmentReader::open(dir.path()).unwrap();
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    assert!(
        r.segment_count() > 3,
        "{} segments for {total} bytes",
        r.segment_count()
    );
    for (i, (cref, data)) in refs.iter().zip(&chunks).enumerate() {
        let c = r.chunk(*cref).unwrap();
        assert_eq!(c.encoding, Encoding::Xor);
        assert_eq!(c.data, &data[..], "chunk {i}");
        let mut it = c.iter();
        let mut n = 0;
        while it.next() == ValueType::Float {
            n += 1;
        }
        assert!(it.err().is_none());
        assert_eq!(n, 1 + i as i64 % 30);
    }
    // Every segment stays within the size unless a single chunk is larger.
    for e in fs::read_dir(dir.path()).unwrap() {
        assert!(e.unwrap().metadata().unwrap().len() <= 300);
    }
    // Walking each segment sequentially finds every chunk.
    let walked: usize = (0..r.segment_count())
        .map(|s| r.segment_chunks(s).filter(|c| c.is_ok()).count())
        .sum();
    assert_eq!(walked, chunks.len());
}

fn one_segment() -> (tempfile::TempDir, BlockChunkRef, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ChunkSegmentWriter::create(dir.path()).unwrap();
    let r = w.write_chunk(Encoding::Xor, &xor_chunk(20, 3.0)).unwrap();
    w.finish().unwrap();
    let bytes = fs::read(dir.path().join("000001")).unwrap();
    (dir, r, bytes)
}

#[test]
fn segment_corruption_is_reported_with_file_and_offset() {
    let (dir, r, bytes) = one_segment();
    let path = dir.path().join("000001");

    // Flipped data byte: checksum mismatch.
    let mut b = bytes.clone();
    b[20] ^= 0x40;
    fs::write(&path, &b).unwrap();
    let reader = ChunkSegmentReader::open(dir.path()).unwrap();
    let e = reader.chunk(r).unwrap_err();
    assert!(
        matches!(e, ChunkFileError::ChecksumMismatch { offset: 8, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("000001"), "{e}");
    assert!(e.to_string().contains("offset 8"), "{e}");
    drop(reader);

    // Truncated file: the chunk is cut off.
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let reader = ChunkSegmentReader::open(dir.path()).unwrap();
    assert!(matches!(
        reader.chunk(r),
        Err(ChunkFileError::Truncated { .. })
    ));
    drop(reader);

    // Shorter than the header, and a wrong magic.
    fs::write(&path, &bytes[..5]).unwrap();
    assert!(matches!(
        ChunkSegmentReader::open(dir.path()),
        Err(ChunkFileError::BadHeader { .. })
    ));
    let mut b = bytes.clone();
    b[0] = 0;
    fs::write(&path, &b).unwrap();
    let e = ChunkSegmentReader::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("magic"), "{e}");

    // References out of range.
    fs::write(&path, &bytes).unwrap();
    let reader = ChunkSegmentReader::open(dir.path()).unwrap();
    assert!(matches!(
        reader.chunk(BlockChunkRef::new(1, 8)),
        Err(ChunkFileError::SegmentOutOfRange { .. })
    ));
    assert!(matches!(
        reader.chunk(BlockChunkRef::new(0, 1 << 20)),
        Err(ChunkFileError::OffsetOutOfRange { .. })
    ));
    assert!(reader.chunk(BlockChunkRef::new(0, 2)).is_err());
}

#[test]
fn every_truncation_and_flip_of_a_segment_is_handled() {
    let (_dir, r, bytes) = one_segment();
    for cut in 0..bytes.len() {
        if let Ok(reader) = ChunkSegmentReader::from_bytes("cut", bytes[..cut].to_vec()) {
            assert!(reader.chunk(r).is_err());
        }
    }
    for i in SEGMENT_HEADER_SIZE..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x08;
        let reader = ChunkSegmentReader::from_bytes("flip", b).unwrap();
        assert!(reader.chunk(r).is_err(), "flip at {i} went unnoticed");
    }
    assert_eq!(
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        MAGIC_CHUNKS
    );
}

fn write_head(dir: &std::path::Path, n: u64, max: u64) -> Vec<(HeadChunkRef, u64, Vec<u8>)> {
    let mut w = HeadChunkWriter::with_max_file_size(dir, max).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let data = xor_chunk(1 + (i % 10) as i64, i as f64);
        let r = w
            .write_chunk(
                i + 1,
                i as i64 * 100,
                i as i64 * 100 + 99,
                Encoding::Xor,
                &data,
                i % 5 == 4,
            )
            .unwrap();
        out.push((r, i + 1, data));
    }
    w.close().unwrap();
    out
}

#[test]
fn head_chunks_round_trip_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_head(dir.path(), 40, 600);
    let reader = HeadChunkReader::open(dir.path()).unwrap();
    for (r, series, data) in &written {
        let c = reader.chunk(*r).unwrap();
        assert_eq!(c.series_ref, *series);
        assert_eq!(c.data, &data[..]);
        assert_eq!(c.out_of_order, series % 5 == 0);
        assert_eq!(c.mint, (*series as i64 - 1) * 100);
    }
    let all: Vec<_> = reader.chunks().map(|c| c.unwrap()).collect();
    assert_eq!(all.len(), written.len());
    assert!(written.last().unwrap().0.file() > 1, "files were cut");
    drop(reader);
    let mut seen = 0;
    let report = HeadChunkReader::replay(dir.path(), |c| {
        assert_eq!(c.num_samples(), 1 + (seen % 10));
        seen += 1;
    })
    .unwrap();
    assert_eq!(report.chunks, 40);
    assert!(report.corruption.is_none());
    // A new writer continues after the existing files.
    let mut w = HeadChunkWriter::open(dir.path()).unwrap();
    let r = w
        .write_chunk(99, 0, 1, Encoding::Xor, &xor_chunk(2, 0.0), false)
        .unwrap();
    w.close().unwrap();
    assert_eq!(r.file(), written.last().unwrap().0.file() + 1);
}

#[test]
fn torn_head_chunk_tail_is_truncated_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_head(dir.path(), 30, 700);
    let last_file = written.last().unwrap().0.file();
    // Tear the middle file: cut its last record in half.
    let victim = last_file - 1;
    let path = dir.path().join(format!("{victim:06}"));
    let in_victim: Vec<_> = written.iter().filter(|w| w.0.file() == victim).collect();
    let tear_at = in_victim.last().unwrap().0.offset() as usize + 10;
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..tear_at]).unwrap();

    let mut seen = Vec::new();
    let report = HeadChunkReader::replay(dir.path(), |c| seen.push(c.series_ref)).unwrap();
    let good = written.iter().filter(|w| w.0.file() < victim).count() + in_victim.len() - 1;
    assert_eq!(report.chunks, good);
    assert_eq!(seen.len(), good);
    let e = report.corruption.expect("corruption reported");
    assert!(e.to_string().contains(&format!("{victim:06}")), "{e}");
    let (truncated, len) = report.truncated.unwrap();
    assert_eq!(truncated, path);
    assert_eq!(len, u64::from(in_victim.last().unwrap().0.offset()));
    assert_eq!(report.removed.len(), (last_file - victim) as usize);
    // A second replay is clean.
    let again = HeadChunkReader::replay(dir.path(), |_| {}).unwrap();
    assert_eq!(again.chunks, good);
    assert!(again.corruption.is_none());
}

#[test]
fn head_chunk_checksum_and_header_errors() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_head(dir.path(), 3, 1 << 20);
    let path = dir.path().join("000001");
    let mut b = fs::read(&path).unwrap();
    let at = written[1].0.offset() as usize + 30;
    b[at] ^= 1;
    fs::write(&path, &b).unwrap();
    let reader = HeadChunkReader::open(dir.path()).unwrap();
    assert!(reader.chunk(written[0].0).is_ok());
    assert!(matches!(
        reader.chunk(written[1].0),
        Err(ChunkFileError::ChecksumMismatch { .. })
    ));
    let results: Vec<_> = reader.chunks().collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
    drop(reader);
    // An empty last file (crash right after creating it) is removed on open.
    fs::write(dir.path().join("000002"), b"").unwrap();
    HeadChunkReader::open(dir.path()).unwrap();
    assert!(!dir.path().join("000002").exists());
    // A gap in the numbering is an error.
    fs::copy(&path, dir.path().join("000003")).unwrap();
    assert!(matches!(
        HeadChunkReader::open(dir.path()),
        Err(ChunkFileError::Layout { .. })
    ));
}

#[test]
fn every_truncation_and_flip_of_a_head_file_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_head(dir.path(), 4, 1 << 20);
    let bytes = fs::read(dir.path().join("000001")).unwrap();
    for cut in 0..bytes.len() {
        if let Ok(r) = HeadChunkReader::from_bytes("cut", bytes[..cut].to_vec()) {
            let n = r.chunks().filter(|c| c.is_ok()).count();
            assert!(n <= written.len());
        }
    }
    for i in 8..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x21;
        let r = HeadChunkReader::from_bytes("flip", b).unwrap();
        for c in r.chunks().flatten() {
            let mut it = c.iter();
            while it.next() != ValueType::None {}
        }
    }
}
