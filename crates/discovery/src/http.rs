//! `http_sd_configs`: target groups fetched as JSON from a URL every `refresh_interval`,
//! as upstream's HTTP SD: `Accept: application/json`, the refresh interval in
//! `X-Prometheus-Refresh-Interval-Seconds`, only 200 with a JSON content type accepted,
//! `__meta_url` on every group, and emptied groups when the list shrinks.

use crate::discoverer::{Discoverer, DiscovererFuture, GroupSender, Refresh, run_refresh_loop};
use crate::file::{JsonGroupsError, label_groups, parse_json_groups};
use crate::http_client::HttpClientError;
use crate::sd_config::HttpSdConfig;
use crate::target_group::TargetGroup;

/// The label naming the URL a target came from.
pub const URL_LABEL: &str = "__meta_url";

/// Largest response body accepted.
const MAX_BODY_BYTES: usize = 64 << 20;

/// What a refresh that failed ran into.
#[derive(Debug, thiserror::Error)]
pub enum HttpSdError {
    #[error(transparent)]
    Client(#[from] HttpClientError),
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    #[error("response body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Json(String),
}

pub struct HttpDiscoverer {
    config: HttpSdConfig,
    client: crate::http_client::EndpointClient,
    oauth2: Option<std::sync::Arc<crate::oauth2::OAuth2Token>>,
    user_agent: String,
    /// Group count of the last successful refresh.
    last_len: usize,
}

impl HttpDiscoverer {
    pub fn new(config: HttpSdConfig, user_agent: &str) -> Result<HttpDiscoverer, HttpClientError> {
        let client = config
            .http_client
            .build_endpoint_client(user_agent, config.url.as_str())?;
        let oauth2 = config.http_client.oauth2_token(user_agent)?;
        Ok(HttpDiscoverer {
            config,
            client,
            oauth2,
            user_agent: user_agent.to_string(),
            last_len: 0,
        })
    }

    pub async fn refresh(&mut self) -> Result<Vec<TargetGroup>, HttpSdError> {
        let interval = self.config.refresh_interval.millis() as f64 / 1000.0;
        let req = self
            .client
            .get()
            .header("Accept", "application/json")
            .header("User-Agent", &self.user_agent)
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                interval.to_string(),
            );
        let req = self
            .config
            .http_client
            .authorize_with(req, self.oauth2.as_deref())
            .await?;
        let mut resp = req.send().await?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(HttpSdError::Status(status.to_string()));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !is_json_content_type(&content_type) {
            return Err(HttpSdError::ContentType(content_type));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(HttpSdError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        let groups = parse_json_groups(&text).map_err(|e| match e {
            JsonGroupsError::Syntax(e) => HttpSdError::Json(e.to_string()),
            JsonGroupsError::Invalid(m) => HttpSdError::Json(m),
        })?;
        let n = groups.len();
        let url = self.config.url.as_str();
        let mut groups = label_groups(groups, URL_LABEL, url, |i| format!("{url}:{i}"));
        for i in n..self.last_len {
            groups.push(TargetGroup {
                source: format!("{url}:{i}"),
                ..TargetGroup::default()
            });
        }
        self.last_len = n;
        Ok(groups)
    }
}

/// `^application/json(;.*)?$`
fn is_json_content_type(ct: &str) -> bool {
    ct == "application/json" || ct.starts_with("application/json;")
}

impl Refresh for HttpDiscoverer {
    type Error = HttpSdError;

    async fn refresh(&mut self) -> Result<Vec<TargetGroup>, HttpSdError> {
        let r = HttpDiscoverer::refresh(self).await;
        if r.is_err() {
            crate::self_metrics::inc(&crate::self_metrics::HTTP_FAILURES);
        }
        r
    }
}

impl Discoverer for HttpDiscoverer {
    fn run(mut self: Box<Self>, updates: GroupSender) -> DiscovererFuture {
        Box::pin(async move {
            let interval = self.config.refresh_interval.to_std();
            run_refresh_loop("http", interval, updates, &mut *self).await;
        })
    }
}
