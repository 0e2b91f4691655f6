//! `scrape_failure_log_file`: one JSON line per failed scrape, in the shape of upstream's
//! JSON file logger (`time`, `level`, `msg`, `job_name`, `target`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use parking_lot::Mutex;

#[derive(Debug)]
pub(crate) struct FailureLog {
    file: Mutex<File>,
}

impl FailureLog {
    /// Opens (creating or appending to) the file.
    pub fn open(path: &Path) -> std::io::Result<FailureLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FailureLog {
            file: Mutex::new(file),
        })
    }

    /// Appends one line; a write error is logged and otherwise ignored.
    pub fn log(&self, at: SystemTime, job: &str, target: &str, error: &str) {
        let line = format!(
            "{{\"time\":{},\"level\":\"ERROR\",\"msg\":{},\"job_name\":{},\"target\":{}}}\n",
            json_str(&rfc3339(at)),
            json_str(error),
            json_str(job),
            json_str(target)
        );
        if let Err(e) = self.file.lock().write_all(line.as_bytes()) {
            tracing::warn!(err = %e, "writing to the scrape failure log failed");
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// UTC time as RFC 3339 with milliseconds (`2026-01-02T03:04:05.678Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_and_lines() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        let l = FailureLog::open(&p).unwrap();
        l.log(SystemTime::UNIX_EPOCH, "j", "http://h/metrics", "bad \"x\"");
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"level\":\"ERROR\",\"msg\":\"bad \\\"x\\\"\",\"job_name\":\"j\",\"target\":\"http://h/metrics\"}\n"
        );
    }
}
