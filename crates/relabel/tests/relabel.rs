#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upstream's relabel_test.go cases (semantics), written as YAML rules so that parsing,
//! defaults and validation are exercised along with the engine.

use hearth_model::{Labels, ValidationScheme};
use hearth_relabel::{RelabelConfig, process};

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

struct Case {
    input: &'static [(&'static str, &'static str)],
    rules: &'static str,
    /// `None`: the label set is dropped.
    output: Option<&'static [(&'static str, &'static str)]>,
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

const CASES: &[Case] = &[
    Case {
        input: ABC,
        rules: "- {source_labels: [a], regex: f(.*), target_label: d, replacement: 'ch${1}-ch${1}'}",
        output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
    },
    Case {
        input: ABC,
        rules: "
- {source_labels: [a, b], regex: f(.*);(.*)r, target_label: a, replacement: 'b${1}${2}m'}
- {source_labels: [c, a], regex: (b).*b(.*)ba(.*), target_label: d, replacement: $1$2$2$3}",
        output: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
    },
    Case {
        input: &[("a", "foo")],
        rules: "
- {source_labels: [a], regex: .*o.*, action: drop}
- {source_labels: [a], regex: f(.*), target_label: d, replacement: ch$1-ch$1}",
        output: None,
    },
    Case {
        input: &[("a", "foo"), ("b", "bar")],
        rules: "- {source_labels: [a], regex: .*o.*, action: drop}",
        output: None,
    },
    Case {
        input: &[("a", "abc")],
        rules: "- {source_labels: [a], regex: .*(b).*, target_label: d, replacement: $1}",
        output: Some(&[("a", "abc"), ("d", "b")]),
    },
    Case {
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: no-match, action: drop}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: f|o, action: drop}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: no-match, action: keep}",
        output: None,
    },
    Case {
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: f.*, action: keep}",
        output: Some(&[("a", "foo")]),
    },
    // No replacement must be applied if there is no match.
    Case {
        input: &[("a", "boo")],
        rules: "- {source_labels: [a], regex: f, target_label: b, replacement: bar}",
        output: Some(&[("a", "boo")]),
    },
    // A blank replacement deletes the label.
    Case {
        input: &[("a", "foo"), ("f", "baz")],
        rules: "- {source_labels: [a], regex: (f).*, target_label: $1, replacement: $2}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        input: ABC,
        rules: "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
        output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
    },
    Case {
        input: &[("a", "foo\nbar")],
        rules: "- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}",
        output: Some(&[("a", "foo\nbar"), ("b", "734")]),
    },
    Case {
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: "- {regex: (b.*), replacement: 'bar_${1}', action: labelmap}",
        output: Some(&[
            ("a", "foo"),
            ("b1", "bar"),
            ("b2", "baz"),
            ("bar_b1", "bar"),
            ("bar_b2", "baz"),
        ]),
    },
    Case {
        input: &[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
        ],
        rules: "- {regex: __meta_(my.*), replacement: '${1}', action: labelmap}",
        output: Some(&[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("my_bar", "aaa"),
            ("my_baz", "bbb"),
        ]),
    },
    Case {
        input: &[("a", "some-name-value")],
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}",
        output: Some(&[("a", "some-name-value"), ("name", "value")]),
    },
    // A replacement naming a missing group is empty: nothing is written.
    Case {
        input: &[("a", "some-name-value")],
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}",
        output: Some(&[("a", "some-name-value")]),
    },
    // A target naming a missing group expands to "", which is no label name.
    Case {
        input: &[("a", "some-name-0")],
        rules: "
- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}
- {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}'}",
        output: Some(&[("a", "some-name-0")]),
    },
    Case {
        input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
        rules: r#"
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', replacement: '${1}', target_label: __metrics_path__}
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', replacement: '${1}', target_label: job}
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', replacement: '${2}', target_label: '${1}'}"#,
        output: Some(&[
            ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"),
            ("job", "some-job"),
            ("foo", "bar"),
        ]),
    },
    // prometheus#12283: a label dropped and then set again.
    Case {
        input: &[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ],
        rules: "
- {regex: ^__meta_kubernetes_pod_container_port_name$, action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: (.+), replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: ^metrics$, action: keep}",
        output: Some(&[
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ]),
    },
    Case {
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: "- {regex: (b.*), action: labelkeep}",
        output: Some(&[("b1", "bar"), ("b2", "baz")]),
    },
    Case {
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: "- {regex: (b.*), action: labeldrop}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        input: &[("foo", "bAr123Foo")],
        rules: "
- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
- {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
        output: Some(&[
            ("foo", "bAr123Foo"),
            ("foo_lowercase", "bar123foo"),
            ("foo_uppercase", "BAR123FOO"),
        ]),
    },
    Case {
        input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
        rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}",
        output: Some(&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")]),
    },
    Case {
        input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
        rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}",
        output: None,
    },
    Case {
        input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
        rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}",
        output: Some(&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")]),
    },
    Case {
        input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
        rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}",
        output: None,
    },
    // `.` matches a newline.
    Case {
        input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
        rules: "- {source_labels: [a], regex: line1.*line2, target_label: d, replacement: 'match${1}'}",
        output: Some(&[("a", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("d", "match")]),
    },
    Case {
        input: &[("utf-8.label", "line1\nline2"), ("b", "bar")],
        rules: "- {source_labels: [utf-8.label], regex: line1.*line2, target_label: d, replacement: 'match${1}'}",
        output: Some(&[("utf-8.label", "line1\nline2"), ("b", "bar"), ("d", "match")]),
    },
    Case {
        input: &[("a", "line1\nline2")],
        rules: "- {source_labels: [a], regex: line1.*line2, target_label: 'utf-8.label${1}', replacement: 'match${1}'}",
        output: Some(&[("a", "line1\nline2"), ("utf-8.label", "match")]),
    },
    Case {
        input: &[("a", "line1\nline2")],
        rules: "
- {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label1_${1}', replacement: 'val_${second}'}
- {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label2_$1', replacement: 'val_$second'}",
        output: Some(&[
            ("a", "line1\nline2"),
            ("label1_line1", "val_line2"),
            ("label2_line1", "val_line2"),
        ]),
    },
    Case {
        input: &[("__name__", "http_requests_total")],
        rules: "- {source_labels: [__name__], regex: .*_total$, target_label: __type__, replacement: counter}",
        output: Some(&[("__name__", "http_requests_total"), ("__type__", "counter")]),
    },
    // Static label pairs take the fast path; `${0}` as a target expands to the (empty)
    // input, which is no label name.
    Case {
        input: &[("job", "foo")],
        rules: "
- {replacement: wwwwww, target_label: wwwwww}
- {source_labels: [something], target_label: with_source_labels, replacement: value}
- {replacement: dropped, target_label: '${0}'}
- {replacement: '${0}', target_label: dropped}",
        output: Some(&[
            ("job", "foo"),
            ("with_source_labels", "value"),
            ("wwwwww", "wwwwww"),
        ]),
    },
    // Go's RE2 `\d` is ASCII only.
    Case {
        input: &[("a", "١٢")],
        rules: r"- {source_labels: [a], regex: '\d+', action: keep}",
        output: None,
    },
    // An empty `regex:` is the empty regex, matching only the empty string.
    Case {
        input: &[("a", "x")],
        rules: "- {source_labels: [b], regex: , action: keep}",
        output: Some(&[("a", "x")]),
    },
];

#[test]
fn upstream_relabel_cases() {
    for (i, case) in CASES.iter().enumerate() {
        let cfgs = rules(case.rules);
        let got = process(&labels(case.input), &cfgs);
        let want = case.output.map(labels);
        assert_eq!(got, want, "case {i}: {}", case.rules);
    }
}

#[test]
fn validation_errors_read_as_upstream() {
    for (yaml, want) in [
        (
            "- {action: replace}",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "- {action: lowercase}",
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            "- {action: hashmod, target_label: x}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        ("- {action: foo}", "unknown relabel action \"foo\""),
        (
            "- {action: lowercase, target_label: x, replacement: y}",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "- {action: keepequal, target_label: x, regex: '(.*)'}",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: labeldrop, regex: x, source_labels: [a]}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labelkeep, regex: x, target_label: a}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "- {regex: '(', target_label: x}",
            "error parsing regexp: missing closing ): `(`",
        ),
        ("- {target_label: x, bogus: 1}", "unknown field `bogus`"),
    ] {
        let err = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err();
        let msg = err.without_snippet().to_string();
        assert!(msg.contains(want), "{yaml}: {msg}");
    }
}

#[test]
fn actions_are_case_insensitive() {
    let cfgs = rules("- {source_labels: [a], regex: x, action: DROP}");
    assert_eq!(process(&labels(&[("a", "x")]), &cfgs), None);
}

#[test]
fn name_validation_schemes() {
    // Upstream's TestRelabelValidate.
    let mut lower = RelabelConfig {
        action: hearth_relabel::Action::Lowercase,
        target_label: "${3}".into(),
        ..RelabelConfig::default()
    };
    assert_eq!(lower.validate(ValidationScheme::Utf8), Ok(()));
    lower.name_validation_scheme = Some(ValidationScheme::Legacy);
    assert_eq!(
        lower
            .validate(ValidationScheme::Utf8)
            .unwrap_err()
            .to_string(),
        "\"${3}\" is invalid 'target_label' for lowercase action"
    );
    for target in ["${3}", "0${3}", "-${3}"] {
        let c = RelabelConfig {
            source_labels: Some(vec!["a".into()]),
            regex: hearth_relabel::RelabelRegex::new("some-([^-]+)-([^,]+)").unwrap(),
            regex_set: true,
            target_label: target.into(),
            replacement: "${1}".into(),
            ..RelabelConfig::default()
        };
        assert_eq!(c.validate(ValidationScheme::Utf8), Ok(()), "{target}");
        if target != "${3}" {
            assert!(c.validate(ValidationScheme::Legacy).is_err(), "{target}");
        }
    }
    for (regex, replacement) in [
        ("__meta_kubernetes_pod_label_(strimzi_io_.+)", "$1"),
        ("__meta_(.+)", "${1}"),
    ] {
        let c = RelabelConfig {
            regex: hearth_relabel::RelabelRegex::new(regex).unwrap(),
            regex_set: true,
            action: hearth_relabel::Action::LabelMap,
            replacement: replacement.into(),
            ..RelabelConfig::default()
        };
        assert_eq!(c.validate(ValidationScheme::Legacy), Ok(()));
    }
    // Under legacy validation a replace whose expanded target is not a legacy name
    // writes nothing.
    let mut c =
        rules("- {source_labels: [a], regex: '(.*)', target_label: '${1}', replacement: v}");
    c[0].name_validation_scheme = Some(ValidationScheme::Legacy);
    assert_eq!(
        process(&labels(&[("a", "x.y")]), &c),
        Some(labels(&[("a", "x.y")]))
    );
}

#[test]
fn yaml_round_trip_in_upstream_shape() {
    // Upstream's TestConfig_UnmarshalThenMarshal.
    for input in [
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: \\d+\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: keepequal\n",
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: (.*)\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
    ] {
        let c: RelabelConfig = serde_saphyr::from_str(input).unwrap();
        let out = serde_saphyr::to_string(&c).unwrap();
        let back: RelabelConfig = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, c, "{out}");
        for key in ["separator:", "target_label:", "replacement:", "action:"] {
            assert!(out.contains(key), "{out}");
        }
        assert_eq!(out.contains("regex:"), input.contains("regex:"), "{out}");
    }
}
