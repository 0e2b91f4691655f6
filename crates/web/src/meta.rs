//! Metadata endpoints: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/targets`,
//! `/api/v1/targets/metadata`, `/api/v1/rules`, `/api/v1/alerts`,
//! `/api/v1/alertmanagers`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use hearth_model::{Labels, Matcher};
use hearth_tsdb::storage::{Querier, SelectHints, StorageError};
use serde::Serialize;

use crate::json;
use crate::params::{self, Form, MAX_TIME_MS, MIN_TIME_MS};
use crate::query::blocking;
use crate::response::{ApiError, ApiResult, ApiSuccess, ErrorType};
use crate::server::Web;
use crate::sources::{ActiveTarget, AlertStatus, DroppedTarget, RuleGroupStatus, RuleStatusJson};

const TRUNCATED: &str = "results truncated due to limit";

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Execution, e.to_string())
}

pub async fn series(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    if let Some(e) = &form.error {
        return Err(ApiError::bad_data(format!(
            "error parsing form values: {e}"
        )));
    }
    let limit = params::limit_param(&form)?;
    let matches = form.values("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = params::time_param(&form, "start", MIN_TIME_MS)?;
    let end = params::time_param(&form, "end", MAX_TIME_MS)?;
    let sets =
        params::matcher_sets(&matches).map_err(|e| ApiError::invalid_param("match[]", &e))?;
    blocking(move || {
        let q = web.storage.querier(start, end).map_err(storage_error)?;
        let hints = SelectHints {
            start,
            end,
            func: "series".to_string(),
            ..SelectHints::default()
        };
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        let mut warnings = Vec::new();
        for set in &sets {
            let ss = q.select(true, Some(&hints), set).map_err(storage_error)?;
            warnings.extend(ss.warnings);
            all.extend(ss.series.iter().map(|s| s.labels().clone()));
        }
        let mut out = String::from("[");
        for (i, l) in all.iter().enumerate() {
            if limit > 0 && i >= limit {
                warnings.push(TRUNCATED.to_string());
                break;
            }
            if i > 0 {
                out.push(',');
            }
            json::write_labels(&mut out, l);
        }
        out.push(']');
        Ok(ApiSuccess::raw(out).with_warnings(warnings))
    })
    .await
}

/// `DELETE /api/v1/series` is not implemented upstream either.
pub async fn drop_series() -> ApiResult {
    Err(ApiError::internal("not implemented"))
}

fn string_list(mut items: Vec<String>, limit: usize, mut warnings: Vec<String>) -> ApiSuccess {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push(TRUNCATED.to_string());
    }
    ApiSuccess::data(&items).with_warnings(warnings)
}

fn optional_matchers(form: &Form) -> Result<Vec<Vec<Matcher>>, ApiError> {
    params::matcher_sets(&form.values("match[]")).map_err(ApiError::bad_data)
}

/// Label names or values (`get` on a querier) over the `start`/`end` range, the union
/// over every `match[]` set (or all series), sorted, cut at `limit`.
async fn label_strings<F>(web: Arc<Web>, form: &Form, get: F) -> ApiResult
where
    F: Fn(&dyn Querier, &[Matcher]) -> Result<Vec<String>, StorageError> + Send + 'static,
{
    let limit = params::limit_param(form)?;
    let start = params::time_param(form, "start", MIN_TIME_MS)?;
    let end = params::time_param(form, "end", MAX_TIME_MS)?;
    let sets = optional_matchers(form)?;
    blocking(move || {
        let q = web.storage.querier(start, end).map_err(storage_error)?;
        let items = if sets.is_empty() {
            get(&*q, &[]).map_err(storage_error)?
        } else {
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(get(&*q, set).map_err(storage_error)?);
            }
            all.into_iter().collect()
        };
        Ok(string_list(items, limit, Vec::new()))
    })
    .await
}

pub async fn labels(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    label_strings(web, &form, |q, m| q.label_names(m)).await
}

/// Upstream's `model.UnescapeName` with value-encoding escaping: `U__` names carry
/// `__` for `_` and `_<hex>_` for any other character; anything malformed is returned
/// unchanged.
pub fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let b = escaped.as_bytes();
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'_' {
            // Copy one whole character.
            let ch_len = escaped[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&escaped[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        i += 1;
        if i >= b.len() {
            return name.to_string();
        }
        if b[i] == b'_' {
            out.push('_');
            i += 1;
            continue;
        }
        let mut v: u32 = 0;
        let mut digits = 0;
        loop {
            // At most five hex digits, as upstream counts them.
            if i >= b.len() || digits >= 6 {
                return name.to_string();
            }
            if b[i] == b'_' {
                match char::from_u32(v) {
                    Some(c) => out.push(c),
                    None => return name.to_string(),
                }
                i += 1;
                break;
            }
            let d = match (b[i] as char).to_ascii_lowercase() {
                c @ '0'..='9' => c as u32 - '0' as u32,
                c @ 'a'..='f' => c as u32 - 'a' as u32 + 10,
                _ => return name.to_string(),
            };
            v = v * 16 + d;
            digits += 1;
            i += 1;
        }
    }
    out
}

pub async fn label_values(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    form: Form,
) -> ApiResult {
    let name = unescape_name(&name);
    if !hearth_model::names::is_valid_utf8_name(&name) {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {}",
            params::go_quote(&name)
        )));
    }
    label_strings(web, &form, move |q, m| q.label_values(&name, m)).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery {
    active_targets: Vec<ActiveTarget>,
    dropped_targets: Vec<DroppedTarget>,
    dropped_target_counts: BTreeMap<String, usize>,
}

pub async fn targets(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let state = form.value("state").to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let pools: Vec<String> = form
        .values("scrapePool")
        .into_iter()
        .map(String::from)
        .collect();
    let src = web.components.targets.clone();
    blocking(move || {
        let in_pool = |p: &str| pools.is_empty() || pools.iter().any(|x| x == p);
        let mut res = TargetDiscovery {
            active_targets: Vec::new(),
            dropped_targets: Vec::new(),
            dropped_target_counts: BTreeMap::new(),
        };
        if show_active {
            res.active_targets = src
                .active()
                .into_iter()
                .filter(|t| in_pool(&t.scrape_pool))
                .collect();
        }
        if show_dropped {
            res.dropped_targets = src
                .dropped()
                .into_iter()
                .filter(|t| in_pool(&t.scrape_pool))
                .collect();
            res.dropped_target_counts = src
                .dropped_counts()
                .into_iter()
                .filter(|(p, _)| in_pool(p))
                .collect();
        }
        Ok(ApiSuccess::data(&res))
    })
    .await
}

fn number_param(form: &Form, name: &str) -> Result<i64, ApiError> {
    let s = form.value(name);
    if s.is_empty() {
        return Ok(-1);
    }
    s.parse::<i64>()
        .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
}

#[derive(Serialize)]
struct TargetMetadataOut {
    #[serde(serialize_with = "json::serialize_labels")]
    target: Labels,
    #[serde(skip_serializing_if = "String::is_empty")]
    metric: String,
    #[serde(rename = "type")]
    typ: &'static str,
    help: String,
    unit: String,
}

pub async fn targets_metadata(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let limit = number_param(&form, "limit")?;
    let match_target = form.value("match_target").to_string();
    let matchers = if match_target.is_empty() {
        Vec::new()
    } else {
        hearth_promql::parse_metric_selector(&match_target)
            .map_err(|e| ApiError::invalid_param("match_target", &e.to_string()))?
    };
    let metric = form.value("metric").to_string();
    let src = web.components.targets.clone();
    blocking(move || {
        let mut out = Vec::new();
        let filter = (!metric.is_empty()).then_some(metric.as_str());
        'targets: for (target, entries) in src.metadata(filter) {
            if !hearth_model::matches_all(&target, &matchers) {
                continue;
            }
            for m in entries {
                if limit >= 0 && out.len() as i64 >= limit {
                    break 'targets;
                }
                out.push(TargetMetadataOut {
                    target: target.clone(),
                    metric: if metric.is_empty() {
                        m.metric
                    } else {
                        String::new()
                    },
                    typ: m.metric_type.as_str(),
                    help: m.help,
                    unit: m.unit,
                });
            }
        }
        Ok(ApiSuccess::data(&out))
    })
    .await
}

#[derive(Serialize, PartialEq, Eq, Clone)]
struct MetadataOut {
    #[serde(rename = "type")]
    typ: &'static str,
    help: String,
    unit: String,
}

pub async fn metadata(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let limit = number_param(&form, "limit")?;
    let limit_per_metric = number_param(&form, "limit_per_metric")?;
    let metric = form.value("metric").to_string();
    let src = web.components.targets.clone();
    blocking(move || {
        let filter = (!metric.is_empty()).then_some(metric.as_str());
        let mut by_metric: BTreeMap<String, Vec<MetadataOut>> = BTreeMap::new();
        for (_, entries) in src.metadata(filter) {
            for m in entries {
                let list = by_metric.entry(m.metric).or_default();
                let md = MetadataOut {
                    typ: m.metric_type.as_str(),
                    help: m.help,
                    unit: m.unit,
                };
                if limit_per_metric > 0 && list.len() as i64 >= limit_per_metric {
                    continue;
                }
                if !list.contains(&md) {
                    list.push(md);
                }
            }
        }
        if limit >= 0 {
            let keep = usize::try_from(limit).unwrap_or(0);
            by_metric = by_metric.into_iter().take(keep).collect();
        }
        Ok(ApiSuccess::data(&by_metric))
    })
    .await
}

/// Upstream's `getRuleGroupNextToken`: the hex SHA-1 of `file;name`.
fn group_next_token(file: &str, name: &str) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(format!("{file};{name}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `group_limit` and `group_next_token` (upstream's `parseListRulesPaginationRequest`):
/// no limit is `None`.
fn rules_pagination(form: &Form) -> Result<Option<(usize, String)>, ApiError> {
    let limit = form.value("group_limit");
    let token = form.value("group_next_token");
    if !token.is_empty() && limit.is_empty() {
        return Err(ApiError::invalid_param(
            "group_next_token",
            "group_limit needs to be present in order to paginate over the groups",
        ));
    }
    if limit.is_empty() {
        return Ok(None);
    }
    let n: i64 = match limit.parse::<i32>() {
        Ok(n) => i64::from(n),
        Err(_) => {
            let why = if limit.parse::<i64>().is_ok() || limit.parse::<u64>().is_ok() {
                "value out of range"
            } else {
                "invalid syntax"
            };
            return Err(ApiError::invalid_param(
                "group_limit",
                &format!(
                    "group_limit needs to be a valid number: strconv.ParseInt: parsing {}: {why}",
                    params::go_quote(limit)
                ),
            ));
        }
    };
    if n <= 0 {
        return Err(ApiError::invalid_param(
            "group_limit",
            "group_limit needs to be greater than 0",
        ));
    }
    Ok(Some((
        usize::try_from(n).unwrap_or(usize::MAX),
        token.to_string(),
    )))
}

#[derive(Serialize)]
struct RuleDiscovery {
    groups: Vec<RuleGroupStatus>,
    #[serde(rename = "groupNextToken", skip_serializing_if = "String::is_empty")]
    group_next_token: String,
}

pub async fn rules(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    if let Some(e) = &form.error {
        return Err(ApiError::bad_data(format!(
            "error parsing form values: {e}"
        )));
    }
    let matches = form.values("match[]");
    let matcher_sets = if matches.is_empty() {
        Vec::new()
    } else {
        params::matcher_sets(&matches).map_err(ApiError::bad_data)?
    };
    let typ = form.value("type").to_ascii_lowercase();
    if !matches!(typ.as_str(), "" | "alert" | "record") {
        return Err(ApiError::invalid_param(
            "type",
            &format!("not supported value {}", params::go_quote(&typ)),
        ));
    }
    let exclude_alerts = match form.value("exclude_alerts").to_ascii_lowercase().as_str() {
        "" => false,
        s => parse_go_bool(s).ok_or_else(|| {
            ApiError::invalid_param(
                "exclude_alerts",
                &format!(
                    "error converting exclude_alerts: strconv.ParseBool: parsing {}: invalid syntax",
                    params::go_quote(s)
                ),
            )
        })?,
    };
    let pagination = rules_pagination(&form)?;
    let names: Vec<String> = form
        .values("rule_name[]")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let group_names: Vec<String> = form
        .values("rule_group[]")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let files: Vec<String> = form
        .values("file[]")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let src = web.components.rules.clone();
    // Reading the groups waits for a group that is evaluating.
    blocking(move || {
        let mut groups = Vec::new();
        let mut next_token = String::new();
        let mut found_token = false;
        for mut g in src.groups() {
            if let Some((_, token)) = &pagination
                && !token.is_empty()
                && !found_token
            {
                if *token != group_next_token(&g.file, &g.name) {
                    continue;
                }
                found_token = true;
            }
            if !group_names.is_empty() && !group_names.contains(&g.name) {
                continue;
            }
            if !files.is_empty() && !files.contains(&g.file) {
                continue;
            }
            g.rules.retain_mut(|r| {
                if !matcher_sets.is_empty()
                    && !matcher_sets.iter().any(|set| {
                        set.iter()
                            .all(|m| m.matches(r.labels().get_or_empty(&m.name)))
                    })
                {
                    return false;
                }
                if !names.is_empty() && !names.iter().any(|n| n == r.name()) {
                    return false;
                }
                match r {
                    RuleStatusJson::Alerting(a) => {
                        if exclude_alerts {
                            a.alerts = None;
                        }
                        typ != "record"
                    }
                    RuleStatusJson::Recording(_) => typ != "alert",
                }
            });
            // Groups left without rules (filtered out, or empty) are left out.
            if g.rules.is_empty() {
                continue;
            }
            if let Some((limit, _)) = &pagination
                && groups.len() == *limit
            {
                next_token = group_next_token(&g.file, &g.name);
                break;
            }
            groups.push(g);
        }
        if let Some((_, token)) = &pagination
            && !token.is_empty()
            && !found_token
        {
            return Err(ApiError::invalid_param(
                "group_next_token",
                &format!("invalid group_next_token '{token}'. were rule groups changed?"),
            ));
        }
        Ok(ApiSuccess::data(&RuleDiscovery {
            groups,
            group_next_token: next_token,
        }))
    })
    .await
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[derive(Serialize)]
struct AlertDiscovery {
    alerts: Vec<AlertStatus>,
}

pub async fn alerts(State(web): State<Arc<Web>>) -> ApiResult {
    let src = web.components.rules.clone();
    blocking(move || {
        let mut alerts = Vec::new();
        for g in src.groups() {
            for r in g.rules {
                if let RuleStatusJson::Alerting(a) = r {
                    alerts.extend(a.alerts.unwrap_or_default());
                }
            }
        }
        Ok(ApiSuccess::data(&AlertDiscovery { alerts }))
    })
    .await
}

#[derive(Serialize)]
struct AlertmanagerTarget {
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerDiscovery {
    active_alertmanagers: Vec<AlertmanagerTarget>,
    dropped_alertmanagers: Vec<AlertmanagerTarget>,
}

pub async fn alertmanagers(State(web): State<Arc<Web>>) -> ApiResult {
    let src = &web.components.alertmanagers;
    let wrap = |v: Vec<String>| {
        v.into_iter()
            .map(|url| AlertmanagerTarget { url })
            .collect()
    };
    Ok(ApiSuccess::data(&AlertmanagerDiscovery {
        active_alertmanagers: wrap(src.active()),
        dropped_alertmanagers: wrap(src.dropped()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_like_upstream() {
        assert_eq!(unescape_name("U__foo_2e_bar"), "foo.bar");
        assert_eq!(unescape_name("U__a__b"), "a_b");
        assert_eq!(unescape_name("U__caf_e9_"), "café");
        assert_eq!(unescape_name("U___1f525_"), "🔥");
        assert_eq!(unescape_name("plain_name"), "plain_name");
        // Malformed escapes leave the name as it was.
        assert_eq!(unescape_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_name("U__open_2e"), "U__open_2e");
        assert_eq!(unescape_name("U__x_"), "U__x_");
    }
}
