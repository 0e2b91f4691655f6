//! `cpu`: per-CPU time by mode from `/proc/stat`, thermal throttle counts and isolated
//! CPUs from `/sys/devices/system/cpu`.
//!
//! Like upstream, the exported counters never go backwards: a CPU counter that the
//! kernel reports lower than before keeps its previous value, and an idle counter that
//! jumps back by 3 seconds or more (a CPU hot-plug) resets that CPU's history.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, numbered_entries, read_attr, read_text};
use crate::sink::MetricSink;

/// USER_HZ: `/proc/stat` counts in 1/100 s on every architecture Linux exports it for.
const USER_HZ: f64 = 100.0;
const JUMP_BACK_SECONDS: f64 = 3.0;

const SECONDS_HELP: &str = "Seconds the CPUs spent in each mode.";
const GUEST_HELP: &str = "Seconds the CPUs spent in guests (VMs) for each mode.";

/// Seconds one CPU spent in each mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

impl CpuTimes {
    fn fields_mut(&mut self) -> [&mut f64; 10] {
        [
            &mut self.user,
            &mut self.nice,
            &mut self.system,
            &mut self.idle,
            &mut self.iowait,
            &mut self.irq,
            &mut self.softirq,
            &mut self.steal,
            &mut self.guest,
            &mut self.guest_nice,
        ]
    }

    /// Takes each counter of `new` unless it went backwards.
    fn advance(&mut self, mut new: CpuTimes) {
        if self.idle - new.idle >= JUMP_BACK_SECONDS {
            *self = CpuTimes::default();
        }
        for (old, new) in self.fields_mut().into_iter().zip(new.fields_mut()) {
            if *new >= *old {
                *old = *new;
            }
        }
    }
}

/// The `cpuN` lines of `/proc/stat`.
pub fn parse_proc_stat_cpus(path: &Path, text: &str) -> Result<Vec<(u32, CpuTimes)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        // `cpuN` lines only: the aggregate line is `cpu ` with no number.
        let Some(rest) = line
            .strip_prefix("cpu")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let mut f = rest.split_ascii_whitespace();
        let Some(Ok(id)) = f.next().map(str::parse::<u32>) else {
            continue;
        };
        let mut t = CpuTimes::default();
        for (i, slot) in t.fields_mut().into_iter().enumerate() {
            match f.next() {
                Some(v) => {
                    let ticks: u64 = v.parse().map_err(|_| {
                        CollectError::parse(path, format!("invalid value {v:?} for cpu{id}"))
                    })?;
                    *slot = ticks as f64 / USER_HZ;
                }
                // Old kernels lack the later columns; at least user..idle must be there.
                None if i >= 4 => break,
                None => {
                    return Err(CollectError::parse(
                        path,
                        format!("too few fields for cpu{id}"),
                    ));
                }
            }
        }
        out.push((id, t));
    }
    Ok(out)
}

/// Parses a kernel CPU list such as `1-3,8`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("invalid CPU number {v:?}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("invalid CPU range {part:?}"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

pub struct CpuCollector {
    paths: HostPaths,
    guest: bool,
    isolated: Vec<u32>,
    last: Mutex<HashMap<u32, CpuTimes>>,
}

impl CpuCollector {
    pub fn new(paths: HostPaths, guest: bool) -> CpuCollector {
        // Read once at start, as upstream does: isolation changes only with a reboot.
        let isolated = read_attr(&paths.sys("devices/system/cpu/isolated"))
            .and_then(|s| parse_cpu_list(&s).ok())
            .unwrap_or_default();
        CpuCollector {
            paths,
            guest,
            isolated,
            last: Mutex::new(HashMap::new()),
        }
    }

    fn throttles(&self, sink: &mut MetricSink) {
        let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
        let mut cores: BTreeMap<(u64, u64), Option<u64>> = BTreeMap::new();
        for (_, cpu) in numbered_entries(&self.paths.sys("devices/system/cpu"), "cpu") {
            let num = |rel: &str| read_attr(&cpu.join(rel)).and_then(|v| v.parse::<u64>().ok());
            let (Some(package), Some(core)) =
                (num("topology/physical_package_id"), num("topology/core_id"))
            else {
                continue;
            };
            // Cores and packages are shared between CPUs: read each once.
            cores
                .entry((package, core))
                .or_insert_with(|| num("thermal_throttle/core_throttle_count"));
            if let std::collections::btree_map::Entry::Vacant(e) = packages.entry(package)
                && let Some(n) = num("thermal_throttle/package_throttle_count")
            {
                e.insert(n);
            }
        }
        for (package, n) in packages {
            sink.counter(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
                &[("package", &package.to_string())],
                n as f64,
            );
        }
        for ((package, core), n) in cores {
            let Some(n) = n else { continue };
            sink.counter(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
                &[
                    ("package", &package.to_string()),
                    ("core", &core.to_string()),
                ],
                n as f64,
            );
        }
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("stat");
        let cpus = parse_proc_stat_cpus(&path, &read_text(&path)?)?;
        {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            last.retain(|id, _| cpus.iter().any(|(c, _)| c == id));
            for (id, times) in cpus {
                let t = last.entry(id).or_default();
                t.advance(times);
                let cpu = id.to_string();
                for (mode, v) in [
                    ("user", t.user),
                    ("nice", t.nice),
                    ("system", t.system),
                    ("idle", t.idle),
                    ("iowait", t.iowait),
                    ("irq", t.irq),
                    ("softirq", t.softirq),
                    ("steal", t.steal),
                ] {
                    sink.counter(
                        "node_cpu_seconds_total",
                        SECONDS_HELP,
                        &[("cpu", &cpu), ("mode", mode)],
                        v,
                    );
                }
                if self.guest {
                    // Guest time is also counted in user and nice; upstream exports it apart.
                    for (mode, v) in [("user", t.guest), ("nice", t.guest_nice)] {
                        sink.counter(
                            "node_cpu_guest_seconds_total",
                            GUEST_HELP,
                            &[("cpu", &cpu), ("mode", mode)],
                            v,
                        );
                    }
                }
            }
        }
        for cpu in &self.isolated {
            sink.gauge(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                &[("cpu", &cpu.to_string())],
                1.0,
            );
        }
        self.throttles(sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_never_go_backwards() {
        let mut t = CpuTimes {
            user: 10.0,
            idle: 100.0,
            ..Default::default()
        };
        t.advance(CpuTimes {
            user: 9.0,
            idle: 101.0,
            ..Default::default()
        });
        assert_eq!((t.user, t.idle), (10.0, 101.0));
        // Idle jumping back 3 s or more is a hot-plug: start over.
        t.advance(CpuTimes {
            user: 1.0,
            idle: 50.0,
            ..Default::default()
        });
        assert_eq!((t.user, t.idle), (1.0, 50.0));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1-3,8\n").unwrap(), [1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").is_err());
    }
}
