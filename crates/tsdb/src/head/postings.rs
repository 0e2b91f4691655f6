//! The head's inverted index: label name → value → ascending series refs, keyed by the
//! interned strings the series' labels already hold, so an index entry costs a pointer
//! and a list slot, not a copy of the strings.
//!
//! One `RwLock` guards it (in [`super::Head`]), as upstream's `MemPostings`: writers are
//! series creation and garbage collection, far rarer than reads.

use std::collections::BTreeMap;
use std::convert::Infallible;

use hearth_model::{Istr, Labels};

use crate::postings::{
    BoxPostings, ListPostings, PostingsSource, empty, merge, values_with_prefix,
};

/// Refs of one label pair. Most values of high-cardinality labels belong to one series,
/// which then needs no allocation of its own; lists hold 4-byte refs until a ref needs
/// more (after four billion series were ever created).
#[derive(Debug, Clone)]
enum RefList {
    One(u64),
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for RefList {
    fn default() -> Self {
        RefList::Narrow(Vec::new())
    }
}

/// Postings over a list of 4-byte refs.
#[derive(Debug, Clone, Copy)]
struct NarrowRefs<'a>(&'a [u32]);

impl crate::postings::RefList for NarrowRefs<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> u64 {
        u64::from(self.0[i])
    }
}

impl RefList {
    fn postings(&self) -> BoxPostings<'_> {
        match self {
            RefList::One(r) => Box::new(ListPostings::new(std::slice::from_ref(r))),
            RefList::Narrow(v) => Box::new(ListPostings::new(NarrowRefs(v))),
            RefList::Wide(v) => Box::new(ListPostings::new(v.as_slice())),
        }
    }

    fn insert(&mut self, id: u64) {
        match self {
            RefList::One(r) if *r == id => {}
            RefList::One(r) => {
                let (a, b) = if *r < id { (*r, id) } else { (id, *r) };
                *self = match (u32::try_from(a), u32::try_from(b)) {
                    (Ok(a), Ok(b)) => RefList::Narrow(vec![a, b]),
                    _ => RefList::Wide(vec![a, b]),
                };
            }
            RefList::Narrow(v) => match u32::try_from(id) {
                Ok(id) => insert_sorted(v, id),
                Err(_) => {
                    let mut wide: Vec<u64> = v.iter().map(|r| u64::from(*r)).collect();
                    insert_sorted(&mut wide, id);
                    *self = RefList::Wide(wide);
                }
            },
            RefList::Wide(v) => insert_sorted(v, id),
        }
    }

    /// Removes `id`; returns whether the list is now empty.
    fn remove(&mut self, id: u64) -> bool {
        let only = match self {
            RefList::One(r) => return *r == id,
            RefList::Narrow(v) => {
                if let Ok(i) = u32::try_from(id).map_or(Err(0), |id| v.binary_search(&id)) {
                    v.remove(i);
                }
                match v.as_slice() {
                    [] => return true,
                    [r] => u64::from(*r),
                    _ => return false,
                }
            }
            RefList::Wide(v) => {
                if let Ok(i) = v.binary_search(&id) {
                    v.remove(i);
                }
                match v.as_slice() {
                    [] => return true,
                    [r] => *r,
                    _ => return false,
                }
            }
        };
        *self = RefList::One(only);
        false
    }

    fn len(&self) -> usize {
        match self {
            RefList::One(_) => 1,
            RefList::Narrow(v) => v.len(),
            RefList::Wide(v) => v.len(),
        }
    }
}

fn insert_sorted<T: Ord + Copy>(list: &mut Vec<T>, id: T) {
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
    all: RefList,
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
        self.all.insert(id);
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
        if self.all.remove(id) {
            self.all = RefList::default();
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
    pub(crate) fn refs(&self, name: &str, value: &str) -> Vec<u64> {
        self.by_name
            .get(name)
            .and_then(|v| v.get(value))
            .map(|l| crate::postings::collect(&mut l.postings()))
            .unwrap_or_default()
    }

    /// Calls `f` with each label name and its values with their series counts.
    pub(crate) fn visit_counts(
        &self,
        mut f: impl FnMut(&str, &mut dyn Iterator<Item = (&str, usize)>),
    ) {
        for (name, values) in &self.by_name {
            let mut it = values.iter().map(|(v, l)| (v.as_str(), l.len()));
            f(name.as_str(), &mut it);
        }
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
        let Some(by_value) = self.by_name.get(name) else {
            return Ok(empty());
        };
        let lists = values
            .iter()
            .filter_map(|v| by_value.get(*v))
            .map(RefList::postings)
            .collect();
        Ok(merge(lists))
    }

    fn all_postings(&self) -> Result<BoxPostings<'_>, Infallible> {
        Ok(self.all.postings())
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
        let lists = values_with_prefix(values, prefix)
            .filter(|(v, _)| matches(v))
            .map(|(_, l)| l.postings())
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

    #[test]
    fn ref_lists_widen_past_four_bytes() {
        let mut l = RefList::One(7);
        l.insert(3);
        l.insert(u64::from(u32::MAX) + 5);
        l.insert(9);
        assert!(matches!(l, RefList::Wide(_)));
        assert_eq!(
            crate::postings::collect(&mut l.postings()),
            [3, 7, 9, u64::from(u32::MAX) + 5]
        );
        assert!(!l.remove(3));
        assert!(!l.remove(9));
        assert!(!l.remove(u64::from(u32::MAX) + 5));
        assert!(matches!(l, RefList::One(7)));
        assert!(l.remove(7));
    }
}
