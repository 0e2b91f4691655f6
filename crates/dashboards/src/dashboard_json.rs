//! The Grafana dashboard JSON model at the boundary: what a save must carry (a JSON
//! object with a non-empty `title`, at most [`MAX_DASHBOARD_BYTES`]), the uid rules, and
//! Grafana's slug of a title. The model itself (panels, targets, templating, …) is kept
//! as given: hearth stores what Grafana would store and only maintains `id`, `uid`,
//! `title` and `version`.

use serde_json::Value;

/// The largest dashboard JSON accepted (bytes of the request body or file).
pub const MAX_DASHBOARD_BYTES: usize = 10 * 1024 * 1024;

/// The longest uid Grafana allows.
pub const MAX_UID_LEN: usize = 40;

/// Why a dashboard JSON is refused; the message is what the API answers with 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DashboardJsonError {
    #[error("dashboard JSON is {0} bytes, more than the limit of {MAX_DASHBOARD_BYTES} bytes")]
    TooLarge(usize),
    #[error("bad request data: {0}")]
    Syntax(String),
    #[error("dashboard must be a JSON object")]
    NotAnObject,
    #[error("Dashboard title cannot be empty")]
    EmptyTitle,
    #[error("uid contains illegal characters")]
    UidIllegal,
    #[error("uid too long, max 40 characters")]
    UidTooLong,
    #[error("dashboard {0} must be {1}")]
    FieldType(&'static str, &'static str),
}

/// Parses a dashboard file's or body's bytes (size limit first, then syntax).
pub fn parse(bytes: &[u8]) -> Result<Value, DashboardJsonError> {
    if bytes.len() > MAX_DASHBOARD_BYTES {
        return Err(DashboardJsonError::TooLarge(bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| DashboardJsonError::Syntax(e.to_string()))
}

/// Checks what a save relies on: an object, a non-empty string `title`, a valid `uid`
/// when there is one, `tags` an array of strings, `version` and `id` numbers or null.
pub fn validate(dashboard: &Value) -> Result<(), DashboardJsonError> {
    let obj = dashboard
        .as_object()
        .ok_or(DashboardJsonError::NotAnObject)?;
    match obj.get("title") {
        Some(Value::String(t)) if !t.trim().is_empty() => {}
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(DashboardJsonError::EmptyTitle);
        }
        Some(_) => return Err(DashboardJsonError::FieldType("title", "a string")),
    }
    match obj.get("uid") {
        None | Some(Value::Null) => {}
        Some(Value::String(uid)) => validate_uid(uid)?,
        Some(_) => return Err(DashboardJsonError::FieldType("uid", "a string")),
    }
    match obj.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err(DashboardJsonError::FieldType("tags", "an array of strings")),
    }
    for field in ["id", "version"] {
        match obj.get(field) {
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(_) => return Err(DashboardJsonError::FieldType(field, "a number or null")),
        }
    }
    Ok(())
}

/// Grafana's uid rule: at most 40 characters of `[a-zA-Z0-9-_]` (empty means "generate").
pub fn validate_uid(uid: &str) -> Result<(), DashboardJsonError> {
    if uid.len() > MAX_UID_LEN {
        return Err(DashboardJsonError::UidTooLong);
    }
    if !uid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(DashboardJsonError::UidIllegal);
    }
    Ok(())
}

/// The URL slug of a title as Grafana makes it: lower case, runs of anything other than
/// letters and digits become one `-`, no leading or trailing `-`.
pub fn slugify(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut dash = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_are_grafanas() {
        assert_eq!(slugify("Production Overview"), "production-overview");
        assert_eq!(slugify("  Node  Exporter / Full! "), "node-exporter-full");
        assert_eq!(slugify("Ünïcode Dash"), "ünïcode-dash");
        assert_eq!(slugify("---"), "");
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert_eq!(validate(&json!([])), Err(DashboardJsonError::NotAnObject));
        assert_eq!(validate(&json!({})), Err(DashboardJsonError::EmptyTitle));
        assert_eq!(
            validate(&json!({"title": "  "})),
            Err(DashboardJsonError::EmptyTitle)
        );
        assert_eq!(
            validate(&json!({"title": 3})),
            Err(DashboardJsonError::FieldType("title", "a string"))
        );
        assert_eq!(
            validate(&json!({"title": "a", "uid": "a b"})),
            Err(DashboardJsonError::UidIllegal)
        );
        assert_eq!(
            validate(&json!({"title": "a", "uid": "x".repeat(41)})),
            Err(DashboardJsonError::UidTooLong)
        );
        assert_eq!(
            validate(&json!({"title": "a", "tags": ["x", 1]})),
            Err(DashboardJsonError::FieldType("tags", "an array of strings"))
        );
        assert_eq!(
            validate(&json!({"title": "a", "version": "3"})),
            Err(DashboardJsonError::FieldType("version", "a number or null"))
        );
        assert!(
            validate(&json!({"title": "a", "uid": "Ab-_9", "id": null, "tags": ["x"]})).is_ok()
        );
    }

    #[test]
    fn size_limit_comes_before_parsing() {
        let big = vec![b' '; MAX_DASHBOARD_BYTES + 1];
        assert_eq!(
            parse(&big),
            Err(DashboardJsonError::TooLarge(MAX_DASHBOARD_BYTES + 1))
        );
        assert!(matches!(parse(b"{"), Err(DashboardJsonError::Syntax(_))));
    }
}
