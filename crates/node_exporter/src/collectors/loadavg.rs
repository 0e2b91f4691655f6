//! `loadavg`: the 1, 5 and 15 minute load averages from `/proc/loadavg`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, parse_field, read_text};
use crate::sink::MetricSink;

pub struct LoadavgCollector {
    paths: HostPaths,
}

impl LoadavgCollector {
    pub fn new(paths: HostPaths) -> LoadavgCollector {
        LoadavgCollector { paths }
    }
}

impl Collector for LoadavgCollector {
    fn name(&self) -> &'static str {
        "loadavg"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("loadavg");
        let text = read_text(&path)?;
        let mut f = text.split_ascii_whitespace();
        for (name, help) in [
            ("node_load1", "1m load average."),
            ("node_load5", "5m load average."),
            ("node_load15", "15m load average."),
        ] {
            let v: f64 = parse_field(&path, "load average", f.next())?;
            sink.gauge(name, help, &[], v);
        }
        Ok(())
    }
}
