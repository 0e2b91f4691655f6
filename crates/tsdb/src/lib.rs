//! hearth's time-series database, on Prometheus' own on-disk format.
//!
//! Owns: the storage interface every other crate uses (`storage`), a simple in-memory
//! implementation of it for tests (`mem_storage`), chunk encodings (`chunkenc`), chunk
//! segment files (`chunks`), the write-ahead log (`wal`), the block index and tombstones
//! (`index`, `tombstones`), postings lists and their set operations (`postings`), block
//! metadata (`block_meta`), the interface the compactor reads blocks from
//! (`block_source`), the head: in-memory series, chunks, WAL replay and truncation
//! (`head`), persistent blocks (`block`), compaction (`compact`, `series_chunker`),
//! merged queries (`merge`), the data directory with retention (`db`) and backfill.
//!
//! Must never know about: exposition formats, PromQL, HTTP. Other crates reach stored
//! data only through the storage interface, never through these modules' internals.

pub mod backfill;
pub mod block;
pub mod block_meta;
pub mod block_source;
pub mod chunkenc;
pub mod chunks;
pub mod compact;
pub mod db;
pub mod encoding;
pub mod head;
pub mod index;
pub mod mem_block_source;
pub mod mem_storage;
pub mod merge;
pub mod postings;
pub mod series_chunker;
pub mod storage;
pub mod tombstones;
pub mod wal;
