//! `/api/v1/parse_query`: the syntax tree as upstream's `translateAST` writes it for the
//! UI's tree view — one object per node with a `type`, keys in Go's map order
//! (sorted), durations in milliseconds, numbers as Go `'f'` strings.
//!
//! Durations written as expressions (`[5m+step()]`) have no value before a query runs;
//! they are reported as 0, as upstream reports its unevaluated `OriginalOffset`.

use std::collections::BTreeMap;

use hearth_promql::{AtModifier, DurationValue, Expr, VectorSelector};
use serde_json::{Value, json};

type Obj = BTreeMap<&'static str, Value>;

fn ms(d: &DurationValue) -> i64 {
    match d {
        DurationValue::Fixed(ms) => *ms,
        DurationValue::Expr(_) => 0,
    }
}

fn opt_ms(d: &Option<DurationValue>) -> i64 {
    d.as_ref().map_or(0, ms)
}

fn at(a: &Option<AtModifier>) -> (Value, Value) {
    match a {
        Some(AtModifier::Timestamp(t)) => (json!(t), Value::Null),
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
        None => (Value::Null, Value::Null),
    }
}

fn matchers(vs: &VectorSelector) -> Value {
    Value::Array(
        vs.matchers
            .iter()
            .map(|m| json!({"name": m.name, "type": m.op.as_str(), "value": m.value}))
            .collect(),
    )
}

fn selector_fields(o: &mut Obj, vs: &VectorSelector) {
    let (ts, start_or_end) = at(&vs.at);
    o.insert("name", json!(vs.name.clone().unwrap_or_default()));
    o.insert("offset", json!(opt_ms(&vs.offset)));
    o.insert("matchers", matchers(vs));
    o.insert("timestamp", ts);
    o.insert("startOrEnd", start_or_end);
    o.insert("anchored", json!(vs.anchored));
    o.insert("smoothed", json!(vs.smoothed));
}

fn go_f(v: f64) -> Value {
    Value::String(hearth_model::float::format_go_f(v))
}

/// The tree of `e` as a JSON value.
pub fn tree(e: &Expr) -> Value {
    let mut o = Obj::new();
    match e {
        Expr::Aggregate(a) => {
            o.insert("type", json!("aggregation"));
            o.insert("op", json!(a.op.as_str()));
            o.insert("expr", tree(&a.expr));
            o.insert("param", a.param.as_ref().map_or(Value::Null, tree));
            o.insert("grouping", json!(a.grouping));
            o.insert("without", json!(a.without));
        }
        Expr::Binary(b) => {
            let matching = match &b.matching {
                Some(m) => {
                    let fill = |v: Option<f64>| v.map_or(Value::Null, |f| json!(f));
                    json!({
                        "card": m.card.as_str(),
                        "labels": m.matching_labels,
                        "on": m.on,
                        "include": m.include,
                        "fillValues": {"lhs": fill(m.fill.lhs()), "rhs": fill(m.fill.rhs())},
                    })
                }
                None => Value::Null,
            };
            o.insert("type", json!("binaryExpr"));
            o.insert("op", json!(b.op.as_str()));
            o.insert("lhs", tree(&b.lhs));
            o.insert("rhs", tree(&b.rhs));
            o.insert("matching", matching);
            o.insert("bool", json!(b.return_bool));
        }
        Expr::Call(c) => {
            let arg_types: Vec<&str> = c.func.arg_types.iter().map(|t| t.as_str()).collect();
            o.insert("type", json!("call"));
            o.insert(
                "func",
                json!({
                    "name": c.func.name,
                    "argTypes": arg_types,
                    "variadic": c.func.variadic,
                    "returnType": c.func.return_type.as_str(),
                }),
            );
            o.insert("args", Value::Array(c.args.iter().map(tree).collect()));
        }
        Expr::MatrixSelector(m) => {
            o.insert("type", json!("matrixSelector"));
            o.insert("range", json!(ms(&m.range)));
            selector_fields(&mut o, &m.vector_selector);
        }
        Expr::Subquery(s) => {
            let (ts, start_or_end) = at(&s.at);
            o.insert("type", json!("subquery"));
            o.insert("expr", tree(&s.expr));
            o.insert("range", json!(ms(&s.range)));
            o.insert("offset", json!(opt_ms(&s.offset)));
            o.insert("step", json!(opt_ms(&s.step)));
            o.insert("timestamp", ts);
            o.insert("startOrEnd", start_or_end);
            o.insert("alignEvalTime", json!(false));
        }
        Expr::NumberLiteral(n) => {
            o.insert("type", json!("numberLiteral"));
            o.insert("val", go_f(n.val));
        }
        Expr::Paren(p) => {
            o.insert("type", json!("parenExpr"));
            o.insert("expr", tree(&p.expr));
        }
        Expr::StringLiteral(s) => {
            o.insert("type", json!("stringLiteral"));
            o.insert("val", json!(s.to_string_lossy()));
        }
        Expr::Unary(u) => {
            o.insert("type", json!("unaryExpr"));
            o.insert("op", json!(u.op.as_str()));
            o.insert("expr", tree(&u.expr));
        }
        Expr::VectorSelector(vs) => {
            o.insert("type", json!("vectorSelector"));
            selector_fields(&mut o, vs);
        }
    }
    // A BTreeMap serializes with sorted keys, as Go's maps do.
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// The rendered `data` of `/api/v1/parse_query`.
pub fn translate(e: &Expr) -> String {
    crate::json::to_string(&SortedValue(&tree(e)))
}

/// Serializes a JSON value with object keys sorted whatever serde_json's map order is.
struct SortedValue<'a>(&'a Value);

impl serde::Serialize for SortedValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    map.serialize_entry(k, &SortedValue(&m[k]))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&SortedValue(v))?;
                }
                seq.end()
            }
            v => v.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> String {
        let e =
            hearth_promql::parse_expr(q, &hearth_promql::Features::all().parser_options()).unwrap();
        translate(&e)
    }

    #[test]
    fn selectors_and_calls() {
        assert_eq!(
            parse("rate(up{job=\"a\"}[5m] offset 1m)"),
            r#"{"args":[{"anchored":false,"matchers":[{"name":"job","type":"=","value":"a"},{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":60000,"range":300000,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"}"#
        );
        assert_eq!(
            parse("sum by (job) (x @ 10) * on(job) group_left(a) y"),
            r#"{"bool":false,"lhs":{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"smoothed":false,"startOrEnd":null,"timestamp":10000,"type":"vectorSelector"},"grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false},"matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":["a"],"labels":["job"],"on":true},"op":"*","rhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"y"}],"name":"y","offset":0,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"type":"binaryExpr"}"#
        );
        assert_eq!(
            parse("-(1.5)"),
            r#"{"expr":{"expr":{"type":"numberLiteral","val":"1.5"},"type":"parenExpr"},"op":"-","type":"unaryExpr"}"#
        );
    }
}
