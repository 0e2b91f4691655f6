//! Scraping over TLS: loopback HTTPS exporters with certificates from a test CA made by
//! `openssl` (skipped loudly without it): trusted through `tls_config.ca_file`, refused
//! without it, accepted with `insecure_skip_verify`; `tls_config.server_name` sent as SNI
//! and verified; HTTP/2 negotiated through ALPN unless `enable_http2: false`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use common::*;
use hearth_scrape::GlobalUrlOptions;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// The SNI of every completed handshake (`""` when the client sent none).
    sni: Arc<Mutex<Vec<String>>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // Failed handshakes (the client refusing the certificate) are expected.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                let name = tls.get_ref().1.server_name().unwrap_or("").to_string();
                self.sni.lock().unwrap().push(name);
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// PEM files of a test CA and of a server certificate it signed for `san`.
struct TestCerts {
    _dir: tempfile::TempDir,
    ca: String,
    cert: String,
    key: String,
}

/// Makes a CA and a server certificate for `san` (openssl syntax, `DNS:x,IP:y`); `None`
/// (after saying so) when openssl cannot.
fn make_certs(san: &str) -> Option<TestCerts> {
    let dir = tempfile::tempdir().unwrap();
    // Temporary paths have no blanks, so the commands can be split on them.
    let path = |f: &str| dir.path().join(f).display().to_string();
    let (ca, ca_key, cert, key) = (
        path("ca.pem"),
        path("ca.key"),
        path("cert.pem"),
        path("key.pem"),
    );
    let (csr, ext) = (path("leaf.csr"), path("ext.cnf"));
    std::fs::write(
        &ext,
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    // A CA, then a server certificate it signs.
    for step in [
        format!("req -x509 {ec} -days 1 -subj /CN=hearth-test-CA -keyout {ca_key} -out {ca}"),
        format!("req {ec} -subj /CN=hearth-test-server -keyout {key} -out {csr}"),
        format!(
            "x509 -req -days 1 -CAcreateserial -in {csr} -CA {ca} -CAkey {ca_key} -extfile {ext} -out {cert}"
        ),
    ] {
        let out = Command::new("openssl")
            .args(step.split_whitespace())
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("SKIPPED: openssl could not make test certificates ({step}): {out:?}");
            return None;
        }
    }
    Some(TestCerts {
        _dir: dir,
        ca,
        cert,
        key,
    })
}

/// What a TLS exporter saw: SNI per handshake, (path, HTTP version, Host) per request.
struct TlsExporter {
    port: u16,
    sni: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<(String, String, String)>>>,
}

/// Serves `secure 1` over TLS with `certs`, offering `alpn` (for example h2).
async fn tls_exporter(certs: &TestCerts, alpn: &[&[u8]]) -> TlsExporter {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key_der = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .unwrap();
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let listener = TlsListener {
        tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        acceptor: TlsAcceptor::from(Arc::new(server)),
        sni: Arc::clone(&sni),
    };
    let port = listener.tcp.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let app = axum::Router::new().fallback(move |req: Request| {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_string();
        seen.lock().unwrap().push((
            req.uri().path().to_string(),
            format!("{:?}", req.version()),
            host,
        ));
        async { "secure 1\n" }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TlsExporter {
        port,
        sni,
        requests,
    }
}

/// A job scraping `target` over https every 200 ms, plus `extra` (indented YAML).
fn https_job(name: &str, target: &str, extra: &str) -> String {
    format!(
        "- job_name: {name}\n  scheme: https\n  scrape_interval: 200ms\n  fallback_scrape_protocol: PrometheusText0.0.4\n  static_configs:\n  - targets: ['{target}']\n{extra}"
    )
}

/// The last scrape error of `job`'s only target.
fn last_error(m: &hearth_scrape::ScrapeManager, job: &str) -> String {
    m.active_targets(&GlobalUrlOptions::default())
        .into_iter()
        .find(|t| t.scrape_pool == job)
        .map(|t| t.last_error)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_over_tls_with_ca_insecure_and_untrusted() {
    let Some(certs) = make_certs("DNS:localhost,IP:127.0.0.1") else {
        return;
    };
    let ca = certs.ca.clone();
    let port = tls_exporter(&certs, &[]).await.port;

    let (m, st) = manager();
    let target = format!("localhost:{port}");
    let yaml = format!(
        "scrape_configs:\n{}{}{}",
        https_job(
            "ca",
            &target,
            &format!("  tls_config:\n    ca_file: {ca}\n")
        ),
        https_job(
            "insecure",
            &target,
            "  tls_config:\n    insecure_skip_verify: true\n"
        ),
        https_job("untrusted", &target, ""),
    );
    apply(&m, &yaml).await;
    for j in ["ca", "insecure", "untrusted"] {
        wait_scrapes(&st, j, 1).await;
    }
    let errors: Vec<(String, String)> = m
        .active_targets(&GlobalUrlOptions::default())
        .into_iter()
        .map(|t| (t.scrape_pool, t.last_error))
        .collect();
    assert_eq!(last(&st, "up", "ca").unwrap().f(), 1.0, "{errors:?}");
    assert_eq!(last(&st, "up", "insecure").unwrap().f(), 1.0, "{errors:?}");
    assert_eq!(last(&st, "secure", "ca").unwrap().f(), 1.0);
    assert_eq!(last(&st, "up", "untrusted").unwrap().f(), 0.0);
    let t = m
        .active_targets(&GlobalUrlOptions::default())
        .into_iter()
        .find(|t| t.scrape_pool == "untrusted")
        .unwrap();
    assert!(
        t.last_error
            .starts_with(&format!("Get \"https://localhost:{port}/metrics\": "))
    );
    assert!(
        t.last_error.to_lowercase().contains("certificate"),
        "{}",
        t.last_error
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_is_sent_as_sni_and_verified() {
    // The certificate names exporter.test only, never the address scraped.
    let Some(certs) = make_certs("DNS:exporter.test") else {
        return;
    };
    let exporter = tls_exporter(&certs, &[]).await;
    let target = format!("127.0.0.1:{}", exporter.port);
    let tls = |name: &str| {
        let name = if name.is_empty() {
            String::new()
        } else {
            format!("    server_name: {name}\n")
        };
        format!(
            "  metrics_path: /{}\n  tls_config:\n    ca_file: {}\n{name}",
            "m", certs.ca
        )
    };
    let (m, st) = manager();
    let yaml = format!(
        "scrape_configs:\n{}{}{}",
        https_job("named", &target, &tls("exporter.test")),
        https_job("unnamed", &target, &tls("")),
        https_job("misnamed", &target, &tls("other.test")),
    );
    apply(&m, &yaml).await;
    for j in ["named", "unnamed", "misnamed"] {
        wait_scrapes(&st, j, 2).await;
    }
    assert_eq!(
        last(&st, "up", "named").unwrap().f(),
        1.0,
        "{}",
        last_error(&m, "named")
    );
    assert_eq!(last(&st, "secure", "named").unwrap().f(), 1.0);
    for job in ["unnamed", "misnamed"] {
        assert_eq!(last(&st, "up", job).unwrap().f(), 0.0, "{job}");
        let err = last_error(&m, job);
        assert!(
            err.starts_with(&format!("Get \"https://{target}/m\": ")),
            "{job}: {err}"
        );
        assert!(
            err.contains("certificate not valid for name"),
            "{job}: {err}"
        );
    }
    let sni = exporter.sni.lock().unwrap().clone();
    assert!(sni.iter().any(|n| n == "exporter.test"), "{sni:?}");
    // Every successful handshake came from the named job, which sent its SNI.
    assert!(sni.iter().all(|n| n == "exporter.test"), "{sni:?}");
    // The Host header still names the address scraped, as upstream's does.
    let requests = exporter.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|(_, _, host)| *host == target),
        "{requests:?}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_negotiated_unless_disabled() {
    let Some(certs) = make_certs("DNS:localhost,IP:127.0.0.1") else {
        return;
    };
    let exporter = tls_exporter(&certs, &[b"h2", b"http/1.1"]).await;
    let target = format!("127.0.0.1:{}", exporter.port);
    let ca = format!("  tls_config:\n    ca_file: {}\n", certs.ca);
    let (m, st) = manager();
    let yaml = format!(
        "scrape_configs:\n{}{}",
        https_job("h2", &target, &format!("  metrics_path: /h2\n{ca}")),
        https_job(
            "h1",
            &target,
            &format!("  metrics_path: /h1\n  enable_http2: false\n{ca}")
        ),
    );
    apply(&m, &yaml).await;
    for j in ["h2", "h1"] {
        wait_scrapes(&st, j, 2).await;
        assert_eq!(
            last(&st, "up", j).unwrap().f(),
            1.0,
            "{}",
            last_error(&m, j)
        );
    }
    let requests = exporter.requests.lock().unwrap().clone();
    let versions = |path: &str| -> Vec<String> {
        requests
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, v, _)| v.clone())
            .collect()
    };
    let (h2, h1) = (versions("/h2"), versions("/h1"));
    assert!(
        !h2.is_empty() && h2.iter().all(|v| v == "HTTP/2.0"),
        "{h2:?}"
    );
    assert!(
        !h1.is_empty() && h1.iter().all(|v| v == "HTTP/1.1"),
        "{h1:?}"
    );
    m.stop().await;
}
