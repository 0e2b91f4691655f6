#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Checkpoints: what they keep, folding in the previous one, atomicity and replay.

use std::collections::HashMap;
use std::fs;

use hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA;
use hearth_model::{Histogram, Labels, Span};
use hearth_tsdb::wal::record::{
    RecordDecoder, RecordEncoder, RecordType, RefExemplar, RefFloatHistogramSample,
    RefHistogramSample, RefMetadata, RefMmapMarker, RefSample, RefSeries, Tombstone,
};
use hearth_tsdb::wal::{
    SegmentRange, Wal, WalOptions, WalReader, checkpoint, checkpoint_dir, last_checkpoint,
};

const ENC: RecordEncoder = RecordEncoder {
    start_timestamps: false,
};

fn histogram(schema: i32) -> Histogram {
    Histogram {
        schema,
        count: 1,
        sum: 1.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![1],
        custom_values: if schema == CUSTOM_BUCKETS_SCHEMA {
            vec![1.0]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

/// Everything read back from a directory of segments, by kind.
#[derive(Default, Debug)]
struct Contents {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    histograms: Vec<RefHistogramSample>,
    float_histograms: Vec<RefFloatHistogramSample>,
    tombstones: Vec<Tombstone>,
    exemplars: Vec<RefExemplar>,
    metadata: Vec<RefMetadata>,
    types: Vec<RecordType>,
}

fn read(mut r: WalReader) -> Contents {
    let mut c = Contents::default();
    let mut dec = RecordDecoder::new();
    while let Some(rec) = r.next_record().unwrap() {
        let t = RecordType::of(rec);
        c.types.push(t);
        match t {
            RecordType::Series => dec.series(rec, &mut c.series).unwrap(),
            RecordType::Samples | RecordType::SamplesV2 => {
                dec.samples(rec, &mut c.samples).unwrap()
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                dec.histogram_samples(rec, &mut c.histograms).unwrap()
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => dec
                .float_histogram_samples(rec, &mut c.float_histograms)
                .unwrap(),
            RecordType::Tombstones => dec.tombstones(rec, &mut c.tombstones).unwrap(),
            RecordType::Exemplars => dec.exemplars(rec, &mut c.exemplars).unwrap(),
            RecordType::Metadata => dec.metadata(rec, &mut c.metadata).unwrap(),
            _ => {}
        }
    }
    assert!(r.torn_tail().is_none());
    c
}

/// Logs, per segment `seg` in 0..4: series 10*seg..10*seg+10, one sample per series at
/// t = 100*seg + ref, histograms, tombstones, exemplars, metadata (twice per series, the
/// second one wins), an mmap marker and a record of an unknown type.
fn populate(wal: &mut Wal) {
    for seg in 0..4u64 {
        let refs: Vec<u64> = (10 * seg..10 * seg + 10).collect();
        let mut recs: Vec<Vec<u8>> = Vec::new();
        let mut b = Vec::new();
        let series: Vec<RefSeries> = refs
            .iter()
            .map(|&r| RefSeries {
                series_ref: r,
                labels: Labels::new([("__name__", "m"), ("id", r.to_string().as_str())]),
            })
            .collect();
        ENC.series(&series, &mut b);
        recs.push(b);
        let samples: Vec<RefSample> = refs
            .iter()
            .map(|&r| RefSample {
                series_ref: r,
                st: 0,
                t: (100 * seg + r) as i64,
                v: r as f64,
            })
            .collect();
        let mut b = Vec::new();
        ENC.samples(&samples, &mut b);
        recs.push(b);
        // Start-timestamp samples survive as V2 records.
        let mut b = Vec::new();
        let st: Vec<RefSample> = samples
            .iter()
            .map(|s| RefSample {
                st: s.t + 5,
                t: s.t + 1000,
                ..*s
            })
            .collect();
        RecordEncoder {
            start_timestamps: true,
        }
        .samples(&st, &mut b);
        recs.push(b);
        let hs: Vec<RefHistogramSample> = refs
            .iter()
            .map(|&r| RefHistogramSample {
                series_ref: r,
                st: 0,
                t: (100 * seg + r) as i64,
                h: histogram(if r % 3 == 0 { CUSTOM_BUCKETS_SCHEMA } else { 2 }),
            })
            .collect();
        let mut b = Vec::new();
        if ENC.histogram_samples(&hs, &mut b) {
            recs.push(b);
            let mut c = Vec::new();
            ENC.custom_buckets_histogram_samples(&hs, &mut c);
            recs.push(c);
        } else {
            recs.push(b);
        }
        let fhs: Vec<RefFloatHistogramSample> = hs
            .iter()
            .map(|h| RefFloatHistogramSample {
                series_ref: h.series_ref,
                st: 0,
                t: h.t,
                fh: h.h.to_float(),
            })
            .collect();
        let mut b = Vec::new();
        RecordEncoder {
            start_timestamps: true,
        }
        .float_histogram_samples(&fhs, &mut b);
        recs.push(b);
        let mut b = Vec::new();
        ENC.tombstones(
            &[Tombstone {
                series_ref: refs[0],
                mint: 0,
                maxt: (100 * seg) as i64,
            }],
            &mut b,
        );
        recs.push(b);
        let mut b = Vec::new();
        let ex: Vec<RefExemplar> = refs
            .iter()
            .map(|&r| RefExemplar {
                series_ref: r,
                t: (100 * seg + r) as i64,
                v: 1.0,
                labels: Labels::new([("trace_id", "t")]),
            })
            .collect();
        ENC.exemplars(&ex, &mut b);
        recs.push(b);
        for version in ["old", "new"] {
            let md: Vec<RefMetadata> = refs
                .iter()
                .map(|&r| RefMetadata {
                    series_ref: r,
                    metric_type: 1,
                    unit: String::new(),
                    help: format!("{version} {r}"),
                })
                .collect();
            let mut b = Vec::new();
            ENC.metadata(&md, &mut b);
            recs.push(b);
        }
        let mut b = Vec::new();
        ENC.mmap_markers(
            &[RefMmapMarker {
                series_ref: refs[0],
                mmap_ref: 1,
            }],
            &mut b,
        );
        recs.push(b);
        recs.push(vec![200, 1, 2, 3]);
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        wal.log(&refs).unwrap();
        wal.next_segment().unwrap();
    }
}

#[test]
fn checkpoint_keeps_what_matters() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    populate(&mut wal);
    let keep = |r: u64| r.is_multiple_of(2);
    let mint = 150;
    let stats = checkpoint(&wal, 0, 2, keep, mint).unwrap();
    let cp = checkpoint_dir(dir.path(), 2);
    assert!(cp.is_dir());
    assert!(!dir.path().join("checkpoint.00000002.tmp").exists());
    assert_eq!(last_checkpoint(dir.path()).unwrap(), Some((cp.clone(), 2)));

    let c = read(WalReader::open(&cp).unwrap());
    let series: Vec<u64> = c.series.iter().map(|s| s.series_ref).collect();
    assert_eq!(series, (0..30).filter(|r| r % 2 == 0).collect::<Vec<_>>());
    assert_eq!(
        c.series[1].labels,
        Labels::new([("__name__", "m"), ("id", "2")])
    );
    assert!(c.samples.iter().all(|s| s.t >= mint));
    // V1 samples of segment 2 (t 220..=229) stay, all V2 ones (t >= 1000) stay with their st.
    assert_eq!(c.samples.iter().filter(|s| s.st == 0).count(), 10);
    assert_eq!(c.samples.iter().filter(|s| s.st != 0).count(), 30);
    assert!(
        c.samples
            .iter()
            .filter(|s| s.st != 0)
            .all(|s| s.st == s.t - 995)
    );
    assert!(c.types.contains(&RecordType::SamplesV2));
    assert!(c.types.contains(&RecordType::CustomBucketsHistogramSamples));
    assert!(c.types.contains(&RecordType::FloatHistogramSamplesV2));
    assert_eq!(c.histograms.len(), 10);
    assert!(c.histograms.iter().all(|h| h.t >= mint));
    assert_eq!(
        c.histograms
            .iter()
            .filter(|h| h.h.schema == CUSTOM_BUCKETS_SCHEMA)
            .count(),
        c.histograms
            .iter()
            .filter(|h| h.series_ref % 3 == 0)
            .count()
    );
    assert_eq!(c.float_histograms.len(), 10);
    // Tombstones reaching mint: the one of segment 2 (maxt 200).
    assert_eq!(
        c.tombstones,
        [Tombstone {
            series_ref: 20,
            mint: 0,
            maxt: 200
        }]
    );
    assert_eq!(c.exemplars.len(), 10);
    // Latest metadata of kept series only, once each.
    let md: HashMap<u64, &str> = c
        .metadata
        .iter()
        .map(|m| (m.series_ref, m.help.as_str()))
        .collect();
    assert_eq!(md.len(), 15);
    assert_eq!(c.metadata.len(), 15);
    assert_eq!(md[&4], "new 4");
    assert!(!c.types.contains(&RecordType::MmapMarkers));
    assert!(!c.types.contains(&RecordType::Unknown));

    assert_eq!(stats.total_series, 30);
    assert_eq!(stats.dropped_series, 15);
    assert_eq!(stats.total_samples, 30 + 30 + 30 + 30);
    assert_eq!(stats.dropped_samples, 20 + 20 + 20);
    assert_eq!((stats.total_tombstones, stats.dropped_tombstones), (3, 2));
    assert_eq!((stats.total_exemplars, stats.dropped_exemplars), (30, 20));
    assert_eq!((stats.total_metadata, stats.dropped_metadata), (60, 45));

    // Replay: the checkpoint, then segments after it.
    wal.truncate(3).unwrap();
    let replay = read(WalReader::for_replay(dir.path()).unwrap());
    assert_eq!(replay.series.len(), 15 + 10);
    assert_eq!(replay.series.last().unwrap().series_ref, 39);

    // The next checkpoint folds the previous one in and removes it.
    let stats = checkpoint(&wal, 3, 3, |r| r % 4 == 0, 300).unwrap();
    assert!(!cp.exists());
    let cp3 = checkpoint_dir(dir.path(), 3);
    let c = read(WalReader::open(&cp3).unwrap());
    let series: Vec<u64> = c.series.iter().map(|s| s.series_ref).collect();
    assert_eq!(series, (0..40).filter(|r| r % 4 == 0).collect::<Vec<_>>());
    assert!(c.samples.iter().all(|s| s.t >= 300));
    assert_eq!(stats.total_series, 15 + 10);
    // Asking for segments already covered by the checkpoint is a gap error only when
    // segments after it would be skipped.
    assert!(checkpoint(&wal, 6, 6, |_| true, 0).is_err());
}

#[test]
fn failed_checkpoint_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    populate(&mut wal);
    // Corrupt segment 1: the checkpoint must fail, not skip it.
    let seg = hearth_tsdb::wal::segment_path(dir.path(), 1);
    let mut raw = fs::read(&seg).unwrap();
    raw[100] ^= 0xff;
    fs::write(&seg, raw).unwrap();
    // A stale temporary directory from a crash is cleaned up too.
    fs::create_dir(dir.path().join("checkpoint.00000001.tmp")).unwrap();
    assert!(checkpoint(&wal, 0, 2, |_| true, 0).is_err());
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("checkpoint.")),
        "{names:?}"
    );
}

#[test]
fn replay_reads_checkpoint_then_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    populate(&mut wal);
    checkpoint(&wal, 0, 1, |_| true, 0).unwrap();
    // Without truncation the segments 0..=1 are still there; replay must skip them.
    let c = read(WalReader::for_replay(dir.path()).unwrap());
    let series: Vec<u64> = c.series.iter().map(|s| s.series_ref).collect();
    assert_eq!(series, (0..40).collect::<Vec<_>>());
    let ranges = [SegmentRange::from(dir.path(), 2)];
    let later = read(WalReader::from_ranges(&ranges).unwrap());
    assert_eq!(later.series.len(), 20);
}
