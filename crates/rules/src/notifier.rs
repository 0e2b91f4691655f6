//! What the rule manager hands to the notifier: alerts in Alertmanager's API v2 shape
//! (`postableAlert`: labels, annotations, startsAt, endsAt, generatorURL).
//!
//! The [`Notifier`] trait is the boundary. [`ChannelNotifier`] forwards batches over a
//! channel; the HTTP sender to Alertmanagers (external labels, `alert_relabel_configs`,
//! queue, retries) implements the same trait elsewhere.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use hearth_model::Labels;
use serde::{Serialize, Serializer};

/// One alert as `POST /api/v2/alerts` takes it. Times are ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    #[serde(serialize_with = "labels_map")]
    pub labels: Labels,
    #[serde(serialize_with = "labels_map")]
    pub annotations: Labels,
    #[serde(
        rename = "startsAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub starts_at_ms: Option<i64>,
    #[serde(
        rename = "endsAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub ends_at_ms: Option<i64>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// Receives alerts to send; must not block for long (queue and return).
pub trait Notifier: Send + Sync {
    fn send(&self, alerts: Vec<PostableAlert>);
}

/// A notifier that forwards every batch on a channel.
pub struct ChannelNotifier {
    tx: Mutex<mpsc::Sender<Vec<PostableAlert>>>,
}

impl ChannelNotifier {
    pub fn new() -> (ChannelNotifier, mpsc::Receiver<Vec<PostableAlert>>) {
        let (tx, rx) = mpsc::channel();
        (ChannelNotifier { tx: Mutex::new(tx) }, rx)
    }
}

impl Notifier for ChannelNotifier {
    fn send(&self, alerts: Vec<PostableAlert>) {
        if let Ok(tx) = self.tx.lock() {
            // A closed receiver means nobody listens any more; alerts are dropped.
            let _ = tx.send(alerts);
        }
    }
}

pub(crate) fn labels_map<S: Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    let m: BTreeMap<&str, &str> = l.iter().map(|l| (&*l.name, &*l.value)).collect();
    m.serialize(s)
}

/// Go's `time.Time` JSON form (RFC 3339 with up to nanoseconds, UTC as `Z`).
pub fn format_time(ms: i64) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        out.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

pub(crate) fn opt_time<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(ms) => s.serialize_str(&format_time(*ms)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_v2_shape() {
        let a = PostableAlert {
            labels: Labels::new([("alertname", "X")]),
            annotations: Labels::new([("summary", "s")]),
            starts_at_ms: Some(1_500),
            ends_at_ms: None,
            generator_url: "http://x/graph".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"labels":{"alertname":"X"},"annotations":{"summary":"s"},"startsAt":"1970-01-01T00:00:01.5Z","generatorURL":"http://x/graph"}"#
        );
    }
}
