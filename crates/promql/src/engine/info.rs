//! `info(v, {selector})`: enriches series with the data labels of info series
//! (`target_info` by default) that share their identifying labels (`instance`, `job`),
//! as upstream's `info.go`.

use std::collections::{HashMap, HashSet};

use hearth_model::{Labels, LabelsBuilder, MatchOp, Matcher};
use hearth_tsdb::storage::SelectHints;

use super::error::{EXPR_EVAL, EvalError, duplicate_labelset, exec};
use super::evaluator::{Evaluator, push_point, storage_error};
use super::plan::{CallNode, Node, NodeKind};
use super::value::{Matrix, Sample, Series};

const TARGET_INFO: &str = "target_info";
/// The labels that identify the target an info series describes.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// The `__name__` matchers that select info series: as given when one is positive;
/// only negative ones are narrowed to `*_info` metrics; none means `target_info`.
fn effective_name_matchers(names: Vec<Matcher>) -> Vec<Matcher> {
    if names
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex))
    {
        return names;
    }
    if !names.is_empty() {
        let mut out = Vec::with_capacity(names.len() + 1);
        if let Ok(m) = Matcher::new(MatchOp::Regex, "__name__", ".+_info") {
            out.push(m);
        }
        out.extend(names);
        return out;
    }
    vec![Matcher::equal("__name__", TARGET_INFO)]
}

fn matches_all(ms: &[Matcher], v: &str) -> bool {
    ms.iter().all(|m| m.matches(v))
}

/// The first selector of an expression, in evaluation order.
fn first_selector(n: &Node) -> Option<&super::plan::SelectorNode> {
    match &n.kind {
        NodeKind::VectorSelector(s) => Some(s),
        NodeKind::MatrixSelector(m) => Some(&m.selector),
        NodeKind::Subquery(s) => first_selector(&s.expr),
        NodeKind::StepInvariant(i) | NodeKind::Neg(i) => first_selector(i),
        NodeKind::Call(c) => c.args.iter().find_map(first_selector),
        NodeKind::Aggregate(a) => a
            .param
            .as_ref()
            .and_then(first_selector)
            .or_else(|| first_selector(&a.expr)),
        NodeKind::Binary(b) => first_selector(&b.lhs).or_else(|| first_selector(&b.rhs)),
        NodeKind::Number(_) | NodeKind::String { .. } => None,
    }
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The signature an info series is joined on: its metric name and identifying labels.
fn signature(name: &str, l: &Labels) -> Labels {
    let mut pairs: Vec<(&str, &str)> = vec![("__name__", name)];
    for id in IDENTIFYING_LABELS {
        if let Some(v) = l.get(id) {
            pairs.push((id, v));
        }
    }
    Labels::new(pairs)
}

impl Evaluator<'_, '_> {
    pub(crate) fn eval_info(&self, c: &CallNode) -> Result<Matrix, EvalError> {
        let Some(arg0) = c.args.first() else {
            return Ok(Matrix::new());
        };
        let mat = self.eval_matrix(arg0)?;
        // Data label matchers by label name, and the info metric name matchers.
        let mut data_matchers: Vec<Matcher> = Vec::new();
        let mut name_matchers: Vec<Matcher> = Vec::new();
        if let Some(NodeKind::VectorSelector(sel)) = c.args.get(1).map(|a| &a.kind) {
            for m in &sel.matchers {
                if m.name == "__name__" {
                    name_matchers.push(m.clone());
                } else {
                    data_matchers.push(m.clone());
                }
            }
        }
        let name_matchers = effective_name_matchers(name_matchers);

        // Info series themselves are not enriched.
        let ignored: HashSet<Labels> = mat
            .iter()
            .filter(|s| matches_all(&name_matchers, s.metric.get_or_empty("__name__")))
            .map(|s| s.metric.clone())
            .collect();

        let info = self.fetch_info_series(arg0, &mat, &ignored, &data_matchers, &name_matchers)?;
        self.combine_with_info(mat, info, &ignored, &data_matchers)
    }

    fn fetch_info_series(
        &self,
        arg0: &Node,
        mat: &Matrix,
        ignored: &HashSet<Labels>,
        data_matchers: &[Matcher],
        name_matchers: &[Matcher],
    ) -> Result<Matrix, EvalError> {
        let mut values: Vec<(&str, Vec<String>)> = Vec::new();
        for id in IDENTIFYING_LABELS {
            let mut vals: Vec<String> = Vec::new();
            for s in mat {
                if ignored.contains(&s.metric) {
                    continue;
                }
                if let Some(v) = s.metric.get(id)
                    && !vals.iter().any(|x| x == v)
                {
                    vals.push(v.to_string());
                }
            }
            if !vals.is_empty() {
                values.push((id, vals));
            }
        }
        if values.is_empty() {
            return Ok(Matrix::new());
        }
        let mut matchers: Vec<Matcher> = Vec::new();
        for (id, vals) in &values {
            let re: Vec<String> = vals.iter().map(|v| quote_meta(v)).collect();
            let m =
                Matcher::new(MatchOp::Regex, *id, re.join("|")).map_err(|e| exec(e.to_string()))?;
            matchers.push(m);
        }
        matchers.extend(data_matchers.iter().cloned());
        matchers.extend(name_matchers.iter().cloned());

        let (at, offset) = first_selector(arg0).map_or((None, 0), |s| (s.at, s.offset));
        let (mut start, mut end) = match at {
            Some(t) => (t, t),
            None => (self.start, self.end),
        };
        start -= self.lookback() - 1;
        start -= offset;
        end -= offset;
        let hints = SelectHints {
            start,
            end,
            step: self.interval,
            func: "info".to_string(),
            ..SelectHints::default()
        };
        let set = self
            .q
            .querier
            .select(false, Some(&hints), &matchers)
            .map_err(storage_error)?;
        self.instant_over_series(&set.series, |ts| ts, true)
    }

    fn combine_with_info(
        &self,
        mat: Matrix,
        info: Matrix,
        ignored: &HashSet<Labels>,
        data_matchers: &[Matcher],
    ) -> Result<Matrix, EvalError> {
        let mut info_names: Vec<String> = Vec::new();
        for s in &info {
            let n = s.metric.get_or_empty("__name__").to_string();
            if !info_names.contains(&n) {
                info_names.push(n);
            }
        }
        let base_sigs: Vec<Vec<Labels>> = mat
            .iter()
            .map(|s| info_names.iter().map(|n| signature(n, &s.metric)).collect())
            .collect();
        let info_sigs: Vec<Labels> = info
            .iter()
            .map(|s| signature(s.metric.get_or_empty("__name__"), &s.metric))
            .collect();
        let all_match_empty = data_matchers.iter().all(|m| m.matches(""));
        let has_data_matcher = |name: &str| data_matchers.iter().any(|m| m.name == name);

        let steps = self.steps();
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
        let mut base_fpos = vec![0usize; mat.len()];
        let mut base_hpos = vec![0usize; mat.len()];
        let mut info_pos = vec![0usize; info.len()];
        let mut ts = self.start;
        while ts <= self.end {
            self.q.check_done(EXPR_EVAL)?;
            // The newest info sample per signature.
            let mut right: HashMap<&Labels, (usize, i64)> = HashMap::new();
            for (i, s) in info.iter().enumerate() {
                let Some(p) = s.floats.get(info_pos[i]).filter(|p| p.t == ts) else {
                    continue;
                };
                info_pos[i] += 1;
                let orig_t = p.f as i64;
                let sig = &info_sigs[i];
                match right.get(sig) {
                    Some(&(j, existing)) => {
                        if existing < orig_t {
                            right.insert(sig, (i, orig_t));
                        } else if existing == orig_t {
                            return Err(exec(format!(
                                "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                                info[j].metric, existing, s.metric, orig_t
                            )));
                        }
                    }
                    None => {
                        right.insert(sig, (i, orig_t));
                    }
                }
            }
            let mut result: Vec<Sample> = Vec::new();
            for (bi, bs) in mat.iter().enumerate() {
                let (f, h) = if let Some(p) = bs.floats.get(base_fpos[bi]).filter(|p| p.t == ts) {
                    base_fpos[bi] += 1;
                    (p.f, None)
                } else if let Some(p) = bs.histograms.get(base_hpos[bi]).filter(|p| p.t == ts) {
                    base_hpos[bi] += 1;
                    (0.0, Some(p.h.clone()))
                } else {
                    continue;
                };
                if ignored.contains(&bs.metric) {
                    result.push(Sample {
                        metric: bs.metric.clone(),
                        t: ts,
                        f,
                        h,
                        drop_name: false,
                    });
                    continue;
                }
                let mut lb = LabelsBuilder::new();
                let mut seen = 0;
                for (ni, _) in info_names.iter().enumerate() {
                    let Some(&(ii, _)) = right.get(&base_sigs[bi][ni]) else {
                        continue;
                    };
                    for l in info[ii].metric.iter() {
                        if l.name.as_str() == "__name__" {
                            continue;
                        }
                        if !data_matchers.is_empty() && !has_data_matcher(&l.name) {
                            continue;
                        }
                        if let Some(v) = lb.get(&l.name)
                            && v != l.value.as_str()
                        {
                            return Err(exec(format!("conflicting label: {}", l.name)));
                        }
                        if bs.metric.has(&l.name) {
                            continue;
                        }
                        lb.set(&l.name, &l.value);
                    }
                    seen += 1;
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let mut b = bs.metric.builder();
                for l in lb.iter() {
                    b.set(&l.name, &l.value);
                }
                result.push(Sample {
                    metric: b.labels(),
                    t: ts,
                    f,
                    h,
                    drop_name: false,
                });
            }
            for s in result {
                match index.get_mut(&s.metric) {
                    Some((i, last)) => {
                        if *last == ts {
                            return Err(duplicate_labelset());
                        }
                        *last = ts;
                        push_point(&mut out[*i], ts, s.f, s.h, steps);
                    }
                    None => {
                        index.insert(s.metric.clone(), (out.len(), ts));
                        let mut series = Series::new(s.metric);
                        push_point(&mut series, ts, s.f, s.h, steps);
                        out.push(series);
                    }
                }
            }
            ts += self.interval;
        }
        Ok(out)
    }
}
