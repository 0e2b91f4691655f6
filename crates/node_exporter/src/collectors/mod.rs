//! The collectors, one module each, and [`build`], which turns a configuration into
//! the list of collectors that run.

pub mod arp;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod loadavg;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod os;
pub mod pressure;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;

use hearth_model::FastRegex;

use crate::collector::Collector;
use crate::config::{COLLECTOR_FLAGS, ConfigError, NodeExporterConfig};
use crate::device_filter::{DeviceFilter, search_regex};
use crate::sys;

fn filter(
    exclude: &str,
    include: &str,
    flags: (&'static str, &'static str),
) -> Result<DeviceFilter, ConfigError> {
    if !exclude.is_empty() && !include.is_empty() {
        return Err(ConfigError::MutuallyExclusive(flags.0, flags.1));
    }
    DeviceFilter::new(exclude, include).map_err(|source| ConfigError::Regex {
        flag: if exclude.is_empty() { flags.1 } else { flags.0 },
        source,
    })
}

fn fields(pattern: &str, flag: &'static str) -> Result<FastRegex, ConfigError> {
    search_regex(pattern).map_err(|source| ConfigError::Regex { flag, source })
}

/// Builds the enabled collectors, sorted by name. Collectors upstream has but hearth
/// does not implement are skipped with a warning.
pub fn build(config: &NodeExporterConfig) -> Result<Vec<Box<dyn Collector>>, ConfigError> {
    let mut names: Vec<&str> = config.collectors.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let p = || config.paths.clone();
    let mut out: Vec<Box<dyn Collector>> = Vec::new();
    for name in names {
        let c: Box<dyn Collector> = match name {
            "arp" => Box::new(arp::ArpCollector::new(
                p(),
                filter(
                    &config.arp_device_exclude,
                    &config.arp_device_include,
                    (
                        "--collector.arp.device-exclude",
                        "--collector.arp.device-include",
                    ),
                )?,
            )),
            "conntrack" => Box::new(conntrack::ConntrackCollector::new(p())),
            "cpu" => Box::new(cpu::CpuCollector::new(p(), config.cpu_guest)),
            "cpufreq" => Box::new(cpufreq::CpufreqCollector::new(p())),
            "diskstats" => Box::new(diskstats::DiskstatsCollector::new(
                p(),
                filter(
                    &config.diskstats_device_exclude,
                    &config.diskstats_device_include,
                    (
                        "--collector.diskstats.device-exclude",
                        "--collector.diskstats.device-include",
                    ),
                )?,
            )),
            "entropy" => Box::new(entropy::EntropyCollector::new(p())),
            "filefd" => Box::new(filefd::FilefdCollector::new(p())),
            "filesystem" => Box::new(filesystem::FilesystemCollector::new(
                p(),
                filter(
                    &config.filesystem_mount_points_exclude,
                    &config.filesystem_mount_points_include,
                    (
                        "--collector.filesystem.mount-points-exclude",
                        "--collector.filesystem.mount-points-include",
                    ),
                )?,
                filter(
                    &config.filesystem_fs_types_exclude,
                    &config.filesystem_fs_types_include,
                    (
                        "--collector.filesystem.fs-types-exclude",
                        "--collector.filesystem.fs-types-include",
                    ),
                )?,
            )),
            "hwmon" => Box::new(hwmon::HwmonCollector::new(p())),
            "loadavg" => Box::new(loadavg::LoadavgCollector::new(p())),
            "meminfo" => Box::new(meminfo::MeminfoCollector::new(p())),
            "netclass" => Box::new(netclass::NetclassCollector::new(
                p(),
                fields(
                    &config.netclass_ignored_devices,
                    "--collector.netclass.ignored-devices",
                )?,
                config.netclass_ignore_invalid_speed,
            )),
            "netdev" => Box::new(netdev::NetdevCollector::new(
                p(),
                filter(
                    &config.netdev_device_exclude,
                    &config.netdev_device_include,
                    (
                        "--collector.netdev.device-exclude",
                        "--collector.netdev.device-include",
                    ),
                )?,
            )),
            "netstat" => Box::new(netstat::NetstatCollector::new(
                p(),
                fields(&config.netstat_fields, "--collector.netstat.fields")?,
            )),
            "os" => Box::new(os::OsCollector::new(p())),
            "pressure" => Box::new(pressure::PressureCollector::new(p())),
            "selinux" => Box::new(selinux::SelinuxCollector::new(p())),
            "softnet" => Box::new(softnet::SoftnetCollector::new(p())),
            "sockstat" => Box::new(sockstat::SockstatCollector::new(p(), sys::page_size())),
            "stat" => Box::new(stat::StatCollector::new(p())),
            "textfile" => Box::new(textfile::TextfileCollector::new(
                config.textfile_directories.clone(),
            )),
            "thermal_zone" => Box::new(thermal_zone::ThermalZoneCollector::new(p())),
            "time" => Box::new(time::TimeCollector::new(p())),
            "timex" => Box::new(timex::TimexCollector),
            "udp_queues" => Box::new(udp_queues::UdpQueuesCollector::new(p())),
            "uname" => Box::new(uname::UnameCollector),
            "vmstat" => Box::new(vmstat::VmstatCollector::new(
                p(),
                fields(&config.vmstat_fields, "--collector.vmstat.fields")?,
            )),
            other if COLLECTOR_FLAGS.iter().any(|f| f.name == other) => {
                tracing::warn!(
                    collector = other,
                    "collector is not implemented by hearth yet, skipping it"
                );
                continue;
            }
            other => return Err(ConfigError::UnknownCollector(other.to_string())),
        };
        out.push(c);
    }
    Ok(out)
}
