//! Alertmanager's template functions, notification data model and default templates.
//!
//! [`Data`], [`Alert`], [`Kv`] and [`Pairs`] expose the fields and methods
//! notification templates use (`.Alerts.Firing`, `.CommonLabels.Remove`,
//! `.Labels.SortedPairs.Values`, ...). [`NotificationTemplates`] is Alertmanager's
//! `template.Template`: the embedded `default.tmpl` and `email.tmpl` plus the user's
//! template files, executed as text or HTML with `missingkey=zero`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::TemplateError;
use crate::funcs::{FuncMap, Function};
use crate::gotime::{GoDuration, GoTime, load_location};
use crate::html::safe_url;
use crate::template::{Escaping, MissingKey, Template};
use crate::textfuncs::string_fn;
use crate::value::{ElemKind, Object, ParamType, Signature, Value};

/// Alertmanager's embedded `default.tmpl`.
pub const DEFAULT_TMPL: &str = include_str!("alertmanager/default.tmpl");
/// Alertmanager's embedded `email.tmpl`.
pub const EMAIL_TMPL: &str = include_str!("alertmanager/email.tmpl");

/// Alertmanager's `template.KV`: a label or annotation set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    pub map: BTreeMap<String, String>,
    /// A Go nil map (marshals as `null`).
    pub nil: bool,
}

impl Kv {
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Kv {
        Kv {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            nil: false,
        }
    }

    /// Sorted pairs with `alertname` first, as upstream orders them.
    pub fn sorted_pairs(&self) -> Pairs {
        let mut v: Vec<Pair> = Vec::with_capacity(self.map.len());
        if let Some(a) = self.map.get("alertname") {
            v.push(Pair {
                name: "alertname".into(),
                value: a.clone(),
            });
        }
        for (k, val) in &self.map {
            if k != "alertname" {
                v.push(Pair {
                    name: k.clone(),
                    value: val.clone(),
                });
            }
        }
        Pairs(v)
    }

    /// A copy without the given keys.
    pub fn remove(&self, keys: &[String]) -> Kv {
        Kv {
            map: self
                .map
                .iter()
                .filter(|(k, _)| !keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            nil: false,
        }
    }
}

/// One `Name`/`Value` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub value: String,
}

/// Alertmanager's `template.Pairs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs(pub Vec<Pair>);

impl Pairs {
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|p| p.name.clone()).collect()
    }

    pub fn values(&self) -> Vec<String> {
        self.0.iter().map(|p| p.value.clone()).collect()
    }
}

impl std::fmt::Display for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", p.name, p.value)?;
        }
        Ok(())
    }
}

fn string_list_arg(v: Option<&Value>) -> Vec<String> {
    match v.map(Value::resolved) {
        Some(Value::List(l)) => l
            .items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

impl Object for Kv {
    fn type_name(&self) -> &str {
        "template.KV"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "SortedPairs" | "Names" | "Values" | "String" => Some(Signature::default()),
            "Remove" => Some(Signature::new(vec![ParamType::StringList])),
            _ => None,
        }
    }

    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        Ok(match name {
            "SortedPairs" => Value::object(self.sorted_pairs()),
            "Names" => Value::string_list(self.sorted_pairs().names()),
            "Values" => Value::string_list(self.sorted_pairs().values()),
            "String" => Value::from(self.sorted_pairs().to_string()),
            "Remove" => Value::object(self.remove(&string_list_arg(args.first()))),
            _ => return Err(format!("no method {name}")),
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::typed_map(
            self.map
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
            ElemKind::String,
        ))
    }

    fn write_go(&self, out: &mut String) {
        out.push_str(&self.sorted_pairs().to_string());
    }

    fn write_json(&self, out: &mut String) -> bool {
        if self.nil {
            out.push_str("null");
            return true;
        }
        out.push('{');
        for (i, (k, v)) in self.map.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::json::write_json_string(out, k);
            out.push(':');
            crate::json::write_json_string(out, v);
        }
        out.push('}');
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Object for Pair {
    fn type_name(&self) -> &str {
        "template.Pair"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Name" => Some(Value::from(self.name.as_str())),
            "Value" => Some(Value::from(self.value.as_str())),
            _ => None,
        }
    }

    fn write_go(&self, out: &mut String) {
        out.push('{');
        out.push_str(&self.name);
        out.push(' ');
        out.push_str(&self.value);
        out.push('}');
    }

    fn write_json(&self, out: &mut String) -> bool {
        out.push_str("{\"Name\":");
        crate::json::write_json_string(out, &self.name);
        out.push_str(",\"Value\":");
        crate::json::write_json_string(out, &self.value);
        out.push('}');
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Object for Pairs {
    fn type_name(&self) -> &str {
        "template.Pairs"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "Names" | "Values" | "String" => Some(Signature::default()),
            _ => None,
        }
    }

    fn call_method(&self, name: &str, _args: Vec<Value>) -> Result<Value, String> {
        Ok(match name {
            "Names" => Value::string_list(self.names()),
            "Values" => Value::string_list(self.values()),
            "String" => Value::from(self.to_string()),
            _ => return Err(format!("no method {name}")),
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::list(
            self.0.iter().map(|p| Value::object(p.clone())).collect(),
        ))
    }

    fn write_go(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// One alert of a notification (Alertmanager's `template.Alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub status: String,
    pub labels: Kv,
    pub annotations: Kv,
    pub starts_at: GoTime,
    pub ends_at: GoTime,
    pub generator_url: String,
    pub fingerprint: String,
}

impl Default for Alert {
    fn default() -> Alert {
        Alert {
            status: String::new(),
            labels: Kv {
                nil: true,
                ..Kv::default()
            },
            annotations: Kv {
                nil: true,
                ..Kv::default()
            },
            starts_at: GoTime::zero(),
            ends_at: GoTime::zero(),
            generator_url: String::new(),
            fingerprint: String::new(),
        }
    }
}

impl Object for Alert {
    fn type_name(&self) -> &str {
        "template.Alert"
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Status" => Value::from(self.status.as_str()),
            "Labels" => Value::object(self.labels.clone()),
            "Annotations" => Value::object(self.annotations.clone()),
            "StartsAt" => Value::object(self.starts_at),
            "EndsAt" => Value::object(self.ends_at),
            "GeneratorURL" => Value::from(self.generator_url.as_str()),
            "Fingerprint" => Value::from(self.fingerprint.as_str()),
            _ => return None,
        })
    }

    fn write_go(&self, out: &mut String) {
        out.push('{');
        out.push_str(&self.status);
        out.push(' ');
        self.labels.write_go(out);
        out.push(' ');
        self.annotations.write_go(out);
        out.push(' ');
        out.push_str(&self.starts_at.to_string());
        out.push(' ');
        out.push_str(&self.ends_at.to_string());
        out.push(' ');
        out.push_str(&self.generator_url);
        out.push(' ');
        out.push_str(&self.fingerprint);
        out.push('}');
    }

    fn write_json(&self, out: &mut String) -> bool {
        use crate::json::write_json_string as s;
        out.push_str("{\"status\":");
        s(out, &self.status);
        out.push_str(",\"labels\":");
        self.labels.write_json(out);
        out.push_str(",\"annotations\":");
        self.annotations.write_json(out);
        out.push_str(",\"startsAt\":");
        s(out, &self.starts_at.to_rfc3339_nano());
        out.push_str(",\"endsAt\":");
        s(out, &self.ends_at.to_rfc3339_nano());
        out.push_str(",\"generatorURL\":");
        s(out, &self.generator_url);
        out.push_str(",\"fingerprint\":");
        s(out, &self.fingerprint);
        out.push('}');
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Alertmanager's `template.Alerts`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerts(pub Vec<Alert>);

fn alerts_list(alerts: impl Iterator<Item = Alert>) -> Value {
    Value::list(alerts.map(Value::object).collect())
}

impl Alerts {
    pub fn firing(&self) -> Vec<Alert> {
        self.0
            .iter()
            .filter(|a| a.status == "firing")
            .cloned()
            .collect()
    }

    pub fn resolved(&self) -> Vec<Alert> {
        self.0
            .iter()
            .filter(|a| a.status == "resolved")
            .cloned()
            .collect()
    }
}

impl Object for Alerts {
    fn type_name(&self) -> &str {
        "template.Alerts"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "Firing" | "Resolved" => Some(Signature::default()),
            _ => None,
        }
    }

    fn call_method(&self, name: &str, _args: Vec<Value>) -> Result<Value, String> {
        Ok(match name {
            "Firing" => alerts_list(self.firing().into_iter()),
            "Resolved" => alerts_list(self.resolved().into_iter()),
            _ => return Err(format!("no method {name}")),
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(alerts_list(self.0.iter().cloned()))
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

/// The data of one notification (Alertmanager's `template.Data`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Data {
    pub receiver: String,
    pub status: String,
    pub alerts: Alerts,
    pub notification_reason: String,
    pub group_labels: Kv,
    pub common_labels: Kv,
    pub common_annotations: Kv,
    pub external_url: String,
}

impl Data {
    /// Builds notification data as Alertmanager's `Template.Data` does: the receiver
    /// name regexp-quoted, group status, common labels and annotations.
    pub fn new(
        receiver: &str,
        group_labels: Kv,
        alerts: Vec<Alert>,
        external_url: &str,
        notification_reason: &str,
    ) -> Data {
        let status = if alerts.iter().any(|a| a.status == "firing") {
            "firing"
        } else {
            "resolved"
        };
        let mut common_labels = Kv::default();
        let mut common_annotations = Kv::default();
        if let Some((first, rest)) = alerts.split_first() {
            common_labels.map = first.labels.map.clone();
            common_annotations.map = first.annotations.map.clone();
            for a in rest {
                common_labels
                    .map
                    .retain(|k, v| a.labels.map.get(k) == Some(v));
                common_annotations
                    .map
                    .retain(|k, v| a.annotations.map.get(k) == Some(v));
            }
        }
        Data {
            receiver: regex_quote_meta(receiver),
            status: status.into(),
            alerts: Alerts(alerts),
            notification_reason: notification_reason.into(),
            group_labels,
            common_labels,
            common_annotations,
            external_url: external_url.into(),
        }
    }
}

/// Go's `regexp.QuoteMeta`.
pub fn regex_quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Object for Data {
    fn type_name(&self) -> &str {
        "template.Data"
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Receiver" => Value::from(self.receiver.as_str()),
            "Status" => Value::from(self.status.as_str()),
            "Alerts" => Value::object(self.alerts.clone()),
            "NotificationReason" => Value::from(self.notification_reason.as_str()),
            "GroupLabels" => Value::object(self.group_labels.clone()),
            "CommonLabels" => Value::object(self.common_labels.clone()),
            "CommonAnnotations" => Value::object(self.common_annotations.clone()),
            "ExternalURL" => Value::from(self.external_url.as_str()),
            _ => return None,
        })
    }

    fn write_go(&self, out: &mut String) {
        out.push('{');
        for (i, f) in [
            "Receiver",
            "Status",
            "Alerts",
            "NotificationReason",
            "GroupLabels",
            "CommonLabels",
            "CommonAnnotations",
            "ExternalURL",
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                out.push(' ');
            }
            if let Some(v) = self.field(f) {
                v.write_go(out);
            }
        }
        out.push('}');
    }

    fn write_json(&self, out: &mut String) -> bool {
        use crate::json::write_json_string as s;
        out.push_str("{\"receiver\":");
        s(out, &self.receiver);
        out.push_str(",\"status\":");
        s(out, &self.status);
        out.push_str(",\"alerts\":[");
        for (i, a) in self.alerts.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            a.write_json(out);
        }
        out.push_str("],\"notification_reason\":");
        s(out, &self.notification_reason);
        out.push_str(",\"groupLabels\":");
        self.group_labels.write_json(out);
        out.push_str(",\"commonLabels\":");
        self.common_labels.write_json(out);
        out.push_str(",\"commonAnnotations\":");
        self.common_annotations.write_json(out);
        out.push_str(",\"externalURL\":");
        s(out, &self.external_url);
        out.push('}');
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Alertmanager's `DefaultFuncs`.
pub fn alertmanager_funcs() -> FuncMap {
    use ParamType::{Any, String as Str, StringList};
    let time_t = ParamType::Object("time.Time");
    let mut m = FuncMap::new();
    m.insert("toUpper", string_fn(crate::textfuncs::to_upper));
    m.insert("toLower", string_fn(crate::textfuncs::to_lower));
    m.insert("title", string_fn(crate::textfuncs::cases_title));
    m.insert("trimSpace", string_fn(|s| s.trim().to_string()));
    m.insert(
        "join",
        Function::new(Signature::new(vec![Str, StringList]), |a| {
            let sep = a.first().and_then(Value::as_str).unwrap_or("");
            Ok(Value::from(string_list_arg(a.get(1)).join(sep)))
        }),
    );
    m.insert("match", crate::textfuncs::match_fn());
    m.insert("safeHtml", crate::textfuncs::safe_html_fn());
    m.insert(
        "safeUrl",
        Function::new(Signature::new(vec![Str]), |a| {
            Ok(safe_url(
                a.first().and_then(Value::as_str).unwrap_or("").to_string(),
            ))
        }),
    );
    m.insert(
        "urlUnescape",
        Function::new(Signature::new(vec![Str]), |a| {
            crate::gofmt::query_unescape(a.first().and_then(Value::as_str).unwrap_or(""))
                .map(Value::from)
        }),
    );
    m.insert("reReplaceAll", crate::textfuncs::re_replace_all_fn());
    m.insert(
        "stringSlice",
        Function::new(Signature::variadic(vec![], Str), |a| {
            Ok(Value::string_list(a.iter().filter_map(Value::as_str)))
        }),
    );
    m.insert(
        "date",
        Function::new(Signature::new(vec![Str, time_t.clone()]), |a| {
            let layout = a.first().and_then(Value::as_str).unwrap_or("");
            let t = a
                .get(1)
                .and_then(|v| v.downcast::<GoTime>())
                .copied()
                .unwrap_or_else(GoTime::zero);
            Ok(Value::from(t.format(layout)))
        }),
    );
    m.insert(
        "tz",
        Function::new(Signature::new(vec![Str, time_t.clone()]), |a| {
            let loc = load_location(a.first().and_then(Value::as_str).unwrap_or(""))?;
            let t = a
                .get(1)
                .and_then(|v| v.downcast::<GoTime>())
                .copied()
                .unwrap_or_else(GoTime::zero);
            Ok(Value::object(GoTime {
                unix_nanos: t.unix_nanos,
                loc,
            }))
        }),
    );
    m.insert(
        "since",
        Function::new(Signature::new(vec![time_t]), |a| {
            let t = a
                .first()
                .and_then(|v| v.downcast::<GoTime>())
                .copied()
                .unwrap_or_else(GoTime::zero);
            let d = (GoTime::now().unix_nanos - t.unix_nanos)
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            Ok(Value::object(GoDuration(d as i64)))
        }),
    );
    m.insert("humanizeDuration", crate::textfuncs::humanize_duration_fn());
    m.insert(
        "toJson",
        Function::new(Signature::new(vec![Any]), |a| {
            crate::json::to_json(a.first().unwrap_or(&Value::Nil)).map(Value::from)
        }),
    );
    m
}

/// Alertmanager's notification templates: defaults plus user files, as text and HTML.
#[derive(Clone)]
pub struct NotificationTemplates {
    text: Arc<Template>,
    html: Arc<Template>,
}

impl NotificationTemplates {
    /// The default templates plus the given user template files (`(file name, text)`),
    /// with `extra` functions (Alertmanager's defaults win over same-named ones).
    pub fn new(
        files: &[(&str, &str)],
        extra: &FuncMap,
    ) -> Result<NotificationTemplates, TemplateError> {
        let mut funcs = extra.clone();
        funcs.extend(&alertmanager_funcs());
        let build = |escaping| -> Result<Template, TemplateError> {
            let mut t = Template::new("", funcs.clone())
                .with_missing_key(MissingKey::Zero)
                .with_escaping(escaping);
            t.add_parse("", DEFAULT_TMPL)?;
            t.add_parse("", EMAIL_TMPL)?;
            for (name, text) in files {
                t.add_parse(name, text)?;
            }
            Ok(t)
        };
        Ok(NotificationTemplates {
            text: Arc::new(build(Escaping::Text)?),
            html: Arc::new(build(Escaping::Html)?),
        })
    }

    /// Expands a notifier field such as `{{ template "slack.default.title" . }}`.
    pub fn execute_text_string(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        Self::execute(&self.text, text, data)
    }

    /// As [`Self::execute_text_string`], with HTML escaping (email bodies).
    pub fn execute_html_string(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        Self::execute(&self.html, text, data)
    }

    fn execute(set: &Template, text: &str, data: &Value) -> Result<String, TemplateError> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut t = set.clone();
        t.add_parse("", text)?;
        t.execute("", data)
    }

    /// The text template set, for callers that execute named templates directly.
    pub fn text_templates(&self) -> &Template {
        &self.text
    }
}
