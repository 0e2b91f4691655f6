//! Series descriptions, the notation of test `load` lines, expected results and promtool
//! unit tests (upstream's `ParseSeriesDesc`):
//! `metric{labels} 1+2x3 _ _x2 stale -1-1x3 {{schema:1 sum:3 count:22 buckets:[5 10 7]}}`.
//!
//! `a+bxN` expands to N+1 values `a, a+b, ..., a+N*b`; `_xN` to N omitted values;
//! `{{...}}+{{...}}xN` adds the second histogram N times.

use hearth_model::names::go_quote;
use hearth_model::{CounterResetHint, FloatHistogram, Labels, Span, is_stale_nan, stale_nan};

use crate::ast::PosRange;
use crate::error::ParseError;
use crate::lexer::{TokenKind, lex_series_description};
use crate::literals::unquote_lossy;
use crate::parser::{Abort, PResult, TokenCursor, is_metric_identifier};
use crate::series_histogram::combine;

/// One value of a series description.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    Float(f64),
    /// The staleness marker (`stale`).
    Stale,
    Histogram(Box<HistogramValue>),
}

/// A histogram value, with whether `counter_reset_hint` was written (when it was not,
/// expected results do not compare the hint).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    pub histogram: FloatHistogram,
    pub counter_reset_hint_set: bool,
}

impl SeriesValue {
    fn from_f64(v: f64) -> SeriesValue {
        if is_stale_nan(v) {
            SeriesValue::Stale
        } else {
            SeriesValue::Float(v)
        }
    }

    /// The float value (the staleness marker's NaN for `Stale`), if not a histogram.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SeriesValue::Float(v) => Some(*v),
            SeriesValue::Stale => Some(stale_nan()),
            SeriesValue::Histogram(_) => None,
        }
    }
}

/// Most values one description may expand to; beyond this it is rejected rather than
/// exhausting memory.
pub const MAX_SERIES_VALUES: usize = 1_000_000;

/// Parses a series description into its labels and values (`None` for `_`).
pub fn parse_series_desc(input: &str) -> Result<(Labels, Vec<Option<SeriesValue>>), ParseError> {
    let mut p = SeriesParser {
        cur: TokenCursor::new(input, lex_series_description(input)),
    };
    let result = p.parse();
    match result {
        Ok(r) if p.cur.errors.is_empty() => Ok(r),
        _ => Err(p.cur.into_error()),
    }
}

/// Parses just the labels of a metric (`name{a="b"}`), as upstream's `ParseMetric`.
pub fn parse_metric(input: &str) -> Result<Labels, ParseError> {
    let (labels, values) = parse_series_desc(input)?;
    if !values.is_empty() {
        return Err(ParseError::single(
            input,
            PosRange::new(0, input.len()),
            "unexpected values after metric",
        ));
    }
    Ok(labels)
}

const VALUES: &str = "series values";
const HISTOGRAM: &str = "histogram description";
const HISTOGRAM_KEY: &str = "histogram description key, e.g. buckets:[5 10 7]";

struct SeriesParser<'a> {
    cur: TokenCursor<'a>,
}

/// The descriptors of one `{{...}}`, as written.
#[derive(Default)]
struct HistogramFields {
    schema: Option<i64>,
    sum: Option<f64>,
    count: Option<f64>,
    zero_count: Option<f64>,
    zero_threshold: Option<f64>,
    buckets: Option<Vec<f64>>,
    offset: Option<i64>,
    negative_buckets: Option<Vec<f64>>,
    negative_offset: Option<i64>,
    custom_values: Option<Vec<f64>>,
    hint: Option<CounterResetHint>,
}

impl SeriesParser<'_> {
    fn parse(&mut self) -> PResult<(Labels, Vec<Option<SeriesValue>>)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let t = self.cur.peek();
        let name = if is_metric_identifier(t.kind) {
            self.cur.advance();
            Some(self.cur.text(t).to_string())
        } else {
            None
        };
        if self.cur.peek().kind == TokenKind::LeftBrace {
            self.parse_label_set(&mut pairs)?;
        }
        if let Some(name) = name {
            pairs.push((hearth_model::METRIC_NAME.to_string(), name));
        }
        let mut values = Vec::new();
        loop {
            match self.cur.peek().kind {
                TokenKind::Eof => break,
                TokenKind::Space => {
                    self.cur.advance();
                    if !matches!(self.cur.peek().kind, TokenKind::Eof | TokenKind::Space) {
                        self.parse_item(&mut values)?;
                    }
                }
                _ => return Err(self.cur.unexpected(VALUES, "")),
            }
        }
        Ok((Labels::new(pairs), values))
    }

    fn parse_label_set(&mut self, pairs: &mut Vec<(String, String)>) -> PResult<()> {
        const CONTEXT: &str = "label set";
        self.cur.advance();
        if self.cur.peek().kind == TokenKind::RightBrace {
            self.cur.advance();
            return Ok(());
        }
        loop {
            let t = self.cur.peek();
            match t.kind {
                TokenKind::Identifier => {
                    self.cur.advance();
                    let name = self.cur.text(t).to_string();
                    self.cur.expect(TokenKind::Eql, CONTEXT, "\"=\"")?;
                    let v = self.cur.expect(TokenKind::String, CONTEXT, "string")?;
                    pairs.push((name, unquote_lossy(self.cur.text(v))));
                }
                TokenKind::String => {
                    self.cur.advance();
                    let name = unquote_lossy(self.cur.text(t));
                    if self.cur.peek().kind == TokenKind::Eql {
                        self.cur.advance();
                        let v = self.cur.expect(TokenKind::String, CONTEXT, "string")?;
                        pairs.push((name, unquote_lossy(self.cur.text(v))));
                    } else {
                        pairs.push((hearth_model::METRIC_NAME.to_string(), name));
                    }
                }
                _ => return Err(self.cur.unexpected(CONTEXT, "identifier or \"}\"")),
            }
            match self.cur.peek().kind {
                TokenKind::Comma => {
                    self.cur.advance();
                    if self.cur.peek().kind == TokenKind::RightBrace {
                        self.cur.advance();
                        return Ok(());
                    }
                }
                TokenKind::RightBrace => {
                    self.cur.advance();
                    return Ok(());
                }
                _ => return Err(self.cur.unexpected(CONTEXT, "\",\" or \"}\"")),
            }
        }
    }

    /// Makes room for `n` more values, refusing more than [`MAX_SERIES_VALUES`].
    fn reserve(&mut self, values: &mut Vec<Option<SeriesValue>>, n: u64) -> PResult<()> {
        let total = (values.len() as u64).saturating_add(n);
        if total > MAX_SERIES_VALUES as u64 {
            let t = self.cur.peek();
            self.cur.error(
                PosRange::new(t.start, t.end),
                format!("series expands to more than {MAX_SERIES_VALUES} values"),
            );
            return Err(Abort);
        }
        values.reserve(n as usize);
        Ok(())
    }

    fn parse_item(&mut self, values: &mut Vec<Option<SeriesValue>>) -> PResult<()> {
        match self.cur.peek().kind {
            TokenKind::Blank => {
                self.cur.advance();
                let n = if self.cur.peek().kind == TokenKind::Times {
                    self.cur.advance();
                    self.parse_uint()?
                } else {
                    1
                };
                self.reserve(values, n)?;
                values.extend((0..n).map(|_| None));
            }
            TokenKind::OpenHist => {
                let (base, base_hint_set) = self.parse_histogram()?;
                match self.cur.peek().kind {
                    TokenKind::Times => {
                        self.cur.advance();
                        let n = self.parse_uint()?;
                        self.reserve(values, n.saturating_add(1))?;
                        for _ in 0..=n {
                            values.push(Some(histogram_value(base.clone(), base_hint_set)));
                        }
                    }
                    op @ (TokenKind::Add | TokenKind::Sub) => {
                        let op_token = self.cur.advance();
                        let (inc, inc_hint_set) = self.parse_histogram()?;
                        self.cur.expect(TokenKind::Times, VALUES, "\"x\"")?;
                        let n = self.parse_uint()?;
                        self.reserve(values, n.saturating_add(1))?;
                        if base.schema > inc.schema {
                            self.cur.error(
                                PosRange::new(op_token.start, op_token.end),
                                format!(
                                    "error combining histograms: cannot merge from schema {} to {}",
                                    inc.schema, base.schema
                                ),
                            );
                            return Err(Abort);
                        }
                        // Upstream marks every value with the increment's hint flag.
                        let mut cur = base;
                        values.push(Some(histogram_value(cur.clone(), inc_hint_set)));
                        for _ in 0..n {
                            cur = match combine(&cur, &inc, op == TokenKind::Sub) {
                                Ok(h) => h,
                                Err(e) => {
                                    self.cur
                                        .error(PosRange::new(op_token.start, op_token.end), e);
                                    return Err(Abort);
                                }
                            };
                            values.push(Some(histogram_value(cur.clone(), inc_hint_set)));
                        }
                    }
                    _ => values.push(Some(histogram_value(base, base_hint_set))),
                }
            }
            _ => {
                let v = self.parse_series_value()?;
                match self.cur.peek().kind {
                    TokenKind::Times => {
                        self.cur.advance();
                        let n = self.parse_uint()?;
                        self.reserve(values, n.saturating_add(1))?;
                        values.extend((0..=n).map(|_| Some(SeriesValue::from_f64(v))));
                    }
                    TokenKind::Add | TokenKind::Sub => {
                        let increment = self.parse_signed_number()?;
                        self.cur.expect(TokenKind::Times, VALUES, "\"x\"")?;
                        let n = self.parse_uint()?;
                        self.reserve(values, n.saturating_add(1))?;
                        // Repeated addition, as upstream does (not a + i*b).
                        let mut cur = v;
                        for _ in 0..=n {
                            values.push(Some(SeriesValue::from_f64(cur)));
                            cur += increment;
                        }
                    }
                    _ => values.push(Some(SeriesValue::from_f64(v))),
                }
            }
        }
        Ok(())
    }

    /// `stale`, a number, or a signed number.
    fn parse_series_value(&mut self) -> PResult<f64> {
        let t = self.cur.peek();
        match t.kind {
            TokenKind::Identifier => {
                if self.cur.text(t) != "stale" {
                    return Err(self.cur.unexpected(VALUES, "number or \"stale\""));
                }
                self.cur.advance();
                Ok(stale_nan())
            }
            TokenKind::Add | TokenKind::Sub => self.parse_signed_number(),
            TokenKind::Number => self.parse_number(VALUES),
            _ => Err(self.cur.unexpected(VALUES, "")),
        }
    }

    fn parse_number(&mut self, context: &str) -> PResult<f64> {
        let t = self.cur.peek();
        match t.kind {
            TokenKind::Number => {
                self.cur.advance();
                Ok(self.cur.number_value(t))
            }
            TokenKind::Duration => {
                self.cur.advance();
                Ok(self.cur.duration_seconds(t))
            }
            _ => Err(self.cur.unexpected(context, "number")),
        }
    }

    /// `+n` or `-n`.
    fn parse_signed_number(&mut self) -> PResult<f64> {
        let sign = self.cur.advance();
        let v = self.parse_number(VALUES)?;
        Ok(if sign.kind == TokenKind::Sub { -v } else { v })
    }

    fn parse_signed_or_unsigned(&mut self, context: &str) -> PResult<f64> {
        match self.cur.peek().kind {
            TokenKind::Add | TokenKind::Sub => {
                let sign = self.cur.advance();
                let v = self.parse_number(context)?;
                Ok(if sign.kind == TokenKind::Sub { -v } else { v })
            }
            _ => self.parse_number(context),
        }
    }

    /// A repetition count: a plain decimal integer.
    fn parse_uint(&mut self) -> PResult<u64> {
        let t = self.cur.peek();
        if t.kind != TokenKind::Number {
            return Err(self.cur.unexpected(VALUES, "number"));
        }
        self.cur.advance();
        let text = self.cur.text(t);
        let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<u64>() {
            Ok(n) if valid => Ok(n),
            _ => {
                let reason = if valid {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                self.cur.error(
                    PosRange::new(t.start, t.end),
                    format!(
                        "invalid repetition in series values: strconv.ParseUint: parsing {}: {reason}",
                        go_quote(text)
                    ),
                );
                Err(Abort)
            }
        }
    }

    /// `-n` or `n` as an integer (schema, offsets).
    fn parse_int(&mut self) -> PResult<i64> {
        let negative = self.cur.peek().kind == TokenKind::Sub;
        if negative {
            self.cur.advance();
        }
        let n = self.parse_uint()? as i64;
        Ok(if negative { n.wrapping_neg() } else { n })
    }

    /// `{{key:value ...}}`; returns the histogram and whether its hint was written.
    fn parse_histogram(&mut self) -> PResult<(FloatHistogram, bool)> {
        self.cur.advance();
        let mut fields = HistogramFields::default();
        if self.cur.peek().kind == TokenKind::Space {
            self.cur.advance();
        }
        if self.cur.peek().kind != TokenKind::CloseHist {
            loop {
                self.parse_histogram_field(&mut fields)?;
                match self.cur.peek().kind {
                    TokenKind::Space => {
                        self.cur.advance();
                        if self.cur.peek().kind == TokenKind::CloseHist {
                            break;
                        }
                    }
                    TokenKind::CloseHist => break,
                    _ => return Err(self.cur.unexpected(HISTOGRAM, HISTOGRAM_KEY)),
                }
            }
        }
        self.cur
            .expect(TokenKind::CloseHist, HISTOGRAM, HISTOGRAM_KEY)?;
        Ok(build_histogram(fields))
    }

    fn parse_histogram_field(&mut self, f: &mut HistogramFields) -> PResult<()> {
        let key = self.cur.peek();
        let name = match key.kind {
            TokenKind::SchemaDesc => "schema",
            TokenKind::SumDesc => "sum",
            TokenKind::CountDesc => "count",
            TokenKind::ZeroBucketDesc => "z_bucket",
            TokenKind::ZeroBucketWidthDesc => "z_bucket_w",
            TokenKind::BucketsDesc => "buckets",
            TokenKind::OffsetDesc => "offset",
            TokenKind::NegativeBucketsDesc => "n_buckets",
            TokenKind::NegativeOffsetDesc => "n_offset",
            TokenKind::CustomValuesDesc => "custom_values",
            TokenKind::CounterResetHintDesc => "counter_reset_hint",
            _ => return Err(self.cur.unexpected(HISTOGRAM, HISTOGRAM_KEY)),
        };
        self.cur.advance();
        self.cur.expect(TokenKind::Colon, HISTOGRAM, "\":\"")?;
        let duplicate = match key.kind {
            TokenKind::SchemaDesc => f.schema.replace(self.parse_int()?).is_some(),
            TokenKind::SumDesc => f
                .sum
                .replace(self.parse_signed_or_unsigned(HISTOGRAM)?)
                .is_some(),
            TokenKind::CountDesc => f
                .count
                .replace(self.parse_signed_or_unsigned(HISTOGRAM)?)
                .is_some(),
            TokenKind::ZeroBucketDesc => f
                .zero_count
                .replace(self.parse_signed_or_unsigned(HISTOGRAM)?)
                .is_some(),
            TokenKind::ZeroBucketWidthDesc => f
                .zero_threshold
                .replace(self.parse_number(HISTOGRAM)?)
                .is_some(),
            TokenKind::BucketsDesc => f.buckets.replace(self.parse_bucket_set()?).is_some(),
            TokenKind::OffsetDesc => f.offset.replace(self.parse_int()?).is_some(),
            TokenKind::NegativeBucketsDesc => f
                .negative_buckets
                .replace(self.parse_bucket_set()?)
                .is_some(),
            TokenKind::NegativeOffsetDesc => f.negative_offset.replace(self.parse_int()?).is_some(),
            TokenKind::CustomValuesDesc => {
                f.custom_values.replace(self.parse_bucket_set()?).is_some()
            }
            _ => {
                let t = self.cur.peek();
                let hint = match t.kind {
                    TokenKind::UnknownCounterReset => CounterResetHint::Unknown,
                    TokenKind::CounterReset => CounterResetHint::CounterReset,
                    TokenKind::NotCounterReset => CounterResetHint::NotCounterReset,
                    TokenKind::GaugeType => CounterResetHint::Gauge,
                    _ => return Err(self.cur.unexpected(HISTOGRAM, "counter reset hint")),
                };
                self.cur.advance();
                f.hint.replace(hint).is_some()
            }
        };
        if duplicate {
            self.cur.error(
                PosRange::default(),
                format!("duplicate key {} in histogram", go_quote(name)),
            );
        }
        Ok(())
    }

    /// `[n n n]`.
    fn parse_bucket_set(&mut self) -> PResult<Vec<f64>> {
        const CONTEXT: &str = "buckets description";
        self.cur.expect(TokenKind::LeftBracket, CONTEXT, "\"[\"")?;
        let mut out = Vec::new();
        if self.cur.peek().kind == TokenKind::Space {
            self.cur.advance();
        }
        loop {
            out.push(self.parse_signed_or_unsigned(CONTEXT)?);
            if self.cur.peek().kind == TokenKind::Space {
                self.cur.advance();
            }
            match self.cur.peek().kind {
                TokenKind::RightBracket => {
                    self.cur.advance();
                    return Ok(out);
                }
                TokenKind::Number | TokenKind::Sub | TokenKind::Add => {}
                _ => return Err(self.cur.unexpected(CONTEXT, "number or \"]\"")),
            }
        }
    }
}

fn histogram_value(histogram: FloatHistogram, counter_reset_hint_set: bool) -> SeriesValue {
    SeriesValue::Histogram(Box::new(HistogramValue {
        histogram,
        counter_reset_hint_set,
    }))
}

/// The histogram the descriptors describe: one span per side starting at its offset.
fn build_histogram(f: HistogramFields) -> (FloatHistogram, bool) {
    let spans = |buckets: &[f64], offset: Option<i64>| {
        if buckets.is_empty() {
            Vec::new()
        } else {
            vec![Span {
                offset: offset.unwrap_or(0) as i32,
                length: buckets.len() as u32,
            }]
        }
    };
    let positive = f.buckets.unwrap_or_default();
    let negative = f.negative_buckets.unwrap_or_default();
    let h = FloatHistogram {
        counter_reset_hint: f.hint.unwrap_or_default(),
        schema: f.schema.unwrap_or(0) as i32,
        zero_threshold: f.zero_threshold.unwrap_or(0.0),
        zero_count: f.zero_count.unwrap_or(0.0),
        count: f.count.unwrap_or(0.0),
        sum: f.sum.unwrap_or(0.0),
        positive_spans: spans(&positive, f.offset),
        negative_spans: spans(&negative, f.negative_offset),
        positive_buckets: positive,
        negative_buckets: negative,
        custom_values: f.custom_values.unwrap_or_default(),
    };
    (h, f.hint.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    fn floats(input: &str) -> Vec<Option<f64>> {
        let (_, v) = parse_series_desc(input).unwrap();
        v.into_iter().map(|v| v.and_then(|v| v.as_f64())).collect()
    }

    #[test]
    fn expansions_like_upstream() {
        assert_eq!(floats("{} 1 2 3"), vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(
            floats(r#"my_metric{a="b"} 1 2 3-10x4"#),
            [1.0, 2.0, 3.0, -7.0, -17.0, -27.0, -37.0]
                .map(Some)
                .to_vec()
        );
        assert_eq!(floats("{} 1x0"), vec![Some(1.0)]);
        assert_eq!(
            floats(r#"m 1 3 _ 5 _x4"#),
            vec![
                Some(1.0),
                Some(3.0),
                None,
                Some(5.0),
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(
            floats("m 1 -1 -3-10x4 7 9 +5"),
            [1.0, -1.0, -3.0, -13.0, -23.0, -33.0, -43.0, 7.0, 9.0, 5.0]
                .map(Some)
                .to_vec()
        );
        assert_eq!(floats("m 1 2 3    "), vec![Some(1.0), Some(2.0), Some(3.0)]);
        let (l, v) = parse_series_desc(r#"my_metric{a="\u70ac = torch"} stale"#).unwrap();
        assert_eq!(l, labels!("__name__" => "my_metric", "a" => "炬 = torch"));
        assert_eq!(v, vec![Some(SeriesValue::Stale)]);
        let (l, _) =
            parse_series_desc(r#"{"http.requests", "service.name"="api-server"}		0+50x2"#).unwrap();
        assert_eq!(
            l,
            labels!("__name__" => "http.requests", "service.name" => "api-server")
        );
        assert_eq!(parse_series_desc("").unwrap(), (Labels::empty(), vec![]));
    }

    #[test]
    fn failures_like_upstream() {
        for bad in [
            "{} 1+1",
            "m 1 3 _ 5 _a4",
            "m -3-3 -3",
            "m -3 -3-3",
            "m -3 _-2",
            "m -3 3+3x4-4",
        ] {
            assert!(parse_series_desc(bad).is_err(), "{bad}");
        }
        let e = parse_series_desc(r#"{"http.requests"xx}		0+50x2"#).unwrap_err();
        assert!(e.to_string().contains(
            r#"parse error: unexpected identifier "xx" in label set, expected "," or "}""#
        ));
        let e = parse_series_desc(r#"{"http.requests"=, x="y"}		0+50x2"#).unwrap_err();
        assert!(
            e.to_string()
                .contains(r#"parse error: unexpected "," in label set, expected string"#)
        );
        let e = parse_series_desc(r#"{"http.requests}		0+50x2"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("parse error: unterminated quoted string")
        );
        assert!(parse_series_desc("m 1x99999999999").is_err());
    }

    fn histograms(input: &str) -> Vec<FloatHistogram> {
        let (_, v) = parse_series_desc(input).unwrap();
        v.into_iter()
            .map(|v| match v {
                Some(SeriesValue::Histogram(h)) => h.histogram,
                other => panic!("not a histogram: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn histograms_like_upstream() {
        assert_eq!(histograms("{} {{}}"), vec![FloatHistogram::default()]);
        assert_eq!(histograms("{} {{ }}"), vec![FloatHistogram::default()]);
        let h = &histograms(
            "{} {{schema:1 sum:-0.3 count:-3.1 z_bucket:-7.1 z_bucket_w:0.05 buckets:[-5.1 -10 -7] offset:-3 n_buckets:[-4.1 -5] n_offset:-5 counter_reset_hint:gauge}}",
        )[0];
        assert_eq!(h.schema, 1);
        assert_eq!(h.sum, -0.3);
        assert_eq!(h.count, -3.1);
        assert_eq!(h.zero_count, -7.1);
        assert_eq!(h.zero_threshold, 0.05);
        assert_eq!(h.positive_buckets, vec![-5.1, -10.0, -7.0]);
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: -3,
                length: 3
            }]
        );
        assert_eq!(
            h.negative_spans,
            vec![Span {
                offset: -5,
                length: 2
            }]
        );
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        assert_eq!(histograms("{} {{buckets:[5 10 7] schema:1}}x2").len(), 3);
        let sums: Vec<f64> = histograms("{} {{sum:1}}+{{sum:1}}x2 {{sum:2}}+{{sum:2}}x2")
            .iter()
            .map(|h| h.sum)
            .collect();
        assert_eq!(sums, vec![1.0, 2.0, 3.0, 2.0, 4.0, 6.0]);
        let dec = histograms("{} {{buckets:[5 10 7] schema:1}}-{{buckets:[1 2 3] schema:1}}x2");
        assert_eq!(dec[2].positive_buckets, vec![3.0, 6.0, 1.0]);
        assert!(parse_series_desc("{} {{schema:1}}+{{schema:0}}x2").is_err());
        assert!(parse_series_desc("{} {{sum:1 sum:2}}").is_err());
    }
}
