//! Target groups: what every discoverer produces, and the `{targets, labels}` form that
//! static configs, file SD and HTTP SD share.

use std::collections::BTreeMap;
use std::fmt;

use hearth_model::Labels;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, identified by `source` within its provider. A group
/// with no targets tells the consumer that the source's earlier targets are gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Per-target labels; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group.
    pub labels: Labels,
    /// Identifies the group within its provider (file name and index, URL and index,
    /// DNS name, ...).
    pub source: String,
}

impl TargetGroup {
    /// A group of plain addresses.
    pub fn from_addresses<'a>(
        addresses: impl IntoIterator<Item = &'a str>,
        labels: Labels,
        source: String,
    ) -> TargetGroup {
        TargetGroup {
            targets: addresses
                .into_iter()
                .map(|a| Labels::new([(ADDRESS_LABEL, a)]))
                .collect(),
            labels,
            source,
        }
    }
}

/// The YAML shape, strict like upstream's `yaml.UnmarshalStrict`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The JSON shape; Go's `encoding/json` ignores unknown keys.
#[derive(Deserialize)]
pub(crate) struct LenientGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

fn build_group(
    targets: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
) -> Result<TargetGroup, String> {
    let labels = labels.unwrap_or_default();
    for name in labels.keys() {
        if name.is_empty() {
            return Err(format!("{name:?} is not a valid label name"));
        }
    }
    Ok(TargetGroup::from_addresses(
        targets.iter().flatten().map(String::as_str),
        Labels::new(labels.iter()),
        String::new(),
    ))
}

impl LenientGroup {
    pub(crate) fn into_group(self) -> Result<TargetGroup, String> {
        build_group(self.targets, self.labels)
    }
}

impl<'de> Deserialize<'de> for TargetGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let g = StrictGroup::deserialize(d)?;
        build_group(g.targets, g.labels).map_err(serde::de::Error::custom)
    }
}

/// Upstream prints a static group as `targets:` (addresses) and `labels:` (when any).
impl Serialize for TargetGroup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct LabelMap<'a>(&'a Labels);
        impl Serialize for LabelMap<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for l in self.0 {
                    m.serialize_entry(l.name.as_str(), l.value.as_str())?;
                }
                m.end()
            }
        }
        let addresses: Vec<&str> = self
            .targets
            .iter()
            .map(|t| t.get_or_empty(ADDRESS_LABEL))
            .collect();
        let mut st = s.serialize_struct("TargetGroup", 2)?;
        st.serialize_field("targets", &addresses)?;
        if self.labels.is_empty() {
            st.skip_field("labels")?;
        } else {
            st.serialize_field("labels", &LabelMap(&self.labels))?;
        }
        st.end()
    }
}

impl fmt::Display for TargetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
