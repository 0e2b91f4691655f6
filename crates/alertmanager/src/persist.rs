//! Atomic state files: written to a temporary file, fsynced, renamed over the old one
//! and the directory fsynced, so a crash leaves the old or the new file, never a torn one.

use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a JSON state file; a missing file is `Ok(None)`. An unreadable one is moved
/// aside to `*.unreadable` (so the next write does not destroy it) and reported.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    match serde_json::from_slice(&data) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".unreadable");
            let _ = std::fs::rename(path, &aside);
            Err(format!(
                "{} is unreadable ({e}); moved aside, starting empty",
                path.display()
            ))
        }
    }
}

/// Serializes `v` as JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> std::io::Result<()> {
    let data = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    write_atomic(path, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unreadable() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/state.json");
        write_json(&p, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![1, 2, 3]));
        assert!(!d.path().join("sub/state.json.tmp").exists());
        std::fs::write(&p, b"{torn").unwrap();
        assert!(read_json::<Vec<i32>>(&p).is_err());
        assert!(d.path().join("sub/state.json.unreadable").exists());
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), None);
    }
}
