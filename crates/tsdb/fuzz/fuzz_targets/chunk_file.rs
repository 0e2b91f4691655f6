//! Reads arbitrary bytes as a block chunk segment file and as a head chunk file, then
//! decodes every chunk found: nothing may panic.
#![no_main]

use hearth_tsdb::chunkenc::{ChunkSampleIterator, ValueType};
use hearth_tsdb::chunks::{BlockChunkRef, ChunkSegmentReader, HeadChunkReader, HeadChunkRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Interpret the data as is, and with the right magic in front.
    let mut with_magic = vec![0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0];
    with_magic.extend_from_slice(data);
    for bytes in [data.to_vec(), with_magic] {
        if let Ok(r) = ChunkSegmentReader::from_bytes("fuzz", bytes.clone()) {
            for c in r.segment_chunks(0).flatten() {
                let mut it = c.1.iter();
                while it.next() != ValueType::None {
                    let _ = it.at_float_histogram();
                }
            }
            if data.len() >= 4 {
                let off = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                let _ = r.chunk(BlockChunkRef::new(0, off % (bytes.len() as u32 + 2)));
            }
        }
    }
    let mut head = vec![0x01, 0x30, 0xBC, 0x91, 1, 0, 0, 0];
    head.extend_from_slice(data);
    if let Ok(r) = HeadChunkReader::from_bytes("fuzz-head", head) {
        for c in r.chunks().flatten() {
            let mut it = c.iter();
            while it.next() != ValueType::None {}
            let _ = r.chunk(c.chunk_ref);
        }
        let _ = r.chunk(HeadChunkRef::new(1, data.len() as u32 / 2));
    }
});
