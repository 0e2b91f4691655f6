//! The dynamic value model templates execute over.
//!
//! Go templates walk arbitrary Go values through reflection; here data is a [`Value`]:
//! the scalar kinds Go templates distinguish (bool, int, uint, float, string), lists and
//! string-keyed maps (iterated in sorted key order, as Go's `fmt` and `range` do), and
//! opaque [`Object`]s that Rust types implement to expose Go-style fields and methods
//! (`.Labels.SortedPairs`, `.Alerts.Firing`). Lists and maps carry the Go element type
//! they stand for, because Go's behaviour depends on it: a missing key of a
//! `map[string]string` is `""` under `missingkey=zero`, of a `map[string]any` it is nil.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A value a template can see.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's untyped nil (an unset `any`, a missing map key).
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(Arc<str>),
    List(Arc<List>),
    Map(Arc<Map>),
    Object(Arc<dyn Object>),
    /// A function value (for the `call` builtin).
    Func(Arc<crate::funcs::Function>),
}

/// The Go element type of a list or map; decides type names and zero values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemKind {
    Any,
    String,
    Int,
    Float,
    Bool,
}

impl ElemKind {
    pub fn go_name(self) -> &'static str {
        match self {
            ElemKind::Any => "interface {}",
            ElemKind::String => "string",
            ElemKind::Int => "int",
            ElemKind::Float => "float64",
            ElemKind::Bool => "bool",
        }
    }

    pub fn zero(self) -> Value {
        match self {
            ElemKind::Any => Value::Nil,
            ElemKind::String => Value::from(""),
            ElemKind::Int => Value::Int(0),
            ElemKind::Float => Value::Float(0.0),
            ElemKind::Bool => Value::Bool(false),
        }
    }
}

/// A Go slice.
#[derive(Clone)]
pub struct List {
    pub items: Vec<Value>,
    pub elem: ElemKind,
}

/// A Go map with string keys; `BTreeMap` gives the sorted order Go prints and ranges in.
#[derive(Clone)]
pub struct Map {
    pub entries: BTreeMap<String, Value>,
    pub elem: ElemKind,
}

/// Parameter and result types of functions and methods, for Go's argument checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `interface{}`: anything, literals become ideal constants.
    Any,
    /// `reflect.Value` (the builtins): anything, literals become ideal constants.
    Reflect,
    String,
    Int,
    Float,
    Bool,
    /// `[]string`.
    StringList,
    /// A named object type (by [`Object::type_name`]).
    Object(&'static str),
}

impl ParamType {
    pub fn go_name(&self) -> &str {
        match self {
            ParamType::Any => "interface {}",
            ParamType::Reflect => "reflect.Value",
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float64",
            ParamType::Bool => "bool",
            ParamType::StringList => "[]string",
            ParamType::Object(n) => n,
        }
    }

    /// Whether Go lets nil be assigned to the type.
    pub fn can_be_nil(&self) -> bool {
        matches!(
            self,
            ParamType::Any | ParamType::Reflect | ParamType::StringList | ParamType::Object(_)
        )
    }
}

/// Parameters of a function or method: fixed ones, then an optional variadic tail.
#[derive(Clone, Debug, Default)]
pub struct Signature {
    pub params: Vec<ParamType>,
    pub variadic: Option<ParamType>,
}

impl Signature {
    pub fn new(params: Vec<ParamType>) -> Signature {
        Signature {
            params,
            variadic: None,
        }
    }

    pub fn variadic(params: Vec<ParamType>, rest: ParamType) -> Signature {
        Signature {
            params,
            variadic: Some(rest),
        }
    }
}

/// A Rust type seen by templates as a Go struct or named type.
pub trait Object: Send + Sync + 'static {
    /// The Go type name used in error messages and `%T`, e.g. `template.Data`.
    fn type_name(&self) -> &str;

    /// An exported struct field.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    /// The signature of a method, if the type has it.
    fn method(&self, _name: &str) -> Option<Signature> {
        None
    }

    /// Calls a method previously reported by [`Object::method`]; arguments are checked.
    fn call_method(&self, name: &str, _args: Vec<Value>) -> Result<Value, String> {
        Err(format!("no method {name}"))
    }

    /// The slice or map a named type is (Go's `type Alerts []Alert`), so ranging,
    /// indexing, `len` and map-key access work on it.
    fn underlying(&self) -> Option<Value> {
        None
    }

    /// How `fmt.Print` shows the value: its `String()` method, or struct syntax.
    fn write_go(&self, out: &mut String);

    /// `encoding/json` form (for Alertmanager's `toJson`); `None` marshals `{}`.
    fn write_json(&self, _out: &mut String) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any;
}

impl Value {
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(List {
            items,
            elem: ElemKind::Any,
        }))
    }

    pub fn string_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::List(Arc::new(List {
            items: items.into_iter().map(|s| Value::from(s.as_ref())).collect(),
            elem: ElemKind::String,
        }))
    }

    pub fn typed_list(items: Vec<Value>, elem: ElemKind) -> Value {
        Value::List(Arc::new(List { items, elem }))
    }

    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Arc::new(Map {
            entries,
            elem: ElemKind::Any,
        }))
    }

    pub fn string_map<K: AsRef<str>, V: AsRef<str>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Value {
        Value::Map(Arc::new(Map {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_string(), Value::from(v.as_ref())))
                .collect(),
            elem: ElemKind::String,
        }))
    }

    pub fn typed_map(entries: BTreeMap<String, Value>, elem: ElemKind) -> Value {
        Value::Map(Arc::new(Map { entries, elem }))
    }

    pub fn object(o: impl Object) -> Value {
        Value::Object(Arc::new(o))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object behind the value, downcast to `T`.
    pub fn downcast<T: 'static>(&self) -> Option<&T> {
        match self {
            Value::Object(o) => o.as_any().downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Looks through named slice/map types to the list or map they are.
    pub fn resolved(&self) -> Value {
        match self {
            Value::Object(o) => o.underlying().unwrap_or_else(|| self.clone()),
            _ => self.clone(),
        }
    }

    /// Go's type name (`%T`, error messages).
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Uint(_) => "uint".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(l) => format!("[]{}", l.elem.go_name()),
            Value::Map(m) => format!("map[string]{}", m.elem.go_name()),
            Value::Object(o) => o.type_name().to_string(),
            Value::Func(_) => "func".into(),
        }
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Object(o) => match o.underlying() {
                Some(u) => u.is_true(),
                None => true,
            },
            Value::Func(_) => true,
        }
    }

    /// Writes the value as `fmt.Print` (`%v`) does.
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Uint(u) => out.push_str(&u.to_string()),
            Value::Float(f) => hearth_model::float::write_go_g(out, *f),
            Value::String(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Object(o) => o.write_go(out),
            Value::Func(f) => {
                out.push_str("0x");
                out.push_str(&format!("{:x}", Arc::as_ptr(f) as usize));
            }
        }
    }

    /// The `%v` text of the value.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.type_name(), self.to_go_string())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Arc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::list(v)
    }
}
