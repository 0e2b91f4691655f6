//! Go's `container/heap` and `sort.Sort` orderings, reproduced so that results with
//! equal values (`topk`, `sort`) come out in the same order as upstream's.

use std::cmp::Ordering;

use super::value::Sample;

/// The two value orders upstream's heaps use; NaN sorts before everything in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeapOrder {
    /// `vectorByValueHeap`: ascending.
    Value,
    /// `vectorByReverseValueHeap`: descending.
    ReverseValue,
}

impl HeapOrder {
    pub fn less(self, a: &Sample, b: &Sample) -> bool {
        if a.f.is_nan() {
            return true;
        }
        match self {
            HeapOrder::Value => a.f < b.f,
            HeapOrder::ReverseValue => a.f > b.f,
        }
    }
}

fn up(h: &mut [Sample], mut j: usize, order: HeapOrder) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !order.less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn down(h: &mut [Sample], i0: usize, n: usize, order: HeapOrder) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && order.less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !order.less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// `heap.Push`.
pub(crate) fn heap_push(h: &mut Vec<Sample>, s: Sample, order: HeapOrder) {
    h.push(s);
    let n = h.len() - 1;
    up(h, n, order);
}

/// `heap.Fix`.
pub(crate) fn heap_fix(h: &mut [Sample], i: usize, order: HeapOrder) {
    let n = h.len();
    if !down(h, i, n, order) {
        up(h, i, order);
    }
}

/// Go's `sort.Sort` with a less function. Go sorts up to 12 elements by insertion sort,
/// which keeps equal elements in place; longer slices use pdqsort, whose order of
/// equal elements this stable sort does not reproduce exactly.
pub(crate) fn go_sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    // Both directions are asked so that a `less` that holds both ways (NaN against
    // NaN) counts as equal: the comparator must be a total order.
    v.sort_by(|a, b| match (less(a, b), less(b, a)) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => Ordering::Equal,
    });
}
