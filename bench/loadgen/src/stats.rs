//! Counters of what the generator served, and its own CPU time, as JSON for the harness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What was served since start.
#[derive(Debug)]
pub struct Stats {
    pub targets: usize,
    pub series_per_target: usize,
    started: Instant,
    scrapes: AtomicU64,
    samples: AtomicU64,
    bytes: AtomicU64,
    churned_targets: AtomicU64,
}

impl Stats {
    pub fn new(targets: usize, series_per_target: usize) -> Stats {
        Stats {
            targets,
            series_per_target,
            started: Instant::now(),
            scrapes: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            churned_targets: AtomicU64::new(0),
        }
    }

    pub fn record_scrape(&self, samples: usize, bytes: usize) {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.samples.fetch_add(samples as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn record_churn(&self) {
        self.churned_targets.fetch_add(1, Ordering::Relaxed);
    }

    /// The stats as one JSON object.
    pub fn to_json(&self) -> String {
        let (user, system) = cpu_seconds();
        format!(
            concat!(
                "{{\"targets\":{},\"series_per_target\":{},\"series\":{},",
                "\"uptime_seconds\":{:.3},\"scrapes\":{},\"samples\":{},\"bytes\":{},",
                "\"churned_targets\":{},\"cpu_user_seconds\":{:.3},",
                "\"cpu_system_seconds\":{:.3},\"cpu_seconds\":{:.3}}}\n"
            ),
            self.targets,
            self.series_per_target,
            self.targets * self.series_per_target,
            self.started.elapsed().as_secs_f64(),
            self.scrapes.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.churned_targets.load(Ordering::Relaxed),
            user,
            system,
            user + system,
        )
    }
}

/// User and system CPU seconds of this process (all threads).
pub fn cpu_seconds() -> (f64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given, which points
    // to one zero-initialised `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    // SAFETY: zero-initialised and filled in by a successful getrusage.
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_counts_what_was_served() {
        let stats = Stats::new(2, 10);
        stats.record_scrape(10, 500);
        stats.record_scrape(10, 500);
        let json = stats.to_json();
        assert!(json.contains("\"series\":20,"), "{json}");
        assert!(json.contains("\"scrapes\":2,"), "{json}");
        assert!(json.contains("\"samples\":20,"), "{json}");
        assert!(json.contains("\"bytes\":1000,"), "{json}");
    }
}
