//! Text forms of float histograms as upstream writes them: `String()` (what
//! `count_values` uses as a label value) and `TestExpression()` (the `{{...}}` notation of
//! test scripts and rule unit tests).

use crate::float::write_go_g;
use crate::histogram::{Bucket, CounterResetHint, FloatHistogram};

/// `[lower,upper]:count` with `(`/`)` for exclusive bounds (upstream's `Bucket.String`).
fn write_bucket(out: &mut String, b: &Bucket<f64>) {
    out.push(if b.lower_inclusive { '[' } else { '(' });
    write_go_g(out, b.lower);
    out.push(',');
    write_go_g(out, b.upper);
    out.push(if b.upper_inclusive { ']' } else { ')' });
    out.push(':');
    write_go_g(out, b.count);
}

impl FloatHistogram {
    /// Upstream's `String()`: `{count:3, sum:2, [-2,-1):1, [-0.001,0.001]:1, (1,2]:1}`,
    /// populated buckets only, in ascending order of values.
    pub fn go_string(&self) -> String {
        let mut out = String::from("{count:");
        write_go_g(&mut out, self.count);
        out.push_str(", sum:");
        write_go_g(&mut out, self.sum);
        let negative: Vec<Bucket<f64>> = self
            .negative_bucket_iter()
            .filter(|b| b.count != 0.0)
            .collect();
        for b in negative.iter().rev() {
            out.push_str(", ");
            write_bucket(&mut out, b);
        }
        if self.zero_count != 0.0
            && let Some(zero) = self.zero_bucket()
        {
            out.push_str(", ");
            write_bucket(&mut out, &zero);
        }
        for b in self.positive_bucket_iter().filter(|b| b.count != 0.0) {
            out.push_str(", ");
            write_bucket(&mut out, &b);
        }
        out.push('}');
        out
    }

    /// Upstream's `TestExpression()`: the `{{...}}` notation with one span per side
    /// (empty buckets in between written out), leaving out zero and default fields.
    pub fn test_expression(&self) -> String {
        let mut m = self.clone();
        m.compact(usize::MAX);
        let mut parts: Vec<String> = Vec::new();
        let g = |v: f64| {
            let mut s = String::new();
            write_go_g(&mut s, v);
            s
        };
        if m.schema != 0 {
            parts.push(format!("schema:{}", m.schema));
        }
        if m.count != 0.0 {
            parts.push(format!("count:{}", g(m.count)));
        }
        if m.sum != 0.0 {
            parts.push(format!("sum:{}", g(m.sum)));
        }
        if m.zero_count != 0.0 {
            parts.push(format!("z_bucket:{}", g(m.zero_count)));
        }
        if m.zero_threshold != 0.0 {
            parts.push(format!("z_bucket_w:{}", g(m.zero_threshold)));
        }
        if m.uses_custom_buckets() {
            let values: Vec<String> = m.custom_values.iter().map(|v| g(*v)).collect();
            parts.push(format!("custom_values:[{}]", values.join(" ")));
        }
        match m.counter_reset_hint {
            CounterResetHint::Unknown => {}
            CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".into()),
            CounterResetHint::NotCounterReset => parts.push("counter_reset_hint:not_reset".into()),
            CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
        }
        for (spans, buckets, offset_key, buckets_key) in [
            (&m.positive_spans, &m.positive_buckets, "offset", "buckets"),
            (
                &m.negative_spans,
                &m.negative_buckets,
                "n_offset",
                "n_buckets",
            ),
        ] {
            // After compaction there is at most one span per side.
            if let Some(span) = spans.first()
                && span.offset != 0
            {
                parts.push(format!("{offset_key}:{}", span.offset));
            }
            if !buckets.is_empty() {
                let values: Vec<String> = buckets.iter().map(|v| g(*v)).collect();
                parts.push(format!("{buckets_key}:[{}]", values.join(" ")));
            }
        }
        format!("{{{{{}}}}}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use crate::histogram::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span};

    fn sample() -> FloatHistogram {
        FloatHistogram {
            schema: 1,
            count: 9.0,
            sum: 1e6,
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: vec![
                Span {
                    offset: 1,
                    length: 1,
                },
                Span {
                    offset: 2,
                    length: 2,
                },
            ],
            positive_buckets: vec![2.0, 0.5, 3.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            negative_buckets: vec![0.0, 2.5],
            counter_reset_hint: CounterResetHint::Gauge,
            ..Default::default()
        }
    }

    #[test]
    fn go_string() {
        assert_eq!(
            sample().go_string(),
            "{count:9, sum:1e+06, [-1.414213562373095,-1):2.5, [-0.001,0.001]:1, \
             (1,1.414213562373095]:2, (2.82842712474619,4]:0.5, (4,5.65685424949238]:3}"
        );
    }

    #[test]
    fn test_expression() {
        assert_eq!(
            sample().test_expression(),
            "{{schema:1 count:9 sum:1e+06 z_bucket:1 z_bucket_w:0.001 counter_reset_hint:gauge \
             offset:1 buckets:[2 0 0 0.5 3] n_offset:1 n_buckets:[2.5]}}"
        );
        assert_eq!(sample().to_string(), sample().test_expression());
        assert_eq!(FloatHistogram::default().test_expression(), "{{}}");
        let c = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 1.0,
            sum: f64::NAN,
            custom_values: vec![0.5, 1.0],
            positive_spans: vec![Span {
                offset: 2,
                length: 1,
            }],
            positive_buckets: vec![1.0],
            ..Default::default()
        };
        assert_eq!(
            c.test_expression(),
            "{{schema:-53 count:1 sum:NaN custom_values:[0.5 1] offset:2 buckets:[1]}}"
        );
    }
}
