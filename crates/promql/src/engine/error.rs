//! Why a query failed, with upstream's error texts (the HTTP API maps the variants to
//! `errorType`s: `timeout`, `canceled`, `execution`, `bad_data`, `internal`).

/// A query that could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was canceled by its caller.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// The query would hold more than `max_samples` samples at once.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The storage failed while series were read.
    #[error("{0}")]
    Storage(String),
    /// The query cannot run with these parameters (bad expression type for a range
    /// query, a feature that is switched off, an invalid duration expression).
    #[error("{0}")]
    BadData(String),
    /// A runtime error of the evaluation, worded as upstream's (duplicate label sets,
    /// many-to-many matching, invalid function arguments).
    #[error("{0}")]
    Execution(String),
}

/// Where upstream's limit errors say they happened.
pub(crate) const ENV: &str = "query execution";
/// Where timeouts during evaluation are reported.
pub(crate) const EXPR_EVAL: &str = "expression evaluation";

pub(crate) fn exec(msg: impl Into<String>) -> EvalError {
    EvalError::Execution(msg.into())
}

/// The error upstream raises when two results would have the same labels.
pub(crate) fn duplicate_labelset() -> EvalError {
    exec("vector cannot contain metrics with the same labelset")
}
