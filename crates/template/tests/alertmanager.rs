//! Alertmanager's template tests (template/template_test.go) and renderings of the
//! embedded default templates for a sample notification, with expected text derived
//! from upstream's default.tmpl and email.tmpl.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_template::alertmanager::{DEFAULT_TMPL, EMAIL_TMPL};
use hearth_template::gotime::GoTime;
use hearth_template::{Alert, Alerts, Data, FuncMap, Kv, NotificationTemplates, Value};

fn templates() -> NotificationTemplates {
    NotificationTemplates::new(&[], &FuncMap::new()).unwrap()
}

fn time(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> GoTime {
    use chrono::TimeZone;
    let t = chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
    GoTime::from_unix_nanos(i128::from(t.timestamp()) * 1_000_000_000)
}

fn sample_data() -> Data {
    let firing = Alert {
        status: "firing".into(),
        labels: Kv::new([
            ("alertname", "HighLatency"),
            ("job", "api"),
            ("instance", "web-1"),
            ("severity", "critical"),
        ]),
        annotations: Kv::new([("summary", "Latency high"), ("description", "p99 > 1s")]),
        starts_at: time(2024, 1, 1, 8, 0, 0),
        ends_at: GoTime::zero(),
        generator_url: "http://prom/graph?g0.expr=x".into(),
        fingerprint: "a1".into(),
    };
    let resolved = Alert {
        status: "resolved".into(),
        labels: Kv::new([
            ("alertname", "HighLatency"),
            ("job", "api"),
            ("instance", "web-2"),
            ("severity", "warning"),
        ]),
        annotations: Kv::new([("summary", "Latency high")]),
        starts_at: time(2024, 1, 1, 7, 0, 0),
        ends_at: time(2024, 1, 1, 7, 30, 0),
        generator_url: "http://prom/graph2".into(),
        fingerprint: "b2".into(),
    };
    Data::new(
        "team X/ops",
        Kv::new([("alertname", "HighLatency")]),
        vec![firing, resolved],
        "http://am.example:9093",
        "first notification",
    )
}

const LIST_FIRING: &str = "Labels:\n - alertname = HighLatency\n - instance = web-1\n - job = api\n - severity = critical\nAnnotations:\n - description = p99 > 1s\n - summary = Latency high\nSource: http://prom/graph?g0.expr=x\n";
const LIST_RESOLVED: &str = "Labels:\n - alertname = HighLatency\n - instance = web-2\n - job = api\n - severity = warning\nAnnotations:\n - summary = Latency high\nSource: http://prom/graph2\n";
const SUBJECT: &str = "[FIRING:1] HighLatency (api)";
const AM_URL: &str = "http://am.example:9093/#/alerts?receiver=team+X%2Fops";

#[test]
fn default_templates_render_as_upstream() {
    let t = templates();
    let d = Value::object(sample_data());
    let r = |text: &str| t.execute_text_string(text, &d).unwrap();
    assert_eq!(r(r#"{{ template "slack.default.title" . }}"#), SUBJECT);
    assert_eq!(
        r(r#"{{ template "slack.default.username" . }}"#),
        "Alertmanager"
    );
    assert_eq!(r(r#"{{ template "slack.default.titlelink" . }}"#), AM_URL);
    assert_eq!(
        r(r#"{{ template "slack.default.fallback" . }}"#),
        format!("{SUBJECT} | {AM_URL}")
    );
    assert_eq!(r(r#"{{ template "slack.default.text" . }}"#), "");
    assert_eq!(
        r(r#"{{ template "pagerduty.default.description" . }}"#),
        SUBJECT
    );
    assert_eq!(
        r(r#"{{ template "pagerduty.default.client" . }}"#),
        "Alertmanager"
    );
    assert_eq!(
        r(r#"{{ template "pagerduty.default.clientURL" . }}"#),
        AM_URL
    );
    assert_eq!(
        r(r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#),
        LIST_FIRING
    );
    assert_eq!(r(r#"{{ template "opsgenie.default.message" . }}"#), SUBJECT);
    assert_eq!(
        r(r#"{{ template "opsgenie.default.description" . }}"#),
        format!("Latency high\nAlerts Firing:\n{LIST_FIRING}\nAlerts Resolved:\n{LIST_RESOLVED}")
    );
    assert_eq!(r(r#"{{ template "opsgenie.default.source" . }}"#), AM_URL);
    assert_eq!(r(r#"{{ template "email.default.subject" . }}"#), SUBJECT);
    assert_eq!(
        r(r#"{{ template "wechat.default.message" . }}"#),
        format!(
            "{SUBJECT}\nLatency high\nAlerts Firing:\n{LIST_FIRING}\nAlerts Resolved:\n{LIST_RESOLVED}\nAlertmanagerUrl:\n{AM_URL}"
        )
    );
    assert_eq!(
        r(r#"{{ template "pushover.default.message" . }}"#),
        format!(
            "Latency high\n\nAlerts Firing:\n{LIST_FIRING}\n\n\nAlerts Resolved:\n{LIST_RESOLVED}\n\n"
        )
    );
    assert_eq!(
        r(r#"{{ template "telegram.default.message" . }}"#),
        format!("\n\nAlerts Firing:\n{LIST_FIRING}\n\n\nAlerts Resolved:\n{LIST_RESOLVED}\n\n")
    );
    assert_eq!(r(r#"{{ template "jira.default.priority" . }}"#), "High");
    assert_eq!(r(r#"{{ template "jira.default.summary" . }}"#), SUBJECT);
    assert_eq!(
        r(r#"{{ template "rocketchat.default.alias" . }}"#),
        "Alertmanager"
    );
    assert_eq!(r(r#"{{ template "discord.default.title" . }}"#), SUBJECT);
    assert_eq!(r(r#"{{ template "msteams.default.title" . }}"#), SUBJECT);
    assert!(
        r(r#"{{ template "msteamsv2.default.text" . }}"#)
            .contains("# Alerts Firing:\n\nLabels:\n  - alertname = HighLatency\n")
    );
    assert_eq!(
        r(r#"{{ template "victorops.default.entity_display_name" . }}"#),
        SUBJECT
    );
    assert_eq!(r(r#"{{ template "sns.default.subject" . }}"#), SUBJECT);
    assert_eq!(r(""), "");
}

#[test]
fn resolved_subject_and_priorities() {
    let t = templates();
    let mut d = sample_data();
    d.alerts = Alerts(d.alerts.resolved());
    d.status = "resolved".into();
    let v = Value::object(d);
    assert_eq!(
        t.execute_text_string(r#"{{ template "__subject" . }}"#, &v)
            .unwrap(),
        "[RESOLVED] HighLatency (api)"
    );
    assert_eq!(
        t.execute_text_string(r#"{{ template "jira.default.priority" . }}"#, &v)
            .unwrap(),
        "Medium"
    );
}

#[test]
fn email_html_is_escaped_and_stripped_of_comments() {
    let t = templates();
    let d = Value::object(sample_data());
    let html = t
        .execute_html_string(r#"{{ template "email.default.html" . }}"#, &d)
        .unwrap();
    assert!(
        !html.contains("<!--"),
        "comments are removed as html/template does"
    );
    assert!(
        html.starts_with("\n\n<!DOCTYPE html PUBLIC"),
        "{}",
        &html[..80]
    );
    assert!(html.contains(&format!("<title>{SUBJECT}</title>")));
    // `urlquery` stands in for the URL escaper; the attribute escaper still runs.
    assert!(
        html.contains("<a href=\"http://am.example:9093/#/alerts?receiver=team&#43;X%2Fops\""),
        "{html}"
    );
    assert!(html.contains("description = p99 &gt; 1s<br"));
    assert!(html.contains("<a href=\"http://prom/graph?g0.expr=x\""));
    assert!(html.contains("[1] Firing</strong>"));
    assert!(html.contains("[1] Resolved</strong>"));
    assert!(html.contains("2 alerts for \n                alertname=HighLatency \n"));
    // The text form keeps everything verbatim.
    let text = t
        .execute_text_string(r#"{{ template "email.default.html" . }}"#, &d)
        .unwrap();
    assert!(text.contains("<!--\nStyle and HTML derived from"));
    assert!(text.contains("description = p99 > 1s<br"));
}

#[test]
fn embedded_templates_parse_and_define_upstream_names() {
    let t = templates();
    let names = t.text_templates().template_names();
    for n in [
        "__alertmanager",
        "__alertmanagerURL",
        "__subject",
        "__text_alert_list",
        "__text_alert_list_markdown",
        "slack.default.title",
        "slack.default.footer",
        "pagerduty.default.instances",
        "opsgenie.default.description",
        "wechat.default.message",
        "victorops.default.state_message",
        "pushover.default.url",
        "sns.default.message",
        "telegram.default.message",
        "discord.default.content",
        "webex.default.message",
        "msteams.default.text",
        "msteamsv2.default.text",
        "jira.default.description",
        "rocketchat.default.text",
        "email.default.subject",
        "email.default.html",
    ] {
        assert!(names.contains(&n), "missing {n}");
    }
    assert!(DEFAULT_TMPL.contains("NOTICE") && EMAIL_TMPL.contains("NOTICE"));
}

#[test]
fn user_templates_override_and_extend() {
    let t = NotificationTemplates::new(
        &[(
            "custom.tmpl",
            r#"{{ define "slack.default.title" }}custom {{ .Status }}{{ end }}{{ define "mine" }}{{ template "__subject" . }}!{{ end }}"#,
        )],
        &FuncMap::new(),
    )
    .unwrap();
    let d = Value::object(sample_data());
    assert_eq!(
        t.execute_text_string(r#"{{ template "slack.default.title" . }}"#, &d)
            .unwrap(),
        "custom firing"
    );
    assert_eq!(
        t.execute_text_string(r#"{{ template "mine" . }}"#, &d)
            .unwrap(),
        format!("{SUBJECT}!")
    );
}

fn kv_data(kv: Kv) -> Value {
    Value::object(Data {
        group_labels: kv.clone(),
        common_labels: kv,
        ..Data::default()
    })
}

/// Upstream's TestTemplateExpansion and TestTemplateFuncs cases.
#[test]
fn template_functions() {
    let t = templates();
    let t0 = Value::object(time(2024, 1, 1, 8, 15, 30));
    let alerts = Value::object(Data {
        alerts: Alerts(vec![
            Alert {
                status: "firing".into(),
                labels: Kv::new([("alertname", "test")]),
                ..Alert::default()
            },
            Alert {
                status: "resolved".into(),
                ..Alert::default()
            },
        ]),
        ..Data::default()
    });
    let floats = |v: &[f64]| Value::list(v.iter().map(|f| Value::Float(*f)).collect());
    let cases: Vec<(&str, Value, bool, Result<&str, &str>)> = vec![
        ("abc", Value::Nil, false, Ok("abc")),
        ("{{ \"abc\" }}", Value::Nil, false, Ok("abc")),
        ("{{ ", Value::Nil, false, Err("unclosed action")),
        ("{{ \"abc\" | toUpper }}", Value::Nil, false, Ok("ABC")),
        ("{{ \"ABC\" | toLower }}", Value::Nil, false, Ok("abc")),
        ("{{ \"abc\" | title }}", Value::Nil, false, Ok("Abc")),
        (
            "{{ \"hELLO wORLD\" | title }}",
            Value::Nil,
            false,
            Ok("Hello World"),
        ),
        (
            "{{ \" a b c \" | trimSpace }}",
            Value::Nil,
            false,
            Ok("a b c"),
        ),
        (
            "{{ if match \"^a\" \"abc\"}}abc{{ end }}",
            Value::Nil,
            false,
            Ok("abc"),
        ),
        (
            "{{ if match \"abcd\" \"abc\" }}abc{{ end }}",
            Value::Nil,
            false,
            Ok(""),
        ),
        (
            "{{ match \"[a-z]+\" \"abc\" }}",
            Value::Nil,
            false,
            Ok("true"),
        ),
        (
            "{{ . | join \",\" }}",
            Value::string_list(["a", "b", "c"]),
            false,
            Ok("a,b,c"),
        ),
        ("{{ \"<b>\" }}", Value::Nil, false, Ok("<b>")),
        ("{{ \"<b>\" }}", Value::Nil, true, Ok("&lt;b&gt;")),
        ("{{ \"<b>\" | safeHtml }}", Value::Nil, true, Ok("<b>")),
        (
            "<a href=\"/search?{{ \"q=test%20foo\" }}\"></a>",
            Value::Nil,
            true,
            Ok("<a href=\"/search?q%3dtest%2520foo\"></a>"),
        ),
        (
            "<a href=\"/search?{{ \"q=test%20foo\" | safeUrl }}\"></a>",
            Value::Nil,
            true,
            Ok("<a href=\"/search?q=test%20foo\"></a>"),
        ),
        (
            "<a href=\"{{ \"javascript:alert(1)\" }}\">",
            Value::Nil,
            true,
            Ok("<a href=\"#ZgotmplZ\">"),
        ),
        (
            "{{ reReplaceAll \"ab\" \"AB\" \"abcdabcda\"}}",
            Value::Nil,
            false,
            Ok("ABcdABcda"),
        ),
        (
            "{{ \"search?q=test%20foo\" | urlUnescape }}",
            Value::Nil,
            false,
            Ok("search?q=test foo"),
        ),
        (
            "{{ \"%zz\" | urlUnescape }}",
            Value::Nil,
            false,
            Err("invalid URL escape \"%zz\""),
        ),
        (
            "{{ with .GroupLabels }}{{ with .Remove (stringSlice \"key1\" \"key3\") }}{{ .SortedPairs.Values }}{{ end }}{{ end }}",
            kv_data(Kv::new([
                ("key1", "key1"),
                ("key2", "key2"),
                ("key3", "key3"),
                ("key4", "key4"),
            ])),
            false,
            Ok("[key2 key4]"),
        ),
        ("{{ \"test\" | toJson }}", Value::Nil, false, Ok("\"test\"")),
        ("{{ 42 | toJson }}", Value::Nil, false, Ok("42")),
        ("{{ true | toJson }}", Value::Nil, false, Ok("true")),
        (
            "{{ . | toJson }}",
            Value::map(
                [
                    ("key".to_string(), Value::from("value")),
                    ("number".to_string(), Value::Int(123)),
                ]
                .into_iter()
                .collect(),
            ),
            false,
            Ok("{\"key\":\"value\",\"number\":123}"),
        ),
        (
            "{{ . | toJson }}",
            Value::string_list(["a", "b", "c"]),
            false,
            Ok("[\"a\",\"b\",\"c\"]"),
        ),
        (
            "{{ .CommonLabels | toJson }}",
            kv_data(Kv::new([("severity", "critical"), ("job", "foo")])),
            false,
            Ok("{\"job\":\"foo\",\"severity\":\"critical\"}"),
        ),
        (
            "{{ .Alerts.Firing | toJson }}",
            alerts.clone(),
            false,
            Ok(
                "[{\"status\":\"firing\",\"labels\":{\"alertname\":\"test\"},\"annotations\":null,\"startsAt\":\"0001-01-01T00:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\",\"fingerprint\":\"\"}]",
            ),
        ),
        (
            "{{ .Alerts | len }} {{ .Alerts.Resolved | len }}",
            alerts,
            false,
            Ok("2 1"),
        ),
        (
            "{{ . | date \"2006-01-02\" }}",
            t0.clone(),
            false,
            Ok("2024-01-01"),
        ),
        (
            "{{ . | date \"Mon Jan _2 15:04:05 MST 2006\" }}",
            t0.clone(),
            false,
            Ok("Mon Jan  1 08:15:30 UTC 2024"),
        ),
        (
            "{{ . | date \"3:04PM .000 Z07:00\" }}",
            t0.clone(),
            false,
            Ok("8:15AM .000 Z"),
        ),
        (
            "{{ . | tz \"Europe/Paris\" }}",
            t0.clone(),
            false,
            Ok("2024-01-01 09:15:30 +0100 CET"),
        ),
        (
            "{{ . | tz \"America/New_York\" | date \"2006-01-02T15:04:05Z07:00\" }}",
            t0.clone(),
            false,
            Ok("2024-01-01T03:15:30-05:00"),
        ),
        (
            "{{ . | tz \"Invalid/Timezone\" }}",
            t0.clone(),
            false,
            Err(
                "template: :1:7: executing \"\" at <tz \"Invalid/Timezone\">: error calling tz: unknown time zone Invalid/Timezone",
            ),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            floats(&[
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ]),
            false,
            Ok("0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            Value::string_list(["0", "1", "60", "3600", "86400"]),
            false,
            Ok("0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            Value::string_list([".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
            false,
            Ok("100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
        ),
        (
            "{{ humanizeDuration \"one\" }}",
            Value::Nil,
            false,
            Err(
                "template: :1:3: executing \"\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax",
            ),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            Value::list(vec![
                Value::Int(0),
                Value::Int(-1),
                Value::Int(1),
                Value::Int(1234567),
            ]),
            false,
            Ok("0s:-1s:1s:14d 6h 56m 7s:"),
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            Value::list(vec![Value::Uint(0), Value::Uint(1), Value::Uint(1234567)]),
            false,
            Ok("0s:1s:14d 6h 56m 7s:"),
        ),
    ];
    let mut failures = Vec::new();
    for (text, data, html, want) in cases {
        let got = if html {
            t.execute_html_string(text, &data)
        } else {
            t.execute_text_string(text, &data)
        };
        let ok = match (&got, want) {
            (Ok(out), Ok(w)) => out == w,
            (Err(e), Err(w)) => e.to_string().contains(w),
            _ => false,
        };
        if !ok {
            failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn since_is_a_duration() {
    let t = templates();
    let an_hour_ago = GoTime::from_unix_nanos(GoTime::now().unix_nanos - 3_600_000_000_000);
    let out = t
        .execute_text_string(
            "{{ . | since | humanizeDuration }}",
            &Value::object(an_hour_ago),
        )
        .unwrap();
    assert_eq!(out, "1h 0m 0s");
}

#[test]
fn kv_and_pairs() {
    let kv = Kv::new([
        ("d", "dVal"),
        ("b", "bVal"),
        ("c", "cVal"),
        ("alertname", "alert"),
        ("a", "aVal"),
    ]);
    assert_eq!(kv.sorted_pairs().names(), ["alertname", "a", "b", "c", "d"]);
    assert_eq!(
        kv.sorted_pairs().values(),
        ["alert", "aVal", "bVal", "cVal", "dVal"]
    );
    let kv = Kv::new([
        ("key1", "val1"),
        ("key2", "val2"),
        ("key3", "val3"),
        ("key4", "val4"),
    ]);
    assert_eq!(
        kv.remove(&["key2".into(), "key4".into()])
            .sorted_pairs()
            .names(),
        ["key1", "key3"]
    );
    let pairs = Kv::new([("name1", "value1"), ("name2", "value2")]).sorted_pairs();
    assert_eq!(pairs.to_string(), "name1=value1, name2=value2");
    let t = templates();
    let d = kv_data(Kv::new([("b", "2"), ("a", "1")]));
    assert_eq!(
        t.execute_text_string("{{ .GroupLabels }}|{{ .GroupLabels.Names }}|{{ .GroupLabels.b }}|{{ index .GroupLabels \"a\" }}|{{ .GroupLabels.zz }}|{{ range $k, $v := .GroupLabels }}{{$k}}{{$v}}{{ end }}", &d).unwrap(),
        "a=1, b=2|[a b]|2|1||a1b2"
    );
}

#[test]
fn data_matches_upstream_construction() {
    let d = sample_data();
    assert_eq!(d.status, "firing");
    assert_eq!(
        d.common_labels,
        Kv::new([("alertname", "HighLatency"), ("job", "api")])
    );
    assert_eq!(d.common_annotations, Kv::new([("summary", "Latency high")]));
    let d = Data::new("a.b+c", Kv::default(), vec![], "http://x", "");
    assert_eq!(d.receiver, r"a\.b\+c");
    assert_eq!(d.status, "resolved");
}
