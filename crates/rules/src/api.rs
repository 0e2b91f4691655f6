//! The data of `/api/v1/rules` and `/api/v1/alerts` as plain serde structs with
//! upstream's JSON field names; the web crate wraps them in the API envelope.

use hearth_model::Labels;
use serde::{Serialize, Serializer};

use crate::group::Group;
use crate::notifier::{format_time, labels_map, opt_time};
use crate::rule::{Alert, Rule, RuleStatus};

/// `data` of `/api/v1/rules`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDiscovery {
    pub groups: Vec<RuleGroupStatus>,
    /// With `group_limit`: where the next page starts (absent on the last page).
    #[serde(rename = "groupNextToken", skip_serializing_if = "String::is_empty")]
    pub group_next_token: String,
}

/// One group.
#[derive(Debug, Clone, Serialize)]
pub struct RuleGroupStatus {
    pub name: String,
    pub file: String,
    pub rules: Vec<RuleStatusJson>,
    /// Seconds.
    pub interval: f64,
    pub limit: usize,
    #[serde(rename = "evaluationTime")]
    pub evaluation_time: f64,
    #[serde(rename = "lastEvaluation", serialize_with = "time_or_zero")]
    pub last_evaluation_ms: Option<i64>,
}

/// A recording or alerting rule (`type` tells which).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RuleStatusJson {
    Alerting(AlertingRuleStatus),
    Recording(RecordingRuleStatus),
}

impl RuleStatusJson {
    pub fn name(&self) -> &str {
        match self {
            RuleStatusJson::Alerting(r) => &r.name,
            RuleStatusJson::Recording(r) => &r.name,
        }
    }

    /// The rule's labels (group labels merged in), what `match[]` selects on.
    pub fn labels(&self) -> &Labels {
        match self {
            RuleStatusJson::Alerting(r) => &r.labels,
            RuleStatusJson::Recording(r) => &r.labels,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertingRuleStatus {
    pub state: String,
    pub name: String,
    pub query: String,
    /// `for`, seconds.
    pub duration: f64,
    #[serde(rename = "keepFiringFor")]
    pub keep_firing_for: f64,
    #[serde(serialize_with = "labels_map")]
    pub labels: Labels,
    #[serde(serialize_with = "labels_map")]
    pub annotations: Labels,
    /// `null` when `exclude_alerts` asked for none, as upstream.
    pub alerts: Option<Vec<AlertStatus>>,
    #[serde(flatten)]
    pub eval: EvalStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingRuleStatus {
    pub name: String,
    pub query: String,
    #[serde(
        serialize_with = "labels_map",
        skip_serializing_if = "Labels::is_empty"
    )]
    pub labels: Labels,
    #[serde(flatten)]
    pub eval: EvalStatus,
}

/// The evaluation fields every rule has (they come last, as upstream orders them).
#[derive(Debug, Clone, Serialize)]
pub struct EvalStatus {
    pub health: String,
    #[serde(rename = "lastError", skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    #[serde(rename = "evaluationTime")]
    pub evaluation_time: f64,
    #[serde(rename = "lastEvaluation", serialize_with = "time_or_zero")]
    pub last_evaluation_ms: Option<i64>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl EvalStatus {
    fn new(s: &RuleStatus, kind: &'static str) -> EvalStatus {
        EvalStatus {
            health: s.health.as_str().to_string(),
            last_error: s.last_error.clone().unwrap_or_default(),
            evaluation_time: s.evaluation_seconds,
            last_evaluation_ms: s.last_evaluation_ms,
            kind,
        }
    }
}

/// `data` of `/api/v1/alerts`.
#[derive(Debug, Clone, Serialize)]
pub struct AlertDiscovery {
    pub alerts: Vec<AlertStatus>,
}

/// One active (pending or firing) alert.
#[derive(Debug, Clone, Serialize)]
pub struct AlertStatus {
    #[serde(serialize_with = "labels_map")]
    pub labels: Labels,
    #[serde(serialize_with = "labels_map")]
    pub annotations: Labels,
    pub state: String,
    #[serde(
        rename = "activeAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_at_ms: Option<i64>,
    #[serde(
        rename = "keepFiringSince",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_firing_since_ms: Option<i64>,
    /// `strconv.FormatFloat(v, 'e', -1, 64)`.
    pub value: String,
}

impl AlertStatus {
    pub fn from_alert(a: &Alert) -> AlertStatus {
        AlertStatus {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            state: a.state.as_str().to_string(),
            active_at_ms: Some(a.active_at),
            keep_firing_since_ms: a.keep_firing_since,
            value: format_e(a.value),
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits, exponent with a sign
/// and at least two digits.
pub fn format_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.unsigned_abs())
}

fn time_or_zero<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(ms) => s.serialize_str(&format_time(*ms)),
        None => s.serialize_str("0001-01-01T00:00:00Z"),
    }
}

/// The expression as upstream prints it (`rule.Query().String()`).
fn query_string(expr: &str) -> String {
    match hearth_promql::parse_expr(expr, &hearth_promql::ParserOptions::default()) {
        Ok(e) => e.to_string(),
        Err(_) => expr.to_string(),
    }
}

impl RuleGroupStatus {
    pub fn from_group(g: &Group) -> RuleGroupStatus {
        let rules = g
            .rules
            .iter()
            .map(|r| {
                let kind = match r {
                    Rule::Alerting(_) => "alerting",
                    Rule::Recording(_) => "recording",
                };
                let eval = EvalStatus::new(r.status(), kind);
                match r {
                    Rule::Alerting(a) => RuleStatusJson::Alerting(AlertingRuleStatus {
                        state: a.state().as_str().to_string(),
                        name: a.name.clone(),
                        query: query_string(&a.expr),
                        duration: a.hold_ms as f64 / 1000.0,
                        keep_firing_for: a.keep_firing_for_ms as f64 / 1000.0,
                        labels: a.labels.clone(),
                        annotations: a.annotations.clone(),
                        alerts: Some(
                            a.active_alerts()
                                .into_iter()
                                .map(AlertStatus::from_alert)
                                .collect(),
                        ),
                        eval,
                    }),
                    Rule::Recording(rr) => RuleStatusJson::Recording(RecordingRuleStatus {
                        name: rr.name.clone(),
                        query: query_string(&rr.expr),
                        labels: rr.labels.clone(),
                        eval,
                    }),
                }
            })
            .collect();
        RuleGroupStatus {
            name: g.name.clone(),
            file: g.file.clone(),
            rules,
            interval: g.interval_ms as f64 / 1000.0,
            limit: g.limit,
            evaluation_time: g.evaluation_seconds,
            last_evaluation_ms: g.last_evaluation_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_e_format() {
        assert_eq!(format_e(0.0), "0e+00");
        assert_eq!(format_e(1.5), "1.5e+00");
        assert_eq!(format_e(-0.00012), "-1.2e-04");
        assert_eq!(format_e(1e100), "1e+100");
        assert_eq!(format_e(f64::INFINITY), "+Inf");
    }
}
