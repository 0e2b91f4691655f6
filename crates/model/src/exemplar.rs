//! Exemplars: a sample of a trace that explains a value (OpenMetrics `# {trace_id="…"} 1.0`).

use crate::labels::Labels;
use crate::sample::Timestamp;

/// OpenMetrics limits an exemplar's label set to 128 UTF-8 characters (names and values).
pub const MAX_EXEMPLAR_LABELS_RUNES: usize = 128;

/// An exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    /// Absent when the exposition gave none; storage then uses the sample's timestamp.
    pub timestamp: Option<Timestamp>,
}
