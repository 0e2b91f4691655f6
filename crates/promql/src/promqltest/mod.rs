//! Upstream's PromQL test scripts (`promql/promqltest`, the `.test` files): the parser
//! that turns a script into typed commands (`load`, `clear`, `eval` with their
//! expectations), and the runner that executes them against the engine
//! ([`run_script`]).
//!
//! The language is described in `../shared/conformance/promql/FORMAT-upstream.md`; this
//! parser follows upstream's `test.go` line by line, including its quirks (a comment line
//! ends a block, a scalar result ends an `eval` block, `eval_fail`-style deprecated
//! commands), so that scripts are read exactly as upstream reads them.

mod loader;
mod runner;
mod script;
mod start_timestamps;

pub use runner::{
    EvalFailure, ScriptReport, almost_equal, at_modifier_cases, harness_engine_options, run_script,
};

pub use script::{
    ClearCommand, Command, EvalCommand, EvalQuery, ExpectKind, Expectation, ExpectedResult,
    ExpectedSeries, LegacyModifier, LoadCommand, LoadSeries, MessageMatch, RangeVectorTimes,
    Script, ScriptError, parse_script,
};
pub use start_timestamps::parse_start_timestamp_sequence;
