//! Parses and executes arbitrary template text with every function set and both
//! escaping modes under tight limits: nothing may panic, hang or grow without bound.
#![no_main]

use std::sync::{Arc, OnceLock};

use hearth_model::Labels;
use hearth_template::alertmanager::{DEFAULT_TMPL, EMAIL_TMPL};
use hearth_template::{
    Alert, Data, Escaping, FuncMap, Kv, Limits, MissingKey, PrometheusContext, QueryFn,
    QuerySample, Template, Value, alertmanager_funcs, prometheus_funcs,
};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_output: 1 << 20,
    max_depth: 50,
    max_steps: 200_000,
};

fn prom_funcs() -> FuncMap {
    let q: Arc<dyn QueryFn> = Arc::new(|query: &str, _ts: i64| {
        if query.is_empty() {
            return Err("empty query".to_string());
        }
        Ok(vec![
            QuerySample {
                labels: Labels::new([("__name__", "up"), ("instance", "a:9100")]),
                value: query.len() as f64,
            },
            QuerySample {
                labels: Labels::new([("instance", "b.example.com:80")]),
                value: f64::NAN,
            },
        ])
    });
    prometheus_funcs(&PrometheusContext {
        query: Some(q),
        timestamp_ms: 1_700_000_000_000,
        external_url: "http://prom.example:9090/prefix".into(),
    })
}

fn am_base(escaping: Escaping) -> &'static Template {
    static TEXT: OnceLock<Template> = OnceLock::new();
    static HTML: OnceLock<Template> = OnceLock::new();
    let cell = if escaping == Escaping::Html { &HTML } else { &TEXT };
    cell.get_or_init(|| {
        let mut t = Template::new("", alertmanager_funcs())
            .with_missing_key(MissingKey::Zero)
            .with_escaping(escaping)
            .with_limits(LIMITS);
        let _ = t.add_parse("", DEFAULT_TMPL);
        let _ = t.add_parse("", EMAIL_TMPL);
        t
    })
}

fn data() -> Value {
    let alert = |status: &str, inst: &str| Alert {
        status: status.into(),
        labels: Kv::new([("alertname", "A"), ("instance", inst), ("severity", "critical")]),
        annotations: Kv::new([("summary", "<b>&</b>")]),
        generator_url: "http://g/?x=1&y=2".into(),
        ..Alert::default()
    };
    Value::object(Data::new(
        "recv",
        Kv::new([("alertname", "A")]),
        vec![alert("firing", "a"), alert("resolved", "b")],
        "http://am",
        "",
    ))
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let escaping = if mode & 1 == 0 { Escaping::Text } else { Escaping::Html };
    let missing = match (mode >> 1) & 3 {
        0 => MissingKey::Default,
        1 => MissingKey::Zero,
        _ => MissingKey::Error,
    };
    if mode & 8 == 0 {
        let Ok(t) = Template::parse("fuzz", &text, prom_funcs()) else {
            return;
        };
        let t = t.with_limits(LIMITS).with_escaping(escaping).with_missing_key(missing);
        let dot = Value::string_map([("instance", "a:9100"), ("job", "node")]);
        let _ = t.execute("fuzz", &dot);
        for name in t.template_names() {
            let _ = t.execute(name, &Value::list(vec![Value::Int(3), Value::Nil, dot.clone()]));
        }
    } else {
        let mut t = am_base(escaping).clone().with_missing_key(missing);
        if t.add_parse("", &text).is_ok() {
            let _ = t.execute("", &data());
        }
    }
});
