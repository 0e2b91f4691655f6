//! Arbitrary bytes as a WAL segment, and as a single record: the reader and every record
//! decoder must return errors, never panic or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use hearth_tsdb::wal::WalReader;
use hearth_tsdb::wal::record::{RecordDecoder, RecordType};
use libfuzzer_sys::fuzz_target;

const PAGE_SIZE: usize = 32 * 1024;

fn scratch_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("hearth-fuzz-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn decode_all(rec: &[u8]) {
    let mut dec = RecordDecoder::new();
    match RecordType::of(rec) {
        RecordType::Series => drop(dec.series(rec, &mut Vec::new())),
        RecordType::Samples | RecordType::SamplesV2 => drop(dec.samples(rec, &mut Vec::new())),
        RecordType::Tombstones => drop(dec.tombstones(rec, &mut Vec::new())),
        RecordType::Exemplars => drop(dec.exemplars(rec, &mut Vec::new())),
        RecordType::MmapMarkers => drop(dec.mmap_markers(rec, &mut Vec::new())),
        RecordType::Metadata => drop(dec.metadata(rec, &mut Vec::new())),
        RecordType::HistogramSamples
        | RecordType::CustomBucketsHistogramSamples
        | RecordType::HistogramSamplesV2 => drop(dec.histogram_samples(rec, &mut Vec::new())),
        RecordType::FloatHistogramSamples
        | RecordType::CustomBucketsFloatHistogramSamples
        | RecordType::FloatHistogramSamplesV2 => {
            drop(dec.float_histogram_samples(rec, &mut Vec::new()))
        }
        RecordType::MinValidTime => drop(dec.min_valid_time(rec)),
        RecordType::Unknown => {}
    }
}

/// Turns the input into fragments with valid checksums, so that fragment sequencing and
/// decompression see arbitrary data rather than stopping at the first CRC. Each piece is
/// `type byte, length byte, data`.
fn framed_segment(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let typ = data[0];
        let len = (data[1] as usize).min(data.len() - 2);
        let body = &data[2..2 + len];
        data = &data[2 + len..];
        let page_left = PAGE_SIZE - out.len() % PAGE_SIZE;
        if page_left < 7 + len {
            out.resize(out.len() + page_left, 0);
        }
        out.push(typ);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn read_segment(bytes: &[u8]) {
    let dir = scratch_dir();
    std::fs::write(dir.join("00000000"), bytes).unwrap();
    let mut r = WalReader::open(dir).unwrap();
    while let Ok(Some(rec)) = r.next_record() {
        decode_all(rec);
    }
    let _ = r.torn_tail();
}

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        read_segment(rest);
    } else {
        read_segment(&framed_segment(rest));
    }
});
