//! `hearth server` sending `remote_write` to real receivers on loopback: Debian's
//! VictoriaMetrics and Debian's `prometheus` with its receiver on. The Prometheus
//! endpoint is down for the first 20 seconds (nothing listens on its port) and must still
//! receive everything. After hearth shuts down (flushing its queues), the samples each
//! receiver holds equal, timestamp for timestamp, the samples hearth stored. Without the
//! packages (and no root to install them) the test prints SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::server::KillOnDrop;
use support::{ensure_debian, free_port, http, wait_ok};

fn spawn(cmd: &mut Command) -> KillOnDrop {
    KillOnDrop(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn hearth_server(dir: &Path, port: u16) -> KillOnDrop {
    hearth_server_with(dir, port, &[])
}

fn hearth_server_with(dir: &Path, port: u16, extra: &[&str]) -> KillOnDrop {
    let log = dir.join("hearth.log");
    let s = KillOnDrop(
        support::server::hearth()
            .current_dir(dir)
            .args([
                "server",
                "--storage.tsdb.path=data",
                "--web.enable-lifecycle",
            ])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_ok(port, "/-/ready", 300),
        "hearth never ready: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    s
}

/// Stops hearth through `/-/quit` and waits for it to exit.
fn quit(hearth: &mut KillOnDrop, port: u16) {
    let (status, _) = http(port, "POST", "/-/quit", "", "");
    assert_eq!(status, 200);
    for _ in 0..1200 {
        if hearth.0.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("hearth did not stop after /-/quit");
}

/// The value of the first line of `/metrics` starting with `prefix`.
fn metric(port: u16, prefix: &str) -> f64 {
    let (_, metrics) = http(port, "GET", "/metrics", "", "");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Float samples as numbers, NaN (staleness markers) left out, empty series dropped.
fn numeric(m: &BTreeMap<String, Vec<(i64, String)>>) -> BTreeMap<String, Vec<(i64, f64)>> {
    m.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.iter()
                    .map(|(t, x)| (*t, x.parse::<f64>().unwrap()))
                    .filter(|(_, x)| !x.is_nan())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn prometheus_receiver(dir: &Path, port: u16) -> KillOnDrop {
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let p = spawn(
        Command::new("prometheus")
            .current_dir(dir)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--storage.tsdb.path=data",
                "--config.file=prometheus.yml",
                "--web.enable-remote-write-receiver",
            ]),
    );
    assert!(wait_ok(port, "/-/ready", 300), "prometheus never ready");
    p
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http(port, "GET", path, "", "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Samples of a range-vector query result, as `labels → [(ms, value)]`.
fn range_samples(
    port: u16,
    query: &str,
    at_s: i64,
    extra: &[(&str, &str)],
) -> BTreeMap<String, Vec<(i64, String)>> {
    let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let v = get_json(port, &format!("/api/v1/query?query={q}&time={at_s}"));
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let samples = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().to_string())
            })
            .collect();
        out.insert(labels_key(&r["metric"], extra), samples);
    }
    out
}

/// VictoriaMetrics' raw samples of `selector` (its export API).
fn vm_samples(port: u16, selector: &str) -> BTreeMap<String, Vec<(i64, String)>> {
    let q: String = url::form_urlencoded::byte_serialize(selector.as_bytes()).collect();
    let (status, body) = http(port, "GET", &format!("/api/v1/export?match[]={q}"), "", "");
    assert_eq!(status, 200, "{body}");
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(ts), Some(vals)) = (v["timestamps"].as_array(), v["values"].as_array()) else {
            panic!("unexpected export line: {line}");
        };
        // Values are numbers, or strings for NaN and infinities.
        let value = |x: &serde_json::Value| match x {
            serde_json::Value::String(s) => s.clone(),
            x => x.to_string(),
        };
        let samples = ts
            .iter()
            .zip(vals)
            .map(|(t, x)| (t.as_i64().unwrap(), value(x)))
            .collect();
        out.insert(labels_key(&v["metric"], &[]), samples);
    }
    out
}

/// The label set as a sortable string, with `extra` labels added.
fn labels_key(metric: &serde_json::Value, extra: &[(&str, &str)]) -> String {
    let mut m: BTreeMap<String, String> = serde_json::from_value(metric.clone()).unwrap();
    m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    format!("{m:?}")
}

fn count(samples: &BTreeMap<String, Vec<(i64, String)>>) -> usize {
    samples.values().map(Vec::len).sum()
}

#[test]
fn hearth_remote_writes_to_victoriametrics_and_prometheus() {
    for (program, package) in [
        ("victoria-metrics", "victoria-metrics"),
        ("prometheus", "prometheus"),
    ] {
        if let Err(why) = ensure_debian(program, package) {
            eprintln!("SKIPPED hearth_remote_writes_to_victoriametrics_and_prometheus: {why}");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (hp, pp, vp) = (free_port(), free_port(), free_port());

    let vm_dir = dir.path().join("vm");
    let _vm = spawn(
        Command::new("victoria-metrics")
            .arg(format!("-httpListenAddr=127.0.0.1:{vp}"))
            .arg(format!("-storageDataPath={}", vm_dir.display()))
            .arg("-search.latencyOffset=0s"),
    );
    assert!(wait_ok(vp, "/health", 300), "victoria-metrics never ready");

    let hearth_dir = dir.path().join("hearth");
    std::fs::create_dir_all(&hearth_dir).unwrap();
    let queue = "    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 100ms\n      max_backoff: 1s\n";
    std::fs::write(
        hearth_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    replica: a\n\
             scrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['127.0.0.1:{hp}']\n\
             remote_write:\n  - url: http://127.0.0.1:{vp}/api/v1/write\n    name: vm\n{queue}\
             \x20 - url: http://127.0.0.1:{pp}/api/v1/write\n    name: prom\n{queue}"
        ),
    )
    .unwrap();
    let mut hearth = hearth_server(&hearth_dir, hp);

    // The Prometheus endpoint is down (connection refused) while hearth scrapes.
    std::thread::sleep(Duration::from_secs(20));
    let (_, metrics) = http(hp, "GET", "/metrics", "", "");
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("prometheus_remote_storage_samples_pending{") && l.contains("\"prom\"")
        })
        .unwrap_or_else(|| panic!("no pending gauge for prom in:\n{metrics}"));
    let pending: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(pending > 0.0, "nothing pending while prom is down: {line}");

    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let _prom = prometheus_receiver(&prom_dir, pp);
    std::thread::sleep(Duration::from_secs(5));

    // A graceful stop flushes the queues.
    quit(&mut hearth, hp);
    drop(hearth);

    // hearth again on its data, without scraping or sending: what it stored.
    std::fs::write(hearth_dir.join("prometheus.yml"), "global: {}\n").unwrap();
    hearth = hearth_server(&hearth_dir, hp);
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Remote copies carry the external labels.
    let local = range_samples(hp, "{job=\"hearth\"}[10m]", at, &[("replica", "a")]);
    let local_up = range_samples(hp, "up[10m]", at, &[]);
    assert!(
        local_up.values().next().is_some_and(|v| v.len() >= 20),
        "hearth scraped too little: {local_up:?}"
    );

    let (status, _) = http(vp, "GET", "/internal/force_flush", "", "");
    assert_eq!(status, 200);
    let vm = vm_samples(vp, "{job=\"hearth\"}");
    let prom = range_samples(pp, "{job=\"hearth\"}[10m]", at, &[]);
    // Values are compared as numbers: the export API and the query API print them
    // differently (1e+06 vs 1000000). VictoriaMetrics keeps no NaN, so a series of only
    // NaN (a summary quantile without observations) is not there.
    let (local_n, vm_n, prom_n) = (numeric(&local), numeric(&vm), numeric(&prom));
    let keys = |m: &BTreeMap<String, Vec<(i64, f64)>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&local_n),
        keys(&vm_n),
        "series differ from VictoriaMetrics"
    );
    assert_eq!(
        keys(&local_n),
        keys(&prom_n),
        "series differ from Prometheus"
    );
    for (k, samples) in &local_n {
        assert_eq!(Some(samples), prom_n.get(k), "Prometheus differs for {k}");
        // VictoriaMetrics stores values as decimals with 12 significant digits or more.
        let theirs = vm_n
            .get(k)
            .unwrap_or_else(|| panic!("VictoriaMetrics lacks {k}"));
        let times = |v: &[(i64, f64)]| v.iter().map(|s| s.0).collect::<Vec<_>>();
        assert_eq!(
            times(samples),
            times(theirs),
            "VictoriaMetrics differs for {k}"
        );
        for ((t, a), (_, b)) in samples.iter().zip(theirs) {
            assert!(
                a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
                "VictoriaMetrics differs for {k} at {t}: {a} vs {b}"
            );
        }
    }
    eprintln!(
        "remote write: {} series, {} samples equal in hearth, VictoriaMetrics and Prometheus",
        local.len(),
        count(&local)
    );
    drop(hearth);
}

/// The receiver is down for more than a minute while hearth scrapes, and hearth is
/// restarted in the middle of it: the queue holds back its WAL reader (nothing is
/// dropped), the restart resumes from the position saved at shutdown, and once the
/// receiver is up it gets every sample hearth stored over the whole window.
#[test]
fn an_endpoint_down_for_a_minute_across_a_restart_receives_everything() {
    if let Err(why) = ensure_debian("prometheus", "prometheus") {
        eprintln!(
            "SKIPPED an_endpoint_down_for_a_minute_across_a_restart_receives_everything: {why}"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (hp, pp) = (free_port(), free_port());
    let hearth_dir = dir.path().join("hearth");
    std::fs::create_dir_all(&hearth_dir).unwrap();
    // A small queue, so that the WAL reader is held back within seconds.
    std::fs::write(
        hearth_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['127.0.0.1:{hp}']\n\
             remote_write:\n  - url: http://127.0.0.1:{pp}/api/v1/write\n    name: prom\n\
             \x20   queue_config:\n      capacity: 200\n      max_shards: 1\n      max_samples_per_send: 100\n\
             \x20     batch_send_deadline: 200ms\n      min_backoff: 100ms\n      max_backoff: 1s\n"
        ),
    )
    .unwrap();
    let flags = ["--storage.remote.flush-deadline=2s"];
    let start = now_s();
    let mut hearth = hearth_server_with(&hearth_dir, hp, &flags);
    std::thread::sleep(Duration::from_secs(30));
    let pending = metric(hp, "prometheus_remote_storage_samples_pending{");
    assert!(pending > 0.0, "nothing pending while the receiver is down");
    assert!(
        metric(
            hp,
            "prometheus_wal_watcher_records_read_total{consumer=\"prom\",type=\"samples\"}"
        ) > 0.0
    );
    assert_eq!(metric(hp, "prometheus_remote_storage_samples_total{"), 0.0);

    // Restart while the receiver is still down: the position is kept.
    quit(&mut hearth, hp);
    drop(hearth);
    let progress = hearth_dir.join("data/remote_write/prom.progress");
    let saved = std::fs::read_to_string(&progress).unwrap();
    eprintln!("resume position saved at shutdown: {}", saved.trim());
    let mut hearth = hearth_server_with(&hearth_dir, hp, &flags);
    std::thread::sleep(Duration::from_secs(35));
    let down_for = now_s() - start;
    assert!(down_for >= 60, "the receiver was down for only {down_for}s");

    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let _prom = prometheus_receiver(&prom_dir, pp);
    // Wait until the receiver holds as many `up` samples as hearth (no timing asserted).
    let mut caught_up = false;
    for _ in 0..600 {
        let at = now_s() + 1;
        let local = count(&range_samples(hp, "up[10m]", at, &[]));
        let remote = count(&range_samples(pp, "up[10m]", at, &[]));
        if remote >= local && local > 0 {
            caught_up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(caught_up, "the receiver never caught up");
    quit(&mut hearth, hp);
    drop(hearth);

    // hearth again on its data, without scraping or sending: what it stored.
    std::fs::write(hearth_dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let hearth = hearth_server(&hearth_dir, hp);
    let at = now_s();
    let local = numeric(&range_samples(hp, "{job=\"hearth\"}[10m]", at, &[]));
    let remote = numeric(&range_samples(pp, "{job=\"hearth\"}[10m]", at, &[]));
    let up = local.values().map(Vec::len).max().unwrap_or(0);
    assert!(
        up >= 60,
        "hearth scraped too little: {up} samples per series"
    );
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        remote.keys().collect::<Vec<_>>(),
        "series differ"
    );
    for (k, samples) in &local {
        let theirs = &remote[k];
        assert_eq!(samples.len(), theirs.len(), "sample counts differ for {k}");
        assert_eq!(samples, theirs, "samples differ for {k}");
    }
    let total: usize = local.values().map(Vec::len).sum();
    eprintln!(
        "endpoint down {down_for}s across a restart: {} series, {total} samples equal in hearth and Prometheus",
        local.len()
    );
    drop(hearth);
}
