//! The parser: items to trees, following Go's `text/template/parse/parse.go`.
//!
//! One call parses one text into a set of trees: the top-level one plus one per
//! `{{define}}` and `{{block}}`. Errors read as Go's (`template: NAME:LINE: msg`).
//! Nesting depth is bounded so no input can exhaust the stack.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::{
    Action, Arg, Branch, Command, List, Node, Number, Pipe, TemplateCall, Tree, Variable,
};
use crate::error::TemplateError;
use crate::lexer::{Item, ItemKind, lex};

/// Parenthesized pipelines nested deeper than this are rejected (Go: 10000; recursion
/// here uses the native stack, so the bound is lower).
pub const MAX_EXPR_DEPTH: usize = 100;
/// `if`/`range`/`with`/`block` bodies nested deeper than this are rejected.
pub const MAX_CONTROL_DEPTH: usize = 100;

/// Parses `text` as the template `name`. `has_func` tells whether a function exists
/// (identifiers must name one). Returns the trees by name; the top-level tree is under
/// `name`.
pub fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, TemplateError> {
    let items = lex(text, !has_func("break"), !has_func("continue"));
    let parse_name: Arc<str> = Arc::from(name);
    let text: Arc<str> = Arc::from(text);
    let mut p = Parser {
        items,
        idx: 0,
        parse_name: parse_name.clone(),
        text: text.clone(),
        has_func,
        vars: vec!["$".into()],
        range_depth: 0,
        expr_depth: 0,
        control_depth: 0,
        action_line: 0,
        last_line: 1,
        trees: Vec::new(),
        names: HashMap::new(),
    };
    let root = p.parse_top()?;
    p.add(name.to_string(), root)?;
    Ok(p.trees)
}

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    parse_name: Arc<str>,
    text: Arc<str>,
    has_func: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    expr_depth: usize,
    control_depth: usize,
    action_line: usize,
    last_line: usize,
    trees: Vec<Tree>,
    names: HashMap<String, usize>,
}

type PResult<T> = Result<T, TemplateError>;

/// What ended an item list.
enum ListEnd {
    End,
    Else { pos: usize },
}

impl Parser<'_> {
    fn eof_item(&self) -> Item {
        Item {
            kind: ItemKind::Eof,
            pos: self.text.len(),
            val: String::new(),
            line: self.last_line,
        }
    }

    fn next(&mut self) -> Item {
        let it = self
            .items
            .get(self.idx)
            .cloned()
            .unwrap_or_else(|| self.eof_item());
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        self.last_line = it.line;
        it
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&self) -> Item {
        self.items
            .get(self.idx)
            .cloned()
            .unwrap_or_else(|| self.eof_item())
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.kind != ItemKind::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn errorf(&self, msg: impl AsRef<str>) -> TemplateError {
        TemplateError::Parse(format!(
            "template: {}:{}: {}",
            self.parse_name,
            self.last_line,
            msg.as_ref()
        ))
    }

    fn unexpected(&self, token: &Item, context: &str) -> TemplateError {
        if token.kind == ItemKind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{}{}", token.describe(), extra));
        }
        self.errorf(format!("unexpected {} in {}", token.describe(), context))
    }

    fn expect(&mut self, kind: ItemKind, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn tree(&self, name: String, root: List) -> Tree {
        Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root,
        }
    }

    /// Go's `Tree.add`: a non-empty definition may not be given twice in one parse.
    fn add(&mut self, name: String, root: List) -> PResult<()> {
        match self.names.get(&name) {
            Some(&i) => {
                let existing_empty = self.trees.get(i).is_none_or(|t| t.root.is_empty_tree());
                if existing_empty {
                    let t = self.tree(name, root);
                    if let Some(slot) = self.trees.get_mut(i) {
                        *slot = t;
                    }
                } else if !root.is_empty_tree() {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        hearth_model::names::go_quote(&name)
                    )));
                }
            }
            None => {
                self.names.insert(name.clone(), self.trees.len());
                let t = self.tree(name, root);
                self.trees.push(t);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List {
            pos: self.peek().pos,
            nodes: Vec::new(),
        };
        while self.peek().kind != ItemKind::Eof {
            if self.peek().kind == ItemKind::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().kind == ItemKind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.nodes.push(n),
                Parsed::Nothing => {}
                Parsed::End => return Err(self.errorf("unexpected {{end}}")),
                Parsed::Else { .. } => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let name_item = self.next_non_space();
        if !matches!(name_item.kind, ItemKind::String | ItemKind::RawString) {
            return Err(self.unexpected(&name_item, CONTEXT));
        }
        let name = self.unquote(&name_item.val)?;
        self.expect(ItemKind::RightDelim, CONTEXT)?;
        // Definitions see no variables of the enclosing text but "$".
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let ListEnd::Else { .. } = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add(name, list)
    }

    fn item_list(&mut self) -> PResult<(List, ListEnd)> {
        let mut list = List {
            pos: self.peek_non_space().pos,
            nodes: Vec::new(),
        };
        while self.peek_non_space().kind != ItemKind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                Parsed::Nothing => {}
                Parsed::End => return Ok((list, ListEnd::End)),
                Parsed::Else { pos } => return Ok((list, ListEnd::Else { pos })),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let mut token = self.next_non_space();
        // Comments are dropped from trees (Go's default mode).
        while token.kind == ItemKind::Comment {
            token = self.next_non_space();
        }
        match token.kind {
            ItemKind::Text => Ok(Parsed::Node(Node::Text {
                pos: token.pos,
                text: token.val,
            })),
            ItemKind::LeftDelim => {
                let saved = self.action_line;
                self.action_line = token.line;
                let r = self.action();
                self.action_line = saved;
                r
            }
            ItemKind::Eof => {
                self.backup();
                Ok(Parsed::Nothing)
            }
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.kind {
            ItemKind::Block => return self.block_control().map(Parsed::Node),
            ItemKind::Break => {
                return self
                    .break_continue(token.pos, "{{break}}")
                    .map(|()| Parsed::Node(Node::Break { pos: token.pos }));
            }
            ItemKind::Continue => {
                return self
                    .break_continue(token.pos, "{{continue}}")
                    .map(|()| Parsed::Node(Node::Continue { pos: token.pos }));
            }
            ItemKind::Else => return self.else_control(),
            ItemKind::End => {
                self.expect(ItemKind::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemKind::If => return self.control("if").map(Parsed::Node),
            ItemKind::Range => return self.control("range").map(Parsed::Node),
            ItemKind::Template => return self.template_control().map(Parsed::Node),
            ItemKind::With => return self.control("with").map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", ItemKind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(Action { pos, pipe })))
    }

    fn break_continue(&mut self, _pos: usize, what: &str) -> PResult<()> {
        let token = self.next_non_space();
        if token.kind != ItemKind::RightDelim {
            return Err(self.unexpected(&token, what));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{what} outside {{{{range}}}}")));
        }
        Ok(())
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if matches!(peek.kind, ItemKind::If | ItemKind::With) {
            // "else if"/"else with": the if/with token stays pending.
            return Ok(Parsed::Else { pos: peek.pos });
        }
        let token = self.expect(ItemKind::RightDelim, "else")?;
        Ok(Parsed::Else { pos: token.pos })
    }

    fn control(&mut self, context: &'static str) -> PResult<Node> {
        if self.control_depth >= MAX_CONTROL_DEPTH {
            return Err(self.errorf("max control nesting depth exceeded"));
        }
        self.control_depth += 1;
        let vars_mark = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(vars_mark);
        self.control_depth -= 1;
        let branch = r?;
        Ok(match context {
            "if" => Node::If(branch),
            "range" => Node::Range(branch),
            _ => Node::With(branch),
        })
    }

    fn control_inner(&mut self, context: &'static str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemKind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = r?;
        let mut else_list = None;
        if let ListEnd::Else { pos } = end {
            let next_kind = self.peek().kind;
            if context == "if" && next_kind == ItemKind::If {
                self.next();
                let n = self.control("if")?;
                else_list = Some(List {
                    pos,
                    nodes: vec![n],
                });
            } else if context == "with" && next_kind == ItemKind::With {
                self.next();
                let n = self.control("with")?;
                else_list = Some(List {
                    pos,
                    nodes: vec![n],
                });
            } else {
                let (l, end) = self.item_list()?;
                if let ListEnd::Else { .. } = end {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemKind::RightDelim)?;
        if self.control_depth >= MAX_CONTROL_DEPTH {
            return Err(self.errorf("max control nesting depth exceeded"));
        }
        self.control_depth += 1;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.control_depth -= 1;
        let (list, end) = r?;
        if let ListEnd::Else { .. } = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().kind != ItemKind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, ItemKind::RightDelim)?);
        }
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe,
        }))
    }

    fn template_name(&mut self, token: &Item, context: &str) -> PResult<String> {
        match token.kind {
            ItemKind::String | ItemKind::RawString => self.unquote(&token.val),
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn unquote(&self, quoted: &str) -> PResult<String> {
        crate::gofmt::unquote(quoted).map_err(|e| self.errorf(e))
    }

    fn pipeline(&mut self, context: &str, end: ItemKind) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            ..Pipe::default()
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.kind != ItemKind::Variable {
                break;
            }
            self.next_non_space();
            let token_after = self.peek();
            let next = self.peek_non_space();
            match next.kind {
                ItemKind::Assign | ItemKind::Declare => {
                    pipe.is_assign = next.kind == ItemKind::Assign;
                    self.next_non_space();
                    pipe.decl.push(new_variable(v.pos, &v.val));
                    self.vars.push(v.val.clone());
                }
                ItemKind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(new_variable(v.pos, &v.val));
                    self.vars.push(v.val.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            ItemKind::Variable | ItemKind::RightDelim | ItemKind::RightParen => {
                                continue 'decls;
                            }
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ if token_after.kind == ItemKind::Space => {
                    // Put back the variable and the space.
                    self.idx -= 2;
                }
                _ => self.backup(),
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            if token.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.kind {
                ItemKind::Bool
                | ItemKind::CharConstant
                | ItemKind::Complex
                | ItemKind::Dot
                | ItemKind::Field
                | ItemKind::Identifier
                | ItemKind::Number
                | ItemKind::Nil
                | ItemKind::RawString
                | ItemKind::String
                | ItemKind::Variable
                | ItemKind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if c.args.first().is_some_and(Arg::is_literal_operand) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command {
            pos: self.peek_non_space().pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.kind {
                ItemKind::Space => continue,
                ItemKind::RightDelim | ItemKind::RightParen => self.backup(),
                ItemKind::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != ItemKind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == ItemKind::Field {
            let f = self.next();
            fields.push(f.val.trim_start_matches('.').to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut ident, .. } => {
                ident.extend(fields);
                Arg::Field {
                    pos: chain_pos,
                    ident,
                }
            }
            Arg::Variable(mut v) => {
                v.ident.extend(fields);
                v.pos = chain_pos;
                Arg::Variable(v)
            }
            n if n.is_literal_operand() => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    hearth_model::names::go_quote(&n.to_text())
                )));
            }
            n => Arg::Chain {
                pos: chain_pos,
                node: Box::new(n),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        Ok(Some(match token.kind {
            ItemKind::Identifier => {
                if !(self.has_func)(&token.val) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        hearth_model::names::go_quote(&token.val)
                    )));
                }
                Arg::Identifier {
                    pos: token.pos,
                    name: token.val,
                }
            }
            ItemKind::Dot => Arg::Dot { pos: token.pos },
            ItemKind::Nil => Arg::Nil { pos: token.pos },
            ItemKind::Variable => {
                let v = new_variable(token.pos, &token.val);
                let head = v.ident.first().cloned().unwrap_or_default();
                if !self.vars.contains(&head) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        hearth_model::names::go_quote(&head)
                    )));
                }
                Arg::Variable(v)
            }
            ItemKind::Field => Arg::Field {
                pos: token.pos,
                ident: vec![token.val.trim_start_matches('.').to_string()],
            },
            ItemKind::Bool => Arg::Bool {
                pos: token.pos,
                value: token.val == "true",
            },
            ItemKind::CharConstant | ItemKind::Complex | ItemKind::Number => {
                Arg::Number(self.number(token.pos, &token.val, token.kind)?)
            }
            ItemKind::LeftParen => {
                if self.expr_depth >= MAX_EXPR_DEPTH {
                    return Err(self.errorf("max expression depth exceeded"));
                }
                self.expr_depth += 1;
                let r = self.pipeline("parenthesized pipeline", ItemKind::RightParen);
                self.expr_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            ItemKind::String | ItemKind::RawString => {
                let text = self.unquote(&token.val)?;
                Arg::String {
                    pos: token.pos,
                    quoted: token.val,
                    text,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn number(&self, pos: usize, text: &str, kind: ItemKind) -> PResult<Number> {
        crate::number::parse_number(pos, text, kind == ItemKind::CharConstant)
            .map_err(|e| self.errorf(e))
    }
}

enum Parsed {
    Node(Node),
    /// Only comments were left.
    Nothing,
    End,
    Else {
        pos: usize,
    },
}

fn new_variable(pos: usize, text: &str) -> Variable {
    Variable {
        pos,
        ident: text.split('.').map(str::to_string).collect(),
    }
}
