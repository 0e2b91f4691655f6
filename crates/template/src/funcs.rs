//! Function values and Go's builtin functions (`and`, `or`, `not`, `len`, `index`,
//! `slice`, `print`, `printf`, `println`, `html`, `js`, `urlquery`, `call` and the
//! comparisons `eq ne lt le gt ge`), with Go's argument and comparison rules.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::gofmt;
use crate::value::{ParamType, Signature, Value};

/// A native function body: checked arguments in, a value or an error message out.
pub type NativeFn = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

/// A function callable from templates.
pub struct Function {
    pub sig: Signature,
    pub(crate) kind: FuncKind,
}

pub(crate) enum FuncKind {
    Native(Box<NativeFn>),
    /// Short-circuiting builtins, evaluated by the executor.
    And,
    Or,
    Call,
    /// Executes a named template and returns its output as safe HTML (Prometheus' `tmpl`).
    ExecTemplate,
}

impl Function {
    pub fn new(
        sig: Signature,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Function {
        Function {
            sig,
            kind: FuncKind::Native(Box::new(f)),
        }
    }

    /// A function that runs another template by a computed name (Prometheus' `tmpl`).
    pub fn exec_template() -> Function {
        Function {
            sig: Signature::new(vec![ParamType::String, ParamType::Any]),
            kind: FuncKind::ExecTemplate,
        }
    }

    pub(crate) fn call_native(&self, args: &[Value]) -> Result<Value, String> {
        match &self.kind {
            FuncKind::Native(f) => f(args),
            _ => Err("function cannot be called directly".into()),
        }
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Function({:?})", self.sig)
    }
}

/// Named functions a template may call, on top of the builtins.
#[derive(Clone, Default)]
pub struct FuncMap {
    map: HashMap<String, Arc<Function>>,
}

impl FuncMap {
    pub fn new() -> FuncMap {
        FuncMap::default()
    }

    pub fn insert(&mut self, name: &str, f: Function) -> &mut Self {
        self.map.insert(name.to_string(), Arc::new(f));
        self
    }

    /// Adds every function of `other`, replacing same-named ones.
    pub fn extend(&mut self, other: &FuncMap) -> &mut Self {
        for (k, v) in &other.map {
            self.map.insert(k.clone(), v.clone());
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Function>> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// Go's builtin functions.
pub fn builtins() -> &'static FuncMap {
    static BUILTINS: OnceLock<FuncMap> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        use ParamType::{Any, Reflect, String as Str};
        let mut m = FuncMap::new();
        let special = |kind, fixed: usize| Function {
            sig: Signature::variadic(vec![Reflect; fixed], Reflect),
            kind,
        };
        m.map
            .insert("and".into(), Arc::new(special(FuncKind::And, 1)));
        m.map
            .insert("or".into(), Arc::new(special(FuncKind::Or, 1)));
        m.map
            .insert("call".into(), Arc::new(special(FuncKind::Call, 1)));
        m.insert(
            "html",
            Function::new(Signature::variadic(vec![], Any), |a| {
                Ok(gofmt::html_escape(&gofmt::eval_args(a)).into())
            }),
        );
        m.insert(
            "js",
            Function::new(Signature::variadic(vec![], Any), |a| {
                Ok(gofmt::js_escape(&gofmt::eval_args(a)).into())
            }),
        );
        m.insert(
            "urlquery",
            Function::new(Signature::variadic(vec![], Any), |a| {
                Ok(gofmt::query_escape(&gofmt::eval_args(a)).into())
            }),
        );
        m.insert(
            "print",
            Function::new(Signature::variadic(vec![], Any), |a| {
                Ok(gofmt::sprint(a).into())
            }),
        );
        m.insert(
            "println",
            Function::new(Signature::variadic(vec![], Any), |a| {
                Ok(gofmt::sprintln(a).into())
            }),
        );
        m.insert(
            "printf",
            Function::new(Signature::variadic(vec![Str], Any), |a| {
                let (f, rest) = a.split_first().ok_or("missing format")?;
                Ok(gofmt::sprintf(f.as_str().unwrap_or(""), rest).into())
            }),
        );
        m.insert(
            "len",
            Function::new(Signature::new(vec![Reflect]), |a| {
                length(a.first().unwrap_or(&Value::Nil)).map(Value::Int)
            }),
        );
        m.insert(
            "not",
            Function::new(Signature::new(vec![Reflect]), |a| {
                Ok(Value::Bool(!a.first().is_some_and(Value::is_true)))
            }),
        );
        m.insert(
            "index",
            Function::new(Signature::variadic(vec![Reflect], Reflect), |a| {
                let (item, idx) = a.split_first().ok_or("missing item")?;
                index(item, idx)
            }),
        );
        m.insert(
            "slice",
            Function::new(Signature::variadic(vec![Reflect], Reflect), |a| {
                let (item, idx) = a.split_first().ok_or("missing item")?;
                slice(item, idx)
            }),
        );
        m.insert(
            "eq",
            Function::new(Signature::variadic(vec![Reflect], Reflect), |a| {
                let (first, rest) = a.split_first().ok_or(NO_COMPARISON)?;
                eq(first, rest).map(Value::Bool)
            }),
        );
        let binary = |f: fn(&Value, &Value) -> Result<bool, String>| {
            Function::new(Signature::new(vec![Reflect, Reflect]), move |a| match a {
                [x, y] => f(x, y).map(Value::Bool),
                _ => Err(NO_COMPARISON.into()),
            })
        };
        m.insert(
            "ne",
            binary(|x, y| eq(x, std::slice::from_ref(y)).map(|b| !b)),
        );
        m.insert("lt", binary(lt));
        m.insert("le", binary(le));
        m.insert("gt", binary(|x, y| le(x, y).map(|b| !b)));
        m.insert("ge", binary(|x, y| lt(x, y).map(|b| !b)));
        m
    })
}

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const BAD_COMPARISON: &str = "incompatible types for comparison";
const NO_COMPARISON: &str = "missing argument for comparison";

fn length(v: &Value) -> Result<i64, String> {
    let n = match v.resolved() {
        Value::Nil => return Err("len of nil pointer".into()),
        Value::String(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries.len(),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x: i128 = match index {
        Value::Int(i) => i128::from(*i),
        Value::Uint(u) => i128::from(*u),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = item.resolved();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for idx in indexes {
        item = match item.resolved() {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Uint(u64::from(*b)),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::List(l) => {
                let x = index_arg(idx, l.items.len())?;
                match l.items.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Map(m) => {
                let key = match idx {
                    Value::String(k) => k,
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    other => {
                        return Err(format!(
                            "value has type {}; should be string",
                            other.type_name()
                        ));
                    }
                };
                m.entries
                    .get(key.as_ref())
                    .cloned()
                    .unwrap_or_else(|| m.elem.zero())
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let item = item.resolved();
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::from(sub),
            // Go slices bytes; a cut inside a character keeps the bytes it can.
            None => {
                Value::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
            }
        },
        Value::List(l) => Value::typed_list(l.items[idx[0]..idx[1]].to_vec(), l.elem),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Object(o) => match o.underlying() {
            Some(Value::String(_)) => Kind::String,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

fn string_of(v: &Value) -> String {
    match v.resolved() {
        Value::String(s) => s.to_string(),
        _ => String::new(),
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn uint_of(v: &Value) -> u64 {
    match v {
        Value::Uint(u) => *u,
        _ => 0,
    }
}

fn float_of(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

/// Go's `eq`: true if the first argument equals any of the others.
pub fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err(NO_COMPARISON.into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) => int_of(a) >= 0 && int_of(a) as u64 == uint_of(b),
                (Kind::Uint, Kind::Int) => int_of(b) >= 0 && uint_of(a) == int_of(b) as u64,
                _ => {
                    if k1 != Kind::Invalid && k2 != Kind::Invalid {
                        return Err(BAD_COMPARISON.into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => a.is_true() == b.is_true(),
                Kind::Float => float_of(a) == float_of(b),
                Kind::Int => int_of(a) == int_of(b),
                Kind::Uint => uint_of(a) == uint_of(b),
                Kind::String => string_of(a) == string_of(b),
                Kind::Invalid => true,
                Kind::Other => match (a, b) {
                    (Value::Object(x), Value::Object(y)) => {
                        if x.type_name() != y.type_name() {
                            return Err(BAD_COMPARISON.into());
                        }
                        if x.underlying().is_some() {
                            return Err(format!(
                                "non-comparable type {}: {}",
                                b.to_go_string(),
                                b.type_name()
                            ));
                        }
                        Arc::ptr_eq(x, y)
                            || x.as_any().type_id() == y.as_any().type_id() && {
                                let (mut sx, mut sy) = (String::new(), String::new());
                                x.write_go(&mut sx);
                                y.write_go(&mut sy);
                                sx == sy
                            }
                    }
                    _ => {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            b.to_go_string(),
                            b.type_name()
                        ));
                    }
                },
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    if matches!(k1, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    let k2 = basic_kind(b);
    if matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) => Ok(int_of(a) < 0 || (int_of(a) as u64) < uint_of(b)),
            (Kind::Uint, Kind::Int) => Ok(int_of(b) >= 0 && uint_of(a) < int_of(b) as u64),
            _ => Err(BAD_COMPARISON.into()),
        };
    }
    Ok(match k1 {
        Kind::Bool => return Err(BAD_COMPARISON_TYPE.into()),
        Kind::Float => float_of(a) < float_of(b),
        Kind::Int => int_of(a) < int_of(b),
        Kind::Uint => uint_of(a) < uint_of(b),
        Kind::String => string_of(a) < string_of(b),
        Kind::Invalid | Kind::Other => return Err(BAD_COMPARISON_TYPE.into()),
    })
}

/// Go's `le`.
pub fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}
