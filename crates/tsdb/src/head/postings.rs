//! The head's inverted index: label name → value → ascending series refs, keyed by the
//! interned strings the series' labels already hold, so an index entry costs a pointer
//! and a list slot, not a copy of the strings.
//!
//! One `RwLock` guards it (in [`super::Head`]), as upstream's `MemPostings`: writers are
//! series creation and garbage collection, far rarer than reads.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound;

use hearth_model::{Istr, Labels};

use crate::postings::{BoxPostings, ListPostings, PostingsSource, empty, merge};

/// Refs of one label pair. Most values of high-cardinality labels belong to one series,
/// which then needs no allocation of its own.
#[derive(Debug, Clone)]
enum RefList {
    One(u64),
    Many(Vec<u64>),
}

impl RefList {
    fn as_slice(&self) -> &[u64] {
        match self {
            RefList::One(r) => std::slice::from_ref(r),
            RefList::Many(v) => v,
        }
    }

    fn insert(&mut self, id: u64) {
        match self {
            RefList::One(r) if *r == id => {}
            RefList::One(r) => {
                let (a, b) = if *r < id { (*r, id) } else { (id, *r) };
                *self = RefList::Many(vec![a, b]);
            }
            RefList::Many(v) => insert_sorted(v, id),
        }
    }

    /// Removes `id`; returns whether the list is now empty.
    fn remove(&mut self, id: u64) -> bool {
        match self {
            RefList::One(r) => *r == id,
            RefList::Many(v) => {
                if let Ok(i) = v.binary_search(&id) {
                    v.remove(i);
                }
                if v.len() == 1 {
                    *self = RefList::One(v[0]);
                    return false;
                }
                v.is_empty()
            }
        }
    }
}

fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
        _ => list.push(id),
    }
}

/// The inverted index of the head's series.
#[derive(Debug, Default)]
pub(crate) struct HeadPostings {
    by_name: BTreeMap<Istr, BTreeMap<Istr, RefList>>,
    all: Vec<u64>,
}

impl HeadPostings {
    pub(crate) fn add(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            let values = self.by_name.entry(l.name.clone()).or_default();
            match values.get_mut(l.value.as_str()) {
                Some(list) => list.insert(id),
                None => {
                    values.insert(l.value.clone(), RefList::One(id));
                }
            }
        }
        insert_sorted(&mut self.all, id);
    }

    pub(crate) fn delete(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            let Some(values) = self.by_name.get_mut(l.name.as_str()) else {
                continue;
            };
            if values
                .get_mut(l.value.as_str())
                .is_some_and(|list| list.remove(id))
            {
                values.remove(l.value.as_str());
            }
            if values.is_empty() {
                self.by_name.remove(l.name.as_str());
            }
        }
        if let Ok(i) = self.all.binary_search(&id) {
            self.all.remove(i);
        }
    }

    /// Label names, ascending.
    pub(crate) fn label_names(&self) -> impl Iterator<Item = &Istr> {
        self.by_name.keys()
    }

    /// Values of `name`, ascending.
    pub(crate) fn label_values(&self, name: &str) -> impl Iterator<Item = &Istr> {
        self.by_name.get(name).into_iter().flat_map(|v| v.keys())
    }

    /// The refs of `name=value` (empty when unknown).
    #[cfg(test)]
    pub(crate) fn refs(&self, name: &str, value: &str) -> &[u64] {
        self.by_name
            .get(name)
            .and_then(|v| v.get(value))
            .map_or(&[], RefList::as_slice)
    }

    /// Every distinct label name and value, sorted and deduplicated.
    pub(crate) fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, values) in &self.by_name {
            out.push(name.to_string());
            out.extend(values.keys().map(|v| v.to_string()));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }
}

impl PostingsSource for HeadPostings {
    type Error = Infallible;

    fn visit_label_values(
        &self,
        name: &str,
        prefix: &str,
        f: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), Infallible> {
        let Some(values) = self.by_name.get(name) else {
            return Ok(());
        };
        for (v, _) in values.range::<str, _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !v.starts_with(prefix) || !f(v) {
                break;
            }
        }
        Ok(())
    }

    fn postings(&self, name: &str, values: &[&str]) -> Result<BoxPostings<'_>, Infallible> {
        if name.is_empty() && values == [""] {
            return self.all_postings();
        }
        let Some(by_value) = self.by_name.get(name) else {
            return Ok(empty());
        };
        let lists = values
            .iter()
            .filter_map(|v| by_value.get(*v))
            .map(|l| Box::new(ListPostings::new(l.as_slice())) as BoxPostings<'_>)
            .collect();
        Ok(merge(lists))
    }

    fn all_postings(&self) -> Result<BoxPostings<'_>, Infallible> {
        Ok(Box::new(ListPostings::new(self.all.as_slice())))
    }

    fn postings_for_label_matching(
        &self,
        name: &str,
        prefix: &str,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'_>, Infallible> {
        let Some(values) = self.by_name.get(name) else {
            return Ok(empty());
        };
        let lists = values
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(v, _)| v.starts_with(prefix))
            .filter(|(v, _)| matches(v))
            .map(|(_, l)| Box::new(ListPostings::new(l.as_slice())) as BoxPostings<'_>)
            .collect();
        Ok(merge(lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postings::{Postings, postings_for_matchers};
    use hearth_model::{MatchOp, Matcher, labels};

    fn collect(mut p: BoxPostings<'_>) -> Vec<u64> {
        let mut v = Vec::new();
        while p.next() {
            v.push(p.at());
        }
        v
    }

    #[test]
    fn add_delete_and_match() {
        let mut ix = HeadPostings::default();
        ix.add(1, &labels!("__name__" => "up", "job" => "a"));
        ix.add(3, &labels!("__name__" => "up", "job" => "b"));
        ix.add(2, &labels!("__name__" => "down", "job" => "a"));
        let m = [Matcher::new(MatchOp::Equal, "job", "a").unwrap()];
        assert_eq!(collect(postings_for_matchers(&ix, &m).unwrap()), [1, 2]);
        let m = [Matcher::new(MatchOp::NotEqual, "job", "a").unwrap()];
        assert_eq!(collect(postings_for_matchers(&ix, &m).unwrap()), [3]);
        assert_eq!(ix.refs("__name__", "up"), [1, 3]);
        ix.delete(1, &labels!("__name__" => "up", "job" => "a"));
        assert_eq!(ix.refs("__name__", "up"), [3]);
        assert_eq!(ix.refs("job", "a"), [2]);
        ix.delete(2, &labels!("__name__" => "down", "job" => "a"));
        assert!(ix.label_values("job").map(|v| v.as_str()).eq(["b"]));
        assert_eq!(ix.symbols(), ["__name__", "b", "job", "up"]);
        assert_eq!(ix.len(), 1);
    }
}
