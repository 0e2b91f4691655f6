//! [`NodeExporter`]: one scrape runs every enabled collector — in parallel on a few
//! threads — and adds `node_scrape_collector_{duration_seconds,success}` per collector.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hearth_exposition::MetricFamily;

use crate::collector::{CollectError, Collector};
use crate::collectors;
use crate::config::{ConfigError, NodeExporterConfig};
use crate::sink::MetricSink;

/// Threads per scrape: enough to overlap slow sysfs reads on a large host, few enough
/// that spawning them stays cheap next to the collectors' own work.
const MAX_WORKERS: usize = 4;

pub struct NodeExporter {
    collectors: Vec<Box<dyn Collector>>,
    workers: usize,
}

/// What one collector produced in one scrape.
struct Outcome {
    name: &'static str,
    sink: MetricSink,
    seconds: f64,
    success: bool,
}

impl NodeExporter {
    pub fn new(config: &NodeExporterConfig) -> Result<NodeExporter, ConfigError> {
        Ok(NodeExporter::from_collectors(collectors::build(config)?))
    }

    pub fn from_collectors(collectors: Vec<Box<dyn Collector>>) -> NodeExporter {
        // One worker per two cores: on a small host (measured on 2 cores) a second
        // thread costs more CPU and wall time than the overlap it buys; on a large one
        // parallel collectors shorten the scrape as upstream's goroutines do.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        NodeExporter {
            workers: (cores / 2).clamp(1, MAX_WORKERS),
            collectors,
        }
    }

    /// Sets how many threads run collectors in one scrape (1: sequential).
    pub fn with_workers(mut self, workers: usize) -> NodeExporter {
        self.workers = workers.max(1);
        self
    }

    pub fn collector_names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|c| c.name()).collect()
    }

    /// Scrapes every collector (or those `select` accepts, for upstream's `collect[]`
    /// parameter) and returns the families sorted by name.
    pub fn scrape(&self, select: &dyn Fn(&str) -> bool) -> Vec<MetricFamily> {
        let selected: Vec<&dyn Collector> = self
            .collectors
            .iter()
            .map(|c| c.as_ref())
            .filter(|c| select(c.name()))
            .collect();
        let outcomes = Mutex::new(Vec::with_capacity(selected.len()));
        let next = AtomicUsize::new(0);
        let work = || {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = selected.get(i) else { break };
                mine.push(run(*c));
            }
            outcomes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(mine);
        };
        let workers = self.workers.min(selected.len()).max(1);
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(work);
            }
            work();
        });
        let mut outcomes = outcomes
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outcomes.sort_by_key(|o| o.name);
        let mut sink = MetricSink::new();
        for o in outcomes {
            sink.append(o.sink);
            sink.gauge(
                "node_scrape_collector_duration_seconds",
                "node_exporter: Duration of a collector scrape.",
                &[("collector", o.name)],
                o.seconds,
            );
            sink.gauge(
                "node_scrape_collector_success",
                "node_exporter: Whether a collector succeeded.",
                &[("collector", o.name)],
                if o.success { 1.0 } else { 0.0 },
            );
        }
        sink.finish()
    }
}

fn run(c: &dyn Collector) -> Outcome {
    let start = Instant::now();
    let mut sink = MetricSink::new();
    let result = c.update(&mut sink);
    let seconds = start.elapsed().as_secs_f64();
    let name = c.name();
    match &result {
        Ok(()) => tracing::debug!(
            collector = name,
            duration_seconds = seconds,
            "collector succeeded"
        ),
        Err(CollectError::NoData(why)) => {
            tracing::debug!(collector = name, duration_seconds = seconds, reason = %why, "collector returned no data")
        }
        Err(e) => {
            tracing::error!(collector = name, duration_seconds = seconds, err = %e, "collector failed")
        }
    }
    Outcome {
        name,
        sink,
        seconds,
        success: result.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fails;
    impl Collector for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
            sink.gauge("node_partial", "Written before the error.", &[], 1.0);
            Err(CollectError::Other("boom".into()))
        }
    }
    struct Works;
    impl Collector for Works {
        fn name(&self) -> &'static str {
            "works"
        }
        fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
            sink.gauge("node_ok", "Fine.", &[], 2.0);
            Ok(())
        }
    }

    #[test]
    fn a_failing_collector_reports_success_zero_and_the_scrape_answers() {
        let e =
            NodeExporter::from_collectors(vec![Box::new(Fails), Box::new(Works)]).with_workers(2);
        let families = e.scrape(&|_| true);
        let success = families
            .iter()
            .find(|f| f.name == "node_scrape_collector_success")
            .unwrap();
        let by_collector: Vec<(&str, f64)> = success
            .samples
            .iter()
            .map(|s| (s.label("collector").unwrap(), s.value))
            .collect();
        assert_eq!(by_collector, [("fails", 0.0), ("works", 1.0)]);
        assert!(families.iter().any(|f| f.name == "node_ok"));
        assert!(families.iter().any(|f| f.name == "node_partial"));
        let only_works = e.scrape(&|n| n == "works");
        assert!(!only_works.iter().any(|f| f.name == "node_partial"));
    }
}
