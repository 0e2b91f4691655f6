//! `hearth node-exporter`: node_exporter's command line (same flag names and defaults)
//! and the wiring that starts the exporter's HTTP server, alone or in the all-in-one.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};
use hearth_node_exporter::config::{
    DISKSTATS_DEVICE_EXCLUDE, FILESYSTEM_FS_TYPES_EXCLUDE, FILESYSTEM_MOUNT_POINTS_EXCLUDE,
    NETSTAT_FIELDS, VMSTAT_FIELDS,
};
use hearth_node_exporter::http::{self, BuildInfo, HttpOptions};
use hearth_node_exporter::{COLLECTOR_FLAGS, HostPaths, NodeExporter, NodeExporterConfig};

use crate::build_info;
use crate::component_server::{self, ComponentError};

/// node_exporter's flags. `--[no-]collector.<name>` toggles come from
/// [`CollectorToggles`], one pair per upstream collector.
#[derive(Args, Debug)]
pub struct NodeExporterArgs {
    /// Addresses on which to expose metrics and web interface. Repeatable for multiple
    /// addresses. Examples: `:9100` or `[::1]:9100`.
    #[arg(
        long = "web.listen-address",
        default_value = ":9100",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: Vec<String>,
    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub web_telemetry_path: String,
    /// Exclude metrics about the exporter itself (process_*, node_exporter_build_info).
    #[arg(long = "web.disable-exporter-metrics")]
    pub web_disable_exporter_metrics: bool,
    /// procfs mountpoint.
    #[arg(long = "path.procfs", default_value = "/proc", value_name = "PATH")]
    pub path_procfs: String,
    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", default_value = "/sys", value_name = "PATH")]
    pub path_sysfs: String,
    /// rootfs mountpoint.
    #[arg(long = "path.rootfs", default_value = "/", value_name = "PATH")]
    pub path_rootfs: String,
    /// udev data path.
    #[arg(
        long = "path.udev.data",
        default_value = "/run/udev/data",
        value_name = "PATH"
    )]
    pub path_udev_data: String,
    /// Set all collectors to disabled by default.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,
    /// Directory to read text files with metrics from, supports glob matching.
    /// (repeatable)
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    pub textfile_directory: Vec<String>,
    /// Regexp of mount points to exclude for filesystem collector.
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEX"
    )]
    pub mount_points_exclude: Option<String>,
    /// Regexp of mount points to include for filesystem collector.
    #[arg(
        long = "collector.filesystem.mount-points-include",
        value_name = "REGEX",
        default_value = ""
    )]
    pub mount_points_include: String,
    /// Regexp of filesystem types to exclude for filesystem collector.
    #[arg(long = "collector.filesystem.fs-types-exclude", value_name = "REGEX")]
    pub fs_types_exclude: Option<String>,
    /// Regexp of filesystem types to include for filesystem collector.
    #[arg(
        long = "collector.filesystem.fs-types-include",
        value_name = "REGEX",
        default_value = ""
    )]
    pub fs_types_include: String,
    /// Regexp of net devices to exclude (mutually exclusive to device-include).
    #[arg(
        long = "collector.netdev.device-exclude",
        value_name = "REGEX",
        default_value = ""
    )]
    pub netdev_device_exclude: String,
    /// Regexp of net devices to include (mutually exclusive to device-exclude).
    #[arg(
        long = "collector.netdev.device-include",
        value_name = "REGEX",
        default_value = ""
    )]
    pub netdev_device_include: String,
    /// Regexp of diskstats devices to exclude (mutually exclusive to device-include).
    #[arg(long = "collector.diskstats.device-exclude", value_name = "REGEX")]
    pub diskstats_device_exclude: Option<String>,
    /// Regexp of diskstats devices to include (mutually exclusive to device-exclude).
    #[arg(
        long = "collector.diskstats.device-include",
        value_name = "REGEX",
        default_value = ""
    )]
    pub diskstats_device_include: String,
    /// Regexp of fields to return for netstat collector.
    #[arg(long = "collector.netstat.fields", value_name = "REGEX", default_value = NETSTAT_FIELDS)]
    pub netstat_fields: String,
    /// Regexp of fields to return for vmstat collector.
    #[arg(long = "collector.vmstat.fields", value_name = "REGEX", default_value = VMSTAT_FIELDS)]
    pub vmstat_fields: String,
    /// Regexp of arp devices to exclude (mutually exclusive to device-include).
    #[arg(
        long = "collector.arp.device-exclude",
        value_name = "REGEX",
        default_value = ""
    )]
    pub arp_device_exclude: String,
    /// Regexp of arp devices to include (mutually exclusive to device-exclude).
    #[arg(
        long = "collector.arp.device-include",
        value_name = "REGEX",
        default_value = ""
    )]
    pub arp_device_include: String,
    /// Regexp of net devices to ignore for netclass collector.
    #[arg(
        long = "collector.netclass.ignored-devices",
        value_name = "REGEX",
        default_value = "^$"
    )]
    pub netclass_ignored_devices: String,
    /// Ignore devices where the speed is invalid.
    #[arg(long = "collector.netclass.ignore-invalid-speed")]
    pub netclass_ignore_invalid_speed: bool,
    /// Enables metric node_cpu_guest_seconds_total (default: enabled).
    #[arg(long = "collector.cpu.guest", overrides_with = "no_cpu_guest")]
    pub cpu_guest: bool,
    #[arg(long = "no-collector.cpu.guest", hide = true)]
    pub no_cpu_guest: bool,
    #[command(flatten)]
    pub toggles: CollectorToggles,
}

/// The `--collector.<name>` / `--no-collector.<name>` flags given, in effect order
/// (the later of a pair wins, as with kingpin).
#[derive(Debug, Clone, Default)]
pub struct CollectorToggles {
    pub explicit: Vec<(&'static str, bool)>,
}

impl FromArgMatches for CollectorToggles {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut t = CollectorToggles::default();
        t.update_from_arg_matches(m)?;
        Ok(t)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for f in COLLECTOR_FLAGS {
            if m.get_flag(f.enable_flag) {
                self.explicit.push((f.name, true));
            } else if m.get_flag(f.disable_flag) {
                self.explicit.push((f.name, false));
            }
        }
        Ok(())
    }
}

impl Args for CollectorToggles {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for f in COLLECTOR_FLAGS {
            let state = if f.default_enabled {
                "enabled"
            } else {
                "disabled"
            };
            let note = if f.implemented {
                ""
            } else {
                "; not implemented by hearth yet"
            };
            cmd = cmd
                .arg(
                    Arg::new(f.enable_flag)
                        .long(f.enable_flag)
                        .action(ArgAction::SetTrue)
                        .overrides_with(f.disable_flag)
                        .help(format!(
                            "Enable the {} collector (default: {state}{note}).",
                            f.name
                        )),
                )
                .arg(
                    Arg::new(f.disable_flag)
                        .long(f.disable_flag)
                        .action(ArgAction::SetTrue)
                        .overrides_with(f.enable_flag)
                        .hide(true),
                );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        CollectorToggles::augment_args(cmd)
    }
}

impl NodeExporterArgs {
    pub fn config(&self) -> NodeExporterConfig {
        let mut collectors: Vec<String> = if self.disable_defaults {
            Vec::new()
        } else {
            COLLECTOR_FLAGS
                .iter()
                .filter(|f| f.default_enabled)
                .map(|f| f.name.to_string())
                .collect()
        };
        for (name, on) in &self.toggles.explicit {
            collectors.retain(|c| c != name);
            if *on {
                collectors.push(name.to_string());
            }
        }
        // Unimplemented collectors enabled by default are dropped quietly; ones asked for
        // by name are warned about when the collectors are built.
        collectors.retain(|c| {
            COLLECTOR_FLAGS
                .iter()
                .any(|f| f.name == c && (f.implemented || !f.default_enabled))
                || self.toggles.explicit.iter().any(|(n, on)| n == c && *on)
        });
        // An include pattern without an explicit exclude replaces the default exclude.
        let exclude_or_default = |given: &Option<String>, include: &str, default: &str| match given
        {
            Some(v) => v.clone(),
            None if !include.is_empty() => String::new(),
            None => default.to_string(),
        };
        NodeExporterConfig {
            paths: HostPaths {
                procfs: self.path_procfs.clone().into(),
                sysfs: self.path_sysfs.clone().into(),
                rootfs: self.path_rootfs.clone().into(),
                udev_data: self.path_udev_data.clone().into(),
            },
            collectors,
            textfile_directories: self.textfile_directory.clone(),
            filesystem_mount_points_exclude: exclude_or_default(
                &self.mount_points_exclude,
                &self.mount_points_include,
                FILESYSTEM_MOUNT_POINTS_EXCLUDE,
            ),
            filesystem_mount_points_include: self.mount_points_include.clone(),
            filesystem_fs_types_exclude: exclude_or_default(
                &self.fs_types_exclude,
                &self.fs_types_include,
                FILESYSTEM_FS_TYPES_EXCLUDE,
            ),
            filesystem_fs_types_include: self.fs_types_include.clone(),
            netdev_device_exclude: self.netdev_device_exclude.clone(),
            netdev_device_include: self.netdev_device_include.clone(),
            diskstats_device_exclude: exclude_or_default(
                &self.diskstats_device_exclude,
                &self.diskstats_device_include,
                DISKSTATS_DEVICE_EXCLUDE,
            ),
            diskstats_device_include: self.diskstats_device_include.clone(),
            netstat_fields: self.netstat_fields.clone(),
            vmstat_fields: self.vmstat_fields.clone(),
            cpu_guest: !self.no_cpu_guest,
            arp_device_exclude: self.arp_device_exclude.clone(),
            arp_device_include: self.arp_device_include.clone(),
            netclass_ignored_devices: self.netclass_ignored_devices.clone(),
            netclass_ignore_invalid_speed: self.netclass_ignore_invalid_speed,
        }
    }

    fn http_options(&self) -> HttpOptions {
        HttpOptions {
            telemetry_path: self.web_telemetry_path.clone(),
            disable_exporter_metrics: self.web_disable_exporter_metrics,
            build: build(),
        }
    }
}

fn build() -> BuildInfo {
    BuildInfo {
        version: build_info::VERSION.into(),
        revision: build_info::REVISION.into(),
        branch: build_info::BRANCH.into(),
        rust_version: build_info::RUST_VERSION.into(),
    }
}

/// Binds every address and serves the exporter until `shutdown` resolves.
pub async fn serve(
    config: NodeExporterConfig,
    opts: HttpOptions,
    addrs: &[SocketAddr],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ComponentError> {
    let exporter = NodeExporter::new(&config).map_err(|e| ComponentError::Config(e.to_string()))?;
    tracing::info!(collectors = ?exporter.collector_names(), path = %opts.telemetry_path, "node exporter collectors enabled");
    let listeners = component_server::bind(addrs, "node exporter").await?;
    let router = http::router(Arc::new(exporter), opts);
    http::serve(listeners, router, shutdown)
        .await
        .map_err(ComponentError::Serve)
}

/// The node exporter with upstream's defaults, for the all-in-one mode.
pub fn default_options() -> (NodeExporterConfig, HttpOptions) {
    (
        NodeExporterConfig::default(),
        HttpOptions {
            build: build(),
            ..HttpOptions::default()
        },
    )
}

/// Runs `hearth node-exporter` until SIGINT or SIGTERM.
pub fn run(args: &NodeExporterArgs) -> ExitCode {
    component_server::run(&args.web_listen_address, |addrs| async move {
        serve(
            args.config(),
            args.http_options(),
            &addrs,
            crate::all_in_one::shutdown_signal(),
        )
        .await
    })
}
