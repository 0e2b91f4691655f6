//! JSON as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped
//! inside strings (they never occur outside strings in JSON, so replacing them in the
//! whole text is exact).

/// Serializes `v` as compact JSON with Go's escaping.
pub fn to_vec<T: serde::Serialize>(v: &T) -> serde_json::Result<Vec<u8>> {
    let raw = serde_json::to_vec(v)?;
    Ok(escape(raw))
}

/// Applies Go's HTML-safe escaping to serialized JSON.
pub fn escape(raw: Vec<u8>) -> Vec<u8> {
    if !raw.iter().any(|b| matches!(b, b'<' | b'>' | b'&' | 0xe2)) {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xe2 if raw.get(i + 1) == Some(&0x80)
                && matches!(raw.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                out.extend_from_slice(if raw[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_escaping() {
        let v = serde_json::json!({"a": "x & <y>\u{2028}é"});
        assert_eq!(
            String::from_utf8(super::to_vec(&v).unwrap()).unwrap(),
            r#"{"a":"x \u0026 \u003cy\u003e\u2028é"}"#
        );
    }
}
