//! Inhibition (upstream's `inhibit` package): a target alert is muted while a firing
//! source alert of the same rule has equal values for the rule's `equal` labels. An
//! alert matching both sides is never inhibited by an alert that also matches both.

use crate::alert::Alert;
use crate::config::InhibitRule;
use crate::labelset::LabelSet;
use crate::matcher::{Matcher, matches_all};
use crate::time::Time;

struct Rule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

/// The configured rules.
pub struct Inhibitor {
    rules: Vec<Rule>,
}

/// The rules with the source alerts firing at one instant.
pub struct InhibitView<'a> {
    inhibitor: &'a Inhibitor,
    sources: Vec<Vec<(u64, LabelSet)>>,
}

impl Inhibitor {
    pub fn new(rules: &[InhibitRule]) -> Inhibitor {
        Inhibitor {
            rules: rules
                .iter()
                .map(|r| Rule {
                    source: r.source(),
                    target: r.target(),
                    equal: r.equal.clone(),
                })
                .collect(),
        }
    }

    /// Caches, per rule, the alerts firing at `now` that match its source side.
    pub fn view<'a>(&'a self, alerts: &[Alert], now: &Time) -> InhibitView<'a> {
        let sources = self
            .rules
            .iter()
            .map(|r| {
                alerts
                    .iter()
                    .filter(|a| !a.resolved_at(now) && matches_all(&r.source, &a.labels))
                    .map(|a| (a.fingerprint(), a.labels.clone()))
                    .collect()
            })
            .collect();
        InhibitView {
            inhibitor: self,
            sources,
        }
    }
}

impl InhibitView<'_> {
    /// The fingerprint of an alert inhibiting `ls`, if any.
    pub fn mutes(&self, ls: &LabelSet) -> Option<u64> {
        for (rule, sources) in self.inhibitor.rules.iter().zip(&self.sources) {
            if !matches_all(&rule.target, ls) {
                continue;
            }
            let two_sided = matches_all(&rule.source, ls);
            'src: for (fp, src) in sources {
                for n in &rule.equal {
                    if src.get(n) != ls.get(n) {
                        continue 'src;
                    }
                }
                if two_sided && matches_all(&rule.target, src) {
                    continue;
                }
                return Some(*fp);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{add, now, sub};
    use std::time::Duration;

    fn alert(p: &[(&str, &str)], resolved: bool) -> Alert {
        let t = now();
        Alert {
            labels: p
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            annotations: LabelSet::new(),
            starts_at: sub(&t, Duration::from_secs(60)),
            ends_at: if resolved {
                sub(&t, Duration::from_secs(1))
            } else {
                add(&t, Duration::from_secs(60))
            },
            updated_at: t,
            generator_url: String::new(),
            timeout: false,
        }
    }

    fn rules(y: &str) -> Inhibitor {
        let c = crate::config::Config::load_str(
            &format!("route: {{receiver: a}}\nreceivers: [{{name: a}}]\ninhibit_rules:\n{y}"),
            "x",
        )
        .unwrap();
        Inhibitor::new(&c.inhibit_rules)
    }

    #[test]
    fn equal_labels_and_resolved_sources() {
        let ih = rules(
            "  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster]\n",
        );
        let crit = alert(
            &[
                ("alertname", "Down"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
            false,
        );
        let t = now();
        let v = ih.view(std::slice::from_ref(&crit), &t);
        let warn_a = alert(
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("cluster", "a"),
            ],
            false,
        );
        let warn_b = alert(
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("cluster", "b"),
            ],
            false,
        );
        assert_eq!(v.mutes(&warn_a.labels), Some(crit.fingerprint()));
        assert_eq!(v.mutes(&warn_b.labels), None);
        assert_eq!(v.mutes(&crit.labels), None);
        // A resolved source inhibits nothing.
        let resolved = alert(&[("severity", "critical"), ("cluster", "a")], true);
        assert_eq!(ih.view(&[resolved], &t).mutes(&warn_a.labels), None);
        // Missing equal labels on both sides count as equal.
        let crit_nocluster = alert(&[("severity", "critical")], false);
        let warn_nocluster = alert(&[("severity", "warning")], false);
        assert!(
            ih.view(&[crit_nocluster], &t)
                .mutes(&warn_nocluster.labels)
                .is_some()
        );
    }

    #[test]
    fn legacy_forms_and_two_sided_rules() {
        let ih =
            rules("  - source_match: {alertname: A}\n    target_match_re: {alertname: 'A|B'}\n");
        let a = alert(&[("alertname", "A")], false);
        let b = alert(&[("alertname", "B")], false);
        let t = now();
        let v = ih.view(&[a.clone(), b.clone()], &t);
        assert_eq!(v.mutes(&b.labels), Some(a.fingerprint()));
        // A matches both sides: it must not inhibit itself.
        assert_eq!(v.mutes(&a.labels), None);
    }
}
