//! Fixture tests: every collector runs against recorded `/proc`, `/sys`, rootfs and
//! udev trees under `tests/fixtures/host` (two CPUs, SATA/NVMe/device-mapper disks,
//! three network devices, hwmon chips, thermal zones, PSI files, …) and its exact text
//! output is compared with `tests/fixtures/expected/<collector>.txt`.
//!
//! Set `UPDATE_EXPECTED=1` to rewrite the expected files after a deliberate change, then
//! review the diff against upstream's names, labels and units.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hearth_exposition::encode_text;
use hearth_node_exporter::collectors::{
    arp::ArpCollector, conntrack::ConntrackCollector, cpu::CpuCollector, cpufreq::CpufreqCollector,
    diskstats::DiskstatsCollector, entropy::EntropyCollector, filefd::FilefdCollector,
    filesystem::FilesystemCollector, hwmon::HwmonCollector, loadavg::LoadavgCollector,
    meminfo::MeminfoCollector, netclass::NetclassCollector, netdev::NetdevCollector,
    netstat::NetstatCollector, os::OsCollector, pressure::PressureCollector,
    selinux::SelinuxCollector, sockstat::SockstatCollector, softnet::SoftnetCollector,
    stat::StatCollector, textfile::TextfileCollector, thermal_zone::ThermalZoneCollector,
    time::TimeCollector, timex, udp_queues::UdpQueuesCollector, uname, vmstat::VmstatCollector,
};
use hearth_node_exporter::config::{
    DISKSTATS_DEVICE_EXCLUDE, FILESYSTEM_FS_TYPES_EXCLUDE, FILESYSTEM_MOUNT_POINTS_EXCLUDE,
    NETSTAT_FIELDS, VMSTAT_FIELDS,
};
use hearth_node_exporter::device_filter::{DeviceFilter, search_regex};
use hearth_node_exporter::{
    CollectError, Collector, HostPaths, MetricSink, NodeExporter, NodeExporterConfig,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn paths() -> HostPaths {
    HostPaths::under(&fixtures().join("host"))
}

fn run(c: &dyn Collector) -> (String, Result<(), CollectError>) {
    let mut sink = MetricSink::new();
    let r = c.update(&mut sink);
    let mut out = String::new();
    encode_text(&sink.finish(), &mut out);
    (out, r)
}

fn expect(name: &str, actual: &str) {
    let path = fixtures().join("expected").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_EXPECTED=1)", path.display()));
    if want != actual {
        let diff: Vec<String> = want
            .lines()
            .zip(actual.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .map(|(a, b)| format!("  want: {a}\n  got:  {b}"))
            .collect();
        panic!(
            "{name}: output differs from {}\n{}\n--- full output ---\n{actual}",
            path.display(),
            diff.join("\n")
        );
    }
}

fn check(name: &str, c: &dyn Collector) {
    let (out, r) = run(c);
    r.unwrap_or_else(|e| panic!("{name} failed: {e}"));
    expect(name, &out);
}

#[test]
fn cpu() {
    check("cpu", &CpuCollector::new(paths(), true));
}

#[test]
fn cpufreq() {
    check("cpufreq", &CpufreqCollector::new(paths()));
}

#[test]
fn diskstats() {
    let filter = DeviceFilter::new(DISKSTATS_DEVICE_EXCLUDE, "").unwrap();
    check("diskstats", &DiskstatsCollector::new(paths(), filter));
}

fn fake_statfs(p: &Path) -> io::Result<hearth_node_exporter::collectors::filesystem::FsStats> {
    use hearth_node_exporter::collectors::filesystem::FsStats;
    let gib = 1u64 << 30;
    let fs = |size: u64, free: u64, avail: u64, files: u64, files_free: u64| FsStats {
        block_size: 4096,
        blocks: size / 4096,
        blocks_free: free / 4096,
        blocks_available: avail / 4096,
        files,
        files_free,
    };
    if p.ends_with("root") {
        Ok(fs(250 * gib, 100 * gib, 87 * gib, 16_384_000, 15_000_000))
    } else if p.ends_with("boot/efi") {
        Ok(FsStats {
            block_size: 512,
            blocks: 1_048_576,
            blocks_free: 1_000_000,
            blocks_available: 1_000_000,
            files: 0,
            files_free: 0,
        })
    } else if p.ends_with("home") {
        Ok(fs(900 * gib, 300 * gib, 254 * gib, 58_982_400, 58_000_000))
    } else if p.ends_with("media/backup") {
        Ok(fs(2000 * gib, 10 * gib, 10 * gib, 122_101_760, 120_000_000))
    } else if p.ends_with("run") {
        Ok(fs(
            370 * (1 << 20),
            368 * (1 << 20),
            368 * (1 << 20),
            473_470,
            472_000,
        ))
    } else if p.ends_with("run/credentials/systemd-sysusers.service") || p.ends_with("snap/core/1")
    {
        panic!("excluded mount {} was asked for", p.display())
    } else {
        // The NFS share: the server does not let us in.
        Err(io::Error::from_raw_os_error(13))
    }
}

#[test]
fn filesystem() {
    let c = FilesystemCollector::new(
        paths(),
        DeviceFilter::new(FILESYSTEM_MOUNT_POINTS_EXCLUDE, "").unwrap(),
        DeviceFilter::new(FILESYSTEM_FS_TYPES_EXCLUDE, "").unwrap(),
    )
    .with_statfs(fake_statfs);
    check("filesystem", &c);
}

#[test]
fn filesystem_include_filter() {
    let c = FilesystemCollector::new(
        paths(),
        DeviceFilter::new("", "^/home$").unwrap(),
        DeviceFilter::new(FILESYSTEM_FS_TYPES_EXCLUDE, "").unwrap(),
    )
    .with_statfs(fake_statfs);
    let (out, r) = run(&c);
    r.unwrap();
    assert!(out.contains("mountpoint=\"/home\""));
    assert!(!out.contains("mountpoint=\"/\""), "{out}");
}

#[test]
fn hwmon() {
    check("hwmon", &HwmonCollector::new(paths()));
}

#[test]
fn hwmon_without_sysfs_class_is_no_data() {
    let mut p = paths();
    p.sysfs = fixtures().join("missing");
    let (_, r) = run(&HwmonCollector::new(p));
    assert!(matches!(r, Err(CollectError::NoData(_))), "{r:?}");
}

#[test]
fn loadavg() {
    check("loadavg", &LoadavgCollector::new(paths()));
}

#[test]
fn meminfo() {
    check("meminfo", &MeminfoCollector::new(paths()));
}

#[test]
fn netdev() {
    check(
        "netdev",
        &NetdevCollector::new(paths(), DeviceFilter::default()),
    );
    let (out, _) = run(&NetdevCollector::new(
        paths(),
        DeviceFilter::new("^lo$", "").unwrap(),
    ));
    assert!(!out.contains("device=\"lo\""));
    let (out, _) = run(&NetdevCollector::new(
        paths(),
        DeviceFilter::new("", "^wlan").unwrap(),
    ));
    assert!(!out.contains("device=\"eth0\"") && out.contains("device=\"wlan0\""));
}

#[test]
fn netclass() {
    check(
        "netclass",
        &NetclassCollector::new(paths(), search_regex("^$").unwrap(), false),
    );
    let (out, _) = run(&NetclassCollector::new(
        paths(),
        search_regex("^lo$").unwrap(),
        true,
    ));
    assert!(!out.contains("device=\"lo\""), "{out}");
    assert!(
        !out.contains("node_network_speed_bytes{device=\"wlan0\"}"),
        "{out}"
    );
}

#[test]
fn netstat() {
    check(
        "netstat",
        &NetstatCollector::new(paths(), search_regex(NETSTAT_FIELDS).unwrap()),
    );
}

#[test]
fn os() {
    check("os", &OsCollector::new(paths()));
}

#[test]
fn pressure() {
    check("pressure", &PressureCollector::new(paths()));
}

#[test]
fn sockstat() {
    check("sockstat", &SockstatCollector::new(paths(), 4096));
}

#[test]
fn stat() {
    check("stat", &StatCollector::new(paths()));
}

#[test]
fn thermal_zone() {
    check("thermal_zone", &ThermalZoneCollector::new(paths()));
}

#[test]
fn vmstat() {
    check(
        "vmstat",
        &VmstatCollector::new(paths(), search_regex(VMSTAT_FIELDS).unwrap()),
    );
}

#[test]
fn filefd() {
    check("filefd", &FilefdCollector::new(paths()));
}

#[test]
fn entropy() {
    check("entropy", &EntropyCollector::new(paths()));
}

#[test]
fn conntrack() {
    check("conntrack", &ConntrackCollector::new(paths()));
}

#[test]
fn arp() {
    check("arp", &ArpCollector::new(paths(), DeviceFilter::default()));
}

#[test]
fn selinux() {
    check("selinux", &SelinuxCollector::new(paths()));
    let mut p = paths();
    p.sysfs = fixtures().join("missing");
    let (out, r) = run(&SelinuxCollector::new(p));
    r.unwrap();
    assert!(
        out.contains("node_selinux_enabled 0") && !out.contains("mode"),
        "{out}"
    );
}

#[test]
fn softnet() {
    check("softnet", &SoftnetCollector::new(paths()));
}

#[test]
fn udp_queues() {
    check("udp_queues", &UdpQueuesCollector::new(paths()));
}

#[test]
fn time_clocksources() {
    let (out, r) = run(&TimeCollector::new(paths()));
    r.unwrap();
    // The clock and the zone are this machine's; the clock sources are the fixture's.
    let stable: String = out
        .lines()
        .filter(|l| l.contains("clocksource"))
        .map(|l| format!("{l}\n"))
        .collect();
    expect("time", &stable);
    assert!(out.contains("node_time_seconds "));
    assert!(out.contains("node_time_zone_offset_seconds{time_zone="));
}

#[test]
fn uname_labels() {
    let mut sink = MetricSink::new();
    uname::write_uname(
        &mut sink,
        &hearth_node_exporter::collectors::uname::Utsname {
            sysname: "Linux".into(),
            nodename: "node1".into(),
            release: "6.8.0-45-generic".into(),
            version: "#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024".into(),
            machine: "x86_64".into(),
            domainname: "(none)".into(),
        },
    );
    let mut out = String::new();
    encode_text(&sink.finish(), &mut out);
    expect("uname", &out);
}

#[test]
fn timex_conversions() {
    let mut sink = MetricSink::new();
    timex::write_timex(
        &mut sink,
        &hearth_node_exporter::collectors::timex::Timex {
            state: 0,
            offset: -1_500,
            freq: -1_130_000,
            maxerror: 245_000,
            esterror: 1_500,
            status: 0x2001,
            constant: 7,
            precision: 1,
            tolerance: 32_768_000,
            tick: 10_000,
            ppsfreq: 65_536,
            jitter: 200,
            shift: 2,
            stabil: 131_072,
            jitcnt: 1,
            calcnt: 2,
            errcnt: 3,
            stbcnt: 4,
            tai: 37,
        },
    );
    let mut out = String::new();
    encode_text(&sink.finish(), &mut out);
    expect("timex", &out);
}

/// Copies a textfile fixture directory and pins the files' modification times.
fn textfile_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(fixtures().join("textfile").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (i, src) in files.iter().enumerate() {
        let dst = dir.path().join(src.file_name().unwrap());
        std::fs::copy(src, &dst).unwrap();
        let f = std::fs::File::options().write(true).open(&dst).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_millis(1_700_000_000_250 + i as u64 * 1000))
            .unwrap();
    }
    dir
}

#[test]
fn textfile() {
    let dir = textfile_dir("good");
    let (out, r) = run(&TextfileCollector::new(vec![
        dir.path().display().to_string(),
    ]));
    r.unwrap();
    expect(
        "textfile",
        &out.replace(&dir.path().display().to_string(), "DIR"),
    );
}

#[test]
fn textfile_errors_skip_the_file_and_flag_the_scrape() {
    let dir = textfile_dir("bad");
    let missing = dir.path().join("missing").display().to_string();
    let (out, r) = run(&TextfileCollector::new(vec![
        dir.path().display().to_string(),
        missing,
    ]));
    r.unwrap();
    assert!(out.contains("node_textfile_scrape_error 1"), "{out}");
    assert!(
        out.contains("smartmon_device_temperature{"),
        "the good file still counts"
    );
    assert!(!out.contains("stamped"), "{out}");
    assert_eq!(
        out.matches("node_textfile_mtime_seconds{").count(),
        1,
        "{out}"
    );
}

#[test]
fn textfile_glob_directories() {
    let parent = tempfile::tempdir().unwrap();
    for sub in ["a.d", "b.d", "c.skip"] {
        std::fs::create_dir(parent.path().join(sub)).unwrap();
        std::fs::write(
            parent.path().join(sub).join("m.prom"),
            format!("m{{d=\"{sub}\"}} 1\n"),
        )
        .unwrap();
    }
    let pattern = format!("{}/*.d", parent.path().display());
    let (out, _) = run(&TextfileCollector::new(vec![pattern]));
    assert!(
        out.contains("m{d=\"a.d\"} 1") && out.contains("m{d=\"b.d\"} 1"),
        "{out}"
    );
    assert!(!out.contains("c.skip\"} 1"), "{out}");
}

#[test]
fn whole_scrape_of_the_fixture_host() {
    let dir = textfile_dir("good");
    let config = NodeExporterConfig {
        paths: paths(),
        textfile_directories: vec![dir.path().display().to_string()],
        ..Default::default()
    };
    let exporter = NodeExporter::new(&config).unwrap();
    let families = exporter.scrape(&|_| true);
    let success = families
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .unwrap();
    for s in &success.samples {
        assert_eq!(s.value, 1.0, "collector {:?} failed", s.label("collector"));
    }
    assert_eq!(success.samples.len(), exporter.collector_names().len());
    // Sorted by name, each name once: what client_golang's Gather returns.
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    // Missing fixture files fail their collector only.
    let broken = NodeExporter::new(&NodeExporterConfig {
        paths: HostPaths::under(&fixtures().join("missing")),
        ..Default::default()
    })
    .unwrap();
    let families = broken.scrape(&|_| true);
    let failed = families
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .unwrap()
        .samples
        .iter()
        .filter(|s| s.value == 0.0)
        .count();
    assert!(failed >= 10, "{failed}");
}
