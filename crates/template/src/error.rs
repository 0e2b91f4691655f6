//! Template errors. Messages are Go's text, so they read as upstream's do.

/// An error from parsing or executing a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `template: NAME:LINE: message`.
    #[error("{0}")]
    Parse(String),
    /// `template: NAME:LINE:COL: executing "NAME" at <node>: message`.
    #[error("{0}")]
    Exec(String),
    /// A size, depth or step limit stopped execution.
    #[error("{0}")]
    Limit(String),
}

impl TemplateError {
    pub fn message(&self) -> &str {
        match self {
            TemplateError::Parse(m) | TemplateError::Exec(m) | TemplateError::Limit(m) => m,
        }
    }
}
