//! `remote_write` and `remote_read` endpoints.

use std::collections::BTreeMap;
use std::path::Path;

use crate::omitempty::{is_false, is_zero_i64, is_zero_u64};
use hearth_discovery::{ConfigUrl, HttpClientConfig, ModelDuration};
use hearth_model::ValidationScheme;
use hearth_relabel::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::global::LabelMap;
use crate::scrape::{RelabelList, non_null_rules, serialize_rules};

/// Headers the client sets itself; `headers` may not override them (`authorization`
/// has its own message).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Upstream's `validateHeaders`.
pub(crate) fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for name in headers.keys() {
        let lower = name.to_lowercase();
        if lower == "authorization" {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "{name} is a reserved header. It must not be changed"
            ));
        }
    }
    Ok(())
}

/// `queue_config`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub capacity: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_shards: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub min_shards: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_samples_per_send: i64,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub batch_send_deadline: ModelDuration,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub min_backoff: ModelDuration,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub max_backoff: ModelDuration,
    #[serde(rename = "retry_on_http_429", skip_serializing_if = "is_false")]
    pub retry_on_rate_limit: bool,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub sample_age_limit: ModelDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: ModelDuration::from_secs(5),
            min_backoff: ModelDuration(30),
            max_backoff: ModelDuration::from_secs(5),
            retry_on_rate_limit: false,
            sample_age_limit: ModelDuration(0),
        }
    }
}

/// `metadata_config`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: ModelDuration,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: ModelDuration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

/// Remote write 1.0 (`prometheus.WriteRequest`) and 2.0 messages.
pub const PROTOBUF_MESSAGES: &[&str] =
    &["prometheus.WriteRequest", "io.prometheus.write.v2.Request"];

/// A `remote_write` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteWriteConfig {
    pub url: Option<ConfigUrl>,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub remote_timeout: ModelDuration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub send_exemplars: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub send_native_histograms: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub round_robin_dns: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protobuf_message: String,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
    #[serde(skip)]
    raw_write_relabel_configs: RelabelList,
    #[serde(skip)]
    unsupported_auth: UnsupportedAuth,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: None,
            remote_timeout: ModelDuration::from_secs(30),
            headers: BTreeMap::new(),
            write_relabel_configs: Vec::new(),
            name: String::new(),
            send_exemplars: false,
            send_native_histograms: false,
            round_robin_dns: false,
            protobuf_message: PROTOBUF_MESSAGES[0].into(),
            // Remote write defaults to HTTP/1.1, unlike other clients.
            http_client: HttpClientConfig {
                enable_http2: false,
                ..HttpClientConfig::default()
            },
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            raw_write_relabel_configs: Vec::new(),
            unsupported_auth: UnsupportedAuth,
        }
    }
}

hearth_discovery::deserialize_with_inline!(
    RemoteWriteConfig,
    fields {
        "url" => url,
        "remote_timeout" => remote_timeout,
        "headers" => headers,
        "write_relabel_configs" => raw_write_relabel_configs,
        "name" => name,
        "send_exemplars" => send_exemplars,
        "send_native_histograms" => send_native_histograms,
        "round_robin_dns" => round_robin_dns,
        "protobuf_message" => protobuf_message,
        "queue_config" => queue_config,
        "metadata_config" => metadata_config,
    },
    inline { http_client: HttpClientConfig, unsupported_auth: UnsupportedAuth }
);

/// Cloud authentication blocks hearth does not implement; naming one is a clear error.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UnsupportedAuth;

impl hearth_discovery::inline_fields::InlineFields for UnsupportedAuth {
    const FIELDS: &'static [&'static str] = &["sigv4", "azuread", "google_iam"];

    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        _map: &mut A,
    ) -> Result<bool, A::Error> {
        if Self::FIELDS.contains(&key) {
            return Err(serde::de::Error::custom(format!(
                "{key} is not supported by hearth yet"
            )));
        }
        Ok(false)
    }
}

impl RemoteWriteConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_write is empty".into());
        }
        self.write_relabel_configs = non_null_rules(
            std::mem::take(&mut self.raw_write_relabel_configs),
            "relabeling rule in remote write config",
        )?;
        validate_headers(&self.headers)?;
        if !PROTOBUF_MESSAGES.contains(&self.protobuf_message.as_str()) {
            return Err(format!(
                "invalid protobuf_message value: unknown remote write protobuf message {}, supported: {}",
                self.protobuf_message,
                PROTOBUF_MESSAGES.join(", ")
            ));
        }
        self.http_client.validate()
    }

    pub fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        for rc in &mut self.write_relabel_configs {
            rc.name_validation_scheme = Some(scheme);
            rc.validate(scheme).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client.set_directory(dir);
    }
}

/// A `remote_read` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteReadConfig {
    pub url: Option<ConfigUrl>,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub remote_timeout: ModelDuration,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub chunked_read_limit: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_recent: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    #[serde(skip_serializing_if = "LabelMap::is_empty")]
    pub required_matchers: LabelMap,
    #[serde(skip_serializing_if = "is_false")]
    pub filter_external_labels: bool,
}

impl Default for RemoteReadConfig {
    fn default() -> Self {
        RemoteReadConfig {
            url: None,
            remote_timeout: ModelDuration::from_secs(60),
            chunked_read_limit: 50_000_000,
            headers: BTreeMap::new(),
            read_recent: false,
            name: String::new(),
            http_client: HttpClientConfig::default(),
            required_matchers: LabelMap::default(),
            filter_external_labels: true,
        }
    }
}

hearth_discovery::deserialize_with_inline!(
    RemoteReadConfig,
    fields {
        "url" => url,
        "remote_timeout" => remote_timeout,
        "chunked_read_limit" => chunked_read_limit,
        "headers" => headers,
        "read_recent" => read_recent,
        "name" => name,
        "required_matchers" => required_matchers,
        "filter_external_labels" => filter_external_labels,
    },
    inline { http_client: HttpClientConfig }
);

impl RemoteReadConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_read is empty".into());
        }
        validate_headers(&self.headers)?;
        self.http_client.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client.set_directory(dir);
    }
}
