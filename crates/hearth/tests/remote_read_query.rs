//! `hearth server` with `remote_read` to Debian's `prometheus`, which holds data hearth
//! does not (it scrapes itself): PromQL on hearth answers with local and remote series
//! merged; with `read_recent: false` the remote is asked only for times before hearth's
//! own data starts; a remote that is down gives a warning, not an error. Without the
//! package (and no root to install it) the test prints SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::server::KillOnDrop;
use support::{ensure_debian, free_port, http, wait_ok};

fn query(port: u16, q: &str, at: f64) -> serde_json::Value {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/v1/query?query={q}&time={at}"),
        "",
        "",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// `job → timestamps (ms)` of a range vector query.
fn times(v: &serde_json::Value) -> Vec<(String, Vec<i64>)> {
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let job = r["metric"]["job"].as_str().unwrap_or("").to_string();
            let ts = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
                .collect();
            (job, ts)
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn write_config(dir: &Path, hp: u16, pp: u16, read_recent: bool) {
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['127.0.0.1:{hp}']\n\
             remote_read:\n  - url: http://127.0.0.1:{pp}/api/v1/read\n    name: prom\n    read_recent: {read_recent}\n"
        ),
    )
    .unwrap();
}

#[test]
fn queries_merge_local_data_with_a_remote_read_endpoint() {
    if let Err(why) = ensure_debian("prometheus", "prometheus") {
        eprintln!("SKIPPED queries_merge_local_data_with_a_remote_read_endpoint: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (hp, pp) = (free_port(), free_port());
    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: ['127.0.0.1:{pp}']\n"
        ),
    )
    .unwrap();
    let mut prom = KillOnDrop(
        Command::new("prometheus")
            .current_dir(&prom_dir)
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .args(["--storage.tsdb.path=data", "--config.file=prometheus.yml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_ok(pp, "/-/ready", 300), "prometheus never ready");
    // Prometheus has data from before hearth's.
    let mut scraped = false;
    for _ in 0..600 {
        if !times(&query(pp, "up[1m]", now_s())).is_empty() {
            scraped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(scraped, "prometheus never scraped itself");
    std::thread::sleep(Duration::from_secs(3));

    let hearth_dir = dir.path().join("hearth");
    std::fs::create_dir_all(&hearth_dir).unwrap();
    write_config(&hearth_dir, hp, pp, true);
    let log = hearth_dir.join("hearth.log");
    let _hearth = KillOnDrop(
        support::server::hearth()
            .current_dir(&hearth_dir)
            .args([
                "server",
                "--storage.tsdb.path=data",
                "--web.enable-lifecycle",
            ])
            .arg(format!("--web.listen-address=127.0.0.1:{hp}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(wait_ok(hp, "/-/ready", 300), "hearth never ready");
    // read_recent: both jobs (once hearth has scraped itself twice), and the remote
    // series equals what Prometheus answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let (at, local_and_remote) = loop {
        let at = now_s();
        let got = times(&query(hp, "up[10m]", at));
        let own = got
            .iter()
            .find(|(j, _)| j == "hearth")
            .map_or(0, |(_, t)| t.len());
        if own >= 2 || std::time::Instant::now() > deadline {
            break (at, got);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let jobs: Vec<&str> = local_and_remote.iter().map(|(j, _)| j.as_str()).collect();
    assert_eq!(jobs, ["hearth", "prom"], "{local_and_remote:?}");
    let theirs = times(&query(pp, "up{job=\"prom\"}[10m]", at));
    assert_eq!(local_and_remote[1], theirs[0]);
    let hearth_start = local_and_remote[0].1[0];
    assert!(
        theirs[0].1.iter().any(|t| *t > hearth_start),
        "remote samples after hearth's start are read"
    );

    // /federate serves local data only, as upstream: never what remote_read brings in.
    let (status, body) = http(hp, "GET", "/federate?match%5B%5D=up", "", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("job=\"hearth\""), "{body}");
    assert!(!body.contains("job=\"prom\""), "{body}");

    // read_recent: false — only what lies before hearth's own data.
    write_config(&hearth_dir, hp, pp, false);
    let (status, body) = http(hp, "POST", "/-/reload", "", "");
    assert_eq!(status, 200, "{body}");
    let at = now_s();
    let old_only = times(&query(hp, "up{job=\"prom\"}[10m]", at));
    assert_eq!(old_only.len(), 1, "{old_only:?}");
    assert!(!old_only[0].1.is_empty());
    assert!(
        old_only[0].1.iter().all(|t| *t <= hearth_start),
        "read_recent: false read past hearth's start {hearth_start}: {old_only:?}"
    );
    // A range that starts after hearth's data does is not sent to the remote.
    let recent = query(hp, "up{job=\"prom\"}[1s]", at);
    assert_eq!(recent["data"]["result"].as_array().unwrap().len(), 0);

    // The remote goes away: local data and a warning.
    write_config(&hearth_dir, hp, pp, true);
    let (status, _) = http(hp, "POST", "/-/reload", "", "");
    assert_eq!(status, 200);
    prom.0.kill().unwrap();
    prom.0.wait().unwrap();
    let v = query(hp, "up", now_s());
    let jobs: Vec<String> = times(&query(hp, "up[1m]", now_s()))
        .into_iter()
        .map(|(j, _)| j)
        .collect();
    assert!(jobs.contains(&"hearth".to_string()));
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("remote_read prom")),
        "no warning about the remote: {v}"
    );
}
