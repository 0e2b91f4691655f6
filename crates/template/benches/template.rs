//! Parse and execute costs of the templates hearth runs most: an alert annotation
//! (expanded per alert per rule evaluation) and Alertmanager's default Slack title.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_model::Labels;
use hearth_template::prometheus::ALERT_TEMPLATE_PREFIX;
use hearth_template::{
    Alert, AlertContext, Data, FuncMap, Kv, MissingKey, NotificationTemplates, PrometheusContext,
    Template, Value, expand_alert_template, prometheus_funcs,
};

const ANNOTATION: &str = "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes (value {{ $value | humanize }}, {{ $labels.instance | stripPort }}).";

fn sample_data() -> Value {
    let alerts = (0..5)
        .map(|i| Alert {
            status: if i % 2 == 0 { "firing" } else { "resolved" }.into(),
            labels: Kv::new([
                ("alertname".to_string(), "HighLatency".to_string()),
                ("job".to_string(), "api".to_string()),
                ("instance".to_string(), format!("web-{i}:9100")),
            ]),
            annotations: Kv::new([("summary", "Latency is high")]),
            generator_url: "http://prom:9090/graph".into(),
            ..Alert::default()
        })
        .collect();
    Value::object(Data::new(
        "team-api",
        Kv::new([("alertname", "HighLatency")]),
        alerts,
        "http://alertmanager:9093",
        "",
    ))
}

fn bench(c: &mut Criterion) {
    let labels = Labels::new([
        ("alertname", "InstanceDown"),
        ("instance", "web-1:9100"),
        ("job", "node"),
    ]);
    let ext = Labels::new([("cluster", "eu-1")]);
    let ctx = AlertContext {
        rule_name: "InstanceDown",
        labels: &labels,
        external_labels: &ext,
        external_url: "http://prom:9090",
        value: 1234567.0,
        timestamp_ms: 0,
        query: None,
    };
    let funcs = prometheus_funcs(&PrometheusContext::default());
    let full = format!("{ALERT_TEMPLATE_PREFIX}{ANNOTATION}");

    c.bench_function("annotation/parse", |b| {
        b.iter(|| Template::parse("__alert_x", black_box(&full), funcs.clone()).unwrap())
    });
    let parsed = Template::parse("__alert_x", &full, funcs.clone())
        .unwrap()
        .with_missing_key(MissingKey::Zero);
    let data = Value::object(hearth_template::prometheus::AlertTemplateData {
        labels: labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        external_labels: Default::default(),
        external_url: "http://prom:9090".into(),
        value: 1234567.0,
    });
    c.bench_function("annotation/execute", |b| {
        b.iter(|| parsed.execute("__alert_x", black_box(&data)).unwrap())
    });
    c.bench_function("annotation/expand_alert_template", |b| {
        b.iter(|| expand_alert_template(black_box(ANNOTATION), &ctx).unwrap())
    });

    c.bench_function("slack_title/load_default_templates", |b| {
        b.iter(|| NotificationTemplates::new(&[], &FuncMap::new()).unwrap())
    });
    let am = NotificationTemplates::new(&[], &FuncMap::new()).unwrap();
    let data = sample_data();
    c.bench_function("slack_title/execute", |b| {
        b.iter(|| {
            am.execute_text_string(black_box("{{ template \"slack.default.title\" . }}"), &data)
                .unwrap()
        })
    });
    c.bench_function("opsgenie_description/execute", |b| {
        b.iter(|| {
            am.execute_text_string(
                black_box("{{ template \"opsgenie.default.description\" . }}"),
                &data,
            )
            .unwrap()
        })
    });
    c.bench_function("email_html/execute", |b| {
        b.iter(|| {
            am.execute_html_string(black_box("{{ template \"email.default.html\" . }}"), &data)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
