//! What `hearth node-exporter` is told on its command line: which collectors run and
//! their options, with node_exporter's flag names and defaults.

use crate::paths::HostPaths;

/// `--collector.diskstats.device-exclude` default (current upstream, which also drops
/// `zram` devices; Debian's 1.5.0 does not).
pub const DISKSTATS_DEVICE_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// `--collector.filesystem.mount-points-exclude` default.
pub const FILESYSTEM_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// `--collector.filesystem.fs-types-exclude` default.
pub const FILESYSTEM_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// `--collector.netstat.fields` default.
pub const NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
/// `--collector.vmstat.fields` default.
pub const VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// One `--[no-]collector.<name>` flag: a collector upstream knows, whether it runs by
/// default, and whether hearth implements it (others are accepted so existing command
/// lines keep working, and skipped with a warning when enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorFlag {
    pub name: &'static str,
    pub enable_flag: &'static str,
    pub disable_flag: &'static str,
    pub default_enabled: bool,
    pub implemented: bool,
}

macro_rules! collector_flags {
    ($(($name:literal, $default:literal, $implemented:literal)),* $(,)?) => {
        &[$(CollectorFlag {
            name: $name,
            enable_flag: concat!("collector.", $name),
            disable_flag: concat!("no-collector.", $name),
            default_enabled: $default,
            implemented: $implemented,
        }),*]
    };
}

/// Every Linux collector of node_exporter 1.9, with upstream's default.
pub const COLLECTOR_FLAGS: &[CollectorFlag] = collector_flags![
    ("arp", true, true),
    ("bcache", true, false),
    ("bonding", true, false),
    ("btrfs", true, false),
    ("buddyinfo", false, false),
    ("cgroups", false, false),
    ("conntrack", true, true),
    ("cpu", true, true),
    ("cpu_vulnerabilities", false, false),
    ("cpufreq", true, true),
    ("diskstats", true, true),
    ("dmi", true, false),
    ("drbd", false, false),
    ("drm", false, false),
    ("edac", true, false),
    ("entropy", true, true),
    ("ethtool", false, false),
    ("fibrechannel", true, false),
    ("filefd", true, true),
    ("filesystem", true, true),
    ("hwmon", true, true),
    ("infiniband", true, false),
    ("interrupts", false, false),
    ("ipvs", true, false),
    ("ksmd", false, false),
    ("lnstat", false, false),
    ("loadavg", true, true),
    ("logind", false, false),
    ("mdadm", true, false),
    ("meminfo", true, true),
    ("meminfo_numa", false, false),
    ("mountstats", false, false),
    ("netclass", true, true),
    ("netdev", true, true),
    ("netstat", true, true),
    ("network_route", false, false),
    ("nfs", true, false),
    ("nfsd", true, false),
    ("ntp", false, false),
    ("nvme", true, false),
    ("os", true, true),
    ("perf", false, false),
    ("powersupplyclass", true, false),
    ("pressure", true, true),
    ("processes", false, false),
    ("qdisc", false, false),
    ("rapl", true, false),
    ("runit", false, false),
    ("schedstat", true, false),
    ("selinux", true, true),
    ("slabinfo", false, false),
    ("sockstat", true, true),
    ("softirqs", false, false),
    ("softnet", true, true),
    ("stat", true, true),
    ("supervisord", false, false),
    ("sysctl", false, false),
    ("systemd", false, false),
    ("tapestats", true, false),
    ("tcpstat", false, false),
    ("textfile", true, true),
    ("thermal_zone", true, true),
    ("time", true, true),
    ("timex", true, true),
    ("udp_queues", true, true),
    ("uname", true, true),
    ("vmstat", true, true),
    ("watchdog", true, false),
    ("wifi", false, false),
    ("xfrm", false, false),
    ("xfs", true, false),
    ("zfs", true, false),
    ("zoneinfo", false, false),
];

/// The collectors upstream enables by default that hearth implements.
pub fn default_collectors() -> Vec<String> {
    COLLECTOR_FLAGS
        .iter()
        .filter(|c| c.default_enabled && c.implemented)
        .map(|c| c.name.to_string())
        .collect()
}

/// Everything the collectors are configured with. `Default` is upstream's defaults.
#[derive(Debug, Clone)]
pub struct NodeExporterConfig {
    pub paths: HostPaths,
    /// Names of the collectors to run.
    pub collectors: Vec<String>,
    /// `--collector.textfile.directory` (repeatable, glob patterns allowed).
    pub textfile_directories: Vec<String>,
    pub filesystem_mount_points_exclude: String,
    pub filesystem_mount_points_include: String,
    pub filesystem_fs_types_exclude: String,
    pub filesystem_fs_types_include: String,
    pub netdev_device_exclude: String,
    pub netdev_device_include: String,
    pub diskstats_device_exclude: String,
    pub diskstats_device_include: String,
    pub netstat_fields: String,
    pub vmstat_fields: String,
    /// `--collector.cpu.guest`: export `node_cpu_guest_seconds_total`.
    pub cpu_guest: bool,
    pub arp_device_exclude: String,
    pub arp_device_include: String,
    /// `--collector.netclass.ignored-devices`.
    pub netclass_ignored_devices: String,
    /// `--collector.netclass.ignore-invalid-speed`: drop a speed of -1 (unknown).
    pub netclass_ignore_invalid_speed: bool,
}

impl Default for NodeExporterConfig {
    fn default() -> NodeExporterConfig {
        NodeExporterConfig {
            paths: HostPaths::default(),
            collectors: default_collectors(),
            textfile_directories: Vec::new(),
            filesystem_mount_points_exclude: FILESYSTEM_MOUNT_POINTS_EXCLUDE.to_string(),
            filesystem_mount_points_include: String::new(),
            filesystem_fs_types_exclude: FILESYSTEM_FS_TYPES_EXCLUDE.to_string(),
            filesystem_fs_types_include: String::new(),
            netdev_device_exclude: String::new(),
            netdev_device_include: String::new(),
            diskstats_device_exclude: DISKSTATS_DEVICE_EXCLUDE.to_string(),
            diskstats_device_include: String::new(),
            netstat_fields: NETSTAT_FIELDS.to_string(),
            vmstat_fields: VMSTAT_FIELDS.to_string(),
            cpu_guest: true,
            arp_device_exclude: String::new(),
            arp_device_include: String::new(),
            netclass_ignored_devices: "^$".to_string(),
            netclass_ignore_invalid_speed: false,
        }
    }
}

/// A configuration the collectors cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid regular expression for {flag}: {source}")]
    Regex {
        flag: &'static str,
        source: hearth_model::RegexError,
    },
    #[error("{0} and {1} are mutually exclusive")]
    MutuallyExclusive(&'static str, &'static str),
    #[error("unknown collector {0:?}")]
    UnknownCollector(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_unique_and_named_like_upstream() {
        let mut names: Vec<&str> = COLLECTOR_FLAGS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLLECTOR_FLAGS.len());
        let cpu = COLLECTOR_FLAGS.iter().find(|c| c.name == "cpu").unwrap();
        assert_eq!(cpu.enable_flag, "collector.cpu");
        assert_eq!(cpu.disable_flag, "no-collector.cpu");
        assert!(default_collectors().contains(&"meminfo".to_string()));
        assert!(!default_collectors().contains(&"systemd".to_string()));
    }
}
