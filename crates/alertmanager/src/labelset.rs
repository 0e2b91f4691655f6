//! Label sets as Alertmanager handles them: plain sorted maps with Prometheus' FNV
//! fingerprint (alert identity), the xxHash the notification log records, Go's
//! `LabelSet.String()` and `Before` order.

use std::collections::BTreeMap;
use std::fmt::Write;

/// A label or annotation set.
pub type LabelSet = BTreeMap<String, String>;

const SEP: u8 = 0xff;

/// `model.LabelSet.Fingerprint()`: FNV-1a over sorted names and values.
pub fn fingerprint(ls: &LabelSet) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |b: &[u8]| {
        for &c in b {
            h ^= u64::from(c);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in ls {
        add(k.as_bytes());
        add(&[SEP]);
        add(v.as_bytes());
        add(&[SEP]);
    }
    h
}

/// A fingerprint as upstream prints it (`%016x`).
pub fn fingerprint_string(fp: u64) -> String {
    format!("{fp:016x}")
}

/// The xxHash64 of the label set (the notification log's alert hash).
pub fn hash(ls: &LabelSet) -> u64 {
    let mut b = Vec::with_capacity(64);
    for (k, v) in ls {
        b.extend_from_slice(k.as_bytes());
        b.push(SEP);
        b.extend_from_slice(v.as_bytes());
        b.push(SEP);
    }
    xxhash_rust::xxh64::xxh64(&b, 0)
}

/// Whether `name` needs quoting in matcher and label set text (not `[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn needs_quoting(name: &str) -> bool {
    !hearth_model::names::is_legacy_label_name(name)
}

/// `{a="b", c="d"}`.
pub fn to_string(ls: &LabelSet) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in ls.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if needs_quoting(k) {
            hearth_model::names::write_go_quoted(&mut s, k);
        } else {
            s.push_str(k);
        }
        s.push('=');
        hearth_model::names::write_go_quoted(&mut s, v);
    }
    s.push('}');
    s
}

/// `LabelSet.Before`: fewer labels first, then by the first differing name/value.
pub fn before(a: &LabelSet, b: &LabelSet) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        let Some(x) = a.get(n) else { return true };
        let Some(y) = b.get(n) else { return false };
        if x != y {
            return x < y;
        }
    }
    false
}

/// Upstream's label name rule for alerts (UTF-8 names allowed, non-empty).
pub fn validate(ls: &LabelSet) -> Result<(), String> {
    for (k, v) in ls {
        if k.is_empty() {
            return Err(format!("invalid name {k:?}"));
        }
        if v.is_empty() {
            return Err(format!("invalid value {v:?}"));
        }
    }
    Ok(())
}

/// Writes `name` quoted when needed.
pub fn write_name(out: &mut String, name: &str) {
    if needs_quoting(name) {
        hearth_model::names::write_go_quoted(out, name);
    } else {
        let _ = write!(out, "{name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> LabelSet {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_as_upstream() {
        // Values from prometheus/common's signature tests.
        assert_eq!(fingerprint(&LabelSet::new()), 14_695_981_039_346_656_037);
        assert_eq!(
            fingerprint(&ls(&[
                ("name", "garland, briggs"),
                ("fear", "love is not enough")
            ])),
            5_799_056_148_416_392_346
        );
        assert_eq!(
            to_string(&ls(&[("b", "x\"y"), ("a", "1")])),
            r#"{a="1", b="x\"y"}"#
        );
        assert!(before(&ls(&[("a", "1")]), &ls(&[("a", "2")])));
        assert!(before(&ls(&[("a", "1")]), &ls(&[("a", "0"), ("b", "0")])));
    }
}
