//! `thermal_zone`: thermal zone temperatures and cooling device states from
//! `/sys/class/thermal`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, numbered_entries, read_attr};
use crate::sink::MetricSink;

pub struct ThermalZoneCollector {
    paths: HostPaths,
}

impl ThermalZoneCollector {
    pub fn new(paths: HostPaths) -> ThermalZoneCollector {
        ThermalZoneCollector { paths }
    }
}

impl Collector for ThermalZoneCollector {
    fn name(&self) -> &'static str {
        "thermal_zone"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.paths.sys("class/thermal");
        // A zone or device whose attributes cannot be read (EAGAIN, ENODATA from a
        // sleeping sensor) is skipped, as upstream skips it.
        for (zone, path) in numbered_entries(&dir, "thermal_zone") {
            let (Some(kind), Some(_policy), Some(temp)) = (
                read_attr(&path.join("type")),
                read_attr(&path.join("policy")),
                read_attr(&path.join("temp")).and_then(|t| t.parse::<i64>().ok()),
            ) else {
                continue;
            };
            sink.gauge(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                &[("zone", &zone), ("type", &kind)],
                temp as f64 / 1000.0,
            );
        }
        for (name, path) in numbered_entries(&dir, "cooling_device") {
            let num = |f: &str| read_attr(&path.join(f)).and_then(|v| v.parse::<i64>().ok());
            let (Some(kind), Some(max), Some(cur)) = (
                read_attr(&path.join("type")),
                num("max_state"),
                num("cur_state"),
            ) else {
                continue;
            };
            let labels = [("name", name.as_str()), ("type", kind.as_str())];
            sink.gauge(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                &labels,
                cur as f64,
            );
            sink.gauge(
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                &labels,
                max as f64,
            );
        }
        Ok(())
    }
}
