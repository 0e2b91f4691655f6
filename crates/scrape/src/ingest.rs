//! One scrape's body into the storage: parse, look each series up in the cache (labels
//! and relabeling only on a miss), apply the limits, append, emit staleness markers for
//! series that disappeared, and the report series (upstream's `scrapeLoop.append`,
//! `report` and `reportStale`).
//!
//! Everything here is synchronous and works on a caller's [`Appender`]; the scrape loop
//! decides about commit and rollback.

use std::borrow::Cow;
use std::time::Duration;

use hashbrown::HashMap;
use hearth_config::ScrapeConfig;
use hearth_exposition::{Entry, LabelPair};
use hearth_model::histogram::{
    EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN, is_exponential_schema,
};
use hearth_model::names::go_quote;
use hearth_model::{
    Exemplar, HistogramValue, Labels, LabelsBuilder, METRIC_NAME, Metadata, MetricType, Timestamp,
    ValidationScheme, is_stale_nan, stale_nan,
};
use hearth_relabel::RelabelConfig;
use hearth_tsdb::storage::{AppendError, Appender, SeriesRef};

use crate::cache::{MetaEntry, ScrapeCache, set_meta};
use crate::error::ScrapeError;
use crate::format::{Format, Parser, select_format};
use crate::nhcb::{NhcbCollector, OwnedSample};

/// Samples further than this in the future are out of bounds (upstream's `maxAheadTime`).
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// How one target's scrapes are ingested: the parts of the scrape config and the target
/// that shape samples.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The target's public labels (no `__` labels), added to every sample.
    pub target_labels: Labels,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// 0: no limit.
    pub sample_limit: usize,
    /// `native_histogram_bucket_limit`; 0: no limit.
    pub bucket_limit: usize,
    /// Highest schema kept (from `native_histogram_min_bucket_factor`).
    pub max_schema: i32,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    pub validation_scheme: ValidationScheme,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    /// Classic histograms become native histograms with custom buckets.
    pub convert_classic_histograms_to_nhcb: bool,
    pub fallback_format: Option<Format>,
    /// Send metadata to the appender (upstream's `metadata-wal-records` feature).
    pub append_metadata: bool,
    /// Also report `scrape_timeout_seconds`, `scrape_sample_limit`, `scrape_body_size_bytes`.
    pub extra_metrics: bool,
    pub timeout: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            target_labels: Labels::empty(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            bucket_limit: 0,
            max_schema: EXPONENTIAL_SCHEMA_MAX,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            validation_scheme: ValidationScheme::Utf8,
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            fallback_format: None,
            append_metadata: false,
            extra_metrics: false,
            timeout: Duration::from_secs(10),
        }
    }
}

fn limit(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Upstream's `pickSchema`: the highest schema whose bucket growth factor is at least
/// `native_histogram_min_bucket_factor`.
pub fn pick_schema(factor: f64) -> i32 {
    let factor = if factor <= 1.0 { 1.00271 } else { factor };
    let floor = (-factor.log2().log2()).floor();
    if floor >= f64::from(EXPONENTIAL_SCHEMA_MAX) {
        EXPONENTIAL_SCHEMA_MAX
    } else if floor <= f64::from(EXPONENTIAL_SCHEMA_MIN) {
        EXPONENTIAL_SCHEMA_MIN
    } else {
        floor as i32
    }
}

impl IngestConfig {
    /// The settings of a (validated) scrape config for a target with `target_labels`.
    pub fn new(cfg: &ScrapeConfig, target_labels: Labels, timeout: Duration) -> IngestConfig {
        IngestConfig {
            target_labels,
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            metric_relabel_configs: cfg.metric_relabel_configs.clone(),
            sample_limit: limit(cfg.sample_limit),
            bucket_limit: limit(cfg.native_histogram_bucket_limit),
            max_schema: pick_schema(cfg.native_histogram_min_bucket_factor),
            label_limit: limit(cfg.label_limit),
            label_name_length_limit: limit(cfg.label_name_length_limit),
            label_value_length_limit: limit(cfg.label_value_length_limit),
            validation_scheme: cfg.validation_scheme(),
            scrape_native_histograms: cfg.scrape_native_histograms.unwrap_or(false),
            always_scrape_classic_histograms: cfg.always_scrape_classic_histograms.unwrap_or(false),
            convert_classic_histograms_to_nhcb: cfg
                .convert_classic_histograms_to_nhcb
                .unwrap_or(false),
            fallback_format: cfg.fallback_scrape_protocol.map(Format::of_protocol),
            append_metadata: false,
            extra_metrics: cfg.extra_scrape_metrics.unwrap_or(false),
            timeout,
        }
    }

    /// Upstream's `mutateSampleLabels`: target labels (exposed ones win with
    /// `honor_labels`, else they are kept as `exported_<name>`), then metric relabeling.
    /// `None`: dropped.
    fn mutate(&self, exposed: Labels) -> Option<Labels> {
        let mut lb = exposed.builder();
        if self.honor_labels {
            for l in &self.target_labels {
                if !exposed.has(l.name.as_str()) {
                    lb.set(l.name.as_str(), l.value.as_str());
                }
            }
        } else {
            let mut conflicts: Vec<(&str, &str)> = Vec::new();
            for l in &self.target_labels {
                if let Some(v) = exposed.get(l.name.as_str()) {
                    conflicts.push((l.name.as_str(), v));
                }
                lb.set(l.name.as_str(), l.value.as_str());
            }
            if !conflicts.is_empty() {
                resolve_conflicts(&mut lb, &mut conflicts);
            }
        }
        if !hearth_relabel::process_builder(&mut lb, &self.metric_relabel_configs) {
            return None;
        }
        let l = lb.labels();
        (!l.is_empty()).then_some(l)
    }
}

/// Upstream's `resolveConflictingExposedLabels`: shortest names first, each renamed to
/// the first free `exported_…exported_<name>`.
fn resolve_conflicts(lb: &mut LabelsBuilder, conflicts: &mut [(&str, &str)]) {
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts.iter() {
        let mut new_name = (*name).to_string();
        loop {
            new_name.insert_str(0, "exported_");
            if lb.get(&new_name).is_none_or(str::is_empty) {
                lb.set(&new_name, value);
                break;
            }
        }
    }
}

/// Go's `%.50s`: at most 50 characters.
fn trunc50(s: &str) -> &str {
    match s.char_indices().nth(50) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn verify_label_limits(lset: &Labels, cfg: &IngestConfig) -> Result<(), ScrapeError> {
    let met = trunc50(lset.get_or_empty(METRIC_NAME));
    if cfg.label_limit > 0 && lset.len() > cfg.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {met}, number of labels: {}, limit: {})",
            lset.len(),
            cfg.label_limit
        )));
    }
    if cfg.label_name_length_limit == 0 && cfg.label_value_length_limit == 0 {
        return Ok(());
    }
    for l in lset {
        let (n, v) = (l.name.as_str(), l.value.as_str());
        if cfg.label_name_length_limit > 0 && n.len() > cfg.label_name_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {met}, label name: {}, length: {}, limit: {})",
                trunc50(n),
                n.len(),
                cfg.label_name_length_limit
            )));
        }
        if cfg.label_value_length_limit > 0 && v.len() > cfg.label_value_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {met}, label name: {}, value: {}, length: {}, limit: {})",
                trunc50(n),
                go_quote(trunc50(v)),
                v.len(),
                cfg.label_value_length_limit
            )));
        }
    }
    Ok(())
}

fn validate_labels(lset: &Labels, scheme: ValidationScheme) -> Result<(), ScrapeError> {
    let Some(name) = lset.metric_name() else {
        return Err(ScrapeError::NameLabelMandatory);
    };
    let valid = scheme.is_valid_metric_name(name)
        && lset
            .iter()
            .all(|l| scheme.is_valid_label_name(l.name.as_str()));
    if valid {
        Ok(())
    } else {
        Err(ScrapeError::InvalidLabels(lset.to_string()))
    }
}

fn exposed_labels(name: &str, labels: &[LabelPair<'_>]) -> Labels {
    Labels::new(
        std::iter::once((METRIC_NAME, name))
            .chain(labels.iter().map(|l| (l.name.as_ref(), l.value.as_ref()))),
    )
}

/// Counts of one scrape, for the report series.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples in the body (`scrape_samples_scraped`).
    pub total: usize,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: usize,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: usize,
}

/// Why one sample was not added.
enum AddError {
    SampleLimit,
    BucketLimit,
    Storage(AppendError),
}

/// Append errors that drop only the sample, counted and logged once per scrape.
#[derive(Default)]
struct AppendErrors {
    out_of_order: usize,
    duplicates: usize,
    out_of_bounds: usize,
    exemplar_out_of_order: usize,
}

impl AppendErrors {
    /// One warning per kind of dropped sample, as upstream logs them after a scrape.
    fn log(&self) {
        for (n, what) in [
            (self.out_of_order, "Error on ingesting out-of-order samples"),
            (
                self.duplicates,
                "Error on ingesting samples with different value but same timestamp",
            ),
            (
                self.out_of_bounds,
                "Error on ingesting samples that are too old or are too far into the future",
            ),
            (
                self.exemplar_out_of_order,
                "Error on ingesting out-of-order exemplars",
            ),
        ] {
            if n > 0 {
                tracing::warn!(num_dropped = n, "{what}");
            }
        }
    }
}

/// A histogram's schema and number of buckets.
fn schema_and_buckets(h: &HistogramValue) -> (i32, usize) {
    match h {
        HistogramValue::Integer(h) => (
            h.schema,
            h.positive_buckets.len() + h.negative_buckets.len(),
        ),
        HistogramValue::Float(h) => (
            h.schema,
            h.positive_buckets.len() + h.negative_buckets.len(),
        ),
    }
}

/// Applies the bucket limit and maximum schema (upstream's `bucketLimitAppender` and
/// `maxSchemaAppender`), reducing resolution where allowed.
fn limit_histogram<'h>(
    h: &'h HistogramValue,
    bucket_limit: usize,
    max_schema: i32,
) -> Result<Cow<'h, HistogramValue>, AddError> {
    let (schema, buckets) = schema_and_buckets(h);
    let mut out = Cow::Borrowed(h);
    let reduce = |v: &mut HistogramValue, to: i32| {
        let r = match v {
            HistogramValue::Integer(h) => h.reduce_resolution(to),
            HistogramValue::Float(h) => h.reduce_resolution(to),
        };
        r.map_err(|e| AddError::Storage(AppendError::InvalidHistogram(e.to_string())))
    };
    if is_exponential_schema(schema) && schema > max_schema {
        reduce(out.to_mut(), max_schema)?;
    }
    if bucket_limit > 0 && buckets > bucket_limit {
        if !is_exponential_schema(schema) {
            return Err(AddError::BucketLimit);
        }
        loop {
            let (schema, buckets) = schema_and_buckets(&out);
            if buckets <= bucket_limit {
                break;
            }
            if schema <= EXPONENTIAL_SCHEMA_MIN {
                return Err(AddError::BucketLimit);
            }
            reduce(out.to_mut(), schema - 1)?;
        }
    }
    Ok(out)
}

/// Upstream's `isSeriesPartOfFamily`.
fn is_series_part_of_family(name: &str, family: &str, t: MetricType) -> bool {
    if !name.starts_with(family) {
        return false;
    }
    let cut = |s: &'_ str, suffixes: &[&str]| -> String {
        for suf in suffixes {
            if let Some(p) = s.strip_suffix(suf) {
                return p.to_string();
            }
        }
        s.to_string()
    };
    let (mf, got) = match t {
        MetricType::Counter => (cut(family, &["_total"]), cut(name, &["_total"])),
        MetricType::Histogram => (
            family.to_string(),
            cut(name, &["_bucket", "_sum", "_count"]),
        ),
        MetricType::GaugeHistogram => (
            family.to_string(),
            cut(name, &["_bucket", "_gsum", "_gcount"]),
        ),
        MetricType::Summary => (family.to_string(), cut(name, &["_sum", "_count"])),
        MetricType::Info => (cut(family, &["_info"]), cut(name, &["_info"])),
        _ => (family.to_string(), name.to_string()),
    };
    mf == got
}

/// Per-scrape bookkeeping of [`ScrapeCache::append`].
struct AppendState {
    max_time: Timestamp,
    iter: u64,
    /// Family of the last metadata line (for `append_metadata`).
    last_family: String,
    sample_limit_hit: bool,
    bucket_limit_hit: bool,
    /// Samples counted against `sample_limit`.
    appended: usize,
    errs: AppendErrors,
    exemplars: Vec<Exemplar>,
}

impl AppendState {
    /// A HELP, TYPE or UNIT line: updates the family's metadata.
    fn note_metadata(
        &mut self,
        cfg: &IngestConfig,
        meta: &mut HashMap<String, MetaEntry>,
        family: &str,
        update: impl FnOnce(&mut Metadata) -> bool,
    ) {
        set_meta(meta, self.iter, family, update);
        if cfg.append_metadata {
            family.clone_into(&mut self.last_family);
        }
    }
}

/// What one parsed sample carries, whatever its kind.
struct Sample<'e> {
    series: &'e [u8],
    name: &'e str,
    labels: &'e [LabelPair<'e>],
    value: f64,
    histogram: Option<&'e HistogramValue>,
    timestamp: Option<Timestamp>,
    exemplars: &'e [Exemplar],
}

impl ScrapeCache {
    /// Ingests one scrape body into `app` at `ts` (milliseconds). An empty body is a
    /// failed scrape: only staleness markers for the previous scrape's series are
    /// appended. On `Err` the caller must roll `app` back (and then call
    /// [`ScrapeCache::append_failed`]).
    pub fn append(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        body: &[u8],
        content_type: &str,
        ts: Timestamp,
    ) -> (AppendStats, Result<(), ScrapeError>) {
        if body.is_empty() {
            let r = self.update_stale_markers(app, ts);
            self.iter_done(false);
            return (AppendStats::default(), r);
        }
        let format = match select_format(content_type, cfg.fallback_format) {
            Ok((f, why)) => {
                if let Some(why) = why {
                    tracing::debug!(content_type, "{why}");
                }
                f
            }
            Err(e) => return (AppendStats::default(), Err(ScrapeError::ContentType(e))),
        };
        let mut parser = match Parser::new(
            body,
            format,
            cfg.scrape_native_histograms,
            cfg.always_scrape_classic_histograms,
        ) {
            Ok(p) => p,
            Err(e) => return (AppendStats::default(), Err(ScrapeError::Parse(e))),
        };
        let mut stats = AppendStats::default();
        let r = self.append_entries(cfg, app, &mut parser, ts, &mut stats);
        if r.is_ok() {
            self.iter_done(true);
        }
        (stats, r)
    }

    /// After a failed append was rolled back: nothing of it reached the storage, so the
    /// previous scrape's series all get staleness markers (on the fresh appender `app`).
    pub fn append_failed(
        &mut self,
        app: &mut dyn Appender,
        ts: Timestamp,
    ) -> Result<(), ScrapeError> {
        self.untrack_current();
        let r = self.update_stale_markers(app, ts);
        self.iter_done(false);
        r
    }

    fn append_entries(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        parser: &mut Parser<'_>,
        ts: Timestamp,
        stats: &mut AppendStats,
    ) -> Result<(), ScrapeError> {
        let metadata = std::sync::Arc::clone(&self.metadata);
        let mut meta = metadata.map.lock();
        let mut st = AppendState {
            max_time: hearth_model::sample::now_ms().saturating_add(MAX_AHEAD_MS),
            iter: self.iter,
            last_family: String::new(),
            sample_limit_hit: false,
            bucket_limit_hit: false,
            appended: 0,
            errs: AppendErrors::default(),
            exemplars: Vec::new(),
        };
        let mut nhcb = cfg
            .convert_classic_histograms_to_nhcb
            .then(NhcbCollector::default);
        loop {
            let entry = match parser.next() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => return Err(ScrapeError::Parse(e)),
            };
            let family_of_entry = match &entry {
                Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => {
                    Some(name.as_ref())
                }
                _ => None,
            };
            if let (Some(c), Some(f)) = (nhcb.as_mut(), family_of_entry)
                && c.family() != f
                && !c.family().is_empty()
            {
                let done = c.finish();
                self.append_owned(cfg, app, &done, ts, stats, &mut meta, &mut st)?;
            }
            let s = match &entry {
                Entry::Help { name, help } => {
                    st.note_metadata(cfg, &mut meta, name, |m| set_if_changed(&mut m.help, help));
                    continue;
                }
                Entry::Type { name, metric_type } => {
                    st.note_metadata(cfg, &mut meta, name, |m| {
                        let changed = m.metric_type != *metric_type;
                        m.metric_type = *metric_type;
                        changed
                    });
                    if let Some(c) = nhcb.as_mut() {
                        c.start(if *metric_type == MetricType::Histogram {
                            name
                        } else {
                            ""
                        });
                    }
                    continue;
                }
                Entry::Unit { name, unit } => {
                    st.note_metadata(cfg, &mut meta, name, |m| set_if_changed(&mut m.unit, unit));
                    continue;
                }
                Entry::Comment(_) => continue,
                Entry::Sample(s) => Sample {
                    series: s.series,
                    name: &s.name,
                    labels: s.labels,
                    value: s.value,
                    histogram: None,
                    timestamp: s.timestamp,
                    exemplars: s.exemplars,
                },
                Entry::Histogram(h) => {
                    if !cfg.scrape_native_histograms {
                        // The parser reads histograms as classic ones then; never here.
                        continue;
                    }
                    Sample {
                        series: h.series,
                        name: &h.name,
                        labels: h.labels,
                        value: 0.0,
                        histogram: Some(h.histogram),
                        timestamp: h.timestamp,
                        exemplars: h.exemplars,
                    }
                }
            };
            if let Some(c) = nhcb.as_mut()
                && s.histogram.is_none()
            {
                match c.part(s.name) {
                    Some(part) => {
                        let keep = cfg.always_scrape_classic_histograms;
                        c.add(
                            part,
                            s.series,
                            s.name,
                            s.labels,
                            s.value,
                            s.timestamp,
                            s.exemplars,
                            keep,
                        );
                        if !keep {
                            continue;
                        }
                    }
                    None if !c.family().is_empty() => {
                        let done = c.finish();
                        self.append_owned(cfg, app, &done, ts, stats, &mut meta, &mut st)?;
                    }
                    None => {}
                }
            }
            self.append_sample(cfg, app, &s, ts, stats, &mut meta, &mut st)?;
        }
        if let Some(c) = nhcb.as_mut() {
            let done = c.finish();
            self.append_owned(cfg, app, &done, ts, stats, &mut meta, &mut st)?;
        }
        drop(meta);
        st.errs.log();
        crate::stats::add(&crate::stats::OUT_OF_ORDER, st.errs.out_of_order as u64);
        crate::stats::add(
            &crate::stats::DUPLICATE_TIMESTAMP,
            st.errs.duplicates as u64,
        );
        crate::stats::add(&crate::stats::OUT_OF_BOUNDS, st.errs.out_of_bounds as u64);
        if st.sample_limit_hit {
            crate::stats::inc(&crate::stats::SAMPLE_LIMIT);
            return Err(ScrapeError::SampleLimit);
        }
        if st.bucket_limit_hit {
            return Err(ScrapeError::BucketLimit);
        }
        self.update_stale_markers(app, ts)
    }

    #[allow(clippy::too_many_arguments)]
    fn append_owned(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        samples: &[OwnedSample],
        ts: Timestamp,
        stats: &mut AppendStats,
        meta: &mut HashMap<String, MetaEntry>,
        st: &mut AppendState,
    ) -> Result<(), ScrapeError> {
        for o in samples {
            let s = Sample {
                series: &o.key,
                name: &o.name,
                labels: &o.labels,
                value: o.value,
                histogram: o.histogram.as_ref(),
                timestamp: o.timestamp,
                exemplars: &o.exemplars,
            };
            self.append_sample(cfg, app, &s, ts, stats, meta, st)?;
        }
        Ok(())
    }

    /// One sample: cache lookup (labels and relabeling on a miss), limits, append,
    /// staleness tracking, exemplars and metadata.
    #[allow(clippy::too_many_arguments)]
    fn append_sample(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        s: &Sample<'_>,
        ts: Timestamp,
        stats: &mut AppendStats,
        meta: &mut HashMap<String, MetaEntry>,
        st: &mut AppendState,
    ) -> Result<(), ScrapeError> {
        stats.total += 1;
        let parsed_ts = if cfg.honor_timestamps {
            s.timestamp
        } else {
            None
        };
        let t = parsed_ts.unwrap_or(ts);
        if self.is_dropped(s.series) {
            return Ok(());
        }
        let cached = self.get(s.series);
        let new_labels = match cached {
            Some(_) => None,
            None => {
                let Some(lset) = cfg.mutate(exposed_labels(s.name, s.labels)) else {
                    self.add_dropped(s.series);
                    return Ok(());
                };
                validate_labels(&lset, cfg.validation_scheme)?;
                verify_label_limits(&lset, cfg)
                    .inspect_err(|_| crate::stats::inc(&crate::stats::LABEL_LIMITS))?;
                Some(lset)
            }
        };
        let (prev_ref, lset) = match (cached, &new_labels) {
            (Some((id, _)), _) => {
                let e = self.entry(id);
                (Some(e.series_ref), &e.labels)
            }
            (None, Some(l)) => (None, l),
            (None, None) => return Ok(()),
        };
        let res: Result<SeriesRef, AddError> =
            if cached.is_some_and(|(_, already)| already) && parsed_ts.is_none() {
                Err(AddError::Storage(AppendError::DuplicateSampleForTimestamp))
            } else {
                add_sample(
                    cfg,
                    app,
                    prev_ref,
                    lset,
                    t,
                    s,
                    st.max_time,
                    &mut st.appended,
                )
            };
        let mut sample_ref = None;
        match res {
            Ok(r) => sample_ref = Some(r),
            Err(AddError::SampleLimit) => st.sample_limit_hit = true,
            Err(AddError::BucketLimit) => st.bucket_limit_hit = true,
            Err(AddError::Storage(AppendError::OutOfOrderSample)) => st.errs.out_of_order += 1,
            Err(AddError::Storage(AppendError::DuplicateSampleForTimestamp)) => {
                st.errs.duplicates += 1
            }
            Err(AddError::Storage(AppendError::OutOfBounds)) => st.errs.out_of_bounds += 1,
            Err(AddError::Storage(e)) => {
                tracing::debug!(series = %String::from_utf8_lossy(s.series), err = %e, "unexpected append error");
                return Err(ScrapeError::Append(e));
            }
        }
        let track = parsed_ts.is_none() || cfg.track_timestamps_staleness;
        let id = match (cached, sample_ref, new_labels) {
            (Some((id, _)), Some(r), _) => {
                // The storage may have re-created the series (after garbage collection).
                self.set_ref(id, r);
                if track {
                    self.track_staleness(id);
                }
                Some(id)
            }
            (None, Some(r), Some(lset)) => {
                let id = self.add_ref(s.series, r, lset);
                if track {
                    self.track_staleness(id);
                }
                if !st.sample_limit_hit && !st.bucket_limit_hit {
                    stats.series_added += 1;
                }
                Some(id)
            }
            _ => None,
        };
        stats.added += 1;
        let (Some(id), Some(r)) = (id, sample_ref) else {
            return Ok(());
        };
        if !s.exemplars.is_empty() {
            let exemplars = &mut st.exemplars;
            exemplars.clear();
            for e in s.exemplars {
                let mut e = e.clone();
                if e.timestamp.is_none() {
                    if s.histogram.is_some() {
                        // Native histogram exemplars need their own timestamp.
                        continue;
                    }
                    e.timestamp = Some(t);
                }
                exemplars.push(e);
            }
            exemplars.sort_by(|a, b| {
                a.timestamp
                    .cmp(&b.timestamp)
                    .then(a.value.total_cmp(&b.value))
                    .then_with(|| a.labels.cmp(&b.labels))
            });
            let lset = &self.entry(id).labels;
            let mut ooo = 0;
            for e in exemplars.iter() {
                match app.append_exemplar(r, lset, e) {
                    Ok(_) => {}
                    Err(AppendError::OutOfOrderExemplar) => ooo += 1,
                    Err(err) => tracing::debug!(%err, "error while adding exemplar"),
                }
            }
            if ooo > 0 && ooo == exemplars.len() {
                st.errs.exemplar_out_of_order += ooo;
                crate::stats::add(&crate::stats::EXEMPLAR_OUT_OF_ORDER, ooo as u64);
            }
        }
        if cfg.append_metadata
            && !st.last_family.is_empty()
            && let Some(m) = meta.get(&st.last_family)
            && (cached.is_none() || m.last_iter_change == st.iter)
            && is_series_part_of_family(s.name, &st.last_family, m.meta.metric_type)
        {
            let lset = &self.entry(id).labels;
            if let Err(err) = app.update_metadata(r, lset, &m.meta) {
                tracing::debug!(%err, "error when appending metadata");
            }
        }
        Ok(())
    }

    /// Stale markers for series of the previous scrape that this one did not append.
    fn update_stale_markers(
        &mut self,
        app: &mut dyn Appender,
        ts: Timestamp,
    ) -> Result<(), ScrapeError> {
        for e in self.stale_series() {
            match app.append(Some(e.series_ref), &e.labels, ts, stale_nan()) {
                Ok(_)
                | Err(AppendError::OutOfOrderSample)
                | Err(AppendError::DuplicateSampleForTimestamp) => {}
                Err(err) => return Err(ScrapeError::Append(err)),
            }
        }
        Ok(())
    }
}

fn set_if_changed(field: &mut String, v: &str) -> bool {
    if field == v {
        return false;
    }
    v.clone_into(field);
    true
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn add_sample(
    cfg: &IngestConfig,
    app: &mut dyn Appender,
    prev_ref: Option<SeriesRef>,
    lset: &Labels,
    t: Timestamp,
    s: &Sample<'_>,
    max_time: Timestamp,
    appended: &mut usize,
) -> Result<SeriesRef, AddError> {
    match s.histogram {
        Some(h) => {
            let h = limit_histogram(h, cfg.bucket_limit, cfg.max_schema)?;
            count_sample(cfg, prev_ref, false, appended)?;
            if t > max_time {
                return Err(AddError::Storage(AppendError::OutOfBounds));
            }
            app.append_histogram(prev_ref, lset, t, &h)
                .map_err(AddError::Storage)
        }
        None => {
            count_sample(cfg, prev_ref, is_stale_nan(s.value), appended)?;
            if t > max_time {
                return Err(AddError::Storage(AppendError::OutOfBounds));
            }
            app.append(prev_ref, lset, t, s.value)
                .map_err(AddError::Storage)
        }
    }
}

/// Upstream's `limitAppender`: staleness markers of known series are never counted.
#[inline]
fn count_sample(
    cfg: &IngestConfig,
    prev_ref: Option<SeriesRef>,
    stale: bool,
    appended: &mut usize,
) -> Result<(), AddError> {
    if cfg.sample_limit == 0 || (prev_ref.is_some() && stale) {
        return Ok(());
    }
    *appended += 1;
    if *appended > cfg.sample_limit {
        return Err(AddError::SampleLimit);
    }
    Ok(())
}

/// What the report series say about one scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrapeReport {
    pub healthy: bool,
    pub duration: Duration,
    pub stats: AppendStats,
    /// Uncompressed body size; -1 when the body size limit was hit.
    pub body_bytes: i64,
}

struct ReportSeries {
    name: &'static str,
    help: &'static str,
    unit: &'static str,
}

const REPORT_SERIES: [ReportSeries; 8] = [
    ReportSeries {
        name: "up",
        help: "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed.",
        unit: "targets",
    },
    ReportSeries {
        name: "scrape_duration_seconds",
        help: "Duration of the last scrape in seconds.",
        unit: "seconds",
    },
    ReportSeries {
        name: "scrape_samples_scraped",
        help: "Number of samples last scraped.",
        unit: "samples",
    },
    ReportSeries {
        name: "scrape_samples_post_metric_relabeling",
        help: "Number of samples remaining after metric relabeling was applied.",
        unit: "samples",
    },
    ReportSeries {
        name: "scrape_series_added",
        help: "Number of series in the last scrape.",
        unit: "series",
    },
    ReportSeries {
        name: "scrape_timeout_seconds",
        help: "The configured scrape timeout for a target.",
        unit: "seconds",
    },
    ReportSeries {
        name: "scrape_sample_limit",
        help: "The configured sample limit for a target. Returns zero if there is no limit configured.",
        unit: "samples",
    },
    ReportSeries {
        name: "scrape_body_size_bytes",
        help: "The uncompressed size of the last scrape response, if successful. Scrapes failing because body_size_limit is exceeded report -1, other scrape failures report 0.",
        unit: "bytes",
    },
];

impl ScrapeCache {
    /// Appends the report series of a scrape at `ts`.
    pub fn report(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        ts: Timestamp,
        r: &ScrapeReport,
    ) -> Result<(), AppendError> {
        let mut values = vec![
            if r.healthy { 1.0 } else { 0.0 },
            r.duration.as_secs_f64(),
            r.stats.total as f64,
            r.stats.added as f64,
            r.stats.series_added as f64,
        ];
        if cfg.extra_metrics {
            values.extend([
                cfg.timeout.as_secs_f64(),
                cfg.sample_limit as f64,
                r.body_bytes as f64,
            ]);
        }
        for (i, v) in values.into_iter().enumerate() {
            self.add_report_sample(cfg, app, i, ts, v)?;
        }
        Ok(())
    }

    /// Staleness markers for the report series (the target went away).
    pub fn report_stale(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        ts: Timestamp,
    ) -> Result<(), AppendError> {
        let n = if cfg.extra_metrics { 8 } else { 5 };
        for i in 0..n {
            self.add_report_sample(cfg, app, i, ts, stale_nan())?;
        }
        Ok(())
    }

    fn add_report_sample(
        &mut self,
        cfg: &IngestConfig,
        app: &mut dyn Appender,
        i: usize,
        ts: Timestamp,
        v: f64,
    ) -> Result<(), AppendError> {
        let spec = &REPORT_SERIES[i];
        let (prev, lset) = match &self.report[i] {
            Some((r, l)) => (Some(*r), l.clone()),
            None => {
                let mut lb = cfg.target_labels.builder();
                lb.set(METRIC_NAME, spec.name);
                (None, lb.labels())
            }
        };
        match app.append(prev, &lset, ts, v) {
            Ok(r) => {
                if prev.is_none() {
                    if cfg.append_metadata {
                        let m = Metadata {
                            metric_type: MetricType::Gauge,
                            help: spec.help.into(),
                            unit: spec.unit.into(),
                        };
                        if let Err(err) = app.update_metadata(r, &lset, &m) {
                            tracing::debug!(%err, "error when appending report metadata");
                        }
                    }
                    self.report[i] = Some((r, lset));
                }
                Ok(())
            }
            Err(AppendError::OutOfOrderSample | AppendError::DuplicateSampleForTimestamp) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    #[test]
    fn conflicts_get_exported_prefix() {
        let cfg = IngestConfig {
            target_labels: labels!("job" => "j", "instance" => "i"),
            ..IngestConfig::default()
        };
        let l = cfg
            .mutate(labels!("__name__" => "m", "job" => "x", "exported_job" => "y"))
            .unwrap();
        assert_eq!(
            l.to_string(),
            r#"{__name__="m", exported_exported_job="x", exported_job="y", instance="i", job="j"}"#
        );
        let honor = IngestConfig {
            honor_labels: true,
            ..cfg
        };
        let l = honor
            .mutate(labels!("__name__" => "m", "job" => "x"))
            .unwrap();
        assert_eq!(l.to_string(), r#"{__name__="m", instance="i", job="x"}"#);
    }

    #[test]
    fn label_limit_messages() {
        let cfg = IngestConfig {
            label_value_length_limit: 3,
            ..IngestConfig::default()
        };
        let e = verify_label_limits(&labels!("__name__" => "m", "a" => "abcd"), &cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"label_value_length_limit exceeded (metric: m, label name: a, value: "abcd", length: 4, limit: 3)"#
        );
        let cfg = IngestConfig {
            label_limit: 1,
            ..IngestConfig::default()
        };
        let e = verify_label_limits(&labels!("__name__" => "m", "a" => "b"), &cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            "label_limit exceeded (metric: m, number of labels: 2, limit: 1)"
        );
    }

    #[test]
    fn schema_from_bucket_factor() {
        assert_eq!(pick_schema(0.0), 8);
        assert_eq!(pick_schema(1.1), 2);
        assert_eq!(pick_schema(2.0), 0);
        assert_eq!(pick_schema(1e9), -4);
    }

    #[test]
    fn family_membership() {
        assert!(is_series_part_of_family(
            "a_total",
            "a",
            MetricType::Counter
        ));
        assert!(is_series_part_of_family(
            "h_bucket",
            "h",
            MetricType::Histogram
        ));
        assert!(!is_series_part_of_family(
            "h_other",
            "h",
            MetricType::Histogram
        ));
        assert!(is_series_part_of_family("g", "g", MetricType::Gauge));
    }
}

#[cfg(test)]
mod append_tests {
    use super::*;
    use hearth_model::labels;
    use hearth_tsdb::mem_storage::MemStorage;
    use hearth_tsdb::storage::{Appendable, Queryable};

    fn names(st: &MemStorage) -> Vec<String> {
        let q = st.querier(i64::MIN, i64::MAX).unwrap();
        q.label_values("__name__", &[]).unwrap()
    }

    #[test]
    fn openmetrics_created_lines_are_series() {
        let st = MemStorage::new();
        let mut c = ScrapeCache::new();
        let mut app = st.appender();
        let body = b"# TYPE req counter\n# HELP req Requests.\nreq_total 7 # {trace_id=\"abc\"} 1.0\nreq_created 1.7e9\n# EOF\n";
        let (stats, r) = c.append(
            &IngestConfig::default(),
            app.as_mut(),
            body,
            "application/openmetrics-text; version=1.0.0",
            1000,
        );
        r.unwrap();
        app.commit().unwrap();
        assert_eq!(stats.total, 2, "{:?}", names(&st));
        assert_eq!(names(&st), ["req_created", "req_total"]);
    }

    /// Records what reaches the appender besides samples.
    #[derive(Default)]
    struct Recorder {
        samples: Vec<(Labels, i64, f64)>,
        exemplars: Vec<(Labels, Exemplar)>,
        metadata: Vec<(Labels, Metadata)>,
    }

    impl Appender for Recorder {
        fn append(
            &mut self,
            series: Option<SeriesRef>,
            labels: &Labels,
            t: Timestamp,
            v: f64,
        ) -> Result<SeriesRef, AppendError> {
            self.samples.push((labels.clone(), t, v));
            Ok(series.unwrap_or(self.samples.len() as SeriesRef))
        }
        fn append_histogram(
            &mut self,
            series: Option<SeriesRef>,
            _: &Labels,
            _: Timestamp,
            _: &HistogramValue,
        ) -> Result<SeriesRef, AppendError> {
            Ok(series.unwrap_or(1))
        }
        fn append_exemplar(
            &mut self,
            series: SeriesRef,
            labels: &Labels,
            e: &Exemplar,
        ) -> Result<SeriesRef, AppendError> {
            self.exemplars.push((labels.clone(), e.clone()));
            Ok(series)
        }
        fn update_metadata(
            &mut self,
            series: SeriesRef,
            labels: &Labels,
            m: &Metadata,
        ) -> Result<SeriesRef, AppendError> {
            self.metadata.push((labels.clone(), m.clone()));
            Ok(series)
        }
        fn commit(self: Box<Self>) -> Result<(), AppendError> {
            Ok(())
        }
        fn rollback(self: Box<Self>) -> Result<(), AppendError> {
            Ok(())
        }
    }

    #[test]
    fn exemplars_and_metadata_reach_the_appender() {
        let body = b"# TYPE req counter\n# HELP req Requests.\nreq_total{p=\"/\"} 7 # {trace_id=\"abc\"} 1.0\nreq_total{p=\"/x\"} 1 # {trace_id=\"def\"} 2.0 123.5\n# EOF\n";
        let cfg = IngestConfig {
            target_labels: labels!("job" => "j"),
            append_metadata: true,
            ..IngestConfig::default()
        };
        let mut c = ScrapeCache::new();
        let mut rec = Recorder::default();
        let (_, r) = c.append(&cfg, &mut rec, body, "application/openmetrics-text", 5000);
        r.unwrap();
        assert_eq!(rec.exemplars.len(), 2);
        let (l, e) = &rec.exemplars[0];
        assert_eq!(l.to_string(), r#"{__name__="req_total", job="j", p="/"}"#);
        assert_eq!(e.labels.to_string(), r#"{trace_id="abc"}"#);
        // Without its own timestamp an exemplar takes the sample's.
        assert_eq!(e.timestamp, Some(5000));
        assert_eq!(rec.exemplars[1].1.timestamp, Some(123_500));
        assert_eq!(rec.metadata.len(), 2, "new series get metadata");
        assert_eq!(rec.metadata[0].1.help, "Requests.");
        assert_eq!(rec.metadata[0].1.metric_type, MetricType::Counter);
        // Steady state: no metadata again unless it changed.
        let mut rec = Recorder::default();
        c.append(&cfg, &mut rec, body, "application/openmetrics-text", 6000)
            .1
            .unwrap();
        assert!(rec.metadata.is_empty());
        let changed = String::from_utf8_lossy(body).replace("Requests.", "All requests.");
        c.append(
            &cfg,
            &mut rec,
            changed.as_bytes(),
            "application/openmetrics-text",
            7000,
        )
        .1
        .unwrap();
        assert_eq!(rec.metadata.len(), 2);
        assert_eq!(c.metadata().get("req").unwrap().help, "All requests.");
    }

    #[test]
    fn explicit_timestamps_skip_staleness_unless_tracked() {
        for track in [false, true] {
            let cfg = IngestConfig {
                track_timestamps_staleness: track,
                ..IngestConfig::default()
            };
            let mut c = ScrapeCache::new();
            let mut rec = Recorder::default();
            c.append(&cfg, &mut rec, b"a 1 500\nb 2\n", "text/plain", 1000)
                .1
                .unwrap();
            let mut rec = Recorder::default();
            c.append(&cfg, &mut rec, b"c 3\n", "text/plain", 2000)
                .1
                .unwrap();
            let stale: Vec<String> = rec
                .samples
                .iter()
                .filter(|(_, _, v)| is_stale_nan(*v))
                .map(|(l, _, _)| l.metric_name().unwrap_or("").to_string())
                .collect();
            let want: &[&str] = if track { &["a", "b"] } else { &["b"] };
            let mut stale = stale;
            stale.sort();
            assert_eq!(stale, want, "track_timestamps_staleness: {track}");
        }
    }

    fn native(schema: i32, buckets: usize) -> HistogramValue {
        let mut h = hearth_model::Histogram {
            schema,
            count: buckets as u64,
            positive_spans: vec![hearth_model::Span {
                offset: 0,
                length: buckets as u32,
            }],
            positive_buckets: std::iter::once(1)
                .chain(std::iter::repeat_n(0, buckets - 1))
                .collect(),
            ..Default::default()
        };
        if schema == hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA {
            h.custom_values = (1..buckets).map(|b| b as f64).collect();
        }
        HistogramValue::Integer(h)
    }

    #[test]
    fn bucket_limit_and_max_schema() {
        let bucket_count = schema_and_buckets;
        // Exponential buckets are merged until they fit.
        let h = native(3, 16);
        let out = limit_histogram(&h, 4, 8).ok().unwrap();
        let (schema, n) = bucket_count(&out);
        assert!(n <= 4 && schema < 3, "{out:?}");
        // Custom buckets cannot be merged: the scrape fails.
        let h = native(hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA, 8);
        assert!(matches!(
            limit_histogram(&h, 4, 8),
            Err(AddError::BucketLimit)
        ));
        // A schema above the maximum is reduced even without a bucket limit.
        let h = native(5, 4);
        let out = limit_histogram(&h, 0, 2).ok().unwrap();
        assert_eq!(bucket_count(&out).0, 2);
        // Within limits nothing is copied.
        assert!(matches!(limit_histogram(&h, 10, 8), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn report_series_with_extra_metrics() {
        let cfg = IngestConfig {
            target_labels: labels!("job" => "j", "instance" => "i"),
            extra_metrics: true,
            sample_limit: 7,
            timeout: std::time::Duration::from_millis(1500),
            ..IngestConfig::default()
        };
        let mut c = ScrapeCache::new();
        let mut rec = Recorder::default();
        let r = ScrapeReport {
            healthy: false,
            duration: std::time::Duration::from_millis(250),
            stats: AppendStats {
                total: 3,
                added: 2,
                series_added: 1,
            },
            body_bytes: -1,
        };
        c.report(&cfg, &mut rec, 1000, &r).unwrap();
        let got: Vec<(String, f64)> = rec
            .samples
            .iter()
            .map(|(l, _, v)| (l.to_string(), *v))
            .collect();
        let want = [
            ("up", 0.0),
            ("scrape_duration_seconds", 0.25),
            ("scrape_samples_scraped", 3.0),
            ("scrape_samples_post_metric_relabeling", 2.0),
            ("scrape_series_added", 1.0),
            ("scrape_timeout_seconds", 1.5),
            ("scrape_sample_limit", 7.0),
            ("scrape_body_size_bytes", -1.0),
        ];
        let want: Vec<(String, f64)> = want
            .iter()
            .map(|(n, v)| (format!(r#"{{__name__="{n}", instance="i", job="j"}}"#), *v))
            .collect();
        assert_eq!(got, want);
        // The target going away marks all eight stale.
        let mut rec = Recorder::default();
        c.report_stale(&cfg, &mut rec, 2000).unwrap();
        assert_eq!(rec.samples.len(), 8);
        assert!(rec.samples.iter().all(|(_, _, v)| is_stale_nan(*v)));
    }

    #[test]
    fn duplicate_series_in_one_scrape_and_parse_errors() {
        let cfg = IngestConfig::default();
        let mut c = ScrapeCache::new();
        let mut rec = Recorder::default();
        let (stats, r) = c.append(&cfg, &mut rec, b"a 1\na 2\n", "text/plain", 1000);
        r.unwrap();
        // The first scrape cannot know `a` yet, so both reach the storage (which rejects
        // the second); from then on the cache catches the duplicate.
        assert_eq!(stats.total, 2);
        let mut rec = Recorder::default();
        let (stats, r) = c.append(&cfg, &mut rec, b"a 1\na 2\n", "text/plain", 2000);
        r.unwrap();
        assert_eq!((stats.total, stats.added), (2, 2));
        assert_eq!(rec.samples.len(), 1);
        let (_, r) = c.append(&cfg, &mut rec, b"a 1\n{ 2\n", "text/plain", 3000);
        assert!(matches!(r, Err(ScrapeError::Parse(_))), "{r:?}");
    }
}
