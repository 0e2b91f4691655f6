//! `softnet`: per-CPU packet processing statistics from `/proc/net/softnet_stat`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

/// Column, metric name, help, whether a counter. Columns 9–12 exist only on newer
/// kernels (4.17: rps and flow limit, 5.10: backlog and CPU id); upstream reports 0
/// for the ones an older kernel lacks.
const COLUMNS: &[(usize, &str, &str, bool)] = &[
    (
        0,
        "node_softnet_processed_total",
        "Number of processed packets",
        true,
    ),
    (
        1,
        "node_softnet_dropped_total",
        "Number of dropped packets",
        true,
    ),
    (
        2,
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
        true,
    ),
    (
        8,
        "node_softnet_cpu_collision_total",
        "Number of collision occur while obtaining device lock while transmitting",
        true,
    ),
    (
        9,
        "node_softnet_received_rps_total",
        "Number of times cpu woken up received_rps",
        true,
    ),
    (
        10,
        "node_softnet_flow_limit_count_total",
        "Number of times flow limit has been reached",
        true,
    ),
    (
        11,
        "node_softnet_backlog_len",
        "Softnet backlog status",
        false,
    ),
];

pub struct SoftnetCollector {
    paths: HostPaths,
}

impl SoftnetCollector {
    pub fn new(paths: HostPaths) -> SoftnetCollector {
        SoftnetCollector { paths }
    }
}

impl Collector for SoftnetCollector {
    fn name(&self) -> &'static str {
        "softnet"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("net/softnet_stat");
        let text = read_text(&path)?;
        for (line_no, line) in text.lines().enumerate() {
            let columns: Vec<&str> = line.split_ascii_whitespace().collect();
            if columns.len() < 9 {
                return Err(CollectError::parse(
                    &path,
                    format!(
                        "{} columns in line {}, want at least 9",
                        columns.len(),
                        line_no + 1
                    ),
                ));
            }
            let hex = |i: usize| -> Result<u32, CollectError> {
                match columns.get(i) {
                    None => Ok(0),
                    Some(v) => u32::from_str_radix(v, 16).map_err(|_| {
                        CollectError::parse(&path, format!("invalid hex value {v:?}"))
                    }),
                }
            };
            // Since 5.10 the 13th column names the CPU (offline CPUs have no row);
            // before, the row number is the best there is.
            let cpu = if columns.len() >= 13 {
                hex(12)?.to_string()
            } else {
                line_no.to_string()
            };
            for (column, name, help, counter) in COLUMNS {
                let v = f64::from(hex(*column)?);
                if *counter {
                    sink.counter(name, help, &[("cpu", &cpu)], v);
                } else {
                    sink.gauge(name, help, &[("cpu", &cpu)], v);
                }
            }
        }
        Ok(())
    }
}
