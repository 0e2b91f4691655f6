//! `arp`: ARP cache entries per network device from `/proc/net/arp`.

use std::collections::BTreeMap;

use crate::collector::{CollectError, Collector};
use crate::device_filter::DeviceFilter;
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

pub struct ArpCollector {
    paths: HostPaths,
    filter: DeviceFilter,
}

impl ArpCollector {
    pub fn new(paths: HostPaths, filter: DeviceFilter) -> ArpCollector {
        ArpCollector { paths, filter }
    }
}

impl Collector for ArpCollector {
    fn name(&self) -> &'static str {
        "arp"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("net/arp");
        let text = read_text(&path)?;
        let mut entries: BTreeMap<&str, u64> = BTreeMap::new();
        // `IP address HW type Flags HW address Mask Device`, one header line.
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let Some(device) = fields.get(5).copied() else {
                return Err(CollectError::parse(
                    &path,
                    format!("no device column in {line:?}"),
                ));
            };
            if !self.filter.ignored(device) {
                *entries.entry(device).or_default() += 1;
            }
        }
        for (device, n) in entries {
            sink.gauge(
                "node_arp_entries",
                "ARP entries by device",
                &[("device", device)],
                n as f64,
            );
        }
        Ok(())
    }
}
