//! `udp_queues`: memory queued in UDP sockets, summed from `/proc/net/udp` and
//! `/proc/net/udp6`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

pub struct UdpQueuesCollector {
    paths: HostPaths,
}

impl UdpQueuesCollector {
    pub fn new(paths: HostPaths) -> UdpQueuesCollector {
        UdpQueuesCollector { paths }
    }
}

const HELP: &str = "Number of allocated memory in the kernel for UDP datagrams in bytes.";

/// Sums the `tx_queue:rx_queue` column (hexadecimal) over all sockets.
fn queue_sums(path: &std::path::Path, text: &str) -> Result<(u64, u64), CollectError> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let Some(queues) = line.split_ascii_whitespace().nth(4) else {
            continue;
        };
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| CollectError::parse(path, format!("invalid queue column {queues:?}")))?;
        let hex = |v: &str| {
            u64::from_str_radix(v, 16)
                .map_err(|_| CollectError::parse(path, format!("invalid queue size {v:?}")))
        };
        tx += hex(t)?;
        rx += hex(r)?;
    }
    Ok((tx, rx))
}

impl Collector for UdpQueuesCollector {
    fn name(&self) -> &'static str {
        "udp_queues"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut found = false;
        for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
            let path = self.paths.proc(file);
            let text = match read_text(&path) {
                Err(e) if e.is_not_found() => continue,
                r => r?,
            };
            found = true;
            let (tx, rx) = queue_sums(&path, &text)?;
            sink.gauge(
                "node_udp_queues",
                HELP,
                &[("ip", ip), ("queue", "tx")],
                tx as f64,
            );
            sink.gauge(
                "node_udp_queues",
                HELP,
                &[("ip", ip), ("queue", "rx")],
                rx as f64,
            );
        }
        if !found {
            return Err(CollectError::NoData("no /proc/net/udp or udp6".into()));
        }
        Ok(())
    }
}
