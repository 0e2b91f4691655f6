//! `textfile`: metrics other programs write as `*.prom` files into
//! `--collector.textfile.directory`, read with hearth's text-format parser.
//!
//! A file that fails to parse, or carries client-side timestamps, is skipped whole and
//! sets `node_textfile_scrape_error` to 1; the files read report their modification
//! time in `node_textfile_mtime_seconds`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use hearth_exposition::{FamilyCollector, MetricFamily, TextParser};

use crate::collector::{CollectError, Collector};
use crate::sink::MetricSink;

pub struct TextfileCollector {
    directories: Vec<String>,
}

impl TextfileCollector {
    pub fn new(directories: Vec<String>) -> TextfileCollector {
        TextfileCollector { directories }
    }
}

/// Matches one path component against a glob with `*` and `?`.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Expands a directory pattern (`/var/lib/node_exporter/*`) into existing paths, sorted.
pub fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?']) {
        return vec![PathBuf::from(pattern)];
    }
    let mut found = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::from(".")
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            if !component.contains(['*', '?']) {
                let p = base.join(component);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(base) else {
                continue;
            };
            for e in rd.filter_map(|e| e.ok()) {
                if glob_match(component.as_bytes(), e.file_name().as_encoded_bytes()) {
                    next.push(e.path());
                }
            }
        }
        next.sort();
        found = next;
    }
    found
}

/// Parses one textfile into families with labels sorted by name.
pub fn parse_textfile(path: &Path, bytes: &[u8]) -> Result<Vec<MetricFamily>, CollectError> {
    let err = |m: String| CollectError::parse(path, m);
    let mut parser = TextParser::new(bytes).map_err(|e| err(e.to_string()))?;
    let mut collector = FamilyCollector::new();
    while let Some(entry) = parser.next().map_err(|e| err(e.to_string()))? {
        collector.push(&entry);
    }
    let mut families = collector.finish();
    for f in &mut families {
        for s in &mut f.samples {
            if s.timestamp.is_some() {
                return Err(err(
                    "contains unsupported client-side timestamps, skipping entire file".into(),
                ));
            }
            s.labels.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
    Ok(families)
}

impl Collector for TextfileCollector {
    fn name(&self) -> &'static str {
        "textfile"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut errored = false;
        let mut mtimes: BTreeMap<String, f64> = BTreeMap::new();
        // Family name → (family, files it came from), merged across files.
        let mut families: BTreeMap<String, (MetricFamily, Vec<String>)> = BTreeMap::new();
        for dir in self.directories.iter().flat_map(|d| expand_glob(d)) {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    tracing::error!(directory = %dir.display(), err = %e, "failed to read textfile collector directory");
                    errored = true;
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "prom"))
                .collect();
            files.sort();
            for path in files {
                let read = std::fs::read(&path)
                    .map_err(|e| CollectError::read(&path, e))
                    .and_then(|bytes| parse_textfile(&path, &bytes))
                    .and_then(|f| {
                        let meta =
                            std::fs::metadata(&path).map_err(|e| CollectError::read(&path, e))?;
                        Ok((f, meta))
                    });
                let (parsed, meta) = match read {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(file = %path.display(), err = %e, "failed to collect textfile data");
                        errored = true;
                        continue;
                    }
                };
                let file = path.display().to_string();
                for f in parsed {
                    match families.get_mut(&f.name) {
                        Some((existing, _)) if existing.metric_type != f.metric_type => {
                            tracing::error!(file = %file, metric = %f.name, "textfile metric has a type that differs from an earlier file, skipping it");
                            errored = true;
                        }
                        Some((existing, sources)) => {
                            existing.samples.extend(f.samples);
                            existing.help = existing.help.take().or(f.help);
                            sources.push(file.clone());
                        }
                        None => {
                            families.insert(f.name.clone(), (f, vec![file.clone()]));
                        }
                    }
                }
                if let Ok(mtime) = meta
                    .modified()
                    .and_then(|m| m.duration_since(UNIX_EPOCH).map_err(std::io::Error::other))
                {
                    // Whole seconds, as upstream reports them.
                    mtimes.insert(file, mtime.as_secs() as f64);
                }
            }
        }
        for (_, (mut f, sources)) in families {
            if f.help.is_none() {
                f.help = Some(format!("Metric read from {}", sources.join(", ")));
            }
            sink.add_family(f);
        }
        for (file, mtime) in mtimes {
            sink.gauge(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
                &[("file", &file)],
                mtime,
            );
        }
        sink.gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            &[],
            if errored { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.d", b"a.d"));
        assert!(glob_match(b"node?", b"node1"));
        assert!(!glob_match(b"node?", b"node12"));
        assert!(glob_match(b"*", b""));
    }

    #[test]
    fn timestamps_reject_the_file() {
        let e = parse_textfile(Path::new("x.prom"), b"a 1 123\n").unwrap_err();
        assert!(e.to_string().contains("client-side timestamps"), "{e}");
        let f = parse_textfile(
            Path::new("x.prom"),
            b"# TYPE a gauge\na{z=\"1\",b=\"2\"} 1\n",
        )
        .unwrap();
        assert_eq!(f[0].samples[0].labels[0].0, "b");
    }
}
