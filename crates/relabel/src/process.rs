//! Applying relabel rules to a label set, action by action as upstream's `relabel()`.

use hearth_model::{Labels, LabelsBuilder, ValidationScheme};
use md5::{Digest, Md5};

use crate::config::{Action, DEFAULT_REPLACEMENT, RelabelConfig};

/// Applies `cfgs` in order to `labels`. `None` means a rule dropped the label set.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut lb = labels.builder();
    process_builder(&mut lb, cfgs).then(|| lb.labels())
}

/// Like [`process`], editing `lb` in place; returns false when a rule dropped it.
pub fn process_builder(lb: &mut LabelsBuilder, cfgs: &[RelabelConfig]) -> bool {
    let mut val = String::new();
    cfgs.iter().all(|cfg| relabel(cfg, lb, &mut val))
}

fn relabel(cfg: &RelabelConfig, lb: &mut LabelsBuilder, val: &mut String) -> bool {
    val.clear();
    if let Some(sources) = &cfg.source_labels {
        for (i, name) in sources.iter().enumerate() {
            if i > 0 {
                val.push_str(&cfg.separator);
            }
            val.push_str(lb.get(name).unwrap_or(""));
        }
    }
    let val = val.as_str();
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(val),
        Action::Keep => return cfg.regex.is_match(val),
        Action::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => replace(cfg, lb, val),
        Action::Lowercase => {
            lb.set(&cfg.target_label, &val.to_lowercase());
        }
        Action::Uppercase => {
            lb.set(&cfg.target_label, &val.to_uppercase());
        }
        Action::HashMod => {
            let hash = Md5::digest(val.as_bytes());
            // The last 8 bytes, big-endian, as upstream (kept for stable sharding).
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&hash[8..16]);
            let m = u64::from_be_bytes(tail) % cfg.modulus.max(1);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let snapshot: Vec<_> = lb.iter().cloned().collect();
            let mut name = String::new();
            for l in &snapshot {
                let Some(caps) = cfg.regex.captures(l.name.as_str()) else {
                    continue;
                };
                name.clear();
                cfg.regex.expand(&mut name, &cfg.replacement, &caps);
                lb.set(&name, l.value.as_str());
            }
        }
        Action::LabelDrop => {
            lb.retain(|l| !cfg.regex.is_match(l.name.as_str()));
        }
        Action::LabelKeep => {
            lb.retain(|l| cfg.regex.is_match(l.name.as_str()));
        }
    }
    true
}

fn replace(cfg: &RelabelConfig, lb: &mut LabelsBuilder, val: &str) {
    // Fast path: a static `target_label: replacement` pair with the default regex.
    if val.is_empty()
        && !cfg.regex_set
        && !cfg.target_label.contains('$')
        && !cfg.replacement.contains('$')
    {
        lb.set(&cfg.target_label, &cfg.replacement);
        return;
    }
    let Some(caps) = cfg.regex.captures(val) else {
        return;
    };
    let mut target = String::new();
    cfg.regex.expand(&mut target, &cfg.target_label, &caps);
    if !cfg
        .scheme_or(ValidationScheme::Utf8)
        .is_valid_label_name(&target)
    {
        return;
    }
    let mut res = String::new();
    if cfg.replacement == DEFAULT_REPLACEMENT {
        res.push_str(caps.get(1).map_or("", |m| m.as_str()));
    } else {
        cfg.regex.expand(&mut res, &cfg.replacement, &caps);
    }
    if res.is_empty() {
        lb.del(&target);
    } else {
        lb.set(&target, &res);
    }
}
