//! `global` and `runtime`, plus the value types they introduce (scrape protocols, byte
//! sizes, name validation and escaping schemes).

use std::fmt;

use crate::omitempty::{is_false, is_zero_u64};
use hearth_discovery::ModelDuration;
use hearth_model::{Labels, ValidationScheme};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scrape protocol of `scrape_protocols` / `fallback_scrape_protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    PrometheusProto,
    PrometheusText0_0_4,
    PrometheusText1_0_0,
    OpenMetricsText0_0_1,
    OpenMetricsText1_0_0,
}

/// Every protocol, in the sorted order upstream lists them in errors.
const ALL_PROTOCOLS: &[ScrapeProtocol] = &[
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::PrometheusText0_0_4,
    ScrapeProtocol::PrometheusText1_0_0,
];

impl ScrapeProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// The media type and parameters sent in `Accept`.
    pub fn header(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }

    pub fn parse(s: &str) -> Result<ScrapeProtocol, String> {
        ALL_PROTOCOLS
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL_PROTOCOLS.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown scrape protocol {s}, supported: [{}]",
                    names.join(" ")
                )
            })
    }
}

/// Offered to targets when nothing is configured.
pub const DEFAULT_SCRAPE_PROTOCOLS: &[ScrapeProtocol] = &[
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// Offered when native histograms are scraped: protobuf first.
pub const DEFAULT_PROTO_FIRST_SCRAPE_PROTOCOLS: &[ScrapeProtocol] = &[
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ScrapeProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ScrapeProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScrapeProtocol::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Upstream's `validateAcceptScrapeProtocols`.
pub fn validate_scrape_protocols(protocols: &[ScrapeProtocol]) -> Result<(), String> {
    if protocols.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    for (i, p) in protocols.iter().enumerate() {
        if protocols[..i].contains(p) {
            let names: Vec<&str> = protocols.iter().map(|p| p.as_str()).collect();
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                names.join(" ")
            ));
        }
    }
    Ok(())
}

/// `metric_name_validation_scheme` as written (`utf8`, `legacy`); anything else means
/// "unset" in the global block and is an error in a scrape config, as upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ValidationSchemeSetting(pub String);

impl ValidationSchemeSetting {
    pub fn scheme(&self) -> Option<ValidationScheme> {
        match self.0.as_str() {
            "utf8" => Some(ValidationScheme::Utf8),
            "legacy" => Some(ValidationScheme::Legacy),
            _ => None,
        }
    }
}

/// `metric_name_escaping_scheme` values.
pub const ESCAPING_SCHEMES: &[&str] = &["allow-utf-8", "underscores", "dots", "values"];

/// A byte count written with units (`10MB`, `1GiB`), as `alecthomas/units.Base2Bytes`:
/// every unit is a power of 1024.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: &[(&str, u64)] = &[
    ("EiB", 1 << 60),
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

impl ByteSize {
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    pub fn parse(s: &str) -> Result<ByteSize, String> {
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let invalid = || format!("units: invalid {s}");
        if s.is_empty() {
            return Err(invalid());
        }
        let mut rest = s;
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_end == 0 {
                return Err(invalid());
            }
            let n: f64 = rest[..num_end].parse().map_err(|_| invalid())?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let mult = match unit {
                "B" => 1u64,
                "KB" | "KiB" => 1 << 10,
                "MB" | "MiB" => 1 << 20,
                "GB" | "GiB" => 1 << 30,
                "TB" | "TiB" => 1 << 40,
                "PB" | "PiB" => 1 << 50,
                "EB" | "EiB" => 1 << 60,
                _ => return Err(format!("units: unknown unit {unit} in {s}")),
            };
            total += n * mult as f64;
        }
        Ok(ByteSize(total as u64))
    }
}

impl fmt::Display for ByteSize {
    /// `units.Base2Bytes.String()`: `1MiB`, `1KiB512B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return f.write_str("0B");
        }
        for (name, size) in BYTE_UNITS {
            if n >= *size {
                write!(f, "{}{name}", n / size)?;
                n %= size;
            }
        }
        if n > 0 {
            write!(f, "{n}B")?;
        }
        Ok(())
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ByteSize::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A label set written as a YAML mapping (`external_labels`, `required_matchers`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelMap(pub Labels);

impl Serialize for LabelMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for l in &self.0 {
            m.serialize_entry(l.name.as_str(), l.value.as_str())?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for LabelMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = Option::<std::collections::BTreeMap<String, String>>::deserialize(d)?;
        Ok(LabelMap(Labels::new(m.unwrap_or_default().iter())))
    }
}

impl LabelMap {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `global`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GlobalConfig {
    pub scrape_interval: ModelDuration,
    pub scrape_timeout: ModelDuration,
    /// `None` until set: each scrape config then picks its default by whether it scrapes
    /// native histograms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    pub evaluation_interval: ModelDuration,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub rule_query_offset: ModelDuration,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query_log_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    #[serde(skip_serializing_if = "LabelMap::is_empty")]
    pub external_labels: LabelMap,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub keep_dropped_targets: u64,
    #[serde(serialize_with = "serialize_scheme")]
    pub metric_name_validation_scheme: ValidationScheme,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_escaping_scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub convert_classic_histograms_to_nhcb: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub always_scrape_classic_histograms: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub extra_scrape_metrics: bool,
}

pub(crate) fn serialize_scheme<S: Serializer>(
    v: &ValidationScheme,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

impl Default for GlobalConfig {
    /// Upstream's `DefaultGlobalConfig`, used when the file has no `global` block.
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: ModelDuration::from_secs(60),
            scrape_timeout: ModelDuration::from_secs(10),
            scrape_protocols: None,
            evaluation_interval: ModelDuration::from_secs(60),
            rule_query_offset: ModelDuration(0),
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            external_labels: LabelMap::default(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: ValidationScheme::Utf8,
            metric_name_escaping_scheme: "allow-utf-8".into(),
            scrape_native_histograms: Some(false),
            convert_classic_histograms_to_nhcb: false,
            always_scrape_classic_histograms: false,
            extra_scrape_metrics: false,
        }
    }
}

/// The `global` block as written; [`GlobalConfig`] is it with upstream's defaults applied.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGlobalConfig {
    scrape_interval: ModelDuration,
    scrape_timeout: ModelDuration,
    scrape_protocols: Option<Vec<ScrapeProtocol>>,
    evaluation_interval: ModelDuration,
    rule_query_offset: ModelDuration,
    query_log_file: Option<String>,
    scrape_failure_log_file: Option<String>,
    external_labels: LabelMap,
    body_size_limit: ByteSize,
    sample_limit: u64,
    target_limit: u64,
    label_limit: u64,
    label_name_length_limit: u64,
    label_value_length_limit: u64,
    keep_dropped_targets: u64,
    metric_name_validation_scheme: Option<String>,
    metric_name_escaping_scheme: Option<String>,
    scrape_native_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: bool,
    always_scrape_classic_histograms: bool,
    extra_scrape_metrics: bool,
}

impl<'de> Deserialize<'de> for GlobalConfig {
    /// Upstream's `GlobalConfig.UnmarshalYAML`: defaults, external label checks, and the
    /// timeout-versus-interval rule.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Option::<RawGlobalConfig>::deserialize(d)?;
        let Some(raw) = raw else {
            return Ok(GlobalConfig::default());
        };
        let defaults = GlobalConfig::default();
        let scheme = ValidationSchemeSetting(raw.metric_name_validation_scheme.unwrap_or_default())
            .scheme()
            .unwrap_or(ValidationScheme::Utf8);
        for l in &raw.external_labels.0 {
            if !scheme.is_valid_label_name(l.name.as_str()) {
                return Err(D::Error::custom(format!(
                    "{:?} is not a valid label name",
                    l.name.as_str()
                )));
            }
        }
        let scrape_interval = if raw.scrape_interval.is_zero() {
            defaults.scrape_interval
        } else {
            raw.scrape_interval
        };
        if raw.scrape_timeout > scrape_interval {
            return Err(D::Error::custom(
                "global scrape timeout greater than scrape interval",
            ));
        }
        let scrape_timeout = if raw.scrape_timeout.is_zero() {
            defaults.scrape_timeout.min(scrape_interval)
        } else {
            raw.scrape_timeout
        };
        if let Some(p) = &raw.scrape_protocols {
            validate_scrape_protocols(p)
                .map_err(|e| D::Error::custom(format!("{e} for global config")))?;
        }
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            scrape_protocols: raw.scrape_protocols,
            evaluation_interval: if raw.evaluation_interval.is_zero() {
                defaults.evaluation_interval
            } else {
                raw.evaluation_interval
            },
            rule_query_offset: raw.rule_query_offset,
            query_log_file: raw.query_log_file.unwrap_or_default(),
            scrape_failure_log_file: raw.scrape_failure_log_file.unwrap_or_default(),
            external_labels: raw.external_labels,
            body_size_limit: raw.body_size_limit,
            sample_limit: raw.sample_limit,
            target_limit: raw.target_limit,
            label_limit: raw.label_limit,
            label_name_length_limit: raw.label_name_length_limit,
            label_value_length_limit: raw.label_value_length_limit,
            keep_dropped_targets: raw.keep_dropped_targets,
            metric_name_validation_scheme: scheme,
            // Upstream leaves an unset escaping scheme empty here; each scrape config
            // derives its own from the validation scheme.
            metric_name_escaping_scheme: raw.metric_name_escaping_scheme.unwrap_or_default(),
            scrape_native_histograms: raw
                .scrape_native_histograms
                .or(defaults.scrape_native_histograms),
            convert_classic_histograms_to_nhcb: raw.convert_classic_histograms_to_nhcb,
            always_scrape_classic_histograms: raw.always_scrape_classic_histograms,
            extra_scrape_metrics: raw.extra_scrape_metrics,
        })
    }
}

/// `runtime`: upstream's Go runtime tuning. hearth has no garbage collector to tune;
/// the value is kept so configurations load and print as upstream's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default = "RuntimeConfig::default_gogc")]
    pub gogc: i64,
}

impl RuntimeConfig {
    fn default_gogc() -> i64 {
        75
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { gogc: 75 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_as_units() {
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10 << 20)));
        assert_eq!(
            ByteSize::parse("1GiB512MiB"),
            Ok(ByteSize((1 << 30) + (512 << 20)))
        );
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        assert!(ByteSize::parse("100").is_err());
        assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
        assert_eq!(ByteSize(1536).to_string(), "1KiB512B");
    }

    #[test]
    fn protocols() {
        assert_eq!(
            ScrapeProtocol::parse("nope").unwrap_err(),
            "unknown scrape protocol nope, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"
        );
        assert!(
            validate_scrape_protocols(&[
                ScrapeProtocol::PrometheusProto,
                ScrapeProtocol::PrometheusProto
            ])
            .is_err()
        );
    }
}
