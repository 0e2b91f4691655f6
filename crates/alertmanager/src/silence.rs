//! Silences (upstream's `silence` package): create, update in place when allowed,
//! otherwise expire-and-replace, expire, states pending/active/expired, matching, and
//! garbage collection after the retention. Persisted as a JSON snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::labelset::LabelSet;
use crate::matcher::{MatchType, Matcher};
use crate::time::{Time, add, is_zero, serde_rfc3339};

/// A matcher as the API and the snapshot write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatcherJson {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl MatcherJson {
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        Matcher::new(
            MatchType::from_flags(self.is_regex, self.is_equal),
            self.name.clone(),
            self.value.clone(),
        )
    }

    pub fn from_matcher(m: &Matcher) -> MatcherJson {
        MatcherJson {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.kind.is_regex(),
            is_equal: m.kind.is_equal(),
        }
    }
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Time,
    pub ends_at: Time,
    pub updated_at: Time,
    pub created_by: String,
    pub comment: String,
}

#[derive(Serialize, Deserialize)]
struct SilenceJson {
    id: String,
    matchers: Vec<MatcherJson>,
    #[serde(rename = "startsAt", with = "serde_rfc3339")]
    starts_at: Time,
    #[serde(rename = "endsAt", with = "serde_rfc3339")]
    ends_at: Time,
    #[serde(rename = "updatedAt", with = "serde_rfc3339")]
    updated_at: Time,
    #[serde(rename = "createdBy")]
    created_by: String,
    comment: String,
}

/// A silence's state at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: &Time) -> SilenceState {
        if *now < self.starts_at {
            SilenceState::Pending
        } else if *now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    pub fn matches(&self, ls: &LabelSet) -> bool {
        crate::matcher::matches_all(&self.matchers, ls)
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() {
            return Err("ID missing".into());
        }
        if self.matchers.is_empty() {
            return Err("at least one matcher required".into());
        }
        for (i, m) in self.matchers.iter().enumerate() {
            if m.name.is_empty() {
                return Err(format!(
                    "invalid label matcher {i}: invalid label name \"\""
                ));
            }
        }
        if self.matchers.iter().all(|m| m.matches("")) {
            return Err("at least one matcher must not match the empty string".into());
        }
        if is_zero(&self.starts_at) {
            return Err("invalid zero start timestamp".into());
        }
        if is_zero(&self.ends_at) {
            return Err("invalid zero end timestamp".into());
        }
        if self.ends_at < self.starts_at {
            return Err("end time must not be before start time".into());
        }
        Ok(())
    }

    fn to_json(&self) -> SilenceJson {
        SilenceJson {
            id: self.id.clone(),
            matchers: self
                .matchers
                .iter()
                .map(MatcherJson::from_matcher)
                .collect(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            updated_at: self.updated_at,
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        }
    }

    fn from_json(j: SilenceJson) -> Result<Silence, String> {
        Ok(Silence {
            id: j.id,
            matchers: j
                .matchers
                .iter()
                .map(MatcherJson::to_matcher)
                .collect::<Result<_, _>>()?,
            starts_at: j.starts_at,
            ends_at: j.ends_at,
            updated_at: j.updated_at,
            created_by: j.created_by,
            comment: j.comment,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
}

/// The silences.
pub struct Silences {
    map: Mutex<HashMap<String, Silence>>,
    retention: Duration,
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

impl Silences {
    /// Silences persisted at `path`, kept `retention` after they end. Returns a warning
    /// when the snapshot could not be read.
    pub fn open(path: Option<PathBuf>, retention: Duration) -> (Silences, Option<String>) {
        let mut map = HashMap::new();
        let mut warning = None;
        if let Some(p) = &path {
            match crate::persist::read_json::<Vec<SilenceJson>>(p) {
                Ok(Some(list)) => {
                    for j in list {
                        match Silence::from_json(j) {
                            Ok(s) => {
                                map.insert(s.id.clone(), s);
                            }
                            Err(e) => warning = Some(format!("skipping a silence: {e}")),
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => warning = Some(e),
            }
        }
        (
            Silences {
                map: Mutex::new(map),
                retention,
                path,
                dirty: AtomicBool::new(false),
            },
            warning,
        )
    }

    /// Creates or updates a silence (upstream's `Set`): an existing silence is updated in
    /// place when only its comment, author or allowed times change; otherwise it is
    /// expired and a new one (new ID) replaces it. Returns the ID.
    pub fn set(&self, mut sil: Silence, now: Time) -> Result<String, SilenceError> {
        let mut map = self.map.lock();
        let prev = if sil.id.is_empty() {
            None
        } else {
            Some(map.get(&sil.id).cloned().ok_or(SilenceError::NotFound)?)
        };
        if let Some(prev) = prev {
            if can_update(&prev, &sil, &now) {
                sil.updated_at = now;
                sil.validate().map_err(SilenceError::Invalid)?;
                map.insert(sil.id.clone(), sil.clone());
                drop(map);
                self.dirty.store(true, Ordering::Release);
                return Ok(sil.id);
            }
            if prev.state(&now) != SilenceState::Expired {
                let mut p = prev.clone();
                expire_at(&mut p, &now);
                map.insert(p.id.clone(), p);
            }
        }
        sil.id = uuid::Uuid::new_v4().to_string();
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        sil.updated_at = now;
        sil.validate().map_err(SilenceError::Invalid)?;
        map.insert(sil.id.clone(), sil.clone());
        drop(map);
        self.dirty.store(true, Ordering::Release);
        Ok(sil.id)
    }

    /// Expires a silence now.
    pub fn expire(&self, id: &str, now: Time) -> Result<(), SilenceError> {
        let mut map = self.map.lock();
        let s = map.get_mut(id).ok_or(SilenceError::NotFound)?;
        if s.state(&now) == SilenceState::Expired {
            return Err(SilenceError::Invalid(format!(
                "silence {id} already expired"
            )));
        }
        expire_at(s, &now);
        drop(map);
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.map.lock().get(id).cloned()
    }

    pub fn list(&self) -> Vec<Silence> {
        self.map.lock().values().cloned().collect()
    }

    /// IDs of the silences active at `now` that match the label set, sorted.
    pub fn mutes(&self, ls: &LabelSet, now: &Time) -> Vec<String> {
        let mut ids: Vec<String> = self
            .map
            .lock()
            .values()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(ls))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Deletes silences that ended more than the retention ago. Returns how many.
    pub fn gc(&self, now: &Time) -> usize {
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|_, s| add(&s.ends_at, self.retention) > *now);
        let n = before - map.len();
        if n > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        n
    }

    /// Writes the snapshot if anything changed.
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(p) = &self.path else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let mut list: Vec<SilenceJson> = self.list().iter().map(Silence::to_json).collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        crate::persist::write_json(p, &list).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })
    }
}

fn expire_at(s: &mut Silence, now: &Time) {
    match s.state(now) {
        SilenceState::Active => s.ends_at = *now,
        SilenceState::Pending => {
            s.starts_at = *now;
            s.ends_at = *now;
        }
        SilenceState::Expired => {}
    }
    s.updated_at = *now;
}

/// Upstream's `canUpdate`.
fn can_update(a: &Silence, b: &Silence, now: &Time) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now) {
        SilenceState::Active => b.starts_at == a.starts_at && b.ends_at >= *now,
        SilenceState::Pending => b.starts_at >= *now,
        SilenceState::Expired => false,
    }
}

/// Upstream's `SortSilences`: active by end time, then pending by start time, then
/// expired, most recently ended first.
pub fn sort_silences(list: &mut [Silence], now: &Time) {
    let rank = |s: &Silence| match s.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    list.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::parse_matchers;
    use crate::time::{now, sub};

    fn sil(m: &str, start: Time, end: Time) -> Silence {
        Silence {
            id: String::new(),
            matchers: parse_matchers(m).unwrap(),
            starts_at: start,
            ends_at: end,
            updated_at: start,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    fn ls(p: &[(&str, &str)]) -> LabelSet {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn matching_with_all_operators() {
        let (s, _) = Silences::open(None, Duration::from_secs(3600));
        let t = now();
        let h = Duration::from_secs(3600);
        s.set(
            sil(
                r#"alertname="A", env!="dev", job=~"no.*", team!~"x|y""#,
                t,
                add(&t, h),
            ),
            t,
        )
        .unwrap();
        assert_eq!(
            s.mutes(&ls(&[("alertname", "A"), ("job", "node")]), &t)
                .len(),
            1
        );
        assert!(
            s.mutes(
                &ls(&[("alertname", "A"), ("job", "node"), ("env", "dev")]),
                &t
            )
            .is_empty()
        );
        assert!(
            s.mutes(&ls(&[("alertname", "A"), ("job", "xnode")]), &t)
                .is_empty()
        );
        assert!(
            s.mutes(
                &ls(&[("alertname", "A"), ("job", "node"), ("team", "x")]),
                &t
            )
            .is_empty()
        );
        assert!(
            s.mutes(&ls(&[("alertname", "B"), ("job", "node")]), &t)
                .is_empty()
        );
    }

    #[test]
    fn states_update_expire_and_gc() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("silences.json");
        let (s, _) = Silences::open(Some(p.clone()), Duration::from_secs(3600));
        let t = now();
        let h = Duration::from_secs(3600);
        let l = ls(&[("a", "b")]);
        // Pending, then active.
        let id = s.set(sil("a=b", add(&t, h), add(&t, 2 * h)), t).unwrap();
        assert_eq!(s.get(&id).unwrap().state(&t), SilenceState::Pending);
        assert!(s.mutes(&l, &t).is_empty());
        assert_eq!(s.mutes(&l, &add(&t, h)), vec![id.clone()]);
        // Same matchers, new comment: updated in place.
        let mut upd = s.get(&id).unwrap();
        upd.comment = "new".into();
        assert_eq!(s.set(upd, t).unwrap(), id);
        assert_eq!(s.get(&id).unwrap().comment, "new");
        // New matchers: the old one is expired, a new ID replaces it.
        let mut upd = s.get(&id).unwrap();
        upd.matchers = parse_matchers("a=c").unwrap();
        let id2 = s.set(upd, t).unwrap();
        assert_ne!(id2, id);
        assert_eq!(s.get(&id).unwrap().state(&t), SilenceState::Expired);
        // Unknown ID.
        let mut unknown = sil("a=b", t, add(&t, h));
        unknown.id = "nope".into();
        assert_eq!(s.set(unknown, t), Err(SilenceError::NotFound));
        // Invalid: every matcher matches the empty string.
        assert!(matches!(
            s.set(sil("a=~\".*\"", t, add(&t, h)), t),
            Err(SilenceError::Invalid(m)) if m == "at least one matcher must not match the empty string"
        ));
        // Active silence expired now.
        let id3 = s.set(sil("a=b", sub(&t, h), add(&t, h)), t).unwrap();
        assert_eq!(s.mutes(&l, &t), vec![id3.clone()]);
        s.expire(&id3, t).unwrap();
        assert!(s.mutes(&l, &t).is_empty());
        assert!(s.expire(&id3, t).is_err());
        // Persisted and read back.
        s.persist().unwrap();
        let (s2, w) = Silences::open(Some(p), Duration::from_secs(3600));
        assert!(w.is_none());
        assert_eq!(s2.list().len(), 3);
        assert_eq!(s2.get(&id2).unwrap(), s.get(&id2).unwrap());
        // GC after the retention.
        assert_eq!(s2.gc(&add(&t, 4 * h)), 3);
    }
}
