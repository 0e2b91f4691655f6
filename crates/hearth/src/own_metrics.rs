//! hearth's own metrics: build info and process metrics, through the official
//! `prometheus-client` crate. Components register their metrics into the same
//! [`Registry`]; whatever serves HTTP exposes it at `/metrics`.

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::build_info;

/// Builds the registry with `hearth_build_info` and the `process_*` metrics.
pub fn new_registry() -> Registry {
    let mut registry = Registry::default();
    let build_info = Family::<Vec<(String, String)>, Gauge>::default();
    build_info
        .get_or_create(&vec![
            ("version".into(), build_info::VERSION.into()),
            ("revision".into(), build_info::REVISION.into()),
            ("branch".into(), build_info::BRANCH.into()),
            ("rustversion".into(), build_info::RUST_VERSION.into()),
            ("goos".into(), std::env::consts::OS.into()),
            ("goarch".into(), std::env::consts::ARCH.into()),
        ])
        .set(1);
    registry.register(
        "hearth_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, and rustversion from which hearth was built",
        build_info,
    );
    registry.register_collector(Box::new(ProcessCollector::new()));
    registry
}

/// Encodes the registry as OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        // Encoding into a String only fails if a collector fails; report it in-band.
        out.clear();
        let _ = writeln!(out, "# hearth: encoding own metrics failed\n# EOF");
    }
    out
}

/// The `process_*` metrics client libraries export (from `/proc/self`), so dashboards
/// built for Prometheus' own process metrics work against hearth.
#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    fn new() -> ProcessCollector {
        ProcessCollector {
            start_time_seconds: process_start_time().unwrap_or(0.0),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times; 100 on every Linux we target.
const CLOCK_TICKS: f64 = 100.0;

struct ProcStat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
}

fn read_stat() -> Option<ProcStat> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &s[s.rfind(')')? + 2..];
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
fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?;
    Some(kb.parse::<u64>().ok()? * 1024)
}

fn boot_time() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn process_start_time() -> Option<f64> {
    let stat = read_stat()?;
    Some(boot_time()? as f64 + stat.starttime as f64 / CLOCK_TICKS)
}

fn limit(name: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

/// Bytes received and sent on all interfaces of the process' network namespace.
fn network_bytes() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/net/dev").ok()?;
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in s.lines().skip(2) {
        let (_, stats) = line.split_once(':')?;
        let f: Vec<u64> = stats
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    Some((rx, tx))
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = enc.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = enc.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(st) = read_stat() {
            counter(
                &mut enc,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                (st.utime + st.stime) as f64 / CLOCK_TICKS,
            )?;
            gauge(
                &mut enc,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                st.vsize as f64,
            )?;
        }
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut enc,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss as f64,
            )?;
        }
        gauge(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            self.start_time_seconds,
        )?;
        if let Some(n) = open_fds() {
            gauge(
                &mut enc,
                "process_open_fds",
                "Number of open file descriptors.",
                n as f64,
            )?;
        }
        if let Some(max) = limit("Max open files") {
            gauge(
                &mut enc,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            )?;
        }
        if let Some(max) = limit("Max address space") {
            gauge(
                &mut enc,
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                if max.is_infinite() { -1.0 } else { max },
            )?;
        }
        if let Some((rx, tx)) = network_bytes() {
            counter(
                &mut enc,
                "process_network_receive_bytes",
                "Number of bytes received by the process over the network.",
                rx as f64,
            )?;
            counter(
                &mut enc,
                "process_network_transmit_bytes",
                "Number of bytes sent by the process over the network.",
                tx as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_build_info_and_process_metrics() {
        let text = encode(&new_registry());
        for name in [
            "hearth_build_info{",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_start_time_seconds ",
            "process_open_fds ",
            "process_max_fds ",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        // The output is valid OpenMetrics by hearth's own strict parser.
        let mut p =
            hearth_exposition::OpenMetricsParser::new(text.as_bytes(), Default::default()).unwrap();
        let mut samples = 0;
        while let Some(e) = p.next().unwrap() {
            samples += usize::from(matches!(e, hearth_exposition::Entry::Sample(_)));
        }
        assert!(samples >= 6);
    }
}
