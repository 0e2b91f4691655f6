//! `netstat`: protocol counters from `/proc/1/net/{netstat,snmp,snmp6}` selected by
//! `--collector.netstat.fields`.
//!
//! Upstream reads PID 1's files so a containerised exporter with the host's `/proc`
//! reports the host network namespace; hearth falls back to `/proc/net` when PID 1's
//! are hidden (`hidepid`).

use std::path::{Path, PathBuf};

use hearth_model::FastRegex;

use crate::device_filter::CachedRegex;

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

pub struct NetstatCollector {
    paths: HostPaths,
    fields: CachedRegex,
}

impl NetstatCollector {
    pub fn new(paths: HostPaths, fields: FastRegex) -> NetstatCollector {
        NetstatCollector {
            paths,
            fields: CachedRegex::new(fields),
        }
    }

    fn net_file(&self, name: &str) -> PathBuf {
        let pid1 = self.paths.proc(&format!("1/net/{name}"));
        if pid1.exists() {
            pid1
        } else {
            self.paths.proc(&format!("net/{name}"))
        }
    }

    fn emit(&self, sink: &mut MetricSink, protocol: &str, name: &str, value: f64) {
        let key = format!("{protocol}_{name}");
        if !self.fields.is_match(&key) {
            return;
        }
        sink.untyped(
            &format!("node_netstat_{key}"),
            &format!("Statistic {protocol}{name}."),
            &[],
            value,
        );
    }

    /// `netstat` and `snmp` come in line pairs: `Tcp: Name1 Name2` then `Tcp: 1 2`.
    fn paired(&self, path: &Path, text: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut lines = text.lines();
        while let Some(names) = lines.next() {
            let Some(values) = lines.next() else {
                return Err(CollectError::parse(
                    path,
                    format!("no values line after {names:?}"),
                ));
            };
            let (protocol, names) = names
                .split_once(':')
                .ok_or_else(|| CollectError::parse(path, format!("no protocol in {names:?}")))?;
            let values = values.split_once(':').map(|(_, v)| v).unwrap_or("");
            let names: Vec<&str> = names.split_ascii_whitespace().collect();
            let values: Vec<&str> = values.split_ascii_whitespace().collect();
            if names.len() != values.len() {
                return Err(CollectError::parse(
                    path,
                    format!(
                        "{protocol}: {} names but {} values",
                        names.len(),
                        values.len()
                    ),
                ));
            }
            for (name, raw) in names.iter().zip(values) {
                let v: f64 = raw.parse().map_err(|_| {
                    CollectError::parse(path, format!("invalid value {raw:?} for {protocol}{name}"))
                })?;
                self.emit(sink, protocol, name, v);
            }
        }
        Ok(())
    }

    /// `snmp6` has one `Ip6InReceives 123` per line; the protocol ends at the first `6`.
    fn snmp6(&self, path: &Path, text: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
        for line in text.lines() {
            let mut f = line.split_ascii_whitespace();
            let (Some(key), Some(raw)) = (f.next(), f.next()) else {
                continue;
            };
            let Some(six) = key.find('6') else { continue };
            let (protocol, name) = key.split_at(six + 1);
            let v: f64 = raw.parse().map_err(|_| {
                CollectError::parse(path, format!("invalid value {raw:?} for {key}"))
            })?;
            self.emit(sink, protocol, name, v);
        }
        Ok(())
    }
}

impl Collector for NetstatCollector {
    fn name(&self) -> &'static str {
        "netstat"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        for file in ["netstat", "snmp"] {
            let path = self.net_file(file);
            let text = read_text(&path)?;
            self.paired(&path, &text, sink)?;
        }
        // Absent when IPv6 is disabled.
        let path = self.net_file("snmp6");
        match read_text(&path) {
            Ok(text) => self.snmp6(&path, &text, sink)?,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
