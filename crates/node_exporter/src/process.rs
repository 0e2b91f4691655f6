//! The `process_*` metrics client libraries export about their own process, read from
//! `/proc/self`. hearth's binary reports its own metrics from the same
//! [`ProcessSnapshot`], so every component names them alike.

use std::fs;

use crate::sink::MetricSink;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// One reading of the current process. Each field is `None` when its file could not be
/// read or parsed, so one unreadable file drops one metric, not all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessSnapshot {
    pub cpu_seconds: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    /// -1 when unlimited, as client_golang reports it.
    pub virtual_memory_max_bytes: Option<f64>,
    pub network_receive_bytes: Option<f64>,
    pub network_transmit_bytes: Option<f64>,
}

struct ProcStat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
}

fn read_stat() -> Option<ProcStat> {
    let s = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        utime: n(11)?,
        stime: n(12)?,
        starttime: n(19)?,
        vsize: n(20)?,
    })
}

/// Resident set size from `/proc/self/status` (in kB there, so no page-size guess).
fn resident_bytes() -> Option<f64> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let kb = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?;
    Some(kb.parse::<f64>().ok()? * 1024.0)
}

fn boot_time() -> Option<u64> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of a `/proc/self/limits` row; infinity when unlimited.
fn limit(limits: &str, name: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let soft = line.get(name.len()..)?.split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

/// Bytes received and sent on all interfaces of the process' network namespace.
fn network_bytes() -> Option<(f64, f64)> {
    let s = fs::read_to_string("/proc/self/net/dev").ok()?;
    let (mut rx, mut tx) = (0.0, 0.0);
    for line in s.lines().skip(2) {
        let (_, stats) = line.split_once(':')?;
        let mut f = stats.split_whitespace();
        rx += f.next()?.parse::<f64>().ok()?;
        tx += f.nth(7)?.parse::<f64>().ok()?;
    }
    Some((rx, tx))
}

/// The process start time never changes: read `/proc/stat`'s boot time once.
fn start_time(stat: Option<&ProcStat>) -> Option<f64> {
    static START: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *START.get_or_init(|| Some(boot_time()? as f64 + stat?.starttime as f64 / CLOCK_TICKS))
}

impl ProcessSnapshot {
    pub fn read() -> ProcessSnapshot {
        let stat = read_stat();
        let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let network = network_bytes();
        ProcessSnapshot {
            cpu_seconds: stat
                .as_ref()
                .map(|s| (s.utime + s.stime) as f64 / CLOCK_TICKS),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize as f64),
            resident_memory_bytes: resident_bytes(),
            start_time_seconds: start_time(stat.as_ref()),
            open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64),
            max_fds: limit(&limits, "Max open files"),
            virtual_memory_max_bytes: limit(&limits, "Max address space")
                .map(|m| if m.is_infinite() { -1.0 } else { m }),
            network_receive_bytes: network.map(|n| n.0),
            network_transmit_bytes: network.map(|n| n.1),
        }
    }

    /// The metrics with client_golang's names and help texts.
    pub fn write(&self, sink: &mut MetricSink) {
        let gauges = [
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                self.virtual_memory_bytes,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                self.resident_memory_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                self.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                self.max_fds,
            ),
            (
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                self.virtual_memory_max_bytes,
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                sink.gauge(name, help, &[], v);
            }
        }
        let counters = [
            (
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds,
            ),
            (
                "process_network_receive_bytes_total",
                "Number of bytes received by the process over the network.",
                self.network_receive_bytes,
            ),
            (
                "process_network_transmit_bytes_total",
                "Number of bytes sent by the process over the network.",
                self.network_transmit_bytes,
            ),
        ];
        for (name, help, v) in counters {
            if let Some(v) = v {
                sink.counter(name, help, &[], v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcessSnapshot::read();
        assert!(s.cpu_seconds.is_some());
        assert!(s.resident_memory_bytes.unwrap() > 0.0);
        assert!(s.start_time_seconds.unwrap() > 1e9);
        assert!(s.open_fds.unwrap() >= 1.0);
        let mut sink = MetricSink::new();
        s.write(&mut sink);
        assert!(sink.contains("process_cpu_seconds_total"));
        assert!(sink.contains("process_max_fds"));
    }

    #[test]
    fn limits_rows() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 4096                 files\n\
                      Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(limit(limits, "Max address space"), Some(f64::INFINITY));
        assert_eq!(limit(limits, "Max nothing"), None);
    }
}
