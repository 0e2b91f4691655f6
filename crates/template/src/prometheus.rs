//! Prometheus' template functions and the alert template expander.
//!
//! [`prometheus_funcs`] is the function map of Prometheus' `template` package
//! (`humanize*`, `query`/`first`/`label`/`value`/`sortByLabel`, `reReplaceAll`,
//! `graphLink`, `externalURL`, ...). The query functions call a [`QueryFn`] supplied by
//! the caller, so this crate needs no query engine. [`expand_alert_template`] expands
//! alert annotations and labels exactly as the rule manager does, with `$labels`,
//! `$externalLabels`, `$externalURL` and `$value` defined by a prefix upstream prepends
//! to the text (so error columns on line 1 include that prefix, as upstream's do).

use std::collections::BTreeMap;
use std::sync::Arc;

use hearth_model::Labels;

use crate::error::TemplateError;
use crate::funcs::{FuncMap, Function};
use crate::gotime::{GoDuration, GoTime};
use crate::template::{Escaping, MissingKey, Template};
use crate::textfuncs::{convert_to_float, g4, string_fn};
use crate::value::{Object, ParamType, Signature, Value};

/// One sample of a query result.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

/// Runs an instant PromQL query at a time (milliseconds since the epoch); supplied by
/// the rules component.
pub trait QueryFn: Send + Sync {
    fn query(&self, query: &str, timestamp_ms: i64) -> Result<Vec<QuerySample>, String>;
}

impl<F> QueryFn for F
where
    F: Fn(&str, i64) -> Result<Vec<QuerySample>, String> + Send + Sync,
{
    fn query(&self, query: &str, timestamp_ms: i64) -> Result<Vec<QuerySample>, String> {
        self(query, timestamp_ms)
    }
}

/// Go's `*template.sample`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    fn labels_value(&self) -> Value {
        Value::string_map(self.labels.iter())
    }
}

impl Object for Sample {
    fn type_name(&self) -> &str {
        "*template.sample"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Labels" => Some(self.labels_value()),
            "Value" => Some(Value::Float(self.value)),
            _ => None,
        }
    }

    fn write_go(&self, out: &mut String) {
        out.push_str("&{");
        self.labels_value().write_go(out);
        out.push(' ');
        hearth_model::float::write_go_g(out, self.value);
        out.push('}');
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Go's `template.queryResult` (`[]*sample`).
#[derive(Clone, Debug)]
pub struct QueryResult(pub Vec<Arc<Sample>>);

impl Object for QueryResult {
    fn type_name(&self) -> &str {
        "template.queryResult"
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::list(
            self.0
                .iter()
                .map(|s| Value::Object(s.clone() as Arc<dyn Object>))
                .collect(),
        ))
    }

    fn write_go(&self, out: &mut String) {
        if let Some(list) = self.underlying() {
            list.write_go(out);
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Where and when templates are expanded.
#[derive(Clone, Default)]
pub struct PrometheusContext {
    pub query: Option<Arc<dyn QueryFn>>,
    /// Evaluation time (ms since the epoch) for `query` and `now`.
    pub timestamp_ms: i64,
    /// `--web.external-url`.
    pub external_url: String,
}

/// The path part of a URL (Go's `url.URL.Path`).
fn url_path(u: &str) -> String {
    let after_scheme = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => return u.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..]
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

/// `net.SplitHostPort`.
pub fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = rest[end + 1..].strip_prefix(':')?;
        if port.contains([':', '[', ']']) {
            return None;
        }
        return Some((host.to_string(), port.to_string()));
    }
    let i = s.rfind(':')?;
    let (host, port) = (&s[..i], &s[i + 1..]);
    if host.contains([':', '[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn float_arg_fn(f: fn(f64) -> Result<Value, String>) -> Function {
    Function::new(Signature::new(vec![ParamType::Any]), move |a| {
        f(convert_to_float(a.first().unwrap_or(&Value::Nil))?)
    })
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `floatToTime`: seconds to a UTC time with millisecond precision.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            hearth_model::float::format_go_g(v)
        ));
    }
    // model.TimeFromUnixNano keeps milliseconds (truncating toward zero).
    let ms = (ns as i64) / 1_000_000;
    Ok(GoTime::from_unix_millis(ms))
}

fn samples_arg(v: &Value) -> Vec<Arc<Sample>> {
    v.downcast::<QueryResult>()
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

/// Prometheus' template function map.
pub fn prometheus_funcs(ctx: &PrometheusContext) -> FuncMap {
    use ParamType::{Any, String as Str};
    let mut m = FuncMap::new();
    let query = ctx.query.clone();
    let ts = ctx.timestamp_ms;
    m.insert(
        "query",
        Function::new(Signature::new(vec![Str]), move |a| {
            let q = a.first().and_then(Value::as_str).unwrap_or("");
            let Some(f) = &query else {
                return Err(format!(
                    "cannot execute query {}: no query engine available",
                    hearth_model::names::go_quote(q)
                ));
            };
            let samples = f.query(q, ts)?;
            Ok(Value::object(QueryResult(
                samples
                    .into_iter()
                    .map(|s| {
                        Arc::new(Sample {
                            labels: labels_map(&s.labels),
                            value: s.value,
                        })
                    })
                    .collect(),
            )))
        }),
    );
    m.insert(
        "first",
        Function::new(
            Signature::new(vec![ParamType::Object("template.queryResult")]),
            |a| match samples_arg(a.first().unwrap_or(&Value::Nil)).first() {
                Some(s) => Ok(Value::Object(s.clone())),
                None => Err("first() called on vector with no elements".into()),
            },
        ),
    );
    let sample_field = |a: Option<&Value>| a.and_then(|v| v.downcast::<Sample>()).cloned();
    m.insert(
        "label",
        Function::new(
            Signature::new(vec![Str, ParamType::Object("*template.sample")]),
            move |a| {
                let name = a.first().and_then(Value::as_str).unwrap_or("");
                let s = sample_field(a.get(1)).ok_or("nil pointer dereference")?;
                Ok(Value::from(s.labels.get(name).cloned().unwrap_or_default()))
            },
        ),
    );
    m.insert(
        "value",
        Function::new(
            Signature::new(vec![ParamType::Object("*template.sample")]),
            move |a| {
                let s = sample_field(a.first()).ok_or("nil pointer dereference")?;
                Ok(Value::Float(s.value))
            },
        ),
    );
    m.insert(
        "strvalue",
        Function::new(
            Signature::new(vec![ParamType::Object("*template.sample")]),
            move |a| {
                let s = sample_field(a.first()).ok_or("nil pointer dereference")?;
                Ok(Value::from(
                    s.labels.get("__value__").cloned().unwrap_or_default(),
                ))
            },
        ),
    );
    m.insert(
        "args",
        Function::new(Signature::variadic(vec![], Any), |a| {
            Ok(Value::map(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v.clone()))
                    .collect(),
            ))
        }),
    );
    m.insert("reReplaceAll", crate::textfuncs::re_replace_all_fn());
    m.insert("safeHtml", crate::textfuncs::safe_html_fn());
    m.insert("match", crate::textfuncs::match_fn());
    m.insert("title", string_fn(crate::textfuncs::strings_title));
    m.insert("toUpper", string_fn(crate::textfuncs::to_upper));
    m.insert("toLower", string_fn(crate::textfuncs::to_lower));
    m.insert(
        "graphLink",
        string_fn(|e| format!("/graph?g0.expr={}&g0.tab=0", crate::gofmt::query_escape(e))),
    );
    m.insert(
        "tableLink",
        string_fn(|e| format!("/graph?g0.expr={}&g0.tab=1", crate::gofmt::query_escape(e))),
    );
    m.insert(
        "sortByLabel",
        Function::new(
            Signature::new(vec![Str, ParamType::Object("template.queryResult")]),
            |a| {
                let label = a.first().and_then(Value::as_str).unwrap_or("");
                let mut v = samples_arg(a.get(1).unwrap_or(&Value::Nil));
                let key = |s: &Arc<Sample>| s.labels.get(label).cloned().unwrap_or_default();
                v.sort_by_key(key);
                Ok(Value::object(QueryResult(v)))
            },
        ),
    );
    m.insert(
        "stripPort",
        string_fn(|hp| match split_host_port(hp) {
            Some((host, _)) => host,
            None => hp.to_string(),
        }),
    );
    m.insert(
        "stripDomain",
        string_fn(|hp| {
            let (host, port) =
                split_host_port(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
            if host.parse::<std::net::IpAddr>().is_ok() {
                return hp.to_string();
            }
            let short = host.split('.').next().unwrap_or("");
            if port.is_empty() {
                short.to_string()
            } else {
                join_host_port(short, &port)
            }
        }),
    );
    m.insert("humanize", float_arg_fn(|v| Ok(Value::from(humanize(v)))));
    m.insert(
        "humanize1024",
        float_arg_fn(|v| Ok(Value::from(humanize_1024(v)))),
    );
    m.insert("humanizeDuration", crate::textfuncs::humanize_duration_fn());
    m.insert(
        "humanizePercentage",
        float_arg_fn(|v| Ok(Value::from(format!("{}%", g4(v * 100.0))))),
    );
    m.insert(
        "humanizeTimestamp",
        float_arg_fn(|v| {
            if !v.is_finite() {
                return Ok(Value::from(g4(v)));
            }
            Ok(Value::from(float_to_time(v)?.to_string()))
        }),
    );
    m.insert(
        "toTime",
        float_arg_fn(|v| Ok(Value::object(float_to_time(v)?))),
    );
    m.insert(
        "toDuration",
        float_arg_fn(|v| {
            let ns = v * 1e9;
            // Go's float-to-int conversion saturates on amd64 in practice; clamp likewise.
            let ns = if ns.is_nan() { i64::MIN } else { ns as i64 };
            Ok(Value::object(GoDuration(ns)))
        }),
    );
    m.insert(
        "now",
        Function::new(Signature::default(), move |_| {
            Ok(Value::Float(ts as f64 / 1000.0))
        }),
    );
    let path = url_path(&ctx.external_url);
    m.insert(
        "pathPrefix",
        Function::new(Signature::default(), move |_| {
            Ok(Value::from(path.as_str()))
        }),
    );
    let ext = ctx.external_url.clone();
    m.insert(
        "externalURL",
        Function::new(Signature::default(), move |_| Ok(Value::from(ext.as_str()))),
    );
    m.insert(
        "parseDuration",
        Function::new(Signature::new(vec![Str]), |a| {
            let s = a.first().and_then(Value::as_str).unwrap_or("");
            let ms = hearth_model::parse_duration(s).map_err(|e| e.to_string())?;
            Ok(Value::Float(ms as f64 / 1000.0))
        }),
    );
    m.insert("urlQueryEscape", string_fn(crate::gofmt::query_escape));
    m
}

/// The data alert templates see: Go's anonymous struct of `AlertTemplateData`.
#[derive(Clone, Debug)]
pub struct AlertTemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

impl Object for AlertTemplateData {
    fn type_name(&self) -> &str {
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Labels" => Value::string_map(self.labels.iter()),
            "ExternalLabels" => Value::string_map(self.external_labels.iter()),
            "ExternalURL" => Value::from(self.external_url.as_str()),
            "Value" => Value::Float(self.value),
            _ => return None,
        })
    }

    fn write_go(&self, out: &mut String) {
        out.push('{');
        Value::string_map(self.labels.iter()).write_go(out);
        out.push(' ');
        Value::string_map(self.external_labels.iter()).write_go(out);
        out.push(' ');
        out.push_str(&self.external_url);
        out.push(' ');
        hearth_model::float::write_go_g(out, self.value);
        out.push('}');
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Everything an alert template expansion needs.
#[derive(Clone)]
pub struct AlertContext<'a> {
    /// The alerting rule's name; templates are named `__alert_<name>`.
    pub rule_name: &'a str,
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
    pub timestamp_ms: i64,
    pub query: Option<Arc<dyn QueryFn>>,
}

/// The variable definitions the rule manager prepends to every alert template.
pub const ALERT_TEMPLATE_PREFIX: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn labels_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// Expands an alert annotation or label template as Prometheus' rule manager does.
/// Errors read `error parsing template __alert_NAME: ...` or
/// `error executing template __alert_NAME: ...`; the caller shows them as
/// `<error expanding template: ...>`.
pub fn expand_alert_template(text: &str, ctx: &AlertContext<'_>) -> Result<String, TemplateError> {
    let data = Value::object(AlertTemplateData {
        labels: labels_map(ctx.labels),
        external_labels: labels_map(ctx.external_labels),
        external_url: ctx.external_url.to_string(),
        value: ctx.value,
    });
    let funcs = prometheus_funcs(&PrometheusContext {
        query: ctx.query.clone(),
        timestamp_ms: ctx.timestamp_ms,
        external_url: ctx.external_url.to_string(),
    });
    let full = format!("{ALERT_TEMPLATE_PREFIX}{text}");
    expand(&format!("__alert_{}", ctx.rule_name), &full, &data, funcs)
}

/// Prometheus' `Expander.Expand`: text mode, `missingkey=zero`, errors wrapped with
/// the template name.
pub fn expand(
    name: &str,
    text: &str,
    data: &Value,
    funcs: FuncMap,
) -> Result<String, TemplateError> {
    let t = Template::parse(name, text, funcs)
        .map_err(|e| TemplateError::Parse(format!("error parsing template {name}: {e}")))?
        .with_missing_key(MissingKey::Zero);
    t.execute(name, data).map_err(|e| wrap_exec(name, e))
}

fn wrap_exec(name: &str, e: TemplateError) -> TemplateError {
    let msg = format!("error executing template {name}: {}", e.message());
    match e {
        TemplateError::Limit(_) => TemplateError::Limit(msg),
        _ => TemplateError::Exec(msg),
    }
}

/// Prometheus' `Expander.ExpandHTML` for console templates: HTML escaping, the `tmpl`
/// function, and library templates (`*.lib` files as `(name, text)`) joined to the set.
pub fn expand_html(
    name: &str,
    text: &str,
    data: &Value,
    mut funcs: FuncMap,
    libraries: &[(&str, &str)],
) -> Result<String, TemplateError> {
    funcs.insert("tmpl", Function::exec_template());
    let mut t = Template::parse(name, text, funcs)
        .map_err(|e| TemplateError::Parse(format!("error parsing template {name}: {e}")))?
        .with_missing_key(MissingKey::Zero)
        .with_escaping(Escaping::Html);
    for (lib_name, lib_text) in libraries {
        t.add_parse(lib_name, lib_text).map_err(|e| {
            TemplateError::Parse(format!("error parsing template files for {name}: {e}"))
        })?;
    }
    t.execute(name, data).map_err(|e| wrap_exec(name, e))
}

/// Re-exported for typed lists of samples built by callers.
pub fn samples_value(samples: Vec<Sample>) -> Value {
    Value::object(QueryResult(samples.into_iter().map(Arc::new).collect()))
}
