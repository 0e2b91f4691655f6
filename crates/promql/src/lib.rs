//! hearth's PromQL front end: the lexer, parser, syntax tree and printer of Prometheus
//! 3.14's query language, the series descriptions of test `load` lines and the parser of
//! upstream's `.test` scripts.
//!
//! - [`parse_expr`] turns a query into an [`Expr`] (type-checked, with byte positions),
//!   or a [`ParseError`] worded as upstream's (`1:5: parse error: ...`).
//! - `Expr`'s `Display` prints the canonical single-line form (upstream's `String()`);
//!   [`Expr::pretty`] the multi-line form of `/api/v1/format_query`.
//! - [`parse_series_desc`] reads `metric{labels} 1+2x3 _ stale {{...}}` value lists.
//! - [`promqltest`] reads `.test` scripts into commands and runs them against the
//!   engine.
//! - [`engine`] evaluates queries: [`Engine::instant_query`], [`Engine::range_query`].

pub mod ast;
pub mod engine;
pub mod error;
pub mod functions;
pub mod go_format;
pub mod lexer;
pub mod literals;
pub mod parser;
pub mod prettier;
pub mod printer;
pub mod promqltest;
pub mod quantile;
pub mod series;
mod series_histogram;
mod typecheck;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality,
    DurationEvalError, DurationExpr, DurationExprKind, DurationOp, DurationValue, Expr,
    FillModifier, MatrixSelector, NumberLiteral, ParenExpr, PosRange, StringLiteral, SubqueryExpr,
    UnaryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};
pub use engine::{
    Engine, EngineOptions, EvalError, Features, QueryError, QueryOptions, QueryResult, Value,
};
pub use error::{ParseError, ParseErrorItem};
pub use functions::{Function, get_function};
pub use parser::{MAX_NESTING, ParserOptions, parse_expr, parse_metric_selector};
pub use series::{HistogramValue, SeriesValue, parse_metric, parse_series_desc};
