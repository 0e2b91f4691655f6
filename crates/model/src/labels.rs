//! Label sets: the identity of a series.
//!
//! A [`Labels`] is an immutable, sorted (by name, bytewise), duplicate-free list of
//! interned name/value pairs behind one reference count, so cloning it is cheap and
//! comparing two of them mostly compares pointers. Its [`Labels::hash`] is the same
//! xxHash64 Prometheus computes, so hashes are stable across processes and versions.

use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, LazyLock};

use xxhash_rust::xxh64::Xxh64;

use crate::intern::Istr;
use crate::names::{write_go_quoted, write_label_name};

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";
/// Separator byte Prometheus uses between names and values when hashing label sets.
const SEP: u8 = 0xff;

/// One name/value pair.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: Istr,
    pub value: Istr,
}

impl Label {
    pub fn new(name: &str, value: &str) -> Label {
        Label {
            name: Istr::new(name),
            value: Istr::new(value),
        }
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, self.value.as_str())
    }
}

/// A sorted, immutable set of labels. Empty values are never stored: as in Prometheus, a
/// label with an empty value is the same as no label.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<[Label]>);

static EMPTY: LazyLock<Labels> = LazyLock::new(|| Labels(Arc::from(Vec::new())));

impl Labels {
    /// The empty label set (shared, no allocation).
    pub fn empty() -> Labels {
        EMPTY.clone()
    }

    /// Builds a label set from pairs in any order. Pairs with empty values are dropped;
    /// for a repeated name the last pair wins.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Labels {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
            .collect();
        Labels::from_vec(&mut v)
    }

    /// Builds a label set from labels in any order (see [`Labels::new`]).
    pub fn from_vec(v: &mut Vec<Label>) -> Labels {
        // Stable sort keeps input order among equal names, so "last wins" can dedup.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v.drain(..) {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        if out.is_empty() {
            return Labels::empty();
        }
        Labels(Arc::from(out))
    }

    /// Wraps labels that are already sorted by name, unique and without empty values.
    /// Callers that cannot guarantee this must use [`Labels::from_vec`].
    pub fn from_sorted_unchecked(v: Vec<Label>) -> Labels {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name));
        if v.is_empty() {
            return Labels::empty();
        }
        Labels(Arc::from(v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.0[i].value.as_str())
    }

    /// The value of label `name`, or `""` when absent (Prometheus' `Labels.Get`).
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn has(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    fn position(&self, name: &str) -> Option<usize> {
        // Label sets are small; a linear scan beats binary search below ~16 labels.
        if self.0.len() <= 16 {
            return self.0.iter().position(|l| l.name.as_str() == name);
        }
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok()
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The stable hash of the whole label set, identical to Prometheus' `Labels.Hash()`.
    pub fn hash(&self) -> u64 {
        let mut h = Xxh64::new(0);
        for l in self.0.iter() {
            h.update(l.name.as_bytes());
            h.update(&[SEP]);
            h.update(l.value.as_bytes());
            h.update(&[SEP]);
        }
        h.digest()
    }

    /// Hash of only the labels whose names are in `names` (which must be sorted).
    pub fn hash_for_labels(&self, names: &[&str]) -> u64 {
        let mut h = Xxh64::new(0);
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < names.len() {
            match self.0[i].name.as_str().cmp(names[j]) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    let l = &self.0[i];
                    h.update(l.name.as_bytes());
                    h.update(&[SEP]);
                    h.update(l.value.as_bytes());
                    h.update(&[SEP]);
                    i += 1;
                    j += 1;
                }
            }
        }
        h.digest()
    }

    /// Hash of the labels whose names are not in `names` (sorted), always excluding
    /// `__name__`, as Prometheus' `HashWithoutLabels`.
    pub fn hash_without_labels(&self, names: &[&str]) -> u64 {
        let mut h = Xxh64::new(0);
        let mut j = 0;
        for l in self.0.iter() {
            while j < names.len() && names[j] < l.name.as_str() {
                j += 1;
            }
            if l.name.as_str() == METRIC_NAME || (j < names.len() && names[j] == l.name.as_str()) {
                continue;
            }
            h.update(l.name.as_bytes());
            h.update(&[SEP]);
            h.update(l.value.as_bytes());
            h.update(&[SEP]);
        }
        h.digest()
    }

    /// A copy with only the labels named in `names`.
    pub fn keep(&self, names: &[&str]) -> Labels {
        self.filtered(|l| names.contains(&l.name.as_str()))
    }

    /// A copy without the labels named in `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        self.filtered(|l| !names.contains(&l.name.as_str()))
    }

    /// A copy without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        if !self.has(METRIC_NAME) {
            return self.clone();
        }
        self.filtered(|l| l.name.as_str() != METRIC_NAME)
    }

    fn filtered(&self, keep: impl Fn(&Label) -> bool) -> Labels {
        let v: Vec<Label> = self.0.iter().filter(|l| keep(l)).cloned().collect();
        if v.len() == self.0.len() {
            return self.clone();
        }
        Labels::from_sorted_unchecked(v)
    }

    /// A builder starting from this label set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.to_vec(),
        }
    }

    /// Writes the label set as Prometheus prints it: `{a="1", b="2"}`.
    pub fn write_braced(&self, out: &mut String) {
        out.push('{');
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_label_name(out, &l.name);
            out.push('=');
            write_go_quoted(out, &l.value);
        }
        out.push('}');
    }

    /// Total bytes of names and values, for memory accounting.
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|l| l.name.len() + l.value.len()).sum()
    }
}

impl Default for Labels {
    fn default() -> Labels {
        Labels::empty()
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Prometheus' `labels.Compare`: pairwise by name then value, shorter set first.
    fn cmp(&self, other: &Labels) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let o = a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value));
            if o != Ordering::Equal {
                return o;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_braced(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Edits a label set: set, delete, then build a new sorted [`Labels`].
/// Setting a label to the empty string deletes it, as in Prometheus.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> LabelsBuilder {
        LabelsBuilder::default()
    }

    /// Resets the builder to `base`.
    pub fn reset(&mut self, base: &Labels) {
        self.labels.clear();
        self.labels.extend_from_slice(base.as_slice());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name.as_str() == name)
            .map(|l| l.value.as_str())
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.labels.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].value = Istr::new(value),
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, Label::new(name, value)),
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name.as_str() != name);
        self
    }

    /// Keeps only the labels for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Label) -> bool) -> &mut Self {
        self.labels.retain(keep);
        self
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.labels.iter()
    }

    pub fn labels(&self) -> Labels {
        Labels::from_sorted_unchecked(self.labels.clone())
    }
}

/// Builds a label set from a literal list: `labels!("__name__" => "up", "job" => "x")`.
#[macro_export]
macro_rules! labels {
    () => { $crate::Labels::empty() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Labels::new([$(($name, $value)),+])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduped_without_empty() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn hash_matches_prometheus() {
        // Value computed by Prometheus' labels.FromStrings("__name__","up","job","node").Hash().
        let l = labels!("__name__" => "up", "job" => "node");
        let mut buf = Vec::new();
        for (n, v) in [("__name__", "up"), ("job", "node")] {
            buf.extend_from_slice(n.as_bytes());
            buf.push(SEP);
            buf.extend_from_slice(v.as_bytes());
            buf.push(SEP);
        }
        assert_eq!(l.hash(), xxhash_rust::xxh64::xxh64(&buf, 0));
        assert_eq!(l.hash(), l.clone().hash());
        assert_ne!(l.hash(), labels!("__name__" => "up").hash());
    }

    #[test]
    fn hash_for_and_without() {
        let l = labels!("__name__" => "x", "a" => "1", "b" => "2", "c" => "3");
        assert_eq!(
            l.hash_for_labels(&["a", "c"]),
            labels!("a" => "1", "c" => "3").hash()
        );
        assert_eq!(
            l.hash_without_labels(&["b"]),
            labels!("a" => "1", "c" => "3").hash()
        );
        assert_eq!(l.hash_without_labels(&[]), l.without_metric_name().hash());
    }

    #[test]
    fn compare_like_prometheus() {
        let a = labels!("a" => "1");
        let b = labels!("a" => "1", "b" => "1");
        let c = labels!("a" => "2");
        assert!(a < b && b < c && a < c);
    }

    #[test]
    fn builder_set_del() {
        let l = labels!("a" => "1", "b" => "2");
        let mut b = l.builder();
        b.set("c", "3").set("a", "").set("b", "x").del("zz");
        assert_eq!(b.labels().to_string(), r#"{b="x", c="3"}"#);
    }

    #[test]
    fn display_quotes_utf8_names() {
        let l = labels!("__name__" => "a.b", "ü" => "v\"");
        assert_eq!(l.to_string(), r#"{__name__="a.b", "ü"="v\""}"#);
    }
}
