//! The scrape-load generator of `bench/`: one process serving many targets, each a
//! node-exporter-like page of counters, gauges and histograms whose values move on every
//! scrape.
//!
//! Built to be cheap so it never is the bottleneck of a benchmark: a page is a template
//! built once ([`page::Page`]) and each scrape only patches its values. The process
//! reports its own CPU time on its stats endpoint so the harness can check that.
//!
//! Must never know about: hearth's storage, queries or scraping; it is only a target.

pub mod page;
pub mod stats;
