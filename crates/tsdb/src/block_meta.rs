//! A block's `meta.json`: identity (ULID), time range, stats and compaction lineage, in
//! exactly the JSON shape Prometheus reads and writes (`tsdb.BlockMeta`).
//!
//! Also owns the atomic file replacement (temporary file, fsync, rename, directory
//! fsync) that block files written after the fact (meta.json, tombstones) go through.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
pub use ulid::Ulid;

/// Name of the metadata file inside a block directory.
pub const META_FILENAME: &str = "meta.json";
/// The only meta.json version Prometheus has ever written.
pub const META_VERSION_1: u32 = 1;
/// Compaction hint of blocks built from out-of-order samples.
pub const COMPACTION_HINT_FROM_OUT_OF_ORDER: &str = "from-out-of-order";

/// Metadata of one block. Times are milliseconds; the block covers `[min_time, max_time)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    #[serde(default)]
    pub ulid: Ulid,
    #[serde(default)]
    pub min_time: i64,
    #[serde(default)]
    pub max_time: i64,
    /// Always written, as `{}` when all zero (Go's `omitempty` ignores structs).
    #[serde(default)]
    pub stats: BlockStats,
    #[serde(default)]
    pub compaction: BlockMetaCompaction,
    /// Version of the meta file format; [`write_meta`] sets it to 1.
    #[serde(default)]
    pub version: u32,
}

/// Counts of what a block holds; zero fields are omitted from the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A block this one was compacted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    #[serde(default)]
    pub ulid: Ulid,
    #[serde(default)]
    pub min_time: i64,
    #[serde(default)]
    pub max_time: i64,
}

/// The compaction history of a block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMetaCompaction {
    /// Compaction cycles the deepest source went through (1 for a block cut from the head).
    #[serde(default)]
    pub level: i32,
    /// ULIDs of all head blocks that went into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Compaction produced no samples; the block is deleted on the next reload.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks directly compacted into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Compacting this block failed; it is not picked again.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Free-form hints, e.g. [`COMPACTION_HINT_FROM_OUT_OF_ORDER`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// A new ULID for a block created now (48-bit millisecond time + 80 random bits).
pub fn new_ulid() -> Ulid {
    Ulid::generate()
}

impl BlockMeta {
    /// Meta of a level-1 block (cut from the head) that is its own only source.
    pub fn new(ulid: Ulid, min_time: i64, max_time: i64) -> BlockMeta {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec![ulid],
                ..BlockMetaCompaction::default()
            },
            version: META_VERSION_1,
        }
    }

    /// Whether the block was built from out-of-order samples.
    pub fn is_from_out_of_order(&self) -> bool {
        self.compaction
            .hints
            .iter()
            .any(|h| h == COMPACTION_HINT_FROM_OUT_OF_ORDER)
    }

    /// Marks the block as built from out-of-order samples.
    pub fn set_out_of_order(&mut self) {
        if !self.is_from_out_of_order() {
            self.compaction
                .hints
                .push(COMPACTION_HINT_FROM_OUT_OF_ORDER.to_string());
        }
    }

    /// The JSON Prometheus writes: tab-indented, no trailing newline.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(512);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser)?;
        Ok(out)
    }
}

/// Errors reading or writing meta.json.
#[derive(Debug, thiserror::Error)]
pub enum BlockMetaError {
    #[error("{}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: unexpected meta file version {version}", path.display())]
    Version { path: PathBuf, version: u32 },
}

/// Reads `<dir>/meta.json`, returning it and its size in bytes.
pub fn read_meta(dir: &Path) -> Result<(BlockMeta, u64), BlockMetaError> {
    let path = dir.join(META_FILENAME);
    let b = fs::read(&path).map_err(|source| BlockMetaError::Io {
        path: path.clone(),
        op: "read",
        source,
    })?;
    let meta: BlockMeta = serde_json::from_slice(&b).map_err(|source| BlockMetaError::Json {
        path: path.clone(),
        source,
    })?;
    if meta.version != META_VERSION_1 {
        return Err(BlockMetaError::Version {
            path,
            version: meta.version,
        });
    }
    Ok((meta, b.len() as u64))
}

/// Writes `<dir>/meta.json` atomically (setting the version to 1), returning its size.
pub fn write_meta(dir: &Path, meta: &mut BlockMeta) -> Result<u64, BlockMetaError> {
    meta.version = META_VERSION_1;
    let path = dir.join(META_FILENAME);
    let json = meta.to_json().map_err(|source| BlockMetaError::Json {
        path: path.clone(),
        source,
    })?;
    write_file_atomically(&path, &json).map_err(|(op, source)| BlockMetaError::Io {
        path,
        op,
        source,
    })?;
    Ok(json.len() as u64)
}

/// Replaces `path` with `contents` so readers see the old or the new file, never a
/// torn one: write `<path>.tmp`, fsync it, rename over `path`, fsync the directory.
/// On error, says which step failed.
pub(crate) fn write_file_atomically(
    path: &Path,
    contents: &[u8],
) -> Result<(), (&'static str, io::Error)> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| ("create temporary file", e))?;
        f.write_all(contents)
            .map_err(|e| ("write temporary file", e))?;
        f.sync_all().map_err(|e| ("sync temporary file", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| ("rename temporary file", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| ("sync directory", e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_META: &str = r#"{
	"ulid": "01BKGV7JBM69T2G1BGBGM6KB12",
	"minTime": 1602237600000,
	"maxTime": 1602244800000,
	"stats": {
		"numSamples": 5765412,
		"numSeries": 12345,
		"numChunks": 24690
	},
	"compaction": {
		"level": 2,
		"sources": [
			"01BKGV7JBM69T2G1BGBGM6KB12",
			"01BKGTZQ1SYQJTR4PB43C8PD98"
		],
		"parents": [
			{
				"ulid": "01BKGV7JBM69T2G1BGBGM6KB12",
				"minTime": 1602237600000,
				"maxTime": 1602241200000
			}
		],
		"hints": [
			"from-out-of-order"
		]
	},
	"version": 1
}"#;

    #[test]
    fn round_trips_prometheus_json_byte_for_byte() {
        let m: BlockMeta = serde_json::from_str(GO_META).unwrap();
        assert_eq!(m.stats.num_series, 12345);
        assert_eq!(m.compaction.level, 2);
        assert_eq!(m.compaction.sources.len(), 2);
        assert!(m.is_from_out_of_order());
        assert_eq!(String::from_utf8(m.to_json().unwrap()).unwrap(), GO_META);
    }

    #[test]
    fn empty_stats_and_compaction_fields_like_go() {
        let u = Ulid::from_string("01BKGV7JBM69T2G1BGBGM6KB12").unwrap();
        let m = BlockMeta::new(u, 0, 7200000);
        let want = "{\n\t\"ulid\": \"01BKGV7JBM69T2G1BGBGM6KB12\",\n\t\"minTime\": 0,\n\t\"maxTime\": 7200000,\n\t\"stats\": {},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01BKGV7JBM69T2G1BGBGM6KB12\"\n\t\t]\n\t},\n\t\"version\": 1\n}";
        assert_eq!(String::from_utf8(m.to_json().unwrap()).unwrap(), want);
    }

    #[test]
    fn write_then_read_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BlockMeta::new(new_ulid(), -5, 10);
        m.version = 0;
        m.stats.num_float_samples = 3;
        m.set_out_of_order();
        m.set_out_of_order();
        let n = write_meta(dir.path(), &mut m).unwrap();
        assert_eq!(m.version, 1);
        let (back, size) = read_meta(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(size, n);
        assert_eq!(back.compaction.hints.len(), 1);
        assert!(!dir.path().join("meta.json.tmp").exists());
    }

    #[test]
    fn rejects_other_versions_and_bad_json() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(META_FILENAME),
            GO_META.replace("\"version\": 1", "\"version\": 2"),
        )
        .unwrap();
        let e = read_meta(dir.path()).unwrap_err();
        assert!(
            e.to_string().contains("unexpected meta file version 2"),
            "{e}"
        );
        fs::write(dir.path().join(META_FILENAME), "{\"ulid\": \"nope\"}").unwrap();
        let e = read_meta(dir.path()).unwrap_err();
        assert!(e.to_string().contains("meta.json"), "{e}");
    }

    #[test]
    fn ulids_sort_by_creation_time() {
        let a = new_ulid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_ulid();
        assert!(a < b);
        assert_eq!(a.to_string().len(), 26);
    }
}
