//! Postings: ascending lists of series references and set operations over them.
//!
//! Owns the [`Postings`] iterator abstraction shared by the block index and the in-memory
//! head, the list types behind it (owned vectors, borrowed slices, the big-endian `u32`
//! lists of the index file), lazy [`intersect`], [`merge`] (union) and [`without`]
//! (difference) over any number of lists, [`MemPostings`] (a simple in-memory inverted
//! index) and [`postings_for_matchers`], which turns label matchers into a postings list
//! with Prometheus' semantics.
//!
//! Iteration never fails: sources validate a list (length, checksum) when they hand it
//! out, so errors surface when a list is opened, not while it is walked.

mod matchers;
mod mem;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub use matchers::{PostingsSource, postings_for_matchers};
pub use mem::MemPostings;

/// An iterator over an ascending, duplicate-free sequence of series references.
///
/// Protocol (as upstream's `index.Postings`): call [`Postings::next`] or
/// [`Postings::seek`]; when either returns true, [`Postings::at`] is the current
/// reference. Once either returns false the iterator is exhausted for good.
pub trait Postings {
    /// Advances to the next reference.
    fn next(&mut self) -> bool;
    /// Advances to the first reference `>= v`. Never moves backwards: when the current
    /// reference is already `>= v` this is a no-op returning true.
    fn seek(&mut self, v: u64) -> bool;
    /// The current reference (unspecified before the first successful `next`/`seek`).
    fn at(&self) -> u64;
    /// True when the list is empty without iterating it, so callers can short-circuit.
    fn is_known_empty(&self) -> bool {
        false
    }
}

/// The entries of a sorted map of label values whose value starts with `prefix`, in
/// order: the range scan in-memory indexes answer value lookups with.
pub(crate) fn values_with_prefix<'a, 'p, K, V>(
    values: &'a std::collections::BTreeMap<K, V>,
    prefix: &'p str,
) -> impl Iterator<Item = (&'a K, &'a V)> + use<'a, 'p, K, V>
where
    K: std::borrow::Borrow<str> + Ord,
{
    values
        .range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(move |(v, _)| v.borrow().starts_with(prefix))
}

/// A type-erased postings list, possibly borrowing from an index.
pub type BoxPostings<'a> = Box<dyn Postings + 'a>;

impl<P: Postings + ?Sized> Postings for Box<P> {
    fn next(&mut self) -> bool {
        (**self).next()
    }
    fn seek(&mut self, v: u64) -> bool {
        (**self).seek(v)
    }
    fn at(&self) -> u64 {
        (**self).at()
    }
    fn is_known_empty(&self) -> bool {
        (**self).is_known_empty()
    }
}

/// The empty list.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyPostings;

impl Postings for EmptyPostings {
    fn next(&mut self) -> bool {
        false
    }
    fn seek(&mut self, _: u64) -> bool {
        false
    }
    fn at(&self) -> u64 {
        0
    }
    fn is_known_empty(&self) -> bool {
        true
    }
}

/// A boxed [`EmptyPostings`].
pub fn empty<'a>() -> BoxPostings<'a> {
    Box::new(EmptyPostings)
}

/// Random access to an ascending list of references, whatever its storage.
pub trait RefList {
    fn len(&self) -> usize;
    /// The `i`th reference; `i < len()`.
    fn get(&self, i: usize) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RefList for Vec<u64> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn get(&self, i: usize) -> u64 {
        self[i]
    }
}

impl RefList for &[u64] {
    fn len(&self) -> usize {
        <[u64]>::len(self)
    }
    fn get(&self, i: usize) -> u64 {
        self[i]
    }
}

/// The on-disk postings body: big-endian `u32` references, 4 bytes each.
#[derive(Debug, Clone, Copy)]
pub struct BigEndianRefs<'a>(&'a [u8]);

impl<'a> BigEndianRefs<'a> {
    /// Wraps `b`; trailing bytes short of a whole reference are ignored.
    pub fn new(b: &'a [u8]) -> Self {
        BigEndianRefs(&b[..b.len() - b.len() % 4])
    }
}

impl RefList for BigEndianRefs<'_> {
    fn len(&self) -> usize {
        self.0.len() / 4
    }
    fn get(&self, i: usize) -> u64 {
        let b = &self.0[i * 4..i * 4 + 4];
        u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Postings over any [`RefList`]; `seek` gallops, so intersecting a short list with a
/// long one costs about `short * log(long)`.
#[derive(Debug, Clone)]
pub struct ListPostings<L> {
    list: L,
    /// Index of the next unread element; the current one is `next_idx - 1`.
    next_idx: usize,
}

/// Postings over an owned vector.
pub type VecPostings = ListPostings<Vec<u64>>;
/// Postings over a borrowed slice.
pub type SlicePostings<'a> = ListPostings<&'a [u64]>;
/// Postings over an index file's postings body.
pub type BigEndianPostings<'a> = ListPostings<BigEndianRefs<'a>>;

impl<L: RefList> ListPostings<L> {
    /// `list` must be ascending and duplicate-free.
    pub fn new(list: L) -> Self {
        ListPostings { list, next_idx: 0 }
    }

    /// Number of references not yet returned.
    pub fn remaining(&self) -> usize {
        self.list.len().saturating_sub(self.next_idx)
    }
}

impl<L: RefList> Postings for ListPostings<L> {
    fn next(&mut self) -> bool {
        if self.next_idx < self.list.len() {
            self.next_idx += 1;
            return true;
        }
        false
    }

    fn seek(&mut self, v: u64) -> bool {
        if self.next_idx > 0 && self.next_idx <= self.list.len() && self.at() >= v {
            return true;
        }
        let i = gallop(&self.list, self.next_idx, v);
        if i < self.list.len() {
            self.next_idx = i + 1;
            true
        } else {
            self.next_idx = self.list.len() + 1;
            false
        }
    }

    fn at(&self) -> u64 {
        match self.next_idx.checked_sub(1) {
            Some(i) if i < self.list.len() => self.list.get(i),
            _ => 0,
        }
    }

    fn is_known_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// First index `>= from` whose reference is `>= v` (or `len`): exponential probe, then
/// binary search inside the bracket found.
fn gallop<L: RefList>(l: &L, from: usize, v: u64) -> usize {
    let len = l.len();
    let mut lo = from;
    let mut hi = from;
    let mut step = 1;
    while hi < len && l.get(hi) < v {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    let mut hi = hi.min(len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if l.get(mid) < v {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Reads the rest of `p` into a vector.
pub fn collect(p: &mut dyn Postings) -> Vec<u64> {
    let mut out = Vec::new();
    while p.next() {
        out.push(p.at());
    }
    out
}

/// The references present in every list.
pub fn intersect<'a>(mut its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    if its.is_empty() || its.iter().any(|p| p.is_known_empty()) {
        return empty();
    }
    if its.len() == 1 {
        return its.swap_remove(0);
    }
    Box::new(IntersectPostings { its, cur: 0 })
}

struct IntersectPostings<'a> {
    its: Vec<BoxPostings<'a>>,
    cur: u64,
}

impl IntersectPostings<'_> {
    /// Seeks every list to `cur`, raising `cur` until all agree.
    fn align(&mut self) -> bool {
        'again: loop {
            for p in self.its.iter_mut() {
                if !p.seek(self.cur) {
                    return false;
                }
                if p.at() > self.cur {
                    self.cur = p.at();
                    continue 'again;
                }
            }
            return true;
        }
    }
}

impl Postings for IntersectPostings<'_> {
    fn next(&mut self) -> bool {
        for p in self.its.iter_mut() {
            if !p.next() {
                return false;
            }
            self.cur = self.cur.max(p.at());
        }
        self.align()
    }

    fn seek(&mut self, v: u64) -> bool {
        self.cur = self.cur.max(v);
        self.align()
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

/// The references present in any list (deduplicated).
pub fn merge<'a>(its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    let mut its: Vec<BoxPostings<'a>> = its.into_iter().filter(|p| !p.is_known_empty()).collect();
    match its.len() {
        0 => empty(),
        1 => its.swap_remove(0),
        _ => Box::new(MergedPostings {
            heap: BinaryHeap::with_capacity(its.len()),
            its,
            cur: 0,
            started: false,
        }),
    }
}

/// k-way union over a min-heap keyed by each list's current reference.
struct MergedPostings<'a> {
    its: Vec<BoxPostings<'a>>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    cur: u64,
    started: bool,
}

impl MergedPostings<'_> {
    fn settle(&mut self) -> bool {
        match self.heap.peek() {
            Some(Reverse((v, _))) => {
                self.cur = *v;
                true
            }
            None => false,
        }
    }
}

impl Postings for MergedPostings<'_> {
    fn next(&mut self) -> bool {
        if !self.started {
            self.started = true;
            for (i, p) in self.its.iter_mut().enumerate() {
                if p.next() {
                    self.heap.push(Reverse((p.at(), i)));
                }
            }
            return self.settle();
        }
        // Advance every list sitting on the current reference (that is the dedup).
        while let Some(&Reverse((v, i))) = self.heap.peek() {
            if v != self.cur {
                break;
            }
            self.heap.pop();
            if self.its[i].next() {
                self.heap.push(Reverse((self.its[i].at(), i)));
            }
        }
        self.settle()
    }

    fn seek(&mut self, v: u64) -> bool {
        if !self.started {
            self.started = true;
            for (i, p) in self.its.iter_mut().enumerate() {
                if p.seek(v) {
                    self.heap.push(Reverse((p.at(), i)));
                }
            }
            return self.settle();
        }
        while let Some(&Reverse((top, i))) = self.heap.peek() {
            if top >= v {
                break;
            }
            self.heap.pop();
            if self.its[i].seek(v) {
                self.heap.push(Reverse((self.its[i].at(), i)));
            }
        }
        self.settle()
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

/// The references of `full` that are not in `drop`.
pub fn without<'a>(full: BoxPostings<'a>, drop: BoxPostings<'a>) -> BoxPostings<'a> {
    if full.is_known_empty() {
        return empty();
    }
    if drop.is_known_empty() {
        return full;
    }
    Box::new(WithoutPostings {
        full,
        drop,
        drop_state: DropState::Unstarted,
        cur: None,
    })
}

enum DropState {
    Unstarted,
    At,
    Exhausted,
}

struct WithoutPostings<'a> {
    full: BoxPostings<'a>,
    drop: BoxPostings<'a>,
    drop_state: DropState,
    cur: Option<u64>,
}

impl WithoutPostings<'_> {
    /// Whether `full`'s current reference survives, moving `drop` up to it.
    fn keeps_current(&mut self) -> bool {
        let f = self.full.at();
        let needs_seek = match self.drop_state {
            DropState::Unstarted => true,
            DropState::At => self.drop.at() < f,
            DropState::Exhausted => false,
        };
        if needs_seek {
            self.drop_state = if self.drop.seek(f) {
                DropState::At
            } else {
                DropState::Exhausted
            };
        }
        let dropped = matches!(self.drop_state, DropState::At) && self.drop.at() == f;
        if !dropped {
            self.cur = Some(f);
        }
        !dropped
    }
}

impl Postings for WithoutPostings<'_> {
    fn next(&mut self) -> bool {
        while self.full.next() {
            if self.keeps_current() {
                return true;
            }
        }
        false
    }

    fn seek(&mut self, v: u64) -> bool {
        if self.cur.is_some_and(|c| c >= v) {
            return true;
        }
        if !self.full.seek(v) {
            return false;
        }
        self.keeps_current() || self.next()
    }

    fn at(&self) -> u64 {
        self.cur.unwrap_or(0)
    }
}

#[cfg(test)]
pub(crate) mod tests;
