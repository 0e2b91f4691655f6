//! The webhook integration: payload version 4 (`receiver`, `status`, `alerts`,
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `version`,
//! `groupKey`, `truncatedAlerts`), `max_alerts`, `url_file`.

use std::time::Duration;

use serde::Serialize;

use super::{
    BoxFuture, Integration, Notification, NotifyError, post_json, truncate_alerts, url_or_file,
};
use crate::config::WebhookConfig;
use crate::labelset::{LabelSet, fingerprint_string};
use crate::time::rfc3339_nano;

pub struct Webhook {
    client: reqwest::Client,
    conf: WebhookConfig,
}

impl Webhook {
    pub fn new(conf: &WebhookConfig, user_agent: &str) -> Result<Webhook, String> {
        let http = conf.http_config.clone().unwrap_or_default();
        Ok(Webhook {
            client: http
                .client
                .build_client(user_agent)
                .map_err(|e| e.to_string())?,
            conf: conf.clone(),
        })
    }
}

/// One alert of the payload.
#[derive(Serialize)]
pub struct PayloadAlert {
    pub status: String,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// The webhook message (upstream's `webhook.Message`).
#[derive(Serialize)]
pub struct Message {
    pub receiver: String,
    pub status: String,
    pub alerts: Vec<PayloadAlert>,
    #[serde(rename = "groupLabels")]
    pub group_labels: LabelSet,
    #[serde(rename = "commonLabels")]
    pub common_labels: LabelSet,
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: String,
    #[serde(rename = "groupKey")]
    pub group_key: String,
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
}

/// Builds the version 4 message for a notification.
pub fn message(n: &Notification<'_>, max_alerts: u64) -> Message {
    let (alerts, truncated) = truncate_alerts(max_alerts, n.alerts);
    let sub = Notification {
        ctx: n.ctx,
        alerts,
        external_url: n.external_url,
        templates: n.templates,
        now: n.now,
    };
    let data = sub.template_data();
    Message {
        receiver: data.receiver.clone(),
        status: data.status.clone(),
        alerts: alerts
            .iter()
            .map(|a| PayloadAlert {
                status: a.status_at(&n.now).into(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339_nano(&a.starts_at),
                ends_at: rfc3339_nano(&a.ends_at),
                generator_url: a.generator_url.clone(),
                fingerprint: fingerprint_string(a.fingerprint()),
            })
            .collect(),
        group_labels: n.ctx.group_labels.clone(),
        common_labels: data.common_labels.map.clone(),
        common_annotations: data.common_annotations.map.clone(),
        external_url: n.external_url.to_string(),
        version: "4".into(),
        group_key: n.ctx.group_key.clone(),
        truncated_alerts: truncated,
    }
}

impl Integration for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let msg = message(n, self.conf.max_alerts);
            let body =
                crate::gojson::to_vec(&msg).map_err(|e| NotifyError::permanent(e.to_string()))?;
            let url = url_or_file(self.conf.url.as_ref().map(|u| &u.0), &self.conf.url_file)?;
            let http = self.conf.http_config.clone().unwrap_or_default();
            let timeout = (!self.conf.timeout.is_zero()).then(|| self.conf.timeout.to_std());
            post_json(
                &self.client,
                &http.client,
                &url,
                body,
                timeout.map(|t: Duration| t),
            )
            .await
            .map(|_| ())
        })
    }
}
