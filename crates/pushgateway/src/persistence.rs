//! The persistence file (`--persistence.file`): every group, written atomically, read at
//! startup.
//!
//! The format is upstream's, so a file written by Prometheus' Pushgateway (v0.10 and
//! later) loads in hearth and the other way round: one gob-encoded
//! `map[string]MetricGroup` keyed by the 0xff-joined grouping labels, where a
//! `MetricGroup` is `{Labels map[string]string; Metrics map[string]{Timestamp time.Time;
//! GobbableMetricFamily}}` and each family is a protobuf `io.prometheus.client.MetricFamily`
//! message (see [`crate::gob`]).
//!
//! Writes go to `<file>.in_progress.<pid>.<n>` in the same directory, are fsynced and
//! renamed over the file (then the directory is fsynced), so a crash at any point leaves
//! either the old file or the new one, never a torn one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearth_exposition::proto;
use prost::Message as _;

use crate::gob::{self, Encoder, GobValue, Message, STRING};
use crate::grouping_key::GroupingKey;
use crate::store::{MetricGroup, TimestampedFamily};

/// Seconds from Go's zero time (January 1, year 1, UTC) to the Unix epoch.
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;
const IN_PROGRESS: &str = ".in_progress.";

#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pushgateway persistence file: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// The file groups are persisted to.
#[derive(Debug, Clone)]
pub struct PersistenceFile {
    path: PathBuf,
}

impl PersistenceFile {
    pub fn new(path: impl Into<PathBuf>) -> PersistenceFile {
        PersistenceFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every group in the file; none when there is no file yet.
    pub fn load(&self) -> Result<Vec<MetricGroup>, PersistenceError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PersistenceError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        decode_groups(&bytes).map_err(|reason| PersistenceError::Format {
            path: self.path.clone(),
            reason,
        })
    }

    /// Writes every group atomically.
    pub fn save(&self, groups: &[MetricGroup]) -> Result<(), PersistenceError> {
        self.write_atomically(&encode_groups(groups), |f, b| f.write_all(b))
    }

    /// Removes temporary files a crash left behind (only names this module creates).
    pub fn remove_stale_temporaries(&self) {
        let (Some(dir), Some(base)) = (self.dir(), self.path.file_name()) else {
            return;
        };
        let prefix = format!("{}{IN_PROGRESS}", base.to_string_lossy());
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    fn dir(&self) -> Option<PathBuf> {
        let parent = self.path.parent()?;
        Some(if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        })
    }

    /// Temp file, `write`, fsync, rename, fsync of the directory. On any error the
    /// temporary file is removed and the old file is untouched.
    fn write_atomically(
        &self,
        bytes: &[u8],
        write: impl FnOnce(&mut fs::File, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), PersistenceError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let err = |source| PersistenceError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.dir().ok_or_else(|| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path names no file",
            ))
        })?;
        let base = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            "{base}{IN_PROGRESS}{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            write(&mut f, bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &self.path)?;
            // The rename is durable once the directory is.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(err)
    }
}

// Type ids of the file's gob types (any ids from 65 up work for Go's decoder).
const T_GROUPS: i64 = gob::FIRST_USER_TYPE;
const T_GROUP: i64 = T_GROUPS + 1;
const T_LABELS: i64 = T_GROUPS + 2;
const T_FAMILIES: i64 = T_GROUPS + 3;
const T_TIMESTAMPED: i64 = T_GROUPS + 4;
const T_TIME: i64 = T_GROUPS + 5;
const T_FAMILY: i64 = T_GROUPS + 6;

/// The file's bytes for `groups`, as upstream's `gob.Encoder.Encode(metricGroups)`.
pub fn encode_groups(groups: &[MetricGroup]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.define_map(T_GROUPS, "GroupingKeyToMetricGroup", STRING, T_GROUP);
    e.define_struct(
        T_GROUP,
        "MetricGroup",
        &[("Labels", T_LABELS), ("Metrics", T_FAMILIES)],
    );
    e.define_map(T_LABELS, "", STRING, STRING);
    e.define_map(
        T_FAMILIES,
        "NameToTimestampedMetricFamilyMap",
        STRING,
        T_TIMESTAMPED,
    );
    e.define_struct(
        T_TIMESTAMPED,
        "TimestampedMetricFamily",
        &[("Timestamp", T_TIME), ("GobbableMetricFamily", T_FAMILY)],
    );
    e.define_gob_encoder(T_TIME, "Time");
    e.define_gob_encoder(T_FAMILY, "GobbableMetricFamily");
    let mut m = Message::default();
    m.uint(groups.len() as u64);
    for g in groups {
        m.bytes(&g.key.storage_key());
        m.delta(1).uint(g.key.labels().len() as u64);
        for (n, v) in g.key.labels() {
            m.bytes(n.as_bytes()).bytes(v.as_bytes());
        }
        m.delta(1).uint(g.families.len() as u64);
        for (name, f) in &g.families {
            m.bytes(name.as_bytes());
            m.delta(1).bytes(&encode_time(f.timestamp));
            m.delta(1).bytes(&f.family.encode_to_vec());
            m.end();
        }
        m.end();
    }
    e.value(T_GROUPS, false, m);
    e.finish()
}

/// Groups from the file's bytes. Families whose bytes are missing are skipped (upstream
/// reports them as storage corruption and skips them too).
pub fn decode_groups(bytes: &[u8]) -> Result<Vec<MetricGroup>, String> {
    let value = gob::decode(bytes).map_err(|e| e.to_string())?;
    let GobValue::Map(entries) = value else {
        return Err("the top-level value is not a map of groups".into());
    };
    let mut out = Vec::with_capacity(entries.len());
    for (_, group) in entries {
        let mut labels = BTreeMap::new();
        if let Some(GobValue::Map(ls)) = group.field("Labels") {
            for (n, v) in ls {
                labels.insert(string(n)?, string(v)?);
            }
        }
        if !labels.contains_key("job") {
            return Err(format!("a group without a job label: {labels:?}"));
        }
        let mut families = BTreeMap::new();
        if let Some(GobValue::Map(fs)) = group.field("Metrics") {
            for (name, tf) in fs {
                let name = string(name)?;
                let timestamp = match tf.field("Timestamp") {
                    Some(GobValue::Encoded(b)) => decode_time(b)?,
                    _ => go_zero_time(),
                };
                let Some(GobValue::Encoded(b)) = tf.field("GobbableMetricFamily") else {
                    tracing::warn!(family = %name, "persistence file: family without data skipped");
                    continue;
                };
                let family = proto::MetricFamily::decode(b.as_slice())
                    .map_err(|e| format!("family {name:?}: {e}"))?;
                families.insert(
                    name,
                    TimestampedFamily {
                        timestamp,
                        family: Arc::new(family),
                    },
                );
            }
        }
        out.push(MetricGroup {
            key: GroupingKey::new(labels),
            families,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn string(v: &GobValue) -> Result<String, String> {
    match v {
        GobValue::String(b) => {
            String::from_utf8(b.clone()).map_err(|_| "a label is not valid UTF-8".to_string())
        }
        other => Err(format!("expected a string, found {other:?}")),
    }
}

fn go_zero_time() -> SystemTime {
    UNIX_EPOCH
        .checked_sub(Duration::from_secs(GO_EPOCH_OFFSET as u64))
        .unwrap_or(UNIX_EPOCH)
}

/// Go's `time.Time.MarshalBinary` in UTC: version 1, seconds since year 1,
/// nanoseconds, zone offset -1 (UTC).
fn encode_time(t: SystemTime) -> Vec<u8> {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i32),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos() as i32);
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    };
    let mut out = vec![1u8];
    out.extend_from_slice(&(secs + GO_EPOCH_OFFSET).to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Go's `time.Time.UnmarshalBinary` (versions 1 and 2; the zone does not change the
/// instant).
fn decode_time(b: &[u8]) -> Result<SystemTime, String> {
    let ok_len = match b.first() {
        Some(1) => b.len() == 15,
        Some(2) => b.len() == 16,
        _ => false,
    };
    if !ok_len {
        return Err("invalid time encoding".into());
    }
    let mut sec = [0u8; 8];
    sec.copy_from_slice(&b[1..9]);
    let mut nsec = [0u8; 4];
    nsec.copy_from_slice(&b[9..13]);
    let unix = i64::from_be_bytes(sec).wrapping_sub(GO_EPOCH_OFFSET);
    let nanos = u32::try_from(i32::from_be_bytes(nsec))
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or("invalid nanoseconds in a time")?;
    let t = if unix >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(unix as u64, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(unix.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    t.ok_or_else(|| "time out of range".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MetricStore;
    use hearth_exposition::parse_text_families;
    use std::collections::HashMap;

    fn store_with_groups() -> MetricStore {
        let s = MetricStore::new(HashMap::new());
        let now = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        for (path, body) in [
            (
                "/instance/a",
                "# HELP x Help.\n# TYPE x counter\nx{l=\"v\"} 1\n",
            ),
            (
                "/path@base64/L3Zhci90bXA/empty@base64/=",
                "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n",
            ),
            (
                "",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            ),
        ] {
            let key = GroupingKey::from_path("job", false, path).unwrap();
            let fams = parse_text_families(body.as_bytes()).unwrap();
            s.push(&key, fams, true, now, Some(&[])).unwrap();
        }
        s
    }

    #[test]
    fn round_trip() {
        let s = store_with_groups();
        let groups = s.groups();
        let bytes = encode_groups(&groups);
        let back = decode_groups(&bytes).unwrap();
        assert_eq!(back, groups);
        let dir = tempfile::tempdir().unwrap();
        let file = PersistenceFile::new(dir.path().join("pg.db"));
        assert!(file.load().unwrap().is_empty(), "no file yet: no groups");
        file.save(&groups).unwrap();
        assert_eq!(file.load().unwrap(), groups);
    }

    #[test]
    fn times_round_trip() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999),
            UNIX_EPOCH - Duration::new(5, 500),
            go_zero_time(),
        ] {
            assert_eq!(decode_time(&encode_time(t)), Ok(t));
        }
        // Go's encoding of 2009-11-10 23:00:00 UTC.
        let go = [1, 0, 0, 0, 14, 194, 139, 231, 112, 0, 0, 0, 0, 255, 255];
        assert_eq!(
            decode_time(&go),
            Ok(UNIX_EPOCH + Duration::from_secs(1_257_894_000))
        );
        assert_eq!(
            encode_time(UNIX_EPOCH + Duration::from_secs(1_257_894_000)),
            go
        );
        assert!(decode_time(&[1, 2, 3]).is_err());
    }

    #[test]
    fn a_crash_while_writing_leaves_the_previous_file() {
        let s = store_with_groups();
        let groups = s.groups();
        let dir = tempfile::tempdir().unwrap();
        let file = PersistenceFile::new(dir.path().join("pg.db"));
        file.save(&groups).unwrap();
        let before = fs::read(file.path()).unwrap();
        // The write fails half way (disk full, I/O error): the old file stays, no
        // temporary file is left.
        let r = file.write_atomically(&encode_groups(&groups[..1]), |f, b| {
            f.write_all(&b[..b.len() / 2])?;
            Err(std::io::Error::other("simulated crash"))
        });
        assert!(r.unwrap_err().to_string().contains("simulated crash"));
        assert_eq!(fs::read(file.path()).unwrap(), before);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A process killed mid-write leaves a torn temporary file: loading ignores it and
        // startup removes it.
        let torn = dir.path().join("pg.db.in_progress.1.0");
        fs::write(&torn, &before[..before.len() / 3]).unwrap();
        assert_eq!(file.load().unwrap(), groups);
        file.remove_stale_temporaries();
        assert!(!torn.exists());
        assert!(file.path().exists());
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = encode_groups(&store_with_groups().groups());
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_groups(&bytes[..cut]).is_err());
        }
        let dir = tempfile::tempdir().unwrap();
        let file = PersistenceFile::new(dir.path().join("pg.db"));
        fs::write(file.path(), b"not gob").unwrap();
        assert!(
            file.load()
                .unwrap_err()
                .to_string()
                .contains("is not a pushgateway persistence file")
        );
    }
}
