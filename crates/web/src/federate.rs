//! `/federate`: the latest sample (within the lookback delta) of every series matching
//! any `match[]`, as upstream's `web/federate.go` writes it: one untyped family per
//! metric name in name order, the series' labels and then the external labels it does
//! not have (and `instance=""` when neither has one), the sample's timestamp; stale
//! markers dropped. Text format 0.0.4, or delimited protobuf when the client asks for it
//! (the only format that carries native histograms; text leaves them out).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_exposition::proto;
use hearth_model::{CounterResetHint, FloatHistogram, Labels, is_stale_nan};
use hearth_tsdb::storage::{SelectHints, ValueType};

use crate::params::Form;
use crate::server::Web;

const PROTO_DELIMITED: &str = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores";

/// Whether the client asks for delimited protobuf (expfmt's `Negotiate`).
fn wants_protobuf(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for part in accept.split(',') {
        let mut it = part.split(';').map(str::trim);
        let media = it.next().unwrap_or("");
        if media != "application/vnd.google.protobuf" {
            continue;
        }
        let mut proto_ok = false;
        let mut encoding = "";
        for p in it {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "proto" => proto_ok = v.trim() == "io.prometheus.client.MetricFamily",
                    "encoding" => encoding = v.trim(),
                    _ => {}
                }
            }
        }
        if proto_ok && encoding == "delimited" {
            return true;
        }
    }
    false
}

enum Point {
    Float(f64),
    Histogram(Box<FloatHistogram>),
}

struct FedSample {
    labels: Labels,
    t: i64,
    point: Point,
}

pub async fn federate(State(web): State<Arc<Web>>, headers: HeaderMap, form: Form) -> Response {
    if let Some(e) = &form.error {
        return (
            StatusCode::BAD_REQUEST,
            format!("error parsing form values: {e}\n"),
        )
            .into_response();
    }
    let mut sets = Vec::new();
    for m in form.values("match[]") {
        match hearth_promql::parse_metric_selector(m) {
            Ok(s) => sets.push(s),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        }
    }
    let protobuf = wants_protobuf(&headers);
    let external = web.current_config().global.external_labels.0.clone();
    let maxt = hearth_model::sample::now_ms();
    let mint = maxt - web.opts.lookback_delta_ms;
    let storage = web
        .components
        .local_storage
        .clone()
        .unwrap_or_else(|| web.storage.clone());
    let res = tokio::task::spawn_blocking(move || {
        let samples = latest_samples(&*storage, &sets, mint, maxt)?;
        Ok::<_, String>(encode(samples, &external, protobuf))
    })
    .await;
    let body = match res {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::error!("federation failed: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let mut r = body.into_response();
    let ct = if protobuf {
        PROTO_DELIMITED
    } else {
        hearth_exposition::encode::TEXT_CONTENT_TYPE
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn latest_samples(
    storage: &dyn hearth_tsdb::storage::Queryable,
    sets: &[Vec<hearth_model::Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<Vec<FedSample>, String> {
    let q = storage.querier(mint, maxt).map_err(|e| e.to_string())?;
    let hints = SelectHints {
        start: mint,
        end: maxt,
        ..SelectHints::default()
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for set in sets {
        let ss = q
            .select(true, Some(&hints), set)
            .map_err(|e| e.to_string())?;
        for s in &ss.series {
            if !seen.insert(s.labels().clone()) {
                continue;
            }
            let mut it = s.iterator();
            let mut vt = it.seek(mint);
            let mut last: Option<(i64, Point)> = None;
            while vt != ValueType::None {
                let t = it.at_t();
                if t > maxt {
                    break;
                }
                let p = match vt {
                    ValueType::Float => Point::Float(it.at().1),
                    _ => Point::Histogram(Box::new(it.at_float_histogram().1)),
                };
                last = Some((t, p));
                vt = it.next();
            }
            if let Some(e) = it.err() {
                return Err(e.to_string());
            }
            let Some((t, point)) = last else { continue };
            let stale = match &point {
                Point::Float(f) => is_stale_nan(*f),
                Point::Histogram(h) => is_stale_nan(h.sum),
            };
            if stale {
                continue;
            }
            out.push(FedSample {
                labels: s.labels().clone(),
                t,
                point,
            });
        }
    }
    // Series of all sets in label order, then grouped by name (stable).
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out.sort_by(|a, b| {
        a.labels
            .get_or_empty(hearth_model::METRIC_NAME)
            .cmp(b.labels.get_or_empty(hearth_model::METRIC_NAME))
    });
    Ok(out)
}

fn spans(s: &[hearth_model::Span]) -> Vec<proto::BucketSpan> {
    s.iter()
        .map(|s| proto::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn encode(samples: Vec<FedSample>, external: &Labels, protobuf: bool) -> Vec<u8> {
    let mut ext: Vec<(String, String)> = external
        .iter()
        .map(|l| (l.name.as_str().to_string(), l.value.as_str().to_string()))
        .collect();
    if !ext.iter().any(|(n, _)| n == "instance") {
        ext.push(("instance".to_string(), String::new()));
        ext.sort();
    }
    let mut families: Vec<proto::MetricFamily> = Vec::new();
    // (name, is histogram, gauge histogram) of the family being filled.
    let mut current: Option<(String, bool, bool)> = None;
    for s in samples {
        let hist = match &s.point {
            Point::Histogram(h) => Some(h),
            Point::Float(_) => None,
        };
        if hist.is_some() && !protobuf {
            // The text format cannot carry native histograms.
            continue;
        }
        let Some(name) = s
            .labels
            .get(hearth_model::METRIC_NAME)
            .filter(|n| !n.is_empty())
        else {
            tracing::warn!(metric = %s.labels.to_string(), "Ignoring nameless metric during federation");
            continue;
        };
        let gauge = hist.is_some_and(|h| h.counter_reset_hint == CounterResetHint::Gauge);
        let key = (name.to_string(), hist.is_some(), gauge);
        if current.as_ref() != Some(&key) || families.is_empty() {
            let typ = match (hist.is_some(), gauge) {
                (false, _) => proto::MetricType::Untyped,
                (true, true) => proto::MetricType::GaugeHistogram,
                (true, false) => proto::MetricType::Histogram,
            };
            families.push(proto::MetricFamily {
                name: name.to_string(),
                r#type: typ as i32,
                ..proto::MetricFamily::default()
            });
            current = Some(key);
        }
        let mut m = proto::Metric::default();
        for l in s.labels.iter() {
            if l.name.as_str() == hearth_model::METRIC_NAME || l.value.as_str().is_empty() {
                continue;
            }
            m.label.push(proto::LabelPair {
                name: l.name.as_str().to_string(),
                value: l.value.as_str().to_string(),
            });
        }
        for (n, v) in &ext {
            if !s.labels.has(n) {
                m.label.push(proto::LabelPair {
                    name: n.clone(),
                    value: v.clone(),
                });
            }
        }
        m.timestamp_ms = s.t;
        match s.point {
            Point::Float(f) => m.untyped = Some(proto::Untyped { value: f }),
            Point::Histogram(h) => {
                m.histogram = Some(proto::Histogram {
                    sample_count_float: h.count,
                    sample_sum: h.sum,
                    schema: h.schema,
                    zero_threshold: h.zero_threshold,
                    zero_count_float: h.zero_count,
                    negative_span: spans(&h.negative_spans),
                    negative_count: h.negative_buckets.clone(),
                    positive_span: spans(&h.positive_spans),
                    positive_count: h.positive_buckets.clone(),
                    ..proto::Histogram::default()
                });
            }
        }
        if let Some(f) = families.last_mut() {
            f.metric.push(m);
        }
    }
    if protobuf {
        hearth_exposition::protobuf::encode_delimited(&families)
    } else {
        let mut out = String::new();
        hearth_exposition::encode_proto_text(&families, &mut out);
        out.into_bytes()
    }
}
