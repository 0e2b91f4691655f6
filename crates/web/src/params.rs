//! Request parameters as Go's `net/http` sees them, and the API's parameter parsers.
//!
//! [`Form`] holds `r.Form`: the values of an `application/x-www-form-urlencoded` body
//! (POST, PUT, PATCH) first, then the URL's query, so [`Form::value`] is Go's
//! `r.FormValue` and [`Form::values`] is `r.Form[name]`. Times are RFC 3339 or Unix
//! seconds (with upstream's special minimum and maximum), durations Prometheus
//! durations or seconds, with upstream's error texts.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use hearth_model::Matcher;

use crate::response::ApiError;

/// Largest form body read, as Go's `ParseForm` (10 MiB).
pub const MAX_FORM_BYTES: usize = 10 << 20;

/// The earliest time the API accepts and its default `start` (upstream's `MinTime`).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// The latest time the API accepts and its default `end` (upstream's `MaxTime`).
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// The parameters of a request, body values before query values.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
    /// Why the body could not be read, reported by endpoints that parse the form
    /// explicitly (`ParseForm` errors); `FormValue` users never see it.
    pub error: Option<String>,
}

impl Form {
    /// A form from a query string only.
    pub fn from_query(query: &str) -> Form {
        let mut f = Form::default();
        f.extend(query.as_bytes());
        f
    }

    fn extend(&mut self, raw: &[u8]) {
        self.pairs.extend(
            url::form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }

    /// The first value of `name`, or `""` (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The first value of `name`, if given at all.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` was given (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Form, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut form = Form::default();
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if is_form && matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            match axum::body::to_bytes(Body::new(body), MAX_FORM_BYTES + 1).await {
                Ok(b) if b.len() > MAX_FORM_BYTES => {
                    form.error = Some("http: POST too large".to_string());
                }
                Ok(b) => form.extend(&b),
                Err(e) => form.error = Some(e.to_string()),
            }
        }
        if let Some(q) = parts.uri.query() {
            form.extend(q.as_bytes());
        }
        Ok(form)
    }
}

/// Parses a time: Unix seconds (a float, rounded to the millisecond) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = hearth_model::float::parse_go_float(s)
        && t.is_finite()
    {
        let secs = t.trunc();
        let frac = ((t - secs) * 1000.0).round();
        let ms = secs * 1000.0 + frac;
        if ms >= i64::MIN as f64 && ms <= i64::MAX as f64 {
            return Ok(ms as i64);
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s)
        && s.contains('T')
    {
        return Ok(dt.timestamp_millis());
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {} to a valid timestamp", go_quote(s))),
    }
}

/// Parses the time parameter `name`, `default` when absent or empty.
pub fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = form.value(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(v).map_err(|e| {
        ApiError::invalid_param(name, &format!("Invalid time value for '{name}': {e}"))
    })
}

/// A duration in nanoseconds: seconds as a float, or a Prometheus duration (`5m`).
pub fn parse_duration_ns(s: &str) -> Result<i128, String> {
    if let Ok(d) = hearth_model::float::parse_go_float(s) {
        let ns = d * 1e9;
        if !(ns <= i64::MAX as f64 && ns >= i64::MIN as f64) {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        return Ok(ns as i128);
    }
    if let Ok(ms) = hearth_model::parse_duration(s) {
        return Ok(i128::from(ms) * 1_000_000);
    }
    Err(format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// Nanoseconds to whole milliseconds (truncating, as Go's `Duration / time.Millisecond`).
pub fn ns_to_ms(ns: i128) -> i64 {
    (ns / 1_000_000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Parses `limit`: absent is 0 (no limit); negative numbers are refused.
pub fn limit_param(form: &Form) -> Result<usize, ApiError> {
    let s = form.value("limit");
    if s.is_empty() {
        return Ok(0);
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(ApiError::invalid_param(
            "limit",
            "limit must be non-negative",
        )),
        Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Err(_) => Err(ApiError::invalid_param(
            "limit",
            &format!("strconv.Atoi: parsing {}: {}", go_quote(s), atoi_problem(s)),
        )),
    }
}

/// What Go's `strconv.Atoi` says about a string that is not an `int`.
pub fn atoi_problem(s: &str) -> &'static str {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        "value out of range"
    } else {
        "invalid syntax"
    }
}

/// Parses every `match[]` selector; each set must have a matcher that does not match
/// the empty string.
pub fn matcher_sets(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::with_capacity(values.len());
    for s in values {
        let m = hearth_promql::parse_metric_selector(s).map_err(|e| e.to_string())?;
        sets.push(m);
    }
    for set in &sets {
        if !set.iter().any(|m| !m.matches_empty()) {
            return Err("match[] must contain at least one non-empty matcher".to_string());
        }
    }
    Ok(sets)
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    hearth_model::names::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00"),
            Ok(1_435_781_451_000)
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME_MS));
        assert_eq!(
            parse_time("abc"),
            Err("cannot parse \"abc\" to a valid timestamp".to_string())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(
            parse_duration_ns("x"),
            Err("cannot parse \"x\" to a valid duration".to_string())
        );
        assert!(parse_duration_ns("1e30").unwrap_err().contains("overflows"));
    }

    #[test]
    fn form_order_and_repeats() {
        let f = Form::from_query("match%5B%5D=up&match[]=a%7Bb%3D%22c%22%7D&x=");
        assert_eq!(f.values("match[]"), ["up", "a{b=\"c\"}"]);
        assert!(f.has("x"));
        assert_eq!(f.value("nope"), "");
    }

    #[test]
    fn matchers_need_a_non_empty_one() {
        assert!(matcher_sets(&["up", "{job=\"a\"}"]).is_ok());
        assert_eq!(
            matcher_sets(&["{job=~\".*\"}"]).unwrap_err(),
            "match[] must contain at least one non-empty matcher"
        );
        assert!(matcher_sets(&["up{"]).unwrap_err().contains("parse error"));
    }
}
