//! [`MemPostings`]: an in-memory inverted index from label pairs to sorted series refs.

use std::collections::BTreeMap;
use std::convert::Infallible;

use hearth_model::Labels;

use super::{BoxPostings, ListPostings, PostingsSource, empty, merge, values_with_prefix};

/// Label name → value → ascending series refs, plus the list of all refs.
///
/// Single-threaded by design: the head wraps it in its own locking. Refs are expected to
/// arrive mostly in ascending order (appends are O(1) then); out-of-order refs are
/// inserted in place.
#[derive(Debug, Default, Clone)]
pub struct MemPostings {
    by_label: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

impl MemPostings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes series `id` under each of its labels.
    pub fn add(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            let values = self.by_label.entry(l.name.to_string()).or_default();
            let list = values.entry(l.value.to_string()).or_default();
            insert_sorted(list, id);
        }
        insert_sorted(&mut self.all, id);
    }

    /// Removes series `id` (indexed with `labels`), dropping emptied values and names.
    pub fn delete(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            let Some(values) = self.by_label.get_mut(l.name.as_str()) else {
                continue;
            };
            if let Some(list) = values.get_mut(l.value.as_str()) {
                if let Ok(i) = list.binary_search(&id) {
                    list.remove(i);
                }
                if list.is_empty() {
                    values.remove(l.value.as_str());
                }
            }
            if values.is_empty() {
                self.by_label.remove(l.name.as_str());
            }
        }
        if let Ok(i) = self.all.binary_search(&id) {
            self.all.remove(i);
        }
    }

    /// Label names, ascending.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.by_label.keys().map(String::as_str)
    }

    /// Number of series indexed.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        None => list.push(id),
        Some(&last) if last < id => list.push(id),
        Some(_) => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
    }
}

impl PostingsSource for MemPostings {
    type Error = Infallible;

    fn visit_label_values(
        &self,
        name: &str,
        prefix: &str,
        f: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), Infallible> {
        let Some(values) = self.by_label.get(name) else {
            return Ok(());
        };
        for (v, _) in values_with_prefix(values, prefix) {
            if !f(v) {
                break;
            }
        }
        Ok(())
    }

    fn postings(&self, name: &str, values: &[&str]) -> Result<BoxPostings<'_>, Infallible> {
        if name.is_empty() && values == [""] {
            return self.all_postings();
        }
        let Some(by_value) = self.by_label.get(name) else {
            return Ok(empty());
        };
        let its = values
            .iter()
            .filter_map(|v| by_value.get(*v))
            .map(|l| Box::new(ListPostings::new(l.as_slice())) as BoxPostings<'_>)
            .collect();
        Ok(merge(its))
    }

    fn postings_for_label_matching(
        &self,
        name: &str,
        prefix: &str,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'_>, Infallible> {
        let Some(values) = self.by_label.get(name) else {
            return Ok(empty());
        };
        // One range scan picks the lists directly instead of looking each value up again.
        let its = values_with_prefix(values, prefix)
            .filter(|(v, _)| matches(v))
            .map(|(_, l)| Box::new(ListPostings::new(l.as_slice())) as BoxPostings<'_>)
            .collect();
        Ok(merge(its))
    }

    fn all_postings(&self) -> Result<BoxPostings<'_>, Infallible> {
        Ok(Box::new(ListPostings::new(self.all.as_slice())))
    }
}
