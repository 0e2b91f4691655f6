//! Include/exclude filters for device names, mount points and field names
//! (`--collector.netdev.device-exclude` and friends).
//!
//! Upstream matches these with Go's `regexp.MatchString`, which searches anywhere in the
//! string; hearth's [`FastRegex`] is fully anchored, so patterns are wrapped in
//! `.*(?:…).*` to keep Go's meaning. Upstream's defaults carry their own `^…$` anchors.

use std::collections::HashMap;
use std::sync::RwLock;

use hearth_model::{FastRegex, RegexError};

/// Compiles a pattern with Go's unanchored `MatchString` semantics.
pub fn search_regex(pattern: &str) -> Result<FastRegex, RegexError> {
    FastRegex::new(&format!(".*(?:{pattern}).*"))
}

/// A pattern whose answers are remembered: the names it is asked about (vmstat and
/// netstat fields, devices) repeat every scrape, and a hash lookup is far cheaper than
/// the regex engine on upstream's long alternations.
#[derive(Debug)]
pub struct CachedRegex {
    regex: FastRegex,
    answers: RwLock<HashMap<String, bool>>,
}

/// Beyond this many distinct names (churning device names) the cache starts over.
const MAX_CACHED: usize = 4096;

impl CachedRegex {
    pub fn new(regex: FastRegex) -> CachedRegex {
        CachedRegex {
            regex,
            answers: RwLock::new(HashMap::new()),
        }
    }

    pub fn is_match(&self, name: &str) -> bool {
        let read = self
            .answers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&hit) = read.get(name) {
            return hit;
        }
        drop(read);
        let hit = self.regex.is_match(name);
        let mut write = self
            .answers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if write.len() >= MAX_CACHED {
            write.clear();
        }
        write.insert(name.to_string(), hit);
        hit
    }
}

impl Clone for CachedRegex {
    fn clone(&self) -> CachedRegex {
        CachedRegex::new(self.regex.clone())
    }
}

/// Drops names that match the exclude pattern or do not match the include pattern; at
/// most one of the two is set (upstream rejects both).
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    exclude: Option<CachedRegex>,
    include: Option<CachedRegex>,
}

impl DeviceFilter {
    /// Empty patterns mean "not set".
    pub fn new(exclude: &str, include: &str) -> Result<DeviceFilter, RegexError> {
        let compile = |p: &str| {
            (!p.is_empty())
                .then(|| search_regex(p).map(CachedRegex::new))
                .transpose()
        };
        Ok(DeviceFilter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    }

    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_search_semantics() {
        let f = DeviceFilter::new("lo", "").unwrap();
        assert!(f.ignored("lo"));
        assert!(f.ignored("veth-lo-1"), "unanchored like Go's MatchString");
        assert!(!f.ignored("eth0"));
        let f = DeviceFilter::new("^lo$", "").unwrap();
        assert!(!f.ignored("veth-lo-1"));
        let f = DeviceFilter::new("", "^eth").unwrap();
        assert!(f.ignored("lo"));
        assert!(!f.ignored("eth0"));
        assert!(!DeviceFilter::new("", "").unwrap().ignored("anything"));
    }

    #[test]
    fn cached_answers_stay_right() {
        let r = CachedRegex::new(search_regex("^pg.*fault").unwrap());
        for _ in 0..2 {
            assert!(r.is_match("pgfault"));
            assert!(!r.is_match("nr_dirty"));
        }
    }

    #[test]
    fn upstream_default_diskstats_exclude() {
        let f = DeviceFilter::new(crate::config::DISKSTATS_DEVICE_EXCLUDE, "").unwrap();
        for ignored in [
            "ram0",
            "zram0",
            "loop7",
            "sda1",
            "vda2",
            "xvda1",
            "nvme0n1p2",
        ] {
            assert!(f.ignored(ignored), "{ignored}");
        }
        for kept in ["sda", "vda", "nvme0n1", "dm-0", "md0", "mmcblk0"] {
            assert!(!f.ignored(kept), "{kept}");
        }
    }
}
