//! Grouping keys: the label set a push URL names (`/metrics/job/<job>{/<label>/<value>}`),
//! which identifies one group of pushed metrics.
//!
//! Parsing follows upstream's `splitLabels`: name/value pairs separated by `/`, names
//! must be legacy label names not starting with `__`, and a name suffixed `@base64`
//! carries a value in base64url (padding optional, so `=` encodes the empty value and a
//! value may contain `/`). The path arrives here already percent-decoded, as Go's
//! `r.URL.Path` is. Nothing here panics on any input.

use std::collections::BTreeMap;

use hearth_model::names::go_quote;

/// Marks a job or label value in the path as base64url-encoded.
pub const BASE64_SUFFIX: &str = "@base64";

/// Separates names and values in [`GroupingKey::storage_key`] (Prometheus'
/// `model.SeparatorByte`), a byte that cannot occur in UTF-8 text.
const SEPARATOR: u8 = 0xff;

/// The grouping labels of a group, `job` included; sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GroupingKey {
    labels: BTreeMap<String, String>,
}

/// Why a push path does not name a group; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupingKeyError {
    #[error("invalid base64 encoding in job name {}: {source}", go_quote(.job))]
    JobBase64 { job: String, source: Base64Error },
    #[error("odd number of components in label string {}", go_quote(.0))]
    OddComponents(String),
    #[error("improper label name {}", go_quote(.0))]
    ImproperLabelName(String),
    #[error("invalid base64 encoding for label {name}={}: {source}", go_quote(.value))]
    LabelBase64 {
        name: String,
        value: String,
        source: Base64Error,
    },
    #[error("job name is required")]
    JobRequired,
}

/// A base64url decoding failure, worded as Go's `base64.CorruptInputError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("illegal base64 data at input byte {0}")]
    IllegalByte(usize),
    /// Go strings may hold any bytes; hearth's label values are UTF-8.
    #[error("decoded value is not valid UTF-8")]
    NotUtf8,
}

impl GroupingKey {
    /// A key from labels; `job` must be among them for the key to be pushable.
    pub fn new(labels: BTreeMap<String, String>) -> GroupingKey {
        GroupingKey { labels }
    }

    /// The key of a push URL: `job` is the path segment after `/metrics/job/` (or
    /// `/metrics/job@base64/`, then `job_base64` is set), `labels` the rest of the path
    /// after it (empty or starting with `/`).
    pub fn from_path(
        job: &str,
        job_base64: bool,
        labels: &str,
    ) -> Result<GroupingKey, GroupingKeyError> {
        let job = if job_base64 {
            decode_base64(job).map_err(|source| GroupingKeyError::JobBase64 {
                job: job.to_string(),
                source,
            })?
        } else {
            job.to_string()
        };
        let mut map = split_labels(labels)?;
        if job.is_empty() {
            return Err(GroupingKeyError::JobRequired);
        }
        map.insert("job".to_string(), job);
        Ok(GroupingKey { labels: map })
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    pub fn job(&self) -> &str {
        self.labels.get("job").map_or("", String::as_str)
    }

    /// Upstream's `groupingKeyFor`: sorted names and their values joined by 0xff. The
    /// persistence file keys groups by it.
    pub fn storage_key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (n, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(SEPARATOR);
            }
            out.extend_from_slice(n.as_bytes());
            out.push(SEPARATOR);
            out.extend_from_slice(v.as_bytes());
        }
        out
    }
}

impl std::fmt::Display for GroupingKey {
    /// `{instance="a", job="b"}`, for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={}", go_quote(v))?;
        }
        f.write_str("}")
    }
}

/// Upstream's `splitLabels`: `/name/value/name@base64/value…` into a map (a repeated
/// name keeps its last value).
fn split_labels(labels: &str) -> Result<BTreeMap<String, String>, GroupingKeyError> {
    let mut out = BTreeMap::new();
    if labels.len() <= 1 {
        return Ok(out);
    }
    // The first byte is the `/` that follows the job.
    let rest = labels.get(1..).unwrap_or("");
    let components: Vec<&str> = rest.split('/').collect();
    if !components.len().is_multiple_of(2) {
        return Err(GroupingKeyError::OddComponents(labels.to_string()));
    }
    for pair in components.chunks_exact(2) {
        let (name, value) = (pair[0], pair[1]);
        let trimmed = name.strip_suffix(BASE64_SUFFIX).unwrap_or(name);
        if !is_legacy_label_name(trimmed) || trimmed.starts_with("__") {
            return Err(GroupingKeyError::ImproperLabelName(trimmed.to_string()));
        }
        if trimmed.len() == name.len() {
            out.insert(name.to_string(), value.to_string());
            continue;
        }
        let decoded = decode_base64(value).map_err(|source| GroupingKeyError::LabelBase64 {
            name: trimmed.to_string(),
            value: value.to_string(),
            source,
        })?;
        out.insert(trimmed.to_string(), decoded);
    }
    Ok(out)
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`, Prometheus' `model.LabelNameRE`.
fn is_legacy_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn base64url_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Go's `base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))`: trailing `=`
/// ignored, line breaks skipped, a lone final character an error at its offset.
pub fn decode_base64(s: &str) -> Result<String, Base64Error> {
    let input = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut quantum = [0u8; 4];
    let mut n = 0;
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' || b == b'\r' {
            continue;
        }
        let Some(v) = base64url_value(b) else {
            return Err(Base64Error::IllegalByte(i));
        };
        quantum[n] = v;
        n += 1;
        if n == 4 {
            out.push(quantum[0] << 2 | quantum[1] >> 4);
            out.push(quantum[1] << 4 | quantum[2] >> 2);
            out.push(quantum[2] << 6 | quantum[3]);
            n = 0;
        }
    }
    match n {
        0 => {}
        1 => return Err(Base64Error::IllegalByte(input.len() - 1)),
        2 => out.push(quantum[0] << 2 | quantum[1] >> 4),
        _ => {
            out.push(quantum[0] << 2 | quantum[1] >> 4);
            out.push(quantum[1] << 4 | quantum[2] >> 2);
        }
    }
    String::from_utf8(out).map_err(|_| Base64Error::NotUtf8)
}

/// base64url without padding, as client libraries encode grouping values (for tests and
/// for links).
pub fn encode_base64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let v = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | u32::from(x) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(job: &str, job_base64: bool, labels: &str) -> Result<Vec<(String, String)>, String> {
        GroupingKey::from_path(job, job_base64, labels)
            .map(|k| {
                k.labels()
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_labels() {
        assert_eq!(key("j", false, ""), Ok(pairs(&[("job", "j")])));
        assert_eq!(key("j", false, "/"), Ok(pairs(&[("job", "j")])));
        assert_eq!(
            key("j", false, "/instance/i/a/b"),
            Ok(pairs(&[("a", "b"), ("instance", "i"), ("job", "j")]))
        );
        // A trailing slash leaves an empty last value, as upstream splits it.
        assert_eq!(
            key("j", false, "/a/"),
            Ok(pairs(&[("a", ""), ("job", "j")]))
        );
        // The job of the path wins over a `job` label in the rest of it.
        assert_eq!(key("j", false, "/job/x"), Ok(pairs(&[("job", "j")])));
        assert_eq!(
            key("j", false, "/a/1/a/2"),
            Ok(pairs(&[("a", "2"), ("job", "j")]))
        );
    }

    #[test]
    fn base64_values() {
        // README examples: a slash, an empty value, UTF-8.
        assert_eq!(
            key("directory_cleaner", false, "/path@base64/L3Zhci90bXA"),
            Ok(pairs(&[("job", "directory_cleaner"), ("path", "/var/tmp")]))
        );
        assert_eq!(
            key(
                "example",
                false,
                "/first_label@base64/=/second_label/foobar"
            ),
            Ok(pairs(&[
                ("first_label", ""),
                ("job", "example"),
                ("second_label", "foobar")
            ]))
        );
        assert_eq!(
            key("titan", false, "/name@base64/zqDPgc6_zrzOt864zrXPjc-C"),
            Ok(pairs(&[("job", "titan"), ("name", "Προμηθεύς")]))
        );
        // Padding is optional.
        assert_eq!(
            key("j", false, "/a@base64/YQ=="),
            Ok(pairs(&[("a", "a"), ("job", "j")]))
        );
        assert_eq!(
            key("L3Zhci90bXA", true, ""),
            Ok(pairs(&[("job", "/var/tmp")]))
        );
        assert_eq!(encode_base64("/var/tmp"), "L3Zhci90bXA");
        assert_eq!(encode_base64("Προμηθεύς"), "zqDPgc6_zrzOt864zrXPjc-C");
        assert_eq!(encode_base64(""), "");
        for s in ["", "a", "ab", "abc", "abcd", "x/y/z", "ü"] {
            assert_eq!(decode_base64(&encode_base64(s)).as_deref(), Ok(s));
        }
    }

    #[test]
    fn upstream_error_messages() {
        assert_eq!(key("=", true, ""), Err("job name is required".to_string()));
        assert_eq!(
            key("a", false, "/b"),
            Err("odd number of components in label string \"/b\"".to_string())
        );
        assert_eq!(
            key("a", false, "/__x/1"),
            Err("improper label name \"__x\"".to_string())
        );
        assert_eq!(
            key("a", false, "/1x/1"),
            Err("improper label name \"1x\"".to_string())
        );
        assert_eq!(
            key("a", false, "/@base64/1"),
            Err("improper label name \"\"".to_string())
        );
        assert_eq!(
            key("a", false, "/x@base64/a=b"),
            Err(
                "invalid base64 encoding for label x=\"a=b\": illegal base64 data at input byte 1"
                    .to_string()
            )
        );
        assert_eq!(
            key("a", false, "/x@base64/abcde"),
            Err("invalid base64 encoding for label x=\"abcde\": illegal base64 data at input byte 4".to_string())
        );
        assert_eq!(
            key("a+b", true, ""),
            Err(
                "invalid base64 encoding in job name \"a+b\": illegal base64 data at input byte 1"
                    .to_string()
            )
        );
        // The job's encoding is checked before the labels, the empty job after them.
        assert!(key("!", true, "/b").unwrap_err().contains("job name"));
        assert!(key("=", true, "/b").unwrap_err().contains("odd number"));
    }

    #[test]
    fn storage_key_is_upstreams() {
        let k = GroupingKey::from_path("j", false, "/instance/i").unwrap();
        assert_eq!(k.storage_key(), b"instance\xffi\xffjob\xffj".to_vec());
        assert_eq!(k.job(), "j");
        assert_eq!(k.to_string(), "{instance=\"i\", job=\"j\"}");
    }

    #[test]
    fn odd_inputs_never_panic() {
        // Every byte string of a small alphabet up to length 6, plus some long ones.
        let alphabet: &[&str] = &["/", "a", "=", "@base64", "é", "_", "\u{0}", "+", ""];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &inputs {
                for a in alphabet {
                    next.push(format!("{s}{a}"));
                }
            }
            inputs.extend(next);
            inputs.sort();
            inputs.dedup();
        }
        inputs.push("/".repeat(10_000));
        inputs.push("/a@base64/".to_string() + &"A".repeat(10_001));
        inputs.push("\u{ffff}/\u{10ffff}".to_string());
        for s in &inputs {
            for b64 in [false, true] {
                let _ = GroupingKey::from_path(s, b64, s);
                let _ = GroupingKey::from_path("j", b64, s);
            }
            let _ = decode_base64(s);
        }
    }
}
