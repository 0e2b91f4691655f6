//! OAuth 2.0 client credentials (the `oauth2` block of an HTTP client configuration), as
//! upstream's `prometheus/common/config` does it through `golang.org/x/oauth2`: a token
//! is fetched from `token_url` with the client ID and secret as basic auth, `scopes` and
//! `endpoint_params` in the form, and reused until ten seconds before it expires; a
//! changed `client_secret_file` fetches a new one.

use std::time::{Duration, Instant};

use crate::http_client::{HttpClientConfig, HttpClientError, OAuth2};

/// Refresh this long before a token's expiry, as `x/oauth2`'s `expiryDelta`.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

struct Cached {
    header: String,
    expires: Option<Instant>,
    secret: String,
}

/// The token source of one `oauth2` configuration, shared by every request made with it.
pub struct OAuth2Token {
    config: OAuth2,
    client: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for OAuth2Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Token")
            .field("token_url", &self.config.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Number>,
}

impl OAuth2Token {
    /// A token source; its own client uses the block's `tls_config` and proxy settings.
    pub fn new(config: &OAuth2, user_agent: &str) -> Result<OAuth2Token, HttpClientError> {
        let http = HttpClientConfig {
            tls_config: config.tls_config.clone(),
            proxy: config.proxy.clone(),
            ..HttpClientConfig::default()
        };
        Ok(OAuth2Token {
            config: config.clone(),
            client: http.build_client(user_agent)?,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    fn secret(&self) -> Result<String, HttpClientError> {
        if self.config.client_secret_file.is_empty() {
            return Ok(self.config.client_secret.expose().to_string());
        }
        std::fs::read_to_string(&self.config.client_secret_file)
            .map(|s| s.trim().to_string())
            .map_err(|source| HttpClientError::ReadFile {
                what: "oauth2 client_secret_file",
                path: self.config.client_secret_file.clone(),
                source,
            })
    }

    /// The `Authorization` header value (`Bearer <token>`), fetching a token if the
    /// cached one is missing, about to expire or was issued for another secret.
    pub async fn header(&self) -> Result<String, HttpClientError> {
        let secret = self.secret()?;
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.secret == secret
            && c.expires.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e)
        {
            return Ok(c.header.clone());
        }
        let fresh = self.fetch(&secret).await?;
        let header = fresh.header.clone();
        *cached = Some(fresh);
        Ok(header)
    }

    async fn fetch(&self, secret: &str) -> Result<Cached, HttpClientError> {
        let err = |m: String| HttpClientError::OAuth2(m);
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.config.scopes.is_empty() {
                form.append_pair("scope", &self.config.scopes.join(" "));
            }
            for (k, v) in &self.config.endpoint_params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        // x/oauth2 escapes the ID and secret before basic auth.
        let escape =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let started = Instant::now();
        let resp = self
            .client
            .post(&self.config.token_url)
            .basic_auth(escape(&self.config.client_id), Some(escape(secret)))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| err(format!("cannot fetch token: {e}")))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| err(format!("cannot fetch token: {e}")))?;
        if !status.is_success() {
            return Err(err(format!(
                "cannot fetch token: {status}\nResponse: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let tok: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| err(format!("cannot parse token response: {e}")))?;
        if tok.access_token.is_empty() {
            return Err(err("server response missing access_token".into()));
        }
        let kind = if tok.token_type.is_empty() || tok.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer".to_string()
        } else {
            tok.token_type
        };
        let expires = tok
            .expires_in
            .and_then(|n| n.as_f64())
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| started + Duration::from_secs_f64(s));
        Ok(Cached {
            header: format!("{kind} {}", tok.access_token),
            expires,
            secret: secret.to_string(),
        })
    }
}
