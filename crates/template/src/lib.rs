//! Go's `text/template` language for hearth: the language of Prometheus alert
//! annotations and labels and of Alertmanager notification templates.
//!
//! Owns: lexing and parsing templates into trees ([`lexer`], [`parser`], [`ast`]),
//! executing them over a dynamic [`Value`] model ([`exec`], [`value`]) with Go's
//! builtins ([`funcs`]), Go's `fmt`/`strconv`/`time`/`encoding/json` text forms
//! ([`gofmt`], [`gotime`], [`json`]), `html/template`-style output escaping ([`html`]),
//! and the function sets and data models of Prometheus ([`prometheus`]) and
//! Alertmanager ([`alertmanager`], with its embedded default templates).
//!
//! Invariants: no template text or data makes this crate panic; every execution is
//! bounded in output size, template call depth and steps ([`Limits`]); error messages
//! are Go's wording with the template name, line and column.
//!
//! Never knows about: PromQL or storage (queries come through [`prometheus::QueryFn`]),
//! notifiers, HTTP, configuration files.

pub mod alertmanager;
pub mod ast;
pub mod error;
mod exec;
pub mod funcs;
pub mod gofmt;
pub mod gotime;
pub mod html;
pub mod json;
pub mod lexer;
mod number;
pub mod parser;
pub mod prometheus;
mod template;
pub mod textfuncs;
pub mod value;

pub use alertmanager::{Alert, Alerts, Data, Kv, NotificationTemplates, alertmanager_funcs};
pub use error::TemplateError;
pub use funcs::{FuncMap, Function};
pub use prometheus::{
    AlertContext, PrometheusContext, QueryFn, QuerySample, expand_alert_template, prometheus_funcs,
};
pub use template::{Escaping, Limits, MissingKey, Template};
pub use value::{ElemKind, Object, ParamType, Signature, Value};
