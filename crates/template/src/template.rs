//! [`Template`]: a set of associated named templates sharing functions and options,
//! as Go's `*template.Template` is.
//!
//! Parsing more text adds its `{{define}}`s to the set (a later definition replaces an
//! earlier one; an empty body never replaces a non-empty one), which is how
//! Alertmanager's default templates and users' template files see each other.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::Tree;
use crate::error::TemplateError;
use crate::exec::Executor;
use crate::funcs::{FuncMap, builtins};
use crate::value::Value;

/// What a missing map key evaluates to (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Nil, printed as `<no value>` (Go's default).
    #[default]
    Default,
    /// The zero value of the map's element type (Prometheus and Alertmanager use this).
    Zero,
    /// An execution error.
    Error,
}

/// Bounds that keep any template from hanging or exhausting memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum bytes of output.
    pub max_output: usize,
    /// Maximum nesting of `{{template}}` calls (Go: 100000; native stack here).
    pub max_depth: usize,
    /// Maximum executed nodes plus range iterations.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_output: 16 << 20,
            max_depth: 200,
            max_steps: 10_000_000,
        }
    }
}

/// Output escaping applied to action results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Escaping {
    /// `text/template`: values print as they are.
    #[default]
    Text,
    /// `html/template`-style contextual escaping (see [`crate::html`]).
    Html,
}

/// A set of named templates.
#[derive(Clone)]
pub struct Template {
    name: String,
    pub(crate) trees: HashMap<String, Arc<Tree>>,
    pub(crate) funcs: FuncMap,
    pub(crate) missing_key: MissingKey,
    pub(crate) limits: Limits,
    pub(crate) escaping: Escaping,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.trees.keys().collect();
        names.sort();
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("templates", &names)
            .finish()
    }
}

impl Template {
    /// An empty set whose main template is `name`.
    pub fn new(name: &str, funcs: FuncMap) -> Template {
        Template {
            name: name.to_string(),
            trees: HashMap::new(),
            funcs,
            missing_key: MissingKey::Default,
            limits: Limits::default(),
            escaping: Escaping::Text,
        }
    }

    /// Parses `text` as template `name` with `funcs` available.
    pub fn parse(name: &str, text: &str, funcs: FuncMap) -> Result<Template, TemplateError> {
        let mut t = Template::new(name, funcs);
        t.add_parse(name, text)?;
        Ok(t)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn with_missing_key(mut self, m: MissingKey) -> Template {
        self.missing_key = m;
        self
    }

    pub fn with_limits(mut self, l: Limits) -> Template {
        self.limits = l;
        self
    }

    pub fn with_escaping(mut self, e: Escaping) -> Template {
        self.escaping = e;
        self
    }

    pub fn set_missing_key(&mut self, m: MissingKey) {
        self.missing_key = m;
    }

    pub fn funcs(&self) -> &FuncMap {
        &self.funcs
    }

    /// Adds functions (Go's `Funcs`); later parses may use them.
    pub fn add_funcs(&mut self, funcs: &FuncMap) {
        self.funcs.extend(funcs);
    }

    fn has_func(&self, name: &str) -> bool {
        self.funcs.contains(name) || builtins().contains(name)
    }

    /// Parses `text` as the template `name` of this set (Go's `t.New(name).Parse(text)`,
    /// or `t.Parse(text)` when `name` is the set's name). Its definitions join the set.
    pub fn add_parse(&mut self, name: &str, text: &str) -> Result<(), TemplateError> {
        let trees = crate::parser::parse(name, text, &|f| self.has_func(f))?;
        for tree in trees {
            let tree_name = tree.name.clone();
            self.add_parse_tree(&tree_name, Arc::new(tree));
        }
        Ok(())
    }

    /// Installs a parsed tree under `name` (Go's `AddParseTree`): an empty tree does not
    /// replace an existing one.
    pub fn add_parse_tree(&mut self, name: &str, tree: Arc<Tree>) {
        if self.trees.contains_key(name) && tree.root.is_empty_tree() {
            return;
        }
        self.trees.insert(name.to_string(), tree);
    }

    /// The parsed tree of a template in the set.
    pub fn lookup(&self, name: &str) -> Option<&Arc<Tree>> {
        self.trees.get(name)
    }

    /// Names of all templates in the set, sorted.
    pub fn template_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Executes the template `name` of the set on `data` (Go's `ExecuteTemplate`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let Some(tree) = self.trees.get(name) else {
            return Err(TemplateError::Exec(format!(
                "template: no template {} associated with template {}",
                hearth_model::names::go_quote(name),
                hearth_model::names::go_quote(&self.name)
            )));
        };
        Executor::new(self).run(tree, data)
    }

    /// Executes the set's main template (Go's `Execute`).
    pub fn execute_main(&self, data: &Value) -> Result<String, TemplateError> {
        match self.trees.get(&self.name) {
            Some(tree) => Executor::new(self).run(tree, data),
            None => Err(TemplateError::Exec(format!(
                "template: {}: {} is an incomplete or empty template",
                self.name,
                hearth_model::names::go_quote(&self.name)
            ))),
        }
    }
}
