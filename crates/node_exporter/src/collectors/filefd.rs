//! `filefd`: allocated and maximum file handles from `/proc/sys/fs/file-nr`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, parse_field, read_text};
use crate::sink::MetricSink;

pub struct FilefdCollector {
    paths: HostPaths,
}

impl FilefdCollector {
    pub fn new(paths: HostPaths) -> FilefdCollector {
        FilefdCollector { paths }
    }
}

impl Collector for FilefdCollector {
    fn name(&self) -> &'static str {
        "filefd"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("sys/fs/file-nr");
        let text = read_text(&path)?;
        let mut f = text.split_ascii_whitespace();
        let allocated: f64 = parse_field(&path, "allocated", f.next())?;
        let _unused: f64 = parse_field(&path, "unused", f.next())?;
        let maximum: f64 = parse_field(&path, "maximum", f.next())?;
        sink.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            &[],
            allocated,
        );
        sink.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            &[],
            maximum,
        );
        Ok(())
    }
}
