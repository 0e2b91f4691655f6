//! `--web.config.file` over loopback: basic auth with bcrypt hashes, extra headers, and
//! TLS with a certificate made by `openssl` (skipped loudly when it is missing), read
//! back by a rustls client that trusts only that certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use hearth_web::web_config::{WebConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn router() -> Router {
    Router::new().route("/-/healthy", get(|| async { "ok" }))
}

/// Serves `router()` with `cfg` on loopback; returns the port.
fn start(rt: &tokio::runtime::Runtime, cfg: WebConfig) -> u16 {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(serve(listener, router(), Some(cfg), std::future::pending()));
    port
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn basic_auth_and_headers() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let cfg = WebConfig::parse(&format!(
        "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    ))
    .unwrap();
    let rt = runtime();
    let port = start(&rt, cfg);
    let addr = ([127, 0, 0, 1], port).into();
    let r = support::request(addr, "GET", "/-/healthy", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic"));
    assert_eq!(r.header("x-frame-options"), Some("deny"));
    // alice:wrong, bob:s3cret, alice:s3cret
    for (cred, want) in [
        ("YWxpY2U6d3Jvbmc=", 401),
        ("Ym9iOnMzY3JldA==", 401),
        ("YWxpY2U6czNjcmV0", 200),
        // The second time comes from the cache; same answer.
        ("YWxpY2U6czNjcmV0", 200),
    ] {
        let auth = format!("Basic {cred}");
        let r = support::request(addr, "GET", "/-/healthy", &[("Authorization", &auth)], b"");
        assert_eq!(r.status, want, "{cred}");
    }
}

#[test]
fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIPPED tls_with_a_self_signed_certificate: openssl could not make a certificate"
        );
        return;
    }
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    )
    .unwrap();
    // Relative paths are relative to the file.
    let cfg = WebConfig::load(&file).unwrap();
    let rt = runtime();
    let port = start(&rt, cfg);

    use rustls::pki_types::pem::PemObject;
    let cert =
        rustls::pki_types::CertificateDer::from_pem_file(dir.path().join("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let body = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.ends_with("ok"), "{body}");
    // Plain HTTP on the TLS port gets nothing useful back.
    let plain = std::panic::catch_unwind(|| {
        support::request(([127, 0, 0, 1], port).into(), "GET", "/-/healthy", &[], b"")
    });
    assert!(plain.is_err() || plain.unwrap().status != 200);
}

#[test]
fn bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
    )
    .unwrap();
    let cfg = WebConfig::load(&file).unwrap();
    let e = cfg.tls().unwrap_err();
    assert!(e.contains("nope.pem"), "{e}");
    std::fs::write(&file, "basic_auth_users:\n  a: b\n").unwrap();
    let e = WebConfig::load(&file).unwrap_err();
    assert!(e.contains("invalid bcrypt hash"), "{e}");
}
