//! A web handler over `MemStorage` served on loopback, and a minimal blocking HTTP/1.1
//! client (so requests carry exactly the headers and bodies a test writes).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use hearth_config::Config;
use hearth_model::{FloatHistogram, HistogramValue, Labels, Span};
use hearth_promql::{Engine, EngineOptions};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::Appendable;
use hearth_web::{Components, Readiness, WebHandle, WebOptions};

pub struct Server {
    pub addr: SocketAddr,
    pub handle: WebHandle,
    pub storage: MemStorage,
    rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn set_ready(&self, r: Readiness) {
        self.handle.set_ready(r);
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], b"")
    }

    pub fn post_form(&self, path: &str, body: &str) -> Resp {
        request(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.addr, method, path, headers, body)
    }
}

pub struct Builder {
    pub opts: WebOptions,
    pub components: Components,
    pub config: Config,
    pub engine: EngineOptions,
    pub storage: MemStorage,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            opts: WebOptions::default(),
            components: Components::default(),
            config: Config::default(),
            engine: EngineOptions::default(),
            storage: MemStorage::new(),
        }
    }
}

impl Builder {
    pub fn start(self) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(Arc::new(self.config));
        // Keep the sender alive for the server's lifetime.
        std::mem::forget(_tx);
        let handle = WebHandle::new(
            Arc::new(Engine::new(self.engine)),
            Arc::new(self.storage.clone()),
            rx,
            self.opts,
            self.components,
        );
        handle.set_ready(Readiness::Ready);
        let router = handle.web().router();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Server {
            addr,
            handle,
            storage: self.storage,
            rt,
        }
    }
}

pub fn start() -> Server {
    let b = Builder::default();
    load_test_data(&b.storage);
    b.start()
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

/// `up` (two targets), a counter, an escaping test, and a native histogram, every 15s
/// from 0 to 300s.
pub fn load_test_data(s: &MemStorage) {
    let mut app = s.appender();
    let up_a = labels(&[("__name__", "up"), ("job", "prom"), ("instance", "a:9090")]);
    let up_b = labels(&[("__name__", "up"), ("job", "node"), ("instance", "b:9100")]);
    let reqs = labels(&[
        ("__name__", "http_requests_total"),
        ("job", "api"),
        ("code", "200"),
    ]);
    for i in 0..=20i64 {
        let t = i * 15_000;
        app.append(None, &up_a, t, 1.0).unwrap();
        app.append(None, &up_b, t, 0.0).unwrap();
        app.append(None, &reqs, t, (i * 10) as f64).unwrap();
    }
    let weird = labels(&[("__name__", "weird"), ("l", "<&>\"\n")]);
    app.append(None, &weird, 60_000, 1e-7).unwrap();
    let h = FloatHistogram {
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 5.0,
        sum: 10.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![2.0, 2.0],
        ..FloatHistogram::default()
    };
    app.append_histogram(
        None,
        &labels(&[("__name__", "hist")]),
        60_000,
        &HistogramValue::Float(h),
    )
    .unwrap();
    app.commit().unwrap();
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..nl])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
