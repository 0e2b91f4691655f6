//! Where the host's `/proc`, `/sys`, root filesystem and udev database are
//! (`--path.procfs`, `--path.sysfs`, `--path.rootfs`, `--path.udev.data`), and reading
//! small kernel files from them with errors that name the file.

use std::fs;
use std::path::{Path, PathBuf};

use crate::collector::CollectError;

/// The mount points a collector reads; fixture trees in tests replace them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    pub udev_data: PathBuf,
}

impl Default for HostPaths {
    fn default() -> HostPaths {
        HostPaths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

impl HostPaths {
    /// All four mount points under one fixture directory (`proc`, `sys`, `root`, `udev`).
    pub fn under(dir: &Path) -> HostPaths {
        HostPaths {
            procfs: dir.join("proc"),
            sysfs: dir.join("sys"),
            rootfs: dir.join("root"),
            udev_data: dir.join("udev"),
        }
    }

    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// A path of the host's root filesystem (`/etc/os-release` → `<rootfs>/etc/os-release`).
    pub fn root(&self, abs: &str) -> PathBuf {
        self.rootfs.join(abs.trim_start_matches('/'))
    }
}

/// Kernel files are small; this bounds a read of something that is not one.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads a kernel file with plain `read(2)` calls. `File::read_to_string` first asks
/// `fstat` and `lseek` for a size hint that kernel files do not have (they report 0 or
/// 4096); going through `Take` skips that, so a small file costs open, read, read,
/// close — and this runs hundreds of times per scrape.
fn read_kernel_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    f.take(MAX_FILE_BYTES).read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads a whole file as text.
pub fn read_text(path: &Path) -> Result<String, CollectError> {
    read_kernel_file(path).map_err(|e| CollectError::read(path, e))
}

/// Reads a one-value sysfs attribute, trimmed; `None` when it is missing or unreadable
/// (sysfs attributes come and go with drivers and permissions).
pub fn read_attr(path: &Path) -> Option<String> {
    let s = read_kernel_file(path).ok()?;
    Some(s.trim().to_string())
}

/// Reads a sysfs attribute holding one unsigned integer.
pub fn read_u64(path: &Path) -> Result<u64, CollectError> {
    let s = read_text(path)?;
    s.trim()
        .parse()
        .map_err(|_| CollectError::parse(path, format!("not an unsigned integer: {:?}", s.trim())))
}

/// Parses one whitespace-separated field of a kernel file, naming file and field on error.
pub fn parse_field<T: std::str::FromStr>(
    path: &Path,
    what: &str,
    value: Option<&str>,
) -> Result<T, CollectError> {
    let v = value.ok_or_else(|| CollectError::parse(path, format!("missing {what}")))?;
    v.parse()
        .map_err(|_| CollectError::parse(path, format!("invalid {what}: {v:?}")))
}

/// Entries of a directory whose names start with `prefix` followed by digits, with the
/// digits (`thermal_zone3` → `("3", path)`), sorted by number. A missing directory
/// yields nothing.
pub fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let num = name.strip_prefix(prefix)?;
            let n: u64 = num.parse().ok()?;
            Some((n, num.to_string(), e.path()))
        })
        .collect();
    out.sort_by_key(|(n, _, _)| *n);
    out.into_iter().map(|(_, s, p)| (s, p)).collect()
}
