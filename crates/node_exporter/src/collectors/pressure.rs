//! `pressure`: pressure stall information (PSI) totals from `/proc/pressure/*`.

use crate::collector::{CollectError, Collector};
use crate::paths::HostPaths;
use crate::sink::MetricSink;

pub struct PressureCollector {
    paths: HostPaths,
}

impl PressureCollector {
    pub fn new(paths: HostPaths) -> PressureCollector {
        PressureCollector { paths }
    }
}

/// Per resource, the metric for its `some` and `full` lines. The kernel reports no
/// meaningful `full` for cpu and no `some` for irq, and upstream exports neither.
/// A metric name and help text.
type Metric = Option<(&'static str, &'static str)>;

const RESOURCES: &[(&str, Metric, Metric)] = &[
    (
        "cpu",
        Some((
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        )),
        None,
    ),
    (
        "io",
        Some((
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        )),
        Some((
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        )),
    ),
    (
        "memory",
        Some((
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        )),
        Some((
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        )),
    ),
    (
        "irq",
        None,
        Some((
            "node_pressure_irq_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IRQ congestion",
        )),
    ),
];

/// The `total=` value (microseconds) of the `some` or `full` line.
fn total(text: &str, kind: &str) -> Option<Result<u64, String>> {
    let line = text.lines().find(|l| l.starts_with(kind))?;
    let raw = line
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="));
    Some(match raw {
        None => Err(format!("no total in {line:?}")),
        Some(v) => v.parse().map_err(|_| format!("invalid total {v:?}")),
    })
}

impl Collector for PressureCollector {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut found = 0;
        for (resource, some, full) in RESOURCES {
            let path = self.paths.proc(&format!("pressure/{resource}"));
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                // No PSI in this kernel (or no IRQ accounting): skip the resource.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // PSI compiled in but disabled at boot (psi=0).
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => continue,
                Err(e) => return Err(CollectError::read(&path, e)),
            };
            found += 1;
            for (kind, metric) in [("some", some), ("full", full)] {
                let Some((name, help)) = metric else { continue };
                match total(&text, kind) {
                    None => {}
                    Some(Ok(us)) => sink.counter(name, help, &[], us as f64 / 1000.0 / 1000.0),
                    Some(Err(m)) => return Err(CollectError::parse(&path, m)),
                }
            }
        }
        if found == 0 {
            return Err(CollectError::NoData(
                "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled".into(),
            ));
        }
        Ok(())
    }
}
