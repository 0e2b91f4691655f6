//! `netdev`: per-interface traffic counters from `/proc/net/dev`, plus
//! `rx_nohandler` from sysfs, which upstream's default netlink source also reports.

use crate::collector::{CollectError, Collector};
use crate::device_filter::DeviceFilter;
use crate::paths::{HostPaths, read_attr, read_text};
use crate::sink::MetricSink;

/// The `/proc/net/dev` columns in order, named as upstream's legacy metric names.
const COLUMNS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

pub struct NetdevCollector {
    paths: HostPaths,
    filter: DeviceFilter,
}

impl NetdevCollector {
    pub fn new(paths: HostPaths, filter: DeviceFilter) -> NetdevCollector {
        NetdevCollector { paths, filter }
    }
}

fn counter(sink: &mut MetricSink, key: &str, device: &str, v: f64) {
    sink.counter(
        &format!("node_network_{key}_total"),
        &format!("Network device statistic {key}."),
        &[("device", device)],
        v,
    );
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("net/dev");
        let text = read_text(&path)?;
        // Two header lines, then `  eth0: 123 4 …`.
        for line in text.lines().skip(2) {
            let Some((device, stats)) = line.split_once(':') else {
                continue;
            };
            let device = device.trim();
            if self.filter.ignored(device) {
                continue;
            }
            let values: Vec<&str> = stats.split_ascii_whitespace().collect();
            if values.len() != COLUMNS.len() {
                return Err(CollectError::parse(
                    &path,
                    format!(
                        "{} values for {device}, want {}",
                        values.len(),
                        COLUMNS.len()
                    ),
                ));
            }
            for (key, raw) in COLUMNS.iter().zip(values) {
                let v: u64 = raw.parse().map_err(|_| {
                    CollectError::parse(&path, format!("invalid value {raw:?} for {device} {key}"))
                })?;
                counter(sink, key, device, v as f64);
            }
            let nohandler = self
                .paths
                .sys(&format!("class/net/{device}/statistics/rx_nohandler"));
            if let Some(v) = read_attr(&nohandler).and_then(|v| v.parse::<u64>().ok()) {
                counter(sink, "receive_nohandler", device, v as f64);
            }
        }
        Ok(())
    }
}
