//! The contract every collector keeps: one `update` per scrape that writes metric
//! families into a [`MetricSink`], and the errors it may report instead.

use std::io;
use std::path::{Path, PathBuf};

use crate::sink::MetricSink;

/// One node_exporter collector (`cpu`, `meminfo`, …). Collectors are shared between
/// concurrent scrapes, so state they keep across scrapes sits behind a lock.
pub trait Collector: Send + Sync {
    /// The collector's upstream name, as in `--collector.<name>` and the `collector` label.
    fn name(&self) -> &'static str;

    /// Reads the host and writes this collector's metrics. Metrics written before an
    /// error still count, as upstream exports what a failing collector sent first.
    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError>;
}

/// Why a collector produced no (or incomplete) metrics.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The host lacks what this collector reads (no hwmon chips, no PSI): success 0,
    /// logged at debug level only, as upstream's `ErrNoData`.
    #[error("collector returned no data: {0}")]
    NoData(String),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    pub fn read(path: &Path, source: io::Error) -> CollectError {
        CollectError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn parse(path: &Path, message: impl Into<String>) -> CollectError {
        CollectError::Parse {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// True when the error is a missing file or directory.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CollectError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}
