//! `$1`, `${1}`, `$name` and `${name}` expansion exactly as Go's `Regexp.Expand`, which is
//! what upstream relabeling uses for `target_label` and `replacement`. Rust's
//! `Captures::expand` differs in details (Unicode names, leading zeros, malformed `${`),
//! so the rules are spelled out here.

/// Appends `template` to `dst`, replacing references to capture groups of `caps`
/// (matched against `haystack`) with their text. `names` are the group names as
/// `regex::Regex::capture_names` returns them.
pub fn expand_go_template<'a>(
    dst: &mut String,
    template: &str,
    caps: &regex::Captures<'a>,
    names: &[Option<&str>],
) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        dst.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, num, after)) = extract_reference(rest) else {
            // Malformed: the `$` stays as text.
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match num {
            Some(n) => caps.get(n),
            None => names
                .iter()
                .position(|g| *g == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// Parses the reference after a `$`: the name (letters, digits, `_`, Unicode-aware as in
/// Go), whether it is a group number, and the remaining template.
fn extract_reference(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c.is_numeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = if brace {
        body[end..].strip_prefix('}')?
    } else {
        &body[end..]
    };
    Some((name, group_number(name), rest))
}

/// Go accepts decimal group numbers below 1e8 without leading zeros; anything else is a
/// name.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(re: &str, haystack: &str, template: &str) -> String {
        let re = regex::Regex::new(re).unwrap();
        let caps = re.captures(haystack).unwrap();
        let names: Vec<_> = re.capture_names().collect();
        let mut out = String::new();
        expand_go_template(&mut out, template, &caps, &names);
        out
    }

    #[test]
    fn go_expand_rules() {
        let re = r"^(?P<first>a+)(b+)(c*)$";
        assert_eq!(expand(re, "aabb", "$1-$2"), "aa-bb");
        assert_eq!(expand(re, "aabb", "${1}x"), "aax");
        // `$1x` names group "1x", which does not exist.
        assert_eq!(expand(re, "aabb", "$1x"), "");
        assert_eq!(expand(re, "aabb", "$first/${first}"), "aa/aa");
        assert_eq!(expand(re, "aabb", "$$1"), "$1");
        assert_eq!(expand(re, "aabb", "${1"), "${1");
        assert_eq!(expand(re, "aabb", "$"), "$");
        assert_eq!(expand(re, "aabb", "${}"), "${}");
        assert_eq!(expand(re, "aabb", "$01"), "");
        assert_eq!(expand(re, "aabb", "$3|$9|$missing"), "||");
        assert_eq!(expand(re, "aabb", "$0"), "aabb");
        assert_eq!(expand(re, "aabb", "a$-b"), "a$-b");
    }
}
