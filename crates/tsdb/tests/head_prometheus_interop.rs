#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The head and a real Prometheus (Debian's `prometheus` package) share data directories
//! both ways: hearth replays the WAL and head chunks Prometheus wrote while scraping
//! itself, and Prometheus replays the WAL and head chunks hearth wrote and answers
//! queries over them with the same samples. Skipped (with a note) without `prometheus`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hearth_model::{Labels, MatchOp, Matcher};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{Querier, ValueType};

/// A series as sorted `name=value` strings and its (ms, value) samples.
type RawSeries = (Vec<String>, Vec<(i64, f64)>);

fn prometheus() -> bool {
    let ok = Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("prometheus not installed; skipping (apt-get install prometheus)");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A GET on Prometheus' HTTP API: (status code, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(data: &Path, config: &str) -> Prometheus {
        let port = free_port();
        let cfg = data.join("prometheus.yml");
        std::fs::write(&cfg, config.replace("PORT", &port.to_string())).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(port, "/-/ready").is_none_or(|(c, _)| c != 200) {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// The raw samples of `selector` over the last hour at `time` (seconds): per series
    /// labels (as sorted name=value strings) and (ms, value) pairs.
    fn raw(&self, selector: &str, time: f64) -> Vec<RawSeries> {
        let q = encode(&format!("{selector}[1h]"));
        let (code, body) = get(self.port, &format!("/api/v1/query?query={q}&time={time}")).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut out: Vec<RawSeries> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut labels: Vec<String> = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect();
                labels.sort();
                let samples = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                        let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                        (t, v)
                    })
                    .collect();
                (labels, samples)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn stop(mut self) {
        // SIGTERM: a clean shutdown, as a restart or upgrade does.
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap();
    }
}

/// The samples hearth has for `matchers`, in the shape of [`Prometheus::raw`].
fn hearth_raw(head: &Head, matchers: &[Matcher]) -> Vec<RawSeries> {
    let q = head.querier(i64::MIN, i64::MAX);
    let set = q.select(true, None, matchers).unwrap();
    let mut out: Vec<RawSeries> = set
        .series
        .iter()
        .map(|s| {
            // The API leaves out the metric name of range vectors' series only for
            // functions; raw selectors keep it.
            let mut labels: Vec<String> = s
                .labels()
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            labels.sort();
            let mut it = s.iterator();
            let mut samples = Vec::new();
            while it.next() == ValueType::Float {
                samples.push(it.at());
            }
            assert!(it.err().is_none());
            (labels, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn hearth_replays_what_prometheus_wrote() {
    if !prometheus() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:PORT']\n";
    let p = Prometheus::start(dir.path(), config);
    // A few scrapes (the first one comes after a random offset within the interval).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (time, want) = loop {
        std::thread::sleep(Duration::from_millis(500));
        let time = now_ms() as f64 / 1000.0;
        let want = p.raw("up", time);
        if want.first().is_some_and(|w| w.1.len() >= 5) || Instant::now() > deadline {
            break (time, want);
        }
    };
    assert!(!want.is_empty() && want[0].1.len() >= 5, "{want:?}");
    let build = p.raw("prometheus_build_info", time);
    p.stop();

    let head = Head::open(dir.path().join("data"), HeadOptions::default()).unwrap();
    let r = head.replay_stats();
    assert!(
        r.wal_corruption.is_none() && r.chunks_corruption.is_none(),
        "{r:?}"
    );
    assert!(r.series > 100, "{r:?}");
    // Prometheus may have scraped more after the query: what it answered is a prefix.
    for (m, want) in [("up", want), ("prometheus_build_info", build)] {
        let got = hearth_raw(
            &head,
            &[Matcher::new(MatchOp::Equal, "__name__", m).unwrap()],
        );
        assert_eq!(got.len(), want.len(), "{m}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0);
            assert!(
                g.1.starts_with(&w.1),
                "{m}: hearth {:?}, prometheus {:?}",
                g.1,
                w.1
            );
        }
    }
}

#[test]
fn prometheus_replays_what_hearth_wrote() {
    if !prometheus() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let end = now_ms() / 1000 * 1000;
    let start = end - 40 * 60 * 1000;
    {
        let head = Head::open(
            &data,
            HeadOptions {
                mmap_after_bytes: 1,
                ..HeadOptions::default()
            },
        )
        .unwrap();
        let mut refs = vec![None; 20];
        // 40 minutes every 5s: 480 samples, four chunks per series, most on disk.
        for t in (start..=end).step_by(5000) {
            let mut app = head.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                let l = Labels::new([
                    ("__name__", "hearth_interop"),
                    ("series", &i.to_string()),
                    ("job", "hearth"),
                ]);
                let v = ((t - start) / 1000) as f64 * (i as f64 + 0.5);
                *r = Some(app.append(*r, &l, t, v).unwrap());
            }
            app.commit().unwrap();
        }
        head.close().unwrap();
    }
    let m = [Matcher::new(MatchOp::Equal, "__name__", "hearth_interop").unwrap()];
    let want = {
        let head = Head::open(&data, HeadOptions::default()).unwrap();
        hearth_raw(&head, &m)
    };
    assert_eq!(want.len(), 20);
    assert_eq!(want[0].1.len(), 481);

    let p = Prometheus::start(dir.path(), "scrape_configs: []\n");
    let got = p.raw("hearth_interop", end as f64 / 1000.0);
    p.stop();
    assert_eq!(
        got, want,
        "Prometheus reads other samples than hearth wrote"
    );

    // And back: hearth opens the directory after Prometheus replayed and wrote to it.
    let head = Head::open(&data, HeadOptions::default()).unwrap();
    let r = head.replay_stats();
    assert!(
        r.wal_corruption.is_none() && r.chunks_corruption.is_none(),
        "{r:?}"
    );
    assert_eq!(hearth_raw(&head, &m), want);
}
