//! Configuration errors: always the file, and the line and column where known, in the
//! `file:line:column: message` form editors jump to.

use std::fmt;

/// A configuration file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column of the offending key or entry.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: &str,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            position,
            message: message.into(),
        }
    }

    /// Wraps a YAML error, rewording serde's unknown-field message.
    pub fn from_yaml(file: &str, err: &serde_saphyr::Error) -> ConfigError {
        let message = hearth_discovery::file::yaml_message(err);
        let position = err
            .location()
            .map(|l| (l.line() as usize, l.column() as usize));
        ConfigError::new(file, position, reword_unknown_field(&message))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `unknown field `scrap_interval`, expected one of a, b` becomes
/// `field "scrap_interval" not found; did you mean "scrape_interval"?` (or the list of
/// valid fields when nothing is close).
pub fn reword_unknown_field(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, rest)) = rest.split_once('`') else {
        return message.to_string();
    };
    let expected: Vec<&str> = if let Some(list) = rest.strip_prefix(", expected one of ") {
        list.split(", ").map(|s| s.trim_matches('`')).collect()
    } else if let Some(one) = rest.strip_prefix(", expected ") {
        vec![one.trim_matches('`')]
    } else {
        Vec::new()
    };
    let best = expected
        .iter()
        .map(|e| (edit_distance(field, e), *e))
        .filter(|(d, e)| *d <= 3.max(e.len() / 4))
        .min();
    match best {
        Some((_, e)) => format!("field {field:?} not found; did you mean {e:?}?"),
        None if expected.is_empty() => format!("field {field:?} not found"),
        None => format!(
            "field {field:?} not found; expected one of: {}",
            expected.join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewording() {
        assert_eq!(
            reword_unknown_field(
                "unknown field `scrap_interval`, expected one of job_name, scrape_interval"
            ),
            r#"field "scrap_interval" not found; did you mean "scrape_interval"?"#
        );
        assert_eq!(
            reword_unknown_field("unknown field `zzz`, expected one of job_name, scrape_interval"),
            r#"field "zzz" not found; expected one of: job_name, scrape_interval"#
        );
        assert_eq!(reword_unknown_field("other"), "other");
    }
}
