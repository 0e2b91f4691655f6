//! Prometheus' template tests (template/template_test.go and the rule manager's alert
//! template expansion), with a fake query engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_model::Labels;
use hearth_template::prometheus::{ALERT_TEMPLATE_PREFIX, expand, expand_html};
use hearth_template::{
    AlertContext, PrometheusContext, QueryFn, QuerySample, Value, expand_alert_template,
    prometheus_funcs,
};

fn sample(pairs: &[(&str, &str)], v: f64) -> QuerySample {
    QuerySample {
        labels: Labels::new(pairs.iter().copied()),
        value: v,
    }
}

fn ctx(result: Vec<QuerySample>) -> PrometheusContext {
    let q: Arc<dyn QueryFn> = Arc::new(move |_: &str, _: i64| Ok(result.clone()));
    PrometheusContext {
        query: Some(q),
        timestamp_ms: 0,
        external_url: "http://testhost:9090/path/prefix".into(),
    }
}

fn floats(v: &[f64]) -> Value {
    Value::list(v.iter().map(|f| Value::Float(*f)).collect())
}

fn ints(v: &[i64]) -> Value {
    Value::list(v.iter().map(|i| Value::Int(*i)).collect())
}

fn strs(v: &[&str]) -> Value {
    Value::string_list(v.iter().copied())
}

struct Case {
    text: &'static str,
    input: Value,
    query: Vec<QuerySample>,
    html: bool,
    want: Result<&'static str, &'static str>,
}

fn case(text: &'static str, want: &'static str) -> Case {
    Case {
        text,
        input: Value::Nil,
        query: vec![],
        html: false,
        want: Ok(want),
    }
}

impl Case {
    fn input(mut self, v: Value) -> Case {
        self.input = v;
        self
    }
    fn query(mut self, q: Vec<QuerySample>) -> Case {
        self.query = q;
        self
    }
    fn html(mut self) -> Case {
        self.html = true;
        self
    }
    fn fails(mut self, msg: &'static str) -> Case {
        self.want = Err(msg);
        self
    }
}

#[test]
fn template_expansion() {
    let metric_a = || vec![sample(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    let cases = vec![
        case("plain text", "plain text"),
        case("{{ 1 }}", "1"),
        case("{{\u{a0}}}", "").fails(
            "error parsing template test: template: test:1: unrecognized character in action: U+00A0",
        ),
        case("{{ \"<b>\" }}", "&lt;b&gt;").html(),
        case("{{ \"<b>\" | safeHtml }}", "<b>").html(),
        case("{{ \"<b>\" }}", "<b>"),
        case(
            "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
            "1 2",
        ),
        case("{{ query \"1.5\" | first | value }}", "1.5").query(vec![sample(&[], 1.5)]),
        case("{{ query \"metric{instance='a'}\" | first | value }}", "11").query(metric_a()),
        case("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", "a")
            .query(metric_a()),
        case("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", "").query(metric_a()),
        case("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", "").query(metric_a()),
        case("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", "")
            .query(metric_a())
            .html(),
        case(
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            "a:11: b:21: ",
        )
        .query(vec![
            sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
            sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
        ]),
        case("{{", "").fails("error parsing template test: template: test:1: unclosed action"),
        case("{{ query \"missing\" | first }}", "").fails(
            "error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements",
        ),
        case("{{ (query \"missing\").banana }}", "").fails(
            "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult",
        ),
        case("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        case("{{ reReplaceAll \"(?P<x>a)b\" \"${x}y\" \"abab\" }}", "ayay"),
        case("{{ reReplaceAll \"\\\\d+\" \"N\" \"a12b٣\" }}", "aNb٣"),
        case("{{ reReplaceAll \"(\" \"x\" \"ab\" }}", "").fails(
            "error executing template test: template: test:1:3: executing \"test\" at <reReplaceAll \"(\" \"x\" \"ab\">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`",
        ),
        case("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
            .input(floats(&[0.0, 1.0, 1234567.0, 0.12])),
        case("{{ range . }}{{ humanize . }}:{{ end }}", "0:-1:1:1.235M:9.223E:")
            .input(ints(&[0, -1, 1, 1234567, i64::MAX])),
        case("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
            .input(strs(&["0", "1", "1234567", ".12"])),
        case("{{ humanize \"one\" }}", "").fails(
            "error executing template test: template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        case("{{ humanize true }}", "").fails("error calling humanize: can't convert bool to float"),
        case("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:0.12:")
            .input(floats(&[0.0, 1.0, 1048576.0, 0.12])),
        case("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:8Ei:")
            .input(ints(&[0, 1, 1048576, i64::MAX])),
        case(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        )
        .input(floats(&[
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ])),
        case(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        )
        .input(floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345])),
        case(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "0s:-1s:1s:14d 6h 56m 7s:106751991167300d 15h 30m 7s:",
        )
        .input(ints(&[0, -1, 1, 1234567, i64::MAX])),
        case(
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        )
        .input(floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN])),
        case(
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        case("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        case("{{ \"1435065584.128\" | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        case("{{ 1435065584 | humanizeTimestamp }}", "2015-06-23 13:19:44 +0000 UTC"),
        case("{{ (1435065584.128 | toTime).Format \"2006\" }}", "2015"),
        case("{{ toTime \"1435065584.128\" }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        case("{{ (toTime 1435065584.128).Unix }}", "1435065584"),
        case("{{ 1e20 | humanizeTimestamp }}", "").fails(
            "error calling humanizeTimestamp: 1e+20 cannot be represented as a nanoseconds timestamp since it overflows int64",
        ),
        case("{{ (1800 | toDuration).String }}", "30m0s"),
        case("{{ \"1.5\" | toDuration }}", "1.5s"),
        case("{{ now }}", "0"),
        case("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        case("{{ \"hello_world o'neil x-y\" | title }}", "Hello_world O'Neil X-Y"),
        case("{{ \"aa bb CC\" | toUpper }}", "AA BB CC"),
        case("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        case("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false"),
        case("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        case("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        case("{{ graphLink \"rate(x[5m]) > 1\" }}", "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0"),
        case("{{ define \"a\" }}x{{ end }}{{ $name := \"a\"}}{{ tmpl $name . }}", "x").html(),
        case("{{ pathPrefix }}", "/path/prefix"),
        case("{{ externalURL }}", "http://testhost:9090/path/prefix"),
        case("{{ parseDuration \"1h2m10ms\" }}", "3720.01"),
        case("{{ parseDuration \"1d\" }}", "86400"),
        case("{{ parseDuration \"x\" }}", "").fails("not a valid duration string"),
        case("{{ stripPort \"foo.example.com:12345\" }}", "foo.example.com"),
        case("{{ stripPort \"[2001:db8::1]:12345\" }}", "2001:db8::1"),
        case("{{ stripPort \"foo.example.com\" }}", "foo.example.com"),
        case("{{ stripDomain \"foo.example.com\" }}", "foo"),
        case("{{ stripDomain \"foo.example.com:12345\" }}", "foo:12345"),
        case("{{ stripDomain \"192.168.0.1:12345\" }}", "192.168.0.1:12345"),
        case("{{ stripDomain \"[2001:db8::1]:12345\" }}", "[2001:db8::1]:12345"),
        case("{{ urlQueryEscape \"a b&c=d/e\" }}", "a+b%26c%3Dd%2Fe"),
        case("{{ (query \"x\" | first).Value }}", "").fails("first() called on vector with no elements"),
        case("{{ query \"up\" | len }}", "2").query(vec![sample(&[], 1.0), sample(&[], 0.0)]),
        case("{{ with query \"up\" }}{{ . | first | strvalue }}{{ end }}", "5")
            .query(vec![sample(&[("__value__", "5")], 0.0)]),
    ];
    let mut failures = Vec::new();
    for c in cases {
        let pctx = ctx(c.query);
        let funcs = prometheus_funcs(&pctx);
        let got = if c.html {
            expand_html("test", c.text, &c.input, funcs, &[])
        } else {
            expand("test", c.text, &c.input, funcs)
        };
        let ok = match (&got, c.want) {
            (Ok(out), Ok(want)) => out == want,
            (Err(e), Err(want)) => e.to_string().contains(want),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?}: want {:?}, got {:?}",
                c.text,
                c.want,
                got.map_err(|e| e.to_string())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn alert_ctx<'a>(labels: &'a Labels, ext: &'a Labels) -> AlertContext<'a> {
    AlertContext {
        rule_name: "HighLatency",
        labels,
        external_labels: ext,
        external_url: "http://prom.example:9090",
        value: 1234567.0,
        timestamp_ms: 1_700_000_000_000,
        query: None,
    }
}

#[test]
fn alert_templates() {
    let labels = Labels::new([
        ("alertname", "HighLatency"),
        ("instance", "web-1:9100"),
        ("job", "api"),
    ]);
    let ext = Labels::new([("cluster", "eu-1")]);
    let c = alert_ctx(&labels, &ext);
    let cases = [
        ("{{ $labels.instance }} is down", "web-1:9100 is down"),
        ("{{ $value | humanize }}", "1.235M"),
        ("{{ $value }}", "1.234567e+06"),
        ("{{ .Value }} {{ .Labels.job }}", "1.234567e+06 api"),
        (
            "{{ $externalLabels.cluster }} {{ $externalURL }}",
            "eu-1 http://prom.example:9090",
        ),
        ("{{ $labels.missing }}|", "|"),
        ("{{ $labels.instance | stripPort }}", "web-1"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}",
            "alertname=HighLatency,instance=web-1:9100,job=api,",
        ),
        (
            "{{ if gt $value 1000.0 }}high{{ else }}low{{ end }}",
            "high",
        ),
        ("{{ printf \"%.2f\" $value }}", "1234567.00"),
        ("{{- /* comment */ -}} x", "x"),
        (
            "{{ now | humanizeTimestamp }}",
            "2023-11-14 22:13:20 +0000 UTC",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(expand_alert_template(text, &c).unwrap(), want, "{text}");
    }
}

#[test]
fn alert_template_errors_count_the_prefix() {
    let labels = Labels::new([("instance", "a")]);
    let ext = Labels::empty();
    let c = alert_ctx(&labels, &ext);
    let col = ALERT_TEMPLATE_PREFIX.len() + 3;
    let err = expand_alert_template("{{ humanize \"x\" }}", &c)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "error executing template __alert_HighLatency: template: __alert_HighLatency:1:{col}: executing \"__alert_HighLatency\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax"
        )
    );
    let err = expand_alert_template("{{ nosuchfunc }}", &c)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "error parsing template __alert_HighLatency: template: __alert_HighLatency:1: function \"nosuchfunc\" not defined"
    );
    // An error on a later line has an unshifted column.
    let err = expand_alert_template("x\n  {{ $labels.instance.foo }}", &c)
        .unwrap_err()
        .to_string();
    assert!(err.contains("__alert_HighLatency:2:12: executing"), "{err}");
    assert!(
        err.contains("can't evaluate field foo in type string"),
        "{err}"
    );
}

#[test]
fn query_errors_and_missing_engine() {
    let q: Arc<dyn QueryFn> = Arc::new(|_: &str, _: i64| Err("query timed out".to_string()));
    let p = PrometheusContext {
        query: Some(q),
        ..PrometheusContext::default()
    };
    let err = expand("t", "{{ query \"up\" }}", &Value::Nil, prometheus_funcs(&p)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("error calling query: query timed out"),
        "{err}"
    );
    let err = expand(
        "t",
        "{{ query \"up\" }}",
        &Value::Nil,
        prometheus_funcs(&PrometheusContext::default()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no query engine"), "{err}");
}

#[test]
fn console_templates_with_libraries() {
    let p = ctx(vec![]);
    let out = expand_html(
        "console",
        "{{ template \"head\" . }}<a href=\"/graph?q={{ .q }}\">{{ .q }}</a>",
        &Value::string_map([("q", "a b&<c>")]),
        prometheus_funcs(&p),
        &[("lib", "{{ define \"head\" }}<h1>{{ .q }}</h1>{{ end }}")],
    )
    .unwrap();
    assert_eq!(
        out,
        "<h1>a b&amp;&lt;c&gt;</h1><a href=\"/graph?q=a%20b%26%3cc%3e\">a b&amp;&lt;c&gt;</a>"
    );
}
