//! Test harness: loopback exporters (axum) whose answers the test sets, a manager
//! appending to `MemStorage`, and polling helpers with generous deadlines.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_config::Config;
use hearth_discovery::{TargetGroup, TargetSets};
use hearth_model::{Labels, Matcher, is_stale_nan};
use hearth_scrape::{ScrapeManager, ScrapeOptions};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::{Queryable, ValueType};

pub const DEADLINE: Duration = Duration::from_secs(30);

/// What an exporter answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Gzip the body when the request accepts it.
    pub gzip: bool,
    /// Sleep before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn text(body: &str) -> Reply {
        Reply {
            status: 200,
            content_type: Some("text/plain; version=0.0.4; charset=utf-8".into()),
            body: body.as_bytes().to_vec(),
            gzip: false,
            delay: Duration::ZERO,
        }
    }

    pub fn with_type(body: &[u8], content_type: &str) -> Reply {
        Reply {
            content_type: Some(content_type.into()),
            body: body.to_vec(),
            ..Reply::text("")
        }
    }
}

/// A request as the exporter saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub headers: HashMap<String, String>,
}

#[derive(Clone)]
struct Shared {
    reply: Arc<Mutex<Reply>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct Exporter {
    pub addr: String,
    shared: Shared,
}

async fn serve(State(s): State<Shared>, req: Request) -> Response {
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let accepts_gzip = headers
        .get("accept-encoding")
        .is_some_and(|v| v.contains("gzip"));
    s.seen.lock().unwrap().push(Seen {
        uri: req.uri().to_string(),
        headers,
    });
    let r = s.reply.lock().unwrap().clone();
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut body = r.body.clone();
    let gzip = r.gzip && accepts_gzip;
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        body = enc.finish().unwrap();
    }
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), body).into_response();
    let h = resp.headers_mut();
    h.remove(header::CONTENT_TYPE);
    if let Some(ct) = &r.content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    }
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

impl Exporter {
    pub async fn start(reply: Reply) -> Exporter {
        let shared = Shared {
            reply: Arc::new(Mutex::new(reply)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Exporter { addr, shared }
    }

    pub fn set(&self, reply: Reply) {
        *self.shared.reply.lock().unwrap() = reply;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn last_header(&self, name: &str) -> Option<String> {
        self.seen()
            .last()
            .and_then(|s| s.headers.get(name).cloned())
    }
}

/// A manager on a fresh `MemStorage`, starting loops without offset.
pub fn manager() -> (Arc<ScrapeManager>, MemStorage) {
    let storage = MemStorage::new();
    let opts = ScrapeOptions {
        skip_offsetting: true,
        ..ScrapeOptions::default()
    };
    (
        Arc::new(ScrapeManager::new(Arc::new(storage.clone()), opts)),
        storage,
    )
}

pub fn config(yaml: &str) -> Config {
    Config::load_str(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The static targets of every job, as the discovery manager would publish them.
pub fn static_sets(cfg: &Config) -> TargetSets {
    cfg.scrape_configs
        .iter()
        .map(|s| {
            let groups = s
                .service_discovery
                .static_configs
                .iter()
                .enumerate()
                .map(|(i, g)| TargetGroup {
                    source: i.to_string(),
                    ..g.clone()
                })
                .collect();
            (s.job_name.clone(), groups)
        })
        .collect()
}

/// A `scrape_configs` entry scraping `addr` every 200 ms, plus `extra` (indented YAML).
pub fn job_yaml(job: &str, addr: &str, extra: &str) -> String {
    format!(
        "- job_name: {job}\n  scrape_interval: 200ms\n  static_configs:\n  - targets: ['{addr}']\n{extra}"
    )
}

/// prometheus.yml with these `scrape_configs` entries.
pub fn yaml(jobs: &[String]) -> String {
    format!("scrape_configs:\n{}", jobs.concat())
}

/// A manager scraping `jobs`, after `n` scrapes of each.
pub async fn scrape_jobs(jobs: &[String], n: usize) -> (Arc<ScrapeManager>, MemStorage) {
    let (m, st) = manager();
    let cfg = apply(&m, &yaml(jobs)).await;
    for j in &cfg.scrape_configs {
        wait_scrapes(&st, &j.job_name, n).await;
    }
    (m, st)
}

/// Applies `yaml` and its static targets.
pub async fn apply(m: &ScrapeManager, yaml: &str) -> Config {
    let cfg = config(yaml);
    m.apply_config(&cfg).await.unwrap();
    m.sync(&static_sets(&cfg)).await;
    cfg
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    F(f64),
    H,
}

impl Val {
    pub fn f(&self) -> f64 {
        match self {
            Val::F(v) => *v,
            Val::H => panic!("histogram sample where a float was expected"),
        }
    }

    pub fn is_stale(&self) -> bool {
        matches!(self, Val::F(v) if is_stale_nan(*v))
    }
}

/// Every series matching `matchers` with all its samples.
pub fn select(storage: &MemStorage, matchers: &[Matcher]) -> Vec<(Labels, Vec<(i64, Val)>)> {
    let q = storage.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(true, None, matchers).unwrap();
    set.series
        .iter()
        .map(|s| {
            let mut it = s.iterator();
            let mut samples = Vec::new();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => {
                        let (t, v) = it.at();
                        samples.push((t, Val::F(v)));
                    }
                    ValueType::Histogram | ValueType::FloatHistogram => {
                        samples.push((it.at_t(), Val::H));
                    }
                }
            }
            (s.labels().clone(), samples)
        })
        .collect()
}

pub fn by_name(storage: &MemStorage, name: &str) -> Vec<(Labels, Vec<(i64, Val)>)> {
    select(storage, &[Matcher::equal("__name__", name)])
}

/// Samples of `name` for one `job`.
pub fn job_series(storage: &MemStorage, name: &str, job: &str) -> Vec<(Labels, Vec<(i64, Val)>)> {
    select(
        storage,
        &[Matcher::equal("__name__", name), Matcher::equal("job", job)],
    )
}

/// The last value of the only series of `name` in `job`.
pub fn last(storage: &MemStorage, name: &str, job: &str) -> Option<Val> {
    let s = job_series(storage, name, job);
    s.first().and_then(|(_, v)| v.last().map(|x| x.1.clone()))
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after the deadline.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until job's `up` has at least `n` samples.
pub async fn wait_scrapes(storage: &MemStorage, job: &str, n: usize) {
    wait_for(&format!("{n} scrapes of {job}"), || {
        job_series(storage, "up", job)
            .first()
            .is_some_and(|(_, s)| s.len() >= n)
    })
    .await;
}
