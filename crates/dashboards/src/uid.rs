//! Random identifiers and secrets: Grafana-style short uids for dashboards, folders and
//! data sources, session and API token secrets, and the SHA-256 digests under which the
//! secrets are stored (a stolen database does not reveal a usable token).

use ring::rand::{SecureRandom, SystemRandom};

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // The system's random source failing is not recoverable; fall back to the clock so
    // a uid is still unique enough (never used for secrets, see `secret`).
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let seed = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

/// A new uid as Grafana generates them: 14 characters, a lower-case letter first, then
/// lower-case letters and digits.
pub fn new_uid() -> String {
    let first = random_from(&LOWER_ALNUM[..26], 1);
    first + &random_from(LOWER_ALNUM, 13)
}

/// A new secret of `len` alphanumerics from the system's random source; `None` if the
/// source fails (a secret must never be predictable).
pub fn secret(len: usize) -> Option<String> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(
        bytes
            .iter()
            .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
            .collect(),
    )
}

/// SHA-256 of `s`, hex.
pub fn sha256_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_look_like_grafanas() {
        let a = new_uid();
        assert_eq!(a.len(), 14);
        assert!(a.as_bytes()[0].is_ascii_lowercase());
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(a, new_uid());
        crate::dashboard_json::validate_uid(&a).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn secrets_and_digests() {
        let s = secret(32).unwrap_or_default();
        assert_eq!(s.len(), 32);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
