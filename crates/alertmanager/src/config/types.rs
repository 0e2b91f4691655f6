//! Value types of alertmanager.yml: URLs, secret URLs, host:port, matcher lists,
//! regexes of `match_re`, and the `http_config` block.

use std::fmt;

use hearth_discovery::HttpClientConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::matcher::{Matcher, parse_matchers};

/// An `http`/`https` URL (upstream's `config.URL`) and its text as written, which is
/// how it prints (a password redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct Url(pub url::Url, pub String);

/// Upstream's `parseURL`.
pub fn parse_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("parse {s:?}: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("unsupported scheme {:?} for URL", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("missing host for URL".into());
    }
    Ok(u)
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_url(&s)
            .map(|u| Url(u, s))
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut u = self.0.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("xxxxx"));
            return s.serialize_str(u.as_str());
        }
        s.serialize_str(&self.1)
    }
}

/// A URL that is a secret (Slack webhooks): printed as `<secret>`; `<secret>` read back
/// (a configuration printed by the API) is accepted as an unusable placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(pub Option<url::Url>);

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "<secret>" {
            return Ok(SecretUrl(None));
        }
        parse_url(&s)
            .map(|u| SecretUrl(Some(u)))
            .map_err(|e| serde::de::Error::custom(e.replace(&s, "[REDACTED]")))
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// `host:port` (SMTP smarthost).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: String,
}

impl HostPort {
    pub fn is_empty(&self) -> bool {
        self.host.is_empty() && self.port.is_empty()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(HostPort::default());
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(|| {
            serde::de::Error::custom(format!("address {s}: missing port in address"))
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if port.is_empty() {
            return Err(serde::de::Error::custom("port cannot be empty"));
        }
        Ok(HostPort {
            host: host.into(),
            port: port.into(),
        })
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A `matchers:` list: each string may hold several matchers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl<'de> Deserialize<'de> for Matchers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let lines = Vec::<String>::deserialize(d)?;
        let mut out = Vec::new();
        for l in lines {
            out.extend(parse_matchers(&l).map_err(serde::de::Error::custom)?);
        }
        Ok(Matchers(out))
    }
}

impl Serialize for Matchers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

/// A `match_re` value: a Go regex, anchored when used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regexp(pub String);

impl<'de> Deserialize<'de> for Regexp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::matcher::compile_anchored(&s).map_err(serde::de::Error::custom)?;
        Ok(Regexp(s))
    }
}

impl Serialize for Regexp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `http_config`: Prometheus' HTTP client configuration as a block of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct HttpConfig {
    pub client: HttpClientConfig,
}

hearth_discovery::deserialize_with_inline!(
    HttpConfig,
    fields {},
    inline {
        client: HttpClientConfig
    }
);

impl HttpConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        self.client.validate()
    }
}

/// Label names of `match`/`group_by`/`equal` must be legacy or UTF-8 valid names.
pub fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}
