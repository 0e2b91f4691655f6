//! The Slack integration (incoming webhooks and `chat.postMessage`): one attachment
//! built from the templated fields, with upstream's defaults and limits.

use serde::Serialize;

use super::{BoxFuture, Integration, Notification, NotifyError, post_json, truncate, url_or_file};
use crate::config::SlackConfig;

pub struct Slack {
    client: reqwest::Client,
    conf: SlackConfig,
}

impl Slack {
    pub fn new(conf: &SlackConfig, user_agent: &str) -> Result<Slack, String> {
        let http = conf.http_config.clone().unwrap_or_default();
        Ok(Slack {
            client: http
                .client
                .build_client(user_agent)
                .map_err(|e| e.to_string())?,
            conf: conf.clone(),
        })
    }
}

#[derive(Serialize)]
struct Field {
    title: String,
    value: String,
    short: bool,
}

#[derive(Serialize)]
struct Confirm {
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dismiss_text: String,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type")]
    kind: String,
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<Confirm>,
}

#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mrkdwn_in: Vec<String>,
}

#[derive(Serialize)]
struct Request {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_names: bool,
    attachments: Vec<Attachment>,
}

/// Slack's limit on attachment titles.
const MAX_TITLE_RUNES: usize = 1024;

impl Slack {
    fn request(&self, n: &Notification<'_>) -> Result<Vec<u8>, NotifyError> {
        let data = hearth_template::Value::object(n.template_data());
        let t = |s: &str| n.text(&data, s);
        let c = &self.conf;
        let (title, _) = truncate(&t(&c.title)?, MAX_TITLE_RUNES);
        let mut fields = Vec::new();
        for f in &c.fields {
            fields.push(Field {
                title: t(&f.title)?,
                value: t(&f.value)?,
                short: f.short.unwrap_or(c.short_fields),
            });
        }
        let mut actions = Vec::new();
        for a in &c.actions {
            actions.push(Action {
                kind: t(&a.kind)?,
                text: t(&a.text)?,
                url: t(&a.url)?,
                style: t(&a.style)?,
                name: t(&a.name)?,
                value: t(&a.value)?,
                confirm: match &a.confirm {
                    Some(cf) => Some(Confirm {
                        text: t(&cf.text)?,
                        title: t(&cf.title)?,
                        ok_text: t(&cf.ok_text)?,
                        dismiss_text: t(&cf.dismiss_text)?,
                    }),
                    None => None,
                },
            });
        }
        let att = Attachment {
            title,
            title_link: t(&c.title_link)?,
            pretext: t(&c.pretext)?,
            text: t(&c.text)?,
            fallback: t(&c.fallback)?,
            callback_id: t(&c.callback_id)?,
            fields,
            actions,
            image_url: t(&c.image_url)?,
            thumb_url: t(&c.thumb_url)?,
            footer: t(&c.footer)?,
            color: t(&c.color)?,
            mrkdwn_in: if c.mrkdwn_in.is_empty() {
                vec!["fallback".into(), "pretext".into(), "text".into()]
            } else {
                c.mrkdwn_in.clone()
            },
        };
        let req = Request {
            channel: t(&c.channel)?,
            username: t(&c.username)?,
            icon_emoji: t(&c.icon_emoji)?,
            icon_url: t(&c.icon_url)?,
            link_names: c.link_names,
            attachments: vec![att],
        };
        crate::gojson::to_vec(&req).map_err(|e| NotifyError::permanent(e.to_string()))
    }
}

impl Integration for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body = self.request(n)?;
            let url = match &self.conf.api_url {
                Some(u) => match &u.0 {
                    Some(u) => u.to_string(),
                    None => {
                        return Err(NotifyError::permanent(
                            "Slack API URL is a <secret> placeholder",
                        ));
                    }
                },
                None => url_or_file(None, &self.conf.api_url_file)?,
            };
            let http = self.conf.http_config.clone().unwrap_or_default();
            let timeout = (!self.conf.timeout.is_zero()).then(|| self.conf.timeout.to_std());
            let text = post_json(&self.client, &http.client, &url, body, timeout).await?;
            // chat.postMessage answers 200 with {"ok": false, "error": …} on failure.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && v.get("ok") == Some(&serde_json::Value::Bool(false))
            {
                let e = v.get("error").and_then(|e| e.as_str()).unwrap_or("unknown");
                return Err(NotifyError::permanent(format!(
                    "error response from Slack: {e}"
                )));
            }
            Ok(())
        })
    }
}
