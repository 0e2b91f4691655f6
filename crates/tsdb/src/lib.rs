//! hearth's time-series database, on Prometheus' own on-disk format.
//!
//! Owns: chunk encodings (`chunkenc`), chunk segment files (`chunks`), the write-ahead
//! log (`wal`), the block index and tombstones (`index`, `tombstones`), postings lists and
//! their set operations (`postings`), block metadata (`block_meta`).
//! The head, blocks, compaction and the storage interface join as they land.
//!
//! Must never know about: exposition formats, PromQL, HTTP. Other crates reach stored
//! data only through the storage interface, never through these modules' internals.

pub mod block_meta;
pub mod chunkenc;
pub mod chunks;
pub mod index;
pub mod postings;
pub mod tombstones;
pub mod wal;
