//! `uname`: the kernel's identity from `uname(2)`.

use crate::collector::{CollectError, Collector};
use crate::sink::MetricSink;
use crate::sys;
pub use crate::sys::Utsname;

pub fn write_uname(sink: &mut MetricSink, u: &Utsname) {
    sink.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        &[
            ("sysname", &u.sysname),
            ("release", &u.release),
            ("version", &u.version),
            ("machine", &u.machine),
            ("nodename", &u.nodename),
            ("domainname", &u.domainname),
        ],
        1.0,
    );
}

pub struct UnameCollector;

impl Collector for UnameCollector {
    fn name(&self) -> &'static str {
        "uname"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let u = sys::uname().map_err(|e| CollectError::Other(format!("uname failed: {e}")))?;
        write_uname(sink, &u);
        Ok(())
    }
}
