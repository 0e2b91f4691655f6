//! Durations as configuration files write them (`30s`, `1h30m`, `5m`): Prometheus'
//! `model.Duration`, counted in milliseconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Prometheus duration in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelDuration(pub i64);

impl ModelDuration {
    pub const fn from_secs(s: i64) -> ModelDuration {
        ModelDuration(s * 1000)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

impl fmt::Display for ModelDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hearth_model::format_duration(self.0))
    }
}

impl Serialize for ModelDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hearth_model::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for ModelDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hearth_model::parse_duration(&s)
            .map(ModelDuration)
            .map_err(serde::de::Error::custom)
    }
}
