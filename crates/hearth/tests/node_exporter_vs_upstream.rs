//! `hearth node-exporter` next to Debian's `prometheus-node-exporter` on the same host:
//! both are scraped on loopback ports and compared family by family (type and label
//! names), stable values are compared, both outputs are linted with `hearth tool check
//! metrics`, and the CPU time per scrape of each is measured and printed (never
//! asserted).
//!
//! Debian ships node_exporter 1.5.0; hearth follows current upstream (1.9) where the
//! two differ, and those differences are listed in [`NEWER_UPSTREAM`] and
//! [`NEWER_UPSTREAM_LABELS`]. Without the package (and no root to install it) the test
//! prints "SKIPPED: …" and passes. The comparison is also written to
//! `target/tmp/conformance-node-exporter.txt`, which `scripts/test` prints at the end.
//!
//! `HEARTH_BIN=target/release/hearth` measures a release build instead of the test's
//! debug build (`scripts/node-exporter-compare` does that).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_exposition::{FamilyCollector, MetricFamily, TextParser};
use hearth_model::MetricType;
use support::free_port;

mod support;

const UPSTREAM: &str = "prometheus-node-exporter";

/// The collectors hearth implements; upstream runs exactly these for the comparison.
const COLLECTORS: &[&str] = &[
    "arp",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "loadavg",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "os",
    "pressure",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
];

/// Families current upstream has and 1.5.0 lacks (hearth follows current upstream).
const NEWER_UPSTREAM: &[(&str, &str)] = &[
    ("node_filesystem_mount_info", "not in 1.5.0"),
    (
        "node_netstat_TcpExt_TCPOFOQueue",
        "not in 1.5.0's --collector.netstat.fields default",
    ),
    (
        "node_netstat_TcpExt_TCPRcvQDrop",
        "not in 1.5.0's --collector.netstat.fields default",
    ),
    ("node_pressure_irq_stalled_seconds_total", "not in 1.5.0"),
    ("node_os_support_end_timestamp_seconds", "not in 1.5.0"),
    ("node_softnet_backlog_len", "not in 1.5.0"),
    ("node_softnet_cpu_collision_total", "not in 1.5.0"),
    ("node_softnet_flow_limit_count_total", "not in 1.5.0"),
    ("node_softnet_received_rps_total", "not in 1.5.0"),
];

/// Label names current upstream added to families 1.5.0 already had.
const NEWER_UPSTREAM_LABELS: &[(&str, &str, &str)] = &[
    ("node_disk_info", "rotational", "not in 1.5.0"),
    ("node_network_info", "adminstate", "not in 1.5.0"),
    (
        "node_filesystem_",
        "device_error",
        "on every filesystem family, not in 1.5.0",
    ),
];

/// Current upstream flag defaults, given to Debian's binary too so both read the same
/// devices and mounts (Debian patches its defaults to skip `lo`, /run, /mnt, /media).
const SAME_FILTERS: &[&str] = &[
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    "--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$",
    "--collector.netdev.device-exclude=^$",
];

struct Exporter {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs Debian's package when it is missing and we may.
fn ensure_upstream() -> Result<(), String> {
    support::ensure_debian(UPSTREAM, UPSTREAM)
}

fn hearth_bin() -> PathBuf {
    std::env::var_os("HEARTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hearth")))
}

fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    // HTTP/1.0: the body ends with the connection, no chunked encoding to undo.
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let raw = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    let ok = head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200");
    if !ok {
        return Err(format!("unexpected response: {head}"));
    }
    Ok(body.to_string())
}

fn start(name: &'static str, mut cmd: Command, port: u16) -> Exporter {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let e = Exporter { name, child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(port, "/metrics").is_err() {
        assert!(
            Instant::now() < deadline,
            "{name} did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    e
}

fn parse(body: &str) -> BTreeMap<String, MetricFamily> {
    let mut p = TextParser::new(body.as_bytes()).unwrap();
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().unwrap() {
        c.push(&e);
    }
    c.finish()
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect()
}

fn label_names(f: &MetricFamily) -> BTreeSet<String> {
    f.samples
        .iter()
        .flat_map(|s| s.labels.iter().map(|l| l.0.clone()))
        .collect()
}

/// The exporters' own families (`go_*`, `process_*`, `promhttp_*`, build info) are not
/// collector output.
fn is_collector_family(name: &str) -> bool {
    name.starts_with("node_") && name != "node_exporter_build_info"
        || name == "textfile_test_metric"
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// CPU seconds the exporter process spends per scrape, over `n` scrapes.
fn cpu_per_scrape(e: &Exporter, n: u32) -> (f64, f64) {
    for _ in 0..5 {
        http_get(e.port, "/metrics").unwrap();
    }
    let before = cpu_seconds(e.child.id());
    let start = Instant::now();
    for _ in 0..n {
        http_get(e.port, "/metrics").unwrap();
    }
    let wall = start.elapsed().as_secs_f64() / f64::from(n);
    ((cpu_seconds(e.child.id()) - before) / f64::from(n), wall)
}

/// Problems `hearth tool check metrics` reports for an exposition.
fn lint_problems(body: &str) -> Vec<String> {
    let mut child = Command::new(hearth_bin())
        .args(["tool", "check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 3,
        "check metrics exit code {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_report(report: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("conformance-node-exporter.txt"), report);
}

#[test]
fn node_exporter_matches_upstream_on_this_host() {
    if let Err(why) = ensure_upstream() {
        eprintln!("SKIPPED: node exporter comparison with upstream: {why}");
        write_report(&format!("node exporter vs upstream: SKIPPED ({why})\n"));
        return;
    }
    let version = Command::new(UPSTREAM).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
        + String::from_utf8_lossy(&version.stderr)
            .lines()
            .next()
            .unwrap_or("");

    let textfiles = tempfile::tempdir().unwrap();
    std::fs::write(
        textfiles.path().join("test.prom"),
        "# HELP textfile_test_metric Written by the comparison test.\n# TYPE textfile_test_metric gauge\ntextfile_test_metric{source=\"test\"} 42\n",
    )
    .unwrap();
    let textfile_flag = format!(
        "--collector.textfile.directory={}",
        textfiles.path().display()
    );

    let up_port = free_port();
    let mut up_cmd = Command::new(UPSTREAM);
    up_cmd
        .arg(format!("--web.listen-address=127.0.0.1:{up_port}"))
        .arg("--collector.disable-defaults")
        .arg(&textfile_flag)
        .args(SAME_FILTERS);
    for c in COLLECTORS {
        up_cmd.arg(format!("--collector.{c}"));
    }
    let upstream = start("upstream", up_cmd, up_port);

    let h_port = free_port();
    let mut h_cmd = Command::new(hearth_bin());
    h_cmd.args([
        "node-exporter",
        &format!("--web.listen-address=127.0.0.1:{h_port}"),
        &textfile_flag,
    ]);
    let hearth = start("hearth", h_cmd, h_port);

    let up_body = http_get(upstream.port, "/metrics").unwrap();
    let h_body = http_get(hearth.port, "/metrics").unwrap();
    let up = parse(&up_body);
    let h = parse(&h_body);

    let mut report = String::new();
    let mut failures = Vec::new();
    writeln!(
        report,
        "node exporter vs {version} (same collectors, same filters; hearth follows current upstream node_exporter 1.9 where it differs from 1.5.0):"
    )
    .unwrap();

    // Every family upstream exposes, hearth exposes with the same type and label names.
    let mut compared = 0;
    for (name, uf) in up.iter().filter(|(n, _)| is_collector_family(n)) {
        let Some(hf) = h.get(name) else {
            failures.push(format!("missing family {name}"));
            continue;
        };
        compared += 1;
        if uf.metric_type != hf.metric_type {
            failures.push(format!(
                "{name}: type {:?} upstream, {:?} hearth",
                uf.metric_type, hf.metric_type
            ));
        }
        let (ul, hl) = (label_names(uf), label_names(hf));
        let added: BTreeSet<String> = hl.difference(&ul).cloned().collect();
        let explained: BTreeSet<String> = NEWER_UPSTREAM_LABELS
            .iter()
            .filter(|(prefix, _, _)| name.starts_with(prefix))
            .map(|(_, l, _)| l.to_string())
            .collect();
        if !ul.is_subset(&hl) || !added.is_subset(&explained) {
            failures.push(format!("{name}: labels {ul:?} upstream, {hl:?} hearth"));
        }
        if uf.help != hf.help && name != "textfile_test_metric" {
            writeln!(
                report,
                "  help differs for {name}: {:?} vs {:?}",
                uf.help, hf.help
            )
            .unwrap();
        }
    }
    writeln!(
        report,
        "  {compared} upstream families compared: type and label names match"
    )
    .unwrap();
    for (prefix, label, why) in NEWER_UPSTREAM_LABELS {
        writeln!(
            report,
            "  label {label} on {prefix}*: hearth follows current upstream ({why})"
        )
        .unwrap();
    }
    let only_hearth: Vec<&String> = h
        .keys()
        .filter(|n| is_collector_family(n) && !up.contains_key(*n))
        .collect();
    writeln!(
        report,
        "  families only hearth exposes: {}",
        only_hearth.len()
    )
    .unwrap();
    for n in &only_hearth {
        match NEWER_UPSTREAM.iter().find(|(f, _)| f == n) {
            Some((_, why)) => writeln!(report, "    {n} (current upstream: {why})").unwrap(),
            None => {
                writeln!(report, "    {n} (unexplained)").unwrap();
                failures.push(format!(
                    "family {n} only in hearth and not explained by a newer upstream"
                ));
            }
        }
    }

    // Stable values agree.
    let value = |m: &BTreeMap<String, MetricFamily>, n: &str| m.get(n).map(|f| f.samples[0].value);
    assert_eq!(
        value(&up, "node_memory_MemTotal_bytes"),
        value(&h, "node_memory_MemTotal_bytes")
    );
    assert_eq!(
        value(&up, "node_boot_time_seconds"),
        value(&h, "node_boot_time_seconds")
    );
    let cpu_modes = |m: &BTreeMap<String, MetricFamily>| -> BTreeSet<(String, String)> {
        m["node_cpu_seconds_total"]
            .samples
            .iter()
            .map(|s| {
                (
                    s.label("cpu").unwrap().to_string(),
                    s.label("mode").unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        cpu_modes(&up),
        cpu_modes(&h),
        "CPUs and modes of node_cpu_seconds_total"
    );
    let labels_of = |m: &BTreeMap<String, MetricFamily>, n: &str| m[n].samples[0].labels.clone();
    assert_eq!(
        labels_of(&up, "node_uname_info"),
        labels_of(&h, "node_uname_info")
    );
    assert_eq!(
        labels_of(&up, "node_os_info"),
        labels_of(&h, "node_os_info")
    );
    assert_eq!(value(&up, "textfile_test_metric"), Some(42.0));
    assert_eq!(value(&h, "textfile_test_metric"), Some(42.0));
    let cpus = cpu_modes(&h)
        .iter()
        .map(|c| c.0.clone())
        .collect::<BTreeSet<_>>()
        .len();
    writeln!(report, "  values agree: MemTotal, boot time, {cpus} CPUs x 8 modes, uname and os-release labels, textfile").unwrap();

    // Lint: no more problems than upstream's output has, on the families both expose
    // (node_exporter's own names break promlint's rules in places, upstream alike).
    let newer = |p: &String| {
        NEWER_UPSTREAM
            .iter()
            .any(|(f, _)| p.split_whitespace().next() == Some(f))
    };
    let up_lint = lint_problems(&up_body);
    let (h_newer, h_lint): (Vec<String>, Vec<String>) =
        lint_problems(&h_body).into_iter().partition(newer);
    writeln!(
        report,
        "  hearth tool check metrics: {} problems for hearth (+{} on families newer than 1.5.0), {} for upstream",
        h_lint.len(),
        h_newer.len(),
        up_lint.len()
    )
    .unwrap();
    for p in h_lint.iter().filter(|p| !up_lint.contains(p)) {
        writeln!(report, "    only hearth: {p}").unwrap();
    }
    if h_lint.len() > up_lint.len() {
        failures.push(format!(
            "hearth's output has {} lint problems, upstream's {}",
            h_lint.len(),
            up_lint.len()
        ));
    }

    // CPU per scrape (printed, never asserted).
    let build = if std::env::var_os("HEARTH_BIN").is_some() {
        "HEARTH_BIN"
    } else if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let (up_cpu, up_wall) = cpu_per_scrape(&upstream, 200);
    let (h_cpu, h_wall) = cpu_per_scrape(&hearth, 200);
    writeln!(
        report,
        "  CPU per scrape over 200 scrapes: hearth ({build}) {:.3} ms, upstream {:.3} ms, ratio hearth/upstream {:.2}; wall {:.2} ms vs {:.2} ms",
        h_cpu * 1e3,
        up_cpu * 1e3,
        h_cpu / up_cpu.max(1e-9),
        h_wall * 1e3,
        up_wall * 1e3
    )
    .unwrap();

    // Upstream's default collectors hearth does not implement yet (information only).
    let up_default_port = free_port();
    let mut cmd = Command::new(UPSTREAM);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{up_default_port}"))
        .arg(&textfile_flag);
    let upstream_default = start("upstream (defaults)", cmd, up_default_port);
    let all = parse(&http_get(upstream_default.port, "/metrics").unwrap());
    let missing: Vec<&String> = all
        .keys()
        .filter(|n| is_collector_family(n) && !h.contains_key(*n) && !n.starts_with("node_scrape"))
        .collect();
    writeln!(
        report,
        "  families of upstream's other default collectors hearth lacks: {}",
        missing.len()
    )
    .unwrap();
    let mut line = String::from("   ");
    for n in missing {
        line.push(' ');
        line.push_str(n);
    }
    writeln!(report, "{line}").unwrap();
    drop(upstream_default);
    let _ = (upstream.name, hearth.name);

    eprintln!("{report}");
    write_report(&report);
    assert!(
        failures.is_empty(),
        "differences from upstream:\n  {}\n\n{report}",
        failures.join("\n  ")
    );
    assert!(h.values().all(|f| f.metric_type != MetricType::Info));
}
