//! Alerts as Alertmanager keeps them (`types.Alert`): identity by label fingerprint,
//! resolution by `endsAt`, validation and upstream's merge of an update into a stored
//! alert.

use serde::{Deserialize, Serialize};

use crate::labelset::{self, LabelSet};
use crate::time::{Time, is_zero, serde_rfc3339};

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(with = "serde_rfc3339")]
    pub starts_at: Time,
    #[serde(with = "serde_rfc3339")]
    pub ends_at: Time,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: Time,
    #[serde(default)]
    pub generator_url: String,
    /// `endsAt` was not given: it is `resolve_timeout` after the last update.
    #[serde(default)]
    pub timeout: bool,
}

impl Alert {
    pub fn fingerprint(&self) -> u64 {
        labelset::fingerprint(&self.labels)
    }

    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// Resolved at `t`: an `endsAt` not after `t`.
    pub fn resolved_at(&self, t: &Time) -> bool {
        !is_zero(&self.ends_at) && self.ends_at <= *t
    }

    pub fn resolved(&self) -> bool {
        self.resolved_at(&crate::time::now())
    }

    /// `firing` or `resolved` at `t`.
    pub fn status_at(&self, t: &Time) -> &'static str {
        if self.resolved_at(t) {
            "resolved"
        } else {
            "firing"
        }
    }

    /// Upstream's `Validate`.
    pub fn validate(&self) -> Result<(), String> {
        if is_zero(&self.starts_at) {
            return Err("start time missing".into());
        }
        if !is_zero(&self.ends_at) && self.ends_at < self.starts_at {
            return Err("start time must be before end time".into());
        }
        labelset::validate(&self.labels).map_err(|e| format!("invalid label set: {e}"))?;
        if self.labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        labelset::validate(&self.annotations).map_err(|e| format!("invalid annotations: {e}"))?;
        Ok(())
    }

    /// Upstream's `Merge`: the younger update wins, the earliest start is kept, an
    /// explicit end time beats a timeout.
    pub fn merge(&self, o: &Alert) -> Alert {
        if o.updated_at < self.updated_at {
            return o.merge(self);
        }
        let mut res = o.clone();
        if self.starts_at < o.starts_at {
            res.starts_at = self.starts_at;
        }
        if o.resolved() {
            if self.resolved() && self.ends_at > o.ends_at {
                res.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            res.ends_at = self.ends_at;
        }
        res
    }
}

/// Upstream's `AlertSlice` order: by `job`, then `instance`, then label sets.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (Some(_), None) => return std::cmp::Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        if labelset::before(&a.labels, &b.labels) {
            std::cmp::Ordering::Less
        } else if labelset::before(&b.labels, &a.labels) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{add, now, sub, zero};
    use std::time::Duration;

    fn alert(start: Time, end: Time, updated: Time, timeout: bool) -> Alert {
        Alert {
            labels: [("alertname".to_string(), "x".to_string())].into(),
            annotations: LabelSet::new(),
            starts_at: start,
            ends_at: end,
            updated_at: updated,
            generator_url: String::new(),
            timeout,
        }
    }

    #[test]
    fn merge_as_upstream() {
        let t = now();
        let m = |d: u64| Duration::from_secs(d * 60);
        // Younger update without explicit end keeps an explicit later end of the older one.
        let a = alert(sub(&t, m(10)), add(&t, m(30)), sub(&t, m(5)), false);
        let b = alert(sub(&t, m(2)), add(&t, m(5)), t, true);
        let r = a.merge(&b);
        assert_eq!(r.starts_at, a.starts_at);
        assert_eq!(r.ends_at, a.ends_at);
        // An older timeout end does not beat a younger one.
        let a = alert(sub(&t, m(10)), add(&t, m(30)), sub(&t, m(5)), true);
        assert_eq!(a.merge(&b).ends_at, b.ends_at);
        // Resolution by the younger update sticks; order of arguments does not matter.
        let c = alert(sub(&t, m(10)), sub(&t, m(1)), t, false);
        let a = alert(sub(&t, m(10)), add(&t, m(30)), sub(&t, m(5)), false);
        assert_eq!(c.merge(&a).ends_at, c.ends_at);
        assert_eq!(a.merge(&c).ends_at, c.ends_at);
    }

    #[test]
    fn validation() {
        let t = now();
        assert_eq!(
            alert(zero(), zero(), t, false).validate().unwrap_err(),
            "start time missing"
        );
        assert_eq!(
            alert(t, sub(&t, Duration::from_secs(1)), t, false)
                .validate()
                .unwrap_err(),
            "start time must be before end time"
        );
        let mut a = alert(t, zero(), t, false);
        a.labels.clear();
        assert_eq!(
            a.validate().unwrap_err(),
            "at least one label pair required"
        );
    }
}
