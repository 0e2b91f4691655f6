//! `sockstat`: socket counts and memory per protocol from `/proc/net/sockstat` and
//! `/proc/net/sockstat6`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;

pub struct SockstatCollector {
    paths: HostPaths,
    page_size: f64,
}

impl SockstatCollector {
    pub fn new(paths: HostPaths, page_size: u64) -> SockstatCollector {
        SockstatCollector {
            paths,
            page_size: page_size as f64,
        }
    }

    fn parse(
        &self,
        path: &std::path::Path,
        text: &str,
        sink: &mut MetricSink,
    ) -> Result<(), CollectError> {
        for line in text.lines() {
            let Some((protocol, rest)) = line.split_once(':') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
            if !fields.len().is_multiple_of(2) {
                return Err(CollectError::parse(
                    path,
                    format!("odd number of fields in {line:?}"),
                ));
            }
            for pair in fields.chunks(2) {
                let (key, raw) = (pair[0], pair[1]);
                let v: f64 = raw.parse().map_err(|_| {
                    CollectError::parse(path, format!("invalid value {raw:?} in {line:?}"))
                })?;
                if protocol == "sockets" {
                    if key == "used" {
                        sink.gauge(
                            "node_sockstat_sockets_used",
                            "Number of IPv4 sockets in use.",
                            &[],
                            v,
                        );
                    }
                    continue;
                }
                sink.gauge(
                    &format!("node_sockstat_{protocol}_{key}"),
                    &format!("Number of {protocol} sockets in state {key}."),
                    &[],
                    v,
                );
                // `mem` counts pages; upstream adds the same in bytes.
                if key == "mem" {
                    sink.gauge(
                        &format!("node_sockstat_{protocol}_mem_bytes"),
                        &format!("Number of {protocol} sockets in state mem_bytes."),
                        &[],
                        v * self.page_size,
                    );
                }
            }
        }
        Ok(())
    }
}

impl Collector for SockstatCollector {
    fn name(&self) -> &'static str {
        "sockstat"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.paths.proc("net/sockstat");
        let text = read_text(&path)?;
        self.parse(&path, &text, sink)?;
        // Without IPv6 the kernel has no sockstat6; that is not an error.
        let path6 = self.paths.proc("net/sockstat6");
        match read_text(&path6) {
            Ok(text) => self.parse(&path6, &text, sink)?,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
