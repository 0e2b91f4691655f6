//! `filesystem`: size, free space and inodes of mounted filesystems, from
//! `/proc/1/mountinfo` and `statfs(2)`.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use crate::collector::{CollectError, Collector};
use crate::device_filter::DeviceFilter;
use crate::paths::{HostPaths, read_text};
use crate::sink::MetricSink;
use crate::sys;
pub use crate::sys::FsStats;

/// One mount as upstream labels it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub major: String,
    pub minor: String,
    pub read_only: bool,
}

/// Parses `mountinfo(5)`: `id parent major:minor root mountpoint options [optional…] -
/// fstype source superoptions`.
pub fn parse_mountinfo(path: &Path, text: &str) -> Result<Vec<Mount>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let sep = f
            .iter()
            .position(|x| *x == "-")
            .filter(|&i| i >= 6 && f.len() >= i + 3)
            .ok_or_else(|| CollectError::parse(path, format!("malformed mount line {line:?}")))?;
        let (major, minor) = f[2]
            .split_once(':')
            .filter(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
            .ok_or_else(|| {
                CollectError::parse(path, format!("malformed major:minor {:?}", f[2]))
            })?;
        let has_ro = |opts: &str| opts.split(',').any(|o| o == "ro");
        out.push(Mount {
            device: f[sep + 2].to_string(),
            // mountinfo escapes blanks as in fstab(5).
            mount_point: f[4].replace("\\040", " ").replace("\\011", "\t"),
            fs_type: f[sep + 1].to_string(),
            major: major.to_string(),
            minor: minor.to_string(),
            read_only: has_ro(f[5]) || f.get(sep + 3).is_some_and(|o| has_ro(o)),
        });
    }
    Ok(out)
}

/// How the collector asks the kernel about a mount; tests answer from a table.
pub type StatfsFn = fn(&Path) -> io::Result<FsStats>;

pub struct FilesystemCollector {
    paths: HostPaths,
    mount_points: DeviceFilter,
    fs_types: DeviceFilter,
    statfs: StatfsFn,
}

impl FilesystemCollector {
    pub fn new(
        paths: HostPaths,
        mount_points: DeviceFilter,
        fs_types: DeviceFilter,
    ) -> FilesystemCollector {
        FilesystemCollector {
            paths,
            mount_points,
            fs_types,
            statfs: sys::statfs,
        }
    }

    pub fn with_statfs(mut self, statfs: StatfsFn) -> FilesystemCollector {
        self.statfs = statfs;
        self
    }

    fn mounts(&self) -> Result<Vec<Mount>, CollectError> {
        // PID 1's view is the host's; fall back to our own when /proc hides PID 1.
        let pid1 = self.paths.proc("1/mountinfo");
        let (path, text) = match read_text(&pid1) {
            Ok(t) => (pid1, t),
            Err(e) if e.is_not_found() => {
                let own = self.paths.proc("self/mountinfo");
                let t = read_text(&own)?;
                (own, t)
            }
            Err(e) => return Err(e),
        };
        parse_mountinfo(&path, &text)
    }

    /// The mount point as seen from `--path.rootfs` (`/host/home` → `/home`); mounts
    /// outside it stay as they are, as upstream's prefix strip leaves them.
    fn strip_rootfs<'a>(&self, mount_point: &'a str) -> &'a str {
        let root = self
            .paths
            .rootfs
            .to_str()
            .unwrap_or("/")
            .trim_end_matches('/');
        if root.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(root) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }
}

const LABELS_HELP: [(&str, &str); 6] = [
    ("node_filesystem_size_bytes", "Filesystem size in bytes."),
    (
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
    ),
    (
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    ),
    ("node_filesystem_files", "Filesystem total file nodes."),
    (
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
    ),
    ("node_filesystem_readonly", "Filesystem read-only status."),
];

impl Collector for FilesystemCollector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut seen = HashSet::new();
        for m in self.mounts()? {
            let mount_point = self.strip_rootfs(&m.mount_point);
            if self.mount_points.ignored(mount_point) || self.fs_types.ignored(&m.fs_type) {
                continue;
            }
            if !seen.insert((m.device.clone(), mount_point.to_string(), m.fs_type.clone())) {
                continue;
            }
            let stats = (self.statfs)(&self.paths.root(mount_point));
            let error = match &stats {
                Ok(_) => String::new(),
                Err(e) => sys::errno_text(e),
            };
            let labels = [
                ("device", m.device.as_str()),
                ("mountpoint", mount_point),
                ("fstype", m.fs_type.as_str()),
                ("device_error", error.as_str()),
            ];
            let ro = if m.read_only { 1.0 } else { 0.0 };
            sink.gauge(
                "node_filesystem_device_error",
                "Whether an error occurred while getting statistics for the given device.",
                &labels,
                if stats.is_ok() { 0.0 } else { 1.0 },
            );
            let (name, help) = LABELS_HELP[5];
            sink.gauge(name, help, &labels, ro);
            let Ok(s) = stats else { continue };
            let bs = s.block_size as f64;
            for ((name, help), v) in LABELS_HELP.iter().zip([
                s.blocks as f64 * bs,
                s.blocks_free as f64 * bs,
                s.blocks_available as f64 * bs,
                s.files as f64,
                s.files_free as f64,
            ]) {
                sink.gauge(name, help, &labels, v);
            }
            sink.gauge(
                "node_filesystem_mount_info",
                "Filesystem mount information.",
                &[
                    ("device", m.device.as_str()),
                    ("major", m.major.as_str()),
                    ("minor", m.minor.as_str()),
                    ("mountpoint", mount_point),
                ],
                1.0,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let text = "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    37 35 0:22 / /ro rw shared:5 - tmpfs tmpfs ro\n";
        let m = parse_mountinfo(Path::new("mountinfo"), text).unwrap();
        assert_eq!(m[0].mount_point, "/mnt two");
        assert_eq!((m[0].major.as_str(), m[0].minor.as_str()), ("98", "0"));
        assert_eq!(m[0].device, "/dev/root");
        assert!(!m[0].read_only);
        assert!(m[1].read_only, "ro in the super options");
        assert!(parse_mountinfo(Path::new("mountinfo"), "garbage line\n").is_err());
    }
}
