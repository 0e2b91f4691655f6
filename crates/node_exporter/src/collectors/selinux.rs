//! `selinux`: whether SELinux is enabled and its configured and current modes, from
//! selinuxfs (`/sys/fs/selinux`) and `/etc/selinux/config`.

use crate::collector::{CollectError, Collector};
use crate::paths::{HostPaths, read_attr};
use crate::sink::MetricSink;

pub struct SelinuxCollector {
    paths: HostPaths,
}

impl SelinuxCollector {
    pub fn new(paths: HostPaths) -> SelinuxCollector {
        SelinuxCollector { paths }
    }
}

/// Enforcing 1, permissive 0, disabled -1, as upstream reports modes.
fn mode_value(mode: &str) -> f64 {
    match mode {
        "enforcing" | "1" => 1.0,
        "permissive" | "0" => 0.0,
        _ => -1.0,
    }
}

impl Collector for SelinuxCollector {
    fn name(&self) -> &'static str {
        "selinux"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        // selinuxfs is mounted (and `enforce` readable) exactly when SELinux is enabled.
        let Some(current) = read_attr(&self.paths.sys("fs/selinux/enforce")) else {
            sink.gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                &[],
                0.0,
            );
            return Ok(());
        };
        sink.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            &[],
            1.0,
        );
        let config =
            std::fs::read_to_string(self.paths.root("/etc/selinux/config")).unwrap_or_default();
        let configured = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("SELINUX="))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        sink.gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            &[],
            mode_value(&configured),
        );
        sink.gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            &[],
            mode_value(&current),
        );
        Ok(())
    }
}
