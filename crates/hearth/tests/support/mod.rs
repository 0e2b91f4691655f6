//! Helpers the side-by-side tests share: free loopback ports and upstream programs from
//! Debian packages, installed when missing and we are root.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod server;

use std::net::TcpListener;
use std::process::{Command, Stdio};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program --version` runs.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the Debian `package` when `program` is missing and we may; `Err` says why
/// the test has to be skipped.
pub fn ensure_debian(program: &str, package: &str) -> Result<(), String> {
    if runs(program) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "{program} is not installed and we are not root to apt-get install {package}"
        ));
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        install();
    }
    if runs(program) {
        Ok(())
    } else {
        Err(format!(
            "apt-get install {package} did not provide {program}"
        ))
    }
}

/// A bare HTTP/1.1 exchange on loopback: `(status, body)`, for bodies with a
/// Content-Length or in chunks (VictoriaMetrics streams its exports).
pub fn http(port: u16, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let headers: &[(&str, &str)] = if content_type.is_empty() {
        &[]
    } else {
        &[("Content-Type", content_type)]
    };
    http_with_headers(port, method, path, headers, body)
}

/// As [`http`], with request headers (`Authorization`, `Cookie`, …).
pub fn http_with_headers(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The data of a chunked body (`size CRLF data CRLF`…, ended by a zero size).
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size:?}"));
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

/// Waits until `GET path` answers 200, up to `tries` attempts 100ms apart; `false` if it
/// never did (the caller fails with its own message; nothing here asserts a duration).
pub fn wait_ok(port: u16, path: &str, tries: usize) -> bool {
    for _ in 0..tries {
        let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", path, "", "").0 == 200;
        if ok {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
