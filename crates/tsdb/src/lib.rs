//! hearth's time-series database, on Prometheus' own on-disk format.
//!
//! Owns: the storage interface every other crate uses (`storage`), a simple in-memory
//! implementation of it for tests (`mem_storage`), chunk encodings (`chunkenc`), chunk
//! segment files (`chunks`), the write-ahead log (`wal`), the block index and tombstones
//! (`index`, `tombstones`), postings lists and their set operations (`postings`), block
//! metadata (`block_meta`), and the interface the compactor reads blocks from
//! (`block_source`), and the head: in-memory series, chunks, WAL replay and
//! truncation (`head`). Blocks and compaction join as they land.
//!
//! Must never know about: exposition formats, PromQL, HTTP. Other crates reach stored
//! data only through the storage interface, never through these modules' internals.

pub mod block_meta;
pub mod block_source;
pub mod chunkenc;
pub mod chunks;
pub mod head;
pub mod index;
pub mod mem_storage;
pub mod postings;
pub mod storage;
pub mod tombstones;
pub mod wal;
