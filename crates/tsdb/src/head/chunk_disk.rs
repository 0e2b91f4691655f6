//! [`ChunkDiskMapper`]: the head's chunk files in `chunks_head/`, written and read back
//! while the head runs.
//!
//! Complete chunks are appended through a buffered [`HeadChunkWriter`]; a reference is
//! only handed to readers once its bytes are flushed and the file is mapped again (a
//! mapping covers the file as it was when mapped). Readers hold an `Arc` of the mapping
//! they read from, so remapping, truncation and deletion never pull bytes from under a
//! running query: the kernel keeps a deleted file's pages while a mapping exists.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use parking_lot::{Mutex, RwLock};

use crate::chunkenc::Encoding;
use crate::chunks::{ChunkFileError, HeadChunk, HeadChunkRef, HeadChunkWriter, head_chunk_at};

/// One head chunk file as mapped at some point.
#[derive(Debug)]
pub(crate) struct MappedHeadFile {
    path: PathBuf,
    number: u32,
    map: Option<Mmap>,
}

impl MappedHeadFile {
    fn open(path: PathBuf, number: u32) -> Result<MappedHeadFile, ChunkFileError> {
        let io = |source| ChunkFileError::Io {
            path: path.clone(),
            source,
        };
        let f = File::open(&path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: head chunk files are only appended to while the head runs, and cut
            // back only during replay repair, before any mapping exists; a mapping is never
            // read past the length it was created with.
            Some(unsafe { Mmap::map(&f) }.map_err(io)?)
        };
        Ok(MappedHeadFile { path, number, map })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The chunk at `r` (which must be in this file), checksum verified.
    pub(crate) fn chunk(&self, r: HeadChunkRef) -> Result<HeadChunk<'_>, ChunkFileError> {
        head_chunk_at(&self.path, self.number, self.bytes(), r.offset())
    }
}

/// A complete chunk waiting to be written.
pub(crate) struct PendingWrite<'a> {
    pub(crate) series_ref: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) encoding: Encoding,
    pub(crate) data: &'a [u8],
    pub(crate) out_of_order: bool,
}

/// Writes and maps the files of `chunks_head/`.
pub(crate) struct ChunkDiskMapper {
    dir: PathBuf,
    writer: Mutex<WriterState>,
    files: RwLock<BTreeMap<u32, Arc<MappedHeadFile>>>,
}

struct WriterState {
    writer: Option<HeadChunkWriter>,
    /// Files written to since they were last mapped.
    dirty: Vec<u32>,
    /// The last reference handed out (references only grow).
    last_written: Option<HeadChunkRef>,
    /// The last reference whose bytes are flushed and mapped.
    flushed: Option<HeadChunkRef>,
}

impl ChunkDiskMapper {
    /// Maps the existing files of `dir` (already checked and repaired by replay) and
    /// opens a writer that continues in a new file after them.
    pub(crate) fn open(dir: &Path) -> Result<ChunkDiskMapper, ChunkFileError> {
        let writer = HeadChunkWriter::open(dir)?;
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|source| ChunkFileError::Io {
            path: dir.to_path_buf(),
            source,
        })? {
            let entry = entry.map_err(|source| ChunkFileError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            files.insert(n, Arc::new(MappedHeadFile::open(entry.path(), n)?));
        }
        Ok(ChunkDiskMapper {
            dir: dir.to_path_buf(),
            writer: Mutex::new(WriterState {
                writer: Some(writer),
                dirty: Vec::new(),
                last_written: None,
                flushed: None,
            }),
            files: RwLock::new(files),
        })
    }

    /// Appends chunks to the open file; their references become readable after
    /// [`ChunkDiskMapper::flush`].
    pub(crate) fn write<'a>(
        &self,
        chunks: impl IntoIterator<Item = PendingWrite<'a>>,
    ) -> Result<Vec<HeadChunkRef>, ChunkFileError> {
        let mut st = self.writer.lock();
        let st = &mut *st;
        let Some(w) = st.writer.as_mut() else {
            return Err(ChunkFileError::Layout {
                path: self.dir.clone(),
                reason: "head chunk writer is closed".to_string(),
            });
        };
        let mut refs = Vec::new();
        for c in chunks {
            let r = w.write_chunk(
                c.series_ref,
                c.min_time,
                c.max_time,
                c.encoding,
                c.data,
                c.out_of_order,
            )?;
            if st.dirty.last() != Some(&r.file()) {
                st.dirty.push(r.file());
            }
            st.last_written = Some(r);
            refs.push(r);
        }
        Ok(refs)
    }

    /// Flushes written chunks to their files and maps those files again.
    pub(crate) fn flush(&self) -> Result<(), ChunkFileError> {
        // The writer stays locked until the files are mapped, so that `flushed` never
        // covers a reference whose file is not mapped yet.
        let mut st = self.writer.lock();
        if let Some(w) = st.writer.as_mut() {
            w.flush()?;
        }
        let upto = st.last_written;
        for n in std::mem::take(&mut st.dirty) {
            let path = self.dir.join(format!("{n:06}"));
            let mapped = Arc::new(MappedHeadFile::open(path, n)?);
            self.files.write().insert(n, mapped);
        }
        st.flushed = upto;
        Ok(())
    }

    /// The last reference readable through [`ChunkDiskMapper::file`].
    pub(crate) fn flushed_upto(&self) -> Option<HeadChunkRef> {
        self.writer.lock().flushed
    }

    /// The mapping of the file `r` is in.
    pub(crate) fn file(&self, r: HeadChunkRef) -> Result<Arc<MappedHeadFile>, ChunkFileError> {
        let files = self.files.read();
        files
            .get(&r.file())
            .cloned()
            .ok_or(ChunkFileError::SegmentOutOfRange {
                segment: u64::from(r.file()),
                segments: files.len(),
            })
    }

    /// Deletes the files numbered below `file` (never the one being written); returns how
    /// many were deleted.
    pub(crate) fn truncate_before(&self, file: u32) -> Result<usize, ChunkFileError> {
        let removed = {
            let mut st = self.writer.lock();
            match st.writer.as_mut() {
                Some(w) => w.remove_files_before(file)?,
                None => Vec::new(),
            }
        };
        let mut files = self.files.write();
        for p in &removed {
            if let Some(n) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|s| s.parse::<u32>().ok())
            {
                files.remove(&n);
            }
        }
        Ok(removed.len())
    }

    /// Flushes, fsyncs and closes the open file.
    pub(crate) fn close(&self) -> Result<(), ChunkFileError> {
        let w = self.writer.lock().writer.take();
        match w {
            Some(w) => w.close(),
            None => Ok(()),
        }
    }
}
