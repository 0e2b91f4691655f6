//! `receivers` and their integrations: webhook, Slack, email and PagerDuty, with
//! upstream's defaults (templates, `send_resolved`) and validation messages. Other
//! integrations are refused by name, clearly, rather than ignored.

use std::collections::BTreeMap;

use hearth_discovery::{ModelDuration, Secret, TlsConfig};
use serde::{Deserialize, Serialize};

use super::types::{HostPort, HttpConfig, SecretUrl, Url};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A named receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Receiver {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<EmailConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<WebhookConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email_configs: Option<Vec<EmailConfig>>,
    #[serde(default)]
    pagerduty_configs: Option<Vec<PagerdutyConfig>>,
    #[serde(default)]
    slack_configs: Option<Vec<SlackConfig>>,
    #[serde(default)]
    webhook_configs: Option<Vec<WebhookConfig>>,
    #[serde(default)]
    discord_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    incidentio_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    jira_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    mattermost_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    msteams_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    msteamsv2_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    opsgenie_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pushover_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    rocketchat_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    sns_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    telegram_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    victorops_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    webex_configs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    wechat_configs: Option<serde::de::IgnoredAny>,
}

impl<'de> Deserialize<'de> for Receiver {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawReceiver::deserialize(d)?;
        let unsupported = [
            ("discord_configs", r.discord_configs.is_some()),
            ("incidentio_configs", r.incidentio_configs.is_some()),
            ("jira_configs", r.jira_configs.is_some()),
            ("mattermost_configs", r.mattermost_configs.is_some()),
            ("msteams_configs", r.msteams_configs.is_some()),
            ("msteamsv2_configs", r.msteamsv2_configs.is_some()),
            ("opsgenie_configs", r.opsgenie_configs.is_some()),
            ("pushover_configs", r.pushover_configs.is_some()),
            ("rocketchat_configs", r.rocketchat_configs.is_some()),
            ("sns_configs", r.sns_configs.is_some()),
            ("telegram_configs", r.telegram_configs.is_some()),
            ("victorops_configs", r.victorops_configs.is_some()),
            ("webex_configs", r.webex_configs.is_some()),
            ("wechat_configs", r.wechat_configs.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(serde::de::Error::custom(format!(
                "receiver {:?}: {name} is not supported by hearth yet (webhook, slack, email and pagerduty are)",
                r.name
            )));
        }
        if r.name.is_empty() {
            return Err(serde::de::Error::custom("missing name in receiver"));
        }
        Ok(Receiver {
            name: r.name,
            email_configs: r.email_configs.unwrap_or_default(),
            pagerduty_configs: r.pagerduty_configs.unwrap_or_default(),
            slack_configs: r.slack_configs.unwrap_or_default(),
            webhook_configs: r.webhook_configs.unwrap_or_default(),
        })
    }
}

impl Receiver {
    /// Whether the receiver has no integration (it drops what it gets).
    pub fn is_empty(&self) -> bool {
        self.email_configs.is_empty()
            && self.pagerduty_configs.is_empty()
            && self.slack_configs.is_empty()
            && self.webhook_configs.is_empty()
    }
}

/// `webhook_configs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url_file: String,
    pub max_alerts: u64,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub timeout: ModelDuration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            send_resolved: true,
            http_config: None,
            url: None,
            url_file: String::new(),
            max_alerts: 0,
            timeout: ModelDuration::default(),
        }
    }
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), String> {
        match (&self.url, self.url_file.is_empty()) {
            (None, true) => Err("one of url or url_file must be configured".into()),
            (Some(_), false) => Err("at most one of url & url_file must be configured".into()),
            _ => Ok(()),
        }
    }
}

/// A Slack attachment field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// A Slack action's confirmation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfirmationField {
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dismiss_text: String,
}

/// A Slack action (button).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<SlackConfirmationField>,
}

/// `slack_configs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<SecretUrl>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_url_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SlackField>,
    #[serde(skip_serializing_if = "is_false")]
    pub short_fields: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fallback: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub callback_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    #[serde(skip_serializing_if = "is_false")]
    pub link_names: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<SlackAction>,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub timeout: ModelDuration,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            send_resolved: false,
            http_config: None,
            api_url: None,
            api_url_file: String::new(),
            channel: String::new(),
            username: r#"{{ template "slack.default.username" . }}"#.into(),
            color: r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#.into(),
            title: r#"{{ template "slack.default.title" . }}"#.into(),
            title_link: r#"{{ template "slack.default.titlelink" . }}"#.into(),
            pretext: r#"{{ template "slack.default.pretext" . }}"#.into(),
            text: r#"{{ template "slack.default.text" . }}"#.into(),
            fields: Vec::new(),
            short_fields: false,
            footer: r#"{{ template "slack.default.footer" . }}"#.into(),
            fallback: r#"{{ template "slack.default.fallback" . }}"#.into(),
            callback_id: r#"{{ template "slack.default.callbackid" . }}"#.into(),
            icon_emoji: r#"{{ template "slack.default.iconemoji" . }}"#.into(),
            icon_url: r#"{{ template "slack.default.iconurl" . }}"#.into(),
            image_url: String::new(),
            thumb_url: String::new(),
            link_names: false,
            mrkdwn_in: Vec::new(),
            actions: Vec::new(),
            timeout: ModelDuration::default(),
        }
    }
}

impl SlackConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.api_url.is_some() && !self.api_url_file.is_empty() {
            return Err("at most one of api_url & api_url_file must be configured".into());
        }
        for a in &self.actions {
            if a.kind.is_empty() {
                return Err("missing type in Slack action configuration".into());
            }
            if a.text.is_empty() {
                return Err("missing text in Slack action configuration".into());
            }
            if a.url.is_empty() && a.name.is_empty() {
                return Err("missing name or url in Slack action configuration".into());
            }
        }
        for f in &self.fields {
            if f.title.is_empty() {
                return Err("missing title in Slack field configuration".into());
            }
            if f.value.is_empty() {
                return Err("missing value in Slack field configuration".into());
            }
        }
        Ok(())
    }
}

/// An image of a PagerDuty event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyImage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub href: String,
}

/// A link of a PagerDuty event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyLink {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub href: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// `pagerduty_configs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyConfig {
    pub send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpConfig>,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub service_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_key_file: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub routing_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub routing_key_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PagerdutyImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PagerdutyLink>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub timeout: ModelDuration,
}

impl Default for PagerdutyConfig {
    fn default() -> Self {
        PagerdutyConfig {
            send_resolved: true,
            http_config: None,
            service_key: Secret::default(),
            service_key_file: String::new(),
            routing_key: Secret::default(),
            routing_key_file: String::new(),
            url: None,
            client: r#"{{ template "pagerduty.default.client" . }}"#.into(),
            client_url: r#"{{ template "pagerduty.default.clientURL" . }}"#.into(),
            description: r#"{{ template "pagerduty.default.description" .}}"#.into(),
            details: BTreeMap::new(),
            images: Vec::new(),
            links: Vec::new(),
            source: String::new(),
            severity: String::new(),
            class: String::new(),
            component: String::new(),
            group: String::new(),
            timeout: ModelDuration::default(),
        }
    }
}

impl PagerdutyConfig {
    /// Upstream's checks and defaults (`source` from `client`, default `details`).
    pub fn validate(&mut self) -> Result<(), String> {
        if self.routing_key.is_empty()
            && self.service_key.is_empty()
            && self.routing_key_file.is_empty()
            && self.service_key_file.is_empty()
        {
            return Err("missing service or routing key in PagerDuty config".into());
        }
        if !self.routing_key.is_empty() && !self.routing_key_file.is_empty() {
            return Err("at most one of routing_key & routing_key_file must be configured".into());
        }
        if !self.service_key.is_empty() && !self.service_key_file.is_empty() {
            return Err("at most one of service_key & service_key_file must be configured".into());
        }
        if self.source.is_empty() {
            self.source = self.client.clone();
        }
        for (k, v) in [
            (
                "firing",
                r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
            ),
            (
                "resolved",
                r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
            ),
            ("num_firing", "{{ .Alerts.Firing | len }}"),
            ("num_resolved", "{{ .Alerts.Resolved | len }}"),
        ] {
            self.details.entry(k.into()).or_insert_with(|| v.into());
        }
        Ok(())
    }
}

/// `email_configs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub send_resolved: bool,
    pub to: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hello: String,
    #[serde(skip_serializing_if = "HostPort::is_empty")]
    pub smarthost: HostPort,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub auth_password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_password_file: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub auth_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub html: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            send_resolved: false,
            to: String::new(),
            from: String::new(),
            hello: String::new(),
            smarthost: HostPort::default(),
            auth_username: String::new(),
            auth_password: Secret::default(),
            auth_password_file: String::new(),
            auth_secret: Secret::default(),
            auth_identity: String::new(),
            headers: BTreeMap::new(),
            html: r#"{{ template "email.default.html" . }}"#.into(),
            text: String::new(),
            require_tls: None,
            tls_config: None,
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII keys.
fn title_header(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut upper = true;
    for c in k.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

impl EmailConfig {
    /// Upstream's checks; header names are canonicalised.
    pub fn validate(&mut self) -> Result<(), String> {
        if self.to.is_empty() {
            return Err("missing to address in email config".into());
        }
        let mut normalized = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.headers) {
            let n = title_header(&k);
            if normalized.insert(n.clone(), v).is_some() {
                return Err(format!("duplicate header {n:?} in email config"));
            }
        }
        self.headers = normalized;
        if !self.auth_password.is_empty() && !self.auth_password_file.is_empty() {
            return Err(
                "at most one of auth_password & auth_password_file must be configured".into(),
            );
        }
        Ok(())
    }
}
