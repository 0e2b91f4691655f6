//! `cpufreq`: CPU frequency scaling from `/sys/devices/system/cpu/cpu*/cpufreq`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, numbered_entries, read_attr};
use crate::sink::MetricSink;

pub struct CpufreqCollector {
    paths: HostPaths,
}

impl CpufreqCollector {
    pub fn new(paths: HostPaths) -> CpufreqCollector {
        CpufreqCollector { paths }
    }
}

/// sysfs file, metric name, help; sysfs counts kHz, the metrics hertz.
const FREQUENCIES: &[(&str, &str, &str)] = &[
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

impl Collector for CpufreqCollector {
    fn name(&self) -> &'static str {
        "cpufreq"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        for (cpu, dir) in numbered_entries(&self.paths.sys("devices/system/cpu"), "cpu") {
            let dir = dir.join("cpufreq");
            if !dir.is_dir() {
                continue;
            }
            let labels = [("cpu", cpu.as_str())];
            for (file, name, help) in FREQUENCIES {
                // cpuinfo_cur_freq is readable by root only; missing files are skipped.
                let Some(khz) = read_attr(&dir.join(file)).and_then(|v| v.parse::<u64>().ok())
                else {
                    continue;
                };
                sink.gauge(name, help, &labels, khz as f64 * 1000.0);
            }
            let Some(governor) = read_attr(&dir.join("scaling_governor")).filter(|g| !g.is_empty())
            else {
                continue;
            };
            let available = read_attr(&dir.join("scaling_available_governors")).unwrap_or_default();
            for g in available.split(' ') {
                sink.gauge(
                    "node_cpu_scaling_governor",
                    "Current enabled CPU frequency governor.",
                    &[("cpu", &cpu), ("governor", g)],
                    if g == governor { 1.0 } else { 0.0 },
                );
            }
        }
        Ok(())
    }
}
