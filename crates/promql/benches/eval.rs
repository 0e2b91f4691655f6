#![allow(clippy::unwrap_used, clippy::expect_used)]
//! PromQL evaluation benchmarks (filled in below).

fn main() {}
