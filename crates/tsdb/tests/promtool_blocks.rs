//! Blocks both ways with real Prometheus programs (Debian's `prometheus` package):
//! promtool lists, analyzes and dumps exactly what hearth's compactor wrote; hearth's
//! `Db` returns exactly what promtool dumps from blocks promtool's backfill and a running
//! Prometheus server wrote. Skipped loudly when the programs are not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/programs.rs"]
mod programs;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hearth_model::float::format_go_g;
use hearth_tsdb::compact::LeveledCompactor;
use hearth_tsdb::db::{Db, DbOptions};
use hearth_tsdb::storage::{Queryable, ValueType};

use programs::{installed, promtool};
use synthetic::{Shape, generate, to_openmetrics, to_source};

const H: i64 = 3_600_000;

/// `promtool tsdb dump` lines (`{labels} value timestamp`), sorted.
fn promtool_dump(dir: &Path) -> Vec<String> {
    // Dump opens the whole directory, WAL included.
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    let mut lines: Vec<String> = promtool(&["tsdb", "dump", dir.to_str().unwrap()])
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// The float samples of a hearth database in promtool's dump format, sorted.
fn hearth_dump(db: &Db) -> Vec<String> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut lines = Vec::new();
    for s in q.select(true, None, &[]).unwrap().series {
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            lines.push(format!("{} {} {t}", s.labels(), format_go_g(v)));
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    lines.sort();
    lines
}

#[test]
fn promtool_reads_blocks_hearth_compacted() {
    if !installed("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape {
        instances: 20,
        start: 1_700_000_000_000 / (2 * H) * (2 * H),
        samples: 960, // 4h at 15s.
        interval: 15_000,
        native_histograms: true,
    };
    let data = generate(shape, 7);
    let src = to_source(&data);
    let c = LeveledCompactor::new(vec![2 * H, 6 * H]);
    let m1 = c
        .write(dir.path(), &src, shape.start, shape.start + 2 * H, None)
        .unwrap()
        .unwrap();
    let m2 = c
        .write(
            dir.path(),
            &src,
            shape.start + 2 * H,
            shape.start + 4 * H,
            None,
        )
        .unwrap()
        .unwrap();
    // And one compacted from those two, in a directory of its own.
    let compacted = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    let merged = c.compact(compacted.path(), &db.blocks()).unwrap().unwrap();
    drop(db);

    let total: u64 = data.iter().map(|(_, s)| s.len() as u64).sum();
    assert_eq!(m1.stats.num_samples + m2.stats.num_samples, total);
    assert_eq!(merged.stats.num_samples, total);

    let list = promtool(&["tsdb", "list", dir.path().to_str().unwrap()]);
    for m in [&m1, &m2] {
        let row = list
            .lines()
            .find(|l| l.starts_with(&m.ulid.to_string()))
            .unwrap_or_else(|| panic!("{list}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        // ULID, min, max, duration, samples, chunks, series, size.
        assert_eq!(cols[4], m.stats.num_samples.to_string(), "{row}");
        assert_eq!(cols[5], m.stats.num_chunks.to_string(), "{row}");
        assert_eq!(cols[6], m.stats.num_series.to_string(), "{row}");
    }
    let list = promtool(&["tsdb", "list", compacted.path().to_str().unwrap()]);
    assert!(list.contains(&merged.ulid.to_string()), "{list}");

    let analyze = promtool(&[
        "tsdb",
        "analyze",
        dir.path().to_str().unwrap(),
        &m1.ulid.to_string(),
    ]);
    assert!(
        analyze.contains(&format!("Series: {}", data.len())),
        "{analyze}"
    );
    assert!(analyze.contains("Label names: 5"), "{analyze}");
    assert!(
        analyze.contains("Highest cardinality metric names"),
        "{analyze}"
    );

    // Dump walks every chunk; it prints float samples (Prometheus 2.42's dump skips
    // histogram samples), which must be exactly hearth's.
    let dumped = promtool_dump(dir.path());
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    let ours = hearth_dump(&db);
    let floats: usize = data
        .iter()
        .filter(|(l, _)| l.get("__name__") != Some("rpc_latency_seconds"))
        .map(|(_, s)| s.len())
        .sum();
    assert_eq!(ours.len(), floats);
    assert_eq!(dumped.len(), ours.len());
    assert!(
        dumped == ours,
        "promtool's dump differs from hearth's samples"
    );
    let dumped = promtool_dump(compacted.path());
    assert!(
        dumped == ours,
        "promtool's dump of the compacted block differs"
    );
}

#[test]
fn hearth_reads_blocks_promtool_backfilled() {
    if !installed("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = generate(
        Shape {
            instances: 10,
            start: 1_700_000_000_000,
            samples: 700,
            interval: 15_000,
            native_histograms: false,
        },
        11,
    );
    let input = dir.path().join("input.om");
    std::fs::write(&input, to_openmetrics(&data)).unwrap();
    let out = dir.path().join("data");
    promtool(&[
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let want = promtool_dump(&out);
    let db = Db::open(&out, DbOptions::with_retention(0, 0)).unwrap();
    assert!(db.blocks().len() >= 2);
    assert!(db.corrupted_blocks().is_empty());
    let got = hearth_dump(&db);
    assert_eq!(got.len(), data.iter().map(|(_, s)| s.len()).sum::<usize>());
    assert!(got == want, "hearth's samples differ from promtool's dump");
}

/// Serves a small exposition whose counter grows by one per scrape.
fn serve_metrics(listener: TcpListener, scrapes: Arc<AtomicU64>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!(
            "# TYPE demo_requests_total counter\ndemo_requests_total{{path=\"/a\"}} {n}\n\
             demo_requests_total{{path=\"/b\"}} {}\n# TYPE demo_temp gauge\ndemo_temp {}.25\n",
            n * 3,
            20 + n % 7
        );
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A raw HTTP request; returns the response body.
fn http(port: u16, method: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    r.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hearth_reads_a_block_a_prometheus_server_wrote() {
    if !installed("prometheus") || !installed("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_port = target.local_addr().unwrap().port();
    let scrapes = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&scrapes);
    std::thread::spawn(move || serve_metrics(target, counter));
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-admin-api")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while scrapes.load(Ordering::SeqCst) < 6 {
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape the target"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The admin snapshot persists the head through Prometheus' own compactor.
    let body = loop {
        if let Some(b) = http(port, "POST", "/api/v1/admin/tsdb/snapshot")
            && b.contains("success")
        {
            break b;
        }
        assert!(Instant::now() < deadline, "snapshot failed");
        std::thread::sleep(Duration::from_millis(200));
    };
    let name = body
        .split("\"name\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let snapshot = data.join("snapshots").join(name);

    let want = promtool_dump(&snapshot);
    let db = Db::open(&snapshot, DbOptions::with_retention(0, 0)).unwrap();
    assert_eq!(db.blocks().len(), 1);
    let got = hearth_dump(&db);
    let series: BTreeSet<&str> = got
        .iter()
        .filter_map(|l| l.split_once('}').map(|(s, _)| s))
        .collect();
    assert!(
        series.iter().any(|s| s.contains("demo_requests_total")),
        "{got:?}"
    );
    assert!(
        series.iter().any(|s| s.contains("__name__=\"up\"")),
        "{got:?}"
    );
    assert!(got.len() >= 10, "{got:?}");
    assert_eq!(got, want);
}
