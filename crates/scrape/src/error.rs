//! Why a scrape failed. The texts are upstream's: they become `lastError` in the targets
//! API and users search for them.

use hearth_exposition::ParseError;
use hearth_tsdb::storage::AppendError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("histogram bucket limit exceeded")]
    BucketLimit,
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// A non-200 answer: `server returned HTTP status 500 Internal Server Error`.
    #[error("server returned HTTP status {0}")]
    HttpStatus(String),
    /// The request failed (connect, TLS, timeout, reading the body): Go's
    /// `Get "<url>": <reason>`.
    #[error("Get \"{url}\": {reason}")]
    Request { url: String, reason: String },
    #[error("{0}")]
    Parse(ParseError),
    /// The body could not be decoded (bad gzip data).
    #[error("{0}")]
    Body(String),
    /// No parser for the content type and no usable fallback.
    #[error("{0}")]
    ContentType(String),
    #[error("missing metric name (__name__ label)")]
    NameLabelMandatory,
    #[error("invalid metric name or label names: {0}")]
    InvalidLabels(String),
    /// `label_limit`, `label_name_length_limit` or `label_value_length_limit` exceeded
    /// (the message names which).
    #[error("{0}")]
    LabelLimit(String),
    #[error("{0}")]
    Append(AppendError),
    #[error("target_limit exceeded (number of targets: {targets}, limit: {limit})")]
    TargetLimit { targets: usize, limit: u64 },
    /// The target's interval or timeout label could not be used.
    #[error("{0}")]
    TargetConfig(String),
    #[error("error creating HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Config(String),
}
