//! `entropy`: the kernel entropy pool from `/proc/sys/kernel/random`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_u64};
use crate::sink::MetricSink;

pub struct EntropyCollector {
    paths: HostPaths,
}

impl EntropyCollector {
    pub fn new(paths: HostPaths) -> EntropyCollector {
        EntropyCollector { paths }
    }
}

impl Collector for EntropyCollector {
    fn name(&self) -> &'static str {
        "entropy"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let avail = read_u64(&self.paths.proc("sys/kernel/random/entropy_avail"))?;
        sink.gauge(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            &[],
            avail as f64,
        );
        let pool = read_u64(&self.paths.proc("sys/kernel/random/poolsize"))?;
        sink.gauge(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            &[],
            pool as f64,
        );
        Ok(())
    }
}
