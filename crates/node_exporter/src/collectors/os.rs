//! `os`: the distribution's identity from `os-release(5)` (`/etc/os-release`, else
//! `/usr/lib/os-release`, under `--path.rootfs`).

use std::collections::HashMap;

use crate::collector::{CollectError, Collector};
use crate::paths::HostPaths;
use crate::sink::MetricSink;

pub struct OsCollector {
    paths: HostPaths,
}

impl OsCollector {
    pub fn new(paths: HostPaths) -> OsCollector {
        OsCollector { paths }
    }
}

/// Parses the shell-like `KEY=value` lines of os-release: double quotes with backslash
/// escapes, single quotes taken literally, comments and blank lines skipped.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        out.insert(key.trim().to_string(), unquote(raw.trim()));
    }
    out
}

fn unquote(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => out.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => out.extend(chars.next()),
                        c => out.push(c),
                    }
                }
            }
            '\\' => out.extend(chars.next()),
            '#' if out.is_empty() => break,
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// The leading `major[.minor]` of VERSION_ID as a number (`22.04.3` → 22.04).
pub fn major_minor(version_id: &str) -> Option<f64> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let major_end = digits(version_id);
    if major_end == 0 {
        return None;
    }
    let mut end = major_end;
    if version_id[end..].starts_with('.') {
        end += 1 + digits(&version_id[end + 1..]);
    }
    version_id[..end].trim_end_matches('.').parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// SUPPORT_END (`YYYY-MM-DD`) as a Unix timestamp at midnight UTC.
pub fn parse_support_end(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

impl Collector for OsCollector {
    fn name(&self) -> &'static str {
        "os"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut text = None;
        for file in ["/etc/os-release", "/usr/lib/os-release"] {
            let path = self.paths.root(file);
            match std::fs::read_to_string(&path) {
                Ok(t) => {
                    text = Some((path, t));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::read(&path, e)),
            }
        }
        let Some((path, text)) = text else {
            return Err(CollectError::NoData("no os-release file found".into()));
        };
        let env = parse_os_release(&text);
        let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
        sink.gauge(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            &[
                ("build_id", get("BUILD_ID")),
                ("id", get("ID")),
                ("id_like", get("ID_LIKE")),
                ("image_id", get("IMAGE_ID")),
                ("image_version", get("IMAGE_VERSION")),
                ("name", get("NAME")),
                ("pretty_name", get("PRETTY_NAME")),
                ("variant", get("VARIANT")),
                ("variant_id", get("VARIANT_ID")),
                ("version", get("VERSION")),
                ("version_codename", get("VERSION_CODENAME")),
                ("version_id", get("VERSION_ID")),
            ],
            1.0,
        );
        if let Some(v) = major_minor(get("VERSION_ID")).filter(|v| *v > 0.0) {
            sink.gauge(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                &[
                    ("id", get("ID")),
                    ("id_like", get("ID_LIKE")),
                    ("name", get("NAME")),
                ],
                v,
            );
        }
        let support_end = get("SUPPORT_END");
        if !support_end.is_empty() {
            let ts = parse_support_end(support_end).ok_or_else(|| {
                CollectError::parse(&path, format!("invalid SUPPORT_END {support_end:?}"))
            })?;
            sink.gauge(
                "node_os_support_end_timestamp_seconds",
                "Metric containing the end-of-life date timestamp of the OS.",
                &[],
                ts as f64,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_syntax() {
        let env = parse_os_release(
            "# comment\nNAME=\"Debian GNU/Linux\"\nID=debian\nPRETTY_NAME='It''s'\nX=\"a\\\"b\"\n\n",
        );
        assert_eq!(env["NAME"], "Debian GNU/Linux");
        assert_eq!(env["ID"], "debian");
        assert_eq!(env["PRETTY_NAME"], "Its");
        assert_eq!(env["X"], "a\"b");
    }

    #[test]
    fn versions_and_dates() {
        assert_eq!(major_minor("12"), Some(12.0));
        assert_eq!(major_minor("22.04.3"), Some(22.04));
        assert_eq!(major_minor("rolling"), None);
        assert_eq!(parse_support_end("2028-06-30"), Some(1_845_936_000));
        assert_eq!(parse_support_end("1970-01-01"), Some(0));
        assert_eq!(parse_support_end("soon"), None);
    }
}
