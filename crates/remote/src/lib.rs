//! hearth's remote storage protocols: Prometheus remote write 1.0 and 2.0, and remote
//! read, on top of the storage interface (`hearth_tsdb::storage`).
//!
//! Owns the wire messages ([`proto`]: `prometheus.*`; [`proto_v2`]:
//! `io.prometheus.write.v2.*`), their conversion to the model ([`convert`]), snappy bodies
//! ([`compression`]), the write receiver ([`receiver`]: content negotiation, limits,
//! label validation, 1.0 all-or-nothing and 2.0 partial writes, 2.0 response headers),
//! the read handler ([`read_handler`]: `SAMPLES` and `STREAMED_XOR_CHUNKS`, limits,
//! external labels) with its frame format ([`chunked`]), the sender ([`write_client`]:
//! requests from series batches, answers read back; [`queue`]: one queue per
//! `remote_write` entry with shards, batching, retries and back-pressure;
//! [`wal_watcher`]: the WAL reader that feeds each queue; [`write_storage`]: the
//! configured endpoints), the remote read client ([`read_client`]) with the storage
//! that merges remote reads into local queries ([`read_storage`]), and the axum mounting
//! ([`http`]).
//!
//! Invariants: nothing from a request body, response or header is unwrapped; sizes are
//! checked before buffers are allocated; a request refused before appending changes no
//! stored data, and a storage failure rolls the whole request back. Sending never blocks
//! ingestion: the queues read what to send from the WAL, behind the appenders.
//!
//! Must never know about PromQL, scraping, the HTTP API around it or the binary: the
//! web layer mounts [`http::router`] (or [`http::write_route`] and [`http::read_route`],
//! or calls [`WriteReceiver`] and [`ReadHandler`] directly).

pub mod chunked;
pub mod compression;
pub mod convert;
pub mod http;
pub mod proto;
pub mod proto_v2;
pub mod queue;
pub mod read_client;
pub mod read_handler;
pub mod read_storage;
pub mod receiver;
pub mod response;
pub mod series_labels;
pub mod wal_watcher;
pub mod write_client;
pub mod write_storage;

pub use queue::{QueueManager, QueueOptions, QueueStats};
pub use read_handler::{PreparedRead, ReadError, ReadHandler, ReadHandlerOptions};
pub use read_storage::{FanoutStorage, RemoteReadStorage};
pub use receiver::{WriteMessage, WriteOutcome, WriteReceiver, WriteReceiverOptions, WriteStats};
pub use response::RemoteResponse;
pub use wal_watcher::{WalPosition, WalSink, WalWatcher, WatcherOptions, WatcherStats};
pub use write_storage::{RemoteEndpoint, RemoteWriteStorage, WalSource};
