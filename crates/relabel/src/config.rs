//! One `relabel_configs` entry: fields, defaults, validation and its YAML form.

use std::fmt;
use std::sync::{Arc, LazyLock};

use hearth_model::{FastRegex, ValidationScheme, compile_anchored_with_captures};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

/// What a relabel rule does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action case-insensitively, as upstream does.
    pub fn parse(s: &str) -> Result<Action, RelabelError> {
        Ok(match s.to_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(RelabelError::UnknownAction(s.to_string())),
        })
    }

    /// Actions that write `target_label`.
    fn needs_target_label(self) -> bool {
        matches!(
            self,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relabel configuration that upstream would reject, worded as upstream words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error("unknown relabel action {0:?}")]
    UnknownAction(String),
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{0:?} is invalid 'target_label' for {1} action")]
    InvalidTargetLabel(String, Action),
    #[error("{0:?} is invalid 'replacement' for {1} action")]
    InvalidReplacement(String, Action),
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
    #[error("{0}")]
    Regex(#[from] hearth_model::RegexError),
}

pub const DEFAULT_SEPARATOR: &str = ";";
pub const DEFAULT_REGEX: &str = "(.*)";
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// An anchored relabel regex: a fast matcher for keep/drop/labelkeep/labeldrop and the
/// engine with capture groups for replace/labelmap.
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    matcher: Arc<FastRegex>,
    captures: Arc<regex::Regex>,
    group_names: Arc<[Option<String>]>,
}

#[allow(clippy::expect_used)] // A constant pattern that always compiles.
static DEFAULT_RELABEL_REGEX: LazyLock<RelabelRegex> =
    LazyLock::new(|| RelabelRegex::new(DEFAULT_REGEX).expect("(.*) compiles"));

impl RelabelRegex {
    pub fn new(pattern: &str) -> Result<RelabelRegex, RelabelError> {
        let matcher = FastRegex::cached(pattern)?;
        let captures = compile_anchored_with_captures(pattern)?;
        let group_names = captures
            .capture_names()
            .map(|n| n.map(str::to_string))
            .collect();
        Ok(RelabelRegex {
            source: pattern.to_string(),
            matcher,
            captures: Arc::new(captures),
            group_names,
        })
    }

    /// `(.*)`, shared by every rule that does not set `regex`.
    pub fn default_regex() -> RelabelRegex {
        DEFAULT_RELABEL_REGEX.clone()
    }

    /// The pattern as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }

    pub(crate) fn captures<'h>(&self, s: &'h str) -> Option<regex::Captures<'h>> {
        self.captures.captures(s)
    }

    /// Expands `template` with the groups of `caps` into `dst` (Go's `Regexp.Expand`).
    pub(crate) fn expand(&self, dst: &mut String, template: &str, caps: &regex::Captures<'_>) {
        let names: Vec<Option<&str>> = self.group_names.iter().map(|n| n.as_deref()).collect();
        crate::expand_go_template(dst, template, caps, &names);
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for RelabelRegex {}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelabelRegex({:?})", self.source)
    }
}

/// One relabeling rule, as written under `relabel_configs`, `metric_relabel_configs`,
/// `alert_relabel_configs` or `write_relabel_configs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator`; `None` when the key is absent
    /// (labelkeep/labeldrop reject even an empty list, as upstream).
    pub source_labels: Option<Vec<String>>,
    pub separator: String,
    pub regex: RelabelRegex,
    /// Whether `regex` was written in the file: upstream prints it back only then, and
    /// keepequal/dropequal reject any explicit regex.
    pub regex_set: bool,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
    /// The name validation scheme of the surrounding scrape config; `None` until the
    /// configuration layer sets it (UTF-8 is then assumed).
    pub name_validation_scheme: Option<ValidationScheme>,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: None,
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: RelabelRegex::default_regex(),
            regex_set: false,
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
            name_validation_scheme: None,
        }
    }
}

impl RelabelConfig {
    /// The scheme in force for this rule: its own if set, else `fallback`.
    pub fn scheme_or(&self, fallback: ValidationScheme) -> ValidationScheme {
        self.name_validation_scheme.unwrap_or(fallback)
    }

    /// Checks the rule as upstream's `Config.Validate(scheme)` does. The rule's own
    /// `name_validation_scheme`, when set, wins over `scheme`.
    pub fn validate(&self, scheme: ValidationScheme) -> Result<(), RelabelError> {
        let scheme = self.scheme_or(scheme);
        let action = self.action;
        let target = self.target_label.as_str();
        if self.modulus == 0 && action == Action::HashMod {
            return Err(RelabelError::ZeroModulus);
        }
        if action.needs_target_label() && target.is_empty() {
            return Err(RelabelError::MissingTargetLabel(action));
        }
        let invalid_target = || RelabelError::InvalidTargetLabel(target.to_string(), action);
        if action == Action::Replace {
            let valid = if target.contains('$') {
                is_valid_name_with_regex_vars(target, scheme)
            } else {
                scheme.is_valid_label_name(target)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let case_or_equal = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if case_or_equal && !scheme.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if case_or_equal && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == Action::LabelMap && !is_valid_name_with_regex_vars(&self.replacement, scheme) {
            return Err(RelabelError::InvalidReplacement(
                self.replacement.clone(),
                action,
            ));
        }
        if action == Action::HashMod && !scheme.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (self.regex_set
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlySourceAndTarget(action));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (self.source_labels.is_some()
                || !target.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(())
    }
}

/// A label name that may contain `$1`/`${name}` references. Under UTF-8 validation any
/// non-empty string will do; legacy validation uses upstream's `relabelTargetLegacy`
/// pattern `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`.
fn is_valid_name_with_regex_vars(s: &str, scheme: ValidationScheme) -> bool {
    match scheme {
        ValidationScheme::Utf8 => scheme.is_valid_label_name(s),
        ValidationScheme::Legacy => is_legacy_name_with_regex_vars(s),
    }
}

/// The language of `relabelTargetLegacy` is: a non-empty sequence of units, each a letter,
/// `_`, `$word` or `${word}`, where word characters may follow any unit. Equivalently
/// the string is non-empty, starts with a letter, `_` or `$`, and every `$` opens a
/// well-formed reference.
fn is_legacy_name_with_regex_vars(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    match b.first() {
        Some(&c) if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {}
        _ => return false,
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' => {
                if b.get(i + 1) == Some(&b'{') {
                    let start = i + 2;
                    let mut j = start;
                    while j < b.len() && word(b[j]) {
                        j += 1;
                    }
                    if j == start || b.get(j) != Some(&b'}') {
                        return false;
                    }
                    i = j + 1;
                } else {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && word(b[j]) {
                        j += 1;
                    }
                    if j == start {
                        return false;
                    }
                    i = j;
                }
            }
            c if word(c) => i += 1,
            _ => return false,
        }
    }
    true
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("RelabelConfig", FIELDS, RelabelConfigVisitor)
    }
}

const FIELDS: &[&str] = &[
    "source_labels",
    "separator",
    "regex",
    "modulus",
    "target_label",
    "replacement",
    "action",
];

struct RelabelConfigVisitor;

impl<'de> Visitor<'de> for RelabelConfigVisitor {
    type Value = RelabelConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relabel config mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RelabelConfig, A::Error> {
        let mut c = RelabelConfig::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "source_labels" => {
                    c.source_labels =
                        Some(map.next_value::<Option<Vec<String>>>()?.unwrap_or_default())
                }
                "separator" => {
                    c.separator = map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "regex" => {
                    // `regex:` with no value is the empty regex, as upstream.
                    let pattern = map.next_value::<Option<String>>()?.unwrap_or_default();
                    c.regex = RelabelRegex::new(&pattern).map_err(de::Error::custom)?;
                    c.regex_set = true;
                }
                "modulus" => c.modulus = map.next_value()?,
                "target_label" => {
                    c.target_label = map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "replacement" => {
                    c.replacement = map.next_value::<Option<String>>()?.unwrap_or_default()
                }
                "action" => {
                    let s: String = map.next_value()?;
                    c.action = Action::parse(&s).map_err(de::Error::custom)?;
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        // UTF-8 is the most permissive scheme: what fails here fails under any scheme.
        // Legacy-only failures are found when the scrape config applies its scheme.
        c.validate(ValidationScheme::Utf8)
            .map_err(de::Error::custom)?;
        Ok(c)
    }
}

impl Serialize for RelabelConfig {
    /// Upstream's YAML shape: empty fields and the implicit default regex are omitted.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RelabelConfig", 7)?;
        match &self.source_labels {
            // Flow style (`[a, b]`), as upstream's `yaml:",flow"`.
            Some(v) if !v.is_empty() => {
                s.serialize_field("source_labels", &serde_saphyr::FlowSeq(v))?
            }
            _ => s.skip_field("source_labels")?,
        }
        if !self.separator.is_empty() {
            s.serialize_field("separator", &self.separator)?;
        }
        if self.regex_set {
            s.serialize_field("regex", self.regex.as_str())?;
        }
        if self.modulus != 0 {
            s.serialize_field("modulus", &self.modulus)?;
        }
        if !self.target_label.is_empty() {
            s.serialize_field("target_label", &self.target_label)?;
        }
        if !self.replacement.is_empty() {
            s.serialize_field("replacement", &self.replacement)?;
        }
        s.serialize_field("action", self.action.as_str())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_target_validity() {
        // Upstream's TestTargetLabelLegacyValidity.
        for (s, valid) in [
            ("-label", false),
            ("label", true),
            ("label${1}", true),
            ("${1}label", true),
            ("${1}", true),
            ("${", false),
            ("$", false),
            ("${}", false),
            ("foo${", false),
            ("$1", true),
            ("asd$2asd", true),
            ("-foo${1}bar-", false),
            ("bar.foo${1}bar", false),
            ("_${1}_", true),
            ("foo${bar}foo", true),
        ] {
            assert_eq!(is_legacy_name_with_regex_vars(s), valid, "{s}");
        }
    }
}
