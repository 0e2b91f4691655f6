//! The PagerDuty integration, Events API v2: trigger while any alert fires, resolve
//! when all are resolved, deduplicated by the SHA-256 of the group key.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    BoxFuture, Integration, Notification, NotifyError, post_json, read_secret_file, truncate,
};
use crate::config::PagerdutyConfig;

pub struct Pagerduty {
    client: reqwest::Client,
    conf: PagerdutyConfig,
}

impl Pagerduty {
    pub fn new(conf: &PagerdutyConfig, user_agent: &str) -> Result<Pagerduty, String> {
        let http = conf.http_config.clone().unwrap_or_default();
        Ok(Pagerduty {
            client: http
                .client
                .build_client(user_agent)
                .map_err(|e| e.to_string())?,
            conf: conf.clone(),
        })
    }
}

#[derive(Serialize)]
struct Image {
    src: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    alt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    href: String,
}

#[derive(Serialize)]
struct Link {
    href: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
}

#[derive(Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Message {
    routing_key: String,
    event_action: String,
    dedup_key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Payload>,
}

/// Upstream's `GroupKey.Hash()`: hex SHA-256 of the group key.
pub fn group_key_hash(key: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// PagerDuty's limit on the summary.
const MAX_SUMMARY_RUNES: usize = 1024;

impl Integration for Pagerduty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let c = &self.conf;
            if !c.service_key.is_empty() || !c.service_key_file.is_empty() {
                return Err(NotifyError::permanent(
                    "PagerDuty Events API v1 (service_key) is not supported by hearth yet; use routing_key",
                ));
            }
            let data = hearth_template::Value::object(n.template_data());
            let t = |s: &str| n.text(&data, s);
            let firing = n.alerts.iter().any(|a| !a.resolved_at(&n.now));
            let routing_key = if c.routing_key_file.is_empty() {
                t(c.routing_key.expose())?
            } else {
                read_secret_file(&c.routing_key_file)?
            };
            let mut details = BTreeMap::new();
            for (k, v) in &c.details {
                details.insert(k.clone(), t(v)?);
            }
            let (summary, _) = truncate(&t(&c.description)?, MAX_SUMMARY_RUNES);
            let severity = match t(&c.severity)? {
                s if s.is_empty() => "error".to_string(),
                s => s,
            };
            let mut images = Vec::new();
            for i in &c.images {
                let src = t(&i.src)?;
                if !src.is_empty() {
                    images.push(Image {
                        src,
                        alt: t(&i.alt)?,
                        href: t(&i.href)?,
                    });
                }
            }
            let mut links = Vec::new();
            for l in &c.links {
                let href = t(&l.href)?;
                if !href.is_empty() {
                    links.push(Link {
                        href,
                        text: t(&l.text)?,
                    });
                }
            }
            let msg = Message {
                routing_key,
                event_action: if firing { "trigger" } else { "resolve" }.into(),
                dedup_key: group_key_hash(&n.ctx.group_key),
                images,
                links,
                client: t(&c.client)?,
                client_url: t(&c.client_url)?,
                payload: Some(Payload {
                    summary,
                    source: t(&c.source)?,
                    severity,
                    timestamp: None,
                    class: t(&c.class)?,
                    component: t(&c.component)?,
                    group: t(&c.group)?,
                    custom_details: details,
                }),
            };
            let body =
                crate::gojson::to_vec(&msg).map_err(|e| NotifyError::permanent(e.to_string()))?;
            let url = c.url.as_ref().map_or_else(
                || "https://events.pagerduty.com/v2/enqueue".to_string(),
                |u| u.0.to_string(),
            );
            let http = c.http_config.clone().unwrap_or_default();
            let timeout = (!c.timeout.is_zero()).then(|| c.timeout.to_std());
            match post_json(&self.client, &http.client, &url, body, timeout).await {
                // PagerDuty rate limits with 429 and asks for retries.
                Err(mut e) if e.message.starts_with("unexpected status code 429") => {
                    e.retry = true;
                    Err(e)
                }
                r => r.map(|_| ()),
            }
        })
    }
}
