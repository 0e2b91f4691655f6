//! alertmanager.yml: structure, upstream's defaults and validation messages, loading
//! with `file:line:column` errors, and the effective configuration as YAML (what
//! `/api/v2/status` shows as `config.original` and amtool reads back).

mod receiver;
pub mod time_interval;
pub mod types;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use hearth_config::ConfigError;
use hearth_discovery::{ModelDuration, Secret, TlsConfig};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

pub use receiver::{
    EmailConfig, PagerdutyConfig, PagerdutyImage, PagerdutyLink, Receiver, SlackAction,
    SlackConfig, SlackField, WebhookConfig,
};
pub use time_interval::{NamedTimeInterval, TimeInterval};
pub use types::{HostPort, HttpConfig, Matchers, Regexp, SecretUrl, Url};

use crate::matcher::{MatchType, Matcher};

/// `global`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub resolve_timeout: ModelDuration,
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_from: String,
    pub smtp_hello: String,
    #[serde(skip_serializing_if = "HostPort::is_empty")]
    pub smtp_smarthost: HostPort,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_password_file: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_identity: String,
    pub smtp_require_tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_tls_config: Option<TlsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<SecretUrl>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub slack_api_url_file: String,
    pub pagerduty_url: Url,
    pub opsgenie_api_url: Url,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub opsgenie_api_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub opsgenie_api_key_file: String,
    pub wechat_api_url: Url,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub wechat_api_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub wechat_api_corp_id: String,
    pub victorops_api_url: Url,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub victorops_api_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub victorops_api_key_file: String,
    pub telegram_api_url: Url,
    pub webex_api_url: Url,
}

fn url(s: &str) -> Url {
    let u = url::Url::parse(s).unwrap_or_else(|_| {
        // The constants below always parse.
        url::Url::parse("http://localhost/").unwrap_or_else(|_| unreachable!())
    });
    Url(u, s.to_string())
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: ModelDuration::from_secs(300),
            http_config: HttpConfig::default(),
            smtp_from: String::new(),
            smtp_hello: "localhost".into(),
            smtp_smarthost: HostPort::default(),
            smtp_auth_username: String::new(),
            smtp_auth_password: Secret::default(),
            smtp_auth_password_file: String::new(),
            smtp_auth_secret: Secret::default(),
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: None,
            slack_api_url: None,
            slack_api_url_file: String::new(),
            pagerduty_url: url("https://events.pagerduty.com/v2/enqueue"),
            opsgenie_api_url: url("https://api.opsgenie.com/"),
            opsgenie_api_key: Secret::default(),
            opsgenie_api_key_file: String::new(),
            wechat_api_url: url("https://qyapi.weixin.qq.com/cgi-bin/"),
            wechat_api_secret: Secret::default(),
            wechat_api_corp_id: String::new(),
            victorops_api_url: url(
                "https://alert.victorops.com/integrations/generic/20131114/alert/",
            ),
            victorops_api_key: Secret::default(),
            victorops_api_key_file: String::new(),
            telegram_api_url: url("https://api.telegram.org"),
            webex_api_url: url("https://webexapis.com/v1/messages"),
        }
    }
}

/// A node of the routing tree as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    pub receiver: String,
    /// `None`: inherited from the parent.
    pub group_by: Option<Vec<String>>,
    /// `group_by: ['...']`.
    pub group_by_all: bool,
    pub match_: BTreeMap<String, String>,
    pub match_re: BTreeMap<String, Regexp>,
    pub matchers: Vec<Matcher>,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub continue_: bool,
    pub routes: Vec<Route>,
    pub group_wait: Option<ModelDuration>,
    pub group_interval: Option<ModelDuration>,
    pub repeat_interval: Option<ModelDuration>,
    /// Line and column of the route in the file.
    pub position: Option<(usize, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    continue_: Option<bool>,
    #[serde(default, rename = "match")]
    match_: Option<BTreeMap<String, String>>,
    #[serde(default)]
    match_re: Option<BTreeMap<String, Regexp>>,
    #[serde(default)]
    matchers: Option<Matchers>,
    #[serde(default)]
    mute_time_intervals: Option<Vec<String>>,
    #[serde(default)]
    active_time_intervals: Option<Vec<String>>,
    #[serde(default)]
    routes: Option<Vec<Spanned<Route>>>,
    #[serde(default)]
    group_wait: Option<ModelDuration>,
    #[serde(default)]
    group_interval: Option<ModelDuration>,
    #[serde(default)]
    repeat_interval: Option<ModelDuration>,
}

fn position<T>(s: &Spanned<T>) -> Option<(usize, usize)> {
    let l = s.referenced;
    (l.line() > 0).then_some((l.line() as usize, l.column() as usize))
}

fn is_classic_label_name(n: &str) -> bool {
    hearth_model::names::is_legacy_label_name(n)
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RawRoute::deserialize(d)?;
        let match_ = r.match_.unwrap_or_default();
        let match_re = r.match_re.unwrap_or_default();
        for k in match_.keys().chain(match_re.keys()) {
            if !is_classic_label_name(k) {
                return Err(D::Error::custom(format!("invalid label name {k:?}")));
            }
        }
        let mut group_by_all = false;
        let mut group_by: Option<Vec<String>> = None;
        for l in r.group_by.iter().flatten() {
            if l == "..." {
                group_by_all = true;
            } else {
                if l.is_empty() {
                    return Err(D::Error::custom(format!(
                        "invalid label name {l:?} in group_by list"
                    )));
                }
                group_by.get_or_insert_with(Vec::new).push(l.clone());
            }
        }
        if group_by.as_ref().is_some_and(|g| !g.is_empty()) && group_by_all {
            return Err(D::Error::custom(
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            ));
        }
        let mut seen = HashSet::new();
        for l in group_by.iter().flatten() {
            if !seen.insert(l) {
                return Err(D::Error::custom(format!(
                    "duplicated label {l:?} in group_by"
                )));
            }
        }
        if r.group_interval.is_some_and(|d| d.is_zero()) {
            return Err(D::Error::custom("group_interval cannot be zero"));
        }
        if r.repeat_interval.is_some_and(|d| d.is_zero()) {
            return Err(D::Error::custom("repeat_interval cannot be zero"));
        }
        Ok(Route {
            receiver: r.receiver.unwrap_or_default(),
            group_by,
            group_by_all,
            match_,
            match_re,
            matchers: r.matchers.unwrap_or_default().0,
            mute_time_intervals: r.mute_time_intervals.unwrap_or_default(),
            active_time_intervals: r.active_time_intervals.unwrap_or_default(),
            continue_: r.continue_.unwrap_or(false),
            routes: r
                .routes
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let pos = position(&s);
                    let mut route = s.value;
                    route.position = pos;
                    route
                })
                .collect(),
            group_wait: r.group_wait,
            group_interval: r.group_interval,
            repeat_interval: r.repeat_interval,
            position: None,
        })
    }
}

#[derive(Serialize)]
struct RouteOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    receiver: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<&'a str>,
    #[serde(rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    match_: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_re: &'a BTreeMap<String, Regexp>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mute_time_intervals: &'a Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    active_time_intervals: &'a Vec<String>,
    #[serde(rename = "continue")]
    continue_: bool,
    #[serde(skip_serializing_if = "<[Route]>::is_empty")]
    routes: &'a [Route],
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<ModelDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<ModelDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<ModelDuration>,
}

impl Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut group_by: Vec<&str> = self.group_by.iter().flatten().map(String::as_str).collect();
        if self.group_by_all {
            group_by.push("...");
        }
        RouteOut {
            receiver: &self.receiver,
            group_by,
            match_: &self.match_,
            match_re: &self.match_re,
            matchers: self.matchers.iter().map(ToString::to_string).collect(),
            mute_time_intervals: &self.mute_time_intervals,
            active_time_intervals: &self.active_time_intervals,
            continue_: self.continue_,
            routes: &self.routes,
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            repeat_interval: self.repeat_interval,
        }
        .serialize(s)
    }
}

impl Route {
    /// `match`, `match_re` and `matchers` as one sorted list (upstream's `NewRoute`).
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let mut out: Vec<Matcher> = self
            .match_
            .iter()
            .map(|(k, v)| Matcher::new(MatchType::Equal, k.clone(), v.clone()))
            .chain(
                self.match_re
                    .iter()
                    .map(|(k, v)| Matcher::new(MatchType::Regexp, k.clone(), v.0.clone())),
            )
            .filter_map(Result::ok)
            .chain(self.matchers.iter().cloned())
            .collect();
        out.sort();
        out
    }
}

/// `inhibit_rules` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitRule {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match_re: BTreeMap<String, Regexp>,
    #[serde(skip_serializing_if = "matchers_empty")]
    pub source_matchers: Matchers,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match_re: BTreeMap<String, Regexp>,
    #[serde(skip_serializing_if = "matchers_empty")]
    pub target_matchers: Matchers,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

fn matchers_empty(m: &Matchers) -> bool {
    m.0.is_empty()
}

fn legacy_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, Regexp>,
    new: &Matchers,
) -> Vec<Matcher> {
    eq.iter()
        .map(|(k, v)| Matcher::new(MatchType::Equal, k.clone(), v.clone()))
        .chain(
            re.iter()
                .map(|(k, v)| Matcher::new(MatchType::Regexp, k.clone(), v.0.clone())),
        )
        .filter_map(Result::ok)
        .chain(new.0.iter().cloned())
        .collect()
}

impl InhibitRule {
    pub fn source(&self) -> Vec<Matcher> {
        legacy_matchers(
            &self.source_match,
            &self.source_match_re,
            &self.source_matchers,
        )
    }

    pub fn target(&self) -> Vec<Matcher> {
        legacy_matchers(
            &self.target_match,
            &self.target_match_re,
            &self.target_matchers,
        )
    }

    fn validate(&self) -> Result<(), String> {
        for k in self
            .source_match
            .keys()
            .chain(self.source_match_re.keys())
            .chain(self.target_match.keys())
            .chain(self.target_match_re.keys())
        {
            if !is_classic_label_name(k) {
                return Err(format!("invalid label name {k:?}"));
            }
        }
        for e in &self.equal {
            if e.is_empty() {
                return Err(format!("invalid label name {e:?} in equal list"));
            }
        }
        Ok(())
    }
}

/// A loaded, validated alertmanager.yml.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    pub route: Route,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<InhibitRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<Receiver>,
    pub templates: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<NamedTimeInterval>,
    /// The text the configuration was read from.
    #[serde(skip)]
    pub original: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    global: Option<GlobalConfig>,
    route: Option<Spanned<Route>>,
    inhibit_rules: Option<Vec<Spanned<InhibitRule>>>,
    receivers: Option<Vec<Spanned<Receiver>>>,
    templates: Option<Vec<String>>,
    mute_time_intervals: Option<Vec<Spanned<NamedTimeInterval>>>,
    time_intervals: Option<Vec<Spanned<NamedTimeInterval>>>,
}

impl Config {
    /// Parses and validates alertmanager.yml text; `file` names it in errors.
    pub fn load_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let err = |pos: Option<(usize, usize)>, msg: String| ConfigError::new(file, pos, msg);
        let global = raw.global.unwrap_or_default();

        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for r in raw.receivers.unwrap_or_default() {
            let pos = position(&r);
            let mut rcv = r.value;
            if !names.insert(rcv.name.clone()) {
                return Err(err(
                    pos,
                    format!("notification config name {:?} is not unique", rcv.name),
                ));
            }
            apply_global(&global, &mut rcv).map_err(|m| err(pos, m))?;
            receivers.push(rcv);
        }

        let mut inhibit_rules = Vec::new();
        for r in raw.inhibit_rules.unwrap_or_default() {
            r.value.validate().map_err(|m| err(position(&r), m))?;
            inhibit_rules.push(r.value);
        }

        let mut ti_names = HashSet::new();
        let mut intervals = |list: Option<Vec<Spanned<NamedTimeInterval>>>,
                             what: &str|
         -> Result<Vec<NamedTimeInterval>, ConfigError> {
            let mut out = Vec::new();
            for t in list.unwrap_or_default() {
                let pos = position(&t);
                if t.value.name.is_empty() {
                    return Err(err(pos, format!("missing name in {what}")));
                }
                if !ti_names.insert(t.value.name.clone()) {
                    return Err(err(pos, format!("{what} {:?} is not unique", t.value.name)));
                }
                out.push(t.value);
            }
            Ok(out)
        };
        let mute_time_intervals = intervals(raw.mute_time_intervals, "mute time interval")?;
        let time_intervals = intervals(raw.time_intervals, "time interval")?;

        let Some(route) = raw.route else {
            return Err(err(None, "no route provided in config".into()));
        };
        let pos = position(&route);
        let mut route = route.value;
        route.position = pos;
        if route.receiver.is_empty() {
            return Err(err(
                pos,
                "root route must specify a default receiver".into(),
            ));
        }
        if !route.match_.is_empty() || !route.match_re.is_empty() || !route.matchers.is_empty() {
            return Err(err(pos, "root route must not have any matchers".into()));
        }
        if !route.mute_time_intervals.is_empty() {
            return Err(err(
                pos,
                "root route must not have any mute time intervals".into(),
            ));
        }
        if !route.active_time_intervals.is_empty() {
            return Err(err(
                pos,
                "root route must not have any active time intervals".into(),
            ));
        }
        if route.continue_ {
            return Err(err(pos, "cannot have continue in root route".into()));
        }
        check_route(&route, &names, &ti_names, file)?;

        Ok(Config {
            global,
            route,
            inhibit_rules,
            receivers,
            templates: raw.templates.unwrap_or_default(),
            mute_time_intervals,
            time_intervals,
            original: text.to_string(),
        })
    }

    /// Reads and validates a file; relative template and credential paths are joined
    /// with its directory.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&name, None, e.to_string()))?;
        let mut cfg = Config::load_str(&text, &name)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for t in &mut cfg.templates {
            hearth_discovery::http_client::join_dir(dir, t);
        }
        cfg.global.http_config.client.set_directory(dir);
        for r in &mut cfg.receivers {
            for w in &mut r.webhook_configs {
                if let Some(h) = &mut w.http_config {
                    h.client.set_directory(dir);
                }
            }
            for s in &mut r.slack_configs {
                if let Some(h) = &mut s.http_config {
                    h.client.set_directory(dir);
                }
            }
            for p in &mut r.pagerduty_configs {
                if let Some(h) = &mut p.http_config {
                    h.client.set_directory(dir);
                }
            }
        }
        Ok(cfg)
    }

    /// The effective configuration as YAML, secrets as `<secret>`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }

    /// A time interval by name (`time_intervals` or `mute_time_intervals`).
    pub fn time_interval(&self, name: &str) -> Option<&NamedTimeInterval> {
        self.time_intervals
            .iter()
            .chain(self.mute_time_intervals.iter())
            .find(|t| t.name == name)
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

fn check_route(
    r: &Route,
    receivers: &HashSet<String>,
    intervals: &HashSet<String>,
    file: &str,
) -> Result<(), ConfigError> {
    if !r.receiver.is_empty() && !receivers.contains(&r.receiver) {
        return Err(ConfigError::new(
            file,
            r.position,
            format!("undefined receiver {:?} used in route", r.receiver),
        ));
    }
    for ti in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains(ti) {
            return Err(ConfigError::new(
                file,
                r.position,
                format!("undefined time interval {ti:?} used in route"),
            ));
        }
    }
    for c in &r.routes {
        check_route(c, receivers, intervals, file)?;
    }
    Ok(())
}

/// Fills integration settings from `global` and validates each integration, as
/// upstream's `Config.UnmarshalYAML`.
fn apply_global(g: &GlobalConfig, r: &mut Receiver) -> Result<(), String> {
    for w in &mut r.webhook_configs {
        w.validate()?;
        if w.http_config.is_none() {
            w.http_config = Some(g.http_config.clone());
        }
    }
    for e in &mut r.email_configs {
        e.validate()?;
        if e.tls_config.is_none() {
            e.tls_config = g.smtp_tls_config.clone();
        }
        if e.smarthost.is_empty() {
            if g.smtp_smarthost.is_empty() {
                return Err("no global SMTP smarthost set".into());
            }
            e.smarthost = g.smtp_smarthost.clone();
        }
        if e.from.is_empty() {
            if g.smtp_from.is_empty() {
                return Err("no global SMTP from set".into());
            }
            e.from = g.smtp_from.clone();
        }
        if e.hello.is_empty() {
            e.hello = g.smtp_hello.clone();
        }
        if e.auth_username.is_empty() {
            e.auth_username = g.smtp_auth_username.clone();
        }
        if e.auth_password.is_empty() && e.auth_password_file.is_empty() {
            e.auth_password = g.smtp_auth_password.clone();
            e.auth_password_file = g.smtp_auth_password_file.clone();
        }
        if e.auth_secret.is_empty() {
            e.auth_secret = g.smtp_auth_secret.clone();
        }
        if e.auth_identity.is_empty() {
            e.auth_identity = g.smtp_auth_identity.clone();
        }
        if e.require_tls.is_none() {
            e.require_tls = Some(g.smtp_require_tls);
        }
    }
    for s in &mut r.slack_configs {
        s.validate()?;
        if s.http_config.is_none() {
            s.http_config = Some(g.http_config.clone());
        }
        if s.api_url.is_none() && s.api_url_file.is_empty() {
            if g.slack_api_url.is_none() && g.slack_api_url_file.is_empty() {
                return Err("no global Slack API URL set either inline or in a file".into());
            }
            s.api_url = g.slack_api_url.clone();
            s.api_url_file = g.slack_api_url_file.clone();
        }
    }
    for p in &mut r.pagerduty_configs {
        p.validate()?;
        if p.http_config.is_none() {
            p.http_config = Some(g.http_config.clone());
        }
        if p.url.is_none() {
            p.url = Some(g.pagerduty_url.clone());
        }
    }
    Ok(())
}

/// The configuration `hearth` uses when there is no alertmanager.yml: one route to one
/// receiver without integrations, like upstream's simple default.
pub const DEFAULT_CONFIG: &str = "route:
  receiver: default
  group_by: ['alertname']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: default
";

#[cfg(test)]
mod tests;
