//! The start-timestamp sequences of `@st` load lines: per sample, an offset from the
//! sample's timestamp (`-30s-1mx2 _ -1ms`), as upstream's `parseSTSequence`.
//!
//! Items: `_` (no start timestamp), `_xN` (N of them), `*` / `*xN` (repeat the previous
//! offset once / N+1 times), `<dur>`, `<dur>xN` (N+1 times), `<dur>+<dur>xN` and
//! `<dur>-<dur>xN` (N+1 offsets changing by the step). Durations may be signed.

use hearth_model::parse_duration;

/// Parses a sequence into offsets in milliseconds (`None` for `_`).
pub fn parse_start_timestamp_sequence(input: &str) -> Result<Vec<Option<i64>>, String> {
    let mut result: Vec<Option<i64>> = Vec::new();
    for item in input.split_whitespace() {
        let previous = result.iter().rev().find_map(|v| *v).unwrap_or(0);
        let values = parse_item(item, previous).map_err(|e| {
            format!(
                "invalid ST item {}: {e}",
                hearth_model::names::go_quote(item)
            )
        })?;
        if result.len().saturating_add(values.len()) > crate::series::MAX_SERIES_VALUES {
            return Err("start timestamp sequence is too long".into());
        }
        result.extend(values);
    }
    Ok(result)
}

fn repeat_count(s: &str) -> Result<usize, String> {
    let n: u64 = s.parse().map_err(|_| "invalid repeat count".to_string())?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < crate::series::MAX_SERIES_VALUES)
        .ok_or_else(|| "invalid repeat count".to_string())
}

fn parse_item(item: &str, previous: i64) -> Result<Vec<Option<i64>>, String> {
    if item == "_" {
        return Ok(vec![None]);
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = repeat_count(n)?;
        if n == 0 {
            return Err("invalid repeat count".into());
        }
        return Ok(vec![None; n]);
    }
    if item == "*" {
        return Ok(vec![Some(previous)]);
    }
    if let Some(n) = item.strip_prefix("*x") {
        let n = repeat_count(n)?;
        return Ok(vec![Some(previous); n + 1]);
    }
    let (base, rest) = parse_duration_prefix(item)?;
    if rest.is_empty() {
        return Ok(vec![Some(base)]);
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n = repeat_count(n)?;
        return Ok(vec![Some(base); n + 1]);
    }
    let negative = match rest.as_bytes().first() {
        Some(b'+') => false,
        Some(b'-') => true,
        _ => {
            let c = rest.chars().next().unwrap_or('?');
            return Err(format!(
                "unexpected character {} after duration",
                crate::go_format::go_quote_rune(c)
            ));
        }
    };
    let (delta, rest) =
        parse_duration_prefix(&rest[1..]).map_err(|e| format!("invalid step duration: {e}"))?;
    let delta = if negative { -delta } else { delta };
    let Some(n) = rest.strip_prefix('x') else {
        return Err("expected 'x<count>' after step duration".into());
    };
    let n = repeat_count(n).map_err(|e| format!("invalid repeat count: {e}"))?;
    let mut offset = base;
    let mut out = Vec::with_capacity(n + 1);
    for _ in 0..=n {
        out.push(Some(offset));
        offset = offset.saturating_add(delta);
    }
    Ok(out)
}

/// A signed duration at the start of `s`, in milliseconds, and the rest of `s`.
fn parse_duration_prefix(s: &str) -> Result<(i64, &str), String> {
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return Err(format!(
            "expected digits in duration {}",
            hearth_model::names::go_quote(s)
        ));
    }
    // The unit: letters up to `x`, which separates the repeat count.
    while i < bytes.len() && bytes[i].is_ascii_alphabetic() && bytes[i] != b'x' {
        i += 1;
    }
    let text = &s[start..i];
    let ms = parse_duration(text).map_err(|e| {
        format!(
            "invalid duration {}: {e}",
            hearth_model::names::go_quote(text)
        )
    })?;
    Ok((if negative { -ms } else { ms }, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_like_upstream() {
        assert_eq!(
            parse_start_timestamp_sequence("_ _ -30s-1mx2 -1ms").unwrap(),
            vec![
                None,
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(-1)
            ]
        );
        assert_eq!(
            parse_start_timestamp_sequence("_x2 0-1mx1 * -0msx1").unwrap(),
            vec![
                None,
                None,
                Some(0),
                Some(-60_000),
                Some(-60_000),
                Some(0),
                Some(0)
            ]
        );
        assert_eq!(
            parse_start_timestamp_sequence("+1m -180s 1ms").unwrap(),
            vec![Some(60_000), Some(-180_000), Some(1)]
        );
        assert!(parse_start_timestamp_sequence("_x0").is_err());
        assert!(parse_start_timestamp_sequence("1m+1m").is_err());
        assert!(parse_start_timestamp_sequence("abc").is_err());
    }
}
