//! Test data shaped like the `T` value of Go's text/template exec tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use hearth_template::{ElemKind, FuncMap, Function, Object, ParamType, Signature, Template, Value};

pub fn ints(v: &[i64]) -> Value {
    Value::typed_list(v.iter().map(|i| Value::Int(*i)).collect(), ElemKind::Int)
}

pub fn int_map(v: &[(&str, i64)]) -> Value {
    Value::typed_map(
        v.iter()
            .map(|(k, i)| (k.to_string(), Value::Int(*i)))
            .collect(),
        ElemKind::Int,
    )
}

/// A struct type with named fields and a print form.
pub struct Struct {
    pub name: &'static str,
    pub fields: Vec<(&'static str, Value)>,
    /// `String()`/`Error()` output, if the type has one.
    pub stringer: Option<String>,
}

impl Object for Struct {
    fn type_name(&self) -> &str {
        self.name
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
    fn method(&self, name: &str) -> Option<Signature> {
        match (self.name, name) {
            ("*template.U", "TrueFalse") => Some(Signature::new(vec![ParamType::Bool])),
            ("*template.V", "String") => Some(Signature::default()),
            _ => None,
        }
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        match name {
            "TrueFalse" => Ok(Value::from(if args[0].is_true() { "true" } else { "" })),
            "String" => Ok(Value::from(self.stringer.clone().unwrap_or_default())),
            _ => Err("no method".into()),
        }
    }
    fn write_go(&self, out: &mut String) {
        if let Some(s) = &self.stringer {
            out.push_str(s);
            return;
        }
        out.push('{');
        for (i, (_, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            v.write_go(out);
        }
        out.push('}');
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub fn u(v: &str) -> Value {
    Value::object(Struct {
        name: "*template.U",
        fields: vec![("V", Value::from(v))],
        stringer: None,
    })
}

fn stringer(name: &'static str, s: &str) -> Value {
    Value::object(Struct {
        name,
        fields: vec![],
        stringer: Some(s.to_string()),
    })
}

/// Go's `T` with its methods.
pub struct T {
    pub fields: BTreeMap<&'static str, Value>,
}

impl Object for T {
    fn type_name(&self) -> &str {
        "*template.T"
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).cloned()
    }
    fn method(&self, name: &str) -> Option<Signature> {
        use ParamType::*;
        Some(match name {
            "Method0" | "GetU" | "Copy" => Signature::default(),
            "Method1" => Signature::new(vec![Int]),
            "Method2" => Signature::new(vec![Any, String]),
            "Method3" => Signature::new(vec![Any]),
            "MAdd" => Signature::new(vec![Int, Any]),
            "MyError" => Signature::new(vec![Bool]),
            _ => return None,
        })
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        Ok(match name {
            "Method0" => Value::from("M0"),
            "Method1" => args[0].clone(),
            "Method2" => Value::from(format!(
                "Method2: {} {}",
                args[0].to_go_string(),
                args[1].to_go_string()
            )),
            "Method3" => Value::from(format!("Method3: {}", args[0].to_go_string())),
            "GetU" => self.fields["U"].clone(),
            "Copy" => Value::object(T {
                fields: self.fields.clone(),
            }),
            "MAdd" => {
                let a = match args[0] {
                    Value::Int(i) => i,
                    _ => 0,
                };
                let Value::List(l) = &args[1] else {
                    return Err("not a list".into());
                };
                Value::typed_list(
                    l.items
                        .iter()
                        .map(|v| match v {
                            Value::Int(i) => Value::Int(i + a),
                            o => o.clone(),
                        })
                        .collect(),
                    ElemKind::Int,
                )
            }
            "MyError" => {
                if args[0].is_true() {
                    return Err("my error".into());
                }
                Value::Bool(false)
            }
            _ => return Err("no method".into()),
        })
    }
    fn write_go(&self, out: &mut String) {
        out.push_str("&{...}");
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn func(
    sig: Signature,
    f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
) -> Value {
    Value::Func(Arc::new(Function::new(sig, f)))
}

/// The `tVal` of Go's exec tests, as far as the value model reaches.
pub fn tval() -> Value {
    use ParamType::*;
    let mut f: BTreeMap<&'static str, Value> = BTreeMap::new();
    f.insert("True", Value::Bool(true));
    f.insert("I", Value::Int(17));
    f.insert("U16", Value::Uint(16));
    f.insert("X", Value::from("x"));
    f.insert("S", Value::from("xyz"));
    f.insert("FloatZero", Value::Float(0.0));
    f.insert("U", u("v"));
    f.insert("V0", stringer("*template.V", "<6666>"));
    f.insert("V1", stringer("*template.V", "<7777>"));
    f.insert("V2", stringer("*template.V", "nilV"));
    f.insert("W0", stringer("*template.W", "[888]"));
    f.insert("W1", stringer("*template.W", "[999]"));
    f.insert("W2", stringer("*template.W", "nilW"));
    f.insert("SI", ints(&[3, 4, 5]));
    f.insert("SICap", ints(&[0, 0, 0, 0, 0]));
    f.insert("SIEmpty", ints(&[]));
    f.insert(
        "SB",
        Value::typed_list(vec![Value::Bool(true), Value::Bool(false)], ElemKind::Bool),
    );
    f.insert("AI", ints(&[3, 4, 5]));
    f.insert("MSI", int_map(&[("one", 1), ("two", 2), ("three", 3)]));
    f.insert("MSIone", int_map(&[("one", 1)]));
    f.insert("MSIEmpty", int_map(&[]));
    f.insert("MXI", int_map(&[("one", 1)]));
    f.insert(
        "SMSI",
        Value::list(vec![
            int_map(&[("one", 1), ("two", 2)]),
            int_map(&[("eleven", 11), ("twelve", 12)]),
        ]),
    );
    f.insert("Empty0", Value::Nil);
    f.insert("Empty1", Value::Int(3));
    f.insert("Empty2", Value::from("empty2"));
    f.insert("Empty3", ints(&[7, 8]));
    f.insert("Empty4", u("UinEmpty"));
    f.insert("Str", stringer("*bytes.Buffer", "foozle"));
    f.insert("Err", stringer("*errors.errorString", "erroozle"));
    f.insert("PI", Value::Int(23));
    f.insert("PS", Value::from("a string"));
    f.insert("PSI", ints(&[21, 22, 23]));
    f.insert(
        "BinaryFunc",
        func(Signature::new(vec![String, String]), |a| {
            Ok(Value::from(format!(
                "[{}={}]",
                a[0].to_go_string(),
                a[1].to_go_string()
            )))
        }),
    );
    f.insert(
        "VariadicFunc",
        func(Signature::variadic(vec![], String), |a| {
            let s: Vec<std::string::String> = a.iter().map(Value::to_go_string).collect();
            Ok(Value::from(format!("<{}>", s.join("+"))))
        }),
    );
    f.insert(
        "VariadicFuncInt",
        func(Signature::variadic(vec![Int], String), |a| {
            let s: Vec<std::string::String> = a[1..].iter().map(Value::to_go_string).collect();
            Ok(Value::from(format!(
                "{}=<{}>",
                a[0].to_go_string(),
                s.join("+")
            )))
        }),
    );
    f.insert(
        "NilOKFunc",
        func(Signature::new(vec![Any]), |a| {
            Ok(Value::Bool(a[0].is_nil()))
        }),
    );
    f.insert(
        "ErrFunc",
        func(Signature::default(), |_| Ok(Value::from("bla"))),
    );
    f.insert(
        "PanicFunc",
        func(Signature::default(), |_| Err("test panic".into())),
    );
    let nonempty = T {
        fields: [("X", Value::from("x"))].into_iter().collect(),
    };
    f.insert("NonEmptyInterface", Value::object(nonempty));
    Value::object(T { fields: f })
}

/// The extra functions Go's exec tests register.
pub fn test_funcs() -> FuncMap {
    use ParamType::*;
    let mut m = FuncMap::new();
    m.insert(
        "add",
        Function::new(Signature::variadic(vec![], Int), |a| {
            Ok(Value::Int(
                a.iter()
                    .map(|v| if let Value::Int(i) = v { *i } else { 0 })
                    .sum(),
            ))
        }),
    );
    m.insert(
        "dddArg",
        Function::new(Signature::variadic(vec![Int], String), |a| {
            Ok(Value::from(format!(
                "{} {:?}\n",
                a[0].to_go_string(),
                a.len()
            )))
        }),
    );
    m.insert(
        "die",
        Function::new(Signature::default(), |_| Err("die".into())),
    );
    m.insert(
        "echo",
        Function::new(Signature::new(vec![Any]), |a| Ok(a[0].clone())),
    );
    m.insert(
        "makemap",
        Function::new(Signature::variadic(vec![], String), |a| {
            if a.len() % 2 != 0 {
                return Err("bad makemap".into());
            }
            Ok(Value::string_map(
                a.chunks(2)
                    .map(|c| (c[0].to_go_string(), c[1].to_go_string())),
            ))
        }),
    );
    m.insert(
        "mapOfThree",
        Function::new(Signature::default(), |_| Ok(int_map(&[("three", 3)]))),
    );
    m.insert(
        "oneArg",
        Function::new(Signature::new(vec![String]), |a| {
            Ok(Value::from(format!("oneArg={}", a[0].to_go_string())))
        }),
    );
    m.insert(
        "twoArgs",
        Function::new(Signature::new(vec![String, String]), |a| {
            Ok(Value::from(format!(
                "twoArgs={}{}",
                a[0].to_go_string(),
                a[1].to_go_string()
            )))
        }),
    );
    m.insert(
        "returnInt",
        Function::new(Signature::default(), |_| Ok(Value::Int(7))),
    );
    m.insert(
        "typeOf",
        Function::new(Signature::new(vec![Any]), |a| {
            Ok(Value::from(a[0].type_name()))
        }),
    );
    m.insert(
        "valueString",
        Function::new(Signature::new(vec![String]), |_| {
            Ok(Value::from("value is ignored"))
        }),
    );
    m.insert(
        "zeroArgs",
        Function::new(Signature::default(), |_| Ok(Value::from("zeroArgs"))),
    );
    m.insert(
        "stringer",
        Function::new(Signature::new(vec![Any]), |a| {
            Ok(Value::from(a[0].to_go_string()))
        }),
    );
    m
}

/// Parses and executes `input` as Go's exec tests do.
pub fn run(name: &str, input: &str, data: &Value) -> Result<String, String> {
    let t = Template::parse(name, input, test_funcs()).map_err(|e| format!("parse: {e}"))?;
    t.execute(name, data).map_err(|e| e.to_string())
}
