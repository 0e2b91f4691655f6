//! `diskstats`: block device I/O statistics from `/proc/diskstats`, with device
//! identity from the udev database and `/sys/block`.

use std::collections::HashMap;

use crate::collector::{CollectError, Collector};
use crate::device_filter::DeviceFilter;
use crate::paths::{HostPaths, read_attr, read_text};
use crate::sink::MetricSink;

/// Milliseconds per kernel I/O time tick.
const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;
/// Sectors in `/proc/diskstats` are always 512 bytes, whatever the device's block size.
const SECTOR_SIZE: f64 = 512.0;

/// The statistics columns after major, minor and name, in kernel order: metric name,
/// help, whether it is a counter, and the unit conversion.
const STATS: &[(&str, &str, bool, f64)] = &[
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        true,
        1.0,
    ),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        true,
        SECTOR_SIZE,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        true,
        1.0,
    ),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        true,
        SECTOR_SIZE,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        false,
        1.0,
    ),
    (
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        true,
        1.0,
    ),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        true,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        true,
        SECONDS_PER_TICK,
    ),
];

/// ATA properties of the udev database exported as gauges.
const ATA: &[(&str, &str, &str)] = &[
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

pub struct DiskstatsCollector {
    paths: HostPaths,
    filter: DeviceFilter,
}

impl DiskstatsCollector {
    pub fn new(paths: HostPaths, filter: DeviceFilter) -> DiskstatsCollector {
        DiskstatsCollector { paths, filter }
    }

    /// The `E:KEY=value` device properties of `/run/udev/data/b<major>:<minor>`; empty
    /// when udev has no record (containers, early boot).
    fn udev_properties(&self, major: &str, minor: &str) -> HashMap<String, String> {
        let path = self.paths.udev_data.join(format!("b{major}:{minor}"));
        let Ok(text) = std::fs::read_to_string(path) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|l| l.strip_prefix("E:"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Collector for DiskstatsCollector {
    fn name(&self) -> &'static str {
        "diskstats"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("diskstats");
        let text = read_text(&path)?;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            if fields.len() < 14 {
                return Err(CollectError::parse(
                    &path,
                    format!("{} fields in {line:?}, want at least 14", fields.len()),
                ));
            }
            let (major, minor, dev) = (fields[0], fields[1], fields[2]);
            if self.filter.ignored(dev) {
                continue;
            }
            let udev = self.udev_properties(major, minor);
            let prop = |k: &str| udev.get(k).map(String::as_str).unwrap_or("");
            // The serial printed on the disk label, else the short serial, else (virtio)
            // the long one.
            let serial = [
                prop("SCSI_IDENT_SERIAL"),
                prop("ID_SERIAL_SHORT"),
                prop("ID_SERIAL"),
            ]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("");
            let rotational = read_attr(&self.paths.sys(&format!("block/{dev}/queue/rotational")))
                .filter(|r| r == "1")
                .map_or("0", |_| "1");
            sink.gauge(
                "node_disk_info",
                "Info of /sys/block/<block_device>.",
                &[
                    ("device", dev),
                    ("major", major),
                    ("minor", minor),
                    ("path", prop("ID_PATH")),
                    ("wwn", prop("ID_WWN")),
                    ("model", prop("ID_MODEL")),
                    ("serial", serial),
                    ("revision", prop("ID_REVISION")),
                    ("rotational", rotational),
                ],
                1.0,
            );
            for (raw, (name, help, counter, scale)) in fields[3..].iter().zip(STATS) {
                let v: u64 = raw.parse().map_err(|_| {
                    CollectError::parse(&path, format!("invalid value {raw:?} for {dev}"))
                })?;
                let v = v as f64 * scale;
                if *counter {
                    sink.counter(name, help, &[("device", dev)], v);
                } else {
                    sink.gauge(name, help, &[("device", dev)], v);
                }
            }
            if !prop("ID_FS_TYPE").is_empty() {
                sink.gauge(
                    "node_disk_filesystem_info",
                    "Info about disk filesystem.",
                    &[
                        ("device", dev),
                        ("type", prop("ID_FS_TYPE")),
                        ("usage", prop("ID_FS_USAGE")),
                        ("uuid", prop("ID_FS_UUID")),
                        ("version", prop("ID_FS_VERSION")),
                    ],
                    1.0,
                );
            }
            if !prop("DM_NAME").is_empty() {
                sink.gauge(
                    "node_disk_device_mapper_info",
                    "Info about disk device mapper.",
                    &[
                        ("device", dev),
                        ("name", prop("DM_NAME")),
                        ("uuid", prop("DM_UUID")),
                        ("vg_name", prop("DM_VG_NAME")),
                        ("lv_name", prop("DM_LV_NAME")),
                        ("lv_layer", prop("DM_LV_LAYER")),
                    ],
                    1.0,
                );
                if let Ok(rd) = std::fs::read_dir(self.paths.sys(&format!("block/{dev}/slaves"))) {
                    let mut backing: Vec<String> = rd
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect();
                    backing.sort();
                    for b in backing {
                        sink.gauge(
                            "node_disk_device_mapper_backing_device_info",
                            "Info about the underlying block devices of a device mapper device.",
                            &[("device", dev), ("backing_device", &b)],
                            1.0,
                        );
                    }
                }
            }
            if !prop("ID_ATA").is_empty() {
                for (key, name, help) in ATA {
                    if let Some(v) = udev.get(*key).and_then(|v| v.parse::<f64>().ok()) {
                        sink.gauge(name, help, &[("device", dev)], v);
                    }
                }
            }
        }
        Ok(())
    }
}
