//! HTML-context escaping for [`crate::Escaping::Html`], the part of Go's
//! `html/template` that Prometheus console templates and Alertmanager's HTML
//! notifications rely on.
//!
//! Go rewrites the template ahead of execution; here the context is tracked on the
//! output stream instead: text written so far says whether an action's value lands in
//! element text, an attribute value (a URL attribute and which part of the URL), a
//! `<script>`/`<style>` body or an RCDATA element, and the value is escaped for that
//! context. HTML comments in template text are dropped, as Go drops them. Values made
//! by `safeHtml`/`safeUrl` are trusted where Go trusts them.

use std::fmt::Write as _;

use crate::value::{Object, Value};

/// Content Go's `html/template.HTML` marks as safe.
pub struct SafeHtml(pub String);
/// Content Go's `html/template.URL` marks as safe.
pub struct SafeUrl(pub String);

macro_rules! string_object {
    ($t:ty, $name:expr) => {
        impl Object for $t {
            fn type_name(&self) -> &str {
                $name
            }
            fn underlying(&self) -> Option<Value> {
                Some(Value::from(self.0.as_str()))
            }
            fn write_go(&self, out: &mut String) {
                out.push_str(&self.0);
            }
            fn write_json(&self, out: &mut String) -> bool {
                crate::json::write_json_string(out, &self.0);
                true
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }
    };
}

string_object!(SafeHtml, "template.HTML");
string_object!(SafeUrl, "template.URL");

pub fn safe_html(s: String) -> Value {
    Value::object(SafeHtml(s))
}

pub fn safe_url(s: String) -> Value {
    Value::object(SafeUrl(s))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// Inside `<name ...`, between attributes.
    Tag,
    AttrName,
    AfterAttrName,
    BeforeValue,
    AttrValue,
    Comment,
    /// Body of `<script>`, `<style>`, `<title>` or `<textarea>`.
    RawText,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum AttrKind {
    #[default]
    Plain,
    Url,
}

/// The escaping context of the output written so far.
#[derive(Clone, Debug, Default)]
pub struct HtmlContext {
    state: State,
    tag: String,
    closing: bool,
    attr: String,
    attr_kind: AttrKind,
    quote: Option<char>,
    /// Attribute value text written so far (decides the URL part).
    value_so_far: String,
    /// Element whose raw body we are in (`script`, `style`, ...).
    raw_element: String,
}

fn is_url_attr(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "href"
            | "src"
            | "action"
            | "cite"
            | "data"
            | "formaction"
            | "poster"
            | "background"
            | "longdesc"
            | "codebase"
            | "classid"
            | "usemap"
            | "manifest"
            | "icon"
            | "profile"
    ) || n.contains("src")
        || n.contains("uri")
        || n.contains("url")
}

impl HtmlContext {
    /// Writes template text, tracking context and dropping HTML comments.
    pub fn write_text(&mut self, out: &mut String, text: &str) {
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let len = c.len_utf8();
            match self.state {
                State::Comment => {
                    if rest.starts_with("-->") {
                        self.state = State::Text;
                        rest = &rest[3..];
                    } else {
                        rest = &rest[len..];
                    }
                    continue;
                }
                State::Text => {
                    if rest.starts_with("<!--") {
                        self.state = State::Comment;
                        rest = &rest[4..];
                        continue;
                    }
                    if c == '<' {
                        let next = rest[1..].chars().next();
                        if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/') {
                            self.state = State::Tag;
                            self.tag.clear();
                            self.closing = next == Some('/');
                            out.push('<');
                            rest = &rest[1..];
                            if self.closing {
                                out.push('/');
                                rest = &rest[1..];
                            }
                            let name_len = rest
                                .find(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-')
                                .unwrap_or(rest.len());
                            self.tag = rest[..name_len].to_ascii_lowercase();
                            out.push_str(&rest[..name_len]);
                            rest = &rest[name_len..];
                            continue;
                        }
                    }
                }
                State::RawText => {
                    let close = format!("</{}", self.raw_element);
                    if rest
                        .get(..close.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(&close))
                    {
                        self.state = State::Text;
                        continue;
                    }
                }
                State::Tag => {
                    if c == '>' {
                        self.end_tag();
                    } else if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '-' {
                        self.state = State::AttrName;
                        self.attr.clear();
                        self.attr.push(c);
                    }
                }
                State::AttrName => {
                    if c == '=' {
                        self.start_value();
                    } else if c == '>' {
                        self.end_tag();
                    } else if c.is_whitespace() {
                        self.state = State::AfterAttrName;
                    } else {
                        self.attr.push(c);
                    }
                }
                State::AfterAttrName => {
                    if c == '=' {
                        self.start_value();
                    } else if c == '>' {
                        self.end_tag();
                    } else if !c.is_whitespace() {
                        self.state = State::AttrName;
                        self.attr.clear();
                        self.attr.push(c);
                    }
                }
                State::BeforeValue => {
                    if c == '"' || c == '\'' {
                        self.state = State::AttrValue;
                        self.quote = Some(c);
                        self.value_so_far.clear();
                    } else if c == '>' {
                        self.end_tag();
                    } else if !c.is_whitespace() {
                        self.state = State::AttrValue;
                        self.quote = None;
                        self.value_so_far.clear();
                        self.value_so_far.push(c);
                    }
                }
                State::AttrValue => {
                    let ends = match self.quote {
                        Some(q) => c == q,
                        None => c.is_whitespace() || c == '>',
                    };
                    if ends {
                        if c == '>' {
                            self.end_tag();
                        } else {
                            self.state = State::Tag;
                        }
                    } else {
                        self.value_so_far.push(c);
                    }
                }
            }
            out.push(c);
            rest = &rest[len..];
        }
    }

    /// After `name=`: the value's kind follows from the attribute name.
    fn start_value(&mut self) {
        self.state = State::BeforeValue;
        self.attr_kind = if is_url_attr(&self.attr) {
            AttrKind::Url
        } else {
            AttrKind::Plain
        };
    }

    fn end_tag(&mut self) {
        self.state = State::Text;
        if !self.closing && matches!(self.tag.as_str(), "script" | "style" | "title" | "textarea") {
            self.state = State::RawText;
            self.raw_element = self.tag.clone();
        }
    }

    /// Writes an action's value escaped for the current context.
    /// `escaped_by` names a trailing `html` or `urlquery` in the action's pipeline, which
    /// takes the place of the context's own escaper as in Go.
    pub fn write_value(&mut self, out: &mut String, v: &Value, escaped_by: Option<&str>) {
        let html = v.downcast::<SafeHtml>().map(|s| s.0.as_str());
        let pre_html = escaped_by == Some("html");
        let pre_url = escaped_by == Some("urlquery");
        let url = v.downcast::<SafeUrl>().map(|s| s.0.as_str());
        let plain = match v {
            Value::Nil => String::new(),
            _ => v.to_go_string(),
        };
        match self.state {
            State::Text => match html {
                Some(h) => out.push_str(h),
                None if pre_html => out.push_str(&plain),
                None => html_escape_into(out, &plain, false),
            },
            State::RawText => {
                if self.raw_element == "script" {
                    js_value_into(out, v, &plain);
                } else if self.raw_element == "style" || pre_html {
                    out.push_str(&plain);
                } else {
                    html_escape_into(out, &plain, false);
                }
            }
            State::Comment => {}
            State::AttrValue if self.attr_kind == AttrKind::Url => {
                let escaped = if pre_url {
                    plain
                } else if self.value_so_far.contains(['?', '#']) {
                    match url {
                        Some(u) => url_process(u, true),
                        None => url_process(&plain, false),
                    }
                } else if self.value_so_far.is_empty() {
                    match url {
                        Some(u) => url_process(u, true),
                        None => url_process(&url_filter(&plain), true),
                    }
                } else {
                    url_process(url.unwrap_or(&plain), true)
                };
                self.value_so_far.push_str(&escaped);
                attr_escape_into(out, &escaped, self.quote.is_none());
            }
            State::AttrValue => {
                let s = match html {
                    Some(h) => strip_tags(h),
                    None => plain,
                };
                self.value_so_far.push_str(&s);
                if pre_html {
                    out.push_str(&s);
                } else {
                    attr_escape_into(out, &s, self.quote.is_none());
                }
            }
            State::BeforeValue => {
                // Unquoted value starts with the action.
                self.state = State::AttrValue;
                self.quote = None;
                self.value_so_far.clear();
                self.write_value(out, v, escaped_by);
            }
            State::Tag | State::AttrName | State::AfterAttrName => {
                // Go only allows safe attribute names here.
                if plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    out.push_str(&plain);
                } else {
                    out.push_str("ZgotmplZ");
                }
            }
        }
    }
}

fn html_escape_into(out: &mut String, s: &str, nospace: bool) {
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            ' ' | '\t' | '\n' | '\r' | '\u{c}' | '=' | '`' if nospace => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn attr_escape_into(out: &mut String, s: &str, unquoted: bool) {
    html_escape_into(out, s, unquoted)
}

/// Go's `urlFilter`: only http, https and mailto URLs (or scheme-less ones) pass.
fn url_filter(s: &str) -> String {
    if let Some(colon) = s.find(':')
        && !s[..colon].contains('/')
    {
        let scheme = s[..colon].to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "mailto") {
            return "#ZgotmplZ".into();
        }
    }
    s.to_string()
}

/// Go's `urlProcessor`: `norm` keeps reserved characters and `%` (normalizing), otherwise
/// everything but unreserved characters is escaped (lower-case hex, as Go writes it).
fn url_process(s: &str, norm: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (norm
                && matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'&'
                        | b'*'
                        | b'+'
                        | b','
                        | b'/'
                        | b':'
                        | b';'
                        | b'='
                        | b'?'
                        | b'@'
                        | b'['
                        | b']'
                        | b'%'
                ));
        if keep {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Go's `jsValEscaper` for values in script bodies: JSON with HTML-significant
/// characters escaped.
fn js_value_into(out: &mut String, v: &Value, plain: &str) {
    match v {
        Value::Nil => out.push_str(" null "),
        Value::Bool(_) | Value::Int(_) | Value::Uint(_) | Value::Float(_) => {
            out.push(' ');
            out.push_str(plain);
            out.push(' ');
        }
        _ => {
            let mut json = String::new();
            crate::json::write_json(&mut json, v);
            out.push_str(&json);
        }
    }
}
