//! `stat`: boot time, context switches, forks, interrupts and process states from
//! `/proc/stat`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, parse_field, read_text};
use crate::sink::MetricSink;

pub struct StatCollector {
    paths: HostPaths,
}

impl StatCollector {
    pub fn new(paths: HostPaths) -> StatCollector {
        StatCollector { paths }
    }
}

impl Collector for StatCollector {
    fn name(&self) -> &'static str {
        "stat"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("stat");
        let text = read_text(&path)?;
        for line in text.lines() {
            let mut f = line.split_ascii_whitespace();
            let Some(key) = f.next() else { continue };
            let (name, help, counter) = match key {
                "intr" => (
                    "node_intr_total",
                    "Total number of interrupts serviced.",
                    true,
                ),
                "ctxt" => (
                    "node_context_switches_total",
                    "Total number of context switches.",
                    true,
                ),
                "btime" => (
                    "node_boot_time_seconds",
                    "Node boot time, in unixtime.",
                    false,
                ),
                "processes" => ("node_forks_total", "Total number of forks.", true),
                "procs_running" => (
                    "node_procs_running",
                    "Number of processes in runnable state.",
                    false,
                ),
                "procs_blocked" => (
                    "node_procs_blocked",
                    "Number of processes blocked waiting for I/O to complete.",
                    false,
                ),
                _ => continue,
            };
            let v: f64 = parse_field(&path, key, f.next())?;
            if counter {
                sink.counter(name, help, &[], v);
            } else {
                sink.gauge(name, help, &[], v);
            }
        }
        Ok(())
    }
}
