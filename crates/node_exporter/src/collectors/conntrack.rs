//! `conntrack`: connection tracking table size and statistics from
//! `/proc/sys/net/netfilter` and `/proc/net/stat/nf_conntrack`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_text, read_u64};
use crate::sink::MetricSink;

pub struct ConntrackCollector {
    paths: HostPaths,
}

impl ConntrackCollector {
    pub fn new(paths: HostPaths) -> ConntrackCollector {
        ConntrackCollector { paths }
    }
}

const STATS: &[(&str, &str, &str)] = &[
    (
        "found",
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        "invalid",
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        "insert",
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        "drop",
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

impl Collector for ConntrackCollector {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let count = match read_u64(&self.paths.proc("sys/net/netfilter/nf_conntrack_count")) {
            Err(e) if e.is_not_found() => {
                return Err(CollectError::NoData("conntrack is not loaded".into()));
            }
            r => r?,
        };
        sink.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            &[],
            count as f64,
        );
        let max = read_u64(&self.paths.proc("sys/net/netfilter/nf_conntrack_max"))?;
        sink.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            &[],
            max as f64,
        );

        // One hexadecimal row per CPU under a header naming the columns, which vary
        // between kernel versions; the totals are the sums over CPUs.
        let path = self.paths.proc("net/stat/nf_conntrack");
        let text = read_text(&path)?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| CollectError::parse(&path, "empty file"))?
            .split_ascii_whitespace()
            .collect();
        let mut sums = vec![0u64; header.len()];
        for line in lines {
            for (i, v) in line.split_ascii_whitespace().enumerate() {
                let n = u64::from_str_radix(v, 16)
                    .map_err(|_| CollectError::parse(&path, format!("invalid hex value {v:?}")))?;
                if let Some(s) = sums.get_mut(i) {
                    *s += n;
                }
            }
        }
        for (column, name, help) in STATS {
            if let Some(i) = header.iter().position(|h| h == column) {
                sink.gauge(name, help, &[], sums[i] as f64);
            }
        }
        Ok(())
    }
}
