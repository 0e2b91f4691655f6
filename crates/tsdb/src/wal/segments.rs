//! Segment files in a directory: their names (8-digit, zero-padded index) and listing.

use std::fs;
use std::path::{Path, PathBuf};

use super::WalError;

/// The path of segment `index` in `dir` (`dir/00000042`).
pub fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// Parses a segment file name: ASCII digits only, as Prometheus writes them.
pub(crate) fn parse_segment_name(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// The indexes of the segments in `dir`, ascending. Fails when they are not consecutive,
/// as Prometheus does: a gap means segments were lost.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>, WalError> {
    let entries = fs::read_dir(dir).map_err(WalError::io("list segments in", dir))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(WalError::io("list segments in", dir))?;
        if let Some(i) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push(i);
        }
    }
    out.sort_unstable();
    for w in out.windows(2) {
        if w[0].checked_add(1) != Some(w[1]) {
            return Err(WalError::SegmentGap {
                dir: dir.to_path_buf(),
                before: w[0],
                after: w[1],
            });
        }
    }
    Ok(out)
}

/// The first and last segment index in `dir`, or `None` when it has no segments.
pub fn segments(dir: &Path) -> Result<Option<(u32, u32)>, WalError> {
    let list = list_segments(dir)?;
    Ok(list.first().copied().zip(list.last().copied()))
}

/// Fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    let f = fs::File::open(dir).map_err(WalError::io("open directory", dir))?;
    f.sync_all().map_err(WalError::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            segment_path(Path::new("/w"), 42),
            PathBuf::from("/w/00000042")
        );
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("123456789"), Some(123_456_789));
        assert_eq!(parse_segment_name("0000004a"), None);
        assert_eq!(parse_segment_name("+1"), None);
        assert_eq!(parse_segment_name("checkpoint.00000001"), None);
        assert_eq!(parse_segment_name("99999999999"), None);
    }

    #[test]
    fn gaps_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for i in [3u32, 4, 6] {
            fs::write(segment_path(dir.path(), i), b"").unwrap();
        }
        fs::create_dir(dir.path().join("checkpoint.00000002")).unwrap();
        assert!(matches!(
            segments(dir.path()),
            Err(WalError::SegmentGap {
                before: 4,
                after: 6,
                ..
            })
        ));
        fs::write(segment_path(dir.path(), 5), b"").unwrap();
        assert_eq!(segments(dir.path()).unwrap(), Some((3, 6)));
    }
}
