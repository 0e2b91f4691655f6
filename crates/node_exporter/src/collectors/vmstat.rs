//! `vmstat`: the `/proc/vmstat` fields selected by `--collector.vmstat.fields`.

use hearth_model::FastRegex;

use crate::device_filter::CachedRegex;

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, parse_field, read_text};
use crate::sink::MetricSink;

pub struct VmstatCollector {
    paths: HostPaths,
    fields: CachedRegex,
}

impl VmstatCollector {
    pub fn new(paths: HostPaths, fields: FastRegex) -> VmstatCollector {
        VmstatCollector {
            paths,
            fields: CachedRegex::new(fields),
        }
    }
}

impl Collector for VmstatCollector {
    fn name(&self) -> &'static str {
        "vmstat"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("vmstat");
        let text = read_text(&path)?;
        for line in text.lines() {
            let mut f = line.split_ascii_whitespace();
            let Some(key) = f.next() else { continue };
            if !self.fields.is_match(key) {
                continue;
            }
            let v: f64 = parse_field(&path, key, f.next())?;
            sink.untyped(
                &format!("node_vmstat_{key}"),
                &format!("/proc/vmstat information field {key}."),
                &[],
                v,
            );
        }
        Ok(())
    }
}
