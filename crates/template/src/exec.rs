//! The executor: walks a tree over a [`Value`], following Go's `text/template/exec.go`.
//!
//! It keeps Go's evaluation order and its notion of the "current node" (the last node
//! evaluation touched), so error messages name the same line, column and context as
//! upstream. Execution is bounded by [`Limits`]: output size, template call depth and a
//! step budget.

use std::sync::Arc;

use hearth_model::names::go_quote;

use crate::ast::{Arg, Branch, Command, List, Node, Number, Pipe, TemplateCall, Tree, Variable};
use crate::error::TemplateError;
use crate::funcs::{FuncKind, Function, builtins};
use crate::html::HtmlContext;
use crate::template::{Escaping, MissingKey, Template};
use crate::value::{Object, ParamType, Signature, Value};

type EResult<T> = Result<T, TemplateError>;

/// What ended a walk: normal completion, `{{break}}` or `{{continue}}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node an error is reported at.
#[derive(Clone, Copy)]
enum At<'a> {
    Arg(&'a Arg),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Node(&'a Node),
    Var(&'a Variable),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Arg(a) => a.pos(),
            At::Cmd(c) => c.pos,
            At::Pipe(p) => p.pos,
            At::Node(n) => n.pos(),
            At::Var(v) => v.pos,
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        match self {
            At::Arg(a) => a.write(&mut s),
            At::Cmd(c) => c.write(&mut s),
            At::Pipe(p) => p.write(&mut s),
            At::Node(n) => n.write(&mut s, false),
            At::Var(v) => v.write(&mut s),
        }
        s
    }
}

/// What a call invokes.
enum Callee {
    Func(Arc<Function>),
    Method(Arc<dyn Object>, Signature),
}

impl Callee {
    fn sig(&self) -> &Signature {
        match self {
            Callee::Func(f) => &f.sig,
            Callee::Method(_, s) => s,
        }
    }
}

/// State shared by a template and the templates it calls.
struct Shared {
    out: String,
    steps: u64,
    html: Option<HtmlContext>,
}

pub(crate) struct Executor<'a> {
    set: &'a Template,
}

impl<'a> Executor<'a> {
    pub(crate) fn new(set: &'a Template) -> Executor<'a> {
        Executor { set }
    }

    pub(crate) fn run(&self, tree: &'a Tree, data: &Value) -> EResult<String> {
        let mut shared = Shared {
            out: String::new(),
            steps: 0,
            html: (self.set.escaping == Escaping::Html).then(HtmlContext::default),
        };
        let mut st = State {
            set: self.set,
            tree,
            node: None,
            vars: vec![("$", data.clone())],
            depth: 0,
            shared: &mut shared,
        };
        st.walk_list(data, &tree.root)?;
        Ok(shared.out)
    }
}

struct State<'a, 's> {
    set: &'a Template,
    tree: &'a Tree,
    node: Option<At<'a>>,
    vars: Vec<(&'a str, Value)>,
    depth: usize,
    shared: &'s mut Shared,
}

fn is_hex_int(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && !s.contains(['p', 'P'])
}

impl<'a> State<'a, '_> {
    fn at(&mut self, n: At<'a>) {
        self.node = Some(n);
    }

    fn errorf(&self, msg: impl AsRef<str>) -> TemplateError {
        TemplateError::Exec(self.message(msg.as_ref()))
    }

    fn message(&self, msg: &str) -> String {
        let name = &self.tree.name;
        match self.node {
            None => format!("template: {name}: {msg}"),
            Some(n) => format!(
                "template: {}: executing {} at <{}>: {}",
                self.tree.location(n.pos()),
                go_quote(name),
                n.text(),
                msg
            ),
        }
    }

    fn limit(&self, msg: &str) -> TemplateError {
        TemplateError::Limit(self.message(msg))
    }

    fn step(&mut self) -> EResult<()> {
        self.shared.steps += 1;
        if self.shared.steps > self.set.limits.max_steps {
            return Err(self.limit(&format!(
                "template execution exceeded {} steps",
                self.set.limits.max_steps
            )));
        }
        Ok(())
    }

    fn write_text(&mut self, text: &str) -> EResult<()> {
        match &mut self.shared.html {
            Some(ctx) => ctx.write_text(&mut self.shared.out, text),
            None => self.shared.out.push_str(text),
        }
        self.check_output()
    }

    fn check_output(&self) -> EResult<()> {
        if self.shared.out.len() > self.set.limits.max_output {
            return Err(self.limit(&format!(
                "template output exceeds {} bytes",
                self.set.limits.max_output
            )));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'a List) -> EResult<Flow> {
        for n in &list.nodes {
            let f = self.walk(dot, n)?;
            if f != Flow::Normal {
                return Ok(f);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> EResult<Flow> {
        self.step()?;
        self.at(At::Node(node));
        match node {
            Node::Action(a) => {
                let val = self.eval_pipeline(dot, &a.pipe)?;
                if a.pipe.decl.is_empty() {
                    // html/template merges a trailing `html`/`urlquery` with the
                    // escaper it stands for instead of escaping twice.
                    let escaped_by = a.pipe.cmds.last().and_then(|c| match c.args.first() {
                        Some(Arg::Identifier { name, .. })
                            if name == "html" || name == "urlquery" =>
                        {
                            Some(name.as_str())
                        }
                        _ => None,
                    });
                    self.print_value(node, &val, escaped_by)?;
                }
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
            Node::Comment { .. } => {}
            Node::If(b) => return self.walk_if_or_with(false, dot, b),
            Node::With(b) => return self.walk_if_or_with(true, dot, b),
            Node::Range(b) => return self.walk_range(dot, node, b),
            Node::Template(t) => self.walk_template(dot, node, t)?,
            Node::Text { text, .. } => self.write_text(text)?,
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'a Branch) -> EResult<Flow> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.is_true() {
                if with {
                    self.walk_list(&val, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, node: &'a Node, b: &'a Branch) -> EResult<Flow> {
        self.at(At::Node(node));
        let mark = self.vars.len();
        let r = self.walk_range_inner(dot, node, b);
        self.vars.truncate(mark);
        r.map(|_| Flow::Normal)
    }

    fn walk_range_inner(&mut self, dot: &Value, node: &'a Node, b: &'a Branch) -> EResult<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?.resolved();
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::List(l) => {
                for (i, e) in l.items.iter().enumerate() {
                    ran = true;
                    let idx = Value::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if self.range_iteration(b, mark, idx, e.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, e) in &m.entries {
                    ran = true;
                    if self.range_iteration(b, mark, Value::from(k.as_str()), e.clone())?
                        == Flow::Break
                    {
                        break;
                    }
                }
            }
            Value::Int(_) | Value::Uint(_) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        val.to_go_string()
                    )));
                }
                let n: u64 = match val {
                    Value::Int(i) => u64::try_from(i).unwrap_or(0),
                    Value::Uint(u) => u,
                    _ => 0,
                };
                for i in 0..n {
                    ran = true;
                    let v = match val {
                        Value::Uint(_) => Value::Uint(i),
                        _ => Value::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                    };
                    if self.range_iteration(b, mark, v.clone(), v)? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                self.at(At::Node(node));
                return Err(
                    self.errorf(format!("range can't iterate over {}", other.to_go_string()))
                );
            }
        }
        if !ran && let Some(e) = &b.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn range_iteration(
        &mut self,
        b: &'a Branch,
        mark: usize,
        index: Value,
        elem: Value,
    ) -> EResult<Flow> {
        self.step()?;
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                let first = if decl.len() > 1 {
                    index.clone()
                } else {
                    elem.clone()
                };
                self.set_var(&decl[0].ident[0], first)?;
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(&decl[1].ident[0], elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match r? {
            Flow::Break => Ok(Flow::Break),
            _ => Ok(Flow::Normal),
        }
    }

    fn walk_template(&mut self, dot: &Value, node: &'a Node, t: &'a TemplateCall) -> EResult<()> {
        self.at(At::Node(node));
        let Some(tree) = self.set.trees.get(&t.name) else {
            return Err(self.errorf(format!("template {} not defined", go_quote(&t.name))));
        };
        if self.depth >= self.set.limits.max_depth {
            return Err(self.limit(&format!(
                "exceeded maximum template depth ({})",
                self.set.limits.max_depth
            )));
        }
        let new_dot = match &t.pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let mut st = State {
            set: self.set,
            tree,
            node: None,
            vars: vec![("$", new_dot.clone())],
            depth: self.depth + 1,
            shared: &mut *self.shared,
        };
        st.walk_list(&new_dot, &tree.root)?;
        Ok(())
    }

    /// Runs a template by name into its own buffer (Prometheus' `tmpl`).
    fn exec_template_to_string(&mut self, name: &str, data: Value) -> EResult<String> {
        let Some(tree) = self.set.trees.get(name) else {
            return Err(self.errorf(format!(
                "error calling tmpl: template: no template {} associated with template {}",
                go_quote(name),
                go_quote(self.set.name())
            )));
        };
        if self.depth >= self.set.limits.max_depth {
            return Err(self.limit(&format!(
                "exceeded maximum template depth ({})",
                self.set.limits.max_depth
            )));
        }
        let saved_out = std::mem::take(&mut self.shared.out);
        let saved_html = self.shared.html.take().map(|_| HtmlContext::default());
        let saved_ctx = std::mem::replace(&mut self.shared.html, saved_html);
        let r = {
            let mut st = State {
                set: self.set,
                tree,
                node: None,
                vars: vec![("$", data.clone())],
                depth: self.depth + 1,
                shared: &mut *self.shared,
            };
            st.walk_list(&data, &tree.root)
        };
        let produced = std::mem::replace(&mut self.shared.out, saved_out);
        self.shared.html = saved_ctx;
        r?;
        Ok(produced)
    }

    fn print_value(&mut self, node: &'a Node, v: &Value, escaped_by: Option<&str>) -> EResult<()> {
        self.at(At::Node(node));
        if let Value::Func(_) = v {
            return Err(self.errorf(format!(
                "can't print {} of type {}",
                At::Node(node).text(),
                v.type_name()
            )));
        }
        match &mut self.shared.html {
            Some(ctx) => ctx.write_value(&mut self.shared.out, v, escaped_by),
            None => {
                if v.is_nil() {
                    self.shared.out.push_str("<no value>");
                } else {
                    v.write_go(&mut self.shared.out);
                }
            }
        }
        self.check_output()
    }

    fn var_value(&self, name: &str) -> EResult<Value> {
        for (n, v) in self.vars.iter().rev() {
            if *n == name {
                return Ok(v.clone());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn set_var(&mut self, name: &str, value: Value) -> EResult<()> {
        for (n, v) in self.vars.iter_mut().rev() {
            if *n == name {
                *v = value;
                return Ok(());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn set_top_var(&mut self, n: usize, value: Value) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = value;
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> EResult<Value> {
        self.at(At::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for v in &pipe.decl {
            let name: &'a str = v.ident.first().map(String::as_str).unwrap_or("$");
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&mut self, args: &'a [Arg], fin: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || fin.is_some() {
            let first = args.first().map(Arg::to_text).unwrap_or_default();
            return Err(self.errorf(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'a Command,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let Some(first) = cmd.args.first() else {
            return Err(self.errorf("empty command"));
        };
        match first {
            Arg::Field { ident, .. } => {
                return self.eval_field_node(dot, first, ident, &cmd.args, fin);
            }
            Arg::Chain { .. } => return self.eval_chain_node(dot, first, &cmd.args, fin),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(v) => return self.eval_variable_node(dot, v, &cmd.args, fin),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command")),
            Arg::Number(n) => self.ideal_constant(first, n),
            Arg::String { text, .. } => Ok(Value::from(text.as_str())),
            _ => Err(self.errorf(format!(
                "can't evaluate command {}",
                go_quote(&first.to_text())
            ))),
        }
    }

    fn ideal_constant(&mut self, node: &'a Arg, n: &Number) -> EResult<Value> {
        self.at(At::Arg(node));
        let t = &n.text;
        if let Some(f) = n.float
            && !is_hex_int(t)
            && !t.starts_with('\'')
            && t.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.uint.is_some() {
            return Err(self.errorf(format!("{t} overflows int")));
        }
        Ok(Value::Nil)
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        ident: &'a [String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at(At::Arg(node));
        self.eval_field_chain(dot, dot.clone(), node, ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at(At::Arg(node));
        let Arg::Chain {
            node: inner,
            fields,
            ..
        } = node
        else {
            return Err(self.errorf("internal error: not a chain"));
        };
        if fields.is_empty() {
            return Err(self.errorf("internal error: no fields in evalChainNode"));
        }
        if let Arg::Nil { .. } = inner.as_ref() {
            return Err(self.errorf(format!(
                "indirection through explicit nil in {}",
                node.to_text()
            )));
        }
        let recv = self.eval_arg(dot, &ParamType::Any, inner)?;
        self.eval_field_chain(dot, recv, node, fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Value,
        v: &'a Variable,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at(At::Var(v));
        let head = v.ident.first().map(String::as_str).unwrap_or("$");
        let value = self.var_value(head)?;
        if v.ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain_at(dot, value, At::Var(v), &v.ident[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        node: &'a Arg,
        ident: &'a [String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.eval_field_chain_at(dot, receiver, At::Arg(node), ident, args, fin)
    }

    fn eval_field_chain_at(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        at: At<'a>,
        ident: &'a [String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let Some((last, init)) = ident.split_last() else {
            return Ok(receiver);
        };
        for name in init {
            receiver = self.eval_field(dot, name, at, &[], None, receiver)?;
        }
        self.eval_field(dot, last, at, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        at: At<'a>,
        args: &'a [Arg],
        fin: Option<Value>,
        receiver: Value,
    ) -> EResult<Value> {
        if receiver.is_nil() {
            if self.set.missing_key == MissingKey::Error {
                return Err(self.errorf(format!("nil data; no entry for key {}", go_quote(name))));
            }
            return Ok(Value::Nil);
        }
        let has_args = args.len() > 1 || fin.is_some();
        let mut map = None;
        match &receiver {
            Value::Object(o) => {
                if let Some(sig) = o.method(name) {
                    return self.eval_call(
                        dot,
                        Callee::Method(o.clone(), sig),
                        at,
                        name,
                        args,
                        fin,
                    );
                }
                if let Some(v) = o.field(name) {
                    if has_args {
                        return Err(self.errorf(format!(
                            "{name} has arguments but cannot be invoked as function"
                        )));
                    }
                    return Ok(v);
                }
                if let Some(Value::Map(m)) = o.underlying() {
                    map = Some(m);
                }
            }
            Value::Map(m) => map = Some(m.clone()),
            _ => {}
        }
        if let Some(m) = map {
            if has_args {
                return Err(self.errorf(format!("{name} is not a method but has arguments")));
            }
            return match m.entries.get(name) {
                Some(v) => Ok(v.clone()),
                None => match self.set.missing_key {
                    MissingKey::Default => Ok(Value::Nil),
                    MissingKey::Zero => Ok(m.elem.zero()),
                    MissingKey::Error => {
                        Err(self.errorf(format!("map has no entry for key {}", go_quote(name))))
                    }
                },
            };
        }
        Err(self.errorf(format!(
            "can't evaluate field {name} in type {}",
            receiver.type_name()
        )))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        name: &str,
        cmd: At<'a>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        self.at(At::Arg(node));
        let f = self
            .set
            .funcs
            .get(name)
            .or_else(|| builtins().get(name))
            .cloned();
        let Some(f) = f else {
            return Err(self.errorf(format!("{} is not a defined function", go_quote(name))));
        };
        self.eval_call(dot, Callee::Func(f), cmd, name, args, fin)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        callee: Callee,
        at: At<'a>,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let args: &'a [Arg] = args.get(1..).unwrap_or(&[]);
        let sig = callee.sig().clone();
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if sig.variadic.is_some() {
            sig.params.len()
        } else {
            args.len()
        };
        if sig.variadic.is_some() {
            if num_in < sig.params.len() {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.params.len(),
                    args.len()
                )));
            }
        } else if num_in != sig.params.len() {
            return Err(self.errorf(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                sig.params.len()
            )));
        }
        if let Callee::Func(f) = &callee
            && matches!(f.kind, FuncKind::And | FuncKind::Or)
        {
            let is_or = matches!(f.kind, FuncKind::Or);
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, &ParamType::Reflect, a)?;
                if v.is_true() == is_or {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            let t = sig.params.get(i).cloned().unwrap_or(ParamType::Any);
            argv.push(self.eval_arg(dot, &t, &args[i])?);
            i += 1;
        }
        if let Some(vt) = &sig.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, vt, &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = fin {
            let t = match &sig.variadic {
                Some(vt) if num_in > num_fixed => vt.clone(),
                _ => sig
                    .params
                    .get(num_in - 1)
                    .cloned()
                    .unwrap_or(ParamType::Any),
            };
            argv.push(self.validate_type(f, &t)?);
        }
        let result = match &callee {
            Callee::Method(o, _) => o.call_method(name, argv),
            Callee::Func(f) => match &f.kind {
                FuncKind::Native(imp) => imp(&argv),
                FuncKind::Call => self.builtin_call(args, &argv),
                FuncKind::ExecTemplate => {
                    let tname = argv
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let data = argv.get(1).cloned().unwrap_or_default();
                    let s = self.exec_template_to_string(&tname, data)?;
                    Ok(crate::html::safe_html(s))
                }
                FuncKind::And | FuncKind::Or => Ok(Value::Nil),
            },
        };
        result.map_err(|e| {
            self.at(at);
            self.errorf(format!("error calling {name}: {e}"))
        })
    }

    /// The `call` builtin: calls a function value with the remaining arguments.
    fn builtin_call(&self, args: &'a [Arg], argv: &[Value]) -> Result<Value, String> {
        let (fv, rest) = argv.split_first().ok_or("missing function")?;
        // Go names the callee by its node; a parenthesized pipeline prints bare.
        let fname = match args.first() {
            Some(Arg::Pipe(p)) => {
                let mut s = String::new();
                p.write(&mut s);
                s
            }
            Some(a) => a.to_text(),
            None => String::new(),
        };
        let Value::Func(f) = fv else {
            return Err(format!("non-function {fname} of type {}", fv.type_name()));
        };
        let fixed = f.sig.params.len();
        if f.sig.variadic.is_some() {
            if rest.len() < fixed {
                return Err(format!(
                    "wrong number of args for {fname}: got {} want at least {fixed}",
                    rest.len()
                ));
            }
        } else if rest.len() != fixed {
            return Err(format!(
                "wrong number of args for {fname}: got {} want {fixed}",
                rest.len()
            ));
        }
        for (i, a) in rest.iter().enumerate() {
            let t = f.sig.params.get(i).or(f.sig.variadic.as_ref());
            if let Some(t) = t
                && !type_accepts(t, a)
            {
                return Err(format!(
                    "arg {i}: value has type {}; should be {}",
                    a.type_name(),
                    t.go_name()
                ));
            }
        }
        f.call_native(rest)
    }

    fn eval_arg(&mut self, dot: &Value, typ: &ParamType, n: &'a Arg) -> EResult<Value> {
        self.at(At::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), typ),
            Arg::Nil { .. } => {
                if typ.can_be_nil() {
                    return Ok(Value::Nil);
                }
                return Err(self.errorf(format!("cannot assign nil to {}", typ.go_name())));
            }
            Arg::Field { ident, .. } => {
                let v = self.eval_field_node(dot, n, ident, std::slice::from_ref(n), None)?;
                return self.validate_type(v, typ);
            }
            Arg::Variable(v) => {
                let v = self.eval_variable_node(dot, v, &[], None)?;
                return self.validate_type(v, typ);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, typ);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, n, name, At::Arg(n), &[], None)?;
                return self.validate_type(v, typ);
            }
            Arg::Chain { .. } => {
                let v = self.eval_chain_node(dot, n, &[], None)?;
                return self.validate_type(v, typ);
            }
            _ => {}
        }
        let text = n.to_text();
        match (typ, n) {
            (ParamType::Any | ParamType::Reflect, Arg::Bool { value, .. }) => {
                Ok(Value::Bool(*value))
            }
            (ParamType::Any | ParamType::Reflect, Arg::Number(num)) => self.ideal_constant(n, num),
            (ParamType::Any | ParamType::Reflect, Arg::String { text, .. }) => {
                Ok(Value::from(text.as_str()))
            }
            (ParamType::Bool, Arg::Bool { value, .. }) => Ok(Value::Bool(*value)),
            (ParamType::Bool, _) => Err(self.errorf(format!("expected bool; found {text}"))),
            (ParamType::String, Arg::String { text, .. }) => Ok(Value::from(text.as_str())),
            (ParamType::String, _) => Err(self.errorf(format!("expected string; found {text}"))),
            (ParamType::Int, Arg::Number(Number { int: Some(i), .. })) => Ok(Value::Int(*i)),
            (ParamType::Int, _) => Err(self.errorf(format!("expected integer; found {text}"))),
            (ParamType::Float, Arg::Number(Number { float: Some(f), .. })) => Ok(Value::Float(*f)),
            (ParamType::Float, _) => Err(self.errorf(format!("expected float; found {text}"))),
            _ => Err(self.errorf(format!(
                "can't handle {text} for arg of type {}",
                typ.go_name()
            ))),
        }
    }

    fn validate_type(&self, value: Value, typ: &ParamType) -> EResult<Value> {
        if value.is_nil() {
            if typ.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.errorf(format!("invalid value; expected {}", typ.go_name())));
        }
        if type_accepts(typ, &value) {
            return Ok(value);
        }
        Err(self.errorf(format!(
            "wrong type for value; expected {}; got {}",
            typ.go_name(),
            value.type_name()
        )))
    }
}

/// Whether a value may be passed for a parameter of the type (Go's assignability).
fn type_accepts(typ: &ParamType, v: &Value) -> bool {
    match typ {
        ParamType::Any | ParamType::Reflect => true,
        ParamType::String => matches!(v, Value::String(_)),
        ParamType::Int => matches!(v, Value::Int(_)),
        ParamType::Float => matches!(v, Value::Float(_)),
        ParamType::Bool => matches!(v, Value::Bool(_)),
        ParamType::StringList => match v {
            Value::Nil => true,
            Value::List(l) => l.elem == crate::value::ElemKind::String,
            _ => false,
        },
        ParamType::Object(name) => match v {
            Value::Nil => true,
            Value::Object(o) => o.type_name() == *name,
            _ => false,
        },
    }
}
