//! `hwmon`: hardware sensors (temperatures, voltages, fans, power) from
//! `/sys/class/hwmon`, named as upstream names them (similar to lm-sensors).

use std::collections::BTreeMap;
use std::path::Path;

use crate::collector::{CollectError, Collector};
use crate::paths::HostPaths;
use crate::sink::MetricSink;

const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Lower-cases and replaces everything but `[a-z0-9:_]` with `_`, trimming `_`.
pub fn clean_name(s: &str) -> String {
    let replaced: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// Splits a sensor file name into type, number and property: `temp1_crit_alarm` →
/// (`temp`, 1, `crit_alarm`), `beep_enable` → (`beep_enable`, 0, ``).
pub fn explode_sensor_filename(name: &str) -> Option<(&str, u32, &str)> {
    let type_end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    if type_end == 0 {
        return None;
    }
    let (kind, rest) = name.split_at(type_end);
    let id_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (id, rest) = rest.split_at(id_end);
    let property = match rest {
        "" => "",
        r => r.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    let num = if id.is_empty() { 0 } else { id.parse().ok()? };
    Some((kind, num, property))
}

type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_data(dir: &Path, data: &mut SensorData) -> Result<(), CollectError> {
    let rd = std::fs::read_dir(dir).map_err(|e| CollectError::read(dir, e))?;
    for entry in rd.filter_map(|e| e.ok()) {
        let Ok(file) = entry.file_name().into_string() else {
            continue;
        };
        let Some((kind, num, property)) = explode_sensor_filename(&file) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        // Broken drivers fail reads (EAGAIN, EIO); such a value is skipped, as upstream does.
        let Ok(raw) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        data.entry(format!("{kind}{num}"))
            .or_default()
            .insert(property.to_string(), raw.trim_matches('\n').to_string());
    }
    Ok(())
}

pub struct HwmonCollector {
    paths: HostPaths,
}

impl HwmonCollector {
    pub fn new(paths: HostPaths) -> HwmonCollector {
        HwmonCollector { paths }
    }

    /// A stable chip name: from the device's bus path (`platform_coretemp_0`), else the
    /// `name` file, else the `hwmonN` directory.
    fn chip_name(dir: &Path) -> Result<String, CollectError> {
        if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
            let dev_name = device
                .file_name()
                .and_then(|n| n.to_str())
                .map(clean_name)
                .unwrap_or_default();
            let dev_type = device
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .map(clean_name)
                .unwrap_or_default();
            if !dev_type.is_empty() && !dev_name.is_empty() {
                return Ok(format!("{dev_type}_{dev_name}"));
            }
            if !dev_name.is_empty() {
                return Ok(dev_name);
            }
        }
        if let Ok(name) = std::fs::read_to_string(dir.join("name")) {
            let name = clean_name(&name);
            if !name.is_empty() {
                return Ok(name);
            }
        }
        let real = std::fs::canonicalize(dir).map_err(|e| CollectError::read(dir, e))?;
        let name = real
            .file_name()
            .and_then(|n| n.to_str())
            .map(clean_name)
            .unwrap_or_default();
        if name.is_empty() {
            return Err(CollectError::parse(
                dir,
                "could not derive a monitoring name",
            ));
        }
        Ok(name)
    }

    fn update_chip(dir: &Path, sink: &mut MetricSink) -> Result<(), CollectError> {
        let chip = Self::chip_name(dir)?;
        let mut data = SensorData::new();
        collect_sensor_data(dir, &mut data)?;
        let device = dir.join("device");
        if device.exists() {
            collect_sensor_data(&device, &mut data)?;
        }
        if let Ok(name) = std::fs::read_to_string(dir.join("name")) {
            let name = clean_name(&name);
            if !name.is_empty() {
                sink.gauge(
                    "node_hwmon_chip_names",
                    "Annotation metric for human-readable chip names",
                    &[("chip", &chip), ("chip_name", &name)],
                    1.0,
                );
            }
        }
        for (sensor, props) in &data {
            write_sensor(sink, &chip, sensor, props);
        }
        Ok(())
    }
}

fn write_sensor(sink: &mut MetricSink, chip: &str, sensor: &str, props: &BTreeMap<String, String>) {
    let Some((kind, _, _)) = explode_sensor_filename(sensor) else {
        return;
    };
    let labels = [("chip", chip), ("sensor", sensor)];
    let label = props
        .get("label")
        .map(|l| clean_name(l))
        .filter(|l| !l.is_empty());
    if let Some(label) = &label {
        sink.gauge(
            "node_hwmon_sensor_label",
            "Label for given chip and sensor",
            &[("chip", chip), ("sensor", sensor), ("label", label)],
            1.0,
        );
    }
    let bare = props.get("").map(String::as_str);
    match kind {
        "beep_enable" => {
            let v = if bare == Some("1") { 1.0 } else { 0.0 };
            sink.gauge(
                "node_hwmon_beep_enabled",
                "Hardware beep enabled",
                &labels,
                v,
            );
            return;
        }
        "vrm" => {
            if let Some(v) = bare.and_then(|v| v.trim().parse::<f64>().ok()) {
                sink.gauge(
                    "node_hwmon_voltage_regulator_version",
                    "Hardware voltage regulator",
                    &labels,
                    v,
                );
            }
            return;
        }
        "update_interval" => {
            if let Some(v) = bare.and_then(|v| v.trim().parse::<f64>().ok()) {
                sink.gauge(
                    "node_hwmon_update_interval_seconds",
                    "Hardware monitor update interval",
                    &labels,
                    v * 0.001,
                );
            }
            return;
        }
        _ => {}
    }
    let prefix = format!("node_hwmon_{kind}");
    for (element, value) in props {
        if element == "label" {
            continue;
        }
        let name = if element == "input" {
            if bare.is_some() {
                format!("{prefix}_input")
            } else {
                prefix.clone()
            }
        } else if !element.is_empty() {
            format!("{prefix}_{}", clean_name(element))
        } else {
            prefix.clone()
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let e = element.as_str();
        let (name, help, value, counter) = match kind {
            _ if e == "fault" || e == "alarm" => (
                name,
                format!("Hardware sensor {e} status ({kind})"),
                v,
                false,
            ),
            _ if e == "beep" => (
                format!("{name}_enabled"),
                "Hardware monitor sensor has beeping enabled".into(),
                v,
                false,
            ),
            "in" | "cpu" => (
                format!("{name}_volts"),
                format!("Hardware monitor for voltage ({e})"),
                v * 0.001,
                false,
            ),
            "temp" if e != "type" => {
                let e = if e.is_empty() { "input" } else { e };
                (
                    format!("{name}_celsius"),
                    format!("Hardware monitor for temperature ({e})"),
                    v * 0.001,
                    false,
                )
            }
            "curr" => (
                format!("{name}_amps"),
                format!("Hardware monitor for current ({e})"),
                v * 0.001,
                false,
            ),
            "energy" => (
                format!("{name}_joule_total"),
                format!("Hardware monitor for joules used so far ({e})"),
                v / 1_000_000.0,
                true,
            ),
            "power" if e == "accuracy" => (
                name,
                "Hardware monitor power meter accuracy, as a ratio".into(),
                v / 1_000_000.0,
                false,
            ),
            "power"
                if matches!(
                    e,
                    "average_interval" | "average_interval_min" | "average_interval_max"
                ) =>
            {
                (
                    format!("{name}_seconds"),
                    format!("Hardware monitor power usage update interval ({e})"),
                    v * 0.001,
                    false,
                )
            }
            "power" => (
                format!("{name}_watt"),
                format!("Hardware monitor for power usage in watts ({e})"),
                v / 1_000_000.0,
                false,
            ),
            "humidity" => (
                name,
                format!(
                    "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({e})"
                ),
                v / 1_000_000.0,
                false,
            ),
            "fan" if matches!(e, "input" | "min" | "max" | "target") => (
                format!("{name}_rpm"),
                format!("Hardware monitor for fan revolutions per minute ({e})"),
                v,
                false,
            ),
            "freq" if e == "input" => (
                format!("{name}_freq_mhz"),
                "Hardware monitor for GPU frequency in MHz".into(),
                v / 1_000_000.0,
                false,
            ),
            _ => (
                name,
                format!("Hardware monitor {kind} element {e}"),
                v,
                false,
            ),
        };
        if counter {
            sink.counter(&name, &help, &labels, value);
        } else {
            sink.gauge(&name, &help, &labels, value);
        }
    }
}

impl Collector for HwmonCollector {
    fn name(&self) -> &'static str {
        "hwmon"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.paths.sys("class/hwmon");
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(
                    "hwmon collector metrics are not available for this system".into(),
                ));
            }
            Err(e) => return Err(CollectError::read(&dir, e)),
        };
        let mut chips: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        chips.sort();
        let mut last_error = None;
        for chip in chips {
            if let Err(e) = Self::update_chip(&chip, sink) {
                last_error = Some(e);
            }
        }
        last_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_file_names() {
        assert_eq!(
            explode_sensor_filename("temp1_crit_alarm"),
            Some(("temp", 1, "crit_alarm"))
        );
        assert_eq!(
            explode_sensor_filename("beep_enable"),
            Some(("beep_enable", 0, ""))
        );
        assert_eq!(explode_sensor_filename("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(
            explode_sensor_filename("in10_input"),
            Some(("in", 10, "input"))
        );
        assert_eq!(explode_sensor_filename("1abc"), None);
        assert_eq!(clean_name("Package id 0\n"), "package_id_0");
        assert_eq!(clean_name("coretemp.0"), "coretemp_0");
    }
}
