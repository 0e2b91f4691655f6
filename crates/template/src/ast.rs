//! Parse trees, as Go's `text/template/parse/node.go` defines them.
//!
//! Every node keeps its byte offset so execution errors can name line and column, and
//! prints back to template text (Go's `Node.String()`), which error messages quote as
//! the context (`at <.Foo>`).

use std::sync::Arc;

use hearth_model::names::go_quote;

/// One parsed template: a name, the source it came from and its root list.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    /// Name of the top-level template being parsed when this tree was made; errors
    /// report locations against it (`template: PARSENAME:LINE:COL`).
    pub parse_name: Arc<str>,
    pub text: Arc<str>,
    pub root: List,
}

impl Tree {
    /// Go's `ErrorContext`: "NAME:LINE:COL" for a byte offset (column 0-based).
    pub fn location(&self, pos: usize) -> String {
        let before = self.text.get(..pos).unwrap_or(&self.text);
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

#[derive(Debug, Default)]
pub struct List {
    pub pos: usize,
    pub nodes: Vec<Node>,
}

#[derive(Debug)]
pub enum Node {
    Text { pos: usize, text: String },
    Comment { pos: usize, text: String },
    Action(Action),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template(TemplateCall),
    Break { pos: usize },
    Continue { pos: usize },
}

#[derive(Debug)]
pub struct Action {
    pub pos: usize,
    pub pipe: Pipe,
}

/// `if`, `range` and `with`: a pipeline, a body and an optional else body.
#[derive(Debug)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug)]
pub struct TemplateCall {
    pub pos: usize,
    pub name: String,
    pub pipe: Option<Pipe>,
}

#[derive(Debug, Default)]
pub struct Pipe {
    pub pos: usize,
    /// `$x = ...` rather than `$x := ...`.
    pub is_assign: bool,
    pub decl: Vec<Variable>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub pos: usize,
    /// `$x.A.B` is `["$x", "A", "B"]`.
    pub ident: Vec<String>,
}

/// A number literal with every interpretation Go's parser records.
#[derive(Debug, Clone)]
pub struct Number {
    pub pos: usize,
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
}

/// Operands of a command.
#[derive(Debug)]
pub enum Arg {
    Bool {
        pos: usize,
        value: bool,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Number(Number),
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    /// `.A.B` (fields without the leading dots).
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    Variable(Variable),
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    /// `(pipeline)` or `X.A.B` where X is not a field or variable.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Bool { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::String { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Number(n) => n.pos,
            Arg::Variable(v) => v.pos,
            Arg::Pipe(p) => p.pos,
        }
    }

    pub fn write(&self, out: &mut String) {
        match self {
            Arg::Bool { value, .. } => out.push_str(if *value { "true" } else { "false" }),
            Arg::Dot { .. } => out.push('.'),
            Arg::Nil { .. } => out.push_str("nil"),
            Arg::Number(n) => out.push_str(&n.text),
            Arg::String { quoted, .. } => out.push_str(quoted),
            Arg::Field { ident, .. } => {
                for f in ident {
                    out.push('.');
                    out.push_str(f);
                }
            }
            Arg::Variable(v) => v.write(out),
            Arg::Identifier { name, .. } => out.push_str(name),
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(p) = node.as_ref() {
                    out.push('(');
                    p.write(out);
                    out.push(')');
                } else {
                    node.write(out);
                }
                for f in fields {
                    out.push('.');
                    out.push_str(f);
                }
            }
            Arg::Pipe(p) => {
                out.push('(');
                p.write(out);
                out.push(')');
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    /// The Go node type name used in "non executable command" checks.
    pub fn is_literal_operand(&self) -> bool {
        matches!(
            self,
            Arg::Bool { .. }
                | Arg::Dot { .. }
                | Arg::Nil { .. }
                | Arg::Number(_)
                | Arg::String { .. }
        )
    }
}

impl Variable {
    pub fn write(&self, out: &mut String) {
        for (i, id) in self.ident.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(id);
        }
    }
}

impl Command {
    pub fn write(&self, out: &mut String) {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            a.write(out);
        }
    }
}

impl Pipe {
    pub fn write(&self, out: &mut String) {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                v.write(out);
            }
            out.push_str(if self.is_assign { " = " } else { " := " });
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                out.push_str(" | ");
            }
            c.write(out);
        }
    }
}

impl List {
    pub fn write(&self, out: &mut String, quote_text: bool) {
        for n in &self.nodes {
            n.write(out, quote_text);
        }
    }

    /// Go's `IsEmptyTree`: only whitespace text and comments.
    pub fn is_empty_tree(&self) -> bool {
        self.nodes.iter().all(|n| match n {
            Node::Text { text, .. } => text.trim_matches([' ', '\t', '\r', '\n']).is_empty(),
            Node::Comment { .. } => true,
            _ => false,
        })
    }
}

impl Node {
    pub fn pos(&self) -> usize {
        match self {
            Node::Text { pos, .. }
            | Node::Comment { pos, .. }
            | Node::Break { pos }
            | Node::Continue { pos } => *pos,
            Node::Action(a) => a.pos,
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
            Node::Template(t) => t.pos,
        }
    }

    /// Go's `String()`; `quote_text` prints text nodes quoted as Go's parse tests do.
    pub fn write(&self, out: &mut String, quote_text: bool) {
        match self {
            Node::Text { text, .. } => {
                if quote_text {
                    out.push_str(&go_quote(text));
                } else {
                    out.push_str(text);
                }
            }
            Node::Comment { text, .. } => {
                out.push_str("{{");
                out.push_str(text);
                out.push_str("}}");
            }
            Node::Action(a) => {
                out.push_str("{{");
                a.pipe.write(out);
                out.push_str("}}");
            }
            Node::If(b) => b.write("if", out, quote_text),
            Node::Range(b) => b.write("range", out, quote_text),
            Node::With(b) => b.write("with", out, quote_text),
            Node::Template(t) => {
                out.push_str("{{template ");
                out.push_str(&go_quote(&t.name));
                if let Some(p) = &t.pipe {
                    out.push(' ');
                    p.write(out);
                }
                out.push_str("}}");
            }
            Node::Break { .. } => out.push_str("{{break}}"),
            Node::Continue { .. } => out.push_str("{{continue}}"),
        }
    }
}

impl Branch {
    fn write(&self, name: &str, out: &mut String, quote_text: bool) {
        out.push_str("{{");
        out.push_str(name);
        out.push(' ');
        self.pipe.write(out);
        out.push_str("}}");
        self.list.write(out, quote_text);
        if let Some(e) = &self.else_list {
            out.push_str("{{else}}");
            e.write(out, quote_text);
        }
        out.push_str("{{end}}");
    }
}
