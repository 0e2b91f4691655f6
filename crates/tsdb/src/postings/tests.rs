use std::collections::BTreeSet;

use hearth_model::{Labels, MatchOp, Matcher, matches_all};

use super::*;

/// Deterministic xorshift so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn random_sorted(rng: &mut Rng, max_len: u64, universe: u64) -> Vec<u64> {
    let n = rng.below(max_len + 1);
    let set: BTreeSet<u64> = (0..n).map(|_| rng.below(universe)).collect();
    set.into_iter().collect()
}

fn boxed(v: &[u64]) -> BoxPostings<'_> {
    Box::new(ListPostings::new(v))
}

fn naive_intersect(lists: &[Vec<u64>]) -> Vec<u64> {
    let Some(first) = lists.first() else {
        return Vec::new();
    };
    first
        .iter()
        .copied()
        .filter(|v| lists.iter().all(|l| l.contains(v)))
        .collect()
}

fn naive_merge(lists: &[Vec<u64>]) -> Vec<u64> {
    let set: BTreeSet<u64> = lists.iter().flatten().copied().collect();
    set.into_iter().collect()
}

/// Drives `p` with a random mix of `next` and `seek`, checking each step against `want`.
fn check_walk(mut p: BoxPostings<'_>, want: &[u64], rng: &mut Rng, what: &str) {
    let mut pos: Option<usize> = None; // Index in `want` of the current element.
    loop {
        let (ok, expect) = if rng.below(3) == 0 {
            let target = rng.below(want.last().map_or(10, |l| l + 3));
            let cur = pos.map(|i| want[i]);
            let idx = match cur {
                Some(c) if c >= target => pos,
                _ => {
                    let from = pos.map_or(0, |i| i + 1);
                    want[from..]
                        .iter()
                        .position(|&v| v >= target)
                        .map(|i| i + from)
                }
            };
            (p.seek(target), idx)
        } else {
            let idx = pos.map_or(0, |i| i + 1);
            (p.next(), (idx < want.len()).then_some(idx))
        };
        match expect {
            Some(i) => {
                assert!(ok, "{what}: expected {} but iterator ended", want[i]);
                assert_eq!(p.at(), want[i], "{what}");
                pos = Some(i);
            }
            None => {
                assert!(!ok, "{what}: expected end, got {}", p.at());
                return;
            }
        }
    }
}

#[test]
fn list_postings_next_and_seek() {
    let v = vec![1u64, 3, 5, 9, 100, 1000];
    let mut p = ListPostings::new(v.clone());
    assert!(p.seek(4) && p.at() == 5);
    assert!(p.seek(2) && p.at() == 5, "seek never moves backwards");
    assert!(p.next() && p.at() == 9);
    assert!(p.seek(1000) && p.at() == 1000);
    assert!(!p.seek(1001));
    assert!(!p.next());
    assert_eq!(p.remaining(), 0);
    assert_eq!(collect(&mut ListPostings::new(v.as_slice())), v);

    let bytes: Vec<u8> = v.iter().flat_map(|&x| (x as u32).to_be_bytes()).collect();
    let mut be = ListPostings::new(BigEndianRefs::new(&bytes));
    assert!(be.seek(6) && be.at() == 9);
    assert_eq!(collect(&mut be), vec![100, 1000]);
}

#[test]
fn set_operations_match_naive_on_random_lists() {
    let mut rng = Rng::new(42);
    for round in 0..600 {
        let k = 1 + rng.below(5) as usize;
        let universe = [20, 200, 5000][round % 3];
        let lists: Vec<Vec<u64>> = (0..k)
            .map(|_| random_sorted(&mut rng, 60, universe))
            .collect();

        let its = lists.iter().map(|l| boxed(l)).collect();
        check_walk(
            intersect(its),
            &naive_intersect(&lists),
            &mut rng,
            "intersect",
        );

        let its = lists.iter().map(|l| boxed(l)).collect();
        check_walk(merge(its), &naive_merge(&lists), &mut rng, "merge");

        let full = &lists[0];
        let drop = naive_merge(&lists[1..]);
        let want: Vec<u64> = full.iter().copied().filter(|v| !drop.contains(v)).collect();
        check_walk(
            without(boxed(full), boxed(&drop)),
            &want,
            &mut rng,
            "without",
        );

        // Nested: (a ∪ b) ∩ c minus d, as postings_for_matchers builds them.
        if k >= 4 {
            let u = naive_merge(&lists[..2]);
            let i = naive_intersect(&[u, lists[2].clone()]);
            let want: Vec<u64> = i
                .iter()
                .copied()
                .filter(|v| !lists[3].contains(v))
                .collect();
            let p = without(
                intersect(vec![
                    merge(vec![boxed(&lists[0]), boxed(&lists[1])]),
                    boxed(&lists[2]),
                ]),
                boxed(&lists[3]),
            );
            check_walk(p, &want, &mut rng, "nested");
        }
    }
}

#[test]
fn degenerate_inputs() {
    assert!(intersect(vec![]).is_known_empty());
    assert!(merge(vec![]).is_known_empty());
    let a = vec![1u64, 2];
    assert!(intersect(vec![boxed(&a), empty()]).is_known_empty());
    assert_eq!(collect(&mut merge(vec![boxed(&a), empty()])), a);
    assert_eq!(collect(&mut without(boxed(&a), empty())), a);
    assert!(without(empty(), boxed(&a)).is_known_empty());
    assert!(collect(&mut without(boxed(&a), boxed(&a))).is_empty());
}

#[test]
fn large_lists_are_fast_enough() {
    // 1M-element lists: a smoke test that nothing is quadratic (runs in debug too).
    let evens: Vec<u64> = (0..1_000_000u64).map(|i| i * 2).collect();
    let threes: Vec<u64> = (0..700_000u64).map(|i| i * 3).collect();
    let n = collect(&mut intersect(vec![boxed(&evens), boxed(&threes)])).len();
    // Multiples of 6 below 2M.
    assert_eq!(n, 333_334);
    let n = collect(&mut merge(vec![boxed(&evens), boxed(&threes)])).len();
    assert_eq!(n, 1_000_000 + 700_000 - 333_334);
    let n = collect(&mut without(boxed(&evens), boxed(&threes))).len();
    assert_eq!(n, 1_000_000 - 333_334);
}

/// Label sets for index and matcher tests: several names with different densities,
/// a label that is absent on a third of the series, values sharing prefixes.
pub(crate) fn synthetic_series(n: usize) -> Vec<Labels> {
    let mut out: Vec<Labels> = (0..n)
        .map(|i| {
            let mut pairs: Vec<(String, String)> = vec![
                ("__name__".into(), format!("metric_{}", i % 7)),
                ("job".into(), format!("job_{}", i % 5)),
                ("instance".into(), format!("host-{}", i % 97)),
                ("series".into(), format!("{i}")),
            ];
            match i % 3 {
                0 => {}
                1 => pairs.push(("env".into(), "dev".into())),
                _ => pairs.push(("env".into(), "prod".into())),
            }
            if i % 11 == 0 {
                pairs.push(("rare".into(), format!("r{}", i % 4)));
            }
            Labels::new(pairs)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Matchers covering every branch of postings_for_matchers.
pub(crate) fn matcher_pool() -> Vec<Matcher> {
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    use MatchOp::*;
    vec![
        m(Equal, "job", "job_1"),
        m(NotEqual, "job", "job_1"),
        m(Regex, "job", "job_[12]"),
        m(NotRegex, "job", "job_[12]"),
        m(Equal, "job", ""),
        m(NotEqual, "job", ""),
        m(Regex, "job", ".*"),
        m(NotRegex, "job", ".*"),
        m(Regex, "job", ".+"),
        m(NotRegex, "job", ".+"),
        m(Regex, "job", ""),
        m(NotRegex, "job", ""),
        m(Equal, "env", "dev"),
        m(Equal, "env", ""),
        m(NotEqual, "env", ""),
        m(NotEqual, "env", "dev"),
        m(Regex, "env", "dev|"),
        m(NotRegex, "env", "dev|"),
        m(Regex, "env", "d.*"),
        m(NotRegex, "env", "d.*"),
        m(Regex, "env", "prod|dev"),
        m(NotRegex, "env", "prod|dev"),
        m(Regex, "env", ".+"),
        m(NotRegex, "env", ".+"),
        m(Regex, "env", ".*"),
        m(Regex, "instance", "host-1.*"),
        m(Regex, "instance", "host-(1|2)"),
        m(NotRegex, "instance", "host-1.*"),
        m(Regex, "instance", ".*5"),
        m(Regex, "instance", "host-9[0-9]+"),
        m(Regex, "instance", "(?i)HOST-3.*"),
        m(Equal, "missing", ""),
        m(NotEqual, "missing", ""),
        m(Regex, "missing", ".*"),
        m(Regex, "missing", ".+"),
        m(NotRegex, "missing", ".+"),
        m(NotEqual, "missing", "x"),
        m(Equal, "__name__", "metric_3"),
        m(Regex, "__name__", "metric_[0-3]"),
        m(Regex, "rare", "r1|r2|zz"),
        m(NotRegex, "rare", "r1"),
        m(Regex, "series", "1.*0"),
        m(Equal, "", ""),
    ]
}

/// Checks postings_for_matchers on `ix` against brute force over `series` (ref, labels)
/// for every single matcher, every pair and a spread of triples.
pub(crate) fn check_matchers_against_brute_force<S>(ix: &S, series: &[(u64, Labels)])
where
    S: PostingsSource,
    S::Error: std::fmt::Debug,
{
    let pool = matcher_pool();
    let mut sets: Vec<Vec<Matcher>> = pool.iter().map(|m| vec![m.clone()]).collect();
    for a in 0..pool.len() {
        for b in a + 1..pool.len() {
            sets.push(vec![pool[a].clone(), pool[b].clone()]);
        }
    }
    let mut rng = Rng::new(7);
    for _ in 0..300 {
        let pick = |rng: &mut Rng| pool[rng.below(pool.len() as u64) as usize].clone();
        sets.push(vec![pick(&mut rng), pick(&mut rng), pick(&mut rng)]);
    }
    for ms in sets {
        let want: Vec<u64> = series
            .iter()
            .filter(|(_, l)| matches_all(l, &ms))
            .map(|(r, _)| *r)
            .collect();
        let mut p = postings_for_matchers(ix, &ms).unwrap();
        let got = collect(&mut p);
        assert_eq!(got, want, "matchers {ms:?}");
    }
    let mut none = postings_for_matchers(ix, &[]).unwrap();
    assert!(!none.next(), "no matchers select nothing");
}

#[test]
fn mem_postings_matchers_match_brute_force() {
    let series: Vec<(u64, Labels)> = synthetic_series(1500)
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i as u64 * 3 + 1, l))
        .collect();
    let mut mp = MemPostings::new();
    // Insert out of order to exercise sorted insertion.
    for (r, l) in series.iter().rev() {
        mp.add(*r, l);
    }
    assert_eq!(mp.len(), series.len());
    check_matchers_against_brute_force(&mp, &series);

    let (r, l) = &series[10];
    mp.delete(*r, l);
    let mut p = mp.postings("series", &[l.get("series").unwrap()]).unwrap();
    assert!(!p.next());
}
