//! Interned strings: every distinct label name and value is stored once per process.
//!
//! A monitoring server holds millions of label sets that repeat the same few thousand
//! strings (`job`, `instance`, `__name__` values). Interning makes a label cost two
//! pointers instead of two heap strings, makes equality a pointer comparison, and makes
//! clones a reference-count increment.
//!
//! Invariant: at most one live allocation exists per distinct string content, because
//! every [`Istr`] is created through [`Istr::new`], which looks the content up first.
//! [`sweep`] drops table entries nobody else references; it runs under the same shard
//! lock as lookups, so a string cannot be revived while it is being removed.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::LazyLock;

use arcstr::ArcStr;
use hashbrown::DefaultHashBuilder;
use hashbrown::HashSet;
use parking_lot::Mutex;

const SHARDS: usize = 64;

struct Interner {
    hasher: DefaultHashBuilder,
    shards: Vec<Mutex<HashSet<ArcStr>>>,
}

static INTERNER: LazyLock<Interner> = LazyLock::new(|| Interner {
    hasher: DefaultHashBuilder::default(),
    shards: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
});

impl Interner {
    fn shard(&self, s: &str) -> &Mutex<HashSet<ArcStr>> {
        let h = self.hasher.hash_one(s);
        // The top bits select the shard; the set itself uses its own hash of the string.
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    fn intern(&self, s: &str) -> ArcStr {
        let mut set = self.shard(s).lock();
        if let Some(found) = set.get(s) {
            return found.clone();
        }
        let new = ArcStr::from(s);
        set.insert(new.clone());
        new
    }
}

/// An interned, immutable, cheaply clonable string (one pointer wide).
#[derive(Clone)]
pub struct Istr(ArcStr);

impl Istr {
    /// Returns the interned copy of `s`, creating it on first use.
    pub fn new(s: &str) -> Istr {
        if s.is_empty() {
            return Istr(ArcStr::new());
        }
        Istr(INTERNER.intern(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Removes interned strings that are no longer referenced outside the table and returns
/// how many were freed. Call it after large deletions (head truncation, target churn).
pub fn sweep() -> usize {
    let mut freed = 0;
    for shard in &INTERNER.shards {
        let mut set = shard.lock();
        let before = set.len();
        set.retain(|s| ArcStr::strong_count(s).is_none_or(|c| c > 1));
        freed += before - set.len();
    }
    freed
}

/// Number of distinct strings currently interned (for hearth's own metrics).
pub fn interned_count() -> usize {
    INTERNER.shards.iter().map(|s| s.lock().len()).sum()
}

impl Deref for Istr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Istr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Istr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Istr {
    fn eq(&self, other: &Istr) -> bool {
        // Interning makes pointer equality exact; the empty string is a static literal.
        ArcStr::ptr_eq(&self.0, &other.0) || (self.0.is_empty() && other.0.is_empty())
    }
}
impl Eq for Istr {}

impl PartialEq<str> for Istr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Istr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Istr {
    fn partial_cmp(&self, other: &Istr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Istr {
    fn cmp(&self, other: &Istr) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Istr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hash the content, not the pointer, so `HashMap<Istr, _>` can be queried by `&str`.
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Istr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Istr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Istr {
    fn from(s: &str) -> Istr {
        Istr::new(s)
    }
}

impl From<String> for Istr {
    fn from(s: String) -> Istr {
        Istr::new(&s)
    }
}

impl From<&String> for Istr {
    fn from(s: &String) -> Istr {
        Istr::new(s)
    }
}

impl Default for Istr {
    fn default() -> Istr {
        Istr(ArcStr::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_pointer() {
        let a = Istr::new("interned-test-value");
        let b = Istr::new(&String::from("interned-test-value"));
        assert!(ArcStr::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_ne!(a, Istr::new("other"));
    }

    #[test]
    fn ordering_is_bytewise() {
        let mut v = [
            Istr::new("b"),
            Istr::new("a"),
            Istr::new("B"),
            Istr::new(""),
        ];
        v.sort();
        let s: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
        assert_eq!(s, ["", "B", "a", "b"]);
    }

    #[test]
    fn sweep_frees_unreferenced_and_keeps_live() {
        let keep = Istr::new("sweep-test-keep");
        drop(Istr::new("sweep-test-drop"));
        sweep();
        let set = INTERNER.shard("sweep-test-drop").lock();
        assert!(set.get("sweep-test-drop").is_none());
        drop(set);
        let again = Istr::new("sweep-test-keep");
        assert!(ArcStr::ptr_eq(&keep.0, &again.0));
    }
}
