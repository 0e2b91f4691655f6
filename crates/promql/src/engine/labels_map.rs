//! Hash maps keyed by label sets, hashed with the label set's xxHash64 (one pass over
//! its bytes) instead of SipHash over every name and value: the evaluator looks label
//! sets up once per sample and step, so the hashing is on the hot path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use hearth_model::Labels;

/// A label set as a map key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LabelsKey(pub Labels);

impl Hash for LabelsKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash());
    }
}

/// Passes the already well-mixed 64-bit hash through.
#[derive(Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the keys above; mix anything else in simply.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

pub(crate) type LabelsMap<V> = HashMap<LabelsKey, V, BuildHasherDefault<PassThroughHasher>>;

/// Mixes a 64-bit integer key (Fibonacci hashing): integer keys are not random.
#[derive(Default)]
pub(crate) struct IntegerHasher(u64);

impl Hasher for IntegerHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<IntegerHasher>>;
