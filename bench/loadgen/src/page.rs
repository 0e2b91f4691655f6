//! One target's metrics page: a template built once, values patched in per scrape.
//!
//! The page is fixed text with value slots. [`Page::render`] advances every value (counters
//! grow, gauges walk, histograms observe) and writes the text with the new values into a
//! buffer: one copy of the static text plus one integer formatting per series.

use std::io::Write as _;

/// A family of the generated page, in Prometheus text format terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// How a value is stored and printed: whole numbers, or hundredths printed with two
/// decimals (as node_exporter's seconds and temperatures look).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Int,
    Centi,
}

/// How a slot's value changes between scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Motion {
    /// Grows by up to `step` per scrape.
    Grow { step: u64 },
    /// Moves by up to ±`step` per scrape, never below zero.
    Walk { step: u64 },
    /// Part of a histogram: updated by the histogram's own observations.
    Histogram,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// End of the static text that precedes this value.
    text_end: usize,
    unit: Unit,
    motion: Motion,
    value: u64,
}

/// A histogram's slots: `buckets` cumulative bucket slots (the last is `+Inf`), then
/// `_sum`, then `_count`.
#[derive(Debug, Clone, Copy)]
struct HistogramSlots {
    first: usize,
}

/// Upper bounds of the generated histograms, in seconds; `+Inf` follows.
const BUCKETS: [&str; 9] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
];
/// Representative observation per bucket, in hundredths of a second, for `_sum`.
const BUCKET_CENTI: [u64; 10] = [0, 1, 2, 4, 8, 18, 38, 75, 180, 400];
/// Series per histogram: the buckets, `+Inf`, `_sum` and `_count`.
pub const HISTOGRAM_SERIES: usize = BUCKETS.len() + 3;

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 4] = ["200", "404", "500", "503"];

/// A family of the layout: its name, help, type, share of the page and how its series
/// are labelled.
struct FamilySpec {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    unit: Unit,
    motion: Motion,
    /// Per mille of the page's series (the filler family takes the rest).
    share: usize,
    labels: fn(usize) -> String,
}

fn families() -> [FamilySpec; 10] {
    [
        FamilySpec {
            name: "node_cpu_seconds_total",
            help: "Seconds the CPUs spent in each mode.",
            kind: Kind::Counter,
            unit: Unit::Centi,
            motion: Motion::Grow { step: 1000 },
            share: 250,
            labels: |i| format!("cpu=\"{}\",mode=\"{}\"", i / 8, CPU_MODES[i % 8]),
        },
        FamilySpec {
            name: "node_network_receive_bytes_total",
            help: "Network device statistic receive_bytes.",
            kind: Kind::Counter,
            unit: Unit::Int,
            motion: Motion::Grow { step: 5_000_000 },
            share: 50,
            labels: |i| format!("device=\"eth{i}\""),
        },
        FamilySpec {
            name: "node_network_transmit_bytes_total",
            help: "Network device statistic transmit_bytes.",
            kind: Kind::Counter,
            unit: Unit::Int,
            motion: Motion::Grow { step: 2_000_000 },
            share: 50,
            labels: |i| format!("device=\"eth{i}\""),
        },
        FamilySpec {
            name: "node_disk_read_bytes_total",
            help: "The total number of bytes read successfully.",
            kind: Kind::Counter,
            unit: Unit::Int,
            motion: Motion::Grow { step: 1_000_000 },
            share: 50,
            labels: |i| format!("device=\"nvme{i}n1\""),
        },
        FamilySpec {
            name: "node_disk_io_time_seconds_total",
            help: "Total seconds spent doing I/Os.",
            kind: Kind::Counter,
            unit: Unit::Centi,
            motion: Motion::Grow { step: 500 },
            share: 50,
            labels: |i| format!("device=\"nvme{i}n1\""),
        },
        FamilySpec {
            name: "node_filesystem_avail_bytes",
            help: "Filesystem space available to non-root users in bytes.",
            kind: Kind::Gauge,
            unit: Unit::Int,
            motion: Motion::Walk { step: 50_000_000 },
            share: 50,
            labels: |i| {
                format!("device=\"/dev/nvme{i}n1p1\",fstype=\"ext4\",mountpoint=\"/data{i}\"")
            },
        },
        FamilySpec {
            name: "node_hwmon_temp_celsius",
            help: "Hardware monitor for temperature (input).",
            kind: Kind::Gauge,
            unit: Unit::Centi,
            motion: Motion::Walk { step: 150 },
            share: 50,
            labels: |i| {
                format!(
                    "chip=\"platform_coretemp_{}\",sensor=\"temp{}\"",
                    i / 8,
                    i % 8 + 1
                )
            },
        },
        FamilySpec {
            name: "http_request_duration_seconds",
            help: "A histogram of request latencies.",
            kind: Kind::Histogram,
            unit: Unit::Int,
            motion: Motion::Histogram,
            share: 300,
            labels: |i| {
                format!(
                    "handler=\"/api/v1/endpoint{}\",method=\"{}\"",
                    i / 4,
                    METHODS[i % 4]
                )
            },
        },
        FamilySpec {
            name: "http_requests_total",
            help: "Total number of HTTP requests.",
            kind: Kind::Counter,
            unit: Unit::Int,
            motion: Motion::Grow { step: 200 },
            share: 50,
            labels: |i| {
                format!(
                    "code=\"{}\",handler=\"/api/v1/endpoint{}\"",
                    CODES[i % 4],
                    i / 4
                )
            },
        },
        // The filler: takes whatever the shares above leave, so a page has exactly the
        // configured number of series.
        FamilySpec {
            name: "node_softnet_processed_total",
            help: "Number of processed packets.",
            kind: Kind::Counter,
            unit: Unit::Int,
            motion: Motion::Grow { step: 20_000 },
            share: 0,
            labels: |i| format!("cpu=\"{i}\""),
        },
    ]
}

/// A small xorshift generator: cheap, deterministic per target, good enough for values.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..=bound`.
    fn up_to(&mut self, bound: u64) -> u64 {
        self.next() % (bound + 1)
    }
}

/// Appends one sample line (`line` is everything before the value) and its slot.
fn push(
    text: &mut Vec<u8>,
    slots: &mut Vec<Slot>,
    line: String,
    unit: Unit,
    motion: Motion,
    value: u64,
) {
    text.extend_from_slice(line.as_bytes());
    slots.push(Slot {
        text_end: text.len(),
        unit,
        motion,
        value,
    });
    text.push(b'\n');
}

/// One target's page.
#[derive(Debug, Clone)]
pub struct Page {
    text: Vec<u8>,
    slots: Vec<Slot>,
    histograms: Vec<HistogramSlots>,
    rng: Rng,
    last_len: usize,
}

impl Page {
    /// Builds the page of target `target` with exactly `series` series. A non-zero
    /// `generation` adds a `generation` label to every series (used for churn: a new
    /// generation is a whole new set of series).
    pub fn new(target: usize, series: usize, generation: u64) -> Page {
        let mut rng = Rng::new((target as u64 + 1) ^ (generation << 32));
        let mut text = Vec::with_capacity(series * 96);
        let mut slots = Vec::with_capacity(series);
        let mut histograms = Vec::new();
        let extra = if generation == 0 {
            String::new()
        } else {
            format!(",generation=\"{generation}\"")
        };
        let specs = families();
        let mut counts: Vec<usize> = specs
            .iter()
            .map(|f| {
                let n = series * f.share / 1000;
                if f.kind == Kind::Histogram {
                    n / HISTOGRAM_SERIES * HISTOGRAM_SERIES
                } else {
                    n
                }
            })
            .collect();
        let used: usize = counts.iter().sum();
        if let Some(last) = counts.last_mut() {
            *last = series.saturating_sub(used);
        }
        for (spec, &count) in specs.iter().zip(&counts) {
            if count == 0 {
                continue;
            }
            let type_name = match spec.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(text, "# HELP {} {}", spec.name, spec.help);
            let _ = writeln!(text, "# TYPE {} {}", spec.name, type_name);
            if spec.kind == Kind::Histogram {
                for h in 0..count / HISTOGRAM_SERIES {
                    let labels = (spec.labels)(h);
                    histograms.push(HistogramSlots { first: slots.len() });
                    for le in BUCKETS.iter().chain(&["+Inf"]) {
                        let line = format!("{}_bucket{{{labels}{extra},le=\"{le}\"}} ", spec.name);
                        push(&mut text, &mut slots, line, Unit::Int, Motion::Histogram, 0);
                    }
                    let line = format!("{}_sum{{{labels}{extra}}} ", spec.name);
                    push(
                        &mut text,
                        &mut slots,
                        line,
                        Unit::Centi,
                        Motion::Histogram,
                        0,
                    );
                    let line = format!("{}_count{{{labels}{extra}}} ", spec.name);
                    push(&mut text, &mut slots, line, Unit::Int, Motion::Histogram, 0);
                }
            } else {
                for i in 0..count {
                    let line = format!("{}{{{}{extra}}} ", spec.name, (spec.labels)(i));
                    let start = match spec.motion {
                        Motion::Grow { step } | Motion::Walk { step } => rng.up_to(step * 100),
                        Motion::Histogram => 0,
                    };
                    push(&mut text, &mut slots, line, spec.unit, spec.motion, start);
                }
            }
        }
        Page {
            text,
            slots,
            histograms,
            rng,
            last_len: 0,
        }
    }

    /// Number of series (and so samples per scrape) on the page.
    pub fn series(&self) -> usize {
        self.slots.len()
    }

    /// Moves every value one scrape forward.
    fn advance(&mut self) {
        for slot in &mut self.slots {
            match slot.motion {
                Motion::Grow { step } => slot.value += self.rng.up_to(step),
                Motion::Walk { step } => {
                    let delta = self.rng.up_to(2 * step);
                    slot.value = (slot.value + delta).saturating_sub(step);
                }
                Motion::Histogram => {}
            }
        }
        let buckets = BUCKETS.len() + 1;
        for h in &self.histograms {
            let observations = self.rng.up_to(16);
            for _ in 0..observations {
                // Mostly fast requests: the bucket is the number of trailing one bits.
                let bucket = (self.rng.next().trailing_ones() as usize).min(buckets - 1);
                for slot in &mut self.slots[h.first + bucket..h.first + buckets] {
                    slot.value += 1;
                }
                self.slots[h.first + buckets].value += BUCKET_CENTI[bucket];
                self.slots[h.first + buckets + 1].value += 1;
            }
        }
    }

    /// Advances the values and writes the page into `out` (cleared first).
    pub fn render(&mut self, out: &mut Vec<u8>) {
        self.advance();
        out.clear();
        out.reserve(self.last_len);
        let mut start = 0;
        for slot in &self.slots {
            out.extend_from_slice(&self.text[start..slot.text_end]);
            start = slot.text_end;
            let _ = match slot.unit {
                Unit::Int => write!(out, "{}", slot.value),
                Unit::Centi => write!(out, "{}.{:02}", slot.value / 100, slot.value % 100),
            };
        }
        out.extend_from_slice(&self.text[start..]);
        self.last_len = out.len();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use hearth_exposition::{Entry, TextParser};

    use super::*;

    /// Parses a page with hearth's text parser: series identity → value.
    fn parse(page: &[u8]) -> HashMap<String, f64> {
        let mut parser = TextParser::new(page).unwrap();
        let mut out = HashMap::new();
        while let Some(entry) = parser.next().unwrap() {
            if let Entry::Sample(s) = entry {
                let key = String::from_utf8(s.series.to_vec()).unwrap();
                assert!(out.insert(key, s.value).is_none(), "duplicate series");
            }
        }
        out
    }

    #[test]
    fn page_parses_and_has_the_configured_series_count() {
        for series in [1, 7, 12, 100, 1000, 2500] {
            let mut page = Page::new(3, series, 0);
            assert_eq!(page.series(), series);
            let mut buf = Vec::new();
            page.render(&mut buf);
            assert_eq!(parse(&buf).len(), series, "series={series}");
        }
    }

    #[test]
    fn counters_grow_and_histograms_stay_cumulative() {
        let mut page = Page::new(0, 1000, 0);
        let mut buf = Vec::new();
        page.render(&mut buf);
        let first = parse(&buf);
        for _ in 0..5 {
            page.render(&mut buf);
        }
        let later = parse(&buf);
        let mut grew = 0;
        for (key, v) in &first {
            if key.contains("_total") || key.contains("http_request_duration") {
                assert!(later[key] >= *v, "{key} went down");
                grew += usize::from(later[key] > *v);
            }
        }
        assert!(grew > 100, "only {grew} counters moved");
        let inf = "http_request_duration_seconds_bucket{handler=\"/api/v1/endpoint0\",method=\"GET\",le=\"+Inf\"}";
        let count =
            "http_request_duration_seconds_count{handler=\"/api/v1/endpoint0\",method=\"GET\"}";
        let small = "http_request_duration_seconds_bucket{handler=\"/api/v1/endpoint0\",method=\"GET\",le=\"0.005\"}";
        assert_eq!(later[inf], later[count]);
        assert!(later[small] <= later[inf]);
    }

    #[test]
    fn a_new_generation_is_a_new_set_of_series() {
        let mut a = Page::new(1, 100, 0);
        let mut b = Page::new(1, 100, 2);
        let (mut ba, mut bb) = (Vec::new(), Vec::new());
        a.render(&mut ba);
        b.render(&mut bb);
        let (pa, pb) = (parse(&ba), parse(&bb));
        assert_eq!(pb.len(), 100);
        assert!(pa.keys().all(|k| !pb.contains_key(k)));
        assert!(pb.keys().all(|k| k.contains("generation=\"2\"")));
    }
}
