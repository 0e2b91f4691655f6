use super::*;

fn load(y: &str) -> Result<Config, String> {
    Config::load_str(y, "am.yml").map_err(|e| e.to_string())
}

#[test]
fn default_config_loads() {
    let c = load(DEFAULT_CONFIG).unwrap();
    assert_eq!(c.route.receiver, "default");
    assert_eq!(c.global.resolve_timeout, ModelDuration::from_secs(300));
}

const FULL: &str = r#"
global:
  resolve_timeout: 1m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'am@example.org'
  slack_api_url: 'https://hooks.slack.com/services/x'
  http_config:
    follow_redirects: false
templates: ['tmpl/*.tmpl']
route:
  receiver: team-X
  group_by: ['alertname', 'cluster']
  group_wait: 10s
  routes:
    - matchers: ['service=~"foo1|foo2"', '"utf 8 name"="ü"']
      receiver: team-Y
      group_by: ['...']
      continue: true
    - match:
        severity: critical
      match_re:
        service: ^(db|cache)$
      receiver: team-Z
      mute_time_intervals: [offhours]
      active_time_intervals: [always]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
  - source_match: {severity: page}
    target_match_re: {severity: 'warn.*'}
receivers:
  - name: team-X
    email_configs:
      - to: 'x@example.org'
        headers: {subject: hi}
  - name: team-Y
    webhook_configs:
      - url: 'http://127.0.0.1:5001/'
        max_alerts: 3
    slack_configs:
      - channel: '#alerts'
  - name: team-Z
    pagerduty_configs:
      - routing_key: abc
time_intervals:
  - name: offhours
    time_intervals:
      - times: [{start_time: '17:00', end_time: '24:00'}]
        weekdays: ['monday:friday']
        days_of_month: ['-1']
        location: Europe/Berlin
  - name: always
    time_intervals: [{}]
"#;

#[test]
fn full_config() {
    let c = load(FULL).unwrap();
    assert_eq!(c.global.resolve_timeout, ModelDuration::from_secs(60));
    assert!(!c.global.http_config.client.follow_redirects);
    let y = &c.route.routes[0];
    assert!(y.group_by_all && y.group_by.is_none() && y.continue_);
    assert_eq!(y.matchers.len(), 2);
    assert_eq!(y.matchers[1].name, "utf 8 name");
    let z = &c.route.routes[1];
    assert_eq!(
        z.all_matchers()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [r#"service=~"^(db|cache)$""#, r#"severity="critical""#]
    );
    assert_eq!(z.position, Some((19, 7)));
    let e = &c.receivers[0].email_configs[0];
    assert_eq!(e.smarthost.to_string(), "localhost:25");
    assert_eq!(e.from, "am@example.org");
    assert_eq!(e.headers["Subject"], "hi");
    assert_eq!(e.require_tls, Some(true));
    let s = &c.receivers[1].slack_configs[0];
    assert!(s.api_url.is_some() && !s.send_resolved);
    assert!(c.receivers[1].webhook_configs[0].send_resolved);
    let p = &c.receivers[2].pagerduty_configs[0];
    assert_eq!(
        p.url.as_ref().unwrap().0.as_str(),
        "https://events.pagerduty.com/v2/enqueue"
    );
    assert_eq!(p.details.len(), 4);
    assert_eq!(
        c.inhibit_rules[1].target()[0].to_string(),
        r#"severity=~"warn.*""#
    );
    // The effective configuration reads back to the same routing and receivers.
    let y = c.to_yaml();
    assert!(y.contains("<secret>"), "{y}");
    assert!(!y.contains("hooks.slack.com"), "{y}");
    let back = load(&y).unwrap();
    assert_eq!(
        serde_saphyr::to_string(&back.route).unwrap(),
        serde_saphyr::to_string(&c.route).unwrap()
    );
    assert_eq!(back.inhibit_rules, c.inhibit_rules);
    assert_eq!(back.time_intervals, c.time_intervals);
}

#[test]
fn errors_have_positions_and_upstream_wording() {
    let cases: &[(&str, &str)] = &[
        (
            "route:\n  receiver: a\n  recevier: b\nreceivers: [{name: a}]\n",
            "am.yml:3:3: field \"recevier\" not found; did you mean \"receiver\"?",
        ),
        (
            "route:\n  receiver: x\nreceivers: [{name: a}]\n",
            "undefined receiver \"x\" used in route",
        ),
        (
            "route:\n  receiver: a\n  routes:\n    - receiver: nope\nreceivers: [{name: a}]\n",
            "am.yml:4:7: undefined receiver \"nope\" used in route",
        ),
        (
            "route:\n  receiver: a\n  matchers: [a=b]\nreceivers: [{name: a}]\n",
            "root route must not have any matchers",
        ),
        (
            "route:\n  receiver: a\n  continue: true\nreceivers: [{name: a}]\n",
            "cannot have continue in root route",
        ),
        ("receivers: [{name: a}]\n", "no route provided in config"),
        (
            "route: {}\nreceivers: [{name: a}]\n",
            "root route must specify a default receiver",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n",
            "am.yml:2:24: notification config name \"a\" is not unique",
        ),
        (
            "route: {receiver: a, group_by: ['...', x]}\nreceivers: [{name: a}]\n",
            "cannot have wildcard group_by (`...`) and other other labels at the same time",
        ),
        (
            "route: {receiver: a, group_by: [x, x]}\nreceivers: [{name: a}]\n",
            "duplicated label \"x\" in group_by",
        ),
        (
            "route: {receiver: a, group_interval: 0s}\nreceivers: [{name: a}]\n",
            "group_interval cannot be zero",
        ),
        (
            "route: {receiver: a, routes: [{mute_time_intervals: [x]}]}\nreceivers: [{name: a}]\n",
            "undefined time interval \"x\" used in route",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{}]}]\n",
            "one of url or url_file must be configured",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'ftp://x/'}]}]\n",
            "unsupported scheme \"ftp\" for URL",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y}]}]\n",
            "no global SMTP smarthost set",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{channel: x}]}]\n",
            "no global Slack API URL set either inline or in a file",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, pagerduty_configs: [{}]}]\n",
            "missing service or routing key in PagerDuty config",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, opsgenie_configs: [{}]}]\n",
            "opsgenie_configs is not supported by hearth yet",
        ),
        (
            "route: {receiver: a, routes: [{matchers: ['a=~\"(\"']}]}\nreceivers: [{name: a}]\n",
            "error parsing regexp",
        ),
        (
            "route: {receiver: a, routes: [{match: {'a b': c}}]}\nreceivers: [{name: a}]\n",
            "invalid label name \"a b\"",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}, {name: t}]\n",
            "time interval \"t\" is not unique",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [caturday]}]}]\n",
            "caturday is not a valid weekday",
        ),
    ];
    for (yaml, want) in cases {
        let got = load(yaml).unwrap_err();
        assert!(
            got.contains(want),
            "for:\n{yaml}\nwant {want:?}\ngot  {got:?}"
        );
        assert!(got.starts_with("am.yml"), "{got}");
    }
}
