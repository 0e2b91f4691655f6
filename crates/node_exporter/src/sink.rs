//! [`MetricSink`]: where collectors write samples, grouped into metric families the way
//! client_golang's registry presents them (families sorted by name, samples by label
//! values, labels by name).

use std::collections::HashMap;

use hearth_exposition::{FamilySample, MetricFamily};
use hearth_model::MetricType;

/// Metric families under construction. The first help text and type written for a name
/// win; later samples of the same name join that family.
#[derive(Debug, Default)]
pub struct MetricSink {
    families: Vec<MetricFamily>,
    index: HashMap<String, usize>,
}

impl MetricSink {
    pub fn new() -> MetricSink {
        MetricSink::default()
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, help, MetricType::Gauge, labels, value);
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, help, MetricType::Counter, labels, value);
    }

    pub fn untyped(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, help, MetricType::Unknown, labels, value);
    }

    pub fn add(
        &mut self,
        name: &str,
        help: &str,
        metric_type: MetricType,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut owned: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect();
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        let family = self.family(name, help, metric_type);
        family.samples.push(FamilySample {
            name: name.to_string(),
            labels: owned,
            value,
            ..Default::default()
        });
    }

    fn family(&mut self, name: &str, help: &str, metric_type: MetricType) -> &mut MetricFamily {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.families.push(MetricFamily {
                    name: name.to_string(),
                    metric_type,
                    help: Some(help.to_string()),
                    unit: None,
                    samples: Vec::new(),
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[i]
    }

    /// Adds a whole family (from a textfile); samples of a family already present join it.
    pub fn add_family(&mut self, f: MetricFamily) {
        match self.index.get(&f.name) {
            Some(&i) => self.families[i].samples.extend(f.samples),
            None => {
                self.index.insert(f.name.clone(), self.families.len());
                self.families.push(f);
            }
        }
    }

    /// Moves every family of `other` into this sink.
    pub fn append(&mut self, other: MetricSink) {
        for f in other.families {
            self.add_family(f);
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The families, sorted as client_golang's `Gather` sorts them.
    pub fn finish(self) -> Vec<MetricFamily> {
        let mut families = self.families;
        families.sort_by(|a, b| a.name.cmp(&b.name));
        for f in &mut families {
            f.samples.sort_by(|a, b| {
                a.labels
                    .iter()
                    .map(|l| &l.1)
                    .cmp(b.labels.iter().map(|l| &l.1))
                    .then_with(|| a.name.cmp(&b.name))
            });
        }
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_sorted_like_client_golang() {
        let mut s = MetricSink::new();
        s.gauge("b", "B.", &[("z", "1"), ("a", "y")], 1.0);
        s.gauge("b", "ignored", &[("a", "x"), ("z", "2")], 2.0);
        s.counter("a_total", "A.", &[], 3.0);
        let f = s.finish();
        assert_eq!(f[0].name, "a_total");
        assert_eq!(f[1].help.as_deref(), Some("B."));
        let values: Vec<f64> = f[1].samples.iter().map(|s| s.value).collect();
        assert_eq!(values, [2.0, 1.0]);
        assert_eq!(f[1].samples[0].labels[0].0, "a");
    }
}
