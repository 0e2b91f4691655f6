//! The HTTP client configuration shared by scrape configs, HTTP and Kubernetes SD,
//! alertmanagers and remote read/write (upstream's `prometheus/common/config`): basic
//! auth, authorization, OAuth2 (client credentials, [`crate::oauth2`]), TLS, proxies and extra headers,
//! with upstream's validation wording; and the `reqwest` client built from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::MapAccess;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::inline_fields::{InlineFields, next_value_or_default};

/// A secret from a configuration file: it never appears in logs or in the effective
/// configuration, which prints `<secret>` instead.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(String::deserialize(d)?))
    }
}

/// An absolute URL from a configuration file, printed as written (password redacted).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigUrl {
    pub url: url::Url,
    written: String,
}

impl ConfigUrl {
    pub fn parse(s: &str) -> Result<ConfigUrl, String> {
        url::Url::parse(s)
            .map(|url| ConfigUrl {
                url,
                written: s.to_string(),
            })
            .map_err(|e| format!("parse {s:?}: {e}"))
    }

    /// The URL with any password replaced by `xxxxx`, as upstream prints it.
    pub fn redacted(&self) -> String {
        if self.url.password().is_none() {
            return self.written.clone();
        }
        let mut u = self.url.clone();
        let _ = u.set_password(Some("xxxxx"));
        u.to_string()
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

impl fmt::Display for ConfigUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ConfigUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ConfigUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ConfigUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Joins a relative file path from a configuration file with the file's directory.
pub fn join_dir(dir: &Path, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() {
        return;
    }
    *path = dir.join(path.as_str()).to_string_lossy().into_owned();
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username_ref: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_ref: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_ref: String,
}

/// `min_version` / `max_version` of a TLS config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLS10",
            TlsVersion::Tls11 => "TLS11",
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

impl Serialize for TlsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown TLS version: {s}"
                )));
            }
        })
    }
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    pub insecure_skip_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_protos: Vec<String>,
}

crate::deserialize_with_inline!(
    TlsConfig,
    fields {
        "ca" => ca, "cert" => cert, "key" => key, "ca_file" => ca_file,
        "cert_file" => cert_file, "key_file" => key_file, "ca_ref" => ca_ref,
        "cert_ref" => cert_ref, "key_ref" => key_ref, "server_name" => server_name,
        "insecure_skip_verify" => insecure_skip_verify, "min_version" => min_version,
        "max_version" => max_version, "next_protos" => next_protos,
    },
    inline {}
);

/// Upstream's "at most one of X, X_file & X_ref" checks.
fn at_most_one(set: &[bool], message: &str) -> Result<(), String> {
    if set.iter().filter(|b| **b).count() > 1 {
        return Err(message.to_string());
    }
    Ok(())
}

impl TlsConfig {
    /// Whether every field is unset: upstream omits such a `tls_config` when printing.
    pub fn is_zero(&self) -> bool {
        *self == TlsConfig::default()
    }

    fn after_deserialize(&mut self) -> Result<(), String> {
        self.validate()
    }

    pub fn validate(&self) -> Result<(), String> {
        at_most_one(
            &[
                !self.ca.is_empty(),
                !self.ca_file.is_empty(),
                !self.ca_ref.is_empty(),
            ],
            "at most one of ca, ca_file & ca_ref must be configured",
        )?;
        at_most_one(
            &[
                !self.cert.is_empty(),
                !self.cert_file.is_empty(),
                !self.cert_ref.is_empty(),
            ],
            "at most one of cert, cert_file & cert_ref must be configured",
        )?;
        at_most_one(
            &[
                !self.key.is_empty(),
                !self.key_file.is_empty(),
                !self.key_ref.is_empty(),
            ],
            "at most one of key and key_file must be configured",
        )?;
        let cert = !self.cert.is_empty() || !self.cert_file.is_empty() || !self.cert_ref.is_empty();
        let key = !self.key.is_empty() || !self.key_file.is_empty() || !self.key_ref.is_empty();
        if cert && !key {
            return Err("exactly one of key or key_file must be configured when a client certificate is configured".into());
        }
        if key && !cert {
            return Err("exactly one of cert or cert_file must be configured when a client key is configured".into());
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && max < min
        {
            return Err("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into());
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }
}

/// `proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header` (inline).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProxyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<ConfigUrl>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
    #[serde(skip_serializing_if = "is_false")]
    pub proxy_from_environment: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
}

impl InlineFields for ProxyConfig {
    const FIELDS: &'static [&'static str] = &[
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
    ];

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "proxy_url" => self.proxy_url = map.next_value()?,
            "no_proxy" => self.no_proxy = next_value_or_default(map)?,
            "proxy_from_environment" => self.proxy_from_environment = next_value_or_default(map)?,
            "proxy_connect_header" => self.proxy_connect_header = next_value_or_default(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl ProxyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.proxy_connect_header.is_empty()
            && !self.proxy_from_environment
            && self.proxy_url.is_none()
        {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && self.proxy_url.is_some() {
            return Err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            );
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            );
        }
        if self.proxy_url.is_none() && !self.no_proxy.is_empty() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        Ok(())
    }
}

/// `oauth2`: client credentials; the token flow is [`crate::oauth2::OAuth2Token`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OAuth2 {
    pub client_id: String,
    pub client_secret: Secret,
    pub client_secret_file: String,
    pub client_secret_ref: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub token_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "TlsConfig::is_zero")]
    pub tls_config: TlsConfig,
    #[serde(flatten)]
    pub proxy: ProxyConfig,
}

crate::deserialize_with_inline!(
    OAuth2,
    fields {
        "client_id" => client_id, "client_secret" => client_secret,
        "client_secret_file" => client_secret_file, "client_secret_ref" => client_secret_ref,
        "scopes" => scopes, "token_url" => token_url, "endpoint_params" => endpoint_params,
        "tls_config" => tls_config,
    },
    inline { proxy: ProxyConfig }
);

impl OAuth2 {
    fn after_deserialize(&mut self) -> Result<(), String> {
        self.proxy.validate()
    }
}

/// One entry of `http_headers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderValues {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Headers upstream's HTTP client sets itself; `http_headers` may not override them.
const RESERVED_HTTP_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// An HTTP client configuration (upstream's `HTTPClientConfig`), inline in its parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Deprecated; moved into `authorization` by [`HttpClientConfig::validate`].
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bearer_token_file: String,
    #[serde(skip_serializing_if = "TlsConfig::is_zero")]
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HeaderValues>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy: ProxyConfig::default(),
            http_headers: BTreeMap::new(),
        }
    }
}

impl InlineFields for HttpClientConfig {
    const FIELDS: &'static [&'static str] = &[
        "basic_auth",
        "authorization",
        "oauth2",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "follow_redirects",
        "enable_http2",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "http_headers",
    ];

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "basic_auth" => self.basic_auth = map.next_value()?,
            "authorization" => self.authorization = map.next_value()?,
            "oauth2" => self.oauth2 = map.next_value()?,
            "bearer_token" => self.bearer_token = next_value_or_default(map)?,
            "bearer_token_file" => self.bearer_token_file = next_value_or_default(map)?,
            "tls_config" => self.tls_config = next_value_or_default(map)?,
            "follow_redirects" => self.follow_redirects = next_value_or_default(map)?,
            "enable_http2" => self.enable_http2 = next_value_or_default(map)?,
            "http_headers" => self.http_headers = next_value_or_default(map)?,
            other => return self.proxy.read_field(other, map),
        }
        Ok(true)
    }
}

impl HttpClientConfig {
    /// Upstream's `HTTPClientConfig.Validate`, including its normalisation: a
    /// `bearer_token(_file)` becomes an `authorization` of type Bearer, and an empty
    /// authorization type becomes `Bearer`.
    pub fn validate(&mut self) -> Result<(), String> {
        let has_bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && has_bearer {
            return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
        }
        if let Some(b) = &self.basic_auth {
            at_most_one(
                &[
                    !b.username.is_empty(),
                    !b.username_file.is_empty(),
                    !b.username_ref.is_empty(),
                ],
                "at most one of basic_auth username, username_file & username_ref must be configured",
            )?;
            at_most_one(
                &[
                    !b.password.is_empty(),
                    !b.password_file.is_empty(),
                    !b.password_ref.is_empty(),
                ],
                "at most one of basic_auth password, password_file & password_ref must be configured",
            )?;
        }
        if let Some(a) = &mut self.authorization {
            if has_bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            at_most_one(
                &[
                    !a.credentials.is_empty(),
                    !a.credentials_file.is_empty(),
                    !a.credentials_ref.is_empty(),
                ],
                "at most one of authorization credentials & credentials_file must be configured",
            )?;
            a.kind = a.kind.trim().to_string();
            if a.kind.is_empty() {
                a.kind = "Bearer".into();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        } else if !self.bearer_token.is_empty() {
            self.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: std::mem::take(&mut self.bearer_token),
                ..Authorization::default()
            });
        } else if !self.bearer_token_file.is_empty() {
            self.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
                ..Authorization::default()
            });
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            if o.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if o.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            at_most_one(
                &[
                    !o.client_secret.is_empty(),
                    !o.client_secret_file.is_empty(),
                    !o.client_secret_ref.is_empty(),
                ],
                "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
            )?;
        }
        self.proxy.validate()?;
        for name in self.http_headers.keys() {
            let canonical = canonical_header_name(name);
            if RESERVED_HTTP_HEADERS.contains(&canonical.as_str()) {
                return Err(format!("setting header {canonical:?} is not allowed"));
            }
        }
        Ok(())
    }

    /// Joins relative file paths with the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.password_file);
            join_dir(dir, &mut b.username_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                join_dir(dir, f);
            }
        }
        join_dir(dir, &mut self.bearer_token_file);
    }

    /// Whether anything differs from the default client (Kubernetes SD rejects a custom
    /// client without `api_server`).
    pub fn is_default(&self) -> bool {
        *self == HttpClientConfig::default()
    }
}

/// Go's `http.CanonicalHeaderKey`: `x-foo-bar` → `X-Foo-Bar`.
fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// Why an HTTP client could not be built or a request not authorised.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("unable to read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("unable to use specified CA cert {0}")]
    BadCa(String),
    #[error("unable to use specified client cert ({0}) & key: {1}")]
    BadClientCert(String, String),
    #[error("{0} is not supported by hearth yet")]
    Unsupported(&'static str),
    #[error("building HTTP client: {0}")]
    Build(String),
    #[error("oauth2: {0}")]
    OAuth2(String),
}

fn read_file(what: &'static str, path: &str) -> Result<String, HttpClientError> {
    std::fs::read_to_string(path).map_err(|source| HttpClientError::ReadFile {
        what,
        path: path.to_string(),
        source,
    })
}

impl HttpClientConfig {
    /// Builds a client for this configuration. Credentials are not baked in: call
    /// [`HttpClientConfig::authorize`] on each request so that rotated files are re-read,
    /// as upstream does.
    ///
    /// `tls_config.server_name` needs the endpoint's URL: see
    /// [`HttpClientConfig::build_endpoint_client`].
    pub fn build_client(&self, user_agent: &str) -> Result<reqwest::Client, HttpClientError> {
        self.client_builder(user_agent)?
            .build()
            .map_err(|e| HttpClientError::Build(e.to_string()))
    }

    /// A client for requests to one URL with this configuration, `tls_config.server_name`
    /// included: TLS connections send it as SNI and verify the server's certificate
    /// against it, as Go's `tls.Config.ServerName` does, while the connection still goes
    /// to the URL's host and the `Host` header still names it.
    ///
    /// reqwest derives SNI and the verified name from the request URL's host and offers
    /// no override, so the request URL's host becomes `server_name` and the client's
    /// resolver maps that name back to the URL's real host. Each such client serves one
    /// host, so its connection pool never mixes two targets that share a `server_name`.
    pub fn build_endpoint_client(
        &self,
        user_agent: &str,
        url: &str,
    ) -> Result<EndpointClient, HttpClientError> {
        self.endpoint_client(user_agent, url, None)
    }

    /// [`HttpClientConfig::build_endpoint_client`] that reuses `shared` (a client this
    /// configuration built) unless `server_name` needs a client of the endpoint's own.
    pub fn endpoint_client_sharing(
        &self,
        shared: &reqwest::Client,
        user_agent: &str,
        url: &str,
    ) -> Result<EndpointClient, HttpClientError> {
        self.endpoint_client(user_agent, url, Some(shared))
    }

    fn endpoint_client(
        &self,
        user_agent: &str,
        url: &str,
        shared: Option<&reqwest::Client>,
    ) -> Result<EndpointClient, HttpClientError> {
        let mut parsed = reqwest::Url::parse(url)
            .map_err(|e| HttpClientError::Build(format!("parse {url:?}: {e}")))?;
        let server_name = self.tls_config.server_name.as_str();
        let rewrite = !server_name.is_empty()
            && parsed.scheme() == "https"
            && parsed
                .host_str()
                .is_some_and(|h| !h.eq_ignore_ascii_case(server_name));
        if !rewrite {
            return Ok(EndpointClient {
                client: match shared {
                    Some(c) => c.clone(),
                    None => self.build_client(user_agent)?,
                },
                url: url.to_string(),
                host: None,
            });
        }
        if server_name.parse::<std::net::IpAddr>().is_ok() {
            return Err(HttpClientError::Unsupported(
                "tls_config.server_name as an IP address",
            ));
        }
        let target_host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(HttpClientError::Build(format!("no host in {url:?}"))),
        };
        let authority = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        parsed.set_host(Some(server_name)).map_err(|e| {
            HttpClientError::Build(format!("tls_config.server_name {server_name:?}: {e}"))
        })?;
        let resolver = ServerNameResolver {
            server_name: server_name.to_ascii_lowercase(),
            target_host,
        };
        let client = self
            .client_builder(user_agent)?
            .dns_resolver(std::sync::Arc::new(resolver))
            .build()
            .map_err(|e| HttpClientError::Build(e.to_string()))?;
        Ok(EndpointClient {
            client,
            url: parsed.to_string(),
            host: Some(authority),
        })
    }

    fn client_builder(&self, user_agent: &str) -> Result<reqwest::ClientBuilder, HttpClientError> {
        // reqwest is built without a default crypto provider; ring is the lean one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = &self.tls_config;
        let mut b = reqwest::Client::builder()
            .user_agent(user_agent)
            .redirect(if self.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .pool_idle_timeout(std::time::Duration::from_secs(300))
            .tls_danger_accept_invalid_certs(tls.insecure_skip_verify);
        let ca = if !tls.ca.is_empty() {
            Some((tls.ca.clone(), "inline".to_string()))
        } else if !tls.ca_file.is_empty() {
            Some((read_file("CA cert", &tls.ca_file)?, tls.ca_file.clone()))
        } else {
            None
        };
        if let Some((pem, origin)) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|_| HttpClientError::BadCa(origin.clone()))?;
            if certs.is_empty() {
                return Err(HttpClientError::BadCa(origin));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let cert = if !tls.cert.is_empty() {
            Some(tls.cert.clone())
        } else if !tls.cert_file.is_empty() {
            Some(read_file("client cert", &tls.cert_file)?)
        } else {
            None
        };
        if let Some(cert) = cert {
            let key = if !tls.key.is_empty() {
                tls.key.expose().to_string()
            } else {
                read_file("client key", &tls.key_file)?
            };
            let mut pem = cert.into_bytes();
            pem.push(b'\n');
            pem.extend_from_slice(key.as_bytes());
            let origin = if tls.cert_file.is_empty() {
                "inline".into()
            } else {
                tls.cert_file.clone()
            };
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| HttpClientError::BadClientCert(origin, e.to_string()))?;
            b = b.identity(id);
        }
        if let Some(v) = tls.min_version {
            b = b.tls_version_min(reqwest_tls_version(v));
        }
        if let Some(v) = tls.max_version {
            b = b.tls_version_max(reqwest_tls_version(v));
        }
        if let Some(proxy_url) = &self.proxy.proxy_url {
            let mut p = reqwest::Proxy::all(proxy_url.as_str())
                .map_err(|e| HttpClientError::Build(e.to_string()))?;
            if !self.proxy.no_proxy.is_empty() {
                p = p.no_proxy(reqwest::NoProxy::from_string(&self.proxy.no_proxy));
            }
            b = b.proxy(p);
        } else if !self.proxy.proxy_from_environment {
            // Upstream uses no proxy unless configured; reqwest would read the environment.
            b = b.no_proxy();
        }
        if !self.enable_http2 {
            b = b.http1_only();
        }
        Ok(b)
    }

    /// The OAuth2 token source of this configuration, if it has an `oauth2` block; pass
    /// it to [`HttpClientConfig::authorize_with`] on each request.
    pub fn oauth2_token(
        &self,
        user_agent: &str,
    ) -> Result<Option<std::sync::Arc<crate::oauth2::OAuth2Token>>, HttpClientError> {
        self.oauth2
            .as_ref()
            .map(|o| crate::oauth2::OAuth2Token::new(o, user_agent).map(std::sync::Arc::new))
            .transpose()
    }

    /// [`HttpClientConfig::authorize`], plus the OAuth2 bearer token from `oauth2`.
    pub async fn authorize_with(
        &self,
        req: reqwest::RequestBuilder,
        oauth2: Option<&crate::oauth2::OAuth2Token>,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        let req = self.authorize_headers(req)?;
        match oauth2 {
            Some(t) => Ok(req.header("Authorization", t.header().await?)),
            None if self.oauth2.is_some() => Err(HttpClientError::Unsupported("oauth2 here")),
            None => Ok(req),
        }
    }

    /// Adds basic auth, authorization and `http_headers` to a request, reading any
    /// credential files now. Configurations with `oauth2` need
    /// [`HttpClientConfig::authorize_with`]: here they are an error.
    pub fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        if self.oauth2.is_some() {
            return Err(HttpClientError::Unsupported("oauth2 here"));
        }
        self.authorize_headers(req)
    }

    fn authorize_headers(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        if let Some(b) = &self.basic_auth {
            let user = if b.username_file.is_empty() {
                b.username.clone()
            } else {
                read_file("basic auth username file", &b.username_file)?
                    .trim()
                    .to_string()
            };
            let pass = if b.password_file.is_empty() {
                b.password.expose().to_string()
            } else {
                read_file("basic auth password file", &b.password_file)?
                    .trim()
                    .to_string()
            };
            req = req.basic_auth(user, Some(pass));
        }
        if let Some(a) = &self.authorization {
            let creds = if a.credentials_file.is_empty() {
                a.credentials.expose().to_string()
            } else {
                read_file("authorization credentials file", &a.credentials_file)?
                    .trim()
                    .to_string()
            };
            req = req.header("Authorization", format!("{} {}", a.kind, creds));
        }
        for (name, h) in &self.http_headers {
            for v in &h.values {
                req = req.header(name.as_str(), v.as_str());
            }
            for v in &h.secrets {
                req = req.header(name.as_str(), v.expose());
            }
            for f in &h.files {
                req = req.header(name.as_str(), read_file("header file", f)?.trim());
            }
        }
        Ok(req)
    }
}

/// A client and the URL it requests, from [`HttpClientConfig::build_endpoint_client`].
#[derive(Clone, Debug)]
pub struct EndpointClient {
    pub client: reqwest::Client,
    url: String,
    /// The `Host` header when `url`'s host was replaced by `tls_config.server_name`.
    host: Option<String>,
}

impl EndpointClient {
    /// `client` for `url` as it is, without `server_name`.
    pub fn unchanged(client: reqwest::Client, url: &str) -> EndpointClient {
        EndpointClient {
            client,
            url: url.to_string(),
            host: None,
        }
    }

    /// A request to the endpoint's URL (`server_name` applied, the `Host` header naming
    /// the real host).
    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url.as_str());
        match &self.host {
            Some(h) => req.header(reqwest::header::HOST, h.as_str()),
            None => req,
        }
    }

    pub fn get(&self) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET)
    }

    pub fn post(&self) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST)
    }
}

/// Resolves `server_name` to the endpoint's real host (any other name, a redirect's
/// for example, resolves as itself).
struct ServerNameResolver {
    server_name: String,
    target_host: String,
}

impl reqwest::dns::Resolve for ServerNameResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = if name.as_str().eq_ignore_ascii_case(&self.server_name) {
            self.target_host.clone()
        } else {
            name.as_str().to_string()
        };
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn reqwest_tls_version(v: TlsVersion) -> reqwest::tls::Version {
    match v {
        TlsVersion::Tls10 => reqwest::tls::Version::TLS_1_0,
        TlsVersion::Tls11 => reqwest::tls::Version::TLS_1_1,
        TlsVersion::Tls12 => reqwest::tls::Version::TLS_1_2,
        TlsVersion::Tls13 => reqwest::tls::Version::TLS_1_3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_becomes_authorization() {
        let mut c = HttpClientConfig {
            bearer_token: Secret::new("t"),
            ..HttpClientConfig::default()
        };
        c.validate().unwrap();
        let a = c.authorization.unwrap();
        assert_eq!((a.kind.as_str(), a.credentials.expose()), ("Bearer", "t"));
        assert!(c.bearer_token.is_empty());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        let u = ConfigUrl::parse("http://user:pw@host:1/x").unwrap();
        assert_eq!(u.redacted(), "http://user:xxxxx@host:1/x");
    }

    #[test]
    fn server_name_rewrites_the_https_request_but_not_its_host_header() {
        let c = HttpClientConfig {
            tls_config: TlsConfig {
                server_name: "exporter.test".into(),
                ..TlsConfig::default()
            },
            ..HttpClientConfig::default()
        };
        let e = c
            .build_endpoint_client("t", "https://10.0.0.1:9100/metrics?x=1")
            .unwrap();
        let req = e.get().build().unwrap();
        assert_eq!(req.url().as_str(), "https://exporter.test:9100/metrics?x=1");
        assert_eq!(req.headers()["host"], "10.0.0.1:9100");
        // Plain HTTP has no TLS to name.
        let e = c
            .build_endpoint_client("t", "http://10.0.0.1:9100/metrics")
            .unwrap();
        let req = e.get().build().unwrap();
        assert_eq!(req.url().as_str(), "http://10.0.0.1:9100/metrics");
        assert!(req.headers().get("host").is_none());
        // An IP address cannot be mapped back through the resolver.
        let ip = HttpClientConfig {
            tls_config: TlsConfig {
                server_name: "10.0.0.2".into(),
                ..TlsConfig::default()
            },
            ..HttpClientConfig::default()
        };
        let err = ip
            .build_endpoint_client("t", "https://10.0.0.1:9100/metrics")
            .unwrap_err();
        assert!(err.to_string().contains("server_name"), "{err}");
    }

    #[test]
    fn canonical_headers() {
        assert_eq!(canonical_header_name("x-foo-BAR"), "X-Foo-Bar");
    }
}
