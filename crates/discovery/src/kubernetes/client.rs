//! The API server connection of a `kubernetes_sd_configs` entry: `api_server` with the
//! entry's HTTP client configuration, a kubeconfig file, or the in-cluster service
//! account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted token), as upstream.

use base64::Engine as _;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use rustls::pki_types::pem::PemObject as _;

use crate::http_client::HttpClientConfig;
use crate::sd_config::KubernetesSdConfig;

/// Why a Kubernetes discoverer could not connect or watch.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error("api_server {0:?} is not a valid URI: {1}")]
    BadApiServer(String, String),
    #[error("kubeconfig_file {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("in-cluster configuration: {0}")]
    InCluster(String),
    #[error("unable to read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0} in kubernetes_sd_configs is not supported by hearth yet")]
    Unsupported(&'static str),
    #[error("bad header {0:?}: {1}")]
    BadHeader(String, String),
    #[error("building the Kubernetes client: {0}")]
    Client(String),
}

fn read(what: &'static str, path: &str) -> Result<String, KubernetesError> {
    std::fs::read_to_string(path).map_err(|source| KubernetesError::ReadFile {
        what,
        path: path.to_string(),
        source,
    })
}

/// Parts of an HTTP client configuration the Kubernetes client cannot honour.
pub fn check_supported(http: &HttpClientConfig) -> Result<(), KubernetesError> {
    if http.oauth2.is_some() {
        return Err(KubernetesError::Unsupported("oauth2"));
    }
    if http.proxy.proxy_url.is_some() || http.proxy.proxy_from_environment {
        return Err(KubernetesError::Unsupported("proxy_url"));
    }
    Ok(())
}

/// Applies `basic_auth`, `authorization`, `tls_config` and `http_headers` to a kube
/// configuration. Credential files named by `authorization` are re-read by kube as they
/// rotate; basic auth files are read once, when discovery starts.
fn apply_http(config: &mut kube::Config, http: &HttpClientConfig) -> Result<(), KubernetesError> {
    check_supported(http)?;
    let mut auth = AuthInfo::default();
    if let Some(b) = &http.basic_auth {
        let user = if b.username_file.is_empty() {
            b.username.clone()
        } else {
            read("basic auth username file", &b.username_file)?
                .trim()
                .to_string()
        };
        let pass = if b.password_file.is_empty() {
            b.password.expose().to_string()
        } else {
            read("basic auth password file", &b.password_file)?
                .trim()
                .to_string()
        };
        auth.username = Some(user);
        auth.password = Some(pass.into());
    }
    if let Some(a) = &http.authorization {
        if a.kind.eq_ignore_ascii_case("bearer") {
            if a.credentials_file.is_empty() {
                auth.token = Some(a.credentials.expose().to_string().into());
            } else {
                // Fail now on a missing file rather than on every request.
                read("authorization credentials file", &a.credentials_file)?;
                auth.token_file = Some(a.credentials_file.clone());
            }
        } else {
            let creds = if a.credentials_file.is_empty() {
                a.credentials.expose().to_string()
            } else {
                read("authorization credentials file", &a.credentials_file)?
                    .trim()
                    .to_string()
            };
            push_header(config, "Authorization", &format!("{} {creds}", a.kind))?;
        }
    }
    let tls = &http.tls_config;
    if !tls.ca_file.is_empty() {
        read("CA cert", &tls.ca_file)?;
        config.root_cert_file = Some(tls.ca_file.clone().into());
    } else if !tls.ca.is_empty() {
        let ders: Result<Vec<Vec<u8>>, _> =
            rustls::pki_types::CertificateDer::pem_slice_iter(tls.ca.as_bytes())
                .map(|c| c.map(|c| c.to_vec()))
                .collect();
        let ders = ders.map_err(|e| KubernetesError::Client(format!("tls_config.ca: {e}")))?;
        config.root_cert = Some(ders);
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    if !tls.cert_file.is_empty() {
        auth.client_certificate = Some(tls.cert_file.clone());
    } else if !tls.cert.is_empty() {
        auth.client_certificate_data = Some(b64(&tls.cert));
    }
    if !tls.key_file.is_empty() {
        auth.client_key = Some(tls.key_file.clone());
    } else if !tls.key.is_empty() {
        auth.client_key_data = Some(b64(tls.key.expose()).into());
    }
    config.accept_invalid_certs = tls.insecure_skip_verify;
    if !tls.server_name.is_empty() {
        config.tls_server_name = Some(tls.server_name.clone());
    }
    config.auth_info = auth;
    for (name, h) in &http.http_headers {
        for v in &h.values {
            push_header(config, name, v)?;
        }
        for v in &h.secrets {
            push_header(config, name, v.expose())?;
        }
        for f in &h.files {
            push_header(config, name, read("header file", f)?.trim())?;
        }
    }
    Ok(())
}

fn push_header(config: &mut kube::Config, name: &str, value: &str) -> Result<(), KubernetesError> {
    let n = http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| KubernetesError::BadHeader(name.to_string(), e.to_string()))?;
    let v = http::HeaderValue::from_str(value)
        .map_err(|e| KubernetesError::BadHeader(name.to_string(), e.to_string()))?;
    config.headers.push((n, v));
    Ok(())
}

/// The client for a configuration and the namespace `own_namespace` means (the service
/// account's, or the kubeconfig context's).
pub async fn connect(
    cfg: &KubernetesSdConfig,
    user_agent: &str,
) -> Result<(kube::Client, String), KubernetesError> {
    // kube's rustls needs a process-wide crypto provider, as reqwest's does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = if let Some(api) = &cfg.api_server {
        let uri: http::Uri = api.as_str().parse().map_err(|e: http::uri::InvalidUri| {
            KubernetesError::BadApiServer(api.redacted(), e.to_string())
        })?;
        let mut c = kube::Config::new(uri);
        apply_http(&mut c, &cfg.http_client)?;
        c
    } else if !cfg.kubeconfig_file.is_empty() {
        let err = |message: String| KubernetesError::Kubeconfig {
            path: cfg.kubeconfig_file.clone(),
            message,
        };
        let kc = Kubeconfig::read_from(&cfg.kubeconfig_file).map_err(|e| err(e.to_string()))?;
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?
    } else {
        kube::Config::incluster().map_err(|e| KubernetesError::InCluster(e.to_string()))?
    };
    if let Ok(ua) = http::HeaderValue::from_str(user_agent) {
        config.headers.push((http::header::USER_AGENT, ua));
    }
    let own_namespace = config.default_namespace.clone();
    let client =
        kube::Client::try_from(config).map_err(|e| KubernetesError::Client(e.to_string()))?;
    Ok((client, own_namespace))
}
