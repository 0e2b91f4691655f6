//! `--web.config.file`: Prometheus' web configuration (exporter-toolkit's format) — TLS
//! (`tls_server_config`: certificate and key, client certificate policy, TLS versions),
//! basic auth with bcrypt hashes (`basic_auth_users`) and extra response headers
//! (`http_server_config.headers`) — and serving a router with it.
//!
//! Unknown fields are errors with their line and column. The file is read once at
//! start. A refused request gets 401 with `WWW-Authenticate: Basic`, as upstream.
//! bcrypt runs on the blocking pool, and successful checks are cached (keyed by user,
//! hash and a digest of the password) so that scrapers do not pay for it every time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub client_auth_type: String,
    #[serde(default)]
    pub client_ca_file: String,
    #[serde(default)]
    pub client_ca: String,
    #[serde(default)]
    pub min_version: String,
    #[serde(default)]
    pub max_version: String,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    #[serde(default)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// Relative paths in the file are relative to its directory.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl WebConfig {
    /// Reads and checks a web configuration file.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c = WebConfig::parse(&text).map_err(|e| format!("{}:{e}", path.display()))?;
        c.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses the YAML text (errors carry `line:column: `).
    pub fn parse(text: &str) -> Result<WebConfig, String> {
        let c: WebConfig = if text.trim().is_empty() {
            WebConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!("{}:{}: ", l.line(), l.column()))
                    .unwrap_or_default();
                format!("{at}{e}")
            })?
        };
        if let Some(t) = &c.tls_server_config {
            if t.cert_file.is_empty() && t.cert.is_empty() {
                return Err("missing one of cert or cert_file".to_string());
            }
            if t.key_file.is_empty() && t.key.is_empty() {
                return Err("missing one of key or key_file".to_string());
            }
            if !t.cert_file.is_empty() && !t.cert.is_empty() {
                return Err("cert and cert_file are mutually exclusive".to_string());
            }
            if !t.key_file.is_empty() && !t.key.is_empty() {
                return Err("key and key_file are mutually exclusive".to_string());
            }
            match t.client_auth_type.as_str() {
                ""
                | "NoClientCert"
                | "RequestClientCert"
                | "RequireAnyClientCert"
                | "VerifyClientCertIfGiven"
                | "RequireAndVerifyClientCert" => {}
                other => return Err(format!("invalid ClientAuth: {other}")),
            }
        }
        for (user, hash) in &c.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!("invalid bcrypt hash for user {user:?}"));
            }
        }
        for name in c.http_server_config.headers.keys() {
            if HeaderName::try_from(name.as_str()).is_err() {
                return Err(format!("invalid header name {name:?}"));
            }
        }
        Ok(c)
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The rustls configuration of `tls_server_config`, if TLS is on.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let Some(t) = &self.tls_server_config else {
            return Ok(None);
        };
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = if t.cert.is_empty() {
            let f = self.path(&t.cert_file);
            CertificateDer::pem_file_iter(&f)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("failed to load X509KeyPair: {}: {e}", f.display()))?
        } else {
            CertificateDer::pem_slice_iter(t.cert.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("failed to load X509KeyPair: {e}"))?
        };
        let key = if t.key.is_empty() {
            let f = self.path(&t.key_file);
            PrivateKeyDer::from_pem_file(&f)
                .map_err(|e| format!("failed to load X509KeyPair: {}: {e}", f.display()))?
        } else {
            PrivateKeyDer::from_pem_slice(t.key.as_bytes())
                .map_err(|e| format!("failed to load X509KeyPair: {e}"))?
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            match (t.min_version.as_str(), t.max_version.as_str()) {
                ("TLS13", _) => vec![&rustls::version::TLS13],
                (_, "TLS12") => vec![&rustls::version::TLS12],
                ("" | "TLS12" | "TLS10" | "TLS11", "" | "TLS13") => {
                    vec![&rustls::version::TLS12, &rustls::version::TLS13]
                }
                (min, max) => {
                    return Err(format!("unsupported TLS versions min {min:?} max {max:?}"));
                }
            };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?;
        let wants_ca = matches!(
            t.client_auth_type.as_str(),
            "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"
        );
        let builder = if wants_ca {
            let mut roots = rustls::RootCertStore::empty();
            let cas: Vec<CertificateDer<'static>> = if t.client_ca.is_empty() {
                let f = self.path(&t.client_ca_file);
                CertificateDer::pem_file_iter(&f)
                    .and_then(|i| i.collect::<Result<_, _>>())
                    .map_err(|e| format!("{}: {e}", f.display()))?
            } else {
                CertificateDer::pem_slice_iter(t.client_ca.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?
            };
            for c in cas {
                roots.add(c).map_err(|e| e.to_string())?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if t.client_auth_type == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        } else {
            builder.with_no_client_auth()
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(cfg)))
    }
}

/// Checks basic auth credentials against bcrypt hashes, caching successes.
struct Auth {
    users: BTreeMap<String, String>,
    ok: Mutex<HashMap<(String, u64), ()>>,
    seed: std::collections::hash_map::RandomState,
}

impl Auth {
    fn key(&self, user: &str, password: &str) -> (String, u64) {
        let mut h = self.seed.build_hasher();
        h.write(password.as_bytes());
        (user.to_string(), h.finish())
    }

    async fn check(self: &Arc<Self>, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user).cloned() else {
            // Spend the time anyway, as upstream does, so unknown users cannot be told
            // apart by timing.
            let pw = password.to_string();
            let _ = tokio::task::spawn_blocking(move || {
                bcrypt::verify(
                    pw,
                    "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi",
                )
            })
            .await;
            return false;
        };
        let key = self.key(user, password);
        if self.ok.lock().is_ok_and(|m| m.contains_key(&key)) {
            return true;
        }
        let pw = password.to_string();
        let good = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if good && let Ok(mut m) = self.ok.lock() {
            if m.len() > 1000 {
                m.clear();
            }
            m.insert(key, ());
        }
        good
    }
}

fn credentials(req: &Request) -> Option<(String, String)> {
    use base64_decode as b64;
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = b64(rest.trim())?;
    let s = String::from_utf8(decoded).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Standard base64 with padding (what browsers and clients send).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

async fn require_auth(auth: Arc<Auth>, req: Request, next: Next) -> Response {
    if let Some((u, p)) = credentials(&req)
        && auth.check(&u, &p).await
    {
        return next.run(req).await;
    }
    let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    r
}

/// Wraps `router` with the configuration's basic auth and headers.
pub fn apply(router: Router, cfg: &WebConfig) -> Router {
    let mut router = router;
    if !cfg.basic_auth_users.is_empty() {
        let auth = Arc::new(Auth {
            users: cfg.basic_auth_users.clone(),
            ok: Mutex::new(HashMap::new()),
            seed: std::collections::hash_map::RandomState::new(),
        });
        router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
            require_auth(auth.clone(), req, next)
        }));
    }
    let headers: Vec<(HeaderName, HeaderValue)> = cfg
        .http_server_config
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                HeaderName::try_from(k.as_str()).ok()?,
                HeaderValue::try_from(v.as_str()).ok()?,
            ))
        })
        .collect();
    if !headers.is_empty() {
        let headers = Arc::new(headers);
        router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
            let headers = headers.clone();
            async move {
                let mut r = next.run(req).await;
                for (k, v) in headers.iter() {
                    r.headers_mut().insert(k.clone(), v.clone());
                }
                r
            }
        }));
    }
    router
}

/// A listener whose connections are TLS: handshakes run in their own tasks, so a slow
/// client never holds up others.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::net::SocketAddr,
}

impl TlsListener {
    pub fn new(
        listener: tokio::net::TcpListener,
        cfg: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await;
                    match hs {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when the listener is gone; wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `router` on `listener` with the web configuration (plain HTTP without one)
/// until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    cfg: Option<WebConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(cfg) = cfg else {
        return axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let tls = cfg.tls().map_err(std::io::Error::other)?;
    let router = apply(router, &cfg);
    match tls {
        Some(tls) => {
            tracing::info!("TLS is enabled.");
            axum::serve(TlsListener::new(listener, tls)?, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            tracing::info!("TLS is disabled.");
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let c = WebConfig::parse(
            "basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .unwrap();
        assert_eq!(c.basic_auth_users.len(), 1);
        assert!(c.tls_server_config.is_none());
        let e = WebConfig::parse("tls_server_config:\n  cert_file: a\n").unwrap_err();
        assert_eq!(e, "missing one of key or key_file");
        let e = WebConfig::parse("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(e.starts_with("1:1: "), "{e}");
        let e = WebConfig::parse("basic_auth_users:\n  a: notahash\n").unwrap_err();
        assert!(e.contains("invalid bcrypt hash"), "{e}");
        assert!(WebConfig::parse("").unwrap().basic_auth_users.is_empty());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0").unwrap(), b"alice:secret");
        assert_eq!(base64_decode("YTpi").unwrap(), b"a:b");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }
}
