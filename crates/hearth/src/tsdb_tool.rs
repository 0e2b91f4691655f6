//! `hearth tool tsdb …`: promtool's TSDB commands — `create-blocks-from openmetrics`
//! (backfill), `list` and `analyze` — with promtool's output format.
//!
//! The work is the TSDB crate's; this module reads the input file, adapts the
//! OpenMetrics parser to the backfill's sample scan, and prints tables the way promtool's
//! Go code does (tabwriter columns, Go durations and byte sizes).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use hearth_exposition::{Entry, OpenMetricsOptions, OpenMetricsParser};
use hearth_tsdb::backfill::{BackfillError, SampleScan, SampleVisitor, backfill};
use hearth_tsdb::block::Block;
use hearth_tsdb::db::open_blocks;
use hearth_tsdb::postings::PostingsSource;

/// `hearth tool tsdb …`.
#[derive(Subcommand, Debug)]
pub enum TsdbCommand {
    /// Import samples from input and produce TSDB blocks (promtool's backfill).
    CreateBlocksFrom {
        #[command(subcommand)]
        from: CreateBlocksFrom,
    },
    /// List tsdb blocks.
    List {
        /// Print human readable values.
        #[arg(short = 'r', long)]
        human_readable: bool,
        /// Database path.
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Analyze churn, label pair cardinality of a block.
    Analyze {
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Database path.
        #[arg(default_value = "data/")]
        db_path: PathBuf,
        /// Block to analyze (default is the last block).
        block_id: Option<String>,
    },
}

/// Sources `create-blocks-from` reads.
#[derive(Subcommand, Debug)]
pub enum CreateBlocksFrom {
    /// Import samples from OpenMetrics input and produce TSDB blocks, as
    /// `promtool tsdb create-blocks-from openmetrics` does.
    ///
    ///   hearth tool tsdb create-blocks-from openmetrics metrics.om data/
    Openmetrics {
        /// OpenMetrics file to read samples from.
        input_file: PathBuf,
        /// Output directory for generated blocks.
        #[arg(default_value = "data/")]
        output_dir: PathBuf,
        /// Print human readable values.
        #[arg(short = 'r', long)]
        human_readable: bool,
        /// Do not print created blocks.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Maximum duration created blocks may span (2h, 6h, 18h, ...); anything less
        /// than 2h is ignored.
        #[arg(long, default_value = "0s", value_parser = parse_duration_ms)]
        max_block_duration: i64,
    },
}

/// Runs a `tsdb` subcommand; returns the exit code.
pub fn run(cmd: TsdbCommand) -> u8 {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match cmd {
        TsdbCommand::CreateBlocksFrom {
            from:
                CreateBlocksFrom::Openmetrics {
                    input_file,
                    output_dir,
                    human_readable,
                    quiet,
                    max_block_duration,
                },
        } => create_blocks_from_openmetrics(
            &input_file,
            &output_dir,
            max_block_duration,
            human_readable,
            quiet,
            &mut out,
            &mut err,
        ),
        TsdbCommand::List {
            human_readable,
            db_path,
        } => list(&db_path, human_readable, &mut out, &mut err),
        TsdbCommand::Analyze {
            limit,
            db_path,
            block_id,
        } => analyze(&db_path, block_id.as_deref(), limit, &mut out, &mut err),
    }
}

/// A duration like `2h`, `1h30m`, `90s`, `1d` (Prometheus' units) in milliseconds.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// OpenMetrics text as a replayable sample input.
struct OpenMetricsScan<'a> {
    input: &'a [u8],
}

impl SampleScan for OpenMetricsScan<'_> {
    fn scan(&mut self, f: &mut SampleVisitor<'_>) -> Result<(), BackfillError> {
        let mut p = OpenMetricsParser::new(self.input, OpenMetricsOptions::default())
            .map_err(|e| BackfillError::Input(format!("parse: {e}")))?;
        loop {
            let entry = p
                .next()
                .map_err(|e| BackfillError::Input(format!("parse: {e}")))?;
            let Some(entry) = entry else { return Ok(()) };
            let Entry::Sample(s) = entry else { continue };
            let Some(t) = s.timestamp else {
                return Err(BackfillError::Input(format!(
                    "expected timestamp for series {}, got none",
                    s.to_labels()
                )));
            };
            f(t, s.value, &|| s.to_labels())?;
        }
    }
}

/// `create-blocks-from openmetrics`: returns the exit code.
pub fn create_blocks_from_openmetrics(
    input_file: &Path,
    output_dir: &Path,
    max_block_duration: i64,
    human_readable: bool,
    quiet: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let input = match std::fs::read(input_file) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "read input file {}: {e}", input_file.display());
            return 1;
        }
    };
    let mut scan = OpenMetricsScan { input: &input };
    match backfill(&mut scan, output_dir, max_block_duration) {
        Ok(blocks) => {
            if !quiet && !blocks.is_empty() {
                let _ = out.write_all(block_table(&blocks, human_readable).as_bytes());
            }
            0
        }
        Err(e) => {
            let _ = writeln!(err, "getting min and max timestamp: block creation: {e}");
            1
        }
    }
}

/// `list`: returns the exit code.
pub fn list(dir: &Path, human_readable: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match open_blocks(dir, &[]) {
        Ok((blocks, corrupted)) => {
            if let Some(c) = corrupted.first() {
                let _ = writeln!(err, "corrupted block {}: {}", c.ulid, c.error);
                return 1;
            }
            let _ = out.write_all(block_table(&blocks, human_readable).as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            1
        }
    }
}

/// promtool's block table (`printBlocks`).
pub fn block_table(blocks: &[Arc<Block>], human: bool) -> String {
    let mut rows = vec![
        [
            "BLOCK ULID",
            "MIN TIME",
            "MAX TIME",
            "DURATION",
            "NUM SAMPLES",
            "NUM CHUNKS",
            "NUM SERIES",
            "SIZE",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for b in blocks {
        let m = b.meta();
        let time = |t: i64| if human { go_time_utc(t) } else { t.to_string() };
        let size = b.size();
        rows.push(vec![
            m.ulid.to_string(),
            time(m.min_time),
            time(m.max_time),
            go_duration_ms(m.max_time - m.min_time),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            if human {
                go_base2_bytes(size)
            } else {
                size.to_string()
            },
        ]);
    }
    tabwrite(&rows, 13, 2)
}

/// Go's `text/tabwriter` with `(minwidth, tabwidth 0, padding, ' ', 0)`: every cell but
/// the last of a line padded to its column's width.
fn tabwrite(rows: &[Vec<String>], min_width: usize, padding: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + padding).max(min_width));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                let _ = write!(out, "{c:<w$}", w = widths[i]);
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.Duration.String()` for a whole number of milliseconds.
fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if ms < 1000 {
        let _ = write!(s, "{ms}ms");
        return s;
    }
    let (h, m, sec, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        let _ = write!(s, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(s, "{m}m");
    }
    let _ = write!(s, "{sec}");
    if frac > 0 {
        let f = format!("{frac:03}");
        let _ = write!(s, ".{}", f.trim_end_matches('0'));
    }
    s.push('s');
    s
}

/// Go's `time.Time.String()` in UTC for a millisecond timestamp.
fn go_time_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if frac > 0 {
        let f = format!("{frac:03}");
        let _ = write!(s, ".{}", f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// `units.Base2Bytes(n).String()` (github.com/alecthomas/units): `1KiB512B` style.
fn go_base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    let mut n = n;
    for (m, u) in UNITS.iter().enumerate() {
        if !n.is_multiple_of(1024) || (m == 0 && n == 0) {
            let suffix = if m == 0 { "B" } else { "iB" };
            parts.push(format!("{}{u}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// `analyze`: promtool's label and cardinality report for one block (the newest when
/// `block_id` is empty). Returns the exit code.
pub fn analyze(
    dir: &Path,
    block_id: Option<&str>,
    limit: usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match analyze_text(dir, block_id, limit) {
        Ok(text) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            1
        }
    }
}

fn analyze_text(dir: &Path, block_id: Option<&str>, limit: usize) -> Result<String, String> {
    let (blocks, _) = open_blocks(dir, &[]).map_err(|e| e.to_string())?;
    let block = match block_id {
        Some(id) => blocks.iter().find(|b| b.ulid().to_string() == id),
        None => blocks.last(),
    }
    .ok_or_else(|| format!("block {} not found", block_id.unwrap_or("")))?;
    let meta = block.meta();
    let ix = block.index();
    let mut s = String::new();
    let _ = writeln!(s, "Block ID: {}", meta.ulid);
    let _ = writeln!(
        s,
        "Duration: {}",
        go_duration_ms(meta.max_time - meta.min_time)
    );
    let _ = writeln!(s, "Total Series: {}", meta.stats.num_series);
    let names = ix.label_names();
    let _ = writeln!(s, "Label names: {}", names.len());

    let range = (meta.max_time - meta.min_time).max(1) as u64;
    let mut labels_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    let mut p = ix.all_postings().map_err(|e| e.to_string())?;
    let mut chunks = Vec::new();
    while p.next() {
        let labels = ix.series(p.at(), &mut chunks).map_err(|e| e.to_string())?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(f), Some(l)) => (l.max_time - f.min_time) as u64,
            _ => 0,
        };
        let uncovered = range.saturating_sub(covered);
        for l in &labels {
            let key = format!("{}={}", l.name, l.value);
            *labels_uncovered.entry(l.name.to_string()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    let _ = writeln!(
        s,
        "Postings (unique label pairs): {}",
        pairs_uncovered.len()
    );
    let _ = writeln!(s, "Postings entries (total label pairs): {entries}");
    let print = |s: &mut String, title: &str, mut infos: Vec<(String, u64)>| {
        infos.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let _ = writeln!(s, "\n{title}:");
        for (k, m) in infos.into_iter().take(limit) {
            let _ = writeln!(s, "{m} {k}");
        }
    };
    let churn = |m: HashMap<String, u64>| -> Vec<(String, u64)> {
        m.into_iter()
            .map(|(k, v)| (k, (v as f64 / range as f64) as u64))
            .collect()
    };
    print(
        &mut s,
        "Label pairs most involved in churning",
        churn(pairs_uncovered),
    );
    print(
        &mut s,
        "Label names most involved in churning",
        churn(labels_uncovered),
    );
    print(
        &mut s,
        "Most common label pairs",
        pairs_count.into_iter().collect(),
    );
    let mut lengths = Vec::new();
    let mut cardinality = Vec::new();
    for n in &names {
        let values = ix.label_values(n).map_err(|e| e.to_string())?;
        lengths.push((n.to_string(), values.iter().map(|v| v.len() as u64).sum()));
        cardinality.push((n.to_string(), values.len() as u64));
    }
    print(
        &mut s,
        "Label names with highest cumulative label value length",
        lengths,
    );
    print(&mut s, "Highest cardinality labels", cardinality);
    let mut metrics = Vec::new();
    for v in ix.label_values("__name__").map_err(|e| e.to_string())? {
        let mut p = ix.postings("__name__", &[v]).map_err(|e| e.to_string())?;
        let mut n = 0u64;
        while p.next() {
            n += 1;
        }
        metrics.push((v.to_string(), n));
    }
    print(&mut s, "Highest cardinality metric names", metrics);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert!(parse_duration_ms("2x").is_err());
    }

    #[test]
    fn go_formats() {
        assert_eq!(go_duration_ms(7_200_000), "2h0m0s");
        assert_eq!(go_duration_ms(90_500), "1m30.5s");
        assert_eq!(go_duration_ms(1), "1ms");
        assert_eq!(
            go_time_utc(1_700_000_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        assert_eq!(go_time_utc(1_500), "1970-01-01 00:00:01.5 +0000 UTC");
        assert_eq!(go_base2_bytes(1536), "1KiB512B");
        assert_eq!(go_base2_bytes(0), "0B");
        assert_eq!(go_base2_bytes(2 * 1024 * 1024), "2MiB");
    }

    #[test]
    fn tabwriter_pads_all_but_the_last_cell() {
        let rows = vec![
            vec!["A".to_string(), "B".to_string(), "C".to_string()],
            vec![
                "xxxxxxxxxxxxxxxx".to_string(),
                "y".to_string(),
                "z".to_string(),
            ],
        ];
        assert_eq!(
            tabwrite(&rows, 13, 2),
            "A                 B            C\nxxxxxxxxxxxxxxxx  y            z\n"
        );
    }
}
