#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scraping over TLS: a loopback HTTPS exporter with a certificate from a test CA made by
//! `openssl` (skipped loudly without it), trusted through `tls_config.ca_file`, refused
//! without it, and accepted with `insecure_skip_verify`.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

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
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_over_tls_with_ca_insecure_and_untrusted() {
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
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    // A CA, then a server certificate it signs.
    for step in [
        format!("req -x509 {ec} -days 1 -subj /CN=hearth-test-CA -keyout {ca_key} -out {ca}"),
        format!("req {ec} -subj /CN=localhost -keyout {key} -out {csr}"),
        format!(
            "x509 -req -days 1 -CAcreateserial -in {csr} -CA {ca} -CAkey {ca_key} -extfile {ext} -out {cert}"
        ),
    ] {
        let out = Command::new("openssl")
            .args(step.split_whitespace())
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("SKIPPED: openssl could not make test certificates ({step}): {out:?}");
            return;
        }
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key_der = PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .unwrap();
    let listener = TlsListener {
        tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        acceptor: TlsAcceptor::from(Arc::new(server)),
    };
    let port = listener.tcp.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|_req: Request| async { "secure 1\n" });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let (m, st) = manager();
    let job = |name: &str, tls: &str| {
        format!(
            "- job_name: {name}\n  scheme: https\n  scrape_interval: 200ms\n  fallback_scrape_protocol: PrometheusText0.0.4\n  static_configs:\n  - targets: ['localhost:{port}']\n{tls}"
        )
    };
    let yaml = format!(
        "scrape_configs:\n{}{}{}",
        job("ca", &format!("  tls_config:\n    ca_file: {ca}\n")),
        job(
            "insecure",
            "  tls_config:\n    insecure_skip_verify: true\n"
        ),
        job("untrusted", ""),
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
