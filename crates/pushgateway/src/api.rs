//! The JSON API (`/api/v1/metrics`, `/api/v1/status`) in upstream's shapes: every
//! response is `{"status":"success","data":…}`; object keys come sorted, as Go's
//! `encoding/json` writes maps; numbers travel as strings formatted like Go's
//! `fmt.Sprint`; times are RFC 3339 with nanoseconds.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_exposition::proto;
use hearth_exposition::proto_families::metric_value;
use hearth_model::civil_from_days;
use hearth_model::float::format_go_g;
use serde_json::{Map, Value, json};

use crate::config::PushgatewayConfig;
use crate::consistency::type_name;
use crate::store::MetricGroup;

fn sorted(m: BTreeMap<String, Value>) -> Value {
    Value::Object(m.into_iter().collect::<Map<String, Value>>())
}

fn string_map<'a>(pairs: impl Iterator<Item = (String, &'a str)>) -> Value {
    sorted(
        pairs
            .map(|(k, v)| (k, Value::String(v.to_string())))
            .collect(),
    )
}

/// Wraps data as a successful response.
pub fn success(data: Value) -> Value {
    json!({"status": "success", "data": data})
}

/// `/api/v1/metrics`: one object per group with its labels, whether its last push
/// succeeded, and each family under its name.
pub fn metrics(groups: &[MetricGroup]) -> Value {
    let list = groups
        .iter()
        .map(|g| {
            let mut obj = BTreeMap::new();
            obj.insert(
                "labels".to_string(),
                string_map(g.key.labels().iter().map(|(n, v)| (n.clone(), v.as_str()))),
            );
            obj.insert(
                "last_push_successful".to_string(),
                Value::Bool(g.last_push_successful()),
            );
            for (name, tf) in &g.families {
                let f = &tf.family;
                let mut fam = BTreeMap::new();
                fam.insert(
                    "time_stamp".into(),
                    Value::String(rfc3339_nano(tf.timestamp)),
                );
                fam.insert("type".into(), Value::String(type_name(f.r#type)));
                if !f.help.is_empty() {
                    fam.insert("help".into(), Value::String(f.help.clone()));
                }
                fam.insert(
                    "metrics".into(),
                    Value::Array(f.metric.iter().map(|m| metric(m, f.r#type)).collect()),
                );
                obj.insert(name.clone(), sorted(fam));
            }
            sorted(obj)
        })
        .collect();
    success(Value::Array(list))
}

/// Upstream's `makeEncodableMetrics` for one metric.
fn metric(m: &proto::Metric, t: i32) -> Value {
    let mut obj = BTreeMap::new();
    obj.insert(
        "labels".to_string(),
        string_map(m.label.iter().map(|l| (l.name.clone(), l.value.as_str()))),
    );
    let s = |v: f64| Value::String(format_go_g(v));
    if t == proto::MetricType::Summary as i32 {
        let summary = m.summary.clone().unwrap_or_default();
        let q: BTreeMap<String, Value> = summary
            .quantile
            .iter()
            .map(|q| (format_go_g(q.quantile), s(q.value)))
            .collect();
        obj.insert("quantiles".into(), sorted(q));
        obj.insert(
            "count".into(),
            Value::String(summary.sample_count.to_string()),
        );
        obj.insert("sum".into(), s(summary.sample_sum));
    } else if t == proto::MetricType::Histogram as i32 {
        let h = m.histogram.clone().unwrap_or_default();
        let b: BTreeMap<String, Value> = h
            .bucket
            .iter()
            .map(|b| {
                (
                    format_go_g(b.upper_bound),
                    Value::String(b.cumulative_count.to_string()),
                )
            })
            .collect();
        obj.insert("buckets".into(), sorted(b));
        obj.insert("count".into(), Value::String(h.sample_count.to_string()));
        obj.insert("sum".into(), s(h.sample_sum));
    } else {
        obj.insert("value".into(), s(metric_value(m)));
    }
    sorted(obj)
}

/// `/api/v1/status`: flags, start time, build information.
pub fn status(config: &PushgatewayConfig, start_time: SystemTime) -> Value {
    let b = &config.build;
    let build: BTreeMap<String, Value> = [
        ("branch", &b.branch),
        ("buildDate", &b.build_date),
        ("buildUser", &b.build_user),
        ("goVersion", &b.toolchain),
        ("revision", &b.revision),
        ("version", &b.version),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
    .collect();
    let flags: BTreeMap<String, Value> = config
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut data = BTreeMap::new();
    data.insert("build_information".to_string(), sorted(build));
    data.insert("flags".to_string(), sorted(flags));
    data.insert(
        "start_time".to_string(),
        Value::String(rfc3339_nano(start_time)),
    );
    success(sorted(data))
}

/// Go's `time.RFC3339Nano` in UTC: `2020-03-11T02:02:27.716605811Z`, trailing zeros of
/// the fraction dropped.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times() {
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(1_583_872_347, 716_605_811)),
            "2020-03-10T20:32:27.716605811Z"
        );
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 500_000_000)),
            "2000-02-29T00:00:00.5Z"
        );
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH - Duration::from_secs(62_135_596_800)),
            "0001-01-01T00:00:00Z"
        );
    }
}
