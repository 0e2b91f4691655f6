//! `netclass`: network device properties (state, MTU, speed, carrier changes) from
//! `/sys/class/net/<device>`.

use hearth_model::FastRegex;

use crate::device_filter::CachedRegex;

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_attr};
use crate::sink::MetricSink;

/// Integer attributes: sysfs file, metric suffix, whether it is a counter.
const NUMBERS: &[(&str, &str, bool)] = &[
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
    ("tx_queue_len", "transmit_queue_length", false),
    ("type", "protocol_type", false),
];

pub struct NetclassCollector {
    paths: HostPaths,
    ignored: CachedRegex,
    ignore_invalid_speed: bool,
}

impl NetclassCollector {
    pub fn new(
        paths: HostPaths,
        ignored: FastRegex,
        ignore_invalid_speed: bool,
    ) -> NetclassCollector {
        NetclassCollector {
            paths,
            ignored: CachedRegex::new(ignored),
            ignore_invalid_speed,
        }
    }
}

/// sysfs integers are decimal, except `flags` and a few others written in hex (`0x1003`).
fn parse_int(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Collector for NetclassCollector {
    fn name(&self) -> &'static str {
        "netclass"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.paths.sys("class/net");
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "cannot read {}: {e}",
                    dir.display()
                )));
            }
            Err(e) => return Err(CollectError::read(&dir, e)),
        };
        // Devices are directories (symlinks to them); `bonding_masters` is a plain file.
        let mut devices: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|d| !self.ignored.is_match(d))
            .collect();
        devices.sort();
        for device in devices {
            let path = dir.join(&device);
            // Attributes a driver does not support fail to read (EINVAL); they are left out.
            let attr = |name: &str| read_attr(&path.join(name));
            let labels = [("device", device.as_str())];
            let operstate = attr("operstate").unwrap_or_default();
            sink.gauge(
                "node_network_up",
                "Value is 1 if operstate is 'up', 0 otherwise.",
                &labels,
                if operstate == "up" { 1.0 } else { 0.0 },
            );
            let flags = attr("flags").and_then(|f| parse_int(&f));
            let adminstate = match flags {
                None => "unknown",
                Some(f) if f & 1 == 1 => "up",
                Some(_) => "down",
            };
            sink.gauge(
                "node_network_info",
                "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
                &[
                    ("device", device.as_str()),
                    ("address", &attr("address").unwrap_or_default()),
                    ("broadcast", &attr("broadcast").unwrap_or_default()),
                    ("duplex", &attr("duplex").unwrap_or_default()),
                    ("operstate", &operstate),
                    ("adminstate", adminstate),
                    ("ifalias", &attr("ifalias").unwrap_or_default()),
                ],
                1.0,
            );
            for (file, suffix, counter) in NUMBERS {
                let Some(v) = attr(file).and_then(|v| parse_int(&v)) else {
                    continue;
                };
                let name = format!("node_network_{suffix}");
                let help = format!("Network device property: {suffix}");
                if *counter {
                    sink.counter(&name, &help, &labels, v as f64);
                } else {
                    sink.gauge(&name, &help, &labels, v as f64);
                }
            }
            // Mbit/s in sysfs; -1 when the driver does not know.
            if let Some(speed) = attr("speed").and_then(|v| parse_int(&v))
                && (speed >= 0 || !self.ignore_invalid_speed)
            {
                sink.gauge(
                    "node_network_speed_bytes",
                    "Network device property: speed_bytes",
                    &labels,
                    (speed * 1000 * 1000 / 8) as f64,
                );
            }
        }
        Ok(())
    }
}
