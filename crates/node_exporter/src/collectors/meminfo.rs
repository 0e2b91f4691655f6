//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<field>[_bytes]`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

pub struct MeminfoCollector {
    paths: HostPaths,
}

impl MeminfoCollector {
    pub fn new(paths: HostPaths) -> MeminfoCollector {
        MeminfoCollector { paths }
    }
}

/// One `/proc/meminfo` line as upstream names it: `Active(anon): 12 kB` →
/// (`Active_anon_bytes`, 12288).
pub fn parse_meminfo_line(line: &str) -> Option<Result<(String, f64), String>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (key, rest) = line.split_once(':')?;
    let mut parts = rest.split_ascii_whitespace();
    let Some(raw) = parts.next() else {
        return Some(Err(format!("no value for {key:?}")));
    };
    let Ok(mut value) = raw.parse::<f64>() else {
        return Some(Err(format!("invalid value {raw:?} for {key:?}")));
    };
    let mut name = key.replace('(', "_").replace(')', "");
    match parts.next() {
        Some("kB") => {
            value *= 1024.0;
            name.push_str("_bytes");
        }
        Some(unit) => return Some(Err(format!("unsupported unit {unit:?} for {key:?}"))),
        None => {}
    }
    Some(Ok((name, value)))
}

impl Collector for MeminfoCollector {
    fn name(&self) -> &'static str {
        "meminfo"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("meminfo");
        let text = read_text(&path)?;
        for line in text.lines() {
            let (field, value) = match parse_meminfo_line(line) {
                None => continue,
                Some(r) => r.map_err(|m| CollectError::parse(&path, m))?,
            };
            sink.gauge(
                &format!("node_memory_{field}"),
                &format!("Memory information field {field}."),
                &[],
                value,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_upstream() {
        let p = |l| parse_meminfo_line(l).unwrap().unwrap();
        assert_eq!(
            p("Active(anon):     1660 kB"),
            ("Active_anon_bytes".into(), 1_699_840.0)
        );
        assert_eq!(
            p("HugePages_Total:       0"),
            ("HugePages_Total".into(), 0.0)
        );
        assert!(parse_meminfo_line("").is_none());
        assert!(parse_meminfo_line("MemTotal: x kB").unwrap().is_err());
    }
}
