//! `time`: the system clock, the local time zone's offset and the kernel clock
//! sources from `/sys/devices/system/clocksource`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, numbered_entries, read_attr};
use crate::sink::MetricSink;
use crate::sys;

pub struct TimeCollector {
    paths: HostPaths,
}

impl TimeCollector {
    pub fn new(paths: HostPaths) -> TimeCollector {
        TimeCollector { paths }
    }
}

impl Collector for TimeCollector {
    fn name(&self) -> &'static str {
        "time"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| CollectError::Other(format!("system clock before 1970: {e}")))?;
        sink.gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            &[],
            now.as_nanos() as f64 / 1e9,
        );
        if let Some((zone, offset)) = sys::local_zone(now.as_secs() as i64) {
            sink.gauge(
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
                &[("time_zone", &zone)],
                offset as f64,
            );
        }
        let dir = self.paths.sys("devices/system/clocksource");
        for (device, path) in numbered_entries(&dir, "clocksource") {
            if let Some(available) = read_attr(&path.join("available_clocksource")) {
                for source in available.split_ascii_whitespace() {
                    sink.gauge(
                        "node_time_clocksource_available_info",
                        "Available clocksources read from '/sys/devices/system/clocksource'.",
                        &[("device", &device), ("clocksource", source)],
                        1.0,
                    );
                }
            }
            if let Some(current) = read_attr(&path.join("current_clocksource")) {
                sink.gauge(
                    "node_time_clocksource_current_info",
                    "Current clocksource read from '/sys/devices/system/clocksource'.",
                    &[("device", &device), ("clocksource", &current)],
                    1.0,
                );
            }
        }
        Ok(())
    }
}
