//! Turns the label pairs of a received series (raw bytes off the wire, 1.0 pairs or
//! resolved 2.0 symbol references) into a validated [`Labels`], with upstream's rules
//! and error texts.
//!
//! Upstream (3.x, UTF-8 names) requires: a non-empty `__name__`, non-empty names,
//! valid UTF-8 everywhere, no repeated name. It sorts unsorted pairs rather than
//! rejecting them (the spec's "MUST be sorted" binds senders); rejecting is an option
//! here. Empty values are dropped, as a label with an empty value is no label.

use hearth_model::{Label, Labels, METRIC_NAME};

use crate::convert::write_raw_labels;

/// Why a series' labels were refused; the text is what the sender reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesLabelsError {
    #[error("invalid metric name or labels, got {0}")]
    Invalid(String),
    #[error("invalid labels for series, labels {labels}, duplicated label {name}")]
    Duplicate { labels: String, name: String },
    #[error("invalid labels for series, labels {0}, label names are not sorted")]
    Unsorted(String),
}

/// Reusable scratch space, so validating a request allocates per series only the
/// resulting label set.
#[derive(Default)]
pub struct LabelsScratch<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> LabelsScratch<'a> {
    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    pub fn push(&mut self, name: &'a [u8], value: &'a [u8]) {
        self.pairs.push((name, value));
    }

    /// Validates the pushed pairs and builds the label set.
    pub fn build(&mut self, reject_unsorted: bool) -> Result<Labels, SeriesLabelsError> {
        let sorted = self.pairs.windows(2).all(|w| w[0].0 <= w[1].0);
        if !sorted {
            if reject_unsorted {
                return Err(SeriesLabelsError::Unsorted(self.printed()));
            }
            // Stable, so among repeated names the message shows the sender's order.
            self.pairs.sort_by(|a, b| a.0.cmp(b.0));
        }
        let mut has_name = false;
        for (name, value) in &self.pairs {
            let valid = !name.is_empty()
                && std::str::from_utf8(name).is_ok()
                && std::str::from_utf8(value).is_ok();
            if !valid {
                return Err(SeriesLabelsError::Invalid(self.printed()));
            }
            if *name == METRIC_NAME.as_bytes() {
                if value.is_empty() {
                    return Err(SeriesLabelsError::Invalid(self.printed()));
                }
                has_name = true;
            }
        }
        if !has_name {
            return Err(SeriesLabelsError::Invalid(self.printed()));
        }
        if let Some(w) = self.pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(SeriesLabelsError::Duplicate {
                labels: self.printed(),
                name: String::from_utf8_lossy(w[0].0).into_owned(),
            });
        }
        let labels = self
            .pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            // Checked above: both are valid UTF-8.
            .filter_map(|(n, v)| {
                Some(Label::new(
                    std::str::from_utf8(n).ok()?,
                    std::str::from_utf8(v).ok()?,
                ))
            })
            .collect();
        Ok(Labels::from_sorted_unchecked(labels))
    }

    fn printed(&self) -> String {
        let mut s = String::new();
        write_raw_labels(&mut s, self.pairs.iter().copied());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    fn build(pairs: &[(&str, &str)], reject_unsorted: bool) -> Result<Labels, SeriesLabelsError> {
        let mut s = LabelsScratch::default();
        for (n, v) in pairs {
            s.push(n.as_bytes(), v.as_bytes());
        }
        s.build(reject_unsorted)
    }

    #[test]
    fn valid_sets_build() {
        assert_eq!(
            build(&[("__name__", "up"), ("job", "a")], true).unwrap(),
            labels!("__name__" => "up", "job" => "a")
        );
        // UTF-8 names are valid in Prometheus 3; empty values are dropped.
        assert_eq!(
            build(&[("__name__", "a.b"), ("c.d", "é"), ("e", "")], false).unwrap(),
            labels!("__name__" => "a.b", "c.d" => "é")
        );
    }

    #[test]
    fn unsorted_sets_are_sorted_unless_refused() {
        let pairs = [("job", "a"), ("__name__", "up")];
        assert_eq!(
            build(&pairs, false).unwrap(),
            labels!("__name__" => "up", "job" => "a")
        );
        assert_eq!(
            build(&pairs, true).unwrap_err().to_string(),
            r#"invalid labels for series, labels {job="a", __name__="up"}, label names are not sorted"#
        );
    }

    #[test]
    fn invalid_sets_are_refused_with_upstream_texts() {
        assert_eq!(
            build(&[("job", "a")], false).unwrap_err().to_string(),
            r#"invalid metric name or labels, got {job="a"}"#
        );
        assert_eq!(
            build(&[("__name__", "")], false).unwrap_err().to_string(),
            r#"invalid metric name or labels, got {__name__=""}"#
        );
        assert_eq!(
            build(&[("", "x"), ("__name__", "up")], false)
                .unwrap_err()
                .to_string(),
            r#"invalid metric name or labels, got {""="x", __name__="up"}"#
        );
        assert_eq!(
            build(&[("__name__", "up"), ("zone", "a"), ("zone", "b")], false)
                .unwrap_err()
                .to_string(),
            r#"invalid labels for series, labels {__name__="up", zone="a", zone="b"}, duplicated label zone"#
        );
        let mut s = LabelsScratch::default();
        s.push(b"__name__", b"up");
        s.push(b"bad", b"\xff");
        assert!(matches!(s.build(false), Err(SeriesLabelsError::Invalid(_))));
    }
}
